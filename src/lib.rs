//! JWT validation for Envoy and Istio as a proxy-wasm HTTP filter.
//!
//! Everything but `plugin` is plain Rust with no dependency on the host, so it runs and is
//! tested natively; `plugin` is the thin proxy-wasm glue.
//!
//! No panic by construction: a panic in the VM aborts it, and every later request on its
//! worker fails. Outside tests, clippy (with `-D warnings`, in CI) refuses whatever can
//! panic on bad input: `unwrap`, `expect`, `panic!`, unchecked indexing and slicing.
// The configuration schema (`schema`) is one json! literal, deeper than the default allows.
#![recursion_limit = "256"]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented
    )
)]

pub mod alg;
pub mod b64;
pub mod claims;
pub mod conditions;
pub mod config;
#[cfg(test)]
mod conformance;
pub mod der;
#[cfg(not(target_arch = "wasm32"))]
pub mod explain;
pub mod extract;
pub mod host_signature;
pub mod json;
pub mod jwks;
pub mod jws;
pub mod jwt_cache;
pub mod key;
pub mod lru;
pub mod matcher;
pub mod metrics;
#[cfg(not(target_arch = "wasm32"))]
pub mod mint;
#[cfg(target_arch = "wasm32")]
mod plugin;
pub mod policy;
pub mod provider;
pub mod reason;
pub mod remote;
pub mod request;
pub mod requirement;
pub mod response;
#[cfg(not(target_arch = "wasm32"))]
pub mod schema;
#[cfg(test)]
mod testing;
