#!/usr/bin/env python3
"""Writes the vendors' current request types as JSON Schema, for the mock's conformance test.

Anthropic, Google and Cohere publish no OpenAPI description of these endpoints that matches
their SDKs; the official Python SDKs' request types are the reference. This script turns them
into JSON Schema with pydantic (which the three SDKs already depend on) and writes them under
crates/busbar-testkit/test_data/vendor/. Each root schema keeps its own `$defs` (the GA and beta Anthropic types reuse names with
different members). Run it in a virtualenv holding the pinned SDKs:

    python -m venv /tmp/sdk && /tmp/sdk/bin/pip install anthropic==2.17.0 \
        google-genai==3.6.1 cohere==7.3.1
    /tmp/sdk/bin/python scripts/vendor-sdk-schemas.py crates/busbar-testkit/test_data/vendor

and OpenAI's and Bedrock's with:

    scripts/vendor-openai-spec.py openapi.json requests > …/vendor/openai-requests.json
    scripts/vendor-bedrock-model.py service-2.json > …/vendor/bedrock-runtime.json

What changes between the SDK types and the wire, by hand and said here:
- Anthropic: `betas`, `user_profile_id` and `workspace_id` are sent as headers, not in the body,
  so they are dropped; `stream` is a boolean (the SDK splits streaming and non-streaming types).
- Gemini: the SDK has no type for the REST body, so `GenerateContentRequest` and
  `CountTokensRequest` are assembled from its `Content`, `Tool`, `ToolConfig`, `SafetySetting`
  and `GenerationConfig` types, in camelCase (the SDK's alias generator), which is what the SDK
  sends; those types forbid unknown fields, as the API does.
- Cohere: the v2 chat body is the keyword arguments of `V2Client.chat`, typed by the SDK.
"""
import inspect
import json
import sys
import typing
from pathlib import Path

import pydantic
from pydantic import TypeAdapter


def anthropic_schemas():
    import anthropic
    from anthropic.types import message_count_tokens_params as count
    from anthropic.types import message_create_params as ga
    from anthropic.types.beta import message_create_params as beta

    roots = {}
    for name, kind in [
        ("MessageCreateParams", ga.MessageCreateParamsNonStreaming),
        ("BetaMessageCreateParams", beta.MessageCreateParamsNonStreaming),
        ("MessageCountTokensParams", count.MessageCountTokensParams),
    ]:
        schema = TypeAdapter(kind).json_schema()
        for header in ("betas", "user_profile_id", "workspace_id"):
            schema["properties"].pop(header, None)
        if "stream" in schema["properties"]:
            schema["properties"]["stream"] = {"type": "boolean"}
        roots[name] = schema
    return {"source": "PyPI anthropic " + anthropic.__version__, "roots": roots}


def gemini_schemas():
    from google.genai import types, version
    from google.genai._common import BaseModel

    class GenerateContentRequest(BaseModel):
        contents: list[types.Content]
        system_instruction: typing.Optional[types.Content] = None
        tools: typing.Optional[list[types.Tool]] = None
        tool_config: typing.Optional[types.ToolConfig] = None
        safety_settings: typing.Optional[list[types.SafetySetting]] = None
        generation_config: typing.Optional[types.GenerationConfig] = None
        cached_content: typing.Optional[str] = None

    class CountTokensRequest(BaseModel):
        contents: typing.Optional[list[types.Content]] = None
        generate_content_request: typing.Optional[GenerateContentRequest] = None

    roots = {}
    for model in (GenerateContentRequest, CountTokensRequest):
        roots[model.__name__] = model.model_json_schema(by_alias=True)
    return {"source": "PyPI google-genai " + version.__version__, "roots": roots}


def cohere_schemas():
    import cohere
    from cohere.v2.client import V2Client

    hints = typing.get_type_hints(V2Client.chat)
    fields = {}
    for name, parameter in inspect.signature(V2Client.chat).parameters.items():
        if name in ("self", "request_options"):
            continue
        hint = hints[name]
        required = parameter.default is inspect.Parameter.empty
        fields[name] = (hint, ... if required else None)
    model = pydantic.create_model("ChatV2Request", **fields)
    schema = model.model_json_schema()
    return {"source": "PyPI cohere " + cohere.__version__, "roots": {"ChatV2Request": schema}}


def strip(node):
    """Drops prose (`description`, `title`, `examples`): the test needs the shapes only."""
    if isinstance(node, dict):
        return {
            key: strip(value)
            for key, value in node.items()
            if not (key in ("description", "title") and isinstance(value, str)) and key != "examples"
        }
    if isinstance(node, list):
        return [strip(value) for value in node]
    return node


def main():
    out = Path(sys.argv[1])
    for file, build in [
        ("anthropic-messages.json", anthropic_schemas),
        ("gemini-generate-content.json", gemini_schemas),
        ("cohere-chat-v2.json", cohere_schemas),
    ]:
        document = build()
        document = {
            "info": {"source": document.pop("source"), "extracted_by": "scripts/vendor-sdk-schemas.py"},
            "roots": strip(document["roots"]),
        }
        (out / file).write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
