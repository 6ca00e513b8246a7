"""The official Google Gen AI Python SDK (`google-genai`) against `busbar demo`, for every egress protocol.

`generate_content` and `generate_content_stream` through `genai.Client` pointed at
Busbar (PROTOCOLS.md, "Clients for tests"). The SDK validates every response and
chunk into its pydantic types; a stream is folded chunk by chunk into the same
`Reply` a whole response gives, so both are held to the same exact expectations.
Tools are function declarations, so the SDK's automatic function calling (which
runs Python callables) is switched off: the test sees the raw function calls and
answers them itself, sending the model's content back as it came (thought
signatures included).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterator

import pytest
from google import genai
from google.genai import errors, types

from support import (
    CLOCK,
    CLOCK_RESULT,
    COUNT_PROMPT,
    EGRESS,
    LONG_PROMPT,
    MAX_TOKENS,
    PARALLEL_PROMPT,
    PLAIN_PROMPT,
    POOL,
    STOP_SEQUENCE,
    SYSTEM_PROMPT,
    TOOL_PROMPT,
    TRUNCATED_TEXT,
    UNKNOWN_MODEL,
    WEATHER,
    WEATHER_RESULT,
    Tool,
    echo,
    stop_expectation,
    tool_preamble,
    tool_result_reply,
    words,
)

# What the Gemini mock puts in the first function call's `thoughtSignature`
# (base64 in JSON; the SDK hands it over decoded).
MOCK_SIGNATURE = b"mock-thinking-signature"

NO_AUTOMATIC_CALLS = types.AutomaticFunctionCallingConfig(disable=True)


@pytest.fixture(scope="session")
def clients(base_url: str) -> Iterator[Callable[[str], genai.Client]]:
    """Clients by API version. The suite keeps a reference to each: a `genai.Client`
    closes its HTTP client when it is garbage-collected."""
    made: dict[str, genai.Client] = {}

    def client(version: str) -> genai.Client:
        """`version` "" leaves the API version to the SDK."""
        if version not in made:
            made[version] = genai.Client(
                api_key="unused",
                http_options=types.HttpOptions(
                    base_url=base_url,
                    api_version=version or None,
                    timeout=10_000,
                    retry_options=types.HttpRetryOptions(attempts=1),
                ),
            )
        return made[version]

    yield client
    for made_client in made.values():
        made_client.close()


@pytest.fixture
def client(clients: Callable[[str], genai.Client]) -> genai.Client:
    """The v1beta client, the SDK's usual version for the Gemini API."""
    return clients("v1beta")


@pytest.fixture(params=["v1beta", "v1"])
def versioned(request: pytest.FixtureRequest, clients: Callable[[str], genai.Client]) -> genai.Client:
    """Both route families: google-genai 3.x calls `/v1/models/…` by default (trap 2)."""
    return clients(request.param)


# --- collecting replies -------------------------------------------------------------------------


@dataclass
class Reply:
    """What a response says, whole or streamed."""

    text: str
    calls: list[types.FunctionCall]
    finish_reason: types.FinishReason | None
    usage: types.GenerateContentResponseUsageMetadata | None
    # The model's turn as the SDK returned it (streamed: its parts gathered), to send back.
    content: types.Content
    chunks: list[types.GenerateContentResponse] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    def essence(self) -> tuple:
        """Everything but ids and signatures, for comparing a stream with a whole response."""
        calls = [(call.name, call.args) for call in self.calls]
        usage = self.usage and (
            self.usage.prompt_token_count,
            self.usage.candidates_token_count,
            self.usage.total_token_count,
        )
        return (self.text, calls, self.finish_reason, usage)

    @property
    def signatures(self) -> list[bytes | None]:
        return [part.thought_signature for part in self.content.parts or [] if part.function_call]


def candidate_of(response: types.GenerateContentResponse) -> types.Candidate:
    assert isinstance(response, types.GenerateContentResponse)
    assert response.candidates and len(response.candidates) == 1, f"candidates: {response.candidates}"
    candidate = response.candidates[0]
    assert candidate.content is not None and candidate.content.role == "model"
    return candidate


