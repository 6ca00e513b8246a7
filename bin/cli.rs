//! Command-line arguments.

use std::ffi::OsString;
use std::path::PathBuf;

/// The help text, with the lines about `demo` filled in or left out.
macro_rules! help {
    ($demo_usage:literal, $demo_options:literal) => {
        concat!(
            "\
busbar — a self-hosted LLM gateway that speaks six wire protocols

USAGE:
    busbar [--providers PATH] [--config PATH]     serve
    busbar check [--providers PATH] [--config PATH]
                                                  validate both files, list every error
",
            $demo_usage,
            "
OPTIONS:
    --providers PATH   provider catalog   [env BUSBAR_PROVIDERS, default /etc/busbar/providers.yaml]
    --config PATH      deployment config  [env BUSBAR_CONFIG, default /etc/busbar/config.yaml]
",
            $demo_options,
            "    -h, --help         print this help
    -V, --version      print the version

ENVIRONMENT:
    RUST_LOG           log filter (default: info)
"
        )
    };
}

/// `busbar --help`.
#[cfg(feature = "demo")]
pub(crate) const HELP: &str = help!(
    "    busbar demo [--listen ADDR]                   serve an embedded config backed by
                                                  in-process mock providers (no key, no network)
",
    "    --listen ADDR      demo listen address [default 127.0.0.1:8080]
"
);

/// `busbar --help` in a build without the `demo` feature, which does not
/// offer what it cannot run.
#[cfg(not(feature = "demo"))]
pub(crate) const HELP: &str = help!("", "");

/// What `busbar demo` says in a build without the `demo` feature.
#[cfg(not(feature = "demo"))]
pub(crate) const NO_DEMO: &str = "this build has no demo: it was built without the `demo` \
     feature (--no-default-features); a default build has one: `cargo build --release`, or \
     `cargo run --release -- demo`";

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Command {
    Serve(Paths),
    Check(Paths),
    Demo { listen: String },
    Help,
    Version,
}

/// Where the two configuration files are.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Paths {
    pub(crate) providers: PathBuf,
    pub(crate) config: PathBuf,
}

/// Parses the arguments after the program name. `env` reads an environment
/// variable (injected for tests).
pub(crate) fn parse(
    args: impl IntoIterator<Item = OsString>,
    env: impl Fn(&str) -> Option<OsString>,
) -> Result<Command, String> {
    let mut args = args.into_iter().peekable();
    let subcommand = match args.peek().and_then(|arg| arg.to_str()) {
        Some("check") | Some("demo") | Some("serve") => {
            args.next().and_then(|arg| arg.into_string().ok())
        }
        _ => None,
    };
    let mut providers = None;
    let mut config = None;
    let mut listen = None;
    while let Some(arg) = args.next() {
        let text = arg.to_string_lossy().into_owned();
        let (flag, inline) = match text.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(OsString::from(value)))
            }
            _ => (text.clone(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "--providers" => providers = Some(PathBuf::from(value("--providers")?)),
            "--config" => config = Some(PathBuf::from(value("--config")?)),
            "--listen" if subcommand.as_deref() == Some("demo") => {
                listen = Some(value("--listen")?.to_string_lossy().into_owned());
            }
            _ => return Err(format!("unexpected argument `{text}` (try --help)")),
        }
    }
    let paths = || Paths {
        providers: providers.clone().unwrap_or_else(|| {
            env("BUSBAR_PROVIDERS")
                .map_or_else(|| "/etc/busbar/providers.yaml".into(), PathBuf::from)
        }),
        config: config.clone().unwrap_or_else(|| {
            env("BUSBAR_CONFIG").map_or_else(|| "/etc/busbar/config.yaml".into(), PathBuf::from)
        }),
    };
    Ok(match subcommand.as_deref() {
        Some("check") => Command::Check(paths()),
        Some("demo") => {
            if providers.is_some() || config.is_some() {
                return Err("demo uses its embedded configuration; it takes only --listen".into());
            }
            Command::Demo {
                listen: listen.unwrap_or_else(|| "127.0.0.1:8080".into()),
            }
        }
        _ => Command::Serve(paths()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Command, String> {
        let env = |name: &str| match name {
            "BUSBAR_CONFIG" => Some(OsString::from("/env/config.yaml")),
            _ => None,
        };
        parse(args.iter().map(OsString::from), env)
    }

    #[test]
    fn flags_override_variables_and_defaults_fill_the_rest() {
        assert_eq!(
            run(&[]).unwrap(),
            Command::Serve(Paths {
                providers: "/etc/busbar/providers.yaml".into(),
                config: "/env/config.yaml".into(),
            })
        );
        assert_eq!(
            run(&["--config", "c.yaml", "--providers=p.yaml"]).unwrap(),
            Command::Serve(Paths {
                providers: "p.yaml".into(),
                config: "c.yaml".into(),
            })
        );
    }

    #[test]
    fn subcommands_and_info_flags() {
        assert!(matches!(run(&["check"]).unwrap(), Command::Check(_)));
        assert_eq!(
            run(&["demo"]).unwrap(),
            Command::Demo {
                listen: "127.0.0.1:8080".into()
            }
        );
        assert_eq!(
            run(&["demo", "--listen", "127.0.0.1:0"]).unwrap(),
            Command::Demo {
                listen: "127.0.0.1:0".into()
            }
        );
        assert_eq!(run(&["-V"]).unwrap(), Command::Version);
        assert_eq!(run(&["--help"]).unwrap(), Command::Help);
        assert!(run(&["--bogus"]).is_err());
        assert!(run(&["--config"]).is_err());
        assert!(run(&["demo", "--config", "x"]).is_err());
    }

    #[test]
    fn help_offers_the_demo_only_in_a_build_that_has_one() {
        assert_eq!(HELP.contains("busbar demo"), cfg!(feature = "demo"));
        assert_eq!(HELP.contains("--listen"), cfg!(feature = "demo"));
        assert!(HELP.contains("busbar check") && HELP.contains("RUST_LOG"));
    }
}
