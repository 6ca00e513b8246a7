"""The official OpenAI Python SDK (Responses API) against `busbar demo`, for every egress protocol.

Each behaviour is checked three ways: a whole `responses.create()`, `create(stream=True)`
with the event grammar checked (the strict client validates every event as a
`ResponseStreamEvent`; the test checks each is one of its members), and the SDK's
`responses.stream()` helper (`get_final_response`). All three are reduced to the same
`Answer`, so they are held to the same exact expectations.
"""

from __future__ import annotations

import json
import typing
from dataclasses import dataclass, field
from typing import Iterator

import openai
import pytest
from openai import OpenAI
from openai.types.responses import (
    Response,
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseStreamEvent,
    ResponseUsage,
)

from support import (
    CLOCK,
    CLOCK_RESULT,
    EGRESS,
    LONG_PROMPT,
    MAX_TOKENS,
    PARALLEL_PROMPT,
    PLAIN_PROMPT,
    POOL,
    SYSTEM_PROMPT,
    TOOL_PROMPT,
    TRUNCATED_TEXT,
    UNKNOWN_MODEL,
    WEATHER,
    WEATHER_RESULT,
    Tool,
    echo,
    tool_preamble,
    tool_result_reply,
    words,
)

# The members of the `ResponseStreamEvent` union (an Annotated Union of event classes).
STREAM_EVENT_TYPES = typing.get_args(typing.get_args(ResponseStreamEvent)[0])


@pytest.fixture(scope="session")
def client(base_url: str) -> Iterator[OpenAI]:
    """A strict client on `http://H:P/v1`."""
    with OpenAI(
        base_url=f"{base_url}/v1",
        api_key="unused",
        _strict_response_validation=True,
        max_retries=0,
        timeout=10,
    ) as client:
        yield client


@pytest.fixture(params=["whole", "events", "helper"])
def mode(request: pytest.FixtureRequest) -> str:
    """whole: `create()`; events: `create(stream=True)`; helper: `responses.stream()`."""
    return request.param


# --- collecting answers ------------------------------------------------------------------------


@dataclass
class Call:
    call_id: str
    name: str
    arguments: str

    @property
    def parsed(self) -> dict:
        value = json.loads(self.arguments)
        assert isinstance(value, dict), f"arguments are not a JSON object: {self.arguments!r}"
        return value


@dataclass
class Answer:
    """What a response says, whole or streamed."""

    text: str
    calls: list[Call]
    status: str | None
    incomplete_reason: str | None
    usage: ResponseUsage | None
    response: Response
    events: list = field(default_factory=list)

    def essence(self) -> tuple:
        """Everything but ids, for comparing a stream with a whole response."""
        calls = [(call.name, call.parsed) for call in self.calls]
        usage = self.usage and (self.usage.input_tokens, self.usage.output_tokens, self.usage.total_tokens)
        kinds = [item.type for item in self.response.output]
        return (self.text, calls, self.status, self.incomplete_reason, usage, kinds)


def from_response(response: Response) -> Answer:
    """Reads a whole response into an `Answer`, checking its shape."""
    assert isinstance(response, Response)
    assert response.object == "response"
    assert response.id
    text = ""
    calls: list[Call] = []
    for item in response.output:
        if isinstance(item, ResponseOutputMessage):
            assert item.role == "assistant"
            for part in item.content:
                assert part.type == "output_text", f"unexpected content part {part.type}"
                text += part.text
        elif isinstance(item, ResponseFunctionToolCall):
            assert item.call_id, "a function_call item without call_id"
            calls.append(Call(item.call_id, item.name, item.arguments))
        else:
            raise AssertionError(f"unexpected output item {item.type}")
    assert response.output_text == text
    reason = response.incomplete_details.reason if response.incomplete_details else None
    return Answer(text, calls, response.status, reason, response.usage, response)


