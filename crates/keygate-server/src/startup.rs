//! What every binary does before starting the engine: bind the port with a helpful error,
//! and find (or create) the admin token. Shared by `keygate serve` and the desktop app.

use std::net::SocketAddr;

use keygate_core::token::token_from_random_bytes;
use keygate_vault::{Sensitive, Vault, VaultError};

/// The keyring account that holds the admin token.
pub const ADMIN_TOKEN_ACCOUNT: &str = "admin-token";
/// Overrides the stored admin token (headless hosts without a keyring, tests).
pub const ADMIN_TOKEN_ENV: &str = "KEYGATE_ADMIN_TOKEN";

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(
        "port {port} on {ip} is already in use (another KeyGate, or another program). Stop it, or choose another port with --port N or KEYGATE_PORT=N"
    )]
    PortBusy { ip: std::net::IpAddr, port: u16 },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot find the user's data directory; set KEYGATE_HOME")]
    NoHome,
    #[error("cannot get the admin token: {0} (or set {ADMIN_TOKEN_ENV} to a token of your choice)")]
    AdminToken(VaultError),
}

/// Binds a TCP listener for the engine with `TCP_NODELAY`-friendly defaults.
pub fn bind_listener(addr: SocketAddr) -> Result<std::net::TcpListener, StartupError> {
    match std::net::TcpListener::bind(addr) {
        Ok(listener) => {
            listener
                .set_nonblocking(true)
                .map_err(|source| StartupError::Bind { addr, source })?;
            Ok(listener)
        }
        Err(err) if err.kind() == std::io::ErrorKind::AddrInUse => Err(StartupError::PortBusy {
            ip: addr.ip(),
            port: addr.port(),
        }),
        Err(source) => Err(StartupError::Bind { addr, source }),
    }
}

/// The admin token: `KEYGATE_ADMIN_TOKEN` if set, else the keyring's, created on first start.
pub fn load_or_create_admin_token(
    vault: &Vault,
    env_override: Option<String>,
) -> Result<Sensitive<String>, StartupError> {
    if let Some(token) = env_override.filter(|t| !t.trim().is_empty()) {
        return Ok(Sensitive::new(token.trim().to_string()));
    }
    if let Some(token) = vault
        .load(ADMIN_TOKEN_ACCOUNT)
        .map_err(StartupError::AdminToken)?
    {
        return Ok(token);
    }
    let bytes: [u8; 64] = rand::random();
    let token =
        Sensitive::new(token_from_random_bytes(&bytes).unwrap_or_else(|| hex_fallback(&bytes)));
    vault
        .store(ADMIN_TOKEN_ACCOUNT, &token)
        .map_err(StartupError::AdminToken)?;
    Ok(token)
}

/// Used only if the rejection sampling above ran out of bytes (astronomically unlikely).
fn hex_fallback(bytes: &[u8]) -> String {
    bytes.iter().take(24).map(|b| format!("{b:02x}")).collect()
}

/// `KEYGATE_HOME`, or the platform data directory's `keygate` folder.
pub fn resolve_home() -> Result<std::path::PathBuf, StartupError> {
    match std::env::var_os("KEYGATE_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => Ok(std::path::PathBuf::from(dir)),
        None => directories::BaseDirs::new()
            .map(|dirs| dirs.data_dir().join("keygate"))
            .ok_or(StartupError::NoHome),
    }
}

/// The vault under `KEYGATE_KEYRING_SERVICE`, or the default service name.
pub fn vault_from_env() -> Vault {
    let service = std::env::var(keygate_vault::SERVICE_ENV)
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| keygate_vault::DEFAULT_SERVICE.to_string());
    Vault::new(service)
}
