//! KeyGate's domain logic: what a provider, a key, a key's health and an access token are,
//! and how import files are read. Pure and deterministic: no files, no sockets, no clock,
//! no randomness — callers pass those in, so everything here is unit tested in isolation.
//!
//! This crate must never perform I/O or hold a secret longer than the call that needs it.

pub mod balance;
pub mod bounds;
pub mod breaker;
pub mod budget;
pub mod connect;
pub mod events;
pub mod failure;
pub mod fingerprint;
pub mod health;
pub mod health_machine;
pub mod import;
pub mod key;
pub mod limits;
pub mod models;
pub mod prices;
pub mod probe;
pub mod provider;
pub mod redact;
pub mod select;
pub mod token;
pub mod translate;