def from_events(events: list) -> Answer:
    """Folds raw stream events into an `Answer`, checking the event grammar and that the
    deltas add up to the final response."""
    for event in events:
        assert isinstance(event, STREAM_EVENT_TYPES), f"not a ResponseStreamEvent: {event!r}"
    kinds = [event.type for event in events]
    assert kinds[:2] == ["response.created", "response.in_progress"], f"the stream opens with {kinds[:2]}"
    assert kinds[-1] in ("response.completed", "response.incomplete"), f"the stream closes with {kinds[-1]}"
    terminal = [
        kind for kind in kinds if kind in ("response.completed", "response.incomplete", "response.failed")
    ]
    assert len(terminal) == 1, f"terminal events {terminal}"
    numbers = [event.sequence_number for event in events]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), f"sequence numbers {numbers}"
    assert events[0].response.status == "in_progress" and events[0].response.output == []

    final: Response = events[-1].response
    open_items: dict[int, dict] = {}
    done_items: dict[int, object] = {}
    for event in events[2:-1]:
        if event.type == "response.output_item.added":
            assert event.output_index not in open_items and event.output_index not in done_items
            assert event.output_index == len(open_items) + len(done_items), "output items open in order"
            item = event.item
            if item.type == "function_call":
                assert item.call_id and item.name
                assert item.arguments == ""
            open_items[event.output_index] = {"item": item, "text": {}, "arguments": "", "parts": set()}
        elif event.type == "response.content_part.added":
            state = open_items[event.output_index]
            assert event.content_index not in state["parts"]
            state["parts"].add(event.content_index)
            state["text"][event.content_index] = ""
        elif event.type == "response.output_text.delta":
            open_items[event.output_index]["text"][event.content_index] += event.delta
        elif event.type == "response.output_text.done":
            assert open_items[event.output_index]["text"][event.content_index] == event.text
        elif event.type == "response.content_part.done":
            state = open_items[event.output_index]
            assert event.part.type == "output_text"
            assert event.part.text == state["text"][event.content_index]
        elif event.type == "response.function_call_arguments.delta":
            open_items[event.output_index]["arguments"] += event.delta
        elif event.type == "response.function_call_arguments.done":
            assert open_items[event.output_index]["arguments"] == event.arguments
        elif event.type == "response.output_item.done":
            state = open_items.pop(event.output_index)
            item = event.item
            assert item.type == state["item"].type
            if item.type == "function_call":
                assert (item.call_id, item.name) == (state["item"].call_id, state["item"].name)
                assert item.arguments == state["arguments"]
            elif item.type == "message":
                assert [part.text for part in item.content] == [
                    state["text"][i] for i in sorted(state["text"])
                ]
            done_items[event.output_index] = item
        else:
            raise AssertionError(f"unexpected event {event.type}")
    assert not open_items, f"output items {sorted(open_items)} were never done"
    assert [
        done_items[i] for i in sorted(done_items)
    ] == final.output, "the final response lists the streamed items"
    answer = from_response(final)
    answer.events = events
    return answer


def respond(client: OpenAI, mode: str, **request) -> Answer:
    if mode == "whole":
        return from_response(client.responses.create(**request))
    if mode == "events":
        with client.responses.create(stream=True, **request) as stream:
            return from_events(list(stream))
    assert mode == "helper"
    with client.responses.stream(**request) as stream:
        events = list(stream)
        # The helper's get_final_response() wants `response.completed`; an incomplete
        # response ends the stream with `response.incomplete`, which carries it instead.
        final = (
            events[-1].response if events[-1].type == "response.incomplete" else stream.get_final_response()
        )
    text = "".join(event.delta for event in events if event.type == "response.output_text.delta")
    answer = from_response(final)
    assert text == answer.text, "the helper's text deltas and get_final_response disagree"
    return answer


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def assert_usage(answer: Answer, prompt: int, completion: int) -> None:
    usage = answer.usage
    assert usage is not None, "no usage reported"
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (
        prompt,
        completion,
        prompt + completion,
    )
    # Required by the SDK's types (trap 5); the mock caches nothing.
    assert usage.input_tokens_details.cache_write_tokens == 0
    assert usage.input_tokens_details.cached_tokens == 0
    assert usage.output_tokens_details.reasoning_tokens == 0


