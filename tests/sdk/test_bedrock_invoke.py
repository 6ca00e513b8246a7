"""Claude's Bedrock InvokeModel API against `busbar demo`, for every egress protocol, with
the two clients that speak it: the Anthropic SDK's `AnthropicBedrock` and boto3's
`invoke_model` / `invoke_model_with_response_stream`.

`AnthropicBedrock` posts to `/model/{id}/invoke[-with-response-stream]` with the `:` of a
Bedrock id left as it is, a body without `model` and `stream`, its own `anthropic_version`
and the betas in `anthropic_beta`, signed with SigV4 (botocore); its stream decoder reads
the event-stream frames and the base64 Anthropic events inside each `chunk`. boto3 checks
each frame's CRCs and hands back the chunk's bytes decoded. Both sign over plain HTTP;
Busbar under auth mode none ignores the signature.
"""

from __future__ import annotations

import json
from typing import Iterator

import anthropic
import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from support import (
    EGRESS,
    PLAIN_PROMPT,
    TOOL_PROMPT,
    UNKNOWN_MODEL,
    WEATHER,
    WEATHER_RESULT,
    echo,
    tool_preamble,
    tool_result_reply,
)

MAX_TOKENS = 256
BEDROCK_VERSION = "bedrock-2023-05-31"


@pytest.fixture(scope="session")
def claude(base_url: str) -> Iterator[anthropic.AnthropicBedrock]:
    client = anthropic.AnthropicBedrock(
        aws_access_key="AKIDTEST",
        aws_secret_key="secret",
        aws_region="us-east-1",
        base_url=base_url,
        max_retries=0,
        timeout=10,
    )
    yield client
    client.close()


@pytest.fixture(scope="session")
def runtime(base_url: str) -> Iterator:
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


def text_of(content) -> str:
    return "".join(block.text for block in content if block.type == "text")


# --- AnthropicBedrock ---------------------------------------------------------------------------


@pytest.mark.parametrize("egress", EGRESS)
def test_anthropic_bedrock_text(claude: anthropic.AnthropicBedrock, egress: str) -> None:
    message = claude.messages.create(
        model=egress, max_tokens=MAX_TOKENS, messages=[{"role": "user", "content": PLAIN_PROMPT}]
    )
    assert text_of(message.content) == echo(PLAIN_PROMPT)
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens > 0


@pytest.mark.parametrize("egress", EGRESS)
def test_anthropic_bedrock_stream(claude: anthropic.AnthropicBedrock, egress: str) -> None:
    with claude.messages.stream(
        model=egress, max_tokens=MAX_TOKENS, messages=[{"role": "user", "content": PLAIN_PROMPT}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == echo(PLAIN_PROMPT)
    assert text_of(final.content) == echo(PLAIN_PROMPT)
    assert final.stop_reason == "end_turn"


@pytest.mark.parametrize("egress", EGRESS)
def test_anthropic_bedrock_tool_turn(claude: anthropic.AnthropicBedrock, egress: str) -> None:
    messages = [{"role": "user", "content": TOOL_PROMPT}]
    first = claude.messages.create(
        model=egress, max_tokens=MAX_TOKENS, tools=[WEATHER.anthropic()], messages=messages
    )
    assert first.stop_reason == "tool_use"
    assert text_of(first.content) == tool_preamble(WEATHER)
    calls = [block for block in first.content if block.type == "tool_use"]
    assert [(call.name, call.input) for call in calls] == [(WEATHER.name, WEATHER.arguments)]
    messages += [
        {"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": calls[0].id, "content": WEATHER_RESULT}]},
    ]
    # The answer to the result, streamed, with a beta named (sent in `anthropic_beta`).
    with claude.beta.messages.stream(
        model=egress,
        max_tokens=MAX_TOKENS,
        tools=[WEATHER.anthropic()],
        messages=messages,
        betas=["token-efficient-tools-2025-02-19"],
    ) as stream:
        final = stream.get_final_message()
    assert text_of(final.content) == tool_result_reply(WEATHER_RESULT)


