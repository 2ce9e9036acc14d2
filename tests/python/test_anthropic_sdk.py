"""KeyGate's Anthropic Messages API driven by the official `anthropic` Python SDK, end to end.

The same set-up as test_openai_sdk.py: the fake provider (`fake-upstream`) and `keygate serve`
run as child processes on port 0, configured through the real CLI, each KeyGate in its own
KEYGATE_HOME and keyring service. One KeyGate has an `anthropic`-kind provider (native
pass-through), the other an `openai`-kind one (the same conversation through translation).

Run by `make test-python`, which sets KEYGATE_BIN and FAKE_UPSTREAM_BIN.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Iterator

import anthropic
import pytest

from test_openai_sdk import LineReader, _binary, _stop

ADMIN_TOKEN = "kg-admin-python-anthropic-000000"
MODEL = "claude-sonnet-5-5"
MESSAGES = [{"role": "user", "content": "hi"}]
TOOLS = [
    {
        "name": "weather",
        "description": "The weather in a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
]
# What the fake's tool calls carry (fake_upstream::fake_tool_input).
TOOL_INPUT = {"city": "Paris", "days": [1, 2], "units": "celsius", "note": 'a "quoted" word'}
KEYS = {"anthropic": "sk-ant-fake-pysdk-000000000001", "openai": "sk-fake-pysdk-anthropic-000001"}
# An Anthropic key the fake refuses (401), tried first in the failover test.
REVOKED = "sk-ant-fake-pysdk-revoked-00001"
# Stream rescue: a primary whose streams break after 40 of 60 pieces, and fallbacks that
# continue them (by prefill, or refusing it and so asked by instruction).
RESCUE_KEYS = {
    "longcut40": "sk-ant-fake-pysdk-longcut-00001",
    "long": "sk-ant-fake-pysdk-long-000000001",
    "noprefill": "sk-ant-fake-pysdk-noprefill-001",
}
LONG_ANSWER = "".join(f"w{i} " for i in range(59)) + "w59."
KNOWN_EVENTS = {
    "message_start", "content_block_start", "content_block_delta", "content_block_stop",
    "message_delta", "message_stop", "text", "input_json", "ping",
}  # fmt: skip


@pytest.fixture(scope="module")
def fake_root() -> Iterator[str]:
    """The fake's root URL (Anthropic's base-URL convention; OpenAI kinds add /v1)."""
    args = [_binary("FAKE_UPSTREAM_BIN", "fake-upstream")] + [f"{secret}=ok" for secret in KEYS.values()]
    args.append(f"{REVOKED}=401")
    args += [f"{secret}={behaviour}" for behaviour, secret in RESCUE_KEYS.items()]
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = LineReader(proc.stdout).wait_for("FAKE_UPSTREAM_URL=", "fake-upstream", proc)
        yield url.removesuffix("/v1")
    finally:
        _stop(proc)


class KeyGate:
    """A private KeyGate whose only provider is the fake, as `kind`."""

    def __init__(
        self, fake_root: str, kind: str, revoked_first: bool = False, rescue: tuple[str, str] | None = None
    ) -> None:
        """`rescue`: (fallback behaviour, fallback model). The provider's key breaks its streams
        off; a second provider `backup` has a key of that behaviour, and the route `story`
        tries the first with a model that takes a prefill, then `backup` with that model."""
        self.kind = kind
        self._dir = tempfile.TemporaryDirectory(prefix="keygate-pyanthropic-")
        self.bin = _binary("KEYGATE_BIN", "keygate")
        self.env = {k: v for k, v in os.environ.items() if k not in ("KEYGATE_ADMIN_TOKEN", "KEYGATE_PORT")}
        self.env["KEYGATE_HOME"] = str(Path(self._dir.name) / "home")
        self.env["KEYGATE_KEYRING_SERVICE"] = f"keygate-pyanthropic-{uuid.uuid4().hex}"
        self.env["KEYGATE_HEALTH_CHECKER"] = "off"
        self.env["KEYGATE_LOG"] = "warn"
        self.env["KG_PYANTHROPIC_SECRET"] = RESCUE_KEYS["longcut40"] if rescue else KEYS[kind]
        self._stderr = open(Path(self._dir.name) / "serve.stderr", "w+")
        base = fake_root if kind == "anthropic" else f"{fake_root}/v1"
        self.cli("provider", "add", kind, "--kind", kind, "--base-url", base)
        if revoked_first:
            self.env["KG_PYANTHROPIC_REVOKED"] = REVOKED
            self.cli(
                "key", "add", "--provider", kind, "--label", "revoked", "--priority", "-1",
                "--secret-env", "KG_PYANTHROPIC_REVOKED",
            )  # fmt: skip
        self.cli("key", "add", "--provider", kind, "--label", kind, "--secret-env", "KG_PYANTHROPIC_SECRET")
        if rescue is not None:
            behaviour, model = rescue
            self.env["KG_PYANTHROPIC_BACKUP"] = RESCUE_KEYS[behaviour]
            self.cli("provider", "add", "backup", "--kind", kind, "--base-url", base, "--priority", "1")
            self.cli("key", "add", "--provider", "backup", "--label", "backup", "--secret-env", "KG_PYANTHROPIC_BACKUP")
            self.cli("route", "add", "story", "--to", f"{kind}:claude-3-7-sonnet-20250219,backup:{model}")
        self.token = json.loads(self.cli("--json", "token", "create", "python-anthropic"))["token"]
        self._proc = subprocess.Popen(
            [self.bin, "serve", "--port", "0"],
            env={**self.env, "KEYGATE_ADMIN_TOKEN": ADMIN_TOKEN},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        assert self._proc.stdout is not None
        ui = LineReader(self._proc.stdout).wait_for("Web UI: ", "keygate serve", self._proc)
        # The Anthropic SDK's base URL is the root: it appends /v1/messages itself.
        self.base_url = ui.split("/#token=")[0]

    def cli(self, *args: str) -> str:
        out = subprocess.run([self.bin, *args], env=self.env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, f"keygate {args} failed ({out.returncode}):\n{out.stdout}{out.stderr}"
        return out.stdout

    def client(self, api_key: str | None = None) -> anthropic.Anthropic:
        return anthropic.Anthropic(base_url=self.base_url, api_key=api_key or self.token, max_retries=0, timeout=30)

    def close(self) -> None:
        _stop(self._proc)
        self._stderr.close()
        self._dir.cleanup()


@pytest.fixture(scope="module", params=["anthropic", "openai"])
def keygate(request: pytest.FixtureRequest, fake_root: str) -> Iterator[KeyGate]:
    """Each test runs twice: natively against Anthropic, and translated to an OpenAI-kind provider."""
    kg = KeyGate(fake_root, request.param)
    yield kg
    kg.close()


def test_messages_create(keygate: KeyGate) -> None:
    message = keygate.client().messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
    assert message.type == "message" and message.role == "assistant"
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == "Hello!"
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens == 3
    assert message.usage.cache_read_input_tokens in (7, 2), "the fakes' cached tokens"


def test_messages_stream(keygate: KeyGate) -> None:
    with keygate.client().messages.stream(model=MODEL, max_tokens=64, messages=MESSAGES) as stream:
        events = list(stream)
        final = stream.get_final_message()
    assert events, "the stream had events"
    assert {event.type for event in events} <= KNOWN_EVENTS, [event.type for event in events]
    assert "".join(event.text for event in events if event.type == "text") == "Hello!"
    assert events[-1].type == "message_stop"
    assert final.content[0].text == "Hello!"
    assert final.usage.output_tokens == 3


def test_tool_use_round_trip(keygate: KeyGate) -> None:
    client = keygate.client()
    with client.messages.stream(model=MODEL, max_tokens=64, messages=MESSAGES, tools=TOOLS) as stream:
        streamed = stream.get_final_message()
    message = client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES, tools=TOOLS)
    for answer in (streamed, message):
        assert answer.stop_reason == "tool_use"
        tool_use = [block for block in answer.content if block.type == "tool_use"]
        assert len(tool_use) == 1 and tool_use[0].name == "weather"
        assert tool_use[0].input == TOOL_INPUT, "the tool input arrives exactly"
    tool_use = next(block for block in message.content if block.type == "tool_use")
    follow_up = client.messages.create(
        model=MODEL,
        max_tokens=64,
        tools=TOOLS,
        messages=[
            *MESSAGES,
            {"role": "assistant", "content": [block.model_dump() for block in message.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_use.id, "content": "18°C"}]},
        ],
    )
    assert follow_up.content[0].text == "Tool said: 18°C"


def test_count_tokens(keygate: KeyGate) -> None:
    client = keygate.client()
    if keygate.kind == "openai":
        with pytest.raises(anthropic.NotFoundError) as raised:
            client.messages.count_tokens(model=MODEL, messages=MESSAGES)
        assert "Anthropic-kind provider" in str(raised.value)
        return
    counted = client.messages.count_tokens(model=MODEL, messages=MESSAGES)
    assert counted.input_tokens == 42


def test_a_bad_token_is_an_authentication_error(keygate: KeyGate) -> None:
    with pytest.raises(anthropic.AuthenticationError) as raised:
        keygate.client(api_key="kg-not-a-real-token").messages.create(model=MODEL, max_tokens=8, messages=MESSAGES)
    assert raised.value.status_code == 401
    assert isinstance(raised.value.body, dict) and raised.value.body.get("type") == "error"
    assert all(secret not in str(raised.value) for secret in KEYS.values())


def test_an_unknown_tool_result_is_refused_with_invalid_request(keygate: KeyGate) -> None:
    bad = [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_nowhere", "content": "x"}]}]
    if keygate.kind == "anthropic":
        pytest.skip("passed through untouched: only the translating path checks tool ids")
    with pytest.raises(anthropic.BadRequestError) as raised:
        keygate.client().messages.create(model=MODEL, max_tokens=8, messages=bad)
    assert raised.value.body["error"]["type"] == "invalid_request_error"


def test_failover_between_two_anthropic_keys(fake_root: str) -> None:
    """The first key is refused (401): the SDK call still succeeds, served by the second key."""
    kg = KeyGate(fake_root, "anthropic", revoked_first=True)
    try:
        raw = kg.client().messages.with_raw_response.create(model=MODEL, max_tokens=64, messages=MESSAGES)
        message = raw.parse()
        assert message.content[0].text == "Hello!"
        assert raw.headers["x-keygate-attempts"] == "2"
        assert raw.headers["x-keygate-key"] == "anthropic"
    finally:
        kg.close()


@pytest.mark.parametrize(
    "fallback",
    [("long", "claude-3-7-sonnet-20250219"), ("noprefill", "claude-sonnet-4-5")],
    ids=["prefill", "prefill-refused"],
)
def test_a_stream_cut_midway_is_finished_by_the_fallback_in_one_message(
    fake_root: str, fallback: tuple[str, str]
) -> None:
    """The SDK's stream helper builds the message from the events: a second message_start, a
    block it was not told about or an error event would fail it."""
    kg = KeyGate(fake_root, "anthropic", rescue=fallback)
    try:
        request = [{"role": "user", "content": "Tell me a long story"}]
        with kg.client().messages.stream(model="story", max_tokens=1000, messages=request) as stream:
            events = list(stream)
            final = stream.get_final_message()
        assert "".join(event.text for event in events if event.type == "text") == LONG_ANSWER
        assert [event.type for event in events].count("message_start") == 1
        assert [block.type for block in final.content] == ["text"]
        assert final.content[0].text == LONG_ANSWER
        assert final.stop_reason == "end_turn"
        assert final.usage.output_tokens > 20, "both attempts' output tokens"
    finally:
        kg.close()