def assert_calls(answer: Answer, tools: list[Tool]) -> None:
    assert [item.type for item in answer.response.output] == ["message"] + ["function_call"] * len(tools)
    assert answer.text == tool_preamble(*tools)
    assert [call.name for call in answer.calls] == [tool.name for tool in tools]
    for call, tool in zip(answer.calls, tools):
        assert call.parsed == tool.arguments
    assert len({call.call_id for call in answer.calls}) == len(tools), "call ids are distinct"
    assert answer.status == "completed"
    assert answer.usage is not None and answer.usage.output_tokens > 0


def tool_turns(prompt: str, answer: Answer, results: list[str]) -> list:
    """The conversation after the model answered `answer`: its output items as returned, then
    one `function_call_output` per call."""
    outputs = [
        {"type": "function_call_output", "call_id": call.call_id, "output": result}
        for call, result in zip(answer.calls, results)
    ]
    return [*user(prompt), *answer.response.output, *outputs]


# --- behaviour, whole and streamed, for every egress --------------------------------------------


def test_plain_text(client: OpenAI, egress: str, mode: str) -> None:
    answer = respond(client, mode, model=egress, input=PLAIN_PROMPT)
    assert answer.text == echo(PLAIN_PROMPT)
    assert [item.type for item in answer.response.output] == ["message"]
    assert (answer.status, answer.incomplete_reason, answer.calls) == ("completed", None, [])
    assert_usage(answer, words(PLAIN_PROMPT), words(echo(PLAIN_PROMPT)))


def test_input_as_message_list(client: OpenAI, egress: str, mode: str) -> None:
    request_input = [{"role": "user", "content": [{"type": "input_text", "text": PLAIN_PROMPT}]}]
    answer = respond(client, mode, model=egress, input=request_input)
    assert answer.text == echo(PLAIN_PROMPT)


def test_tool_call(client: OpenAI, egress: str, mode: str) -> None:
    answer = respond(client, mode, model=egress, input=user(TOOL_PROMPT), tools=[WEATHER.responses()])
    assert_calls(answer, [WEATHER])


def test_parallel_tool_calls(client: OpenAI, egress: str, mode: str) -> None:
    tools = [WEATHER.responses(), CLOCK.responses()]
    answer = respond(client, mode, model=egress, input=user(PARALLEL_PROMPT), tools=tools)
    assert_calls(answer, [WEATHER, CLOCK])


def test_tool_result_round_trip(client: OpenAI, egress: str, mode: str) -> None:
    tools = [WEATHER.responses()]
    first = respond(client, "whole", model=egress, input=user(TOOL_PROMPT), tools=tools)
    assert_calls(first, [WEATHER])
    answer = respond(
        client, mode, model=egress, input=tool_turns(TOOL_PROMPT, first, [WEATHER_RESULT]), tools=tools
    )
    assert answer.text == tool_result_reply(WEATHER_RESULT)
    assert (answer.status, answer.calls) == ("completed", [])


def test_parallel_tool_results_round_trip(client: OpenAI, egress: str, mode: str) -> None:
    tools = [WEATHER.responses(), CLOCK.responses()]
    first = respond(client, "whole", model=egress, input=user(PARALLEL_PROMPT), tools=tools)
    assert_calls(first, [WEATHER, CLOCK])
    conversation = tool_turns(PARALLEL_PROMPT, first, [WEATHER_RESULT, CLOCK_RESULT])
    answer = respond(client, mode, model=egress, input=conversation, tools=tools)
    assert answer.text == tool_result_reply(WEATHER_RESULT, CLOCK_RESULT)
    assert answer.status == "completed"


def test_instructions(client: OpenAI, egress: str, mode: str) -> None:
    answer = respond(client, mode, model=egress, instructions=SYSTEM_PROMPT, input=PLAIN_PROMPT)
    assert answer.text == echo(PLAIN_PROMPT)
    # The mock counts the instructions' words as input: proof they arrived.
    assert_usage(answer, words(SYSTEM_PROMPT) + words(PLAIN_PROMPT), words(echo(PLAIN_PROMPT)))


