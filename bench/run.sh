#!/usr/bin/env bash
# End-to-end load benchmark: Busbar in front of the testkit's mock upstream on loopback, against
# the mock called directly (the baseline) and an nginx proxy_pass hop (the floor).
#
# Busbar and nginx run pinned to one core (BENCH_PROXY_CORE, default 0); the load generator
# and the mock share the other (BENCH_LOAD_CORE, default 1). Scenarios: direct, nginx, Busbar
# same-protocol (OpenAI→OpenAI, Anthropic→Anthropic) and translated (OpenAI→Anthropic,
# Anthropic→OpenAI), each non-streamed and streamed, each measured twice:
#   - at saturation with wrk (throughput, p50/p99, the proxy's CPU time per request and peak RSS);
#   - paced at BENCH_RATE req/s with bench/pace.py (latency and time to first body byte, which
#     give the latency the proxy adds over calling the mock directly).
# Prints a table and writes it to bench/out/results.md; raw figures go to bench/out/raw/.
# Everything listens on 127.0.0.1 only; the script kills exactly the processes it started.
#
# Knobs (environment): BENCH_DURATION (10 s), BENCH_WARMUP (2 s), BENCH_CONNECTIONS (64),
# BENCH_RATE (1000), BENCH_PACE_SECONDS (10), BENCH_PACE_CONNECTIONS (2), BENCH_SKIP_BUILD=1,
# BENCH_ONLY (a regex over scenario names), BENCH_PORT_BASE (19100: mock, +100 Busbar, +200 nginx),
# BENCH_WAIT_QUIET (seconds to wait for other processes to leave the machine idle; default 0),
# BENCH_PERF=0 (skip counting the proxy's syscalls with `perf stat`, used when perf can),
# BENCH_NICE (nice level for everything the benchmark runs, e.g. -10 on a shared machine; root),
# BENCH_SCRAPE_METRICS (scrape Busbar's /metrics every N seconds during the run; default never),
# BENCH_CONFIG_EXTRA (YAML appended to Busbar's config.yaml, e.g. request logs or an OTLP endpoint;
# the string BENCH_SINK_URL in it becomes http://127.0.0.1:PORT of a sink that answers every POST 200,
# served by the benchmark's nginx; its CPU is not Busbar's, so it does not count in Busbar's figures).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
out=${BENCH_OUT:-$here/out}
duration=${BENCH_DURATION:-10}
warmup=${BENCH_WARMUP:-2}
connections=${BENCH_CONNECTIONS:-64}
rate=${BENCH_RATE:-1000}
pace_seconds=${BENCH_PACE_SECONDS:-10}
pace_connections=${BENCH_PACE_CONNECTIONS:-2}
only=${BENCH_ONLY:-.}
proxy_core=${BENCH_PROXY_CORE:-0}
load_core=${BENCH_LOAD_CORE:-1}
port_base=${BENCH_PORT_BASE:-19100}
nice_level=${BENCH_NICE:-0}
prio=()
autogroup_nice=""
if [[ $nice_level != 0 ]]; then
    # On a shared machine a negative nice keeps other people's builds from stalling the figures.
    # With the kernel's autogroups, nice only ranks processes within one session, so the
    # session's own weight is raised too (and restored on exit).
    prio=(nice -n "$nice_level")
    if [[ -w /proc/self/autogroup ]]; then
        autogroup_nice=$(awk '{print $NF}' /proc/self/autogroup)
        echo "$nice_level" >/proc/self/autogroup 2>/dev/null || autogroup_nice=""
    fi
fi
mock_port=$port_base
busbar_port=$((port_base + 100))
nginx_port=$((port_base + 200))

