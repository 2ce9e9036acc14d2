//! Without a Secret Service the CLI must say why and what to do, and change nothing.

use keygate_tests::TestEnv;

#[test]
fn no_secret_service_is_a_clear_error_and_writes_nothing() {
    if keygate_tests::skip_on_postgres(
        "no_secret_service_is_a_clear_error_and_writes_nothing",
        "keys read from stdin go to the OS keyring, which a shared store refuses",
    ) {
        return;
    }
    let env = TestEnv::new();
    let socket = env.root().join("no-bus-here");
    let mut cmd = env.keygate();
    let out = keygate_tests::run_with_stdin(
        cmd.args(["key", "add", "--provider", "openai", "--label", "x"])
            .env(
                "DBUS_SESSION_BUS_ADDRESS",
                format!("unix:path={}", socket.display()),
            ),
        "sk-nobus-ABCDEFGHIJKLMNOPQRSTUV",
    );
    assert_eq!(out.status.code(), Some(1), "fails with exit code 1");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not available"), "says why: {stderr}");
    assert!(
        stderr.contains("gnome-keyring") && stderr.contains("KWallet"),
        "says what to start: {stderr}"
    );
    assert!(
        stderr.contains("--secret-env VAR"),
        "offers the headless alternative: {stderr}"
    );
    assert!(!stderr.contains("sk-nobus"), "{stderr}");

    let list = env.ok(&["--json", "key", "list"], "");
    assert_eq!(list.trim(), "[]", "no key row was written");
    let providers = env.ok(&["--json", "provider", "list"], "");
    assert_eq!(
        providers.trim(),
        "[]",
        "the preset provider was not created either"
    );
    assert!(env.files_containing("sk-nobus").is_empty());
}

#[test]
fn serve_without_keyring_or_admin_token_explains_both_fixes() {
    let env = TestEnv::new();
    let socket = env.root().join("no-bus-here");
    let out = env
        .keygate()
        .args(["serve", "--port", "0"])
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            format!("unix:path={}", socket.display()),
        )
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("admin token") && stderr.contains("KEYGATE_ADMIN_TOKEN"),
        "{stderr}"
    );
}
