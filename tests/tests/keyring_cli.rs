//! The CLI against the real OS keyring (gnome-keyring on a private D-Bus, set up by
//! `make test`): secrets land in the keyring and nowhere else.

use keygate_tests::{TestEnv, lock_keyring, session_available};
use keygate_vault::Vault;
use serde_json::Value;

const SECRET: &str = "sk-proj-KEYRINGTEST-0123456789abcdefWXYZ";

fn key_list(env: &TestEnv) -> Vec<Value> {
    let out = env.ok(&["--json", "key", "list"], "");
    serde_json::from_str::<Vec<Value>>(&out).expect("key list --json is a JSON array")
}

#[test]
fn key_added_from_stdin_lives_in_the_keyring_only() {
    if keygate_tests::skip_on_postgres(
        "key_added_from_stdin_lives_in_the_keyring_only",
        "keys read from stdin go to the OS keyring, which a shared store refuses",
    ) {
        return;
    }
    if !session_available("key_added_from_stdin_lives_in_the_keyring_only") {
        return;
    }
    let env = TestEnv::new();
    let mut outputs = Vec::new();
    outputs.push(env.ok(
        &[
            "key",
            "add",
            "--provider",
            "openai",
            "--label",
            "main",
            "--tag",
            "team",
        ],
        &format!("{SECRET}\n"),
    ));

    let keys = key_list(&env);
    assert_eq!(keys.len(), 1);
    let id = keys[0]["id"].as_str().expect("id").to_string();
    assert_eq!(keys[0]["provider"], "openai");
    assert_eq!(keys[0]["secret_ref"], "keyring");
    assert!(
        keys[0]["fingerprint"]
            .as_str()
            .is_some_and(|f| f.starts_with("sk-…WXYZ #"))
    );

    let vault = Vault::new(env.service.clone());
    let stored = vault
        .load(&id)
        .expect("keyring reachable")
        .expect("entry exists");
    assert_eq!(
        stored.expose(),
        SECRET,
        "the keyring holds the exact secret"
    );

    outputs.push(env.ok(&["key", "list"], ""));
    outputs.push(env.ok(&["--json", "key", "list"], ""));
    outputs.push(env.ok(&["provider", "list"], ""));
    assert!(
        env.files_containing(SECRET).is_empty(),
        "secret found under KEYGATE_HOME: {:?}",
        env.files_containing(SECRET)
    );
    assert!(
        env.files_containing("KEYRINGTEST").is_empty(),
        "part of the secret found under KEYGATE_HOME"
    );

    let rm = env.run(&["key", "rm", &id], "");
    assert!(
        rm.status.success(),
        "{}",
        String::from_utf8_lossy(&rm.stderr)
    );
    outputs.push(
        String::from_utf8_lossy(&rm.stdout).into_owned() + &String::from_utf8_lossy(&rm.stderr),
    );
    assert!(
        vault.load(&id).expect("keyring reachable").is_none(),
        "rm removes the keyring entry"
    );
    assert!(key_list(&env).is_empty());

    for output in outputs {
        assert!(
            !output.contains(SECRET) && !output.contains("KEYRINGTEST"),
            "secret printed: {output}"
        );
    }
}

#[test]
fn env_referenced_keys_need_no_keyring_entry() {
    if !session_available("env_referenced_keys_need_no_keyring_entry") {
        return;
    }
    let env = TestEnv::new();
    let mut cmd = env.keygate();
    let out = cmd
        .args([
            "key",
            "add",
            "--provider",
            "deepseek",
            "--secret-env",
            "KG_TEST_DEEPSEEK",
        ])
        .env("KG_TEST_DEEPSEEK", "sk-envref-ABCDEFGHIJKLMNOP1234")
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let keys = key_list(&env);
    assert_eq!(keys[0]["secret_ref"], "env:KG_TEST_DEEPSEEK");
    let id = keys[0]["id"].as_str().expect("id");
    let vault = Vault::new(env.service.clone());
    assert!(vault.load(id).expect("keyring reachable").is_none());
    assert!(
        env.files_containing("sk-envref-ABCDEFGHIJKLMNOP1234")
            .is_empty()
    );
}

#[test]
fn a_locked_keyring_fails_clearly_and_writes_nothing() {
    if !session_available("a_locked_keyring_fails_clearly_and_writes_nothing") {
        return;
    }
    // Locking the login collection locks it for every test in this session, so this test
    // runs in its own gnome-keyring (see tests/run-in-session.sh: KEYGATE_TEST_LOCKABLE).
    let Some(collection) = std::env::var_os("KEYGATE_TEST_LOCKABLE") else {
        eprintln!("skipped: runs in the lockable keyring session of make test");
        return;
    };
    let env = TestEnv::new();
    env.ok(&["provider", "add", "openai"], "");
    lock_keyring(&collection.to_string_lossy());

    let out = env.run(
        &["key", "add", "--provider", "openai"],
        "sk-locked-ABCDEFGHIJKLMNOPQRSTU",
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("locked"), "{stderr}");
    assert!(stderr.contains("unlock"), "names the fix: {stderr}");
    assert!(
        stderr.contains("--secret-env"),
        "names the alternative: {stderr}"
    );
    assert!(!stderr.contains("sk-locked"), "{stderr}");
    assert!(key_list(&env).is_empty());
    assert!(env.files_containing("sk-locked").is_empty());
}
