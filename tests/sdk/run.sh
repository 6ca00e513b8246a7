#!/usr/bin/env bash
# Runs the SDK conformance suite: the vendors' official Python SDKs against a
# real `busbar demo`. Works from a fresh clone with only python3 and cargo:
# creates tests/sdk/.venv, installs the pinned requirements, builds the binary
# (unless BUSBAR_BIN names one) and runs pytest. Extra arguments go to pytest,
# e.g. `tests/sdk/run.sh -k anthropic -x`.
#
# The tests spend most of their time waiting on the demo's paced streams, so
# they run in BUSBAR_SDK_WORKERS pytest-xdist workers (default 4), each with
# its own `busbar demo`; `-n 0` on the command line runs them in one process.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="$here/.venv"
requirements="$here/requirements.txt"

if [[ ! -x "$venv/bin/python" ]]; then
    echo "sdk: creating $venv" >&2
    python3 -m venv "$venv"
fi

# Reinstall only when requirements.txt changed since the last install, so a
# warm run needs no network.
hash_of() { "$venv/bin/python" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$1"; }
stamp="$venv/.requirements.sha256"
wanted="$(hash_of "$requirements")"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$wanted" ]]; then
    echo "sdk: installing $requirements" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
    echo "$wanted" >"$stamp"
fi

if [[ -n "${BUSBAR_BIN:-}" ]]; then
    # Relative to where the caller stands, not to tests/sdk where pytest runs.
    [[ "$BUSBAR_BIN" = /* ]] || BUSBAR_BIN="$PWD/$BUSBAR_BIN"
    export BUSBAR_BIN
else
    echo "sdk: cargo build --release --bin busbar" >&2
    (cd "$repo" && cargo build --release --bin busbar)
    BUSBAR_BIN="${CARGO_TARGET_DIR:-$repo/target}/release/busbar"
    [[ "$BUSBAR_BIN" = /* ]] || BUSBAR_BIN="$repo/$BUSBAR_BIN"
    export BUSBAR_BIN
fi

cd "$here"
exec "$venv/bin/python" -m pytest -n "${BUSBAR_SDK_WORKERS:-4}" "$@"
