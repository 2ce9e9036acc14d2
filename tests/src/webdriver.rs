//! A minimal W3C WebDriver client, enough to drive the desktop app through tauri-driver:
//! start a session, run a script, take a screenshot, end the session.

use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

pub struct WebDriver {
    http: reqwest::blocking::Client,
    base: String,
    session: String,
}

impl WebDriver {
    /// Waits (bounded) for the driver at `base` to report ready, then opens a session that
    /// launches `application`.
    pub fn launch(base: &str, application: &str, ready_within: Duration) -> Result<Self, String> {
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| e.to_string())?;
        let deadline = Instant::now() + ready_within;
        loop {
            let ready = http
                .get(format!("{base}/status"))
                .send()
                .ok()
                .and_then(|r| r.json::<Value>().ok())
                .is_some_and(|v| v["value"]["ready"].as_bool().unwrap_or(true));
            if ready {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!("the WebDriver at {base} did not become ready"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let caps = json!({ "capabilities": { "alwaysMatch": { "tauri:options": { "application": application } } } });
        let response: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .and_then(reqwest::blocking::Response::json)
            .map_err(|e| format!("new session: {e}"))?;
        let session = response["value"]["sessionId"]
            .as_str()
            .ok_or_else(|| format!("new session failed: {response}"))?
            .to_string();
        Ok(Self {
            http,
            base: base.to_string(),
            session,
        })
    }

    fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut request = self.http.request(method, url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let value: Value = request
            .send()
            .and_then(reqwest::blocking::Response::json)
            .map_err(|e| e.to_string())?;
        if value["value"].get("error").is_some() {
            return Err(format!("webdriver error: {}", value["value"]));
        }
        Ok(value["value"].clone())
    }

    /// Runs JavaScript in the page and returns its result.
    pub fn execute(&self, script: &str) -> Result<Value, String> {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({ "script": script, "args": [] })),
        )
    }

    /// Polls the page's visible text until `predicate` holds or `within` passes.
    pub fn wait_for_text(
        &self,
        within: Duration,
        predicate: impl Fn(&str) -> bool,
    ) -> Result<String, String> {
        let deadline = Instant::now() + within;
        let mut last = String::new();
        while Instant::now() < deadline {
            if let Ok(Value::String(text)) =
                self.execute("return document.body ? document.body.innerText : ''")
            {
                if predicate(&text) {
                    return Ok(text);
                }
                last = text;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!(
            "the page never showed what was expected; last text:\n{last}"
        ))
    }

    /// The first element matching a CSS selector (W3C element reference).
    pub fn find(&self, css: &str) -> Result<String, String> {
        let value = self.call(
            reqwest::Method::POST,
            "/element",
            Some(json!({ "using": "css selector", "value": css })),
        )?;
        value
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("no element matches {css:?}"))
    }

    /// Clicks an element as a user would (the driver scrolls it into view first).
    pub fn click(&self, element: &str) -> Result<(), String> {
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/click"),
            Some(json!({})),
        )
        .map(|_| ())
    }

    /// Types `text` into an element (a field, or a select to pick the option with that text).
    pub fn type_into(&self, element: &str, text: &str) -> Result<(), String> {
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/value"),
            Some(json!({ "text": text })),
        )
        .map(|_| ())
    }

    /// Polls until an element matches `css` (bounded), then returns it.
    pub fn wait_for(&self, css: &str, within: Duration) -> Result<String, String> {
        let deadline = Instant::now() + within;
        loop {
            match self.find(css) {
                Ok(element) => return Ok(element),
                Err(err) if Instant::now() > deadline => return Err(err),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// A PNG screenshot of the window.
    pub fn screenshot(&self) -> Result<Vec<u8>, String> {
        let value = self.call(reqwest::Method::GET, "/screenshot", None)?;
        let data = value.as_str().ok_or("screenshot is not a string")?;
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|e| e.to_string())
    }

    /// Ends the session, which closes the application.
    pub fn quit(self) -> Result<(), String> {
        self.call(reqwest::Method::DELETE, "", None).map(|_| ())
    }
}
