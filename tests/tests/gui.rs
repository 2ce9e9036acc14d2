//! The desktop app in a real window (Xvfb), driven through tauri-driver and WebKitWebDriver:
//! it starts its engine, opens on the setup guide for an empty home, shows a key added from
//! the CLI, serves the API on its own port while the window is open, keeps serving when the window is closed, hands a
//! second launch over to the first instance (no second engine), and drains and stops on
//! SIGTERM the way Quit does.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use keygate_tests::webdriver::WebDriver;
use keygate_tests::{TestEnv, bin_path, free_port, session_available};

const SECRET: &str = "sk-gui-SECRET-ABCDEFGHIJKLMNOPQRSTUV";
const UI_SECRET: &str = "sk-gui-TYPED-ZYXWVUTSRQPONMLKJIHGF";

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn tauri_driver() -> PathBuf {
    if let Some(path) = std::env::var_os("TAURI_DRIVER") {
        return PathBuf::from(path);
    }
    let cargo_bin = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .map(|dir| dir.join("bin").join("tauri-driver"));
    cargo_bin
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("tauri-driver"))
}

#[test]
fn desktop_window_shows_the_ui_and_serves_the_engine() {
    if !session_available("desktop_window_shows_the_ui_and_serves_the_engine") {
        return;
    }
    let env = TestEnv::new();

    let port = free_port();
    let native_port = free_port();
    let mut driver = Command::new(tauri_driver());
    env.apply(&mut driver);
    driver
        .args([
            "--port",
            &port.to_string(),
            "--native-port",
            &native_port.to_string(),
        ])
        .env("KEYGATE_PORT", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    let _driver = KillOnDrop(
        driver
            .spawn()
            .expect("tauri-driver is installed (make test installs it)"),
    );

    let app = bin_path("keygate-app");
    let session = WebDriver::launch(
        &format!("http://127.0.0.1:{port}"),
        &app.to_string_lossy(),
        Duration::from_secs(30),
    )
    .expect("tauri-driver starts a session with keygate-app");

    // An empty home: the window opens on the first-run guide.
    let welcome = session
        .wait_for_text(Duration::from_secs(30), |t| t.contains("Get started"))
        .expect("the window opens on the setup guide for an empty home");
    assert!(
        welcome.contains("Which provider are your keys for?"),
        "{welcome}"
    );

    // A key added from the CLI reaches the running engine of the window.
    env.ok(
        &[
            "key",
            "add",
            "--provider",
            "openai",
            "--label",
            "gui-main",
            "--tag",
            "desktop",
        ],
        SECRET,
    );
    session
        .execute("location.hash = '#/'; return true")
        .expect("navigate");
    let dashboard = session
        .wait_for_text(Duration::from_secs(30), |t| {
            t.contains("Dashboard") && t.contains("1 key across 1 provider")
        })
        .expect("the window shows the Dashboard with the key");
    assert!(!dashboard.contains(SECRET));

    session
        .execute("location.hash = '#/keys'; return true")
        .expect("navigate");
    let keys = session
        .wait_for_text(Duration::from_secs(15), |t| t.contains("gui-main"))
        .expect("the Keys page lists the key added from the CLI");
    assert!(keys.contains("openai"), "{keys}");
    assert!(
        !keys.contains(SECRET) && !keys.contains("SECRET-ABCD"),
        "the page never shows the secret"
    );

    // Add a key through the UI, as a person would: the Add key dialog, provider, secret, label.
    let add = session
        .wait_for("button.btn.primary", Duration::from_secs(10))
        .expect("the Add key button");
    session.click(&add).expect("open the dialog");
    let deepseek = session
        .wait_for(
            "#add-key-provider option[value=deepseek]",
            Duration::from_secs(10),
        )
        .expect("deepseek among the presets");
    session.click(&deepseek).expect("pick deepseek");
    let secret = session.find("#add-key-secret").expect("the secret field");
    session
        .type_into(&secret, UI_SECRET)
        .expect("type the secret");
    let label = session.find("#add-key-label").expect("the label field");
    session
        .type_into(&label, "gui-added")
        .expect("type the label");
    let save = session
        .find("dialog[aria-labelledby=add-key-title] button[type=submit]")
        .expect("the Save button");
    session.click(&save).expect("save");
    let keys = session
        .wait_for_text(Duration::from_secs(15), |t| t.contains("gui-added"))
        .expect("the new key is listed");
    assert!(!keys.contains(UI_SECRET), "the page never shows the secret");
    let listed = env.ok(&["--json", "key", "list"], "");
    assert!(
        listed.contains("gui-added") && listed.contains("deepseek"),
        "{listed}"
    );

    // Let the page paint the new route before the screenshot (two animation frames).
    session
        .execute("return new Promise(done => requestAnimationFrame(() => requestAnimationFrame(() => done(true))))")
        .expect("wait for paint");
    let shot = session.screenshot().expect("screenshot");
    let artifacts = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("e2e")
        .join("artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    std::fs::write(artifacts.join("desktop-keys.png"), &shot).expect("write screenshot");
    assert!(shot.starts_with(b"\x89PNG"), "a PNG screenshot");

    // The engine inside the app answers on its own port while the window is open.
    let origin = session.execute("return location.origin").expect("origin");
    let origin = origin.as_str().expect("origin string").to_string();
    assert!(origin.starts_with("http://127.0.0.1:"), "{origin}");
    let health: serde_json::Value = reqwest::blocking::get(format!("{origin}/api/health"))
        .and_then(reqwest::blocking::Response::json)
        .expect("engine answers");
    assert_eq!(health["status"], "ok");

    // A second launch hands its page over to the first instance and exits: no second engine.
    let engine_file = env.home().join("engine.json");
    let first: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&engine_file).expect("engine.json"))
            .expect("engine.json is JSON");
    let mut second = Command::new(&app);
    env.apply(&mut second);
    let second = second
        .args(["--page", "providers"])
        .env("KEYGATE_PORT", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("second launch");
    let mut second = KillOnDrop(second);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = second.0.try_wait().expect("wait") {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the second instance kept running"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        status.success(),
        "the second launch exits cleanly: {status}"
    );
    let now: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&engine_file).expect("engine.json"))
            .expect("engine.json is JSON");
    assert_eq!(now, first, "still the first engine");
    let hash = session.execute("return location.hash").expect("hash");
    assert_eq!(
        hash, "#/providers",
        "the first window shows the page the second asked for"
    );

    // Closing the window (the close button's WM_DELETE_WINDOW) keeps the proxy running in the
    // tray: the window hides.
    let closed = keygate_tests::x11::request_close("KeyGate").expect("ask the window to close");
    assert!(closed >= 1, "the KeyGate window was found");
    let deadline = Instant::now() + Duration::from_secs(10);
    while session
        .execute("return document.visibilityState")
        .is_ok_and(|v| v != "hidden")
    {
        assert!(Instant::now() < deadline, "the window never hid");
        std::thread::sleep(Duration::from_millis(50));
    }
    let health: serde_json::Value = reqwest::blocking::get(format!("{origin}/api/health"))
        .and_then(reqwest::blocking::Response::json)
        .expect("the engine still answers with the window closed");
    assert_eq!(health["status"], "ok");

    // SIGTERM (like Quit in the tray) drains and stops the engine, and removes engine.json.
    let pid = first["pid"].as_u64().expect("pid");
    let killed = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    while reqwest::blocking::get(format!("{origin}/api/health")).is_ok() || engine_file.exists() {
        assert!(
            Instant::now() < deadline,
            "the engine kept serving after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = session.quit();
    assert!(env.files_containing(SECRET).is_empty());
    assert!(env.files_containing(UI_SECRET).is_empty());
}
