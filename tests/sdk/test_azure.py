"""`openai.AzureOpenAI` against `busbar demo`, for every egress protocol.

The client calls `/openai/deployments/D/chat/completions?api-version=…` (the
deployment names the model) and `/openai/responses?api-version=…` (the model in
the body), with the Busbar key in the `api-key` header; a plain `OpenAI` client
with `base_url=…/openai/v1` calls the v1 API with it as a bearer token. The
`api-version` is ignored.
"""

from __future__ import annotations

import json
from typing import Iterator

import pytest
from openai import AzureOpenAI, OpenAI

from support import (
    PLAIN_PROMPT,
    TOOL_PROMPT,
    WEATHER,
    WEATHER_RESULT,
    echo,
    tool_preamble,
    tool_result_reply,
)

BUSBAR_KEY = "busbar-key"
API_VERSION = "2024-10-21"


@pytest.fixture(scope="session")
def azure(base_url: str) -> Iterator[AzureOpenAI]:
    client = AzureOpenAI(
        azure_endpoint=base_url,
        api_key=BUSBAR_KEY,
        api_version=API_VERSION,
        _strict_response_validation=True,
        max_retries=0,
        timeout=10,
    )
    yield client
    client.close()


@pytest.fixture(scope="session")
def azure_v1(base_url: str) -> Iterator[OpenAI]:
    client = OpenAI(base_url=f"{base_url}/openai/v1", api_key=BUSBAR_KEY, max_retries=0, timeout=10)
    yield client
    client.close()


@pytest.fixture(params=["deployments", "v1"])
def chat_client(request: pytest.FixtureRequest, azure: AzureOpenAI, azure_v1: OpenAI) -> OpenAI:
    return azure if request.param == "deployments" else azure_v1


def chat(client: OpenAI, egress: str, stream: bool, messages: list[dict], **params) -> tuple[str, list, str]:
    """The reply's text, tool calls (name, arguments, id) and finish reason."""
    if not stream:
        choice = client.chat.completions.create(model=egress, messages=messages, **params).choices[0]
        calls = [(c.function.name, json.loads(c.function.arguments), c.id) for c in choice.message.tool_calls or []]
        return choice.message.content or "", calls, choice.finish_reason
    text, finish, calls = "", None, {}
    for chunk in client.chat.completions.create(model=egress, messages=messages, stream=True, **params):
        for choice in chunk.choices:
            text += choice.delta.content or ""
            for call in choice.delta.tool_calls or []:
                entry = calls.setdefault(call.index, {"name": "", "arguments": "", "id": None})
                if call.id:
                    entry["id"] = call.id
                if call.function and call.function.name:
                    entry["name"] += call.function.name
                if call.function and call.function.arguments:
                    entry["arguments"] += call.function.arguments
            finish = choice.finish_reason or finish
    listed = [(c["name"], json.loads(c["arguments"]), c["id"]) for _, c in sorted(calls.items())]
    return text, listed, finish


def test_azure_chat_plain_text(chat_client: OpenAI, egress: str, stream: bool) -> None:
    text, calls, finish = chat(chat_client, egress, stream, [{"role": "user", "content": PLAIN_PROMPT}])
    assert (text, calls, finish) == (echo(PLAIN_PROMPT), [], "stop")


def test_azure_chat_path_names_the_deployment(azure: AzureOpenAI, egress: str) -> None:
    raw = azure.chat.completions.with_raw_response.create(
        model=egress, messages=[{"role": "user", "content": PLAIN_PROMPT}]
    )
    assert raw.http_request.url.path == f"/openai/deployments/{egress}/chat/completions"
    assert raw.http_request.url.params["api-version"] == API_VERSION
    assert raw.headers["x-busbar-model"] == egress


def test_azure_chat_tool_call_and_result(chat_client: OpenAI, egress: str, stream: bool) -> None:
    messages: list[dict] = [{"role": "user", "content": TOOL_PROMPT}]
    tools = [WEATHER.openai()]
    text, calls, finish = chat(chat_client, egress, stream, messages, tools=tools)
    assert text == tool_preamble(WEATHER)
    assert [(name, arguments) for name, arguments, _ in calls] == [(WEATHER.name, WEATHER.arguments)]
    assert finish == "tool_calls"
    name, arguments, call_id = calls[0]
    messages += [
        {
            "role": "assistant",
            "content": text,
            "tool_calls": [
                {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}
            ],
        },
        {"role": "tool", "tool_call_id": call_id, "content": WEATHER_RESULT},
    ]
    text, calls, finish = chat(chat_client, egress, stream, messages, tools=tools)
    assert (text, calls, finish) == (tool_result_reply(WEATHER_RESULT), [], "stop")


@pytest.fixture(params=["azure", "v1"])
def responses_client(request: pytest.FixtureRequest, azure: AzureOpenAI, azure_v1: OpenAI) -> OpenAI:
    return azure if request.param == "azure" else azure_v1


def respond(client: OpenAI, egress: str, stream: bool, **params):
    if not stream:
        return client.responses.create(model=egress, **params)
    with client.responses.stream(model=egress, **params) as events:
        return events.get_final_response()


def test_azure_responses_plain_text(responses_client: OpenAI, egress: str, stream: bool) -> None:
    response = respond(responses_client, egress, stream, input=PLAIN_PROMPT)
    assert response.output_text == echo(PLAIN_PROMPT)
    assert response.status == "completed"


def test_azure_responses_tool_call_and_result(responses_client: OpenAI, egress: str, stream: bool) -> None:
    tools = [WEATHER.responses()]
    first = respond(responses_client, egress, stream, input=TOOL_PROMPT, tools=tools)
    calls = [item for item in first.output if item.type == "function_call"]
    assert [(call.name, json.loads(call.arguments)) for call in calls] == [(WEATHER.name, WEATHER.arguments)]
    assert first.output_text == tool_preamble(WEATHER)
    history = [{"role": "user", "content": TOOL_PROMPT}]
    history += [item.model_dump(exclude_none=True) for item in first.output]
    history.append({"type": "function_call_output", "call_id": calls[0].call_id, "output": WEATHER_RESULT})
    second = respond(responses_client, egress, stream, input=history, tools=tools)
    assert second.output_text == tool_result_reply(WEATHER_RESULT)
