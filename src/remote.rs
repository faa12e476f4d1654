//! A provider's keys fetched from its issuer (Envoy's `remote_jwks`): where from, when to
//! fetch again, and the last good copy. Only the decisions live here; the glue makes the
//! HTTP call when [`RemoteJwks::should_fetch`] says so and reports back.
//!
//! Beyond Envoy: a token that names a `kid` the key set lacks asks for an early refetch
//! (at most one per `unknown_kid_refetch_interval`), and the request waits for it, so an
//! issuer that rotates its keys is followed at once rather than after `cache_duration`.

use crate::config::{self, ConfigError};
use crate::jwks::KeySet;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

/// Envoy's default `cache_duration`.
pub const DEFAULT_CACHE_DURATION: Duration = Duration::from_secs(600);
/// Envoy's default wait after a failed fetch (`async_fetch.failed_refetch_duration`).
pub const DEFAULT_FAILED_REFETCH: Duration = Duration::from_secs(1);
/// Default fetch timeout when `http_uri.timeout` is absent.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default least time between two fetches caused by unknown `kid`s.
pub const DEFAULT_UNKNOWN_KID_INTERVAL: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub struct RemoteJwks {
    /// Envoy cluster that reaches the issuer.
    pub cluster: String,
    pub scheme: String,
    pub authority: String,
    pub path: String,
    pub timeout: Duration,
    cache_duration: f64,
    failed_refetch: f64,
    unknown_kid_interval: f64,
    state: RefCell<State>,
}

#[derive(Debug, Default)]
struct State {
    /// The last key set fetched and parsed, and the document it came from.
    keys: Option<Rc<KeySet>>,
    document: Vec<u8>,
    /// When the next scheduled fetch is due (0: as soon as possible).
    due: f64,
    /// The call in flight: the host's token and when it started.
    in_flight: Option<(u32, f64)>,
    /// An early fetch asked for by a token with an unknown `kid`.
    wanted: bool,
    /// When the last early fetch was granted.
    last_early: Option<f64>,
    /// Some fetch has completed, well or not.
    attempted: bool,
}

impl RemoteJwks {
    pub fn compile(config: &config::RemoteJwks, path: &str) -> Result<RemoteJwks, ConfigError> {
        if config.retry_policy.is_some() {
            return Err(ConfigError::at(
                format!("{path}.retry_policy"),
                "not supported: a failed fetch is retried after async_fetch.failed_refetch_duration",
            ));
        }
        let uri_path = format!("{path}.http_uri.uri");
        let (scheme, rest) = config
            .http_uri
            .uri
            .split_once("://")
            .filter(|(scheme, _)| matches!(*scheme, "http" | "https"))
            .ok_or_else(|| ConfigError::at(&uri_path, "must be an http:// or https:// URL"))?;
        let (authority, request_path) = match rest.find('/') {
            Some(slash) => (&rest[..slash], &rest[slash..]),
            None => (rest, "/"),
        };
        if authority.is_empty() {
            return Err(ConfigError::at(&uri_path, "has no host"));
        }
        if config.http_uri.cluster.is_empty() {
            return Err(ConfigError::at(
                format!("{path}.http_uri.cluster"),
                "must name the Envoy cluster that reaches the issuer",
            ));
        }
        let failed_refetch = config
            .async_fetch
            .as_ref()
            .and_then(|fetch| fetch.failed_refetch_duration)
            .unwrap_or(DEFAULT_FAILED_REFETCH);
        Ok(RemoteJwks {
            cluster: config.http_uri.cluster.clone(),
            scheme: scheme.to_string(),
            authority: authority.to_string(),
            path: request_path.to_string(),
            timeout: config.http_uri.timeout.unwrap_or(DEFAULT_TIMEOUT),
            cache_duration: config
                .cache_duration
                .unwrap_or(DEFAULT_CACHE_DURATION)
                .as_secs_f64(),
            failed_refetch: failed_refetch.as_secs_f64(),
            unknown_kid_interval: config
                .unknown_kid_refetch_interval
                .unwrap_or(DEFAULT_UNKNOWN_KID_INTERVAL)
                .as_secs_f64(),
            state: RefCell::new(State::default()),
        })
    }

    /// The last good key set, if any fetch has succeeded.
    pub fn keys(&self) -> Option<Rc<KeySet>> {
        self.state.borrow().keys.clone()
    }

    /// True while no fetch has completed yet: a request may wait for the first one.
    pub fn first_fetch_pending(&self) -> bool {
        !self.state.borrow().attempted
    }

    /// A token named a `kid` the key set lacks: grants an early fetch unless one was granted
    /// less than `unknown_kid_refetch_interval` ago. True when the request may wait for it.
    pub fn want_early_fetch(&self, now: f64) -> bool {
        let mut state = self.state.borrow_mut();
        if state.in_flight.is_some() {
            return true;
        }
        if state
            .last_early
            .is_some_and(|last| now - last < self.unknown_kid_interval)
        {
            return false;
        }
        state.last_early = Some(now);
        state.wanted = true;
        true
    }

