"""The official OpenAI Python SDK (Chat Completions) against `busbar demo`, for every egress protocol.

Each behaviour is checked whole and streamed; a stream is accumulated chunk by
chunk (each chunk a validated `ChatCompletionChunk`) into the same `Answer` a
whole completion gives, so both modes are held to the same exact expectations.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Iterator

import openai
import pytest
from openai import OpenAI
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.completion_usage import CompletionUsage

from support import (
    CLOCK,
    CLOCK_RESULT,
    COUNT_PROMPT,
    DROPPED_HEADER,
    DROPS_STOP_SEQUENCES,
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


def make_client(base_url: str) -> OpenAI:
    return OpenAI(
        base_url=base_url,
        api_key="unused",
        _strict_response_validation=True,
        max_retries=0,
        timeout=10,
    )


@pytest.fixture(scope="session")
def client(base_url: str) -> Iterator[OpenAI]:
    """A strict client on `http://H:P/v1`, as PROTOCOLS.md's "Clients for tests" has it."""
    with make_client(f"{base_url}/v1") as client:
        yield client


@pytest.fixture(scope="session")
def root_client(base_url: str) -> Iterator[OpenAI]:
    """A strict client on `http://H:P` without `/v1`: it calls `/chat/completions`."""
    with make_client(base_url) as client:
        yield client


# --- collecting answers ------------------------------------------------------------------------


@dataclass
class Call:
    id: str
    name: str
    arguments: str

    @property
    def parsed(self) -> dict:
        value = json.loads(self.arguments)
        assert isinstance(value, dict), f"arguments are not a JSON object: {self.arguments!r}"
        return value


@dataclass
class Answer:
    """What a completion says, whole or streamed."""

    text: str
    calls: list[Call]
    finish_reason: str
    usage: CompletionUsage | None
    chunks: list[ChatCompletionChunk] = field(default_factory=list)

    def essence(self) -> tuple:
        """Everything but ids, for comparing a stream with a whole completion."""
        calls = [(call.name, call.parsed) for call in self.calls]
        usage = self.usage and (
            self.usage.prompt_tokens,
            self.usage.completion_tokens,
            self.usage.total_tokens,
        )
        return (self.text, calls, self.finish_reason, usage)


def from_completion(completion: ChatCompletion) -> Answer:
    """Reads a whole completion into an `Answer`, checking its shape."""
    assert isinstance(completion, ChatCompletion)
    assert completion.object == "chat.completion"
    assert completion.id
    assert len(completion.choices) == 1
    choice = completion.choices[0]
    assert choice.index == 0
    assert choice.message.role == "assistant"
    calls = [
        Call(call.id, call.function.name, call.function.arguments)
        for call in choice.message.tool_calls or []
        if call.type == "function"
    ]
    assert len(calls) == len(choice.message.tool_calls or [])
    return Answer(choice.message.content or "", calls, choice.finish_reason, completion.usage)


def whole(client: OpenAI, **request) -> Answer:
    return from_completion(client.chat.completions.create(**request))


def accumulate(chunks: list[ChatCompletionChunk]) -> Answer:
    """Folds a chunk stream into an `Answer`, checking the stream's shape as OpenAI sends it."""
    assert chunks, "the stream had no chunk"
    for chunk in chunks:
        assert isinstance(chunk, ChatCompletionChunk)
        assert chunk.object == "chat.completion.chunk"
        assert len(chunk.choices) <= 1
    assert len({chunk.id for chunk in chunks}) == 1, "chunks of one completion share one id"

    with_choices = [chunk for chunk in chunks if chunk.choices]
    usage_chunks = [chunk for chunk in chunks if chunk.usage is not None]
    assert with_choices, "no chunk carried a choice"
    assert with_choices[0].choices[0].delta.role == "assistant", "the first delta names the role"
    finishing = [chunk for chunk in with_choices if chunk.choices[0].finish_reason is not None]
    assert len(finishing) == 1, "exactly one chunk carries finish_reason"
    assert finishing[0] is with_choices[-1], "finish_reason comes on the last choice chunk"
    if usage_chunks:
        assert usage_chunks == [chunks[-1]], "usage comes only on the final chunk"
        assert chunks[-1].choices == [], "the usage chunk has empty choices"

    text = ""
    calls: dict[int, Call] = {}
    order: list[int] = []
    for chunk in with_choices:
        choice = chunk.choices[0]
        assert choice.index == 0
        delta = choice.delta
        if delta.content:
            text += delta.content
        for fragment in delta.tool_calls or []:
            function = fragment.function
            if fragment.index not in calls:
                # The first fragment of a call names it.
                assert fragment.id, f"tool call {fragment.index} opened without an id"
                assert fragment.type == "function"
                assert function is not None and function.name
                calls[fragment.index] = Call(fragment.id, function.name, function.arguments or "")
                order.append(fragment.index)
            else:
                assert fragment.id in (None, calls[fragment.index].id)
                assert function is None or function.name in (None, "", calls[fragment.index].name)
                if function is not None and function.arguments:
                    calls[fragment.index].arguments += function.arguments
    assert order == list(range(len(order))), f"tool call indexes {order} are not 0, 1, …"
    usage = usage_chunks[0].usage if usage_chunks else None
    return Answer(text, [calls[i] for i in order], finishing[0].choices[0].finish_reason, usage, chunks)


