#!/usr/bin/env python3
"""Extracts from botocore's Bedrock Runtime service model what busbar-testkit's conformance test
checks the mock against: the Converse, ConverseStream and CountTokens operations and every shape
their requests and replies reach, without the documentation. botocore ships the model as
`botocore/data/bedrock-runtime/2023-09-30/service-2.json.gz` (Apache-2.0). Usage:

    zcat service-2.json.gz > /tmp/service-2.json
    scripts/vendor-bedrock-model.py /tmp/service-2.json 1.44.18 \\
        > crates/busbar-testkit/test_data/vendor/bedrock-runtime.json
"""
import json
import sys

OPERATIONS = ["Converse", "ConverseStream", "CountTokens"]


def main():
    model = json.load(open(sys.argv[1]))
    shapes = model["shapes"]
    keep, todo = set(), []
    operations = {}
    for name in OPERATIONS:
        operation = dict(model["operations"][name])
        operation.pop("documentation", None)
        operations[name] = operation
        for side in ("input", "output"):
            todo.append(operation[side]["shape"])
    while todo:
        name = todo.pop()
        if name in keep:
            continue
        keep.add(name)
        shape = shapes[name]
        for member in shape.get("members", {}).values():
            todo.append(member["shape"])
        for key in ("member", "key", "value"):
            if key in shape:
                todo.append(shape[key]["shape"])
    out = {
        "info": {
            "source": "PyPI botocore " + sys.argv[2]
            + ", botocore/data/bedrock-runtime/2023-09-30/service-2.json.gz (Apache-2.0)",
            "apiVersion": model["metadata"]["apiVersion"],
            "extracted_by": "scripts/vendor-bedrock-model.py",
        },
        "operations": operations,
        "shapes": {name: strip(shapes[name]) for name in sorted(keep)},
    }
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


def strip(node):
    if isinstance(node, dict):
        return {k: strip(v) for k, v in node.items() if k not in ("documentation", "documentationUrl")}
    return node


if __name__ == "__main__":
    main()
