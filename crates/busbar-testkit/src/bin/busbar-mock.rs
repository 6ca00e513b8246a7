//! `busbar-mock`: the testkit's mock upstream as a standalone process, for load benchmarks
//! (`bench/run.sh`) and for poking at Busbar by hand.
//!
//! It serves all six mocks (OpenAI Chat and Responses, Anthropic, Gemini, Cohere, Bedrock) on one
//! address until it is killed. Recording is off by default: a benchmark would otherwise grow the log without bound.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use busbar_testkit::{Chaos, MockOptions, MockUpstream};

const HELP: &str = "\
busbar-mock — a mock LLM upstream (all six wire formats) for Busbar's benchmarks

USAGE:
    busbar-mock [OPTIONS]

OPTIONS:
    --listen ADDR            address to bind                 [default 127.0.0.1:9100]
    --threads N              runtime worker threads          [default 1]
    --words-per-delta N      words of text per stream event  [default 3]
    --event-interval-ms N    pause between stream events     [default 0]
    --api-key KEY            the only key accepted           [default: any non-empty key]
    --aws-credentials ID:SECRET
                             check Bedrock SigV4 signatures  [default: any well-formed one]
    --lenient-gemini         accept Gemini function calls without thought signatures
    --chaos RATE             fault a share RATE (0 to 1) of requests at random: error
                             statuses, resets, slow headers, cut replies and streams,
                             in-stream errors, stalls                [default 0]
    --chaos-stall-ms N       how long a stalled stream pauses       [default 1500]
    --chaos-seed N           the draws' seed, for a repeatable run  [default 1]
    --record                 keep every request (grows without bound; not for load)
    -h, --help               print this help

Prints `busbar-mock listening on http://ADDR` once the port accepts, then serves until killed.
";

/// What the command line asks for.
#[derive(Debug)]
struct Args {
    listen: SocketAddr,
    threads: usize,
    words_per_delta: usize,
    event_interval: Duration,
    api_key: Option<String>,
    aws_credentials: Option<(String, String)>,
    lenient_gemini: bool,
    record: bool,
    chaos: f64,
    chaos_stall: Duration,
    chaos_seed: u64,
}

fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("busbar-mock: {message} (try --help)");
            return ExitCode::from(2);
        }
    };
    let mut options = MockOptions::default()
        .addr(args.listen)
        .worker_threads(args.threads)
        .words_per_delta(args.words_per_delta)
        .event_interval(args.event_interval)
        .require_thought_signatures(!args.lenient_gemini)
        .record(args.record);
    if let Some(key) = args.api_key {
        options = options.expected_key(key);
    }
    if let Some((id, secret)) = args.aws_credentials {
        options = options.aws_credentials(id, secret);
    }
    let upstream = match MockUpstream::start_in_thread(options) {
        Ok(upstream) => upstream,
        Err(error) => {
            eprintln!("busbar-mock: cannot listen on {}: {error}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    if args.chaos > 0.0 {
        upstream.set_chaos(Some(Chaos::mix(
            args.chaos,
            args.chaos_stall,
            args.chaos_seed,
        )));
    }
    println!("busbar-mock listening on {}", upstream.base_url());
    // The server runs on its own thread; this one only keeps the handle alive. SIGTERM and
    // SIGINT end the process with their default action, which is all a benchmark needs.
    loop {
        std::thread::park();
    }
}

/// Parses the arguments after the program name; `Ok(None)` asks for the help text.
fn parse(args: impl IntoIterator<Item = String>) -> Result<Option<Args>, String> {
    let mut parsed = Args {
        listen: SocketAddr::from(([127, 0, 0, 1], 9100)),
        threads: 1,
        words_per_delta: 3,
        event_interval: Duration::ZERO,
        api_key: None,
        aws_credentials: None,
        lenient_gemini: false,
        record: false,
        chaos: 0.0,
        chaos_stall: Duration::from_millis(1500),
        chaos_seed: 1,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--listen" => {
                let text = value()?;
                parsed.listen = text
                    .parse()
                    .map_err(|_| format!("--listen wants host:port, got `{text}`"))?;
            }
            "--threads" => parsed.threads = number(&flag, &value()?)?,
            "--words-per-delta" => parsed.words_per_delta = number(&flag, &value()?)?,
            "--event-interval-ms" => {
                let millis = number(&flag, &value()?)?;
                parsed.event_interval = Duration::from_millis(millis as u64);
            }
            "--api-key" => parsed.api_key = Some(value()?),
            "--aws-credentials" => {
                let text = value()?;
                let (id, secret) = text
                    .split_once(':')
                    .filter(|(id, secret)| !id.is_empty() && !secret.is_empty())
                    .ok_or_else(|| format!("--aws-credentials wants ID:SECRET, got `{text}`"))?;
                parsed.aws_credentials = Some((id.to_owned(), secret.to_owned()));
            }
            "--lenient-gemini" => parsed.lenient_gemini = true,
            "--record" => parsed.record = true,
            "--chaos" => {
                let text = value()?;
                parsed.chaos = text
                    .parse::<f64>()
                    .ok()
                    .filter(|rate| (0.0..=1.0).contains(rate))
                    .ok_or_else(|| format!("--chaos wants a share from 0 to 1, got `{text}`"))?;
            }
            "--chaos-stall-ms" => {
                parsed.chaos_stall = Duration::from_millis(number(&flag, &value()?)? as u64);
            }
            "--chaos-seed" => parsed.chaos_seed = number(&flag, &value()?)? as u64,
            _ => return Err(format!("unexpected argument `{arg}`")),
        }
    }
    Ok(Some(parsed))
}

fn number(flag: &str, text: &str) -> Result<usize, String> {
    text.parse()
        .map_err(|_| format!("{flag} wants a whole number, got `{text}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_strs(args: &[&str]) -> Result<Option<Args>, String> {
        parse(args.iter().map(|a| (*a).to_owned()))
    }

    #[test]
    fn defaults_suit_a_benchmark() {
        let args = parse_strs(&[]).unwrap().unwrap();
        assert_eq!(args.listen, SocketAddr::from(([127, 0, 0, 1], 9100)));
        assert_eq!(args.threads, 1);
        assert!(!args.record);
    }

    #[test]
    fn flags_take_separate_or_inline_values() {
        let args = parse_strs(&[
            "--listen",
            "127.0.0.1:9200",
            "--threads=2",
            "--event-interval-ms",
            "5",
            "--record",
            "--aws-credentials=AKID:se/cret",
            "--lenient-gemini",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            args.aws_credentials,
            Some(("AKID".to_owned(), "se/cret".to_owned()))
        );
        assert!(args.lenient_gemini);
        assert_eq!(args.listen.port(), 9200);
        assert_eq!(args.threads, 2);
        assert_eq!(args.event_interval, Duration::from_millis(5));
        assert!(args.record);
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert!(parse_strs(&["--listen", "nowhere"]).is_err());
        assert!(parse_strs(&["--threads"]).is_err());
        assert!(parse_strs(&["--threads", "-1"]).is_err());
        assert!(parse_strs(&["--bogus"]).is_err());
        assert!(parse_strs(&["--aws-credentials", "no-colon"]).is_err());
        assert!(parse_strs(&["--chaos", "1.5"]).is_err());
        assert!(parse_strs(&["--chaos", "lots"]).is_err());
        assert!(parse_strs(&["--help"]).unwrap().is_none());
    }
}