def streamed(client: OpenAI, include_usage: bool = True, **request) -> Answer:
    if include_usage:
        request["stream_options"] = {"include_usage": True}
    with client.chat.completions.create(stream=True, **request) as stream:
        return accumulate(list(stream))


def ask(client: OpenAI, stream: bool, **request) -> Answer:
    return streamed(client, **request) if stream else whole(client, **request)


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def assert_usage(answer: Answer, prompt: int, completion: int) -> None:
    assert answer.usage is not None, "no usage reported"
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens, answer.usage.total_tokens) == (
        prompt,
        completion,
        prompt + completion,
    )


def assert_calls(answer: Answer, tools: list[Tool]) -> None:
    assert [call.name for call in answer.calls] == [tool.name for tool in tools]
    for call, tool in zip(answer.calls, tools):
        assert call.id
        arguments = call.parsed
        assert set(tool.required) <= set(arguments)
        assert arguments == tool.arguments
    assert len({call.id for call in answer.calls}) == len(answer.calls), "tool call ids are distinct"
    assert answer.text == tool_preamble(*tools)
    assert answer.finish_reason == "tool_calls"
    assert answer.usage is not None and answer.usage.completion_tokens > 0


def tool_turns(prompt: str, answer: Answer, results: list[str]) -> list[dict]:
    """The conversation after the model answered `answer` (text and tool calls) and the tools `results`."""
    assistant = {
        "role": "assistant",
        "content": answer.text or None,
        "tool_calls": [
            {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}
            for call in answer.calls
        ],
    }
    answers = [
        {"role": "tool", "tool_call_id": call.id, "content": result}
        for call, result in zip(answer.calls, results)
    ]
    return [*user(prompt), assistant, *answers]


# --- behaviour, whole and streamed, for every egress ------------------------------------------


def test_plain_text(client: OpenAI, egress: str, stream: bool) -> None:
    answer = ask(client, stream, model=egress, messages=user(PLAIN_PROMPT))
    assert answer.text == echo(PLAIN_PROMPT)
    assert answer.calls == []
    assert answer.finish_reason == "stop"
    assert_usage(answer, words(PLAIN_PROMPT), words(echo(PLAIN_PROMPT)))


def test_base_url_without_v1(root_client: OpenAI, egress: str, stream: bool) -> None:
    answer = ask(root_client, stream, model=egress, messages=user(PLAIN_PROMPT))
    assert answer.text == echo(PLAIN_PROMPT)
    assert answer.finish_reason == "stop"


def test_tool_call(client: OpenAI, egress: str, stream: bool) -> None:
    answer = ask(client, stream, model=egress, messages=user(TOOL_PROMPT), tools=[WEATHER.openai()])
    assert_calls(answer, [WEATHER])


def test_parallel_tool_calls(client: OpenAI, egress: str, stream: bool) -> None:
    answer = ask(
        client, stream, model=egress, messages=user(PARALLEL_PROMPT), tools=[WEATHER.openai(), CLOCK.openai()]
    )
    assert_calls(answer, [WEATHER, CLOCK])
    if stream:
        opened = [
            fragment.index
            for chunk in answer.chunks
            for choice in chunk.choices
            for fragment in choice.delta.tool_calls or []
            if fragment.id
        ]
        assert opened == [0, 1]


def test_tool_result_round_trip(client: OpenAI, egress: str, stream: bool) -> None:
    tools = [WEATHER.openai()]
    first = whole(client, model=egress, messages=user(TOOL_PROMPT), tools=tools)
    assert_calls(first, [WEATHER])
    messages = tool_turns(TOOL_PROMPT, first, [WEATHER_RESULT])
    answer = ask(client, stream, model=egress, messages=messages, tools=tools)
    assert answer.text == tool_result_reply(WEATHER_RESULT)
    assert answer.calls == []
    assert answer.finish_reason == "stop"


