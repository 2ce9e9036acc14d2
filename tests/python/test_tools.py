"""The real coding tools people point at KeyGate, pinned in tests/tools/package.json and run
as their users run them, against `keygate serve` and the fake provider (nothing else is
reachable). Run by `make test-python`, which sets KEYGATE_BIN, FAKE_UPSTREAM_BIN and
KEYGATE_TOOLS_BIN (tests/tools/node_modules/.bin).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from test_openai_sdk import ADMIN_TOKEN, KeyGate, fake_url  # noqa: F401 (fake_url is a fixture)

TOOL_TIMEOUT_SECS = 120


def _tool(name: str) -> str:
    directory = os.environ.get("KEYGATE_TOOLS_BIN") or str(
        Path(__file__).resolve().parents[1] / "tools" / "node_modules" / ".bin"
    )
    path = Path(directory) / name
    if not path.exists():
        pytest.fail(f"{name} is not installed in {directory}: run scripts/setup.sh test")
    return str(path)


def _logs(kg: KeyGate) -> list[dict]:
    request = urllib.request.Request(
        kg.base_url.removesuffix("/v1") + "/api/logs",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer)["requests"]


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Runs a tool as its users do, with only `env` (PATH added) and no terminal."""
    run = subprocess.run(
        args,
        cwd=cwd,
        env={"PATH": os.environ["PATH"], "NO_COLOR": "1", **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT_SECS,
    )
    assert run.returncode == 0, f"{Path(args[0]).name} failed ({run.returncode}):\n{run.stdout}\n{run.stderr}"
    return run


def _assert_turn_served(kg: KeyGate, run: subprocess.CompletedProcess[str], endpoint: str, model: str) -> None:
    """The fake answers a request with tools by calling the first one (with arguments the
    tool cannot use) and the tool's result with "Tool said: …": so a whole turn went model →
    tool call → the tool → its result → final answer, every request served by `model`."""
    assert "Tool said:" in run.stdout, run.stdout + run.stderr
    # The request log is written off the request path: wait for the turn's rows.
    deadline = time.monotonic() + 10
    while True:
        rows = [r for r in _logs(kg) if r["endpoint"].startswith(endpoint)]
        if len(rows) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(rows) >= 2, [{k: r.get(k) for k in ("endpoint", "status", "model_served", "error_class")} for r in _logs(kg)]
    for row in rows:
        assert row["status"] == 200, row
        assert row["model_served"] == model, row
        assert row["completion_tokens"] > 0, row
    assert "sk-fake" not in run.stdout + run.stderr


@pytest.fixture(
    scope="module",
    params=[("claude", "anthropic", "claude-sonnet-4-5"), ("deepseek", "openai", "deepseek-chat")],
    ids=["anthropic", "deepseek"],
)
def codex_keygate(fake_url: str, request: pytest.FixtureRequest) -> Iterator[tuple[KeyGate, str]]:  # noqa: F811
    """A route `codex` to a provider without a Responses API."""
    name, kind, model = request.param
    kg = KeyGate(fake_url, [("ok", 0)], provider=(name, kind), routes={"codex": f"{name}:{model}"})
    yield kg, model
    kg.close()


def test_codex_cli_runs_a_turn_with_a_tool_call_on_a_provider_without_the_responses_api(
    codex_keygate: tuple[KeyGate, str],
) -> None:
    kg, model = codex_keygate
    with tempfile.TemporaryDirectory(prefix="keygate-codex-") as home:
        codex_home = Path(home) / "codex"
        work = Path(home) / "work"
        codex_home.mkdir()
        work.mkdir()
        (codex_home / "config.toml").write_text(
            f"""model = "codex"
model_provider = "keygate"
check_for_update_on_startup = false

[model_providers.keygate]
name = "KeyGate"
base_url = "{kg.base_url}"
env_key = "KEYGATE_TOKEN"
wire_api = "responses"
"""
        )
        env = {"HOME": home, "CODEX_HOME": str(codex_home), "KEYGATE_TOKEN": kg.token}
        run = _run([_tool("codex"), "exec", "--skip-git-repo-check", "Say hi"], work, env)
    _assert_turn_served(kg, run, "/responses", model)


@pytest.fixture(
    scope="module",
    params=[
        ("gem", "gemini", "gemini-2.5-flash"),
        ("claude", "anthropic", "claude-sonnet-4-5"),
        ("deepseek", "openai", "deepseek-chat"),
    ],
    ids=["gemini", "anthropic", "deepseek"],
)
def gemini_cli_keygate(fake_url: str, request: pytest.FixtureRequest) -> Iterator[tuple[KeyGate, str]]:  # noqa: F811
    """A route `gemini-2.5-pro` (the name Gemini CLI asks for) to a Gemini provider (relayed
    natively) or one of another kind (translated)."""
    name, kind, model = request.param
    kg = KeyGate(fake_url, [("ok", 0)], provider=(name, kind), routes={"gemini-2.5-pro": f"{name}:{model}"})
    yield kg, model
    kg.close()


def test_gemini_cli_runs_a_prompt_with_a_tool_call_on_every_kind(gemini_cli_keygate: tuple[KeyGate, str]) -> None:
    kg, model = gemini_cli_keygate
    with tempfile.TemporaryDirectory(prefix="keygate-gemini-") as home:
        settings = Path(home) / ".gemini" / "settings.json"
        settings.parent.mkdir()
        settings.write_text(
            json.dumps(
                {
                    "telemetry": {"enabled": False},
                    "privacy": {"usageStatisticsEnabled": False},
                    "general": {"disableAutoUpdate": True, "disableUpdateNag": True},
                    "security": {"auth": {"selectedType": "gemini-api-key"}},
                }
            )
        )
        work = Path(home) / "work"
        work.mkdir()
        env = {
            "HOME": home,
            "GOOGLE_GEMINI_BASE_URL": kg.base_url.removesuffix("/v1"),
            "GEMINI_API_KEY": kg.token,
            "GEMINI_CLI_TRUST_WORKSPACE": "true",
        }
        run = _run([_tool("gemini"), "--model", "gemini-2.5-pro", "--prompt", "Say hi"], work, env)
    _assert_turn_served(kg, run, "/v1beta/models:", model)
