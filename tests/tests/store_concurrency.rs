//! Several `keygate` processes writing the same database at once must all succeed and leave
//! it intact (WAL, busy timeout, immediate transactions).

use std::process::Stdio;

use keygate_tests::TestEnv;
use serde_json::Value;

#[test]
fn concurrent_cli_invocations_do_not_corrupt_the_database() {
    let env = TestEnv::new();
    env.ok(&["provider", "add", "openai"], "");
    let writers = 12;
    let children: Vec<_> = (0..writers)
        .map(|i| {
            let var = format!("KG_TEST_CONCURRENT_{i}");
            env.keygate()
                .args([
                    "key",
                    "add",
                    "--provider",
                    "openai",
                    "--label",
                    &format!("k{i}"),
                    "--secret-env",
                    &var,
                ])
                .env(&var, format!("sk-concurrent-{i:02}-ABCDEFGHIJKLMNOP"))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    let readers: Vec<_> = (0..4)
        .map(|_| {
            env.keygate()
                .args(["--json", "key", "list"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for child in children.into_iter().chain(readers) {
        let out = child.wait_with_output().expect("wait");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let keys: Vec<Value> =
        serde_json::from_str(&env.ok(&["--json", "key", "list"], "")).expect("json");
    assert_eq!(keys.len(), writers);
    let store = env.store();
    assert_eq!(store.integrity_check().expect("integrity_check"), "ok");
}
