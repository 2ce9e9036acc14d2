//! `keygate import`: every row is checked first, and keys are stored all together or not at all.

use keygate_tests::{TestEnv, session_available};
use keygate_vault::Vault;
use serde_json::Value;

fn key_count(env: &TestEnv) -> usize {
    let out = env.ok(&["--json", "key", "list"], "");
    serde_json::from_str::<Vec<Value>>(&out)
        .expect("json")
        .len()
}

#[test]
fn a_bad_row_reports_file_and_line_and_imports_nothing() {
    if keygate_tests::skip_on_postgres(
        "a_bad_row_reports_file_and_line_and_imports_nothing",
        "keys read from stdin go to the OS keyring, which a shared store refuses",
    ) {
        return;
    }
    if !session_available("a_bad_row_reports_file_and_line_and_imports_nothing") {
        return;
    }
    let env = TestEnv::new();
    let file = env.root().join("keys.csv");
    std::fs::write(
        &file,
        "provider,label,secret,tags,priority\n\
         openai,good-1,sk-import-GOOD1-aaaaaaaaaaaaaaaa,team,0\n\
         deepseek,good-2,sk-import-GOOD2-bbbbbbbbbbbbbbbb,,1\n\
         openai,bad,sk-import-BAD-cccccccccccccccccc,,high\n",
    )
    .expect("write csv");
    let out = env.run(&["import", file.to_str().expect("utf8")], "");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("keys.csv:4:"),
        "names file and line: {stderr}"
    );
    assert!(stderr.contains("nothing was imported"), "{stderr}");
    assert!(!stderr.contains("sk-import"), "{stderr}");
    assert_eq!(key_count(&env), 0);
    assert!(env.ok(&["--json", "provider", "list"], "").trim() == "[]");

    // Dry run of a good file imports nothing but shows the plan.
    std::fs::write(
        &file,
        "provider,label,secret\nopenai,good-1,sk-import-GOOD1-aaaaaaaaaaaaaaaa\ndeepseek,good-2,sk-import-GOOD2-bbbbbbbbbbbbbbbb\n",
    )
    .expect("write csv");
    let plan = env.ok(&["import", file.to_str().expect("utf8"), "--dry-run"], "");
    assert!(plan.contains("Would import 2 key(s)"), "{plan}");
    assert!(!plan.contains("sk-import-GOOD"), "{plan}");
    assert_eq!(key_count(&env), 0);

    let done = env.ok(&["import", file.to_str().expect("utf8")], "");
    assert!(done.contains("Imported 2 key(s)"), "{done}");
    assert_eq!(key_count(&env), 2);
    assert!(env.files_containing("sk-import-GOOD").is_empty());
}

#[test]
fn a_row_refused_by_the_database_rolls_back_the_keyring_entries() {
    if keygate_tests::skip_on_postgres(
        "a_row_refused_by_the_database_rolls_back_the_keyring_entries",
        "keys read from stdin go to the OS keyring, which a shared store refuses",
    ) {
        return;
    }
    if !session_available("a_row_refused_by_the_database_rolls_back_the_keyring_entries") {
        return;
    }
    let env = TestEnv::new();
    env.ok(
        &["key", "add", "--provider", "openai", "--label", "existing"],
        "sk-rollback-EXISTING-000000000000",
    );
    // The file is valid on its own; its second row duplicates the stored key, which only the
    // database transaction notices, after the first row's secret was written to the keyring.
    let file = env.root().join("keys.toml");
    std::fs::write(
        &file,
        "[[key]]\nprovider = \"openai\"\nlabel = \"new\"\nsecret = \"${KG_TEST_NEW_SECRET}\"\n\n\
         [[key]]\nprovider = \"openai\"\nlabel = \"dup\"\nsecret = \"sk-rollback-EXISTING-000000000000\"\n",
    )
    .expect("write toml");
    let out = env
        .keygate()
        .args(["import", file.to_str().expect("utf8")])
        .env("KG_TEST_NEW_SECRET", "sk-rollback-NEW-111111111111111")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("already stored"), "{stderr}");
    assert_eq!(key_count(&env), 1, "only the key that existed before");

    // No keyring entry is left behind for the row that was rolled back: the only entry under
    // this service belongs to the existing key.
    let keys: Vec<Value> =
        serde_json::from_str(&env.ok(&["--json", "key", "list"], "")).expect("json");
    let vault = Vault::new(env.service.clone());
    let existing = keys[0]["id"].as_str().expect("id");
    assert!(vault.load(existing).expect("keyring").is_some());
    let orphans = std::process::Command::new("secret-tool")
        .args(["search", "--all", "service", &env.service])
        .output()
        .expect("secret-tool (libsecret-tools) is installed by make test");
    let listing = String::from_utf8_lossy(&orphans.stdout).into_owned()
        + &String::from_utf8_lossy(&orphans.stderr);
    let entries = listing.matches("attribute.username = ").count();
    assert_eq!(entries, 1, "exactly one keyring entry remains:\n{listing}");
}

#[test]
fn toml_env_references_must_be_set() {
    let env = TestEnv::new();
    let file = env.root().join("keys.toml");
    std::fs::write(
        &file,
        "[[key]]\nprovider = \"openai\"\nsecret = \"${KG_TEST_SURELY_UNSET}\"\n",
    )
    .expect("write");
    let out = env.run(&["import", file.to_str().expect("utf8")], "");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("keys.toml:1:") && stderr.contains("KG_TEST_SURELY_UNSET"),
        "{stderr}"
    );
}

/// `keygate import keys.txt --provider P`: keys pasted one per line (issue 20, item 3); a typo
/// of a provider's name gets "did you mean".
#[test]
fn keys_one_per_line_import_for_the_named_provider() {
    if keygate_tests::skip_on_postgres(
        "keys_one_per_line_import_for_the_named_provider",
        "keys read from stdin go to the OS keyring, which a shared store refuses",
    ) {
        return;
    }
    if !session_available("keys_one_per_line_import_for_the_named_provider") {
        return;
    }
    let env = TestEnv::new();
    let file = env.root().join("keys.txt");
    std::fs::write(
        &file,
        "sk-lines-ONE-aaaaaaaaaaaaaaaa\n\n# the team's\nsk-lines-TWO-bbbbbbbbbbbbbbbb\n",
    )
    .expect("write");
    let path = file.to_str().expect("utf8");
    let out = env.run(&["import", path, "--provider", "antrhopic"], "");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("did you mean \"anthropic\"?"), "{stderr}");
    let out = env.run(&["import", path], "");
    assert_eq!(
        out.status.code(),
        Some(2),
        "a .txt without --provider is a usage error"
    );
    let done = env.ok(&["import", path, "--provider", "anthropic"], "");
    assert!(done.contains("Imported 2 key(s)"), "{done}");
    let keys: Vec<Value> =
        serde_json::from_str(&env.ok(&["--json", "key", "list"], "")).expect("json");
    assert!(
        keys.iter().all(|k| k["provider"] == "anthropic"),
        "{keys:?}"
    );
    assert!(env.files_containing("sk-lines-").is_empty());
}
