-- wrk script for bench/run.sh: POST one fixed JSON body with fixed headers, and write the run's
-- figures as one JSON object when it ends.
--
-- Environment:
--   BENCH_BODY_FILE  file holding the request body (required)
--   BENCH_HEADERS    headers separated by "|", e.g. "authorization: Bearer k|x-foo: bar"
--   BENCH_RESULT     file to write the JSON result to (optional; nothing is written without it)

local function read_file(path)
  local file = assert(io.open(path, "rb"), "cannot open " .. tostring(path))
  local text = file:read("*a")
  file:close()
  return text
end

wrk.method = "POST"
wrk.body = read_file(os.getenv("BENCH_BODY_FILE"))
wrk.headers["content-type"] = "application/json"
for header in string.gmatch(os.getenv("BENCH_HEADERS") or "", "[^|]+") do
  local name, value = string.match(header, "^%s*([^:]+):%s*(.-)%s*$")
  if name then
    wrk.headers[name] = value
  end
end

function done(summary, latency, requests)
  local path = os.getenv("BENCH_RESULT")
  if not path then
    return
  end
  local errors = summary.errors
  local out = assert(io.open(path, "w"))
  -- Latencies are in microseconds, the duration too.
  out:write(string.format(
    '{"requests": %d, "duration_us": %d, "bytes": %d, '
      .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, '
      .. '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "p999": %d, "max": %d, "mean": %.1f}}\n',
    summary.requests, summary.duration, summary.bytes,
    errors.connect, errors.read, errors.write, errors.status, errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean))
  out:close()
end
