#!/usr/bin/env python3
"""Checks the golden Bedrock files against botocore, the library boto3 runs.

* Replies (`response_*` and their re-encodings): parsed by botocore's
  rest-json parser, and checked member by member against the service
  model's shapes (required members, one member per union, enums, types).
* Streams (`stream_*.bin`, written by make_streams.py, and
  `streamout_*.expected.bin` and `stream_*.out.bin`, written by Busbar):
  read by botocore's own EventStream in 7-byte pieces, each event payload
  checked like a reply.
* Errors (`error_*.expected.json`): Busbar's re-encoded status, header and
  body parsed by botocore, which must name the same exception.
* Requests (`request_*` re-encodings and `encode_*.expected.json`):
  botocore's parameter validation for Converse and ConverseStream.

Not run by CI (it needs Python and botocore); run it after blessing:
python3 check_with_botocore.py
"""
import json
import pathlib
import sys

import botocore.session
from botocore.eventstream import EventStream
from botocore.exceptions import ClientError
from botocore.parsers import create_parser
from botocore.validate import ParamValidator

HERE = pathlib.Path(__file__).resolve().parent
MODEL = botocore.session.get_session().get_service_model("bedrock-runtime")
CONVERSE = MODEL.operation_model("Converse")
CONVERSE_STREAM = MODEL.operation_model("ConverseStream")
FAILURES = []


def fail(name, message):
    FAILURES.append(f"{name}: {message}")


def conform(value, shape, path, name):
    """The wire JSON `value` obeys `shape` as the service model states it."""
    kind = shape.type_name
    if kind == "structure":
        if shape.is_document_type:
            return
        if not isinstance(value, dict):
            return fail(name, f"{path}: expected an object")
        members = shape.members
        for key in value:
            if key not in members and key != "p":
                fail(name, f"{path}.{key}: not in {shape.name}")
        if shape.is_tagged_union and len([k for k, v in value.items() if v is not None]) != 1:
            fail(name, f"{path}: union {shape.name} must have exactly one member")
        for required in shape.required_members:
            if required not in value and members[required].serialization.get("location") is None:
                fail(name, f"{path}.{required}: required by {shape.name}")
        for key, member in members.items():
            if key in value:
                conform(value[key], member, f"{path}.{key}", name)
    elif kind == "list":
        if not isinstance(value, list):
            return fail(name, f"{path}: expected a list")
        for i, item in enumerate(value):
            conform(item, shape.member, f"{path}[{i}]", name)
    elif kind == "map":
        for key, item in value.items():
            conform(item, shape.value, f"{path}.{key}", name)
    elif kind in ("string", "blob"):
        if not isinstance(value, str):
            return fail(name, f"{path}: expected a string")
        if getattr(shape, "enum", None) and value not in shape.enum:
            fail(name, f"{path}: {value!r} not in {shape.enum}")
    elif kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            fail(name, f"{path}: expected an integer")
    elif kind in ("float", "double"):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            fail(name, f"{path}: expected a number")
    elif kind == "boolean":
        if not isinstance(value, bool):
            fail(name, f"{path}: expected a boolean")


def check_reply(name, body):
    parser = create_parser("rest-json")
    raw = json.dumps(body).encode()
    try:
        parser.parse({"status_code": 200, "headers": {}, "body": raw}, CONVERSE.output_shape)
    except Exception as error:  # noqa: BLE001 - any parser failure is a finding
        fail(name, f"botocore could not parse the reply: {error}")
    conform(body, CONVERSE.output_shape, "reply", name)


class Raw:
    def __init__(self, data):
        self.data = data

    def stream(self):
        for i in range(0, len(self.data), 7):
            yield self.data[i : i + 7]

    def close(self):
        pass


def check_stream(name, data, expect_error=None):
    shape = CONVERSE_STREAM.output_shape.members["stream"]
    parser = create_parser("rest-json")
    stream = EventStream(Raw(data), shape, parser._event_stream_parser, "ConverseStream")
    seen = []
    try:
        for event in stream:
            (kind,) = event.keys()
            seen.append(kind)
    except ClientError as error:
        seen.append("!" + error.response["Error"]["Code"])
    except Exception as error:  # noqa: BLE001
        seen.append(f"?{type(error).__name__}")
    # The payloads, checked against their event shapes.
    from botocore.eventstream import EventStreamBuffer

    buffer = EventStreamBuffer()
    buffer.add_data(data)
    for message in buffer:
        headers = message.headers
        if headers.get(":message-type") == "event":
            event_type = headers[":event-type"]
            conform(json.loads(message.payload), shape.members[event_type], event_type, name)
    return seen


def check_error(name, expected):
    parser = create_parser("rest-json")
    response = {
        "status_code": expected["status"],
        "headers": {"x-amzn-errortype": expected["error_type"] + ":http://internal.amazon.com/coral/com.amazon.bedrock/"},
        "body": json.dumps(expected["body"]).encode(),
    }
    parsed = parser.parse(response, CONVERSE.output_shape)
    error = parsed.get("Error", {})
    if error.get("Code") != expected["error_type"] or error.get("Message") != expected["body"]["message"]:
        fail(name, f"botocore read {error}")


def check_request(name, body):
    validator = ParamValidator()
    for operation in (CONVERSE, CONVERSE_STREAM):
        params = dict(body, modelId="anthropic.claude-sonnet-4-5-20250929-v1:0")
        report = validator.validate(params, operation.input_shape)
        if report.has_errors():
            fail(name, report.generate_report())
        conform(body, operation.input_shape, "request", name)


for path in sorted(HERE.glob("response_*.json")):
    if ".expected." in path.name:
        continue
    expected = json.loads(path.with_name(path.stem + ".expected.json").read_text())
    check_reply(path.name, json.loads(path.read_text()))
    check_reply(path.name + " (re-encoded)", expected.get("reencoded") or json.loads(path.read_text()))

for path in sorted(HERE.glob("stream_*.bin")):
    if ".out." in path.name:
        continue
    expected = json.loads(path.with_name(path.stem + ".expected.json").read_text())
    seen = check_stream(path.name, path.read_bytes())
    print(f"{path.name}: {' '.join(seen)}")
for path in sorted([*HERE.glob("streamout_*.expected.bin"), *HERE.glob("stream_*.out.bin")]):
    seen = check_stream(path.name, path.read_bytes())
    print(f"{path.name}: {' '.join(seen)}")
    if any(kind.startswith("?") for kind in seen):
        fail(path.name, f"botocore failed: {seen}")

for path in sorted(HERE.glob("error_*.expected.json")):
    check_error(path.name, json.loads(path.read_text()))

for path in sorted(HERE.glob("request_*.json")):
    if ".expected." in path.name:
        continue
    check_request(path.name, json.loads(path.read_text()))
    expected = json.loads(path.with_name(path.stem + ".expected.json").read_text())
    if "reencoded" in expected:
        check_request(path.name + " (re-encoded)", expected["reencoded"])
for path in sorted(HERE.glob("encode_*.expected.json")):
    check_request(path.name, json.loads(path.read_text())["body"])

if FAILURES:
    print("\n".join(FAILURES))
    sys.exit(1)
print("botocore accepts every golden file")
