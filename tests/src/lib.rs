//! Shared harness for KeyGate's integration tests: temporary homes, the built binaries,
//! and the test session (a real gnome-keyring under a private D-Bus, Xvfb for windows) that
//! `make test` sets up. Fake LLM upstreams join this crate with the proxy.
//!
//! Tests that need the session check [`session_available`]; outside `make test` they say
//! they were skipped, inside it they always run.

pub mod contract;
pub mod fake_anthropic;
pub mod fake_balance;
pub mod fake_upstream;
pub mod proxy_client;
pub mod reliability;
pub mod served;
mod session;
pub mod webdriver;
pub mod x11;

pub use session::{
    TestEnv, bin_path, free_port, grep_dir, lock_keyring, run_with_stdin, session_available,
    skip_on_postgres,
};
