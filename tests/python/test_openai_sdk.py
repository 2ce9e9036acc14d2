"""KeyGate's proxy driven by the official `openai` Python SDK, end to end over real sockets.

A fake OpenAI-style provider (`fake-upstream`, from the keygate-tests crate) and `keygate serve`
run as child processes on port 0, set up through the real CLI, each KeyGate in its own
KEYGATE_HOME and keyring service. Nothing here calls a real provider.

Run by `make test-python`, which sets KEYGATE_BIN and FAKE_UPSTREAM_BIN.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import tempfile
import threading
import uuid
from pathlib import Path
from typing import IO, Iterator

import openai
import pytest

READY_TIMEOUT_SECS = 30
ADMIN_TOKEN = "kg-admin-python-sdk-000000000000"
CHAT_MODEL = "gpt-4o-mini"
EMBEDDING_MODEL = "text-embedding-3-small"
MESSAGES = [{"role": "user", "content": "hi"}]

# Every key the fake knows, and how it answers.
KEYS = {
    "ok": "sk-fake-pyok-000000000000000001",
    "revoked": "sk-fake-pyrevoked-0000000000001",
    "broken": "sk-fake-pybroken-00000000000001",
    "working": "sk-fake-pyworking-0000000000001",
    "cutoff": "sk-fake-pycutoff-00000000000001",
    "longcut": "sk-fake-pylongcut-0000000000001",
    "long": "sk-fake-pylong-000000000000001",
    # The SDK matrix (test_sdk_matrix.py): a working and a refusing key per provider kind.
    **{f"m{kind}": f"sk-fake-pym{kind}-0000000000000001" for kind in "oagz"},
    **{f"e{kind}": f"sk-fake-pye{kind}-0000000000000001" for kind in "oagz"},
}
BEHAVIOURS = {
    "ok": "ok", "revoked": "401", "broken": "503", "working": "ok", "cutoff": "cut2",
    "longcut": "longcut40", "long": "long",
    **{f"m{kind}": "ok" for kind in "oagz"}, **{f"e{kind}": "400" for kind in "oagz"},
}  # fmt: skip
# The fake's long answer (fake_upstream::long_answer): 60 pieces.
LONG_ANSWER = "".join(f"w{i} " for i in range(59)) + "w59."


def _binary(var: str, name: str) -> str:
    path = os.environ.get(var)
    if not path:
        bin_dir = os.environ.get("KEYGATE_BIN_DIR") or os.path.join(
            os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/keygate/target")), "debug"
        )
        path = os.path.join(bin_dir, name)
    if not os.access(path, os.X_OK):
        pytest.fail(f"{name} is not built at {path}: run `make build` (or set {var})")
    return path


class LineReader:
    """Reads a child's stdout on a thread so the test can wait for a line with a deadline."""

    def __init__(self, stream: IO[str]) -> None:
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def wait_for(self, prefix: str, what: str, proc: subprocess.Popen[str]) -> str:
        while True:
            try:
                line = self._lines.get(timeout=READY_TIMEOUT_SECS)
            except queue.Empty:
                raise AssertionError(f"{what} printed no {prefix!r} line in {READY_TIMEOUT_SECS}s") from None
            if line is None:
                raise AssertionError(f"{what} exited ({proc.wait()}) before printing {prefix!r}")
            if line.startswith(prefix):
                return line[len(prefix) :]


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def fake_url() -> Iterator[str]:
    args = [_binary("FAKE_UPSTREAM_BIN", "fake-upstream")]
    args += [f"{KEYS[label]}={behaviour}" for label, behaviour in BEHAVIOURS.items()]
    # stdin stays open as a pipe: closing it (or our exit) ends the fake.
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        yield LineReader(proc.stdout).wait_for("FAKE_UPSTREAM_URL=", "fake-upstream", proc)
    finally:
        _stop(proc)


# Where tools look instead of HOME (tests/src/session.rs has the same list).
CONNECT_OVERRIDES = (
    "CLAUDE_CONFIG_DIR", "CODEX_HOME", "GEMINI_CLI_HOME", "OPENCODE_CONFIG",
    "CONTINUE_GLOBAL_DIR", "XDG_CONFIG_HOME", "ZDOTDIR", "SHELL",
)  # fmt: skip