@pytest.mark.parametrize("egress", EGRESS)
def test_anthropic_bedrock_streamed_tool_call(claude: anthropic.AnthropicBedrock, egress: str) -> None:
    with claude.messages.stream(
        model=egress,
        max_tokens=MAX_TOKENS,
        tools=[WEATHER.anthropic()],
        messages=[{"role": "user", "content": TOOL_PROMPT}],
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    calls = [block for block in final.content if block.type == "tool_use"]
    assert [(call.name, call.input) for call in calls] == [(WEATHER.name, WEATHER.arguments)]


def test_anthropic_bedrock_unknown_model_is_a_404(claude: anthropic.AnthropicBedrock) -> None:
    with pytest.raises(anthropic.NotFoundError):
        claude.messages.create(
            model=UNKNOWN_MODEL, max_tokens=MAX_TOKENS, messages=[{"role": "user", "content": PLAIN_PROMPT}]
        )


# --- boto3 invoke_model -------------------------------------------------------------------------


def invoke_body(messages: list, **extra) -> str:
    return json.dumps({"anthropic_version": BEDROCK_VERSION, "max_tokens": MAX_TOKENS, "messages": messages, **extra})


def streamed_events(response) -> list[dict]:
    """The Anthropic events of an InvokeModelWithResponseStream reply, decoded by botocore."""
    events = []
    for event in response["body"]:
        assert set(event) == {"chunk"}, event
        events.append(json.loads(event["chunk"]["bytes"]))
    return events


@pytest.mark.parametrize("egress", EGRESS)
def test_boto3_invoke_model(runtime, egress: str) -> None:
    response = runtime.invoke_model(
        modelId=egress, body=invoke_body([{"role": "user", "content": PLAIN_PROMPT}])
    )
    assert response["contentType"].startswith("application/json")
    message = json.loads(response["body"].read())
    assert message["type"] == "message"
    assert "".join(b["text"] for b in message["content"] if b["type"] == "text") == echo(PLAIN_PROMPT)
    assert message["stop_reason"] == "end_turn"


@pytest.mark.parametrize("egress", EGRESS)
def test_boto3_invoke_model_with_response_stream(runtime, egress: str) -> None:
    response = runtime.invoke_model_with_response_stream(
        modelId=egress, body=invoke_body([{"role": "user", "content": PLAIN_PROMPT}])
    )
    events = streamed_events(response)
    kinds = [event["type"] for event in events]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop", kinds
    text = "".join(event["delta"].get("text", "") for event in events if event["type"] == "content_block_delta")
    assert text == echo(PLAIN_PROMPT)


@pytest.mark.parametrize("egress", EGRESS)
def test_boto3_tool_turn(runtime, egress: str) -> None:
    tools = [WEATHER.anthropic()]
    messages = [{"role": "user", "content": TOOL_PROMPT}]
    response = runtime.invoke_model(modelId=egress, body=invoke_body(messages, tools=tools))
    message = json.loads(response["body"].read())
    assert message["stop_reason"] == "tool_use"
    calls = [block for block in message["content"] if block["type"] == "tool_use"]
    assert [(call["name"], call["input"]) for call in calls] == [(WEATHER.name, WEATHER.arguments)]
    messages += [
        {"role": "assistant", "content": message["content"]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": calls[0]["id"], "content": WEATHER_RESULT}]},
    ]
    response = runtime.invoke_model_with_response_stream(modelId=egress, body=invoke_body(messages, tools=tools))
    events = streamed_events(response)
    text = "".join(event["delta"].get("text", "") for event in events if event["type"] == "content_block_delta")
    assert text == tool_result_reply(WEATHER_RESULT)


def test_boto3_errors_are_bedrock_exceptions(runtime) -> None:
    with pytest.raises(ClientError) as caught:
        runtime.invoke_model(modelId=UNKNOWN_MODEL, body=invoke_body([{"role": "user", "content": "x"}]))
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as caught:
        runtime.invoke_model(
            modelId=EGRESS[0], body=json.dumps({"anthropic_version": BEDROCK_VERSION, "messages": [{"role": "robot"}]})
        )
    assert caught.value.response["Error"]["Code"] == "ValidationException"


def test_a_bedrock_id_with_a_colon_is_read_as_sent(claude: anthropic.AnthropicBedrock) -> None:
    # The SDK leaves the `:` unencoded in the path; the 404 names the model as written.
    with pytest.raises(anthropic.NotFoundError) as caught:
        claude.messages.create(
            model="us.anthropic.no-such-model-v1:0",
            max_tokens=MAX_TOKENS,
            messages=[{"role": "user", "content": PLAIN_PROMPT}],
        )
    assert "us.anthropic.no-such-model-v1:0" in str(caught.value)
