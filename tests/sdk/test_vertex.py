"""Vertex AI clients against `busbar demo`, for every egress protocol.

`anthropic.AnthropicVertex` (what Claude Code uses with `CLAUDE_CODE_USE_VERTEX=1`)
calls `/v1/projects/P/locations/L/publishers/anthropic/models/M:rawPredict` and
`:streamRawPredict` with `anthropic_version` in the body and no `model`;
`google.genai.Client(vertexai=True)` with a base URL calls
`/v1beta1/projects/P/locations/L/publishers/google/models/M:generateContent` and
`:streamGenerateContent?alt=sse`. Both send the Busbar key as a bearer token (a
static access token: no Google credentials are involved). The project and
location are ignored; the model in the path routes.
"""

from __future__ import annotations

import json
from typing import Iterator

import pytest
from anthropic import AnthropicVertex
from google import genai
from google.genai import types
from google.oauth2.credentials import Credentials

from support import (
    COUNT_PROMPT,
    PLAIN_PROMPT,
    TOOL_PROMPT,
    WEATHER,
    WEATHER_RESULT,
    echo,
    tool_preamble,
    tool_result_reply,
    words,
)

PROJECT = "busbar-test-project"
BUSBAR_KEY = "busbar-key"
MAX_TOKENS = 256
NO_AUTOMATIC_CALLS = types.AutomaticFunctionCallingConfig(disable=True)


# --- Claude on Vertex (AnthropicVertex) -------------------------------------------------------


@pytest.fixture(scope="session", params=["us-east5", "global"])
def claude(base_url: str, request: pytest.FixtureRequest) -> Iterator[AnthropicVertex]:
    client = AnthropicVertex(
        region=request.param,
        project_id=PROJECT,
        access_token=BUSBAR_KEY,
        base_url=f"{base_url}/v1",
        _strict_response_validation=True,
        max_retries=0,
        timeout=10,
    )
    yield client
    client.close()


def claude_turn(client: AnthropicVertex, egress: str, stream: bool, **params) -> tuple[list[dict], str | None]:
    """The reply's content blocks (as dicts, tool ids dropped) and stop reason."""
    if stream:
        with client.messages.stream(model=egress, max_tokens=MAX_TOKENS, **params) as events:
            message = events.get_final_message()
    else:
        message = client.messages.create(model=egress, max_tokens=MAX_TOKENS, **params)
    blocks = []
    for block in message.content:
        data = block.model_dump(exclude_none=True)
        data.pop("id", None)
        data.pop("citations", None)
        blocks.append(data)
    return blocks, message.stop_reason


def test_vertex_claude_plain_text(claude: AnthropicVertex, egress: str, stream: bool) -> None:
    blocks, stop = claude_turn(claude, egress, stream, messages=[{"role": "user", "content": PLAIN_PROMPT}])
    assert blocks == [{"type": "text", "text": echo(PLAIN_PROMPT)}]
    assert stop == "end_turn"


def test_vertex_claude_path_names_the_model(claude: AnthropicVertex, egress: str) -> None:
    raw = claude.messages.with_raw_response.create(
        model=egress, max_tokens=MAX_TOKENS, messages=[{"role": "user", "content": PLAIN_PROMPT}]
    )
    region = claude.region
    assert raw.http_request.url.path == (
        f"/v1/projects/{PROJECT}/locations/{region}/publishers/anthropic/models/{egress}:rawPredict"
    )
    assert raw.http_request.headers["authorization"] == f"Bearer {BUSBAR_KEY}"
    sent = json.loads(raw.http_request.content)
    assert "model" not in sent and "anthropic_version" in sent
    assert raw.headers["x-busbar-model"] == egress


def test_vertex_claude_tool_call_and_result(claude: AnthropicVertex, egress: str, stream: bool) -> None:
    messages: list[dict] = [{"role": "user", "content": TOOL_PROMPT}]
    tools = [WEATHER.anthropic()]
    if stream:
        with claude.messages.stream(model=egress, max_tokens=MAX_TOKENS, messages=messages, tools=tools) as events:
            message = events.get_final_message()
    else:
        message = claude.messages.create(model=egress, max_tokens=MAX_TOKENS, messages=messages, tools=tools)
    assert message.stop_reason == "tool_use"
    texts = [block.text for block in message.content if block.type == "text"]
    calls = [block for block in message.content if block.type == "tool_use"]
    assert texts == [tool_preamble(WEATHER)]
    assert [(call.name, call.input) for call in calls] == [(WEATHER.name, WEATHER.arguments)]
    messages += [
        {"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in message.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": calls[0].id, "content": WEATHER_RESULT}]},
    ]
    blocks, stop = claude_turn(claude, egress, stream, messages=messages, tools=tools)
    assert blocks == [{"type": "text", "text": tool_result_reply(WEATHER_RESULT)}]
    assert stop == "end_turn"