log() { printf '[bench] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------------------------------------
# Tools
# ---------------------------------------------------------------------------------------------

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

apt_install() {
    log "installing $* with apt-get"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

find_nginx() { command -v nginx || { [[ -x /usr/sbin/nginx ]] && echo /usr/sbin/nginx; } || true; }

command -v wrk >/dev/null || apt_install wrk
[[ -n $(find_nginx) ]] || apt_install nginx-light || apt_install nginx
for tool in wrk taskset python3 curl cargo; do
    command -v "$tool" >/dev/null || die "$tool is required"
done
nginx_bin=$(find_nginx)
[[ -n $nginx_bin ]] || die "nginx is required"
cores=$(nproc --all)
((cores >= 2)) || die "needs two cores (found $cores)"

if [[ ${BENCH_SKIP_BUILD:-0} != 1 ]]; then
    log "building release binaries"
    (cd "$root" && cargo build --release --quiet --bin busbar \
        && cargo build --release --quiet -p busbar-testkit --bin busbar-mock)
fi
target_dir=${CARGO_TARGET_DIR:-$root/target}
busbar_bin=$target_dir/release/busbar
mock_bin=$target_dir/release/busbar-mock
[[ -x $busbar_bin && -x $mock_bin ]] || die "release binaries missing under $target_dir/release"

# ---------------------------------------------------------------------------------------------
# Processes (every one started here is killed by pid on exit)
# ---------------------------------------------------------------------------------------------

work=$(mktemp -d "${TMPDIR:-/tmp}/busbar-bench.XXXXXX")
started=()
cleanup() {
    local pid
    for pid in "${started[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${started[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [[ -d $out ]]; then
        cp "$work"/*.log "$out/raw/" 2>/dev/null || true
    fi
    rm -rf "$work"
    if [[ -n $autogroup_nice ]]; then
        echo "$autogroup_nice" >/proc/self/autogroup 2>/dev/null || true
    fi
}
trap cleanup EXIT

wait_for_port() {
    local port=$1 pid=$2 _
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || die "process $pid exited before listening on $port (see $work)"
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    die "nothing listens on 127.0.0.1:$port"
}

for port in "$mock_port" "$busbar_port" "$nginx_port"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        die "127.0.0.1:$port is already in use (set BENCH_PORT_BASE)"
    fi
done

rm -rf "$out/raw"
mkdir -p "$out/raw"

"${prio[@]}" taskset -c "$load_core" "$mock_bin" --listen "127.0.0.1:$mock_port" --threads 1 \
    >"$work/mock.log" 2>&1 &
mock_pid=$!
started+=("$mock_pid")
wait_for_port "$mock_port" "$mock_pid"

cat >"$work/providers.yaml" <<EOF
providers:
  mock-openai:
    protocol: openai
    base_url: http://127.0.0.1:$mock_port
    allow_private: true
  mock-anthropic:
    protocol: anthropic
    base_url: http://127.0.0.1:$mock_port
    allow_private: true
EOF
cat >"$work/config.yaml" <<EOF
listen: 127.0.0.1:$busbar_port
providers:
  mock-openai:
    api_key_env: BENCH_UPSTREAM_KEY
  mock-anthropic:
    api_key_env: BENCH_UPSTREAM_KEY
models:
  bench-openai:
    provider: mock-openai
    max_concurrent: 100000
  bench-anthropic:
    provider: mock-anthropic
    max_concurrent: 100000
EOF
sink_port=$((port_base + 300))
if [[ -n ${BENCH_CONFIG_EXTRA:-} ]]; then
    printf '%s\n' "${BENCH_CONFIG_EXTRA//BENCH_SINK_URL/http://127.0.0.1:$sink_port}" >>"$work/config.yaml"
fi
# Pinned at start, so Tokio sizes its runtime to the one core it may use.
BENCH_UPSTREAM_KEY=bench-upstream-key RUST_LOG=${BENCH_RUST_LOG:-info} "${prio[@]}" taskset -c "$proxy_core" "$busbar_bin" \
    --providers "$work/providers.yaml" --config "$work/config.yaml" >"$work/busbar.log" 2>&1 &
busbar_pid=$!
started+=("$busbar_pid")
wait_for_port "$busbar_port" "$busbar_pid"

mkdir -p "$work/nginx/tmp"
nginx_user=""
[[ $(id -u) -eq 0 ]] && nginx_user="user root;"
cat >"$work/nginx.conf" <<EOF
$nginx_user
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $work/nginx/tmp/body;
    proxy_temp_path $work/nginx/tmp/proxy;
    fastcgi_temp_path $work/nginx/tmp/fastcgi;
    keepalive_requests 1000000;
    upstream mock {
        server 127.0.0.1:$mock_port;
        keepalive 128;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:$nginx_port;
        location / {
            proxy_pass http://mock;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            # Relay stream events as they arrive, as Busbar does.
            proxy_buffering off;
        }
    }
    # A sink for request-log webhooks and OTLP exports (BENCH_CONFIG_EXTRA): takes any POST.
    server {
        listen 127.0.0.1:$sink_port;
        client_max_body_size 64m;
        location / { return 200; }
    }
}
EOF
"${prio[@]}" taskset -c "$proxy_core" "$nginx_bin" -p "$work/nginx" -e "$work/nginx-error.log" \
    -c "$work/nginx.conf" -g 'daemon off;' &
nginx_pid=$!
started+=("$nginx_pid")
wait_for_port "$nginx_port" "$nginx_pid"

# Optional: scrape Busbar's /metrics every N seconds, as a Prometheus server would.
if [[ ${BENCH_SCRAPE_METRICS:-0} != 0 ]]; then
    (
        while sleep "$BENCH_SCRAPE_METRICS"; do
            taskset -c "$load_core" curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$busbar_port/metrics" || true
        done
    ) &
    started+=("$!")
fi

# ---------------------------------------------------------------------------------------------
# Requests
# ---------------------------------------------------------------------------------------------

prompt="Benchmark prompt: the gateway relays this request to a mock upstream that echoes it back \
word by word, so the reply and its stream have a realistic handful of events. Forty-odd words \
of text keep the bodies near the size of a short chat turn without tools or images in it."

write_body() { # file model stream: OpenAI and Anthropic bodies share this minimal shape
    local stream=false
    [[ $3 == stream ]] && stream=true
    printf '{"model":"%s","stream":%s,"max_tokens":256,"messages":[{"role":"user","content":"%s"}]}' \
        "$2" "$stream" "$prompt" >"$1"
}

ingress_path() { [[ $1 == openai ]] && echo /v1/chat/completions || echo /v1/messages; }
ingress_headers() { # wrk/pace style, "|"-separated
    if [[ $1 == openai ]]; then
        echo "authorization: Bearer bench-client-key"
    else
        echo "x-api-key: bench-client-key|anthropic-version: 2023-06-01"
    fi
}

# Total user+system CPU ticks of the given pids.
cpu_ticks() {
    local pid stat total=0 fields
    for pid in "$@"; do
        stat=$(<"/proc/$pid/stat")
        read -r -a fields <<<"${stat##*) }"
        total=$((total + fields[11] + fields[12]))
    done
    echo "$total"
}
peak_rss_kb() { local total=0 pid kb; for pid in "$@"; do
    kb=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status"); total=$((total + kb)); done; echo "$total"; }
# user+nice+system ticks of one core, from /proc/stat (interrupt time is left out: loopback
# traffic is handled there for whichever process sends it).
# Busy ticks of one core (user, nice, system, irq, softirq). A tick spent in softirq while a
# process runs is charged to that process's system time too, so the per-process figures
# already hold the loopback packet work done in their context.
core_ticks() { awk -v core="cpu$1" '$1 == core {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
reset_peak() { local pid; for pid in "$@"; do echo 5 >"/proc/$pid/clear_refs" 2>/dev/null || true; done; }
ticks_per_s=$(getconf CLK_TCK)
softirqd_pid=$(pgrep -x "ksoftirqd/$proxy_core" || true)
use_perf=0
if [[ ${BENCH_PERF:-1} == 1 ]] && command -v perf >/dev/null \
    && perf stat -e raw_syscalls:sys_enter -- true >/dev/null 2>&1; then
    use_perf=1
fi

scenarios=()
for mode in json stream; do
    for proto in openai anthropic; do
        scenarios+=("mock:$proto:$proto:$mode" "nginx:$proto:$proto:$mode")
    done
    scenarios+=("busbar:openai:openai:$mode" "busbar:anthropic:anthropic:$mode"
        "busbar:openai:anthropic:$mode" "busbar:anthropic:openai:$mode")
done

prepare() { # scenario -> sets name url headers body proxy_pids
    IFS=: read -r target ingress egress mode <<<"$1"
    name="$target-$ingress-$egress-$mode"
    body="$work/$name.json"
    headers=$(ingress_headers "$ingress")
    local port model
    proxy_pids=()
    case $target in
        mock) port=$mock_port model="mock-$egress" ;;
        nginx)
            port=$nginx_port model="mock-$egress"
            read -r -a proxy_pids <<<"$nginx_pid $(pgrep -P "$nginx_pid" | tr '\n' ' ')"
            ;;
        busbar) port=$busbar_port model="bench-$egress" proxy_pids=("$busbar_pid") ;;
    esac
    write_body "$body" "$model" "$mode"
    url="http://127.0.0.1:$port$(ingress_path "$ingress")"
}

check_once() { # a single request must succeed, or the figures would measure error pages
    local code curl_headers=()
    IFS='|' read -r -a hs <<<"$headers"
    for h in "${hs[@]}"; do curl_headers+=(-H "$h"); done
    code=$(curl -s -o "$work/check-$name.out" -w '%{http_code}' "${curl_headers[@]}" \
        -H 'content-type: application/json' --data-binary "@$body" "$url")
    [[ $code == 200 ]] || die "$name: HTTP $code: $(head -c 400 "$work/check-$name.out")"
}

# Other work on the machine skews every figure: measure it, and wait for quiet if asked.
busy_percent() { # of both cores over 3 s, excluding what this script started
    local before after ours_before ours_after
    before=$(awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8}' /proc/stat)
    ours_before=$(cpu_ticks "$mock_pid" "$busbar_pid" "$nginx_pid")
    sleep 3
    after=$(awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8}' /proc/stat)
    ours_after=$(cpu_ticks "$mock_pid" "$busbar_pid" "$nginx_pid")
    echo $(((after - before - (ours_after - ours_before)) * 100 / (3 * ticks_per_s * cores)))
}
quiet_deadline=$((SECONDS + ${BENCH_WAIT_QUIET:-0}))
while true; do
    busy=$(busy_percent)
    ((busy <= 5 || SECONDS >= quiet_deadline)) && break
    log "other processes keep the machine ${busy}% busy; waiting for quiet (BENCH_WAIT_QUIET)"
    sleep 20
done
((busy <= 5)) || log "warning: other processes keep the machine ${busy}% busy; figures will be noisy"
echo "$busy" >"$out/raw/busy-before"
log "load on the machine before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
cut -d' ' -f1-3 /proc/loadavg >"$out/raw/loadavg-before"

for scenario in "${scenarios[@]}"; do
    prepare "$scenario"
    [[ $name =~ $only ]] || continue
    check_once

    # Saturation.
    log "$name: wrk -t1 -c$connections -d${duration}s"
    BENCH_BODY_FILE=$body BENCH_HEADERS=$headers \
        "${prio[@]}" taskset -c "$load_core" wrk -t1 -c"$connections" -d"${warmup}s" -s "$here/wrk.lua" "$url" >/dev/null
    reset_peak "${proxy_pids[@]}" "$mock_pid"
    read -r -a all_proxies <<<"$busbar_pid $nginx_pid $(pgrep -P "$nginx_pid" | tr '\n' ' ')"
    all_before=$(cpu_ticks "${all_proxies[@]}") core_before=$(core_ticks "$proxy_core")
    softirqd_before=0
    [[ -n $softirqd_pid ]] && softirqd_before=$(cpu_ticks "$softirqd_pid")
    load_core_before=$(core_ticks "$load_core")
    proxy_before=0 mock_before=$(cpu_ticks "$mock_pid")
    ((${#proxy_pids[@]})) && proxy_before=$(cpu_ticks "${proxy_pids[@]}")
    perf_pid=""
    if [[ $use_perf == 1 ]] && ((${#proxy_pids[@]})); then
        # Syscalls and context switches of the proxy over (nearly) the same window as wrk's.
        perf stat -x, -e raw_syscalls:sys_enter,context-switches -p "$(IFS=,; echo "${proxy_pids[*]}")" \
            -o "$out/raw/sat-$name.perf.csv" -- sleep "$duration" 2>/dev/null &
        perf_pid=$!
        started+=("$perf_pid")
    fi
    started_ns=$(date +%s%N)
    BENCH_BODY_FILE=$body BENCH_HEADERS=$headers BENCH_RESULT="$out/raw/sat-$name.wrk.json" \
        "${prio[@]}" taskset -c "$load_core" wrk -t1 -c"$connections" -d"${duration}s" --latency -s "$here/wrk.lua" "$url" \
        >"$out/raw/sat-$name.wrk.txt"
    wall_ns=$(($(date +%s%N) - started_ns))
    if [[ -n $perf_pid ]]; then
        wait "$perf_pid" || log "$name: perf stat failed; no syscall counts"
        unset 'started[-1]' # it has exited: never signal a pid that may have been reused
    fi
    proxy_ticks=0 proxy_rss=0
    if ((${#proxy_pids[@]})); then
        proxy_ticks=$(($(cpu_ticks "${proxy_pids[@]}") - proxy_before))
        proxy_rss=$(peak_rss_kb "${proxy_pids[@]}")
    fi
    mock_ticks=$(($(cpu_ticks "$mock_pid") - mock_before))
    # The kernel thread that takes over packet processing when a core is flooded with it: work
    # the proxy's traffic caused, though not charged to the proxy.
    softirqd_ticks=0
    [[ -n $softirqd_pid ]] && softirqd_ticks=$(($(cpu_ticks "$softirqd_pid") - softirqd_before))
    # CPU spent on the proxy core by anything else: other people's work.
    foreign_ticks=$(($(core_ticks "$proxy_core") - core_before - ($(cpu_ticks "${all_proxies[@]}") - all_before) - softirqd_ticks))
    load_core_ticks=$(($(core_ticks "$load_core") - load_core_before))
    printf '{"proxy_cpu_ticks": %d, "mock_cpu_ticks": %d, "load_core_ticks": %d, "softirqd_proxy_core_ticks": %d, "foreign_proxy_core_ticks": %d, "ticks_per_s": %d, "wall_ns": %d, "proxy_peak_rss_kb": %d, "mock_peak_rss_kb": %d, "stream_events": %d}\n' \
        "$proxy_ticks" "$mock_ticks" "$load_core_ticks" "$softirqd_ticks" "$foreign_ticks" "$ticks_per_s" "$wall_ns" "$proxy_rss" \
        "$(peak_rss_kb "$mock_pid")" "$(grep -c '^data:' "$work/check-$name.out" || true)" \
        >"$out/raw/sat-$name.proc.json"

    # Paced.
    log "$name: paced at $rate req/s for ${pace_seconds}s"
    pace_headers=()
    IFS='|' read -r -a hs <<<"$headers"
    for h in "${hs[@]}"; do pace_headers+=(--header "$h"); done
    proxy_before=0
    ((${#proxy_pids[@]})) && proxy_before=$(cpu_ticks "${proxy_pids[@]}")
    "${prio[@]}" taskset -c "$load_core" python3 "$here/pace.py" --url "$url" --body-file "$body" "${pace_headers[@]}" \
        --rate "$rate" --seconds "$pace_seconds" --connections "$pace_connections" --label "$name" \
        --out "$out/raw/pace-$name.json" >/dev/null || log "$name: paced run had errors (see raw/pace-$name.json)"
    proxy_ticks=0
    ((${#proxy_pids[@]})) && proxy_ticks=$(($(cpu_ticks "${proxy_pids[@]}") - proxy_before))
    printf '{"proxy_cpu_ticks": %d, "ticks_per_s": %d}\n' "$proxy_ticks" "$ticks_per_s" \
        >"$out/raw/pace-$name.proc.json"
done

cut -d' ' -f1-3 /proc/loadavg >"$out/raw/loadavg-after"
{
    echo "busbar_threads=$(awk '/^Threads:/ {print $2}' "/proc/$busbar_pid/status")"
    echo "cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
    echo "kernel=$(uname -r)"
    echo "wrk=$(wrk --version 2>&1 | head -n1)"
    echo "nginx=$("$nginx_bin" -v 2>&1)"
    echo "busbar=$("$busbar_bin" --version)"
    echo "settings=duration=${duration}s warmup=${warmup}s connections=$connections rate=$rate pace_seconds=$pace_seconds pace_connections=$pace_connections nice=$nice_level scrape_metrics=${BENCH_SCRAPE_METRICS:-0}"
} >"$out/raw/rig.txt"

python3 "$here/report.py" "$out/raw" >"$out/results.md"
cat "$out/results.md"
log "written to $out/results.md"
