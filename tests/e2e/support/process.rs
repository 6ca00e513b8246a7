//! The `busbar` child process: started with its own environment, its output
//! captured line by line (ANSI colours stripped), killed by pid on drop.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long a child may take to start or a short command to finish; generous
/// because the machine is shared, and only ever reached when something hangs.
pub(crate) const PATIENCE: Duration = Duration::from_secs(30);

/// A command prepared with the binary, `args` and `env`, and a quiet,
/// colourless log.
fn command(args: &[String], env: &[(String, String)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_busbar"));
    command
        .args(args)
        .env_remove("BUSBAR_PROVIDERS")
        .env_remove("BUSBAR_CONFIG")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // No test reads the machine's own AWS setup: a test of the AWS credential
    // chain sets every variable it means busbar to see.
    // Nor Google's or Azure's: the token sources' tests set what they use.
    const CLOUD_PREFIXES: [&str; 9] = [
        "AWS_",
        "GOOGLE_",
        "GCE_",
        "CLOUDSDK_",
        "AZURE_",
        "IDENTITY_",
        "MSI_",
        "IMDS_",
        "BUSBAR_AZURE_",
    ];
    for (name, _) in std::env::vars_os() {
        let name_text = name.to_string_lossy();
        if CLOUD_PREFIXES
            .iter()
            .any(|prefix| name_text.starts_with(prefix))
        {
            command.env_remove(name);
        }
    }
    for (name, value) in env {
        command.env(name, value);
    }
    command
}

/// Removes ANSI escape sequences (`ESC [ … letter`).
pub(crate) fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for next in chars.by_ref() {
                if next.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Copies a pipe into `log` and `lines`, line by line, until it closes.
fn drain(pipe: impl Read + Send + 'static, log: Arc<Mutex<String>>, lines: mpsc::Sender<String>) {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            let line = strip_ansi(&line);
            {
                let mut log = log.lock().unwrap_or_else(PoisonError::into_inner);
                log.push_str(&line);
                log.push('\n');
            }
            // The receiver may be gone once start-up is over; keep draining.
            let _ = lines.send(line);
        }
    });
}

/// A serving busbar.
pub(crate) struct Busbar {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<String>>,
}

impl Busbar {
    /// Starts `busbar ARGS` and waits for its `busbar listening` line.
    pub(crate) fn serve(args: &[String], env: &[(String, String)]) -> Self {
        let mut child = command(args, env).spawn().expect("spawn busbar");
        let log = Arc::new(Mutex::new(String::new()));
        let (sender, lines) = mpsc::channel();
        drain(
            child.stdout.take().expect("piped stdout"),
            log.clone(),
            sender.clone(),
        );
        drain(
            child.stderr.take().expect("piped stderr"),
            log.clone(),
            sender,
        );
        let addr = match wait_for_listening(&lines) {
            Ok(addr) => addr,
            Err(why) => {
                let _ = child.kill();
                let _ = child.wait();
                let log = log.lock().unwrap_or_else(PoisonError::into_inner).clone();
                panic!("busbar did not start ({why}); its output:\n{log}");
            }
        };
        Self { child, addr, log }
    }

    /// The address busbar logged.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything busbar wrote so far, stdout and stderr interleaved.
    pub(crate) fn log(&self) -> String {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Sends a signal by name (`TERM`, `INT`, `HUP`) with `kill(1)`.
    pub(crate) fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// The exit status, when the process has ended.
    pub(crate) fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("poll busbar")
    }

    /// Polls until the process exits, for at most `PATIENCE`.
    pub(crate) fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().expect("poll busbar") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "busbar did not exit; its output:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Busbar {
    fn drop(&mut self) {
        // Kills exactly this child, by its pid.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for_listening(lines: &Receiver<String>) -> Result<SocketAddr, String> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains("busbar listening") => {
                return listening_addr(&line).ok_or_else(|| format!("no addr in `{line}`"));
            }
            Ok(_) => {}
            Err(RecvTimeoutError::Timeout) => return Err("timed out".into()),
            Err(RecvTimeoutError::Disconnected) => return Err("it exited".into()),
        }
    }
}

/// The `addr=HOST:PORT` field of a log line.
pub(crate) fn listening_addr(line: &str) -> Option<SocketAddr> {
    let (_, rest) = line.split_once("addr=")?;
    let value = rest.split_whitespace().next()?;
    value.trim_matches('"').parse().ok()
}

/// What a short command printed and how it ended.
pub(crate) struct Finished {
    pub(crate) status: ExitStatus,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Finished {
    pub(crate) fn code(&self) -> Option<i32> {
        self.status.code()
    }
}

/// Runs `busbar ARGS` to completion (killed and failed after `PATIENCE`).
pub(crate) fn run_busbar(args: &[&str], env: &[(String, String)]) -> Finished {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let mut child = command(&args, env).spawn().expect("spawn busbar");
    let read = |pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = BufReader::new(pipe).read_to_string(&mut text);
            strip_ansi(&text)
        })
    };
    let stdout = read(Box::new(child.stdout.take().expect("piped stdout")));
    let stderr = read(Box::new(child.stderr.take().expect("piped stderr")));
    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll busbar") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`busbar {}` did not finish", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Finished {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}
