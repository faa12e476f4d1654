//! Each provider's cache of tokens whose signature it verified (Envoy's `jwt_cache_config`,
//! on by default here). A hit skips only parsing and the signature: every claim check, the
//! rule's conditions and the forwarding run again on every request. The cache belongs to a
//! compiled configuration, so a key rotated out by a push can never be served from it.

use crate::config;
use crate::jws::Jws;
use crate::lru::Lru;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

/// Entries per provider when `jwt_cache_config` is absent: Envoy's default size.
pub const DEFAULT_SIZE: usize = 100;
/// Longest token cached, as Envoy's `jwt_max_token_size` default.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 4096;

pub struct JwtCache {
    entries: RefCell<Lru<Rc<Jws>>>,
    max_token_bytes: usize,
    hits: Cell<u64>,
    misses: Cell<u64>,
}

impl JwtCache {
    pub fn new(config: Option<&config::JwtCacheConfig>) -> JwtCache {
        let (size, max_token_bytes) = match config {
            None => (DEFAULT_SIZE, DEFAULT_MAX_TOKEN_BYTES),
            Some(config) => (
                config.jwt_cache_size.unwrap_or(DEFAULT_SIZE as u32) as usize,
                match config.jwt_max_token_size {
                    None | Some(0) => DEFAULT_MAX_TOKEN_BYTES,
                    Some(max) => max as usize,
                },
            ),
        };
        JwtCache {
            entries: RefCell::new(Lru::new(size)),
            max_token_bytes,
            hits: Cell::new(0),
            misses: Cell::new(0),
        }
    }

    fn enabled(&self) -> bool {
        self.entries
            .try_borrow()
            .is_ok_and(|lru| lru.capacity() > 0)
    }

    /// A token this provider verified before, if it is still cached.
    pub fn get(&self, token: &str) -> Option<Rc<Jws>> {
        if !self.enabled() || token.len() > self.max_token_bytes {
            return None;
        }
        let found = self
            .entries
            .try_borrow_mut()
            .ok()
            .and_then(|mut lru| lru.get(token).cloned());
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.set(counter.get() + 1);
        found
    }

    /// Keeps a token whose signature and claims just verified.
    pub fn insert(&self, jws: &Rc<Jws>) {
        if jws.token().len() > self.max_token_bytes {
            return;
        }
        if let Ok(mut lru) = self.entries.try_borrow_mut() {
            lru.insert(jws.token(), jws.clone());
        }
    }

    /// Forgets every token: the keys they were verified with changed.
    pub fn clear(&self) {
        if let Ok(mut lru) = self.entries.try_borrow_mut() {
            *lru = Lru::new(lru.capacity());
        }
    }

    pub fn hits(&self) -> u64 {
        self.hits.get()
    }

    pub fn misses(&self) -> u64 {
        self.misses.get()
    }