def visible_parts(content: types.Content) -> list[types.Part]:
    return [part for part in content.parts or [] if not part.thought]


def from_response(response: types.GenerateContentResponse) -> Reply:
    candidate = candidate_of(response)
    parts = visible_parts(candidate.content)
    text = "".join(part.text for part in parts if part.text is not None)
    calls = [part.function_call for part in parts if part.function_call is not None]
    headers = dict(response.sdk_http_response.headers or {}) if response.sdk_http_response else {}
    return Reply(
        text, calls, candidate.finish_reason, response.usage_metadata, candidate.content, headers=headers
    )


def whole(client: genai.Client, model: str, contents, **config) -> Reply:
    return from_response(
        client.models.generate_content(model=model, contents=contents, config=configure(**config))
    )


def accumulate(chunks: list[types.GenerateContentResponse]) -> Reply:
    """Folds a chunk stream into a `Reply`: text in increments, function calls whole,
    the finish reason on the last chunk only, usage as of the last chunk."""
    assert chunks, "the stream had no chunk"
    candidates = [candidate_of(chunk) for chunk in chunks]
    finishing = [index for index, candidate in enumerate(candidates) if candidate.finish_reason is not None]
    assert finishing == [len(chunks) - 1], f"finish_reason on chunks {finishing} of {len(chunks)}"
    ids = {chunk.response_id for chunk in chunks}
    assert len(ids) == 1, f"chunks of one response carry response ids {ids}"
    text = ""
    parts: list[types.Part] = []
    for candidate in candidates:
        for part in visible_parts(candidate.content):
            if part.text is not None:
                text += part.text
            elif part.function_call is not None:
                parts.append(part)
            else:
                raise AssertionError(f"unexpected part {part!r}")
    content = types.Content(role="model", parts=([types.Part(text=text)] if text else []) + parts)
    headers = dict(chunks[0].sdk_http_response.headers or {}) if chunks[0].sdk_http_response else {}
    calls = [part.function_call for part in parts]
    return Reply(
        text, calls, candidates[-1].finish_reason, chunks[-1].usage_metadata, content, chunks, headers
    )


def streamed(client: genai.Client, model: str, contents, **config) -> Reply:
    chunks = client.models.generate_content_stream(model=model, contents=contents, config=configure(**config))
    return accumulate(list(chunks))


def configure(tools: list[Tool] | None = None, **config) -> types.GenerateContentConfig:
    if tools:
        config["tools"] = [
            types.Tool(function_declarations=[types.FunctionDeclaration(**t.gemini()) for t in tools])
        ]
        config["automatic_function_calling"] = NO_AUTOMATIC_CALLS
    return types.GenerateContentConfig(**config)


def ask(client: genai.Client, stream: bool, model: str, contents, **config) -> Reply:
    return (streamed if stream else whole)(client, model, contents, **config)


def user(text: str) -> list[types.Content]:
    return [types.Content(role="user", parts=[types.Part(text=text)])]


def assert_usage(reply: Reply, prompt: int, output: int) -> None:
    usage = reply.usage
    assert usage is not None, "no usage_metadata"
    assert (usage.prompt_token_count, usage.candidates_token_count, usage.total_token_count) == (
        prompt,
        output,
        prompt + output,
    )


def assert_calls(reply: Reply, tools: list[Tool], egress: str) -> None:
    kinds = ["text" if part.text is not None else "function_call" for part in visible_parts(reply.content)]
    assert kinds == ["text"] + ["function_call"] * len(tools), f"parts {kinds}"
    assert reply.text == tool_preamble(*tools)
    assert [call.name for call in reply.calls] == [tool.name for tool in tools]
    for call, tool in zip(reply.calls, tools):
        assert call.args == tool.arguments
    ids = [call.id for call in reply.calls if call.id]
    assert len(set(ids)) == len(ids), f"function call ids {ids} repeat"
    # Gemini ends a turn of function calls with STOP; the calls say what happened.
    assert reply.finish_reason == types.FinishReason.STOP
    assert reply.usage is not None and (reply.usage.candidates_token_count or 0) > 0
    if egress == "demo-gemini":
        # Gemini 3 signs the first call of a step; the signature must reach the client intact.
        assert reply.signatures[0] == MOCK_SIGNATURE


