//! `keygate serve` as a child process on port 0, set up through the real CLI with providers,
//! keys (secrets passed as environment references, so no keyring is needed) and an access token.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::TestEnv;

pub const ADMIN_TOKEN: &str = "kg-admin-test-000000000000000000";

/// A key to add: label, secret, priority.
pub struct KeySpec<'a> {
    pub label: &'a str,
    pub secret: &'a str,
    pub priority: i64,
    /// `--rpm`: the key's local requests-per-minute limit.
    pub rpm: Option<u32>,
    /// More `key add` options, e.g. `&["--daily-tokens", "50"]`.
    pub extra: &'static [&'static str],
}

pub fn key<'a>(label: &'a str, secret: &'a str) -> KeySpec<'a> {
    KeySpec {
        label,
        secret,
        priority: 0,
        rpm: None,
        extra: &[],
    }
}

/// A running `keygate serve`, killed when dropped.
pub struct Served {
    pub env: TestEnv,
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// A local access token for `/v1`.
    pub token: String,
    secrets: Vec<(String, String)>,
}

impl Served {
    /// Adds a provider of kind `openai` at `base_url` with `keys`, before [`Served::start`].
    pub fn provider(
        env: &TestEnv,
        name: &str,
        base_url: &str,
        priority: i64,
        keys: &[KeySpec<'_>],
    ) -> Vec<(String, String)> {
        Self::provider_of_kind(env, name, "openai", base_url, priority, keys)
    }

    /// Like [`Served::provider`], for a provider of any kind.
    pub fn provider_of_kind(
        env: &TestEnv,
        name: &str,
        kind: &str,
        base_url: &str,
        priority: i64,
        keys: &[KeySpec<'_>],
    ) -> Vec<(String, String)> {
        env.ok(
            &[
                "provider",
                "add",
                name,
                "--kind",
                kind,
                "--base-url",
                base_url,
                "--priority",
                &priority.to_string(),
            ],
            "",
        );
        let mut secrets = Vec::new();
        for spec in keys {
            let var = format!(
                "KG_TEST_SECRET_{}",
                spec.label.to_ascii_uppercase().replace(['-', ' '], "_")
            );
            let mut args = vec![
                "key".to_string(),
                "add".into(),
                "--provider".into(),
                name.into(),
                "--label".into(),
                spec.label.into(),
                "--priority".into(),
                spec.priority.to_string(),
                "--secret-env".into(),
                var.clone(),
            ];
            if let Some(rpm) = spec.rpm {
                args.extend(["--rpm".into(), rpm.to_string()]);
            }
            args.extend(spec.extra.iter().map(|a| a.to_string()));
            let out = env
                .keygate()
                .args(&args)
                .env(&var, spec.secret)
                .output()
                .expect("key add");
            assert!(
                out.status.success(),
                "key add failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            secrets.push((var, spec.secret.to_string()));
        }
        secrets
    }

    /// Creates an access token and starts `keygate serve --port 0` with the keys' variables.
    pub fn start(env: TestEnv, secrets: Vec<(String, String)>) -> Self {
        Self::start_with_env(env, secrets, &[])
    }

    /// Like [`Served::start`], with extra environment variables for serve.
    pub fn start_with_env(
        env: TestEnv,
        secrets: Vec<(String, String)>,
        extra: &[(&str, &str)],
    ) -> Self {
        let created = env.ok(&["--json", "token", "create", "test-client"], "");
        let token =
            serde_json::from_str::<serde_json::Value>(&created).expect("token json")["token"]
                .as_str()
                .expect("token")
                .to_string();
        Self::restart(env, token, secrets, extra)
    }

    /// Starts `keygate serve --port 0` on a home that already has its access `token` (after
    /// [`Served::kill_hard`], say), with the keys' variables and `extra` ones.
    pub fn restart(
        env: TestEnv,
        token: String,
        secrets: Vec<(String, String)>,
        extra: &[(&str, &str)],
    ) -> Self {
        let mut cmd = env.keygate();
        cmd.args(["serve", "--port", "0"])
            .env("KEYGATE_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("KEYGATE_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (var, secret) in &secrets {
            cmd.env(var, secret);
        }
        cmd.envs(extra.iter().copied());
        let (child, url) = spawn_and_read_url(&mut cmd);
        let base = url.split("/#token=").next().unwrap_or_default().to_string();
        Self {
            env,
            child: Some(child),
            base,
            token,
            secrets,
        }
    }

    /// Stops with SIGTERM and returns stderr (for grepping); asserts a clean exit.
    pub fn stop(self) -> String {
        self.stop_keeping_home().0
    }

    /// Like [`Served::stop`], and hands back the test world so its files can be inspected.
    pub fn stop_keeping_home(mut self) -> (String, TestEnv) {
        let env = std::mem::take(&mut self.env);
        let Some(child) = self.child.take() else {
            return (String::new(), env);
        };
        let status = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let out = child.wait_with_output().expect("wait serve");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "serve did not stop cleanly: {stderr}");
        (stderr, env)
    }

    /// Kills the engine with SIGKILL (no drain, no last batch, no clean-up) and returns what
    /// it wrote to stderr, the test world, and the keys' variables for [`Served::restart`].
    pub fn kill_hard(mut self) -> (String, TestEnv, Vec<(String, String)>) {
        let env = std::mem::take(&mut self.env);
        let secrets = std::mem::take(&mut self.secrets);
        let Some(mut child) = self.child.take() else {
            return (String::new(), env, secrets);
        };
        child.kill().expect("SIGKILL serve");
        let out = child.wait_with_output().expect("wait serve");
        (
            String::from_utf8_lossy(&out.stderr).into_owned(),
            env,
            secrets,
        )
    }

    /// `keygate ARGS` on this engine's home, able to reach the engine as a user's CLI does:
    /// serve took its admin token from the environment, so the CLI gets it there too.
    /// Returns the output whatever the exit code.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        let mut cmd = self.env.keygate();
        cmd.env("KEYGATE_ADMIN_TOKEN", ADMIN_TOKEN);
        crate::run_with_stdin(cmd.args(args), "")
    }

    /// Like [`Served::cli`], and asserts success; returns stdout.
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "keygate {args:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The engine's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn secrets(&self) -> impl Iterator<Item = &str> {
        self.secrets.iter().map(|(_, s)| s.as_str())
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Spawns `keygate serve …` and waits (bounded) for its `Web UI:` line.
pub fn spawn_and_read_url(cmd: &mut std::process::Command) -> (Child, String) {
    let mut child = cmd.spawn().expect("spawn serve");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("Web UI: ") {
                let _ = tx.send(url.to_string());
            }
        }
    });
    let Ok(url) = rx.recv_timeout(Duration::from_secs(30)) else {
        let _ = child.kill();
        let out = child.wait_with_output().expect("output");
        panic!(
            "serve printed no URL: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    (child, url)
}
