"""A loopback HTTP server that writes every request it receives to a JSON file.

By default it answers each request 400, which ends an agent's turn at once: used to record
exactly what each agent CLI sends first (method, path, headers, body). With `--forward URL` it
is a recording proxy instead: it relays each request to URL (Busbar) and the reply back, frame by
frame, so a whole tool turn can be recorded. The fixtures in tests/agents/captures/ came from it.

    python3 capture.py --listen 127.0.0.1:0 --out DIR --prefix NAME [--forward http://HOST:PORT]

Prints `capture listening on http://ADDR` once the port accepts.
"""

import argparse
import http.client
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

parser = argparse.ArgumentParser()
parser.add_argument("--listen", default="127.0.0.1:0")
parser.add_argument("--out", required=True)
parser.add_argument("--prefix", required=True)
parser.add_argument("--forward")
args = parser.parse_args()
out_dir = Path(args.out)
out_dir.mkdir(parents=True, exist_ok=True)
counter = iter(range(1, 1_000_000))
counter_lock = threading.Lock()
# Hop-by-hop headers a proxy must not pass on.
HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "host",
       "content-length"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _handle(self):
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        with counter_lock:
            number = next(counter)
        record = {"method": self.command, "path": self.path,
                  "headers": dict(self.headers.items()), "body": body}
        name = out_dir / f"{args.prefix}-{number:02d}.json"
        name.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
        if args.forward:
            self._forward(raw)
        else:
            self._refuse()

    def _refuse(self):
        reply = json.dumps({"error": {"type": "invalid_request_error", "code": 400,
                                      "message": "capture server: request recorded"}}).encode()
        self.send_response(400)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def _forward(self, raw: bytes):
        target = urlsplit(args.forward)
        upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=120)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        # The proxy relays bytes; it must not have to undo a compression it cannot see.
        headers["accept-encoding"] = "identity"
        upstream.request(self.command, self.path, body=raw, headers=headers)
        reply = upstream.getresponse()
        self.send_response(reply.status)
        for key, value in reply.getheaders():
            if key.lower() not in HOP:
                self.send_header(key, value)
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        while chunk := reply.read1(65536):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        upstream.close()

    do_POST = do_GET = do_PUT = do_DELETE = _handle

    def log_message(self, *_):
        pass


host, port = args.listen.rsplit(":", 1)
server = ThreadingHTTPServer((host, int(port)), Handler)
print(f"capture listening on http://{host}:{server.server_address[1]}", flush=True)
server.serve_forever()