class KeyGate:
    """One private KeyGate (own home, own keyring service) with a provider `fake` and `keys`."""

    def __init__(
        self,
        fake_url: str,
        keys: list[tuple[str, int]],
        settings: dict[str, str] | None = None,
        fallback: str | None = None,
        provider: tuple[str, str] = ("fake", "openai"),
        routes: dict[str, str] | None = None,
        extra_providers: list[tuple[str, str, str]] | None = None,
    ) -> None:
        """`fallback`: the label of a key on a second provider `backup`, and a route `story`
        that tries `fake` (gpt-4o-mini) first, then `backup` (gpt-4o). `provider`: the name
        and kind of the keys' provider (an Anthropic-kind one is served at the fake's root).
        `extra_providers`: more providers, each (name, kind, label of its one key)."""
        self._dir = tempfile.TemporaryDirectory(prefix="keygate-pysdk-")
        self.bin = _binary("KEYGATE_BIN", "keygate")
        self.env = {k: v for k, v in os.environ.items() if k not in ("KEYGATE_ADMIN_TOKEN", "KEYGATE_PORT", *CONNECT_OVERRIDES)}
        self.env["KEYGATE_HOME"] = str(Path(self._dir.name) / "home")
        # `keygate connect` writes tools' files under HOME: this KeyGate's own, never the user's.
        self.user_home = Path(self._dir.name) / "user"
        self.user_home.mkdir()
        self.env["HOME"] = str(self.user_home)
        self.env["KEYGATE_KEYRING_SERVICE"] = f"keygate-pysdk-{uuid.uuid4().hex}"
        # No background probes: they would add requests to the fake this test does not expect.
        self.env["KEYGATE_HEALTH_CHECKER"] = "off"
        self.env["KEYGATE_LOG"] = "warn"
        self._proc: subprocess.Popen[str] | None = None
        self._stderr = open(Path(self._dir.name) / "serve.stderr", "w+")

        name, kind = provider
        root = fake_url.removesuffix("/v1")
        url = {"anthropic": root, "gemini": f"{root}/v1beta"}.get(kind, fake_url)
        self.cli("provider", "add", name, "--kind", kind, "--base-url", url)
        for label, priority in keys:
            var = f"KG_PYSDK_SECRET_{label.upper()}"
            self.env[var] = KEYS[label]
            self.cli(
                "key", "add", "--provider", name, "--label", label,
                "--priority", str(priority), "--secret-env", var,
            )  # fmt: skip
        if fallback is not None:
            self.cli("provider", "add", "backup", "--kind", "openai", "--base-url", fake_url, "--priority", "1")
            var = f"KG_PYSDK_SECRET_{fallback.upper()}"
            self.env[var] = KEYS[fallback]
            self.cli("key", "add", "--provider", "backup", "--label", fallback, "--secret-env", var)
            self.cli("route", "add", "story", "--to", f"fake:{CHAT_MODEL},backup:gpt-4o")
        for extra, extra_kind, label in extra_providers or []:
            root = fake_url.removesuffix("/v1")
            base = {"openai": fake_url, "gemini": f"{root}/v1beta"}.get(extra_kind, root)
            self.cli("provider", "add", extra, "--kind", extra_kind, "--base-url", base)
            var = f"KG_PYSDK_SECRET_{label.upper()}"
            self.env[var] = KEYS[label]
            self.cli("key", "add", "--provider", extra, "--label", label, "--secret-env", var)
        for alias, targets in (routes or {}).items():
            self.cli("route", "add", alias, "--to", targets)
        for name, value in (settings or {}).items():
            self.cli("settings", "set", name, value)
        self.token = json.loads(self.cli("--json", "token", "create", "python-sdk"))["token"]

        self._proc = subprocess.Popen(
            [self.bin, "serve", "--port", "0"],
            env={**self.env, "KEYGATE_ADMIN_TOKEN": ADMIN_TOKEN},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        assert self._proc.stdout is not None
        try:
            ui = LineReader(self._proc.stdout).wait_for("Web UI: ", "keygate serve", self._proc)
        except AssertionError as err:
            raise AssertionError(f"{err}\n{self.stderr()}") from None
        self.base_url = ui.split("/#token=")[0] + "/v1"

    def cli(self, *args: str) -> str:
        """`keygate ARGS` on this home; once the engine runs, with its admin token, so a change
        is in force in the engine when the command returns (as for a user's CLI)."""
        env = self.env if self._proc is None else {**self.env, "KEYGATE_ADMIN_TOKEN": ADMIN_TOKEN}
        out = subprocess.run([self.bin, *args], env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, f"keygate {args} failed ({out.returncode}):\n{out.stdout}{out.stderr}"
        return out.stdout

    def client(self, api_key: str | None = None) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.base_url, api_key=api_key or self.token, max_retries=0, timeout=30)

    def stderr(self) -> str:
        self._stderr.flush()
        self._stderr.seek(0)
        return self._stderr.read()

    def close(self) -> None:
        if self._proc is not None:
            _stop(self._proc)
        self._stderr.close()
        self._dir.cleanup()


@pytest.fixture(scope="session")
def keygate(fake_url: str) -> Iterator[KeyGate]:
    kg = KeyGate(fake_url, [("ok", 0)])
    yield kg
    kg.close()


@pytest.fixture(scope="session")
def failover_keygate(fake_url: str) -> Iterator[KeyGate]:
    kg = KeyGate(fake_url, [("revoked", 0), ("broken", 1), ("working", 2)])
    yield kg
    kg.close()


@pytest.fixture(scope="session")
def cut_keygate(fake_url: str) -> Iterator[KeyGate]:
    # One attempt: nothing can continue the cut stream.
    kg = KeyGate(fake_url, [("cutoff", 0)], settings={"proxy.max_attempts": "1"})
    yield kg
    kg.close()


@pytest.fixture(scope="session")
def rescue_keygate(fake_url: str) -> Iterator[KeyGate]:
    """Route `story`: a primary whose streams break after 40 of 60 pieces, then a fallback."""
    kg = KeyGate(fake_url, [("longcut", 0)], fallback="long")
    yield kg
    kg.close()


@pytest.fixture(scope="session", params=[("claude", "anthropic"), ("deepseek", "openai")], ids=["anthropic", "chat-only"])
def translated_keygate(fake_url: str, request: pytest.FixtureRequest) -> Iterator[KeyGate]:
    """Keys on a provider without a Responses API: Responses clients are translated."""
    kg = KeyGate(fake_url, [("ok", 0)], provider=request.param)
    yield kg
    kg.close()


WEATHER_TOOL = {
    "type": "function",
    "name": "weather",
    "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}
# The fake's tool arguments (fake_upstream::fake_tool_input).
TOOL_INPUT = {"city": "Paris", "days": [1, 2], "units": "celsius", "note": 'a "quoted" word'}


def test_responses_on_a_provider_without_the_responses_api(translated_keygate: KeyGate) -> None:
    client = translated_keygate.client()
    response = client.responses.create(model=CHAT_MODEL, instructions="Be brief.", input="hi")
    assert response.output_text == "Hello!"
    assert response.status == "completed"
    assert response.usage is not None and response.usage.output_tokens > 0

    with client.responses.stream(model=CHAT_MODEL, input="hi") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == "Hello!"
    assert final.output_text == "Hello!"
    assert final.usage is not None and final.usage.output_tokens > 0


def test_responses_tool_calls_round_trip_on_a_provider_without_the_responses_api(translated_keygate: KeyGate) -> None:
    client = translated_keygate.client()
    for streamed in (False, True):
        if streamed:
            with client.responses.stream(model=CHAT_MODEL, input="Weather in Paris?", tools=[WEATHER_TOOL]) as stream:
                argument_deltas = [e.delta for e in stream if e.type == "response.function_call_arguments.delta"]
                response = stream.get_final_response()
            assert len(argument_deltas) > 1, "arguments arrive in pieces"
        else:
            response = client.responses.create(model=CHAT_MODEL, input="Weather in Paris?", tools=[WEATHER_TOOL])
        calls = [item for item in response.output if item.type == "function_call"]
        assert len(calls) == 1, response.output
        assert calls[0].name == "weather"
        assert json.loads(calls[0].arguments) == TOOL_INPUT
        # The tool's answer goes back as Codex sends it: the whole conversation, no stored state.
        follow_up = client.responses.create(
            model=CHAT_MODEL,
            store=False,
            tools=[WEATHER_TOOL],
            input=[
                {"role": "user", "content": "Weather in Paris?"},
                {"type": "function_call", "call_id": calls[0].call_id, "name": "weather", "arguments": calls[0].arguments},
                {"type": "function_call_output", "call_id": calls[0].call_id, "output": "18C and sunny"},
            ],
        )
        assert "18C and sunny" in follow_up.output_text, follow_up.output


def test_chat_completion(keygate: KeyGate) -> None:
    response = keygate.client().chat.completions.create(model=CHAT_MODEL, messages=MESSAGES)
    assert response.choices[0].message.content == "Hello!"
    assert response.choices[0].finish_reason == "stop"
    assert response.usage is not None
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (11, 3)


def test_streaming_chat_without_usage_sees_no_usage_chunk(keygate: KeyGate) -> None:
    stream = keygate.client().chat.completions.create(model=CHAT_MODEL, messages=MESSAGES, stream=True)
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello!"
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert [c.usage for c in chunks if c.usage is not None] == [], "KeyGate must strip the usage it added"


def test_streaming_chat_with_usage_sees_exactly_one_usage_chunk(keygate: KeyGate) -> None:
    stream = keygate.client().chat.completions.create(
        model=CHAT_MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello!"
    usages = [c.usage for c in chunks if c.usage is not None]
    assert len(usages) == 1, chunks
    assert usages[0].total_tokens == 14
    assert chunks[-1].usage is not None and chunks[-1].choices == [], "the usage chunk comes last"


def test_embeddings(keygate: KeyGate) -> None:
    response = keygate.client().embeddings.create(model=EMBEDDING_MODEL, input="hi")
    assert len(response.data) == 1
    vector = response.data[0].embedding
    assert len(vector) == 3 and all(isinstance(x, float) for x in vector)


def test_responses_api(keygate: KeyGate) -> None:
    response = keygate.client().responses.create(model=CHAT_MODEL, input="hi")
    assert response.output_text == "Hello!"
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens) == (11, 3)


def test_responses_api_streaming(keygate: KeyGate) -> None:
    stream = keygate.client().responses.create(model=CHAT_MODEL, input="hi", stream=True)
    events = list(stream)
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "Hello!"
    assert events[-1].type == "response.completed"
    assert events[-1].response.usage is not None and events[-1].response.usage.total_tokens == 14


def test_failover_401_then_503_then_ok(failover_keygate: KeyGate) -> None:
    raw = failover_keygate.client().chat.completions.with_raw_response.create(model=CHAT_MODEL, messages=MESSAGES)
    assert raw.headers.get("x-keygate-attempts") == "3"
    assert raw.headers.get("x-keygate-key") == "working"
    assert raw.headers.get("x-keygate-request-id")
    assert raw.parse().choices[0].message.content == "Hello!"


def test_a_chat_stream_cut_midway_is_finished_by_the_fallback_in_one_stream(rescue_keygate: KeyGate) -> None:
    stream = rescue_keygate.client().chat.completions.create(
        model="story",
        messages=[{"role": "user", "content": "Tell me a long story"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == LONG_ANSWER
    assert len({c.id for c in chunks}) == 1, "the continuation keeps the first answer's id"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    usages = [c.usage for c in chunks if c.usage is not None]
    assert len(usages) == 1 and chunks[-1].usage is not None
    # The fallback's 20 pieces plus the broken attempt's tokens (estimated from its text).
    assert usages[0].completion_tokens > 20


def test_a_responses_stream_cut_midway_is_finished_by_the_fallback(rescue_keygate: KeyGate) -> None:
    # The SDK's stream helper builds the response from the events: it fails on an event for
    # an item or part it was not told about, so the splice must be well-formed.
    with rescue_keygate.client().responses.stream(model="story", input="Tell me a long story") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == LONG_ANSWER
    assert final.output_text == LONG_ANSWER
    assert final.usage is not None and final.usage.output_tokens > 20


def test_a_cut_stream_is_an_error_not_a_silent_truncation(cut_keygate: KeyGate) -> None:
    stream = cut_keygate.client().chat.completions.create(model=CHAT_MODEL, messages=MESSAGES, stream=True)
    seen: list[str] = []
    with pytest.raises(openai.APIError) as raised:
        for chunk in stream:
            if chunk.choices:
                seen.append(chunk.choices[0].delta.content or "")
    assert "".join(seen) == "Hello", "the deltas before the cut still arrive"
    assert isinstance(raised.value.body, dict) and raised.value.body.get("code") == "stream_broken", raised.value.body


def test_a_bad_token_is_an_authentication_error(keygate: KeyGate) -> None:
    with pytest.raises(openai.AuthenticationError) as raised:
        keygate.client(api_key="kg-not-a-real-token").chat.completions.create(model=CHAT_MODEL, messages=MESSAGES)
    assert raised.value.status_code == 401
    assert KEYS["ok"] not in str(raised.value)
