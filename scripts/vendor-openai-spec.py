#!/usr/bin/env python3
"""Extracts the OpenAI OpenAPI schemas Busbar's tests validate against.

The full description (github.com/openai/openai-openapi, MIT) is 3.4 MB; the
tests need only the schemas of what Busbar writes and what they reference:
for Chat Completions the reply, stream chunk and error; for Responses the
request (what egress sends), the response object, its stream events and the
error. Usage:

    scripts/vendor-openai-spec.py PATH/TO/openai-openapi.json \
        > crates/busbar-protocols/test_data/specs/openai-chat.json
    scripts/vendor-openai-spec.py PATH/TO/openai-openapi.json responses \
        > crates/busbar-protocols/test_data/specs/openai-responses.json

`requests` extracts the request bodies the mock upstream checks (Chat Completions, Responses,
Responses input-token counts) for busbar-testkit's conformance test, without their prose:

    scripts/vendor-openai-spec.py PATH/TO/openai-openapi.json requests \
        > crates/busbar-testkit/test_data/vendor/openai-requests.json
"""
import json
import sys

ROOTS = {
    "chat": [
        "CreateChatCompletionResponse",
        "CreateChatCompletionStreamResponse",
        "ErrorResponse",
    ],
    "responses": [
        "CreateResponse",
        "Response",
        "ResponseStreamEvent",
        "ErrorResponse",
    ],
    "requests": [
        "CreateChatCompletionRequest",
        "CreateResponse",
        "TokenCountsBody",
    ],
}

# Prose the request extract leaves out: the test needs the shapes only.
PROSE = ("description", "title", "example", "examples", "x-oaiMeta", "x-oaiTypeLabel")


def strip(node):
    if isinstance(node, dict):
        return {
            key: strip(value)
            for key, value in node.items()
            if not (key in PROSE and not isinstance(value, dict) or key in ("examples", "x-oaiMeta"))
        }
    if isinstance(node, list):
        return [strip(value) for value in node]
    return node


def refs(node, found):
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            found.add(ref.rsplit("/", 1)[1])
        for value in node.values():
            refs(value, found)
    elif isinstance(node, list):
        for value in node:
            refs(value, found)


def main():
    spec = json.load(open(sys.argv[1]))
    which = sys.argv[2] if len(sys.argv) > 2 else "chat"
    roots = ROOTS[which]
    schemas = spec["components"]["schemas"]
    keep, todo = set(), list(roots)
    while todo:
        name = todo.pop()
        if name in keep:
            continue
        keep.add(name)
        found = set()
        refs(schemas[name], found)
        todo.extend(found - keep)
    out = {
        "info": {
            "source": "https://github.com/openai/openai-openapi (MIT), info.version "
            + spec["info"]["version"],
            "extracted_by": "scripts/vendor-openai-spec.py",
        },
        "components": {"schemas": {name: schemas[name] for name in sorted(keep)}},
    }
    if which == "requests":
        out["components"] = strip(out["components"])
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
