//! The `busbar` binary: parse arguments, load, run, map to an exit code.

mod cli;
#[cfg(feature = "demo")]
mod demo;
mod logging;

use std::net::SocketAddr;
use std::process::ExitCode;

use busbar_server::{Server, State};
use cli::Command;

fn main() -> ExitCode {
    let command = match cli::parse(std::env::args_os().skip(1), |name| std::env::var_os(name)) {
        Ok(command) => command,
        Err(message) => {
            eprintln!("busbar: {message}");
            return ExitCode::from(2);
        }
    };
    match command {
        Command::Help => {
            print!("{}", cli::HELP);
            ExitCode::SUCCESS
        }
        Command::Version => {
            println!("busbar {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Check(paths) => match busbar_config::load(&paths.providers, &paths.config) {
            Ok(loaded) => {
                for warning in &loaded.warnings {
                    eprintln!("warning: {warning}");
                }
                // A token source's files are read here too, as at start-up;
                // no token is fetched.
                let mut sources = Vec::new();
                let mut unusable = false;
                for (name, provider) in &loaded.config.providers {
                    match busbar_server::describe_credentials(provider) {
                        Ok(source) => sources.push(format!("provider {name}: {source}")),
                        Err(error) => {
                            eprintln!("config: providers.{name}.credentials: {error}");
                            unusable = true;
                        }
                    }
                }
                if unusable {
                    return ExitCode::FAILURE;
                }
                println!(
                    "configuration OK: {} and {}",
                    paths.providers.display(),
                    paths.config.display()
                );
                for line in sources {
                    println!("{line}");
                }
                ExitCode::SUCCESS
            }
            Err(errors) => {
                eprintln!("{errors}");
                ExitCode::FAILURE
            }
        },
        Command::Serve(paths) => {
            init_logging();
            let loaded = match busbar_config::load(&paths.providers, &paths.config) {
                Ok(loaded) => loaded,
                Err(errors) => {
                    eprintln!("{errors}");
                    return ExitCode::FAILURE;
                }
            };
            for warning in &loaded.warnings {
                tracing::warn!("{warning}");
            }
            run(|| async move {
                Ok(Prepared {
                    config: loaded.config,
                    keep_alive: (),
                    announce: |_| {},
                    reload_from: Some(paths),
                })
            })
        }
        Command::Demo { listen } => serve_demo(listen),
    }
}

/// `busbar demo`: the embedded configuration over in-process mock upstreams.
#[cfg(feature = "demo")]
fn serve_demo(listen: String) -> ExitCode {
    init_logging();
    run(|| async move {
        let demo = demo::start(listen).await?;
        Ok(Prepared {
            config: demo.config.clone(),
            keep_alive: demo,
            announce: demo::announce,
            reload_from: None,
        })
    })
}

/// A build without the `demo` feature has no mock upstream to serve: a
/// usage error, like any command this binary does not have.
#[cfg(not(feature = "demo"))]
fn serve_demo(_listen: String) -> ExitCode {
    eprintln!("busbar: {}", cli::NO_DEMO);
    ExitCode::from(2)
}

/// What to serve: a configuration, and what must live as long as the
/// server (for `demo`, the mock upstreams the configuration points at).
struct Prepared<K> {
    config: busbar_config::Config,
    keep_alive: K,
    /// Told the address once the server listens (the demo prints requests
    /// to try).
    announce: fn(SocketAddr),
    /// The files SIGHUP re-reads; `None` for the embedded demo.
    reload_from: Option<cli::Paths>,
}

/// Builds the runtime, obtains a configuration from `prepare` (inside the
/// runtime, so the demo can start its mock upstreams there), and serves it
/// until SIGINT or SIGTERM.
fn run<F, Fut, K>(prepare: F) -> ExitCode
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<Prepared<K>, String>>,
{
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("busbar: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let Prepared {
            config,
            keep_alive,
            announce,
            reload_from,
        } = match prepare().await {
            Ok(prepared) => prepared,
            Err(message) => {
                eprintln!("busbar: {message}");
                return ExitCode::FAILURE;
            }
        };
        let metrics = busbar_server::install_metrics();
        let server = match State::new(&config, metrics.clone()) {
            Ok(state) => Server::bind(state).await,
            Err(error) => Err(error),
        };
        let server = match server {
            Ok(server) => server,
            Err(error) => {
                tracing::error!(%error, "busbar cannot start");
                eprintln!("busbar: {error}");
                return ExitCode::FAILURE;
            }
        };
        // The recorder starts beside the configuration's loading; serving
        // waits for it, so no request's metrics are lost.
        if !busbar_server::metrics_ready(&metrics, METRICS_WAIT).await {
            tracing::warn!(
                "the metrics recorder is slow to start; the first requests may go uncounted"
            );
        }
        tracing::info!(addr = %server.local_addr(), "busbar listening");
        announce(server.local_addr());
        reload_on_hangup(server.reloader(), reload_from);
        server.run(shutdown_signal()).await;
        drop(keep_alive);
        ExitCode::SUCCESS
    })
}

/// On SIGHUP, re-reads both files and swaps in the new configuration when it
/// is valid; an invalid one is logged and the running one stays.
fn reload_on_hangup(reloader: busbar_server::Reloader, paths: Option<cli::Paths>) {
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP; configuration reload is off");
            return;
        };
        while hangups.recv().await.is_some() {
            let Some(paths) = &paths else {
                tracing::info!("SIGHUP: the demo's embedded configuration has nothing to reload");
                continue;
            };
            match busbar_config::load(&paths.providers, &paths.config) {
                Ok(loaded) => {
                    for warning in &loaded.warnings {
                        tracing::warn!("{warning}");
                    }
                    match reloader.reload(&loaded.config) {
                        Ok(()) => tracing::info!("configuration reloaded"),
                        Err(error) => {
                            tracing::error!(%error, "reload refused; keeping the running configuration")
                        }
                    }
                }
                Err(errors) => {
                    tracing::error!("reload refused; keeping the running configuration:\n{errors}");
                }
            }
        }
    });
    #[cfg(not(unix))]
    let _ = (reloader, paths);
}

/// The longest start-up waits for the metrics recorder.
const METRICS_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Libraries whose debug and trace lines print what they sign or send —
/// headers with credentials among them — held at `info` whatever
/// `RUST_LOG` asks, so no log level shows a credential.
const CREDENTIAL_BEARING_TARGETS: [&str; 6] = [
    "aws_sigv4",
    "aws_smithy_runtime_api",
    "aws_smithy_runtime",
    "aws_smithy_http_client",
    "aws_credential_types",
    "aws_sdk_sts",
];

/// The AWS credential chain's own crate, held at `error`: its warnings
/// print raw responses of credential endpoints (which may hold a session
/// token). Busbar logs each failure of the chain itself, without them.
const CREDENTIAL_CHAIN_TARGETS: [&str; 1] = ["aws_config"];

fn init_logging() {
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let held = CREDENTIAL_BEARING_TARGETS
        .iter()
        .map(|target| (target, "info"))
        .chain(
            CREDENTIAL_CHAIN_TARGETS
                .iter()
                .map(|target| (target, "error")),
        );
    for (target, level) in held {
        filter = filter.add_directive(
            format!("{target}={level}")
                .parse()
                .expect("a target name and a level are a valid directive"),
        );
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(false)
        .with_writer(logging::EscapedStdout)
        .init();
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