    pub fn should_fetch(&self, now: f64) -> bool {
        let state = self.state.borrow();
        state.in_flight.is_none() && (state.wanted || now >= state.due)
    }

    pub fn in_flight(&self) -> Option<u32> {
        self.state.borrow().in_flight.map(|(token, _)| token)
    }

    /// True when the call in flight has outlived its timeout (its answer will never come).
    pub fn timed_out(&self, now: f64) -> bool {
        let timeout = self.timeout.as_secs_f64();
        self.state
            .borrow()
            .in_flight
            .is_some_and(|(_, started)| now > started + timeout + 1.0)
    }

    pub fn started(&self, token: u32, now: f64) {
        let mut state = self.state.borrow_mut();
        state.in_flight = Some((token, now));
        state.wanted = false;
    }

    /// A key set arrived, parsed from `document`; true when the document differs from the
    /// one before (the provider's token cache must then be emptied).
    pub fn succeeded(&self, now: f64, document: &[u8], keys: KeySet) -> bool {
        let mut state = self.state.borrow_mut();
        let changed = state.keys.is_none() || state.document != document;
        state.keys = Some(Rc::new(keys));
        state.document = document.to_vec();
        state.in_flight = None;
        state.attempted = true;
        state.due = now + self.cache_duration;
        changed
    }

    /// The fetch failed: the last good copy keeps serving; try again soon.
    pub fn failed(&self, now: f64) {
        let mut state = self.state.borrow_mut();
        state.in_flight = None;
        state.attempted = true;
        state.due = now + self.failed_refetch;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alg::Algorithm;
    use crate::testing::{jwk, jwks};

    fn remote(extra: serde_json::Value) -> RemoteJwks {
        let mut config = serde_json::json!({
            "http_uri": {"uri": "https://idp.example:8443/keys?v=1", "cluster": "idp", "timeout": "2s"},
            "cache_duration": "300s"
        });
        if let (Some(target), serde_json::Value::Object(extra)) = (config.as_object_mut(), extra) {
            target.extend(extra);
        }
        let config: config::RemoteJwks = serde_json::from_value(config).unwrap();
        RemoteJwks::compile(&config, "providers.p.remote_jwks").unwrap()
    }

    const DOCUMENT: &[u8] = b"{...}";

    fn key_set() -> KeySet {
        KeySet::parse(&jwks(&[jwk(Algorithm::EdDSA, Some("a"))]))
            .unwrap()
            .keys
    }

    #[test]
    fn splits_the_uri_for_the_call() {
        let r = remote(serde_json::json!({}));
        assert_eq!(
            (r.scheme.as_str(), r.authority.as_str(), r.path.as_str()),
            ("https", "idp.example:8443", "/keys?v=1")
        );
        assert_eq!(r.timeout, Duration::from_secs(2));
        let bad = |uri: &str| {
            let config: config::RemoteJwks = serde_json::from_value(
                serde_json::json!({"http_uri": {"uri": uri, "cluster": "c"}}),
            )
            .unwrap();
            RemoteJwks::compile(&config, "r").unwrap_err().path
        };
        assert_eq!(bad("ftp://x/keys"), "r.http_uri.uri");
        assert_eq!(bad("https:///keys"), "r.http_uri.uri");
    }

    #[test]
    fn fetches_then_refreshes_after_cache_duration_and_retries_after_failure() {
        let r = remote(serde_json::json!({}));
        assert!(r.first_fetch_pending() && r.should_fetch(0.0));
        r.started(7, 0.0);
        assert!(!r.should_fetch(0.5) && r.in_flight() == Some(7));
        assert!(
            r.succeeded(0.5, DOCUMENT, key_set()),
            "the first key set is a change"
        );
        assert!(!r.first_fetch_pending() && r.keys().is_some());
        assert!(!r.should_fetch(300.0) && r.should_fetch(300.6));
        r.started(8, 300.6);
        r.failed(300.7);
        assert!(r.keys().is_some(), "the last good copy keeps serving");
        assert!(!r.should_fetch(301.5) && r.should_fetch(301.8));
        r.started(9, 301.8);
        assert!(
            !r.succeeded(302.0, DOCUMENT, key_set()),
            "the same keys again change nothing"
        );
    }

    #[test]
    fn unknown_kids_refetch_early_but_not_too_often() {
        let r = remote(serde_json::json!({"unknown_kid_refetch_interval": "10s"}));
        r.started(1, 0.0);
        r.succeeded(0.1, DOCUMENT, key_set());
        assert!(r.want_early_fetch(5.0) && r.should_fetch(5.0));
        r.started(2, 5.0);
        assert!(r.want_early_fetch(5.1), "one in flight: wait for it");
        r.succeeded(5.2, b"{other}", key_set());
        assert!(
            !r.want_early_fetch(9.0) && !r.should_fetch(9.0),
            "rate limited"
        );
        assert!(r.want_early_fetch(15.1));
    }

    #[test]
    fn a_call_that_never_answers_times_out() {
        let r = remote(serde_json::json!({}));
        r.started(1, 0.0);
        assert!(!r.timed_out(2.5) && r.timed_out(3.5));
    }
}