    pub fn len(&self) -> usize {
        self.entries.try_borrow().map_or(0, |lru| lru.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl std::fmt::Debug for JwtCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtCache")
            .field("entries", &self.len())
            .field("max_token_bytes", &self.max_token_bytes)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use crate::alg::Algorithm;
    use crate::policy::{Policy, Verdict};
    use crate::request::{headers, Request};
    use crate::testing::{claims, jwk, jwks, token, NOW};
    use serde_json::{json, Value};

    const ISSUER: &str = "https://issuer.example";

    /// Two providers reading the same header with different keys, and rules that ask for
    /// different things of the same token.
    fn config(cache: Value) -> Value {
        let provider = |alg, kid| {
            json!({
                "issuer": ISSUER,
                "audiences": ["api"],
                "jwks": jwks(&[jwk(alg, Some(kid))]),
                "claim_to_headers": [{"header_name": "x-user", "claim_name": "sub"}],
                "jwt_cache_config": cache.clone(),
            })
        };
        json!({
            "providers": {"p": provider(Algorithm::ES256, "ec"), "q": provider(Algorithm::EdDSA, "ed")},
            "rules": [
                {"match": {"prefix": "/q"}, "requires": {"provider_name": "q"}},
                {"match": {"prefix": "/admin"}, "requires": {"provider_and_audiences": {"provider_name": "p", "audiences": ["admin"]}}},
                {"match": {"prefix": "/write"}, "requires": {"provider_name": "p"},
                 "claims": [{"name": "scope", "contains": "write"}]},
                {"match": {"prefix": "/"}, "requires": {"provider_name": "p"}}
            ]
        })
    }

    fn policy(cache: Value) -> Policy {
        Policy::from_json(config(cache).to_string().as_bytes())
            .unwrap()
            .policy
    }

    fn check(policy: &Policy, path: &str, token: &str, now: f64) -> Verdict {
        let h = headers(&[
            (":path", path),
            ("authorization", &format!("Bearer {token}")),
        ]);
        policy.check(&Request::new(&h), now, None)
    }

    fn hits(policy: &Policy) -> u64 {
        policy.providers().iter().map(|p| p.cache.hits()).sum()
    }

    fn allowed(verdict: &Verdict) -> bool {
        matches!(verdict, Verdict::Allow(_))
    }

    #[test]
    fn a_hit_still_checks_time_rules_and_forwards() {
        let p = policy(json!({}));
        let t = token(
            Algorithm::ES256,
            Some("ec"),
            &claims(json!({"aud": "api", "scope": "read"})),
        );
        assert!(allowed(&check(&p, "/", &t, NOW)));
        let Verdict::Allow(edits) = check(&p, "/", &t, NOW + 1.0) else {
            panic!("cached token passes")
        };
        assert_eq!(hits(&p), 1);
        assert_eq!(
            edits.add_headers,
            [("x-user".to_string(), "alice".to_string())]
        );
        // Expired while cached.
        assert!(!allowed(&check(&p, "/", &t, NOW + 3661.0)));
        assert_eq!(hits(&p), 2, "refused from the cache, not by missing it");
        // Other audiences, and claim conditions, on the very same cached token.
        assert!(!allowed(&check(&p, "/admin", &t, NOW + 2.0)));
        assert!(!allowed(&check(&p, "/write", &t, NOW + 2.0)));
        // Another provider's cache never holds what p verified.
        assert!(!allowed(&check(&p, "/q", &t, NOW + 2.0)));
    }

    #[test]
    fn only_full_successes_are_cached() {
        let p = policy(json!({}));
        let wrong_aud = token(
            Algorithm::ES256,
            Some("ec"),
            &claims(json!({"aud": "other"})),
        );
        for _ in 0..3 {
            assert!(!allowed(&check(&p, "/", &wrong_aud, NOW)));
        }
        let good = token(Algorithm::ES256, Some("ec"), &claims(json!({"aud": "api"})));
        let forged = crate::testing::flip_signature_bit(&good);
        for _ in 0..3 {
            assert!(!allowed(&check(&p, "/", &forged, NOW)));
        }
        assert_eq!(hits(&p), 0);
        assert_eq!(
            p.providers().iter().map(|p| p.cache.len()).sum::<usize>(),
            0
        );
    }

    #[test]
    fn size_zero_turns_it_off_and_big_tokens_are_not_kept() {
        let off = policy(json!({"jwt_cache_size": 0}));
        let t = token(Algorithm::ES256, Some("ec"), &claims(json!({"aud": "api"})));
        assert!(allowed(&check(&off, "/", &t, NOW)) && allowed(&check(&off, "/", &t, NOW)));
        assert_eq!(hits(&off), 0);
        let small = policy(json!({"jwt_max_token_size": 64}));
        assert!(allowed(&check(&small, "/", &t, NOW)) && allowed(&check(&small, "/", &t, NOW)));
        assert_eq!(hits(&small), 0);
    }

    #[test]
    fn a_new_configuration_starts_empty() {
        let before = policy(json!({}));
        let t = token(Algorithm::ES256, Some("ec"), &claims(json!({"aud": "api"})));
        assert!(allowed(&check(&before, "/", &t, NOW)));
        // The key is rotated out: the next push has a different one.
        let mut rotated = config(json!({}));
        rotated["providers"]["p"]["jwks"] =
            jwks(&[crate::testing::other_key(Algorithm::ES256).public_jwk(Some("ec2"), None)]);
        let after = Policy::from_json(rotated.to_string().as_bytes())
            .unwrap()
            .policy;
        assert!(!allowed(&check(&after, "/", &t, NOW)));
    }

    #[test]
    fn the_cache_never_changes_a_verdict() {
        // The same requests through a caching policy and a non-caching one, in the same order:
        // every verdict must be identical.
        let cached = policy(json!({"jwt_cache_size": 4}));
        let uncached = policy(json!({"jwt_cache_size": 0}));
        let variants = [
            json!({"aud": "api"}),
            json!({"aud": ["api", "admin"], "scope": "read write"}),
            json!({"aud": "admin", "scope": "write"}),
            json!({"aud": "api", "exp": NOW + 30.0}),
            json!({"aud": "api", "nbf": NOW + 100.0}),
            json!({"aud": "api", "iss": "https://other"}),
        ];
        let mut tokens = Vec::new();
        for (i, variant) in variants.iter().enumerate() {
            let mut extra = variant.clone();
            extra["jti"] = json!(i.to_string());
            tokens.push(token(Algorithm::ES256, Some("ec"), &claims(extra.clone())));
            tokens.push(token(Algorithm::EdDSA, Some("ed"), &claims(extra)));
        }
        let paths = ["/", "/admin", "/write", "/q"];
        let mut seed = 11u64;
        let mut hits_seen = 0;
        for step in 0..2000 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let token = &tokens[(seed >> 33) as usize % tokens.len()];
            let path = paths[(seed >> 17) as usize % paths.len()];
            let now = NOW + ((seed >> 45) % 200) as f64 + step as f64 * 0.1;
            let a = check(&cached, path, token, now);
            let b = check(&uncached, path, token, now);
            assert_eq!(a, b, "step {step}: {path} at {now}");
            hits_seen = hits(&cached);
        }
        assert!(
            hits_seen > 100,
            "the cache was exercised ({hits_seen} hits)"
        );
        assert_eq!(hits(&uncached), 0);
    }
}
