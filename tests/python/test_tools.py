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
        env = {
            "PATH": os.environ["PATH"],
            "HOME": home,
            "CODEX_HOME": str(codex_home),
            "KEYGATE_TOKEN": kg.token,
            "NO_COLOR": "1",
        }
        run = subprocess.run(
            [_tool("codex"), "exec", "--skip-git-repo-check", "Say hi"],
            cwd=work,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=TOOL_TIMEOUT_SECS,
        )
    assert run.returncode == 0, f"codex failed ({run.returncode}):\n{run.stdout}\n{run.stderr}"
    # The fake answers a request with tools by calling the first one (with arguments Codex's
    # exec_command cannot use), and the function's output with "Tool said: …": so a whole
    # turn went model → tool call → Codex's tool → function_call_output → final answer.
    assert "Tool said:" in run.stdout, run.stdout + run.stderr
    rows = [r for r in _logs(kg) if r["endpoint"] == "/responses"]
    assert len(rows) >= 2, rows
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
def gemini_cli_keygate(fake_url: str, request: pytest.FixtureRequest) -> Iterator[tuple[KeyGate, str]]:  # noqa: F811
    """A route `gemini-2.5-pro` (the name Gemini CLI asks for) to a provider of another kind."""
    name, kind, model = request.param
    kg = KeyGate(fake_url, [("ok", 0)], provider=(name, kind), routes={"gemini-2.5-pro": f"{name}:{model}"})
    yield kg, model
    kg.close()


def test_gemini_cli_runs_a_prompt_on_a_provider_of_another_kind(gemini_cli_keygate: tuple[KeyGate, str]) -> None:
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
            "PATH": os.environ["PATH"],
            "HOME": home,
            "GOOGLE_GEMINI_BASE_URL": kg.base_url.removesuffix("/v1"),
            "GEMINI_API_KEY": kg.token,
            "GEMINI_CLI_TRUST_WORKSPACE": "true",
            "NO_COLOR": "1",
        }
        run = subprocess.run(
            [_tool("gemini"), "--model", "gemini-2.5-pro", "--prompt", "Say hi"],
            cwd=work,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=TOOL_TIMEOUT_SECS,
        )
    assert run.returncode == 0, f"gemini failed ({run.returncode}):\n{run.stdout}\n{run.stderr}"
    # As with Codex: the fake calls Gemini CLI's first tool, and answers its functionResponse.
    assert "Tool said:" in run.stdout, run.stdout + run.stderr
    rows = [r for r in _logs(kg) if r["endpoint"].startswith("/v1beta/models:")]
    assert rows, _logs(kg)
    for row in rows:
        assert row["status"] == 200, row
        assert row["model_served"] == model, row
        assert row["completion_tokens"] > 0, row
    assert "sk-fake" not in run.stdout + run.stderr
