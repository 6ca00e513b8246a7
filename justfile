# Mirrors CI: `just ci` runs exactly what `.ci/run` runs.

# Run every Rust test (the README's test command).
test:
    cargo test --workspace

fmt:
    cargo fmt --all -- --check

clippy:
    cargo clippy --workspace --all-targets -- -D warnings

# Drive the gateway with the vendors' official Python SDKs.
sdk:
    tests/sdk/run.sh

# Drive the gateway with real coding-agent CLIs (Claude Code, Codex CLI, Gemini CLI).
agents *ARGS:
    tests/agents/run.sh {{ARGS}}

# Governance tests against a throwaway PostgreSQL on 127.0.0.1.
postgres:
    .ci/postgres.sh

# Run every fuzz target briefly (FUZZ_SECONDS per target).
fuzz:
    .ci/fuzz.sh

# The whole CI pipeline.
ci:
    bash .ci/run

# Serve the embedded demo configuration.
demo:
    cargo run --release -- demo

# End-to-end load benchmark (see docs/performance.md).
bench:
    bench/run.sh
