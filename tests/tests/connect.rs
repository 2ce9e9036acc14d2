//! `keygate connect` on real files in a temp HOME (issue 21): each tool's config written with a
//! token of its own, connecting twice changes nothing, undo gives back the original bytes, and
//! a file KeyGate must not edit (read-only, a link, malformed) is refused and left as it was.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use keygate_tests::TestEnv;
use serde_json::Value;

/// The realistic configs of core's golden tests, as a user's files.
fn golden(tool: &str, rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crates/keygate-core/src/connect/golden")
        .join(tool)
        .join("existing")
        .join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Each tool's files under HOME, and a realistic config for the first of them.
const TOOLS: [(&str, &[&str]); 7] = [
    ("claude-code", &[".claude/settings.json"]),
    ("codex", &[".codex/config.toml"]),
    ("gemini-cli", &[".gemini/.env", ".gemini/settings.json"]),
    ("opencode", &[".config/opencode/opencode.json"]),
    ("aider", &[".aider.conf.yml"]),
    ("continue", &[".continue/config.yaml"]),
    ("shell", &[".bashrc"]),
];

fn json(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

fn fails(env: &TestEnv, args: &[&str]) -> String {
    let out = env.run(args, "");
    assert_eq!(out.status.code(), Some(1), "keygate {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn token_names(env: &TestEnv) -> Vec<String> {
    json(&env.ok(&["token", "list", "--json"], ""))
        .as_array()
        .expect("a list")
        .iter()
        .map(|t| t["name"].as_str().expect("name").to_string())
        .collect()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

/// `keygate connect --json`'s row for `tool`.
fn tool_row(env: &TestEnv, tool: &str) -> Value {
    json(&env.ok(&["connect", "--json"], ""))
        .as_array()
        .expect("tools")
        .iter()
        .find(|t| t["tool"] == tool)
        .unwrap_or_else(|| panic!("no row for {tool}"))
        .clone()
}

fn home_file(env: &TestEnv, rel: &str) -> PathBuf {
    env.user_home().join(rel)
}

#[test]
fn every_tool_connects_with_its_own_token_and_undo_gives_back_the_original_bytes() {
    let env = TestEnv::new();
    // A realistic config for every tool but the ones that start from an empty home.
    for (tool, files) in TOOLS {
        if matches!(tool, "opencode" | "shell") {
            continue;
        }
        for rel in files {
            let path = home_file(&env, rel);
            write(&path, &golden(tool, rel));
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        }
    }
    for (tool, files) in TOOLS {
        let outcome = json(&env.ok(&["connect", tool, "--json"], ""));
        assert_eq!(outcome["token"], tool, "{outcome}");
        assert_eq!(outcome["token_created"], true);
        assert_eq!(outcome["changed"], true);
        let mut written = String::new();
        for rel in files.iter() {
            let path = home_file(&env, rel);
            written.push_str(&std::fs::read_to_string(&path).expect("connected file"));
            let expected_mode = if matches!(tool, "opencode" | "shell") {
                0o600
            } else {
                0o640
            };
            assert_eq!(mode(&path), expected_mode, "{tool} {rel}");
        }
        assert!(
            written.contains("http://127.0.0.1:5397"),
            "{tool}: {written}"
        );
        // The diff shows the token's hint, never the token.
        let diff: String = outcome["files"]
            .as_array()
            .expect("files")
            .iter()
            .map(|f| f["diff"].as_str().unwrap_or_default().to_string())
            .collect();
        assert!(diff.contains("kg-") && diff.contains('…'), "{tool}: {diff}");
        let again = env.ok(&["connect", tool], "");
        assert!(again.contains("nothing to change"), "{tool}: {again}");
    }
    let mut names = token_names(&env);
    names.sort();
    let mut wanted: Vec<String> = TOOLS.iter().map(|(t, _)| t.to_string()).collect();
    wanted.sort();
    assert_eq!(names, wanted, "one token per tool");

    let status = json(&env.ok(&["connect", "--status", "--json"], ""));
    for row in status.as_array().expect("tools") {
        assert_eq!(row["state"], "connected", "{row}");
        assert_eq!(row["installed"], true, "{row}");
    }

    for (tool, files) in TOOLS {
        let undone = json(&env.ok(&["connect", tool, "--undo", "--json"], ""));
        assert_eq!(undone["token_revoked"], tool);
        for rel in files.iter() {
            let path = home_file(&env, rel);
            if matches!(tool, "opencode" | "shell") {
                assert!(!path.exists(), "{tool}: the file KeyGate created is gone");
            } else {
                assert_eq!(
                    std::fs::read_to_string(&path).expect("restored"),
                    golden(tool, rel)
                );
                assert_eq!(mode(&path), 0o640);
            }
        }
        assert!(fails(&env, &["connect", tool, "--undo"]).contains("not connected"));
    }
    assert!(token_names(&env).is_empty());
}

#[test]
fn a_dry_run_shows_the_diff_and_writes_nothing() {
    let env = TestEnv::new();
    let out = env.ok(&["connect", "codex", "--dry-run"], "");
    assert!(out.contains("+model_provider = \"keygate\""), "{out}");
    assert!(out.contains("Dry run"), "{out}");
    assert!(!home_file(&env, ".codex").exists());
    assert!(token_names(&env).is_empty());
    assert!(!env.home().join("connect").join("codex.json").exists());
}

#[test]
fn read_only_linked_and_malformed_files_are_refused_and_left_as_they_were() {
    let env = TestEnv::new();
    let settings = home_file(&env, ".claude/settings.json");
    write(&settings, "{\"model\": \"opus\"}\n");
    std::fs::set_permissions(&settings, std::fs::Permissions::from_mode(0o444)).expect("chmod");
    let error = fails(&env, &["connect", "claude-code"]);
    assert!(error.contains("read-only"), "{error}");
    assert_eq!(
        std::fs::read_to_string(&settings).expect("read"),
        "{\"model\": \"opus\"}\n"
    );

    let real = env.root().join("elsewhere.toml");
    std::fs::write(&real, "model = \"o3\"\n").expect("write");
    std::fs::create_dir_all(home_file(&env, ".codex")).expect("mkdir");
    std::os::unix::fs::symlink(&real, home_file(&env, ".codex/config.toml")).expect("symlink");
    let error = fails(&env, &["connect", "codex"]);
    assert!(error.contains("symbolic link"), "{error}");
    assert_eq!(
        std::fs::read_to_string(&real).expect("read"),
        "model = \"o3\"\n"
    );

    let aider = home_file(&env, ".aider.conf.yml");
    write(&aider, "model: [unclosed\n");
    let error = fails(&env, &["connect", "aider"]);
    assert!(error.contains("is not valid YAML"), "{error}");
    assert_eq!(
        std::fs::read_to_string(&aider).expect("read"),
        "model: [unclosed\n"
    );

    // A location override that climbs out with `..` is refused before anything is read.
    let mut cmd = env.keygate();
    let climbing = format!("{}/x/../../elsewhere", env.user_home().display());
    let out = keygate_tests::run_with_stdin(
        cmd.args(["connect", "continue"])
            .env("CONTINUE_GLOBAL_DIR", &climbing),
        "",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("contains '..'"),
        "{out:?}"
    );
    assert!(!env.root().join("elsewhere").exists());

    // None of the refusals made a token or a record.
    assert!(token_names(&env).is_empty());
    assert!(
        !env.home().join("connect").exists()
            || std::fs::read_dir(env.home().join("connect"))
                .expect("dir")
                .count()
                == 0
    );
}

#[test]
fn undo_keeps_what_the_user_changed_since_and_refuses_when_they_changed_keygate_s_settings() {
    let env = TestEnv::new();
    let env_file = home_file(&env, ".gemini/.env");
    write(&env_file, "# mine\nDEBUG=false\n");
    env.ok(&["connect", "gemini-cli"], "");
    let connected = std::fs::read_to_string(&env_file).expect("read");
    std::fs::write(
        &env_file,
        format!("{connected}GEMINI_MODEL=gemini-2.5-flash\n"),
    )
    .expect("edit");
    let undone = json(&env.ok(&["connect", "gemini-cli", "--undo", "--json"], ""));
    let actions: Vec<&str> = undone["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f["action"].as_str().expect("action"))
        .collect();
    assert_eq!(actions, ["merged", "removed"], "{undone}");
    assert_eq!(
        std::fs::read_to_string(&env_file).expect("read"),
        "# mine\nDEBUG=false\nGEMINI_MODEL=gemini-2.5-flash\n"
    );

    // KeyGate's own setting changed by the user: undo refuses and changes nothing.
    env.ok(&["connect", "claude-code"], "");
    let settings = home_file(&env, ".claude/settings.json");
    let text = std::fs::read_to_string(&settings).expect("read");
    let edited = text.replace("http://127.0.0.1:5397", "https://my-router.example.com");
    std::fs::write(&settings, &edited).expect("edit");
    let error = fails(&env, &["connect", "claude-code", "--undo"]);
    assert!(
        error.contains("env.ANTHROPIC_BASE_URL was changed"),
        "{error}"
    );
    assert_eq!(std::fs::read_to_string(&settings).expect("read"), edited);

    // …and the state says the tool drifted.
    let claude = tool_row(&env, "claude-code");
    assert_eq!(claude["state"], "drifted", "{claude}");
    assert!(
        claude["detail"]
            .as_str()
            .expect("detail")
            .contains("my-router"),
        "{claude}"
    );
}

#[test]
fn a_revoked_token_shows_as_drift_and_connecting_again_makes_a_new_one() {
    let env = TestEnv::new();
    env.ok(&["connect", "aider"], "");
    let aider = home_file(&env, ".aider.conf.yml");
    let first = std::fs::read_to_string(&aider).expect("read");
    env.ok(&["token", "revoke", "aider"], "");
    let row = tool_row(&env, "aider");
    assert_eq!(row["state"], "drifted");
    assert!(
        row["detail"]
            .as_str()
            .expect("detail")
            .contains("not a live KeyGate token"),
        "{row}"
    );
    let outcome = json(&env.ok(&["connect", "aider", "--json"], ""));
    assert_eq!(outcome["token_created"], true);
    assert_ne!(std::fs::read_to_string(&aider).expect("read"), first);
    assert_eq!(token_names(&env), ["aider"]);
    // A token the user made with a tool's name is left alone: connect makes `codex-2`.
    env.ok(&["token", "create", "codex"], "");
    let outcome = json(&env.ok(&["connect", "codex", "--json"], ""));
    assert_eq!(outcome["token"], "codex-2");
}

#[test]
fn no_provider_secret_reaches_a_tool_file_a_backup_or_the_record() {
    let env = TestEnv::new();
    let secret = "sk-fake-connect-SECRET-0123456789abcdef";
    let mut cmd = env.keygate();
    let out = keygate_tests::run_with_stdin(
        cmd.args([
            "key",
            "add",
            "--provider",
            "openai",
            "--secret-env",
            "KG_CONNECT_SECRET",
        ])
        .env("KG_CONNECT_SECRET", secret),
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    write(&home_file(&env, ".bashrc"), "export EDITOR=vim\n");
    for (tool, _) in TOOLS {
        env.ok(&["connect", tool], "");
    }
    let mut hits = Vec::new();
    keygate_tests::grep_dir(&env.user_home(), secret.as_bytes(), &mut hits);
    keygate_tests::grep_dir(&env.home().join("connect"), secret.as_bytes(), &mut hits);
    assert!(hits.is_empty(), "the secret is in {hits:?}");
}

#[test]
fn serving_a_tool_s_models_from_another_provider_makes_routes_that_undo_puts_back() {
    let env = TestEnv::new();
    let mut cmd = env.keygate();
    let out = keygate_tests::run_with_stdin(
        cmd.args([
            "key",
            "add",
            "--provider",
            "deepseek",
            "--secret-env",
            "KG_CONNECT_DS",
        ])
        .env("KG_CONNECT_DS", "sk-fake-connect-deepseek-000000000000"),
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A route of the user's on one of the aliases: replaced, and put back by undo.
    env.ok(
        &[
            "route",
            "add",
            "gemini-*flash*",
            "--to",
            "deepseek:deepseek-reasoner",
        ],
        "",
    );

    let error = fails(
        &env,
        &["connect", "gemini-cli", "--serve-from", "nosuch:model"],
    );
    assert!(error.contains("no provider named \"nosuch\""), "{error}");
    let error = fails(&env, &["connect", "aider", "--model", "gpt-*"]);
    assert!(error.contains("not the pattern"), "{error}");
    let dry = json(&env.ok(
        &[
            "connect",
            "gemini-cli",
            "--serve-from",
            "deepseek:deepseek-chat",
            "--dry-run",
            "--json",
        ],
        "",
    ));
    assert_eq!(dry["routes"][0]["alias"], "gemini-*");
    assert_eq!(dry["routes"][1]["replaced"], "deepseek:deepseek-reasoner");
    let routes = json(&env.ok(&["route", "list", "--json"], ""));
    assert_eq!(
        routes.as_array().expect("routes").len(),
        1,
        "a dry run made no route"
    );

    env.ok(
        &[
            "connect",
            "gemini-cli",
            "--serve-from",
            "deepseek:deepseek-chat",
        ],
        "",
    );
    let routes = json(&env.ok(&["route", "list", "--json"], ""));
    let to: Vec<(String, String)> = routes
        .as_array()
        .expect("routes")
        .iter()
        .map(|r| {
            (
                r["alias"].as_str().expect("alias").to_string(),
                r["tiers"][0]["model"].as_str().expect("model").to_string(),
            )
        })
        .collect();
    assert!(
        to.contains(&("gemini-*".into(), "deepseek-chat".into())),
        "{to:?}"
    );
    assert!(
        to.contains(&("gemini-*flash*".into(), "deepseek-chat".into())),
        "{to:?}"
    );

    // Codex asks for the model in its config: `codex`, the alias of its route.
    env.ok(
        &["connect", "codex", "--serve-from", "deepseek:deepseek-chat"],
        "",
    );
    let config = std::fs::read_to_string(home_file(&env, ".codex/config.toml")).expect("read");
    assert!(config.starts_with("model = \"codex\"\n"), "{config}");
    // Tools without model routes ask for provider/model.
    env.ok(
        &["connect", "aider", "--serve-from", "deepseek:deepseek-chat"],
        "",
    );
    let aider = std::fs::read_to_string(home_file(&env, ".aider.conf.yml")).expect("read");
    assert!(
        aider.contains("model: openai/deepseek/deepseek-chat"),
        "{aider}"
    );

    env.ok(&["connect", "gemini-cli", "--undo"], "");
    env.ok(&["connect", "codex", "--undo"], "");
    let routes = json(&env.ok(&["route", "list", "--json"], ""));
    let left: Vec<(&str, &str)> = routes
        .as_array()
        .expect("routes")
        .iter()
        .map(|r| {
            (
                r["alias"].as_str().expect("alias"),
                r["tiers"][0]["model"].as_str().expect("model"),
            )
        })
        .collect();
    assert_eq!(
        left,
        [("gemini-*flash*", "deepseek-reasoner")],
        "the user's route is back, KeyGate's are gone"
    );
}