def test_parallel_tool_results_round_trip(client: OpenAI, egress: str, stream: bool) -> None:
    tools = [WEATHER.openai(), CLOCK.openai()]
    first = whole(client, model=egress, messages=user(PARALLEL_PROMPT), tools=tools)
    assert_calls(first, [WEATHER, CLOCK])
    messages = tool_turns(PARALLEL_PROMPT, first, [WEATHER_RESULT, CLOCK_RESULT])
    answer = ask(client, stream, model=egress, messages=messages, tools=tools)
    assert answer.text == tool_result_reply(WEATHER_RESULT, CLOCK_RESULT)
    assert answer.finish_reason == "stop"


@pytest.mark.parametrize("role", ["system", "developer"])
def test_system_message(client: OpenAI, egress: str, stream: bool, role: str) -> None:
    messages = [{"role": role, "content": SYSTEM_PROMPT}, *user(PLAIN_PROMPT)]
    answer = ask(client, stream, model=egress, messages=messages)
    assert answer.text == echo(PLAIN_PROMPT)
    # The mock counts the system prompt's words as input: proof it arrived.
    assert_usage(answer, words(SYSTEM_PROMPT) + words(PLAIN_PROMPT), words(echo(PLAIN_PROMPT)))


def test_stop_sequence(client: OpenAI, egress: str, stream: bool) -> None:
    request = dict(model=egress, messages=user(COUNT_PROMPT), stop=["never-there", STOP_SEQUENCE])
    answer = ask(client, stream, **request)
    expected, _ = stop_expectation(egress)
    assert answer.text == expected
    assert answer.finish_reason == "stop"
    assert_usage(answer, words(COUNT_PROMPT), words(expected))
    if egress in DROPS_STOP_SEQUENCES:
        raw = client.chat.completions.with_raw_response.create(**request)
        assert "stop_sequences" in raw.headers.get(DROPPED_HEADER, ""), "the dropped stop is not named"


@pytest.mark.parametrize("field", ["max_completion_tokens", "max_tokens"])
def test_max_tokens(client: OpenAI, egress: str, stream: bool, field: str) -> None:
    answer = ask(client, stream, model=egress, messages=user(LONG_PROMPT), **{field: MAX_TOKENS})
    assert answer.text == TRUNCATED_TEXT
    assert answer.finish_reason == "length"
    assert_usage(answer, words(LONG_PROMPT), MAX_TOKENS)


# --- streams ------------------------------------------------------------------------------------

REQUESTS = {
    "plain": dict(messages=user(PLAIN_PROMPT)),
    "tool": dict(messages=user(TOOL_PROMPT), tools=[WEATHER.openai()]),
    "parallel": dict(messages=user(PARALLEL_PROMPT), tools=[WEATHER.openai(), CLOCK.openai()]),
    "system": dict(messages=[{"role": "system", "content": SYSTEM_PROMPT}, *user(PLAIN_PROMPT)]),
    "stop": dict(messages=user(COUNT_PROMPT), stop=[STOP_SEQUENCE]),
    "max_tokens": dict(messages=user(LONG_PROMPT), max_completion_tokens=MAX_TOKENS),
}


@pytest.mark.parametrize("kind", list(REQUESTS))
def test_stream_accumulates_to_the_whole_answer(client: OpenAI, egress: str, kind: str) -> None:
    request = dict(model=egress, **REQUESTS[kind])
    assert streamed(client, **request).essence() == whole(client, **request).essence()


@pytest.mark.parametrize("kind", ["plain", "tool"])
def test_stream_include_usage_ends_with_a_usage_chunk(client: OpenAI, egress: str, kind: str) -> None:
    answer = streamed(client, include_usage=True, model=egress, **REQUESTS[kind])
    last = answer.chunks[-1]
    assert last.choices == []
    assert last.usage is not None and last.usage.prompt_tokens > 0 and last.usage.completion_tokens > 0
    assert all(chunk.usage is None for chunk in answer.chunks[:-1])


@pytest.mark.parametrize("kind", ["plain", "tool"])
def test_stream_without_include_usage_has_no_usage_chunk(client: OpenAI, egress: str, kind: str) -> None:
    answer = streamed(client, include_usage=False, model=egress, **REQUESTS[kind])
    assert all(chunk.usage is None for chunk in answer.chunks)
    assert all(chunk.choices for chunk in answer.chunks)
    assert answer.essence()[:3] == whole(client, model=egress, **REQUESTS[kind]).essence()[:3]