def test_vertex_claude_beta_messages_and_count_tokens(claude: AnthropicVertex, egress: str) -> None:
    message = claude.beta.messages.create(
        model=egress,
        max_tokens=MAX_TOKENS,
        messages=[{"role": "user", "content": PLAIN_PROMPT}],
        betas=["context-1m-2025-08-07"],
    )
    assert [block.text for block in message.content if block.type == "text"] == [echo(PLAIN_PROMPT)]
    counted = claude.messages.count_tokens(model=egress, messages=[{"role": "user", "content": COUNT_PROMPT}])
    assert counted.input_tokens > 0


# --- Gemini on Vertex (google-genai, vertexai=True) -------------------------------------------


@pytest.fixture(scope="session", params=["v1beta1", "v1"])
def gemini(base_url: str, request: pytest.FixtureRequest) -> Iterator[genai.Client]:
    client = genai.Client(
        vertexai=True,
        project=PROJECT,
        location="us-central1",
        credentials=Credentials(token=BUSBAR_KEY),
        http_options=types.HttpOptions(base_url=base_url, api_version=request.param, timeout=10_000),
    )
    yield client
    client.close()


def gemini_turn(client: genai.Client, egress: str, stream: bool, contents, config=None) -> tuple[list, str | None]:
    """The parts of the reply's first candidate (text joined across chunks) and its finish reason."""
    if stream:
        texts, calls, finish = [], [], None
        for chunk in client.models.generate_content_stream(model=egress, contents=contents, config=config):
            for candidate in chunk.candidates or []:
                for part in (candidate.content.parts if candidate.content else None) or []:
                    if part.text:
                        texts.append(part.text)
                    if part.function_call:
                        calls.append(part)
                finish = candidate.finish_reason or finish
        parts = ([{"text": "".join(texts)}] if texts else []) + calls
        return parts, finish
    response = client.models.generate_content(model=egress, contents=contents, config=config)
    candidate = response.candidates[0]
    parts = [{"text": part.text} if part.text else part for part in candidate.content.parts]
    return parts, candidate.finish_reason


def test_vertex_gemini_plain_text(gemini: genai.Client, egress: str, stream: bool) -> None:
    parts, finish = gemini_turn(gemini, egress, stream, PLAIN_PROMPT)
    assert parts == [{"text": echo(PLAIN_PROMPT)}]
    assert finish == types.FinishReason.STOP


def test_vertex_gemini_function_call_and_response(gemini: genai.Client, egress: str, stream: bool) -> None:
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[types.FunctionDeclaration(**WEATHER.gemini())])],
        automatic_function_calling=NO_AUTOMATIC_CALLS,
    )
    asked = types.Content(role="user", parts=[types.Part(text=TOOL_PROMPT)])
    response = (
        _whole_of_stream(gemini, egress, [asked], config)
        if stream
        else gemini.models.generate_content(model=egress, contents=[asked], config=config)
    )
    content = response.candidates[0].content
    calls = [part.function_call for part in content.parts if part.function_call]
    assert [(call.name, call.args) for call in calls] == [(WEATHER.name, WEATHER.arguments)]
    texts = [part.text for part in content.parts if part.text and not part.thought]
    assert texts == [tool_preamble(WEATHER)]
    answered = types.Content(
        role="user",
        parts=[
            types.Part(
                function_response=types.FunctionResponse(
                    id=calls[0].id, name=WEATHER.name, response={"result": WEATHER_RESULT}
                )
            )
        ],
    )
    parts, finish = gemini_turn(gemini, egress, stream, [asked, content, answered], config)
    assert parts == [{"text": tool_result_reply(WEATHER_RESULT)}]
    assert finish == types.FinishReason.STOP


def _whole_of_stream(client: genai.Client, egress: str, contents, config) -> types.GenerateContentResponse:
    """A stream's chunks folded into one response: every part in order."""
    parts: list[types.Part] = []
    last = None
    for chunk in client.models.generate_content_stream(model=egress, contents=contents, config=config):
        last = chunk
        for candidate in chunk.candidates or []:
            parts += (candidate.content.parts if candidate.content else None) or []
    assert last is not None
    return types.GenerateContentResponse(
        candidates=[types.Candidate(content=types.Content(role="model", parts=parts))]
    )


def test_vertex_gemini_count_tokens(gemini: genai.Client, egress: str) -> None:
    counted = gemini.models.count_tokens(model=egress, contents=COUNT_PROMPT)
    assert counted.total_tokens is not None and counted.total_tokens >= words(COUNT_PROMPT)
