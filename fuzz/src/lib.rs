//! What the fuzz targets share: a policy that uses every part of the token path (every key
//! type, every requirement form, claim conditions, forwarded claims), built from fixed keys
//! so that the committed corpus's signed tokens stay valid from run to run.

use jwt_policy::alg::{Algorithm, Hash};
use jwt_policy::key::SignatureHost;
use jwt_policy::mint::{self, SigningKey};
use jwt_policy::policy::{Policy, Verdict};
use jwt_policy::request::Request;
use serde_json::{json, Map, Value};
use std::sync::OnceLock;

/// The time every target checks tokens at (2030-01-15); the corpus's tokens expire in 2100.
pub const NOW: f64 = 1_894_665_600.0;

/// Private JWKs of test keys made with `jwt-policy keygen`, kids ra ea e3 e5 ed ha hb.
const PRIVATE_KEYS: &str = include_str!("../keys.json");

fn private_keys() -> Vec<Map<String, Value>> {
    let document: Value = serde_json::from_str(PRIVATE_KEYS).expect("keys.json is JSON");
    document["keys"]
        .as_array()
        .expect("keys.json has keys")
        .iter()
        .map(|key| key.as_object().expect("a JWK").clone())
        .collect()
}

fn public_jwk(private: &Map<String, Value>) -> Value {
    let key = SigningKey::from_private_jwk(private).expect("a private JWK");
    let alg = private["alg"].as_str().and_then(Algorithm::from_name);
    key.public_jwk(private["kid"].as_str(), alg)
}

thread_local! {
    // A policy holds its caches in cells, as each wasm VM does: one per thread.
    static POLICY: Policy = fuzzing_policy();
}

/// Decides a request with the fuzzing policy.
pub fn check(request: &Request<'_>, host: Option<&dyn SignatureHost>) -> Verdict {
    POLICY.with(|policy| policy.check(request, NOW, host))
}

/// Provider `a` holds every key but `hb` and reads `Authorization`, `access_token` and the
/// `jwt` cookie; provider `b` holds `hb` and reads `x-jwt`.
fn fuzzing_policy() -> Policy {
    {
        let (b_keys, a_keys): (Vec<_>, Vec<_>) = private_keys()
            .into_iter()
            .partition(|key| key["kid"] == "hb");
        let config = json!({
            "providers": {
                "a": {
                    "issuer": "https://a.example",
                    "audiences": ["api", "admin"],
                    "jwks": {"keys": a_keys.iter().map(public_jwk).collect::<Vec<_>>()},
                    "from_headers": [{"name": "authorization", "value_prefix": "Bearer "}],
                    "from_params": ["access_token"],
                    "from_cookies": ["jwt"],
                    "forward_payload_header": "x-payload",
                    "claim_to_headers": [
                        {"header_name": "x-sub", "claim_name": "sub"},
                        {"header_name": "x-tenant", "claim_name": "org.tenant"}
                    ],
                    "max_lifetime": "86400s"
                },
                "b": {
                    "issuer": "https://b.example",
                    "jwks": {"keys": b_keys.iter().map(public_jwk).collect::<Vec<_>>()},
                    "from_headers": [{"name": "x-jwt"}],
                    "subjects": {"prefix": "svc-"},
                    "clock_skew_seconds": 5,
                    "require_expiration": true,
                    "forward": true
                }
            },
            "rules": [
                {"match": {"prefix": "/open"}},
                {"match": {"prefix": "/any"}, "requires": {"requires_any": {"requirements": [
                    {"provider_name": "a"}, {"provider_name": "b"}, {"allow_missing": {}}]}}},
                {"match": {"prefix": "/all"}, "requires": {"requires_all": {"requirements": [
                    {"provider_name": "a"},
                    {"provider_and_audiences": {"provider_name": "b", "audiences": ["x"]}}]}}},
                {"match": {"safe_regex": {"regex": "^/admin/[a-z]+$"}},
                 "requires": {"provider_name": "a"},
                 "claims": [{"name": "scope", "contains": "admin"},
                            {"name": "realm_access.roles", "contains_any": ["ops", "root"]}]},
                {"match": {"prefix": "/", "headers": [{"name": "x-mode", "exact_match": "b"}]},
                 "requires": {"provider_name": "b"},
                 "claims": [{"name": "tenant", "equals": "acme"}]},
                {"match": {"prefix": "/maybe"}, "requires": {"allow_missing_or_failed": {}}},
                {"match": {"prefix": "/"}, "requires": {"provider_name": "a"}}
            ]
        });
        Policy::from_json(config.to_string().as_bytes())
            .expect("the fuzzing policy compiles")
            .policy
    }
}

/// The key `kid` of keys.json, to sign with.
pub fn signing_key(kid: &str) -> (&'static SigningKey, Algorithm) {
    static KEYS: OnceLock<Vec<(String, SigningKey, Algorithm)>> = OnceLock::new();
    let keys = KEYS.get_or_init(|| {
        private_keys()
            .iter()
            .map(|jwk| {
                let alg = jwk["alg"]
                    .as_str()
                    .and_then(Algorithm::from_name)
                    .expect("alg");
                let key = SigningKey::from_private_jwk(jwk).expect("a private JWK");
                (jwk["kid"].as_str().expect("kid").to_string(), key, alg)
            })
            .collect()
    });
    let (_, key, alg) = keys.iter().find(|(k, _, _)| k == kid).expect("a known kid");
    (key, *alg)
}

/// A compact JWS over exactly these header and payload bytes.
pub fn sign(kid: &str, header: &str, payload: &str) -> String {
    let (key, alg) = signing_key(kid);
    mint::sign_token(key, alg, header, payload).expect("signing")
}

/// A host whose `verify_signature` never answers: the key still builds the DER it would send
/// (SPKI, ECDSA signature), then verifies in Rust, so both paths run.
pub struct SilentHost;

impl SignatureHost for SilentHost {
    fn verify(&self, _: Hash, spki: &[u8], signature: &[u8], _: &[u8]) -> Option<bool> {
        std::hint::black_box((spki, signature));
        None
    }
}
