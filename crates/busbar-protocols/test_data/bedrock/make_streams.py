#!/usr/bin/env python3
"""Writes each stream_NAME.bin from stream_NAME.frames.json.

An event-stream encoder of its own (zlib's CRC-32, struct for the integers),
independent of Busbar's, so the golden streams test Busbar's decoder against
bytes it did not produce. A .frames.json file holds {"frames": [...], "cut": N}:
each frame is {"event": TYPE, "payload": {...}} or {"exception": TYPE,
"payload": {...}}; "cut" drops the last N bytes (a stream cut off mid-frame).

Run from anywhere: python3 make_streams.py
"""
import json
import pathlib
import struct
import zlib

HERE = pathlib.Path(__file__).resolve().parent


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
    for item in spec["frames"]:
        payload = json.dumps(item["payload"], separators=(",", ":")).encode()
        if "event" in item:
            headers = [(":event-type", item["event"]), (":content-type", "application/json"),
                       (":message-type", "event")]
        else:
            headers = [(":exception-type", item["exception"]), (":content-type", "application/json"),
                       (":message-type", "exception")]
        out += frame(headers, payload)
    return out[: len(out) - spec.get("cut", 0)]


for source in sorted(HERE.glob("stream_*.frames.json")):
    target = source.with_name(source.name.replace(".frames.json", ".bin"))
    target.write_bytes(encode(json.loads(source.read_text())))
    print(target.name)