@pytest.mark.parametrize("role", ["system", "developer"])
def test_system_item(client: OpenAI, egress: str, mode: str, role: str) -> None:
    conversation = [{"role": role, "content": SYSTEM_PROMPT}, *user(PLAIN_PROMPT)]
    answer = respond(client, mode, model=egress, input=conversation)
    assert answer.text == echo(PLAIN_PROMPT)
    assert_usage(answer, words(SYSTEM_PROMPT) + words(PLAIN_PROMPT), words(echo(PLAIN_PROMPT)))


def test_max_output_tokens_makes_it_incomplete(client: OpenAI, egress: str, mode: str) -> None:
    answer = respond(client, mode, model=egress, input=LONG_PROMPT, max_output_tokens=MAX_TOKENS)
    assert answer.text == TRUNCATED_TEXT
    assert (answer.status, answer.incomplete_reason) == ("incomplete", "max_output_tokens")
    assert_usage(answer, words(LONG_PROMPT), MAX_TOKENS)


# --- streams ------------------------------------------------------------------------------------

REQUESTS = {
    "plain": dict(input=PLAIN_PROMPT),
    "tool": dict(input=user(TOOL_PROMPT), tools=[WEATHER.responses()]),
    "parallel": dict(input=user(PARALLEL_PROMPT), tools=[WEATHER.responses(), CLOCK.responses()]),
    "instructions": dict(instructions=SYSTEM_PROMPT, input=PLAIN_PROMPT),
    "max_output_tokens": dict(input=LONG_PROMPT, max_output_tokens=MAX_TOKENS),
}


@pytest.mark.parametrize("kind", list(REQUESTS))
def test_streams_match_the_whole_response(client: OpenAI, egress: str, kind: str) -> None:
    request = dict(model=egress, **REQUESTS[kind])
    expected = respond(client, "whole", **request).essence()
    assert respond(client, "events", **request).essence() == expected
    assert respond(client, "helper", **request).essence() == expected


def test_stream_events_for_tool_calls(client: OpenAI, egress: str) -> None:
    answer = respond(client, "events", model=egress, **REQUESTS["parallel"])
    added = [event.item.type for event in answer.events if event.type == "response.output_item.added"]
    assert added == ["message", "function_call", "function_call"]
    argument_deltas = [
        event for event in answer.events if event.type == "response.function_call_arguments.delta"
    ]
    assert {event.output_index for event in argument_deltas} == {1, 2}


# --- the gateway's headers, pools and errors ------------------------------------------------------


def test_response_headers_name_request_and_lane(client: OpenAI, egress: str) -> None:
    raw = client.responses.with_raw_response.create(model=egress, input=PLAIN_PROMPT)
    assert from_response(raw.parse()).text == echo(PLAIN_PROMPT)
    assert raw.headers.get("x-request-id")
    assert raw.headers.get("x-busbar-model") == egress


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_pool_serves_from_its_members(client: OpenAI, stream: bool) -> None:
    served = set()
    for _ in range(2 * len(EGRESS)):
        raw = client.responses.with_raw_response.create(model=POOL, input=PLAIN_PROMPT, stream=stream)
        served.add(raw.headers.get("x-busbar-model"))
        answer = from_events(list(raw.parse())) if stream else from_response(raw.parse())
        assert answer.text == echo(PLAIN_PROMPT)
    assert set(EGRESS) <= served, f"the pool served from {served}"


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_unknown_model_is_not_found(client: OpenAI, stream: bool) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        respond(client, "events" if stream else "whole", model=UNKNOWN_MODEL, input=PLAIN_PROMPT)
    error = raised.value
    assert error.status_code == 404
    assert error.code == "model_not_found"
    assert error.message
    assert error.response.headers.get("x-request-id")


def test_malformed_input_is_a_bad_request(client: OpenAI, egress: str) -> None:
    # `input` may be left out (a stored prompt can supply it), so a wrong type is the bad request.
    with pytest.raises(openai.BadRequestError) as raised:
        client.responses.create(model=egress, input=42)  # type: ignore[arg-type]
    assert raised.value.status_code == 400
    assert raised.value.response.headers.get("x-request-id")
    assert isinstance(raised.value.body, dict) and raised.value.body.get("message")