# --- the acceptance criterion -------------------------------------------------------


def test_acceptance_openai_sdk_streams_tool_call_through_anthropic_upstream(client: OpenAI) -> None:
    """The official OpenAI SDK, streaming a chat completion with a tool through Busbar to an
    Anthropic-protocol upstream, receives the text and the tool call intact, and then the
    answer to the tool result."""
    tools = [WEATHER.openai()]
    call_turn = streamed(client, model="demo-anthropic", messages=user(TOOL_PROMPT), tools=tools)
    assert call_turn.text == "Calling get_weather."
    assert len(call_turn.calls) == 1
    call = call_turn.calls[0]
    assert call.name == "get_weather"
    assert call.id
    assert call.parsed == {"city": "Paris"}
    assert call_turn.finish_reason == "tool_calls"

    messages = tool_turns(TOOL_PROMPT, call_turn, [WEATHER_RESULT])
    text_turn = streamed(client, model="demo-anthropic", messages=messages, tools=tools)
    assert text_turn.text == "Tool result received: 18C and sunny"
    assert text_turn.calls == []
    assert text_turn.finish_reason == "stop"
    assert text_turn.usage is not None and text_turn.usage.completion_tokens == words(text_turn.text)


# --- errors -------------------------------------------------------------------------------------


def test_unknown_model_is_not_found(client: OpenAI, stream: bool) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        ask(client, stream, model=UNKNOWN_MODEL, messages=user(PLAIN_PROMPT))
    error = raised.value
    assert error.status_code == 404
    assert error.code == "model_not_found"
    assert error.message
    assert error.response.headers.get("x-request-id")


def test_missing_messages_is_a_bad_request(client: OpenAI, egress: str) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model=egress, messages=openai.omit)
    assert raised.value.status_code == 400
    assert raised.value.response.headers.get("x-request-id")


# --- headers ----------------------------------------------------------------------------------


def test_response_headers_name_request_and_lane(client: OpenAI, egress: str, stream: bool) -> None:
    request = dict(model=egress, messages=user(PLAIN_PROMPT))
    if stream:
        raw = client.chat.completions.with_raw_response.create(stream=True, **request)
        with raw.parse() as chunks:
            assert accumulate(list(chunks)).text == echo(PLAIN_PROMPT)
    else:
        raw = client.chat.completions.with_raw_response.create(**request)
        completion = raw.parse()
        assert from_completion(completion).text == echo(PLAIN_PROMPT)
        # The SDK exposes x-request-id to applications as `_request_id`.
        assert completion._request_id == raw.headers["x-request-id"]
    assert raw.headers.get("x-request-id")
    assert raw.headers.get("x-busbar-model") == egress


def test_client_request_id_is_kept(client: OpenAI, egress: str) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model=egress, messages=user(PLAIN_PROMPT), extra_headers={"x-request-id": "sdk-suite-0001"}
    )
    assert raw.headers.get("x-request-id") == "sdk-suite-0001"


def test_request_ids_are_unique(client: OpenAI) -> None:
    ids = set()
    for model in EGRESS * 2:
        raw = client.chat.completions.with_raw_response.create(model=model, messages=user(PLAIN_PROMPT))
        ids.add(raw.headers["x-request-id"])
    assert len(ids) == len(EGRESS) * 2


# --- pools and model listing -----------------------------------------------------------------


def test_pool_serves_from_its_members(client: OpenAI, stream: bool) -> None:
    served = set()
    for _ in range(2 * len(EGRESS)):
        raw = client.chat.completions.with_raw_response.create(
            model=POOL, messages=user(PLAIN_PROMPT), stream=stream
        )
        served.add(raw.headers.get("x-busbar-model"))
        answer = accumulate(list(raw.parse())) if stream else from_completion(raw.parse())
        assert answer.text == echo(PLAIN_PROMPT)
    assert set(EGRESS) <= served, f"the pool served from {served}"


def test_models_list_names_the_demo_models(client: OpenAI) -> None:
    ids = {model.id for model in client.models.list()}
    assert {*EGRESS, POOL} <= ids
    unlisted = {name for name in ids if name.startswith("demo-")} - set(EGRESS)
    assert not unlisted, f"the demo serves {sorted(unlisted)}: add them to support.EGRESS"
