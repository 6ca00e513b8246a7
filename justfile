# Mirrors CI: `just ci` runs exactly what `.ci/run` runs.

# Run every Rust test (the README's test command).
test:
    cargo test --workspace

fmt:
    cargo fmt --all -- --check

clippy:
    cargo clippy --workspace --all-targets -- -D warnings

# The binary built without its `demo` feature: no busbar-testkit in it, and `busbar demo` refused.
no-demo:
    #!/usr/bin/env bash
    set -euo pipefail
    cargo clippy --no-default-features --bin busbar -- -D warnings
    tree=$(cargo tree --no-default-features -e normal -p busbar)
    if grep busbar-testkit <<<"$tree"; then
        echo "busbar-testkit is a normal dependency of busbar without the demo feature" >&2
        exit 1
    fi
    cargo test --no-default-features --test e2e startup

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