def tool_turns(prompt: str, reply: Reply, results: list[str]) -> list[types.Content]:
    """The conversation after the model answered `reply`: its content as returned (thought
    signatures and all), then one function response per call, answering its id when it had one."""
    responses = [
        types.Part(
            function_response=types.FunctionResponse(id=call.id, name=call.name, response={"result": result})
        )
        for call, result in zip(reply.calls, results)
    ]
    return [*user(prompt), reply.content, types.Content(role="user", parts=responses)]


# --- behaviour, whole and streamed, for every egress ------------------------------------------


def test_plain_text(versioned: genai.Client, egress: str, stream: bool) -> None:
    reply = ask(versioned, stream, egress, user(PLAIN_PROMPT))
    assert reply.text == echo(PLAIN_PROMPT)
    assert reply.calls == []
    assert reply.finish_reason == types.FinishReason.STOP
    assert_usage(reply, words(PLAIN_PROMPT), words(echo(PLAIN_PROMPT)))


def test_default_api_version(clients: Callable[[str], genai.Client], egress: str) -> None:
    reply = whole(clients(""), egress, user(PLAIN_PROMPT))
    assert reply.text == echo(PLAIN_PROMPT)


def test_contents_as_a_string(client: genai.Client, egress: str, stream: bool) -> None:
    reply = ask(client, stream, egress, PLAIN_PROMPT)
    assert reply.text == echo(PLAIN_PROMPT)


def test_function_call(versioned: genai.Client, egress: str, stream: bool) -> None:
    reply = ask(versioned, stream, egress, user(TOOL_PROMPT), tools=[WEATHER])
    assert_calls(reply, [WEATHER], egress)


def test_parallel_function_calls(client: genai.Client, egress: str, stream: bool) -> None:
    reply = ask(client, stream, egress, user(PARALLEL_PROMPT), tools=[WEATHER, CLOCK])
    assert_calls(reply, [WEATHER, CLOCK], egress)


def test_function_response_round_trip(versioned: genai.Client, egress: str, stream: bool) -> None:
    first = whole(versioned, egress, user(TOOL_PROMPT), tools=[WEATHER])
    assert_calls(first, [WEATHER], egress)
    reply = ask(versioned, stream, egress, tool_turns(TOOL_PROMPT, first, [WEATHER_RESULT]), tools=[WEATHER])
    assert reply.text == tool_result_reply(WEATHER_RESULT)
    assert reply.calls == []
    assert reply.finish_reason == types.FinishReason.STOP


def test_function_response_round_trip_after_a_stream(client: genai.Client, egress: str) -> None:
    """The model's turn rebuilt from streamed chunks goes back as well as a whole one."""
    first = streamed(client, egress, user(TOOL_PROMPT), tools=[WEATHER])
    assert_calls(first, [WEATHER], egress)
    reply = streamed(client, egress, tool_turns(TOOL_PROMPT, first, [WEATHER_RESULT]), tools=[WEATHER])
    assert reply.text == tool_result_reply(WEATHER_RESULT)


def test_parallel_function_responses_round_trip(client: genai.Client, egress: str, stream: bool) -> None:
    first = whole(client, egress, user(PARALLEL_PROMPT), tools=[WEATHER, CLOCK])
    assert_calls(first, [WEATHER, CLOCK], egress)
    conversation = tool_turns(PARALLEL_PROMPT, first, [WEATHER_RESULT, CLOCK_RESULT])
    reply = ask(client, stream, egress, conversation, tools=[WEATHER, CLOCK])
    assert reply.text == tool_result_reply(WEATHER_RESULT, CLOCK_RESULT)
    assert reply.finish_reason == types.FinishReason.STOP


