"""The official Anthropic Python SDK (Messages) against `busbar demo`, for every egress protocol.

Each behaviour is checked three ways: a whole message, `create(stream=True)` with
every raw event validated and the event grammar checked, and the SDK's
`messages.stream()` helper (`text_stream` and `get_final_message`). All three are
reduced to the same `Reply`, so they are held to the same exact expectations.
The model is named in the body (`base_url=http://H:P`) or in the URL path
(`base_url=http://H:P/MODEL`).
"""

from __future__ import annotations

import json
import typing
from dataclasses import dataclass, field
from typing import Callable, Iterator

import anthropic
import pytest
from anthropic import Anthropic
from anthropic.types import (
    Message,
    RawContentBlockDeltaEvent,
    RawContentBlockStartEvent,
    RawContentBlockStopEvent,
    RawMessageDeltaEvent,
    RawMessageStartEvent,
    RawMessageStreamEvent,
)

from support import (
    CLOCK,
    CLOCK_RESULT,
    COUNT_PROMPT,
    DROPPED_HEADER,
    EGRESS,
    LONG_PROMPT,
    MAX_TOKENS,
    NAMES_MATCHED_STOP,
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

DEFAULT_MAX_TOKENS = 256

# The members of the `RawMessageStreamEvent` union (an Annotated Union of event classes).
RAW_EVENT_TYPES = typing.get_args(typing.get_args(RawMessageStreamEvent)[0])


@pytest.fixture(scope="session")
def clients(base_url: str) -> Iterator[Callable[[str], Anthropic]]:
    """Strict clients by URL suffix: "" for `http://H:P`, "/NAME" to name the model in the path."""
    made: dict[str, Anthropic] = {}

    def client(suffix: str = "") -> Anthropic:
        if suffix not in made:
            made[suffix] = Anthropic(
                base_url=base_url + suffix,
                api_key="unused",
                _strict_response_validation=True,
                max_retries=0,
                timeout=10,
            )
        return made[suffix]

    yield client
    for made_client in made.values():
        made_client.close()


@pytest.fixture(params=["body", "path"], ids=["model-in-body", "model-in-path"])
def routing(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def client(clients: Callable[[str], Anthropic], routing: str, egress: str) -> Anthropic:
    return clients("" if routing == "body" else f"/{egress}")


@pytest.fixture(params=["whole", "events", "helper"])
def mode(request: pytest.FixtureRequest) -> str:
    """whole: `create()`; events: `create(stream=True)`; helper: `messages.stream()`."""
    return request.param


# --- collecting replies -----------------------------------------------------------------------


@dataclass
class Reply:
    """What a message says, whole or streamed. Tool-use ids are kept apart so replies compare."""

    content: list[dict]
    stop_reason: str | None
    stop_sequence: str | None
    input_tokens: int
    output_tokens: int
    tool_ids: list[str] = field(default_factory=list)
    events: list = field(default_factory=list)

    def essence(self) -> tuple:
        usage = (self.input_tokens, self.output_tokens)
        return (self.content, self.stop_reason, self.stop_sequence, usage)

    @property
    def text(self) -> str:
        return "".join(block["text"] for block in self.content if block["type"] == "text")

    @property
    def tool_uses(self) -> list[dict]:
        return [block for block in self.content if block["type"] == "tool_use"]


def from_message(message: Message) -> Reply:
    assert isinstance(message, Message)
    assert message.type == "message"
    assert message.role == "assistant"
    assert message.id
    content: list[dict] = []
    ids: list[str] = []
    for block in message.content:
        if block.type == "text":
            content.append({"type": "text", "text": block.text})
        elif block.type == "tool_use":
            assert isinstance(block.input, dict)
            content.append({"type": "tool_use", "name": block.name, "input": block.input})
            ids.append(block.id)
        else:
            content.append({"type": block.type})
    usage = message.usage
    return Reply(
        content, message.stop_reason, message.stop_sequence, usage.input_tokens, usage.output_tokens, ids
    )


def from_events(events: list) -> Reply:
    """Folds raw stream events into a `Reply`, checking the grammar
    message_start → (content_block_start → delta… → content_block_stop)+
    → message_delta → message_stop."""
    for event in events:
        assert isinstance(event, RAW_EVENT_TYPES), f"not a RawMessageStreamEvent: {event!r}"
    kinds = [event.type for event in events]
    assert kinds[:1] == ["message_start"], f"the stream opens with {kinds[:1]}"
    assert kinds[-2:] == ["message_delta", "message_stop"], f"the stream closes with {kinds[-2:]}"
    assert kinds.count("message_start") == kinds.count("message_delta") == kinds.count("message_stop") == 1

    start: RawMessageStartEvent = events[0]
    assert start.message.role == "assistant" and start.message.id
    assert start.message.content == []
    final: RawMessageDeltaEvent = events[-2]

    content: list[dict] = []
    ids: list[str] = []
    body = events[1:-2]
    position = 0
    while position < len(body):
        opening = body[position]
        assert isinstance(
            opening, RawContentBlockStartEvent
        ), f"expected content_block_start, got {opening.type}"
        index = len(content)
        assert opening.index == index, f"block {opening.index} opened where {index} was due"
        block = opening.content_block
        position += 1
        text, partial_json = "", ""
        while position < len(body) and isinstance(body[position], RawContentBlockDeltaEvent):
            delta_event = body[position]
            assert delta_event.index == index
            delta = delta_event.delta
            if block.type == "text":
                assert delta.type == "text_delta", f"{delta.type} in a text block"
                text += delta.text
            elif block.type == "tool_use":
                assert delta.type == "input_json_delta", f"{delta.type} in a tool_use block"
                partial_json += delta.partial_json
            position += 1
        assert position < len(body), f"block {index} was never closed"
        closing = body[position]
        assert isinstance(
            closing, RawContentBlockStopEvent
        ), f"expected content_block_stop, got {closing.type}"
        assert closing.index == index
        position += 1
        if block.type == "text":
            content.append({"type": "text", "text": block.text + text})
        elif block.type == "tool_use":
            assert block.id and block.name
            tool_input = json.loads(partial_json) if partial_json else block.input
            assert isinstance(tool_input, dict)
            content.append({"type": "tool_use", "name": block.name, "input": tool_input})
            ids.append(block.id)
        else:
            content.append({"type": block.type})
    assert content, "the stream had no content block"

    # message_delta usage is cumulative; input tokens may arrive there when message_start could not know them.
    input_tokens = start.message.usage.input_tokens
    if final.usage.input_tokens is not None:
        input_tokens = final.usage.input_tokens
    return Reply(
        content,
        final.delta.stop_reason,
        final.delta.stop_sequence,
        input_tokens,
        final.usage.output_tokens,
        ids,
        events,
    )


def respond(client: Anthropic, mode: str, **request) -> Reply:
    request.setdefault("max_tokens", DEFAULT_MAX_TOKENS)
    if mode == "whole":
        return from_message(client.messages.create(**request))
    if mode == "events":
        with client.messages.create(stream=True, **request) as stream:
            return from_events(list(stream))
    assert mode == "helper"
    with client.messages.stream(**request) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    reply = from_message(final)
    assert text == reply.text, "text_stream and get_final_message disagree"
    return reply


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def assert_tool_uses(reply: Reply, tools: list[Tool]) -> None:
    assert [block["type"] for block in reply.content] == ["text"] + ["tool_use"] * len(tools)
    assert reply.text == tool_preamble(*tools)
    assert [block["name"] for block in reply.tool_uses] == [tool.name for tool in tools]
    for block, tool in zip(reply.tool_uses, tools):
        assert set(tool.required) <= set(block["input"])
        assert block["input"] == tool.arguments
    assert all(reply.tool_ids) and len(set(reply.tool_ids)) == len(tools), f"tool ids {reply.tool_ids}"
    assert reply.stop_reason == "tool_use"
    assert reply.output_tokens > 0


def tool_turns(prompt: str, reply: Reply, results: list[str]) -> list[dict]:
    """The conversation after the model answered `reply` (tool uses) and the tools answered `results`."""
    uses = [{"type": "text", "text": reply.text}] + [
        {"type": "tool_use", "id": tool_id, "name": block["name"], "input": block["input"]}
        for tool_id, block in zip(reply.tool_ids, reply.tool_uses)
    ]
    answers = [
        {"type": "tool_result", "tool_use_id": tool_id, "content": result}
        for tool_id, result in zip(reply.tool_ids, results)
    ]
    return [*user(prompt), {"role": "assistant", "content": uses}, {"role": "user", "content": answers}]


# --- behaviour, whole and streamed, for every egress and both ways of naming the model ---------


def test_plain_text(client: Anthropic, egress: str, mode: str) -> None:
    reply = respond(client, mode, model=egress, messages=user(PLAIN_PROMPT))
    assert reply.content == [{"type": "text", "text": echo(PLAIN_PROMPT)}]
    assert (reply.stop_reason, reply.stop_sequence) == ("end_turn", None)
    assert (reply.input_tokens, reply.output_tokens) == (words(PLAIN_PROMPT), words(echo(PLAIN_PROMPT)))


def test_tool_use(client: Anthropic, egress: str, mode: str) -> None:
    reply = respond(client, mode, model=egress, messages=user(TOOL_PROMPT), tools=[WEATHER.anthropic()])
    assert_tool_uses(reply, [WEATHER])


def test_parallel_tool_use(client: Anthropic, egress: str, mode: str) -> None:
    tools = [WEATHER.anthropic(), CLOCK.anthropic()]
    reply = respond(client, mode, model=egress, messages=user(PARALLEL_PROMPT), tools=tools)
    assert_tool_uses(reply, [WEATHER, CLOCK])


def test_tool_result_round_trip(client: Anthropic, egress: str, mode: str) -> None:
    tools = [WEATHER.anthropic()]
    first = respond(client, "whole", model=egress, messages=user(TOOL_PROMPT), tools=tools)
    assert_tool_uses(first, [WEATHER])
    messages = tool_turns(TOOL_PROMPT, first, [WEATHER_RESULT])
    reply = respond(client, mode, model=egress, messages=messages, tools=tools)
    assert reply.content == [{"type": "text", "text": tool_result_reply(WEATHER_RESULT)}]
    assert reply.stop_reason == "end_turn"


def test_parallel_tool_results_round_trip(client: Anthropic, egress: str, mode: str) -> None:
    tools = [WEATHER.anthropic(), CLOCK.anthropic()]
    first = respond(client, "whole", model=egress, messages=user(PARALLEL_PROMPT), tools=tools)
    assert_tool_uses(first, [WEATHER, CLOCK])
    messages = tool_turns(PARALLEL_PROMPT, first, [WEATHER_RESULT, CLOCK_RESULT])
    reply = respond(client, mode, model=egress, messages=messages, tools=tools)
    assert reply.content == [{"type": "text", "text": tool_result_reply(WEATHER_RESULT, CLOCK_RESULT)}]
    assert reply.stop_reason == "end_turn"


@pytest.mark.parametrize("shape", ["string", "blocks"])
def test_system_prompt(client: Anthropic, egress: str, mode: str, shape: str) -> None:
    system = SYSTEM_PROMPT if shape == "string" else [{"type": "text", "text": SYSTEM_PROMPT}]
    reply = respond(client, mode, model=egress, system=system, messages=user(PLAIN_PROMPT))
    assert reply.text == echo(PLAIN_PROMPT)
    # The mock counts the system prompt's words as input: proof it arrived.
    assert reply.input_tokens == words(SYSTEM_PROMPT) + words(PLAIN_PROMPT)


def test_stop_sequences(client: Anthropic, egress: str, mode: str) -> None:
    stops = ["never-there", STOP_SEQUENCE]
    reply = respond(client, mode, model=egress, messages=user(COUNT_PROMPT), stop_sequences=stops)
    expected, honoured = stop_expectation(egress)
    assert reply.content == [{"type": "text", "text": expected}]
    assert reply.output_tokens == words(expected)
    if egress in NAMES_MATCHED_STOP:
        assert (reply.stop_reason, reply.stop_sequence) == ("stop_sequence", STOP_SEQUENCE)
    elif egress in REPORTS_STOP_SEQUENCE:
        # Cohere and Bedrock say a stop sequence ended the reply, not which one.
        assert reply.stop_reason == "stop_sequence"
        assert reply.stop_sequence in (None, STOP_SEQUENCE)
    elif honoured:
        assert reply.stop_reason in ("stop_sequence", "end_turn")
        assert reply.stop_sequence in (None, STOP_SEQUENCE)
    else:
        assert (reply.stop_reason, reply.stop_sequence) == ("end_turn", None)
        raw = client.messages.with_raw_response.create(
            model=egress, max_tokens=DEFAULT_MAX_TOKENS, messages=user(COUNT_PROMPT), stop_sequences=stops
        )
        assert "stop_sequences" in raw.headers.get(DROPPED_HEADER, ""), "the dropped stop is not named"


def test_max_tokens(client: Anthropic, egress: str, mode: str) -> None:
    reply = respond(client, mode, model=egress, messages=user(LONG_PROMPT), max_tokens=MAX_TOKENS)
    assert reply.content == [{"type": "text", "text": TRUNCATED_TEXT}]
    assert reply.stop_reason == "max_tokens"
    assert (reply.input_tokens, reply.output_tokens) == (words(LONG_PROMPT), MAX_TOKENS)


# --- streams ------------------------------------------------------------------------------------

REQUESTS = {
    "plain": dict(messages=user(PLAIN_PROMPT)),
    "tool": dict(messages=user(TOOL_PROMPT), tools=[WEATHER.anthropic()]),
    "parallel": dict(messages=user(PARALLEL_PROMPT), tools=[WEATHER.anthropic(), CLOCK.anthropic()]),
    "system": dict(system=SYSTEM_PROMPT, messages=user(PLAIN_PROMPT)),
    "stop": dict(messages=user(COUNT_PROMPT), stop_sequences=[STOP_SEQUENCE]),
    "max_tokens": dict(messages=user(LONG_PROMPT), max_tokens=MAX_TOKENS),
}


# How the model is named changes nothing in a stream, so these run with the model in the body only.


@pytest.mark.parametrize("kind", list(REQUESTS))
def test_streams_match_the_whole_message(clients: Callable[[str], Anthropic], egress: str, kind: str) -> None:
    client = clients("")
    request = dict(model=egress, **REQUESTS[kind])
    expected = respond(client, "whole", **request).essence()
    assert respond(client, "events", **request).essence() == expected
    assert respond(client, "helper", **request).essence() == expected


def test_stream_events_for_a_tool_call(clients: Callable[[str], Anthropic], egress: str) -> None:
    reply = respond(clients(""), "events", model=egress, **REQUESTS["parallel"])
    starts = [event for event in reply.events if event.type == "content_block_start"]
    assert [(event.index, event.content_block.type) for event in starts] == [
        (0, "text"),
        (1, "tool_use"),
        (2, "tool_use"),
    ]
    # A tool_use block opens with an empty input; the arguments follow as input_json_delta.
    assert all(event.content_block.input == {} for event in starts[1:])


# --- the acceptance criterion -------------------------------------------------------


def test_acceptance_anthropic_sdk_streams_tool_call_through_openai_upstream(
    clients: Callable[[str], Anthropic],
) -> None:
    """The official Anthropic SDK, streaming a message with a tool through Busbar to an
    OpenAI-protocol upstream, receives the text and the tool call intact, and then the
    answer to the tool result."""
    client = clients("")
    tools = [WEATHER.anthropic()]
    with client.messages.stream(
        model="demo-openai", max_tokens=DEFAULT_MAX_TOKENS, messages=user(TOOL_PROMPT), tools=tools
    ) as stream:
        events = list(stream)
        call_turn = stream.get_final_message()
    assert any(event.type == "input_json" for event in events), "no input_json event reached the SDK"
    assert call_turn.stop_reason == "tool_use"
    assert [block.type for block in call_turn.content] == ["text", "tool_use"]
    assert call_turn.content[0].text == "Calling get_weather."
    tool_use = call_turn.content[1]
    assert tool_use.name == "get_weather"
    assert tool_use.id
    assert tool_use.input == {"city": "Paris"}

    messages = [
        *user(TOOL_PROMPT),
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": call_turn.content[0].text},
                {"type": "tool_use", "id": tool_use.id, "name": tool_use.name, "input": tool_use.input},
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": tool_use.id, "content": WEATHER_RESULT}],
        },
    ]
    with client.messages.stream(
        model="demo-openai", max_tokens=DEFAULT_MAX_TOKENS, messages=messages, tools=tools
    ) as stream:
        text = "".join(stream.text_stream)
        text_turn = stream.get_final_message()
    assert text == "Tool result received: 18C and sunny"
    assert [block.type for block in text_turn.content] == ["text"]
    assert text_turn.content[0].text == text
    assert text_turn.stop_reason == "end_turn"
    assert text_turn.usage.output_tokens == words(text)


# --- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_unknown_model_is_not_found(clients: Callable[[str], Anthropic], routing: str, stream: bool) -> None:
    client = clients("" if routing == "body" else f"/{UNKNOWN_MODEL}")
    with pytest.raises(anthropic.NotFoundError) as raised:
        respond(client, "events" if stream else "whole", model=UNKNOWN_MODEL, messages=user(PLAIN_PROMPT))
    error = raised.value
    assert error.status_code == 404
    assert isinstance(error.body, dict) and error.body.get("type") == "error"
    assert error.body["error"]["type"] == "not_found_error"
    assert error.response.headers.get("x-request-id")


def test_missing_max_tokens_is_a_bad_request(client: Anthropic, egress: str) -> None:
    with pytest.raises(anthropic.BadRequestError) as raised:
        # An explicit timeout: the SDK derives a default from max_tokens otherwise.
        client.messages.create(
            model=egress, max_tokens=anthropic.omit, messages=user(PLAIN_PROMPT), timeout=10
        )
    error = raised.value
    assert error.status_code == 400
    assert isinstance(error.body, dict) and error.body["error"]["type"] == "invalid_request_error"
    assert error.response.headers.get("x-request-id")


# --- routing and headers ------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_response_headers_name_request_and_lane(client: Anthropic, egress: str, stream: bool) -> None:
    request = dict(model=egress, max_tokens=DEFAULT_MAX_TOKENS, messages=user(PLAIN_PROMPT))
    if stream:
        raw = client.messages.with_raw_response.create(stream=True, **request)
        with raw.parse() as events:
            assert from_events(list(events)).text == echo(PLAIN_PROMPT)
    else:
        raw = client.messages.with_raw_response.create(**request)
        assert from_message(raw.parse()).text == echo(PLAIN_PROMPT)
    assert raw.headers.get("x-request-id")
    assert raw.headers.get("x-busbar-model") == egress


def test_client_request_id_is_kept(client: Anthropic, egress: str) -> None:
    raw = client.messages.with_raw_response.create(
        model=egress,
        max_tokens=DEFAULT_MAX_TOKENS,
        messages=user(PLAIN_PROMPT),
        extra_headers={"x-request-id": "sdk-suite-0002"},
    )
    assert raw.headers.get("x-request-id") == "sdk-suite-0002"


@pytest.mark.parametrize("egress", EGRESS)
def test_model_in_path_wins_over_the_body(clients: Callable[[str], Anthropic], egress: str) -> None:
    """`/NAME/v1/messages` (README.md's routes): the name in the URL wins over the body's model."""
    other = next(name for name in EGRESS if name != egress)
    raw = clients(f"/{egress}").messages.with_raw_response.create(
        model=other, max_tokens=DEFAULT_MAX_TOKENS, messages=user(PLAIN_PROMPT)
    )
    assert raw.headers.get("x-busbar-model") == egress
    assert from_message(raw.parse()).text == echo(PLAIN_PROMPT)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_pool_serves_from_its_members(
    clients: Callable[[str], Anthropic], routing: str, stream: bool
) -> None:
    client = clients("" if routing == "body" else f"/{POOL}")
    served = set()
    for _ in range(2 * len(EGRESS)):
        request = dict(model=POOL, max_tokens=DEFAULT_MAX_TOKENS, messages=user(PLAIN_PROMPT))
        if not stream:
            raw = client.messages.with_raw_response.create(**request)
            reply = from_message(raw.parse())
        else:
            raw = client.messages.with_raw_response.create(stream=True, **request)
            with raw.parse() as events:
                reply = from_events(list(events))
        served.add(raw.headers.get("x-busbar-model"))
        assert reply.text == echo(PLAIN_PROMPT)
    assert set(EGRESS) <= served, f"the pool served from {served}"
