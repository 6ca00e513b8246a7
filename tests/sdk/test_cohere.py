"""The official Cohere Python SDK (`cohere.ClientV2`, Chat v2) against `busbar demo`, for every egress protocol.

`chat` and `chat_stream`. The SDK builds its objects without validating them and
skips stream events it cannot read (with a logged warning), so the suite validates
every reply and every event against the SDK's pydantic types itself and fails on
any skipped event. A stream is folded into the same `Reply` a whole reply gives.
Cohere writes the text beside tool calls as `tool_plan`, not as content.
"""

from __future__ import annotations

import json
import logging
import typing
from dataclasses import dataclass, field
from typing import Iterator

import cohere
import pydantic
import pytest
from cohere import V2ChatResponse
from cohere.v2.types.v2chat_stream_response import V2ChatStreamResponse

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
    REPORTS_STOP_SEQUENCE,
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

REPLY_TYPE = pydantic.TypeAdapter(V2ChatResponse)
# The union's members, tried in turn: the SDK marks the discriminant with its own metadata.
EVENT_TYPES = {
    member.model_fields["type"].default: member
    for member in typing.get_args(typing.get_args(V2ChatStreamResponse)[0])
}


@pytest.fixture(scope="session")
def client(base_url: str) -> Iterator[cohere.ClientV2]:
    client = cohere.ClientV2(api_key="unused", base_url=base_url, timeout=10, max_retries=0)
    yield client
    client._client_wrapper.httpx_client.httpx_client.close()


