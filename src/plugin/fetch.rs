//! Fetching remote key sets with the host's HTTP client, from the root context, when
//! [`RemoteJwks`](crate::remote::RemoteJwks) says one is due.

use super::stats;
use crate::config;
use crate::json;
use crate::jwks::KeySet;
use crate::policy::Policy;
use proxy_wasm::hostcalls;
use proxy_wasm::types::{BufferType, MapType};

/// Starts every fetch that is due, and gives up on calls that outlived their timeout.
/// True when a call ended (so requests held for it can be decided).
pub fn poll(policy: &Policy, now: f64) -> bool {
    let mut ended = false;
    for provider in policy.providers() {
        let Some(remote) = provider.remote() else {
            continue;
        };
        if remote.timed_out(now) {
            log::warn!(
                "jwt-policy: provider {}: key set fetch timed out",
                provider.name
            );
            remote.failed(now);
            stats::jwks_fetched(false);
            ended = true;
        }
        if !remote.should_fetch(now) {
            continue;
        }
        let headers = vec![
            (":method", "GET"),
            (":scheme", remote.scheme.as_str()),
            (":authority", remote.authority.as_str()),
            (":path", remote.path.as_str()),
            ("accept", "application/json"),
        ];
        match hostcalls::dispatch_http_call(&remote.cluster, headers, None, vec![], remote.timeout)
        {
            Ok(token) => remote.started(token, now),
            Err(status) => {
                log::warn!(
                    "jwt-policy: provider {}: cannot fetch keys from cluster {}: {status:?}",
                    provider.name,
                    remote.cluster
                );
                remote.failed(now);
                stats::jwks_fetched(false);
                ended = true;
            }
        }
    }
    ended
}

/// The answer to call `token`, if it was one of ours: installs the key set, or keeps the
/// last good one. True when it was ours.
pub fn answered(policy: &Policy, token: u32, body_size: usize, now: f64) -> bool {
    let Some(provider) = policy
        .providers()
        .iter()
        .find(|p| p.remote().and_then(|r| r.in_flight()) == Some(token))
    else {
        return false;
    };
    let Some(remote) = provider.remote() else {
        return false;
    };
    match key_set(body_size) {
        Ok((document, keys)) => {
            let count = keys.len();
            if remote.succeeded(now, &document, keys) {
                // Tokens verified with the old keys must be verified again.
                provider.cache.clear();
                log::info!(
                    "jwt-policy: provider {}: fetched {count} key(s)",
                    provider.name
                );
            }
            stats::jwks_fetched(true);
        }
        Err(why) => {
            log::warn!(
                "jwt-policy: provider {}: key set fetch failed ({why}); the last good copy, if any, stays",
                provider.name
            );
            remote.failed(now);
            stats::jwks_fetched(false);
        }
    }
    true
}

fn key_set(body_size: usize) -> Result<(Vec<u8>, KeySet), String> {
    let status = hostcalls::get_map_value_bytes(MapType::HttpCallResponseHeaders, ":status")
        .map_err(|status| format!("no response headers: {status:?}"))?
        .unwrap_or_default();
    if status != b"200" {
        return Err(format!("HTTP status {}", String::from_utf8_lossy(&status)));
    }
    if body_size > config::MAX_BYTES {
        return Err(format!(
            "a {body_size}-byte key set, more than {}",
            config::MAX_BYTES
        ));
    }
    let document = hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, body_size)
        .map_err(|status| format!("no body: {status:?}"))?
        .unwrap_or_default();
    let object = json::parse_object(&document).map_err(|error| format!("the key set {error}"))?;
    let parsed = KeySet::parse(&serde_json::Value::Object(object))
        .map_err(|error| format!("{}: {}", error.path, error.message))?;
    for line in &parsed.skipped {
        log::info!("jwt-policy: fetched key set: {line}");
    }
    if parsed.keys.is_empty() {
        return Err("the key set has no key this plugin can verify with".into());
    }
    Ok((document, parsed.keys))
}
