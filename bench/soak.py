#!/usr/bin/env python3
"""Soak test: Busbar under mixed traffic against an upstream that fails on purpose.

Starts the testkit's mock upstream with random faults (`busbar-mock --chaos`), Busbar in front
of it with governance on, and client threads that send a mix of OpenAI and Anthropic requests,
streamed and not, same-protocol and translated, through a failover pool, some of them hanging up
mid-stream. Every few seconds it samples Busbar's resident memory and open file descriptors.

At the end it checks, and reports in bench/out/soak.md:
  - memory: resident memory in the last fifth of the run within SOAK_RSS_SLACK_MIB of the
    level after the first fifth (no steady growth);
  - descriptors: once traffic stops, Busbar's open descriptors back near where they started;
  - counts: the requests clients saw answered equal `busbar_requests_total`, the successes
    equal its `outcome="success"` series, and the keys' settled spend (one cent a request) is
    at least the requests served whole and at most those plus the streams clients left early
    (whose end the client cannot know), with nothing still reserved.

Not part of CI: a full run takes SOAK_SECONDS (default 600). Everything listens on 127.0.0.1;
the script ends exactly the processes it started. Exit status 0 when every check passes.

Knobs (environment): SOAK_SECONDS (600), SOAK_CLIENTS (16), SOAK_CHAOS (0.1: share of upstream
requests faulted), SOAK_SAMPLE_SECONDS (5), SOAK_RSS_SLACK_MIB (32), SOAK_PORT_BASE (19500),
SOAK_SKIP_BUILD=1, SOAK_SEED (1).
"""

import http.client
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SECONDS = int(os.environ.get("SOAK_SECONDS", "600"))
CLIENTS = int(os.environ.get("SOAK_CLIENTS", "16"))
CHAOS = os.environ.get("SOAK_CHAOS", "0.1")
SAMPLE_SECONDS = float(os.environ.get("SOAK_SAMPLE_SECONDS", "5"))
RSS_SLACK = int(os.environ.get("SOAK_RSS_SLACK_MIB", "32")) * 1024 * 1024
PORT_BASE = int(os.environ.get("SOAK_PORT_BASE", "19500"))
SEED = int(os.environ.get("SOAK_SEED", "1"))
ADMIN_TOKEN = "soak-admin-token"
MOCK_PORT = PORT_BASE
BUSBAR_PORT = PORT_BASE + 1


def log(message):
    print(f"[soak] {message}", file=sys.stderr, flush=True)


def target_dir():
    meta = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    )
    return json.loads(meta.stdout)["target_directory"]


def build():
    if os.environ.get("SOAK_SKIP_BUILD") == "1":
        return
    log("building release binaries")
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "busbar"], cwd=ROOT, check=True)
    subprocess.run(
        ["cargo", "build", "--release", "--quiet", "-p", "busbar-testkit", "--bin", "busbar-mock"],
        cwd=ROOT, check=True,
    )


def wait_for_port(port, process, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"a process exited before listening on {port}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", "/healthz")
            connection.getresponse().read()
            connection.close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listened on {port} within {seconds} s")