def test_system_instruction(client: genai.Client, egress: str, stream: bool) -> None:
    reply = ask(client, stream, egress, user(PLAIN_PROMPT), system_instruction=SYSTEM_PROMPT)
    assert reply.text == echo(PLAIN_PROMPT)
    # The mock counts the instruction's words as input: proof it arrived.
    assert_usage(reply, words(SYSTEM_PROMPT) + words(PLAIN_PROMPT), words(echo(PLAIN_PROMPT)))


def test_stop_sequences(client: genai.Client, egress: str, stream: bool) -> None:
    reply = ask(client, stream, egress, user(COUNT_PROMPT), stop_sequences=["never-there", STOP_SEQUENCE])
    expected, _ = stop_expectation(egress)
    assert reply.text == expected
    # Gemini reports a stop sequence as a plain STOP.
    assert reply.finish_reason == types.FinishReason.STOP
    assert_usage(reply, words(COUNT_PROMPT), words(expected))


def test_max_output_tokens(client: genai.Client, egress: str, stream: bool) -> None:
    reply = ask(client, stream, egress, user(LONG_PROMPT), max_output_tokens=MAX_TOKENS)
    assert reply.text == TRUNCATED_TEXT
    assert reply.finish_reason == types.FinishReason.MAX_TOKENS
    assert_usage(reply, words(LONG_PROMPT), MAX_TOKENS)


# --- streams ------------------------------------------------------------------------------------

REQUESTS = {
    "plain": dict(contents=user(PLAIN_PROMPT)),
    "tool": dict(contents=user(TOOL_PROMPT), tools=[WEATHER]),
    "parallel": dict(contents=user(PARALLEL_PROMPT), tools=[WEATHER, CLOCK]),
    "system": dict(contents=user(PLAIN_PROMPT), system_instruction=SYSTEM_PROMPT),
    "max_tokens": dict(contents=user(LONG_PROMPT), max_output_tokens=MAX_TOKENS),
}


@pytest.mark.parametrize("kind", list(REQUESTS))
def test_stream_accumulates_to_the_whole_response(client: genai.Client, egress: str, kind: str) -> None:
    assert (
        streamed(client, egress, **REQUESTS[kind]).essence()
        == whole(client, egress, **REQUESTS[kind]).essence()
    )


def test_stream_sends_text_in_increments(client: genai.Client, egress: str) -> None:
    reply = streamed(client, egress, user(LONG_PROMPT))
    texts = [
        part.text for chunk in reply.chunks for part in candidate_of(chunk).content.parts or [] if part.text
    ]
    assert len(texts) > 1, "the text came in one piece"
    assert "".join(texts) == echo(LONG_PROMPT)


# --- the gateway's headers, pools and errors -----------------------------------------------------


def test_response_headers_name_request_and_lane(client: genai.Client, egress: str, stream: bool) -> None:
    reply = ask(client, stream, egress, user(PLAIN_PROMPT))
    assert reply.text == echo(PLAIN_PROMPT)
    assert reply.headers.get("x-request-id")
    assert reply.headers.get("x-busbar-model") == egress


def test_pool_serves_from_its_members(client: genai.Client, stream: bool) -> None:
    served = set()
    for _ in range(2 * len(EGRESS)):
        reply = ask(client, stream, POOL, user(PLAIN_PROMPT))
        assert reply.text == echo(PLAIN_PROMPT)
        served.add(reply.headers.get("x-busbar-model"))
    assert set(EGRESS) <= served, f"the pool served from {served}"


def test_unknown_model_is_not_found(versioned: genai.Client, stream: bool) -> None:
    with pytest.raises(errors.ClientError) as raised:
        ask(versioned, stream, UNKNOWN_MODEL, user(PLAIN_PROMPT))
    error = raised.value
    assert (error.code, error.status) == (404, "NOT_FOUND")
    assert error.message


def test_unknown_role_is_a_bad_request(client: genai.Client, egress: str) -> None:
    with pytest.raises(errors.ClientError) as raised:
        client.models.generate_content(
            model=egress, contents=[types.Content(role="robot", parts=[types.Part(text=PLAIN_PROMPT)])]
        )
    error = raised.value
    assert (error.code, error.status) == (400, "INVALID_ARGUMENT")
    assert error.message
