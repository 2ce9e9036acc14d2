"""The translation matrix through the official SDKs: each client protocol with its own SDK
(openai for chat completions and Responses, anthropic for Messages, google-genai for the
Gemini API) against every provider kind (OpenAI-compatible, Anthropic, Gemini, Azure),
streamed and not, for a text answer, a tool call and an upstream refusal. The Rust twin,
tests/tests/translation_matrix.rs, also checks the request log.
"""

from __future__ import annotations

import json
from typing import Iterator

import anthropic
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from test_openai_sdk import TOOL_INPUT, KeyGate, fake_url  # noqa: F401 (a fixture)

# Provider name (and its refusing twin with an "e"), kind, and the model its route serves.
KINDS = {"o": ("openai", "gpt-4o-mini"), "a": ("anthropic", "claude-sonnet-4-5"),
         "g": ("gemini", "gemini-2.5-flash"), "z": ("azure", "gpt-4o-mini")}  # fmt: skip
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}}
TEXT = "Hello!"


@pytest.fixture(scope="module")
def matrix(fake_url: str) -> Iterator[KeyGate]:  # noqa: F811
    extra, routes = [], {}
    for name, (kind, model) in KINDS.items():
        extra += [(name, kind, f"m{name}"), (f"{name}e", kind, f"e{name}")]
        routes[f"to-{name}"] = f"{name}:{model}"
        routes[f"err-{name}"] = f"{name}e:{model}"
    kg = KeyGate(fake_url, [], extra_providers=extra, routes=routes)
    yield kg
    kg.close()


def chat(kg: KeyGate, model: str, stream: bool, tool: bool) -> tuple[str, tuple[str, dict] | None]:
    tools = [{"type": "function", "function": {"name": "weather", "parameters": SCHEMA}}] if tool else openai.NOT_GIVEN
    messages = [{"role": "user", "content": "hi"}]
    client = kg.client()
    if not stream:
        message = client.chat.completions.create(model=model, messages=messages, tools=tools).choices[0].message
        calls = message.tool_calls or []
        return message.content or "", (calls[0].function.name, json.loads(calls[0].function.arguments)) if calls else None
    text, name, args = "", None, ""
    for chunk in client.chat.completions.create(model=model, messages=messages, tools=tools, stream=True):
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        text += delta.content or ""
        for call in delta.tool_calls or []:
            name = name or (call.function and call.function.name)
            args += (call.function and call.function.arguments) or ""
    return text, (name, json.loads(args)) if name else None


def responses(kg: KeyGate, model: str, stream: bool, tool: bool) -> tuple[str, tuple[str, dict] | None]:
    tools = [{"type": "function", "name": "weather", "parameters": SCHEMA}] if tool else openai.NOT_GIVEN
    client = kg.client()
    if stream:
        with client.responses.stream(model=model, input="hi", tools=tools) as events:
            deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
            response = events.get_final_response()
        assert deltas == response.output_text
    else:
        response = client.responses.create(model=model, input="hi", tools=tools)
    calls = [item for item in response.output if item.type == "function_call"]
    return response.output_text, (calls[0].name, json.loads(calls[0].arguments)) if calls else None


def messages(kg: KeyGate, model: str, stream: bool, tool: bool) -> tuple[str, tuple[str, dict] | None]:
    client = anthropic.Anthropic(base_url=kg.base_url.removesuffix("/v1"), api_key=kg.token, max_retries=0, timeout=30)
    tools = [{"name": "weather", "input_schema": SCHEMA}] if tool else anthropic.NOT_GIVEN
    request = {"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}], "tools": tools}
    if stream:
        with client.messages.stream(**request) as events:
            message = events.get_final_message()
    else:
        message = client.messages.create(**request)
    text = "".join(block.text for block in message.content if block.type == "text")
    uses = [block for block in message.content if block.type == "tool_use"]
    return text, (uses[0].name, uses[0].input) if uses else None


def gemini(kg: KeyGate, model: str, stream: bool, tool: bool) -> tuple[str, tuple[str, dict] | None]:
    sdk = genai.Client(api_key=kg.token, http_options=types.HttpOptions(base_url=kg.base_url.removesuffix("/v1")))
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[types.FunctionDeclaration(name="weather", parameters_json_schema=SCHEMA)])]
        if tool
        else None,
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    if stream:
        chunks = list(sdk.models.generate_content_stream(model=model, contents="hi", config=config))
    else:
        chunks = [sdk.models.generate_content(model=model, contents="hi", config=config)]
    text = "".join(part.text or "" for c in chunks if c.candidates for part in (c.candidates[0].content.parts or []))
    calls = [call for c in chunks for call in (c.function_calls or [])]
    return text, (calls[0].name, calls[0].args) if calls else None


CLIENTS = {"chat": chat, "responses": responses, "messages": messages, "gemini": gemini}
REFUSED = {
    "chat": openai.BadRequestError,
    "responses": openai.BadRequestError,
    "messages": anthropic.BadRequestError,
    "gemini": genai_errors.ClientError,
}


@pytest.mark.parametrize("case", ["text", "tool", "error"])
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("kind", list(KINDS), ids=[kind for kind, _ in KINDS.values()])
@pytest.mark.parametrize("client", list(CLIENTS))
def test_sdk_matrix(matrix: KeyGate, client: str, kind: str, stream: bool, case: str) -> None:
    call = CLIENTS[client]
    if case == "error":
        with pytest.raises(REFUSED[client]) as refused:
            call(matrix, f"err-{kind}", stream, False)
        status = getattr(refused.value, "status_code", None) or getattr(refused.value, "code", None)
        assert status == 400, refused.value
        return
    text, tool = call(matrix, f"to-{kind}", stream, case == "tool")
    if case == "text":
        assert (text, tool) == (TEXT, None)
    else:
        assert tool == ("weather", TOOL_INPUT), (text, tool)