def request(method, path, body=None, headers=None, timeout=30):
    connection = http.client.HTTPConnection("127.0.0.1", BUSBAR_PORT, timeout=timeout)
    try:
        payload = json.dumps(body).encode() if body is not None else None
        all_headers = {"content-type": "application/json", **(headers or {})}
        connection.request(method, path, body=payload, headers=all_headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def admin(method, path, body=None):
    status, data = request(method, path, body, {"x-admin-token": ADMIN_TOKEN})
    if status >= 300:
        raise SystemExit(f"{method} {path}: {status} {data[:300]!r}")
    return json.loads(data)


def resident_bytes(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def open_descriptors(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


class Tally:
    """What the clients saw, under one lock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counts = Counter()

    def add(self, *names):
        with self.lock:
            for name in names:
                self.counts[name] += 1


def prompt(rng):
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]
    return " ".join(rng.choice(words) for _ in range(rng.randint(3, 40)))


def scenario(rng):
    """One request: its path, body, whether it streams, and its end-of-stream marker."""
    model = rng.choice(["gpt", "claude", "pool"])
    if rng.random() < 0.5:
        body = {"model": model, "messages": [{"role": "user", "content": prompt(rng)}]}
        return "/v1/chat/completions", body, b"data: [DONE]"
    body = {"model": model, "max_tokens": 200, "messages": [{"role": "user", "content": prompt(rng)}]}
    return "/v1/messages", body, b"event: message_stop"


def one_request(rng, secret, tally):
    path, body, terminal = scenario(rng)
    stream = rng.random() < 0.5
    hang_up = stream and rng.random() < 0.15
    if stream:
        body["stream"] = True
    headers = {"authorization": f"Bearer {secret}"} if path.startswith("/v1/chat") else {"x-api-key": secret}
    connection = http.client.HTTPConnection("127.0.0.1", BUSBAR_PORT, timeout=60)
    try:
        connection.request("POST", path, body=json.dumps(body).encode(),
                           headers={"content-type": "application/json", **headers})
        response = connection.getresponse()
    except OSError:
        tally.add("no_answer")
        connection.close()
        return
    status = response.status
    tally.add("answered", f"status_{status}")
    try:
        if status != 200:
            response.read()
            return
        if not stream:
            response.read()
            tally.add("charged")
            return
        if hang_up:
            # Whether the rest of this stream fails (and is not charged) is
            # unknown to a client that left: these bound the spend from above.
            response.read(64)
            tally.add("hung_up")
            return
        data = response.read()
    except (OSError, http.client.HTTPException):
        tally.add("stream_torn")
        return
    finally:
        connection.close()
    # An error event first: some formats still write their terminal marker
    # after one (OpenAI's `[DONE]`), and a failed stream is not charged.
    if b"event: error" in data or b'"error":' in data:
        tally.add("stream_error_event")
    elif terminal in data:
        tally.add("stream_clean", "charged")
    else:
        tally.add("stream_silent_end")


def client(index, secrets, deadline, tally):
    rng = random.Random(SEED * 1000 + index)
    while time.time() < deadline:
        one_request(rng, rng.choice(secrets), tally)


def silent_connections(deadline, held):
    """Opens connections that never send a byte, as a careless or hostile client would: the
    gateway must close them itself (`limits.header_read_timeout_secs`)."""
    import socket
    while time.time() < deadline:
        for _ in range(5):
            try:
                held.append(socket.create_connection(("127.0.0.1", BUSBAR_PORT), timeout=5))
            except OSError:
                pass
        time.sleep(5)


def metric_sum(text, name, **labels):
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{key}="{value}"' in line for key, value in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def main():
    build()
    binaries = os.path.join(target_dir(), "release")
    work = tempfile.mkdtemp(prefix="busbar-soak-")
    started = []

    def stop_all():
        for process in started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in started:
            try:
                process.wait(timeout=35)
            except subprocess.TimeoutExpired:
                process.kill()

    try:
        mock_log = open(os.path.join(work, "mock.log"), "w")
        mock = subprocess.Popen(
            [os.path.join(binaries, "busbar-mock"), "--listen", f"127.0.0.1:{MOCK_PORT}",
             "--chaos", CHAOS, "--chaos-stall-ms", "2500", "--chaos-seed", str(SEED)],
            stdout=mock_log, stderr=subprocess.STDOUT,
        )
        started.append(mock)
        with open(os.path.join(work, "providers.yaml"), "w") as providers:
            providers.write(f"""providers:
  mock-openai:
    protocol: openai
    base_url: http://127.0.0.1:{MOCK_PORT}
    allow_private: true
  mock-anthropic:
    protocol: anthropic
    base_url: http://127.0.0.1:{MOCK_PORT}
    allow_private: true
""")
        with open(os.path.join(work, "config.yaml"), "w") as config:
            config.write(f"""listen: 127.0.0.1:{BUSBAR_PORT}
providers:
  mock-openai:
    api_key_env: SOAK_UPSTREAM_KEY
  mock-anthropic:
    api_key_env: SOAK_UPSTREAM_KEY
models:
  gpt:
    provider: mock-openai
    max_concurrent: 64
  claude:
    provider: mock-anthropic
    max_concurrent: 64
pools:
  pool:
    members:
      - target: gpt
      - target: claude
governance:
  enabled: true
  db_path: {work}/governance.db
  admin_token: ${{SOAK_ADMIN_TOKEN}}
  price_per_request_cents: 1
  price_per_1k_tokens_cents: 0
limits:
  idle_timeout_secs: 2
  first_byte_timeout_secs: 10
  header_read_timeout_secs: 5
""")
        busbar_log = open(os.path.join(work, "busbar.log"), "w")
        env = dict(os.environ, SOAK_UPSTREAM_KEY="soak-upstream-key",
                   SOAK_ADMIN_TOKEN=ADMIN_TOKEN, RUST_LOG="warn")
        busbar = subprocess.Popen(
            [os.path.join(binaries, "busbar"), "--providers", os.path.join(work, "providers.yaml"),
             "--config", os.path.join(work, "config.yaml")],
            stdout=busbar_log, stderr=subprocess.STDOUT, env=env,
        )
        started.append(busbar)
        wait_for_port(BUSBAR_PORT, busbar)
        keys = [admin("POST", "/admin/keys", {"name": f"soak-{i}"}) for i in range(4)]
        secrets = [key["secret"] for key in keys]

        samples = []
        base_fds = open_descriptors(busbar.pid)
        tally = Tally()
        begin = time.time()
        deadline = begin + SECONDS
        threads = [threading.Thread(target=client, args=(i, secrets, deadline, tally), daemon=True)
                   for i in range(CLIENTS)]
        silent = []
        threads.append(threading.Thread(target=silent_connections, args=(deadline, silent), daemon=True))
        for thread in threads:
            thread.start()
        log(f"{CLIENTS} clients for {SECONDS} s, {float(CHAOS):.0%} of upstream requests faulted")
        while any(thread.is_alive() for thread in threads):
            samples.append((time.time() - begin, resident_bytes(busbar.pid), open_descriptors(busbar.pid)))
            time.sleep(SAMPLE_SECONDS)
        for thread in threads:
            thread.join()
        # Streams clients left are read on for their usage, silent connections wait out the
        # header timeout: give both time to end.
        settle = time.time() + 15
        while time.time() < settle and open_descriptors(busbar.pid) > base_fds + 4:
            time.sleep(0.5)
        end_fds = open_descriptors(busbar.pid)
        for connection in silent:
            connection.close()
        end_rss = resident_bytes(busbar.pid)

        status, metrics = request("GET", "/metrics", headers={"x-admin-token": ADMIN_TOKEN})
        metrics = metrics.decode()
        gateway_total = metric_sum(metrics, "busbar_requests_total")
        gateway_success = metric_sum(metrics, "busbar_requests_total", outcome="success")
        spend = 0.0
        requests_charged = 0
        for key in keys:
            usage = admin("GET", f"/admin/keys/{key['id']}/usage")
            spend += usage["spend_cents"]
            requests_charged += usage["requests"]
        reserved = sum(admin("GET", f"/admin/keys/{key['id']}/usage").get("reserved_cents", 0) for key in keys)
    finally:
        stop_all()

    counts = tally.counts
    fifth = max(1, len(samples) // 5)
    settled_rss = max(rss for _, rss, _ in samples[fifth:2 * fifth] or samples[:1])
    late_rss = max(rss for _, rss, _ in samples[-fifth:])
    checks = [
        ("resident memory stays flat",
         late_rss <= settled_rss + RSS_SLACK,
         f"{settled_rss / 2**20:.1f} MiB after the first fifth, {late_rss / 2**20:.1f} MiB in the last"),
        ("descriptors return once traffic stops",
         end_fds <= base_fds + 4,
         f"{base_fds} before, {end_fds} after (peak {max(fds for _, _, fds in samples)})"),
        ("every answer is counted once",
         counts["answered"] == gateway_total,
         f"clients saw {counts['answered']} answers, busbar_requests_total is {gateway_total:.0f}"),
        ("successes agree",
         counts["status_200"] == gateway_success,
         f"clients saw {counts['status_200']} 200s, outcome=success is {gateway_success:.0f}"),
        ("spend matches the requests served",
         counts["charged"] - 0.5 < spend < counts["charged"] + counts["hung_up"] + 0.5 and reserved == 0,
         f"clients were served {counts['charged']} requests whole and left {counts['hung_up']} streams "
         f"early; keys spent {spend:.0f} cents over {requests_charged} requests, "
         f"{reserved} cents still reserved"),
        ("no stream ends silently or torn",
         counts["stream_silent_end"] == 0 and counts["stream_torn"] == 0,
         f"{counts['stream_clean']} clean, {counts['stream_error_event']} with an error event, "
         f"{counts['stream_silent_end']} silent, {counts['stream_torn']} torn"),
    ]
    lines = [
        "# Soak test",
        "",
        f"{SECONDS} s, {CLIENTS} clients, {float(CHAOS):.0%} of upstream requests faulted (seed {SEED}); "
        f"{counts['answered']} answered, {counts['no_answer']} unanswered, {counts['hung_up']} hung up mid-stream, "
        f"{len(silent)} connections opened that never sent a byte.",
        "",
        "| check | result | figures |",
        "|---|---|---|",
    ]
    for name, passed, figures in checks:
        lines.append(f"| {name} | {'pass' if passed else 'FAIL'} | {figures} |")
    lines += ["", "Statuses: " + ", ".join(f"{k[7:]}: {v}" for k, v in sorted(counts.items()) if k.startswith("status_")),
              "", f"Resident memory at the end: {end_rss / 2**20:.1f} MiB.", "",
              "| seconds | RSS MiB | fds |", "|---|---|---|"]
    for at, rss, fds in samples[:: max(1, len(samples) // 20)]:
        lines.append(f"| {at:.0f} | {rss / 2**20:.1f} | {fds} |")
    report = "\n".join(lines) + "\n"
    out = os.environ.get("SOAK_OUT", os.path.join(HERE, "out"))
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "soak.md"), "w") as file:
        file.write(report)
    print(report)
    shutil.rmtree(work, ignore_errors=True)
    return 0 if all(passed for _, passed, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
