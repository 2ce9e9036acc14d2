"""KeyGate's Gemini API driven by the official google-genai SDK, on providers that are not
Gemini: the SDK's calls are translated through KeyGate's hub to Anthropic Messages and to
chat completions, and the answers back, with the same fake provider and harness as
test_openai_sdk.py.
"""

from __future__ import annotations

from typing import Iterator

import pytest
from google import genai
from google.genai import types

from test_openai_sdk import CHAT_MODEL, TOOL_INPUT, KeyGate, fake_url  # noqa: F401 (a fixture)


@pytest.fixture(scope="module", params=[("claude", "anthropic"), ("deepseek", "openai")], ids=["anthropic", "chat-only"])
def gemini_keygate(fake_url: str, request: pytest.FixtureRequest) -> Iterator[KeyGate]:  # noqa: F811
    kg = KeyGate(fake_url, [("ok", 0)], provider=request.param)
    yield kg
    kg.close()


def client(kg: KeyGate) -> genai.Client:
    root = kg.base_url.removesuffix("/v1")
    return genai.Client(api_key=kg.token, http_options=types.HttpOptions(base_url=root, timeout=30_000))


WEATHER = types.Tool(
    function_declarations=[
        types.FunctionDeclaration(
            name="weather",
            description="The weather in a city",
            parameters_json_schema={"type": "object", "properties": {"city": {"type": "string"}}},
        )
    ]
)
NO_AUTOMATIC_CALLS = types.AutomaticFunctionCallingConfig(disable=True)


def test_generate_content_and_its_stream(gemini_keygate: KeyGate) -> None:
    sdk = client(gemini_keygate)  # the SDK closes its HTTP client when this goes away
    models = sdk.models
    config = types.GenerateContentConfig(system_instruction="Be brief.", max_output_tokens=50)
    response = models.generate_content(model=CHAT_MODEL, contents="hi", config=config)
    assert response.text == "Hello!"
    assert response.usage_metadata is not None and response.usage_metadata.total_token_count
    assert response.candidates and response.candidates[0].finish_reason == types.FinishReason.STOP

    chunks = list(models.generate_content_stream(model=CHAT_MODEL, contents="hi", config=config))
    assert "".join(c.text or "" for c in chunks) == "Hello!"
    assert chunks[-1].usage_metadata is not None and chunks[-1].usage_metadata.candidates_token_count


def test_function_calls_round_trip(gemini_keygate: KeyGate) -> None:
    sdk = client(gemini_keygate)  # the SDK closes its HTTP client when this goes away
    models = sdk.models
    config = types.GenerateContentConfig(tools=[WEATHER], automatic_function_calling=NO_AUTOMATIC_CALLS)
    question = types.Content(role="user", parts=[types.Part.from_text(text="Weather in Paris?")])
    for streamed in (False, True):
        if streamed:
            chunks = list(models.generate_content_stream(model=CHAT_MODEL, contents=[question], config=config))
            calls = [call for chunk in chunks for call in (chunk.function_calls or [])]
        else:
            response = models.generate_content(model=CHAT_MODEL, contents=[question], config=config)
            calls = response.function_calls or []
        assert len(calls) == 1, calls
        assert calls[0].name == "weather"
        assert calls[0].args == TOOL_INPUT
        follow_up = models.generate_content(
            model=CHAT_MODEL,
            config=config,
            contents=[
                question,
                types.Content(role="model", parts=[types.Part(function_call=calls[0])]),
                types.Content(
                    role="user",
                    parts=[types.Part.from_function_response(name="weather", response={"output": "18C and sunny"})],
                ),
            ],
        )
        assert follow_up.text is not None and "18C and sunny" in follow_up.text, follow_up
