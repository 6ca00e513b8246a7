#!/usr/bin/env bash
# Instructions per request, counted by valgrind's callgrind: deterministic where CPU time on a
# shared machine is not. Busbar (the release build) runs under callgrind in front of the testkit's
# mock; one keep-alive connection sends the same OpenAI -> OpenAI JSON request N1 and then N2
# times in two separate runs, and the difference of the two totals divided by N2 - N1 is the cost
# of one request (start-up and shutdown cancel out). All of Busbar's threads count, user space.
#
# Usage: bench/instructions.sh [MODE...]   (default: off on)
#   off   no request log, no tracing
#   log   the request log to a file
#   otel  traces to a local OTLP/HTTP sink that answers 200
#   on    both
# Modes are measured in turn, ROUNDS times (BENCH_ROUNDS, default 1), alternating, so that slow
# drift on the machine affects them alike. Prints each mode's instructions per request and the
# share over `off`, raw and "adjusted": without the functions whose count depends on wall time
# rather than on requests (the metrics crate's clock calibration at start, clock reads).
# Knobs: BENCH_N1 (500), BENCH_N2 (4000), BENCH_PORT_BASE (19700: mock, +1 Busbar, +2 sink),
# BENCH_SKIP_BUILD=1. Needs valgrind and python3. Listens on 127.0.0.1 only; kills exactly the
# processes it started.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
n1=${BENCH_N1:-500}
n2=${BENCH_N2:-4000}
rounds=${BENCH_ROUNDS:-1}
port_base=${BENCH_PORT_BASE:-19700}
modes=("$@")
[[ ${#modes[@]} -eq 0 ]] && modes=(off on)
command -v valgrind >/dev/null || { echo "instructions.sh: valgrind is needed" >&2; exit 1; }

if [[ ${BENCH_SKIP_BUILD:-0} != 1 ]]; then
  (cd "$root" && cargo build --release -q -p busbar -p busbar-testkit)
fi
bin=$root/target/release
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do [[ -n $pid ]] && kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

mock_port=$port_base
busbar_port=$((port_base + 1))
sink_port=$((port_base + 2))

"$bin/busbar-mock" --listen "127.0.0.1:$mock_port" --threads 1 >"$work/mock.log" 2>&1 &
pids+=($!)
python3 - "$sink_port" >"$work/sink.log" 2>&1 <<'PY' &
import http.server, socketserver, sys
class Sink(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
socketserver.ThreadingTCPServer.allow_reuse_address = True
socketserver.ThreadingTCPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
PY
pids+=($!)

cat >"$work/providers.yaml" <<YAML
providers:
  mock-openai:
    protocol: openai
    base_url: http://127.0.0.1:$mock_port
    allow_private: true
YAML

# Total instructions of one callgrind run of Busbar serving $2 requests in mode $1; the
# per-function profile is kept as $work/$1-$2.txt.
run() {
  local mode=$1 n=$2
  cat >"$work/config.yaml" <<YAML
listen: 127.0.0.1:$busbar_port
providers:
  mock-openai:
    api_key_env: BENCH_UPSTREAM_KEY
models:
  bench-openai:
    provider: mock-openai
    max_concurrent: 100000
YAML
  local log="request_log: {file: $work/requests.jsonl, max_bytes: 1073741824, keep: 1}"
  local otel="otlp_endpoint: \"http://127.0.0.1:$sink_port\""
  case $mode in
    off) ;;
    log) echo "observability: {$log}" >>"$work/config.yaml" ;;
    otel) echo "observability: {$otel}" >>"$work/config.yaml" ;;
    on) echo "observability: {$otel, $log}" >>"$work/config.yaml" ;;
    *) echo "instructions.sh: unknown mode $mode" >&2; exit 2 ;;
  esac
  rm -f "$work"/requests.jsonl* "$work"/cg.out.*
  BENCH_UPSTREAM_KEY=k valgrind --tool=callgrind --callgrind-out-file="$work/cg.out.%p" \
    "$bin/busbar" --providers "$work/providers.yaml" --config "$work/config.yaml" \
    >"$work/busbar.log" 2>&1 &
  local busbar=$!
  pids+=($busbar)
  for _ in $(seq 1 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$busbar_port") 2>/dev/null && break
    sleep 0.1
  done
  python3 - "$busbar_port" "$n" <<'PY'
import http.client, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
conn = http.client.HTTPConnection("127.0.0.1", port)
body = b'{"model":"bench-openai","messages":[{"role":"user","content":"hello there"}]}'
for _ in range(n):
    conn.request("POST", "/v1/chat/completions", body,
                 {"Content-Type": "application/json", "Authorization": "Bearer x"})
    reply = conn.getresponse()
    reply.read()
    assert reply.status == 200, reply.status
PY
  sleep 1
  kill -INT "$busbar"
  wait "$busbar" 2>/dev/null || true
  pids=("${pids[@]/$busbar/}")
  callgrind_annotate --threshold=100 --inclusive=no "$work"/cg.out.* 2>/dev/null \
    | grep -E '^\s*[0-9,]+ ' | sed 's/,//g' >"$work/$mode-$n.txt"
}

report() {
  python3 - "$work" "$n1" "$n2" "${modes[@]}" <<'PY'
import re, sys
work, n1, n2, modes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
wall_time = re.compile(r"once_cell::imp::OnceCell<T>::initialize::\{\{closure\}\}|clock_gettime|Timespec|quanta")
def load(path):
    total, timed = 0, 0
    for line in open(path):
        count, _, name = line.strip().partition(" ")
        if "PROGRAM TOTALS" in name:
            total = int(count)
        elif wall_time.search(name):
            timed += int(count)
    return total, timed
per = {}
for mode in modes:
    (t1, w1), (t2, w2) = load(f"{work}/{mode}-{n1}.txt"), load(f"{work}/{mode}-{n2}.txt")
    raw = (t2 - t1) / (n2 - n1)
    per[mode] = (raw, raw - (w2 - w1) / (n2 - n1))
for mode, (raw, adjusted) in per.items():
    line = f"{mode:5} {raw:10.0f} instructions/request (adjusted {adjusted:.0f})"
    if "off" in per and mode != "off":
        line += f"  over off: {100 * (raw / per['off'][0] - 1):+.1f} % raw, {100 * (adjusted / per['off'][1] - 1):+.1f} % adjusted"
    print(line)
PY
}

for round in $(seq 1 "$rounds"); do
  for mode in "${modes[@]}"; do
    run "$mode" "$n1"
    run "$mode" "$n2"
  done
  echo "round $round:"
  report
done
