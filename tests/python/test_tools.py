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

from test_openai_sdk import ADMIN_TOKEN, KEYS, KeyGate, fake_url  # noqa: F401 (fake_url is a fixture)

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


def _assert_turn_served(
    kg: KeyGate, run: subprocess.CompletedProcess[str], endpoint: str, model: str, token: str | None = None
) -> None:
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


def _api(kg: KeyGate, method: str, path: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        kg.base_url.removesuffix("/v1") + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)


def _secret_free(kg: KeyGate) -> None:
    """No provider secret anywhere under the tool's HOME (its config files, its caches)."""
    for path in kg.user_home.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            for secret in KEYS.values():
                assert secret.encode() not in data, f"a provider secret is in {path}"


def test_codex_connected_by_keygate_runs_with_nothing_but_its_home(
    codex_keygate: tuple[KeyGate, str],
) -> None:
    """`keygate connect codex --model codex` writes ~/.codex/config.toml with Codex's own token;
    Codex then runs with only HOME (no token in its environment), and undo puts the file back."""
    kg, model = codex_keygate
    config = kg.user_home / ".codex" / "config.toml"
    config.parent.mkdir()
    original = '# mine\ncheck_for_update_on_startup = false\n\n[history]\npersistence = "none"\n'
    config.write_text(original)
    kg.cli("connect", "codex", "--model", "codex")
    work = kg.user_home / "work-codex"
    work.mkdir()
    run = _run([_tool("codex"), "exec", "--skip-git-repo-check", "Say hi"], work, {"HOME": str(kg.user_home)})
    _assert_turn_served(kg, run, "/responses", model, token="codex")
    _secret_free(kg)
    kg.cli("connect", "codex", "--undo")
    assert config.read_text() == original


def test_gemini_cli_connected_through_the_api_runs_with_nothing_but_its_home(
    gemini_cli_keygate: tuple[KeyGate, str],
) -> None:
    """`POST /api/connect/gemini-cli` writes ~/.gemini/.env and settings.json; Gemini CLI then
    runs with only HOME (and the trust its headless mode needs), under its own token."""
    kg, model = gemini_cli_keygate
    settings = kg.user_home / ".gemini" / "settings.json"
    settings.parent.mkdir(exist_ok=True)
    original = json.dumps(
        {
            "telemetry": {"enabled": False},
            "privacy": {"usageStatisticsEnabled": False},
            "general": {"disableAutoUpdate": True, "disableUpdateNag": True},
        },
        indent=2,
    )
    settings.write_text(original)
    dry = _api(kg, "POST", "/api/connect/gemini-cli", {"dry_run": True})
    assert dry["dry_run"] and dry["changed"], dry
    assert "GEMINI_API_KEY" in "".join(f["diff"] for f in dry["files"]), dry
    outcome = _api(kg, "POST", "/api/connect/gemini-cli", {})
    assert outcome["token"] == "gemini-cli" and outcome["token_created"], outcome
    assert kg.token not in (kg.user_home / ".gemini" / ".env").read_text()
    work = kg.user_home / "work-gemini"
    work.mkdir(exist_ok=True)
    env = {"HOME": str(kg.user_home), "GEMINI_CLI_TRUST_WORKSPACE": "true"}
    run = _run([_tool("gemini"), "--model", "gemini-2.5-pro", "--prompt", "Say hi"], work, env)
    _assert_turn_served(kg, run, "/v1beta/models:", model, token="gemini-cli")
    status = {t["tool"]: t for t in _api(kg, "GET", "/api/connect")["tools"]}
    assert status["gemini-cli"]["state"] == "connected", status["gemini-cli"]
    assert status["gemini-cli"]["last_used_at"], status["gemini-cli"]
    _secret_free(kg)
    after_run = json.loads(settings.read_text())
    undone = _api(kg, "DELETE", "/api/connect/gemini-cli")
    assert not (kg.user_home / ".gemini" / ".env").exists()
    # Gemini CLI rewrites its own settings.json as it runs (undo then merges KeyGate's setting
    # out and keeps the CLI's); when it did not, undo gives back the original bytes.
    actions = [f["action"] for f in undone["files"]]
    assert actions in (["removed", "restored"], ["removed", "merged"]), undone
    if actions[1] == "restored":
        assert settings.read_text() == original
    else:
        restored = json.loads(settings.read_text())
        del after_run["security"]["auth"]["selectedType"]
        for parent in (["security", "auth"], ["security"]):
            node = after_run
            for key in parent[:-1]:
                node = node[key]
            if node.get(parent[-1]) == {}:
                del node[parent[-1]]
        assert restored == after_run, (restored, after_run)


def _claude() -> str:
    """Claude Code's native binary: npm leaves `bin/claude` a stub until its postinstall
    (which npm 11 does not run unasked) copies the platform package's binary over it."""
    directory = Path(_tool("codex")).parent.parent / "@anthropic-ai" / "claude-code-linux-x64"
    path = directory / "claude"
    if not path.exists():
        pytest.fail(f"Claude Code's binary is not installed at {path}: run scripts/setup.sh test")
    return str(path)


# What keeps Claude Code to the one address it was given (no update checks, telemetry or
# error reports; nothing else is reachable here anyway).
CLAUDE_QUIET = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_ERROR_REPORTING": "1",
}


@pytest.fixture(
    scope="module",
    params=[("claude", "anthropic", None), ("deepseek", "openai", "deepseek-chat")],
    ids=["anthropic", "deepseek"],
)
def claude_keygate(fake_url: str, request: pytest.FixtureRequest) -> Iterator[tuple[KeyGate, str | None]]:  # noqa: F811
    """Claude Code on an Anthropic provider (relayed as is), or on DeepSeek (no Anthropic key:
    KeyGate serves Claude Code's models from it, translated)."""
    name, kind, model = request.param
    kg = KeyGate(fake_url, [("ok", 0)], provider=(name, kind))
    yield kg, model
    kg.close()


