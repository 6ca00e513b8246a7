#!/usr/bin/env python3
"""Rebuilds the seed corpora in fuzz/corpus/ from the golden payloads in
crates/busbar-protocols/test_data/<format>/.

A payload is a request, a reply (error replies included, since the response
targets read errors too) or a stream, by its file or folder name; expected
outputs (`*.expected.*`, `*.out.*`) and descriptions are skipped. Each target gets at most
MAX_FILES payloads of at most MAX_BYTES, so the corpus stays small. Stream,
SSE and event-stream targets read their first byte as the split seed, so
their seeds get one prepended, varied so that byte-at-a-time, small and
large splits are all represented.

Run from anywhere: `python3 fuzz/seed_corpus.py`. It replaces the corpus
directories it writes; review the diff before committing.
"""

import pathlib
import shutil

ROOT = pathlib.Path(__file__).resolve().parent.parent
DATA = ROOT / "crates" / "busbar-protocols" / "test_data"
CORPUS = ROOT / "fuzz" / "corpus"
FORMATS = ["openai", "responses", "anthropic", "gemini", "cohere", "bedrock", "bedrock-invoke"]
MAX_FILES = 8
MAX_BYTES = 8 * 1024
SPLIT_SEEDS = [0, 5, 17, 63, 200]


def kind(path: pathlib.Path):
    """request, response, error, stream, or None: from the folder the payload sits
    in below its format's (`requests/`, `streams/`, `errors/`), else from the
    start of its file name (`request_basic.json`, `error_billing.txt`)."""
    parts = path.relative_to(DATA).parts[1:]
    name = parts[-1].lower()
    # Expected outputs, Bedrock's frame listings beside its `.bin` streams,
    # and the scripts that made them are not payloads.
    if any(mark in name for mark in (".expected.", ".out.", ".frames.", ".py", ".md")):
        return None
    word = parts[0].lower() if len(parts) > 1 else name.split("_")[0].split(".")[0]
    return {
        "request": "request",
        "requests": "request",
        "response": "response",
        "responses": "response",
        "error": "error",
        "errors": "error",
        "stream": "stream",
        "streams": "stream",
    }.get(word)


def payloads(fmt: str):
    found = {"request": [], "response": [], "error": [], "stream": []}
    base = DATA / fmt
    if not base.is_dir():
        return found
    for path in sorted(p for p in base.rglob("*") if p.is_file()):
        k = kind(path)
        if k and path.stat().st_size <= MAX_BYTES:
            found[k].append(path)
    return found


def spread(paths, most=MAX_FILES):
    """At most `most` of `paths`, spread over the list rather than its head."""
    if len(paths) <= most:
        return paths
    step = len(paths) / most
    return [paths[int(i * step)] for i in range(most)]


def write(target: str, seeds):
    out = CORPUS / target
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for name, data in seeds:
        (out / name).write_bytes(data)
    print(f"{target}: {len(seeds)} seeds")


def seed_name(path: pathlib.Path):
    return "_".join(path.relative_to(DATA).parts)


def with_split(paths):
    return [
        (seed_name(p), bytes([SPLIT_SEEDS[i % len(SPLIT_SEEDS)]]) + p.read_bytes())
        for i, p in enumerate(paths)
    ]


def main():
    sse_streams, frame_streams = [], []
    for fmt in FORMATS:
        found = payloads(fmt)
        target = fmt.replace("-", "_")
        # Error replies go to the response target, which reads them too, but
        # leave most of its room to replies.
        errors = spread(found["error"], 3)
        responses = spread(found["response"], MAX_FILES - len(errors))
        for k, paths in (("request", spread(found["request"])), ("response", responses + errors)):
            write(f"{target}_{k}", [(seed_name(p), p.read_bytes()) for p in paths])
        streams = spread(found["stream"])
        write(f"{target}_stream", with_split(streams))
        if fmt == "bedrock":
            frame_streams += streams
        else:
            sse_streams += [p for p in streams if p.suffix == ".sse"]
    write("sse", with_split(spread(sse_streams)))
    write("eventstream", with_split(frame_streams))


if __name__ == "__main__":
    main()
