//! Which port the app's engine serves on. The wanted port (5397 or `KEYGATE_PORT`) when free;
//! when another KeyGate already serves it (say `keygate serve`), the window attaches to that
//! engine instead of starting a second one; when some other program holds it, a free port is
//! taken and the user is told which.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::time::Duration;

use anyhow::{Context as _, Result};
use keygate_server::bind_listener;

pub enum Listen {
    /// A listener of our own; `note` says why it is not on the wanted port.
    Own {
        listener: TcpListener,
        note: Option<String>,
    },
    /// Another KeyGate engine serves the wanted port.
    Attach { port: u16 },
}

pub fn choose(port: u16) -> Result<Listen> {
    let wanted = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    match bind_listener(wanted) {
        Ok(listener) => {
            return Ok(Listen::Own {
                listener,
                note: None,
            });
        }
        Err(err) if port == 0 => return Err(err.into()),
        Err(_) => {}
    }
    if is_keygate(port) {
        return Ok(Listen::Attach { port });
    }
    let listener = bind_listener(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .context("no free port on 127.0.0.1")?;
    let chosen = listener.local_addr()?.port();
    Ok(Listen::Own {
        listener,
        note: Some(format!(
            "Port {port} is used by another program, so KeyGate's proxy runs on port {chosen} \
             this time. Point your tools at http://127.0.0.1:{chosen}/v1, or free port {port}, \
             or set KEYGATE_PORT to a port of your choice."
        )),
    })
}

/// Whether the program on `port` is a KeyGate engine (its public health check says so).
fn is_keygate(port: u16) -> bool {
    let Ok(client) = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
    else {
        return false;
    };
    client
        .get(format!("http://127.0.0.1:{port}/api/health"))
        .send()
        .and_then(reqwest::blocking::Response::json::<serde_json::Value>)
        .is_ok_and(|health| health["service"] == "keygate")
}
