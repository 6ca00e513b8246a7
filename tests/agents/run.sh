#!/usr/bin/env bash
# Runs the agent suite: real coding-agent CLIs (Claude Code, Codex CLI, Gemini CLI, pinned in
# package-lock.json) driven non-interactively through a real Busbar, against `busbar demo` and
# against busbar in front of `busbar-mock`. Works from a fresh clone with node, npm, python3 and
# cargo: installs the pinned CLIs into tests/agents/node_modules, builds the binaries (unless
# BUSBAR_BIN and BUSBAR_MOCK_BIN name them) and runs agents.py. Extra arguments go to agents.py,
# e.g. `tests/agents/run.sh --agent codex --only demo-gemini`; `--capture DIR` records each
# agent's first request instead.
#
# Without node or npm it says so and exits 0: the suite is then skipped, not failed.
#
# The agents run inside a network namespace that has only a loopback interface (unshare -rn),
# so none of them can reach anything but Busbar, whatever its own switches say; where that is
# not allowed the suite still runs, with every agent's telemetry and update switches off.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "agents: SKIPPED — node and npm are needed to install the agent CLIs, and this machine lacks them" >&2
    exit 0
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if ((node_major < 20)); then
    echo "agents: SKIPPED — Gemini CLI needs node 20 or newer, this is $(node --version)" >&2
    exit 0
fi

# Reinstall only when the lock file changed since the last install, so a warm run needs no
# network. Install scripts are off: of the three, only Claude Code's is needed (it puts the
# native binary from its platform package in place, no download), and the optional native
# modules of Gemini CLI (node-pty, keytar) would try to download prebuilt files or compile.
stamp="$here/node_modules/.busbar-lock.sha256"
wanted="$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$wanted" ]]; then
    echo "agents: npm ci (pinned in tests/agents/package-lock.json)" >&2
    (cd "$here" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
    (cd "$here/node_modules/@anthropic-ai/claude-code" && node install.cjs)
    echo "$wanted" >"$stamp"
fi
for cli in claude codex gemini; do
    "$here/node_modules/.bin/$cli" --version >/dev/null 2>&1 || {
        echo "agents: $cli does not start after the install" >&2
        exit 1
    }
done

absolute() { [[ "$1" = /* ]] && echo "$1" || echo "$PWD/$1"; }
if [[ -n "${BUSBAR_BIN:-}" && -n "${BUSBAR_MOCK_BIN:-}" ]]; then
    busbar="$(absolute "$BUSBAR_BIN")"
    mock="$(absolute "$BUSBAR_MOCK_BIN")"
else
    echo "agents: cargo build --release (busbar, busbar-mock)" >&2
    (cd "$repo" && cargo build --release -p busbar -p busbar-testkit --bins)
    target="${CARGO_TARGET_DIR:-$repo/target}"
    [[ "$target" = /* ]] || target="$repo/$target"
    busbar="$target/release/busbar"
    mock="$target/release/busbar-mock"
fi

driver=(python3 "$here/agents.py" --agents-dir "$here" --busbar "$busbar" --mock "$mock"
        --jobs "${BUSBAR_AGENTS_JOBS:-3}" "$@")
if unshare -rn true 2>/dev/null; then
    # A user namespace maps the caller to root inside, so `ip link set lo up` needs no privilege.
    exec unshare -rn bash -c 'ip link set lo up 2>/dev/null || true; exec "$@"' agents "${driver[@]}"
fi
echo "agents: no network namespace here (unshare -rn refused); running with the agents' own switches only" >&2
exec "${driver[@]}"
