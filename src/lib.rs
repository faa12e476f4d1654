//! JWT validation for Envoy and Istio as a proxy-wasm HTTP filter.
//!
//! Everything but `plugin` is plain Rust with no dependency on the host, so it runs and is
//! tested natively; `plugin` is the thin proxy-wasm glue.

pub mod alg;
pub mod b64;
pub mod claims;
pub mod der;
pub mod json;
pub mod jwks;
pub mod jws;
pub mod key;
pub mod reason;

#[cfg(not(target_arch = "wasm32"))]
pub mod mint;
#[cfg(test)]
mod testing;
