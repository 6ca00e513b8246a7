#!/usr/bin/env python3
"""Constant-rate HTTP/1.1 load for bench/run.sh, with per-request timings.

wrk measures throughput at saturation, where latency is mostly queueing. The figure the
targets ask for, latency added at a steady 1,000 req/s, needs a paced client, and Debian has
no wrk2. This one sends a fixed POST on a few keep-alive connections, each thread on its own
schedule (together `--rate` requests a second, evenly spread), and records for every request:

- total: from writing the request to the last byte of the response;
- head: to the end of the response headers;
- first_body: to the first byte of the body (for a stream, its first event).

Latency is timed from the actual send, not the scheduled one; sends that slipped more than a
millisecond behind schedule are counted as `late` so a run that could not keep the pace shows.
Standard library only; prints and writes one JSON object.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import threading
import time
from urllib.parse import urlsplit


class Timings:
    """Per-request timings in nanoseconds, relative to the send."""

    __slots__ = ("status", "head", "first_body", "total")

    def __init__(self, status: int, head: int, first_body: int, total: int) -> None:
        self.status = status
        self.head = head
        self.first_body = first_body
        self.total = total


class Connection:
    """One keep-alive HTTP/1.1 connection that sends the same request again and again."""

    def __init__(self, host: str, port: int, payload: bytes) -> None:
        self.address = (host, port)
        self.payload = payload
        self.sock: socket.socket | None = None

    def _connect(self) -> socket.socket:
        sock = socket.create_connection(self.address, timeout=10)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
        return sock

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def exchange(self) -> Timings:
        sock = self.sock or self._connect()
        clock = time.perf_counter_ns
        sent = clock()
        sock.sendall(self.payload)
        buf = bytearray()
        head_end = -1
        while head_end < 0:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed before the response headers")
            buf += chunk
            head_end = buf.find(b"\r\n\r\n")
        head_at = clock()
        head = bytes(buf[:head_end]).decode("latin-1").split("\r\n")
        status = int(head[0].split(" ", 2)[1])
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        body = buf[head_end + 4 :]
        first_body_at = head_at if body else 0
        keep_alive = headers.get("connection", "").lower() != "close"

        if "chunked" in headers.get("transfer-encoding", "").lower():
            pos = 0
            while True:
                line_end = body.find(b"\r\n", pos)
                if line_end >= 0:
                    size = int(bytes(body[pos:line_end]).split(b";")[0], 16)
                    need = line_end + 2 + size + 2
                    if len(body) >= need:
                        pos = need
                        if size == 0:
                            break
                        continue
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("closed inside a chunked body")
                if not first_body_at:
                    first_body_at = clock()
                body += chunk
        else:
            length = int(headers.get("content-length", "0"))
            while len(body) < length:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("closed inside the body")
                if not first_body_at:
                    first_body_at = clock()
                body += chunk
        done = clock()
        if not keep_alive:
            self.close()
        return Timings(
            status,
            head_at - sent,
            (first_body_at or done) - sent,
            done - sent,
        )


def build_payload(url: str, body: bytes, headers: list[str]) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise SystemExit(f"pace.py: only http:// URLs, got {url}")
    port = parts.port or 80
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {parts.hostname}:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
    ]
    lines += [h.strip() for h in headers if h.strip()]
    return parts.hostname, port, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def percentiles(values: list[int]) -> dict[str, float]:
    """Nearest-rank percentiles in microseconds."""
    if not values:
        return {}
    ordered = sorted(values)

    def at(q: float) -> float:
        index = min(len(ordered) - 1, max(0, int(round(q / 100 * len(ordered) + 0.5)) - 1))
        return round(ordered[index] / 1000, 1)

    return {
        "p50": at(50),
        "p90": at(90),
        "p99": at(99),
        "p999": at(99.9),
        "max": round(ordered[-1] / 1000, 1),
    }


def run(args: argparse.Namespace) -> dict:
    with open(args.body_file, "rb") as handle:
        body = handle.read()
    host, port, payload = build_payload(args.url, body, args.header)
    threads = max(1, args.connections)
    interval = threads / args.rate
    start = time.perf_counter() + 0.05
    measure_from = start + args.warmup
    stop_at = measure_from + args.seconds
    lock = threading.Lock()
    results: list[Timings] = []
    counters = {"errors": 0, "late": 0, "non_200": 0}

    def worker(index: int) -> None:
        conn = Connection(host, port, payload)
        mine: list[Timings] = []
        errors = late = non_200 = 0
        due = start + index / args.rate
        while due < stop_at:
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            elif -delay > 0.001 and due >= measure_from:
                late += 1
            measured = due >= measure_from
            try:
                timings = conn.exchange()
            except (OSError, ValueError, IndexError):
                conn.close()
                errors += measured
            else:
                if measured:
                    if timings.status == 200:
                        mine.append(timings)
                    else:
                        non_200 += 1
            due += interval
        conn.close()
        with lock:
            results.extend(mine)
            counters["errors"] += errors
            counters["late"] += late
            counters["non_200"] += non_200

    pool = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return {
        "label": args.label,
        "rate_target": args.rate,
        "seconds": args.seconds,
        "connections": threads,
        "requests": len(results),
        "achieved_rate": round(len(results) / args.seconds, 1),
        **counters,
        "latency_us": percentiles([t.total for t in results]),
        "head_us": percentiles([t.head for t in results]),
        "first_body_us": percentiles([t.first_body for t in results]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--body-file", required=True)
    parser.add_argument("--header", action="append", default=[], help="'Name: value', repeatable")
    parser.add_argument("--rate", type=float, default=1000.0, help="requests per second in all")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured duration")
    parser.add_argument("--warmup", type=float, default=1.0, help="paced but not measured")
    parser.add_argument("--connections", type=int, default=2)
    parser.add_argument("--label", default="")
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args()
    if args.rate <= 0 or args.seconds <= 0:
        parser.error("--rate and --seconds must be positive")
    result = run(args)
    text = json.dumps(result)
    print(text)
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(text + "\n")
    return 0 if result["requests"] and not result["errors"] and not result["non_200"] else 1


if __name__ == "__main__":
    sys.exit(main())