def test_claude_code_connected_by_keygate_runs_a_turn_on_anthropic_or_on_any_provider(
    claude_keygate: tuple[KeyGate, str | None],
) -> None:
    """`keygate connect claude-code` writes ~/.claude/settings.json (and, without an Anthropic
    provider, `--serve-from deepseek:deepseek-chat` routes Claude's model names there); real
    Claude Code then runs a whole turn with a tool call from its HOME alone."""
    kg, serve_model = claude_keygate
    before = {t["tool"]: t for t in _api(kg, "GET", "/api/connect")["tools"]}["claude-code"]
    if serve_model is None:
        assert before["warning"] is None, before
        kg.cli("connect", "claude-code")
    else:
        assert "claude-opus" in (before["warning"] or ""), before
        out = kg.cli("connect", "claude-code", "--serve-from", f"deepseek:{serve_model}")
        assert "route claude-* -> deepseek:deepseek-chat" in out, out
        after = {t["tool"]: t for t in _api(kg, "GET", "/api/connect")["tools"]}["claude-code"]
        assert after["warning"] is None and after["state"] == "connected", after
    work = kg.user_home / "work-claude"
    work.mkdir()
    env = {"HOME": str(kg.user_home), **CLAUDE_QUIET}
    run = _run([_claude(), "-p", "Say hi", "--output-format", "text"], work, env)
    served = serve_model or "claude-opus-5-5"
    _assert_turn_served(kg, run, "/messages", served, token="claude-code")
    _secret_free(kg)
    undone = kg.cli("connect", "claude-code", "--undo")
    assert "restored" in undone or "removed" in undone, undone
    if serve_model is not None:
        assert "route claude-* put back" in undone, undone
        assert json.loads(kg.cli("--json", "route", "list")) == [], "the routes connect made are gone"


def _aider() -> str:
    """aider, pinned in tests/tools/aider-requirements.txt, in a venv of its own (its pins would
    fight the SDKs' in tests/.venv)."""
    path = Path(__file__).resolve().parents[1] / "tools" / ".venv-aider" / "bin" / "aider"
    path = Path(os.environ.get("KEYGATE_AIDER_BIN", str(path)))
    if not path.exists():
        pytest.fail(f"aider is not installed at {path}: run scripts/setup.sh test")
    return str(path)


@pytest.fixture(scope="module")
def aider_keygate(fake_url: str) -> Iterator[KeyGate]:  # noqa: F811
    kg = KeyGate(fake_url, [("ok", 0)], provider=("deepseek", "openai"))
    yield kg
    kg.close()


def test_aider_connected_by_keygate_answers_a_message(aider_keygate: KeyGate) -> None:
    """`keygate connect aider --model deepseek-chat` writes ~/.aider.conf.yml; real aider then
    answers `--message` through KeyGate under its own token, from its HOME alone."""
    kg = aider_keygate
    kg.cli("connect", "aider", "--model", "deepseek-chat")
    work = kg.user_home / "work-aider"
    work.mkdir()
    env = {
        "HOME": str(kg.user_home),
        # litellm's price list ships with it; without this it fetches a fresh one first.
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
    args = [
        _aider(), "--message", "Say hi", "--yes-always", "--no-git", "--no-check-update",
        "--analytics-disable", "--no-show-release-notes", "--no-pretty", "--no-stream",
    ]  # fmt: skip
    run = _run(args, work, env)
    deadline = time.monotonic() + 10
    while True:
        rows = [r for r in _logs(kg) if r["token"] == "aider"]
        if rows or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert rows, run.stdout + run.stderr
    assert all(r["status"] == 200 and r["model_served"] == "deepseek-chat" for r in rows), rows
    assert "sk-fake" not in run.stdout + run.stderr
    _secret_free(kg)
    kg.cli("connect", "aider", "--undo")
    assert not (kg.user_home / ".aider.conf.yml").exists()


def _opencode() -> str:
    """opencode's native binary (npm leaves `bin/opencode` a stub, as for Claude Code)."""
    path = Path(_tool("codex")).parent.parent / "opencode-linux-x64" / "bin" / "opencode"
    path = Path(os.environ.get("KEYGATE_OPENCODE_BIN", str(path)))
    if not path.exists():
        pytest.fail(f"opencode's binary is not installed at {path}: run scripts/setup.sh test")
    return str(path)


# What keeps opencode to the one address it was given.
OPENCODE_QUIET = {
    "OPENCODE_DISABLE_AUTOUPDATE": "1",
    "OPENCODE_DISABLE_MODELS_FETCH": "1",
    "OPENCODE_DISABLE_LSP_DOWNLOAD": "1",
    "OPENCODE_DISABLE_SHARE": "1",
    "OPENCODE_DISABLE_DEFAULT_PLUGINS": "1",
    "OPENCODE_DISABLE_CLAUDE_CODE": "1",
}


def test_opencode_connected_by_keygate_runs_a_turn(aider_keygate: KeyGate) -> None:
    """`keygate connect opencode --model deepseek-chat` writes opencode.json's provider
    `keygate`; real opencode then runs a turn with a tool call through KeyGate."""
    kg = aider_keygate
    kg.cli("connect", "opencode", "--model", "deepseek-chat")
    work = kg.user_home / "work-opencode"
    work.mkdir()
    env = {"HOME": str(kg.user_home), **OPENCODE_QUIET}
    run = _run([_opencode(), "run", "Say hi"], work, env)
    _assert_turn_served(kg, run, "/chat/completions", "deepseek-chat", token="opencode")
    _secret_free(kg)
    kg.cli("connect", "opencode", "--undo")
