"""The official AWS SDK for Python (boto3 `bedrock-runtime`) against `busbar demo`, for every egress protocol.

`converse` and `converse_stream` through a client whose `endpoint_url` is Busbar,
signing with SigV4 over plain HTTP (boto3 refuses bearer tokens there; Busbar under
auth mode none ignores the signature). botocore parses every reply against the
service model, and decodes the event stream frame by frame (checking each CRC); a
stream is folded into the same `Reply` a whole reply gives.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Iterator

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

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

# Bedrock model ids often hold a `:` (`anthropic.claude-3-5-sonnet-20240620-v1:0`), which
# boto3 percent-encodes in the path. The demo serves no such model, so one it does not
# serve checks the decoding: the 404 must name the model as written.
UNKNOWN_COLON_MODEL = "example.no-such-model-v1:0"


@pytest.fixture(scope="session")
def client(base_url: str) -> Iterator:
    client = boto3.client(
        "bedrock-runtime",
        endpoint_url=base_url,
        region_name="us-east-1",
        aws_access_key_id="AKIDTEST",
        aws_secret_access_key="secret",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=10),
    )
    yield client
    client.close()


# --- collecting replies -------------------------------------------------------------------------


@dataclass
class Reply:
    """What a reply says, whole or streamed."""

    content: list[dict]
    stop_reason: str
    usage: dict
    headers: dict
    events: list = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(block["text"] for block in self.content if "text" in block)

    @property
    def tool_uses(self) -> list[dict]:
        return [block["toolUse"] for block in self.content if "toolUse" in block]

    def essence(self) -> tuple:
        """Everything but tool-use ids, for comparing a stream with a whole reply."""
        blocks = [
            (
                {"toolUse": {"name": block["toolUse"]["name"], "input": block["toolUse"]["input"]}}
                if "toolUse" in block
                else block
            )
            for block in self.content
        ]
        usage = (self.usage["inputTokens"], self.usage["outputTokens"], self.usage["totalTokens"])
        return (blocks, self.stop_reason, usage)


def from_converse(response: dict) -> Reply:
    message = response["output"]["message"]
    assert message["role"] == "assistant"
    for block in message["content"]:
        assert set(block) <= {"text", "toolUse"}, f"unexpected block {block}"
    assert response["metrics"]["latencyMs"] >= 0
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    return Reply(message["content"], response["stopReason"], response["usage"], headers)


def from_stream(response: dict) -> Reply:
    """Folds ConverseStream events into a `Reply`, checking the grammar messageStart →
    (contentBlockStart? → contentBlockDelta… → contentBlockStop)… → messageStop → metadata.
    A text block may open with its first delta; a tool-use block opens with its start."""
    events = list(response["stream"])
    kinds = [next(iter(event)) for event in events]
    assert all(len(event) == 1 for event in events)
    assert kinds[0] == "messageStart" and events[0]["messageStart"]["role"] == "assistant"
    assert kinds[-2:] == ["messageStop", "metadata"], f"the stream closes with {kinds[-2:]}"

    blocks: dict[int, dict] = {}
    open_index: int | None = None
    for event in events[1:-2]:
        kind, body = next(iter(event.items()))
        index = body.get("contentBlockIndex")
        if kind == "contentBlockStart":
            assert open_index is None and index not in blocks and index == len(blocks)
            tool = body["start"]["toolUse"]
            assert tool["toolUseId"] and tool["name"]
            blocks[index] = {"toolUse": {"toolUseId": tool["toolUseId"], "name": tool["name"], "input": ""}}
            open_index = index
        elif kind == "contentBlockDelta":
            delta = body["delta"]
            if open_index is None:
                assert index not in blocks and index == len(blocks) and "text" in delta, f"{event}"
                blocks[index] = {"text": ""}
                open_index = index
            assert index == open_index
            if "text" in delta:
                blocks[index]["text"] += delta["text"]
            else:
                blocks[index]["toolUse"]["input"] += delta["toolUse"]["input"]
        elif kind == "contentBlockStop":
            assert index == open_index
            open_index = None
        else:
            raise AssertionError(f"unexpected event {kind}")
    assert open_index is None, "a block was never closed"
    content = []
    for index in sorted(blocks):
        block = blocks[index]
        if "toolUse" in block:
            raw = block["toolUse"]["input"]
            block["toolUse"]["input"] = json.loads(raw) if raw else {}
        content.append(block)
    metadata = events[-1]["metadata"]
    assert metadata["metrics"]["latencyMs"] >= 0
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    return Reply(content, events[-2]["messageStop"]["stopReason"], metadata["usage"], headers, events)


def ask(client, stream: bool, **request) -> Reply:
    if stream:
        return from_stream(client.converse_stream(**request))
    return from_converse(client.converse(**request))


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": [{"text": text}]}]


def tool_config(*tools: Tool) -> dict:
    return {"tools": [tool.bedrock() for tool in tools]}


def assert_usage(reply: Reply, prompt: int, output: int) -> None:
    usage = reply.usage
    assert (usage["inputTokens"], usage["outputTokens"], usage["totalTokens"]) == (
        prompt,
        output,
        prompt + output,
    )


def assert_tool_uses(reply: Reply, tools: list[Tool]) -> None:
    assert [next(iter(block)) for block in reply.content] == ["text"] + ["toolUse"] * len(tools)
    assert reply.text == tool_preamble(*tools)
    assert [use["name"] for use in reply.tool_uses] == [tool.name for tool in tools]
    for use, tool in zip(reply.tool_uses, tools):
        assert use["input"] == tool.arguments
    ids = [use["toolUseId"] for use in reply.tool_uses]
    assert all(ids) and len(set(ids)) == len(ids), f"toolUseIds {ids}"
    assert reply.stop_reason == "tool_use"
    assert reply.usage["outputTokens"] > 0


def tool_turns(prompt: str, reply: Reply, results: list[str]) -> list[dict]:
    """The conversation after the model answered `reply` (its content as returned) and the
    tools answered `results`."""
    answers = [
        {"toolResult": {"toolUseId": use["toolUseId"], "content": [{"text": result}], "status": "success"}}
        for use, result in zip(reply.tool_uses, results)
    ]
    return [
        *user(prompt),
        {"role": "assistant", "content": reply.content},
        {"role": "user", "content": answers},
    ]


# --- behaviour, whole and streamed, for every egress ------------------------------------------


def test_plain_text(client, egress: str, stream: bool) -> None:
    reply = ask(client, stream, modelId=egress, messages=user(PLAIN_PROMPT))
    assert reply.content == [{"text": echo(PLAIN_PROMPT)}]
    assert reply.stop_reason == "end_turn"
    assert_usage(reply, words(PLAIN_PROMPT), words(echo(PLAIN_PROMPT)))


def test_tool_use(client, egress: str, stream: bool) -> None:
    reply = ask(client, stream, modelId=egress, messages=user(TOOL_PROMPT), toolConfig=tool_config(WEATHER))
    assert_tool_uses(reply, [WEATHER])


def test_parallel_tool_use(client, egress: str, stream: bool) -> None:
    reply = ask(
        client, stream, modelId=egress, messages=user(PARALLEL_PROMPT), toolConfig=tool_config(WEATHER, CLOCK)
    )
    assert_tool_uses(reply, [WEATHER, CLOCK])


def test_tool_result_round_trip(client, egress: str, stream: bool) -> None:
    first = ask(client, False, modelId=egress, messages=user(TOOL_PROMPT), toolConfig=tool_config(WEATHER))
    assert_tool_uses(first, [WEATHER])
    messages = tool_turns(TOOL_PROMPT, first, [WEATHER_RESULT])
    reply = ask(client, stream, modelId=egress, messages=messages, toolConfig=tool_config(WEATHER))
    assert reply.content == [{"text": tool_result_reply(WEATHER_RESULT)}]
    assert reply.stop_reason == "end_turn"


def test_tool_result_round_trip_after_a_stream(client, egress: str) -> None:
    first = ask(client, True, modelId=egress, messages=user(TOOL_PROMPT), toolConfig=tool_config(WEATHER))
    assert_tool_uses(first, [WEATHER])
    messages = tool_turns(TOOL_PROMPT, first, [WEATHER_RESULT])
    reply = ask(client, True, modelId=egress, messages=messages, toolConfig=tool_config(WEATHER))
    assert reply.text == tool_result_reply(WEATHER_RESULT)


def test_parallel_tool_results_round_trip(client, egress: str, stream: bool) -> None:
    tools = tool_config(WEATHER, CLOCK)
    first = ask(client, False, modelId=egress, messages=user(PARALLEL_PROMPT), toolConfig=tools)
    assert_tool_uses(first, [WEATHER, CLOCK])
    messages = tool_turns(PARALLEL_PROMPT, first, [WEATHER_RESULT, CLOCK_RESULT])
    reply = ask(client, stream, modelId=egress, messages=messages, toolConfig=tools)
    assert reply.content == [{"text": tool_result_reply(WEATHER_RESULT, CLOCK_RESULT)}]
    assert reply.stop_reason == "end_turn"


def test_system_prompt(client, egress: str, stream: bool) -> None:
    reply = ask(client, stream, modelId=egress, system=[{"text": SYSTEM_PROMPT}], messages=user(PLAIN_PROMPT))
    assert reply.text == echo(PLAIN_PROMPT)
    # The mock counts the system prompt's words as input: proof it arrived.
    assert_usage(reply, words(SYSTEM_PROMPT) + words(PLAIN_PROMPT), words(echo(PLAIN_PROMPT)))


def test_stop_sequences(client, egress: str, stream: bool) -> None:
    config = {"stopSequences": ["never-there", STOP_SEQUENCE]}
    reply = ask(client, stream, modelId=egress, messages=user(COUNT_PROMPT), inferenceConfig=config)
    expected, honoured = stop_expectation(egress)
    assert reply.content == [{"text": expected}]
    assert_usage(reply, words(COUNT_PROMPT), words(expected))
    if egress in REPORTS_STOP_SEQUENCE:
        assert reply.stop_reason == "stop_sequence"
    elif honoured:
        # OpenAI's `stop` and Gemini's STOP cannot tell a stop sequence from a natural end.
        assert reply.stop_reason in ("stop_sequence", "end_turn")
    else:
        assert reply.stop_reason == "end_turn"


def test_max_tokens(client, egress: str, stream: bool) -> None:
    reply = ask(
        client, stream, modelId=egress, messages=user(LONG_PROMPT), inferenceConfig={"maxTokens": MAX_TOKENS}
    )
    assert reply.content == [{"text": TRUNCATED_TEXT}]
    assert reply.stop_reason == "max_tokens"
    assert_usage(reply, words(LONG_PROMPT), MAX_TOKENS)


# --- streams ------------------------------------------------------------------------------------

REQUESTS = {
    "plain": dict(messages=user(PLAIN_PROMPT)),
    "tool": dict(messages=user(TOOL_PROMPT), toolConfig=tool_config(WEATHER)),
    "parallel": dict(messages=user(PARALLEL_PROMPT), toolConfig=tool_config(WEATHER, CLOCK)),
    "system": dict(system=[{"text": SYSTEM_PROMPT}], messages=user(PLAIN_PROMPT)),
    "max_tokens": dict(messages=user(LONG_PROMPT), inferenceConfig={"maxTokens": MAX_TOKENS}),
}


@pytest.mark.parametrize("kind", list(REQUESTS))
def test_stream_accumulates_to_the_whole_reply(client, egress: str, kind: str) -> None:
    request = dict(modelId=egress, **REQUESTS[kind])
    assert ask(client, True, **request).essence() == ask(client, False, **request).essence()


def test_stream_events_for_tool_uses(client, egress: str) -> None:
    reply = ask(client, True, modelId=egress, **REQUESTS["parallel"])
    starts = [event["contentBlockStart"] for event in reply.events if "contentBlockStart" in event]
    assert [start["contentBlockIndex"] for start in starts] == [1, 2]
    assert reply.events[-1]["metadata"]["usage"]["outputTokens"] == reply.usage["outputTokens"]


# --- the gateway's headers, pools and errors -----------------------------------------------------


def test_response_headers_name_request_and_lane(client, egress: str, stream: bool) -> None:
    reply = ask(client, stream, modelId=egress, messages=user(PLAIN_PROMPT))
    assert reply.text == echo(PLAIN_PROMPT)
    assert reply.headers.get("x-request-id")
    assert reply.headers.get("x-busbar-model") == egress


def test_pool_serves_from_its_members(client, stream: bool) -> None:
    served = set()
    for _ in range(2 * len(EGRESS)):
        reply = ask(client, stream, modelId=POOL, messages=user(PLAIN_PROMPT))
        assert reply.text == echo(PLAIN_PROMPT)
        served.add(reply.headers.get("x-busbar-model"))
    assert set(EGRESS) <= served, f"the pool served from {served}"


@pytest.mark.parametrize("model", [UNKNOWN_MODEL, UNKNOWN_COLON_MODEL])
def test_unknown_model_is_not_found(client, stream: bool, model: str) -> None:
    with pytest.raises(client.exceptions.ResourceNotFoundException) as raised:
        ask(client, stream, modelId=model, messages=user(PLAIN_PROMPT))
    error = raised.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert error["Error"]["Code"] == "ResourceNotFoundException"
    assert error["Error"]["Message"]
    assert model in error["Error"]["Message"], "the model id did not come back decoded"


def test_unknown_role_is_a_validation_error(client, egress: str) -> None:
    with pytest.raises(client.exceptions.ValidationException) as raised:
        client.converse(modelId=egress, messages=[{"role": "robot", "content": [{"text": PLAIN_PROMPT}]}])
    error = raised.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["Error"]["Code"] == "ValidationException"
    assert isinstance(raised.value, ClientError)
