#!/usr/bin/env python3
"""Writes each stream_NAME.bin from stream_NAME.frames.json.

InvokeModelWithResponseStream as Bedrock frames it, with an event-stream
encoder of its own (zlib's CRC-32, struct for the integers), independent of
Busbar's: each Anthropic stream event, as compact JSON, base64-encoded in the
`bytes` member of a `chunk` event's payload, beside AWS's random `p` padding.
A .frames.json file holds {"events": [...], "exception": {type, payload}?,
"cut": N}: "cut" drops the last N bytes (a stream cut off mid-frame).

Run from anywhere: python3 make_streams.py
"""
import base64
import json
import pathlib
import struct
import zlib

HERE = pathlib.Path(__file__).resolve().parent
PADDING = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def string_header(name, value):
    name, value = name.encode(), value.encode()
    return bytes([len(name)]) + name + b"\x07" + struct.pack(">H", len(value)) + value


def frame(headers, payload):
    header_bytes = b"".join(string_header(k, v) for k, v in headers)
    prelude = struct.pack(">II", 16 + len(header_bytes) + len(payload), len(header_bytes))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    message = prelude + header_bytes + payload
    return message + struct.pack(">I", zlib.crc32(message))


def encode(spec):
    out = b""
    for i, event in enumerate(spec["events"]):
        inner = json.dumps(event, separators=(",", ":")).encode()
        payload = {"bytes": base64.b64encode(inner).decode(), "p": PADDING[: 3 + i % 20]}
        headers = [(":event-type", "chunk"), (":content-type", "application/json"),
                   (":message-type", "event")]
        out += frame(headers, json.dumps(payload, separators=(",", ":")).encode())
    if "exception" in spec:
        exception = spec["exception"]
        headers = [(":exception-type", exception["type"]), (":content-type", "application/json"),
                   (":message-type", "exception")]
        out += frame(headers, json.dumps(exception["payload"]).encode())
    return out[: len(out) - spec.get("cut", 0)]


for source in sorted(HERE.glob("stream_*.frames.json")):
    target = source.with_name(source.name.replace(".frames.json", ".bin"))
    target.write_bytes(encode(json.loads(source.read_text())))
    print(target.name)
