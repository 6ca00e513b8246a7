#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ briefly, starting from its committed seed
# corpus, and fails if any target crashes, printing the crashing input.
#
# cargo-fuzz passes nightly-only flags to rustc (-Zsanitizer, the sancov
# passes); RUSTC_BOOTSTRAP=1 lets this machine's stable toolchain accept
# them, so no nightly is needed. Targets are built without AddressSanitizer
# (`-s none`): busbar-protocols forbids unsafe code, and ASan would cost
# three quarters of the executions a short run gets. Debug assertions and
# overflow checks stay on (cargo-fuzz's default).
#
#   FUZZ_SECONDS   seconds per target (default 10)
#   FUZZ_TARGETS   space-separated targets to run (default: all)
#
# A crash leaves its input in fuzz/artifacts/<target>/. To keep a fixed bug
# fixed, copy it to crates/busbar-protocols/test_data/fuzz/<target>/: the
# fuzz_regressions test runs every file there through the same function.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-10}"
cargo_fuzz_version="0.13.2"
export RUSTC_BOOTSTRAP=1

step() { printf '\n==> %s\n' "$*"; }

if ! cargo fuzz --version 2>/dev/null | grep -q "$cargo_fuzz_version"; then
    step "installing cargo-fuzz $cargo_fuzz_version"
    cargo install cargo-fuzz --version "$cargo_fuzz_version" --locked
fi

read -r -a targets <<<"${FUZZ_TARGETS:-$(cargo fuzz list | tr '\n' ' ')}"

step "building ${#targets[@]} fuzz targets"
cargo fuzz build -s none
# The binaries run directly rather than through `cargo fuzz run`, which
# would check the build again for every target.
bin="fuzz/target/$(rustc -vV | sed -n 's/^host: //p')/release"

# New inputs the fuzzer finds go to a scratch corpus listed first, so the
# committed seeds are read but never added to.
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

# One target per core: each libFuzzer process is single-threaded.
parallel="$(nproc 2>/dev/null || echo 2)"

run_target() {
    local target="$1" seeds=()
    if [[ -d "fuzz/corpus/$target" ]]; then
        seeds=("fuzz/corpus/$target")
    fi
    mkdir -p "$scratch/$target" "fuzz/artifacts/$target"
    if "$bin/$target" "$scratch/$target" "${seeds[@]}" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="fuzz/artifacts/$target/" >"$scratch/$target.log" 2>&1; then
        touch "$scratch/$target.ok"
    fi
}

step "running each target for ${seconds}s, $parallel at a time"
for target in "${targets[@]}"; do
    while (($(jobs -rp | wc -l) >= parallel)); do
        wait -n || true
    done
    run_target "$target" &
done
wait

failed=()
for target in "${targets[@]}"; do
    log="$scratch/$target.log"
    if [[ -e "$scratch/$target.ok" ]]; then
        summary="$(grep -E '^Done [0-9]+ runs' "$log" | tail -n 1 || true)"
        printf '%-22s ok   %s\n' "$target" "$summary"
    else
        printf '%-22s FAILED\n' "$target"
        # libFuzzer's verdict, the path of the saved input, and the panic.
        grep -E "deadly signal|ERROR: libFuzzer|Test unit written|SUMMARY" "$log" | head -n 10 || true
        grep -B 1 -A 12 "panicked at" "$log" | grep -v "^ *[0-9]*: \|^ *at " | head -n 30 || true
        # Not a crash the fuzzer caught (a missing binary, a killed run).
        grep -q "Test unit written" "$log" || tail -n 20 "$log"
        failed+=("$target")
    fi
done

if ((${#failed[@]})); then
    printf '\nfuzz targets that crashed: %s\n' "${failed[*]}"
    printf 'inputs are in fuzz/artifacts/<target>/; see the top of .ci/fuzz.sh\n'
    exit 1
fi
printf '\nall %d fuzz targets ran %ss each without a crash\n' "${#targets[@]}" "$seconds"