@pytest.fixture(autouse=True)
def no_skipped_events(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """The SDK logs and drops a stream event it cannot parse; none may be dropped."""
    with caplog.at_level(logging.WARNING):
        yield
    skipped = [record.getMessage() for record in caplog.records if "SSE event" in record.getMessage()]
    assert not skipped, f"the SDK skipped stream events: {skipped}"


def validated(value: pydantic.BaseModel, adapter_or_type) -> None:
    """Checks an SDK object against its declared type (the SDK only constructs it)."""
    data = value.model_dump(mode="json", by_alias=True, exclude_unset=True)
    if isinstance(adapter_or_type, pydantic.TypeAdapter):
        adapter_or_type.validate_python(data)
    else:
        adapter_or_type.model_validate(data)


# --- collecting replies -------------------------------------------------------------------------


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
class Reply:
    """What a reply says, whole or streamed."""

    text: str
    tool_plan: str
    calls: list[Call]
    finish_reason: str
    input_tokens: float | None
    output_tokens: float | None
    events: list = field(default_factory=list)

    def essence(self) -> tuple:
        """What a stream and a whole reply must agree on (the text beside tool calls may be
        content in one and the plan in the other: see `assert_calls`)."""
        calls = [(call.name, call.parsed) for call in self.calls]
        words_said = self.tool_plan + self.text
        return (words_said, calls, self.finish_reason, self.input_tokens, self.output_tokens)


def from_reply(reply: V2ChatResponse) -> Reply:
    assert isinstance(reply, V2ChatResponse)
    validated(reply, REPLY_TYPE)
    assert reply.id
    message = reply.message
    assert message.role == "assistant"
    texts = []
    for item in message.content or []:
        assert item.type == "text", f"unexpected content item {item.type}"
        texts.append(item.text)
    calls = []
    for call in message.tool_calls or []:
        assert call.type == "function" and call.id and call.function
        calls.append(Call(call.id, call.function.name, call.function.arguments))
    tokens = reply.usage.tokens if reply.usage else None
    return Reply(
        "".join(texts),
        message.tool_plan or "",
        calls,
        reply.finish_reason,
        tokens.input_tokens if tokens else None,
        tokens.output_tokens if tokens else None,
    )


def accumulate(events: list) -> Reply:
    """Folds stream events into a `Reply`, checking the grammar message-start → (content-start →
    content-delta… → content-end | tool-plan-delta | tool-call-start → tool-call-delta… →
    tool-call-end)… → message-end."""
    assert events, "the stream had no event"
    for event in events:
        assert event.type in EVENT_TYPES, f"unknown event {event!r}"
        validated(event, EVENT_TYPES[event.type])
    kinds = [event.type for event in events]
    assert kinds[0] == "message-start" and kinds[-1] == "message-end", f"the stream is {kinds}"
    assert kinds.count("message-start") == kinds.count("message-end") == 1
    assert events[0].id, "message-start carries the reply's id"

    texts: dict[int, str] = {}
    open_content: int | None = None
    plan = ""
    calls: dict[int, Call] = {}
    open_call: int | None = None
    for event in events[1:-1]:
        message = event.delta.message if getattr(event, "delta", None) else None
        if event.type == "content-start":
            assert open_content is None and event.index not in texts
            assert message.content.type == "text"
            texts[event.index] = message.content.text or ""
            open_content = event.index
        elif event.type == "content-delta":
            assert event.index == open_content
            texts[event.index] += message.content.text
        elif event.type == "content-end":
            assert event.index == open_content
            open_content = None
        elif event.type == "tool-plan-delta":
            plan += message.tool_plan
        elif event.type == "tool-call-start":
            assert open_call is None and event.index not in calls
            assert event.index == len(calls), "tool calls count from zero"
            start = message.tool_calls
            assert start.id and start.type == "function" and start.function.name
            calls[event.index] = Call(start.id, start.function.name, start.function.arguments or "")
            open_call = event.index
        elif event.type == "tool-call-delta":
            assert event.index == open_call
            calls[event.index].arguments += message.tool_calls.function.arguments
        elif event.type == "tool-call-end":
            assert event.index == open_call
            open_call = None
        else:
            raise AssertionError(f"unexpected event {event.type}")
    assert open_content is None and open_call is None, "a block was never closed"
    end = events[-1].delta
    tokens = end.usage.tokens if end.usage else None
    return Reply(
        "".join(texts[i] for i in sorted(texts)),
        plan,
        [calls[i] for i in sorted(calls)],
        end.finish_reason,
        tokens.input_tokens if tokens else None,
        tokens.output_tokens if tokens else None,
        events,
    )


def ask(client: cohere.ClientV2, stream: bool, **request) -> Reply:
    if stream:
        return accumulate(list(client.chat_stream(**request)))
    return from_reply(client.chat(**request))


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def assert_usage(reply: Reply, prompt: int, output: int) -> None:
    assert (reply.input_tokens, reply.output_tokens) == (prompt, output)


def assert_calls(reply: Reply, tools: list[Tool], egress: str) -> None:
    if reply.events and egress != "demo-cohere":
        # Busbar streams text as content before it knows whether tool calls follow
        # (its Cohere stream encoder never writes `tool-plan-delta`): the words come
        # whole, as content rather than as the plan.
        assert (reply.text, reply.tool_plan) == (tool_preamble(*tools), "")
    else:
        # Cohere puts the words before a call in `tool_plan`; content stays empty.
        assert (reply.text, reply.tool_plan) == ("", tool_preamble(*tools))
    assert [call.name for call in reply.calls] == [tool.name for tool in tools]
    for call, tool in zip(reply.calls, tools):
        assert call.parsed == tool.arguments
    assert len({call.id for call in reply.calls}) == len(tools), "tool call ids are distinct"
    assert reply.finish_reason == "TOOL_CALL"
    assert reply.output_tokens and reply.output_tokens > 0


def tool_turns(prompt: str, reply: Reply, results: list, content_as: str = "string") -> list[dict]:
    """The conversation after the model answered `reply` and the tools answered `results`."""
    assistant = {
        "role": "assistant",
        "tool_plan": reply.tool_plan or reply.text,
        "tool_calls": [
            {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}
            for call in reply.calls
        ],
    }

    def content(result: str):
        return result if content_as == "string" else [{"type": "text", "text": result}]

    answers = [
        {"role": "tool", "tool_call_id": call.id, "content": content(result)}
        for call, result in zip(reply.calls, results)
    ]
    return [*user(prompt), assistant, *answers]


# --- behaviour, whole and streamed, for every egress ------------------------------------------


def test_plain_text(client: cohere.ClientV2, egress: str, stream: bool) -> None:
    reply = ask(client, stream, model=egress, messages=user(PLAIN_PROMPT))
    assert reply.text == echo(PLAIN_PROMPT)
    assert (reply.tool_plan, reply.calls, reply.finish_reason) == ("", [], "COMPLETE")
    assert_usage(reply, words(PLAIN_PROMPT), words(echo(PLAIN_PROMPT)))


def test_tool_call(client: cohere.ClientV2, egress: str, stream: bool) -> None:
    reply = ask(client, stream, model=egress, messages=user(TOOL_PROMPT), tools=[WEATHER.cohere()])
    assert_calls(reply, [WEATHER], egress)


def test_parallel_tool_calls(client: cohere.ClientV2, egress: str, stream: bool) -> None:
    tools = [WEATHER.cohere(), CLOCK.cohere()]
    reply = ask(client, stream, model=egress, messages=user(PARALLEL_PROMPT), tools=tools)
    assert_calls(reply, [WEATHER, CLOCK], egress)


@pytest.mark.parametrize("content_as", ["string", "text-items"])
def test_tool_result_round_trip(client: cohere.ClientV2, egress: str, stream: bool, content_as: str) -> None:
    tools = [WEATHER.cohere()]
    first = ask(client, False, model=egress, messages=user(TOOL_PROMPT), tools=tools)
    assert_calls(first, [WEATHER], egress)
    messages = tool_turns(TOOL_PROMPT, first, [WEATHER_RESULT], content_as)
    reply = ask(client, stream, model=egress, messages=messages, tools=tools)
    assert reply.text == tool_result_reply(WEATHER_RESULT)
    assert (reply.calls, reply.finish_reason) == ([], "COMPLETE")


def test_parallel_tool_results_round_trip(client: cohere.ClientV2, egress: str, stream: bool) -> None:
    tools = [WEATHER.cohere(), CLOCK.cohere()]
    first = ask(client, False, model=egress, messages=user(PARALLEL_PROMPT), tools=tools)
    assert_calls(first, [WEATHER, CLOCK], egress)
    messages = tool_turns(PARALLEL_PROMPT, first, [WEATHER_RESULT, CLOCK_RESULT])
    reply = ask(client, stream, model=egress, messages=messages, tools=tools)
    assert reply.text == tool_result_reply(WEATHER_RESULT, CLOCK_RESULT)
    assert reply.finish_reason == "COMPLETE"


def test_system_message(client: cohere.ClientV2, egress: str, stream: bool) -> None:
    messages = [{"role": "system", "content": SYSTEM_PROMPT}, *user(PLAIN_PROMPT)]
    reply = ask(client, stream, model=egress, messages=messages)
    assert reply.text == echo(PLAIN_PROMPT)
    # The mock counts the system prompt's words as input: proof it arrived.
    assert_usage(reply, words(SYSTEM_PROMPT) + words(PLAIN_PROMPT), words(echo(PLAIN_PROMPT)))


def test_stop_sequences(client: cohere.ClientV2, egress: str, stream: bool) -> None:
    stops = ["never-there", STOP_SEQUENCE]
    reply = ask(client, stream, model=egress, messages=user(COUNT_PROMPT), stop_sequences=stops)
    expected, honoured = stop_expectation(egress)
    assert reply.text == expected
    assert_usage(reply, words(COUNT_PROMPT), words(expected))
    if egress in REPORTS_STOP_SEQUENCE:
        assert reply.finish_reason == "STOP_SEQUENCE"
    elif honoured:
        # OpenAI's `stop` and Gemini's STOP cannot tell a stop sequence from a natural end.
        assert reply.finish_reason in ("STOP_SEQUENCE", "COMPLETE")
    else:
        assert reply.finish_reason == "COMPLETE"


def test_max_tokens(client: cohere.ClientV2, egress: str, stream: bool) -> None:
    reply = ask(client, stream, model=egress, messages=user(LONG_PROMPT), max_tokens=MAX_TOKENS)
    assert reply.text == TRUNCATED_TEXT
    assert reply.finish_reason == "MAX_TOKENS"
    assert_usage(reply, words(LONG_PROMPT), MAX_TOKENS)


# --- streams ------------------------------------------------------------------------------------

REQUESTS = {
    "plain": dict(messages=user(PLAIN_PROMPT)),
    "tool": dict(messages=user(TOOL_PROMPT), tools=[WEATHER.cohere()]),
    "parallel": dict(messages=user(PARALLEL_PROMPT), tools=[WEATHER.cohere(), CLOCK.cohere()]),
    "system": dict(messages=[{"role": "system", "content": SYSTEM_PROMPT}, *user(PLAIN_PROMPT)]),
    "max_tokens": dict(messages=user(LONG_PROMPT), max_tokens=MAX_TOKENS),
}


@pytest.mark.parametrize("kind", list(REQUESTS))
def test_stream_accumulates_to_the_whole_reply(client: cohere.ClientV2, egress: str, kind: str) -> None:
    request = dict(model=egress, **REQUESTS[kind])
    assert ask(client, True, **request).essence() == ask(client, False, **request).essence()


def test_stream_events_for_tool_calls(client: cohere.ClientV2, egress: str) -> None:
    reply = ask(client, True, model=egress, **REQUESTS["parallel"])
    kinds = [event.type for event in reply.events]
    words_kind = "tool-plan-delta" if egress == "demo-cohere" else "content-end"
    assert kinds.index(words_kind) < kinds.index("tool-call-start"), "the words come before the calls"
    starts = [event.index for event in reply.events if event.type == "tool-call-start"]
    assert starts == [0, 1]


# --- the gateway's headers, pools and errors -----------------------------------------------------


def test_response_headers_name_request_and_lane(client: cohere.ClientV2, egress: str) -> None:
    raw = client.with_raw_response.chat(model=egress, messages=user(PLAIN_PROMPT))
    assert from_reply(raw.data).text == echo(PLAIN_PROMPT)
    assert raw.headers.get("x-request-id")
    assert raw.headers.get("x-busbar-model") == egress


def test_pool_serves_from_its_members(client: cohere.ClientV2) -> None:
    served = set()
    for _ in range(2 * len(EGRESS)):
        raw = client.with_raw_response.chat(model=POOL, messages=user(PLAIN_PROMPT))
        assert from_reply(raw.data).text == echo(PLAIN_PROMPT)
        served.add(raw.headers.get("x-busbar-model"))
    assert set(EGRESS) <= served, f"the pool served from {served}"


def test_unknown_model_is_not_found(client: cohere.ClientV2, stream: bool) -> None:
    with pytest.raises(cohere.NotFoundError) as raised:
        ask(client, stream, model=UNKNOWN_MODEL, messages=user(PLAIN_PROMPT))
    error = raised.value
    assert error.status_code == 404
    assert isinstance(error.body, dict) and error.body.get("message")
    assert error.headers.get("x-request-id")


def test_unknown_role_is_a_bad_request(client: cohere.ClientV2, egress: str) -> None:
    with pytest.raises(cohere.BadRequestError) as raised:
        client.chat(model=egress, messages=[{"role": "robot", "content": PLAIN_PROMPT}])
    error = raised.value
    assert error.status_code == 400
    assert isinstance(error.body, dict) and error.body.get("message")
