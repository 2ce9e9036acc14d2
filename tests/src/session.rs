use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Set by `tests/run-in-session.sh`: a private D-Bus with an unlocked gnome-keyring, and a
/// virtual display. Under `CI=true` a test that needs the session fails instead of skipping.
pub const SESSION_ENV: &str = "KEYGATE_TEST_SESSION";

/// Whether the real keyring and display are available; prints why a test is skipped if not.
pub fn session_available(test: &str) -> bool {
    if std::env::var_os(SESSION_ENV).is_some() {
        return true;
    }
    assert!(
        std::env::var("CI").ok().as_deref() != Some("true"),
        "{test} needs the test session under CI: run it through `make test`"
    );
    eprintln!("skipped {test}: needs the keyring/display session that `make test` starts");
    false
}

/// A built binary of this workspace (`keygate`, `keygate-app`), next to the test's own
/// target directory, or under `KEYGATE_BIN_DIR`.
pub fn bin_path(name: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os("KEYGATE_BIN_DIR") {
        return PathBuf::from(dir).join(name);
    }
    let exe = std::env::current_exe().expect("test executable path");
    // target/debug/deps/<test> -> target/debug/<name>
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --workspace` first (make test does)",
        path.display()
    );
    path
}

/// A free loopback port for programs that cannot take an already bound socket.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    listener.local_addr().expect("addr").port()
}

/// Where tools look instead of HOME; unset for every command a test runs.
pub const CONNECT_OVERRIDES: [&str; 8] = [
    "CLAUDE_CONFIG_DIR",
    "CODEX_HOME",
    "GEMINI_CLI_HOME",
    "OPENCODE_CONFIG",
    "CONTINUE_GLOBAL_DIR",
    "XDG_CONFIG_HOME",
    "ZDOTDIR",
    "SHELL",
];

/// A private KeyGate world: its own `KEYGATE_HOME` and its own keyring service name, so tests
/// never see each other's keys or a user's.
pub struct TestEnv {
    dir: tempfile::TempDir,
    pub service: String,
    /// With `KEYGATE_TEST_POSTGRES`: this world's own schema on that server (admin URL,
    /// schema), which every command of the world uses as its store.
    postgres: Option<(String, String)>,
}

/// `KEYGATE_TEST_POSTGRES`: a PostgreSQL server URL; when set, every test world keeps its
/// data there (a schema of its own) instead of in a SQLite file, so the whole suite runs
/// against the team store (`tests/services/postgres.sh` starts such a server).
pub const TEST_POSTGRES_ENV: &str = "KEYGATE_TEST_POSTGRES";

/// For a test that does not apply to a team store (it keeps secrets in the keyring, or tests
/// SQLite's file itself): true, saying why, when the suite runs on PostgreSQL, so the test
/// returns at once.
pub fn skip_on_postgres(test: &str, why: &str) -> bool {
    let on = std::env::var(TEST_POSTGRES_ENV).is_ok_and(|u| !u.trim().is_empty());
    if on {
        eprintln!("skipped {test} on PostgreSQL: {why}");
    }
    on
}

fn postgres_schema(url: &str, name: &str) -> String {
    // Unique per process and world (the temp dir's name alone may differ only in case).
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let schema = format!(
        "w{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        name.to_ascii_lowercase()
            .replace(|c: char| !c.is_ascii_alphanumeric(), "_")
    );
    keygate_store::Store::postgres_batch(url, &format!("CREATE SCHEMA {schema}"))
        .unwrap_or_else(|e| panic!("{TEST_POSTGRES_ENV} must name a reachable server: {e}"));
    schema
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        if let Some((url, schema)) = &self.postgres {
            let _ =
                keygate_store::Store::postgres_batch(url, &format!("DROP SCHEMA {schema} CASCADE"));
        }
    }
}

impl Default for TestEnv {
    fn default() -> Self {
        Self::new()
    }
}

impl TestEnv {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("user")).expect("the test's HOME");
        let service = format!(
            "keygate-test-{}",
            dir.path()
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("x")
                .trim_start_matches('.')
        );
        let postgres = std::env::var(TEST_POSTGRES_ENV)
            .ok()
            .filter(|u| !u.trim().is_empty())
            .map(|url| {
                let schema = postgres_schema(&url, &service);
                (url, schema)
            });
        Self {
            dir,
            service,
            postgres,
        }
    }

    /// Where this world's data lives: its PostgreSQL schema under `KEYGATE_TEST_POSTGRES`,
    /// else the SQLite file in its home.
    pub fn store_location(&self) -> keygate_store::StoreLocation {
        match &self.postgres {
            Some((url, schema)) => {
                let sep = if url.contains('?') { '&' } else { '?' };
                keygate_store::StoreLocation::Postgres(format!(
                    "{url}{sep}options=-csearch_path%3D{schema}"
                ))
            }
            None => keygate_store::StoreLocation::Sqlite(self.home()),
        }
    }

    /// A connection to this world's store, as its commands see it.
    pub fn store(&self) -> keygate_store::Store {
        keygate_store::Store::connect(&self.store_location()).expect("open the world's store")
    }

    /// Whether this world's store is PostgreSQL (a test of SQLite's file itself skips then).
    pub fn on_postgres(&self) -> bool {
        self.postgres.is_some()
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// The HOME every command of this world runs with (tools' config files live here).
    pub fn user_home(&self) -> PathBuf {
        self.dir.path().join("user")
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// A `keygate` command with this world's environment.
    pub fn keygate(&self) -> Command {
        let mut cmd = Command::new(bin_path("keygate"));
        self.apply(&mut cmd);
        cmd
    }

    /// Sets this world's variables on any command (the desktop app, tauri-driver). Background
    /// health probes are off: they would reach real providers for preset keys, and add
    /// requests the proxy tests count (the checker's own tests turn them back on).
    pub fn apply(&self, cmd: &mut Command) {
        // `keygate connect` edits tools' files under HOME: never a developer's own.
        for var in CONNECT_OVERRIDES {
            cmd.env_remove(var);
        }
        cmd.env("HOME", self.user_home())
            .env("KEYGATE_HOME", self.home())
            .env("KEYGATE_HEALTH_CHECKER", "off")
            .env("KEYGATE_KEYRING_SERVICE", &self.service)
            .env_remove("KEYGATE_ADMIN_TOKEN")
            .env_remove("KEYGATE_PORT");
        match &self.postgres {
            Some(_) => {
                if let keygate_store::StoreLocation::Postgres(url) = self.store_location() {
                    cmd.env("KEYGATE_STORE", url);
                }
            }
            None => {
                cmd.env_remove("KEYGATE_STORE");
            }
        }
    }

    /// Runs `keygate ARGS` with `stdin` piped in; returns the output whatever the exit code.
    pub fn run(&self, args: &[&str], stdin: &str) -> Output {
        let mut cmd = self.keygate();
        run_with_stdin(cmd.args(args), stdin)
    }

    /// Like [`TestEnv::run`], and asserts success.
    pub fn ok(&self, args: &[&str], stdin: &str) -> String {
        let out = self.run(args, stdin);
        assert!(
            out.status.success(),
            "keygate {args:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Every file under `KEYGATE_HOME` (database, WAL, shm, anything else) containing `needle`.
    pub fn files_containing(&self, needle: &str) -> Vec<PathBuf> {
        let mut hits = Vec::new();
        grep_dir(&self.home(), needle.as_bytes(), &mut hits);
        hits
    }
}

pub fn run_with_stdin(cmd: &mut Command, stdin: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn keygate");
    if let Some(mut pipe) = child.stdin.take() {
        pipe.write_all(stdin.as_bytes()).expect("write stdin");
    }
    child.wait_with_output().expect("wait keygate")
}

/// Every file under `dir` containing `needle`, added to `hits`.
pub fn grep_dir(dir: &Path, needle: &[u8], hits: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            grep_dir(&path, needle, hits);
        } else if let Ok(bytes) = std::fs::read(&path)
            && bytes.windows(needle.len()).any(|w| w == needle)
        {
            hits.push(path);
        }
    }
}

/// Locks the keyring collection at `collection` (the object path `KEYGATE_TEST_LOCKABLE`
/// names), as a screen lock or a timeout would.
pub fn lock_keyring(collection: &str) {
    let out = Command::new("dbus-send")
        .args([
            "--session",
            "--dest=org.freedesktop.secrets",
            "--print-reply",
            "/org/freedesktop/secrets",
            "org.freedesktop.Secret.Service.Lock",
        ])
        .arg(format!("array:objpath:{collection}"))
        .output()
        .expect("dbus-send");
    assert!(
        out.status.success(),
        "lock failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
