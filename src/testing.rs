//! Fixtures for the unit tests: one key per algorithm, made once; tokens; key sets; and a
//! stand-in for Envoy's `verify_signature` that reads keys and signatures with independent
//! DER decoders, so the encodings we send the host are checked too.

use crate::alg::{Algorithm, Hash};
use crate::key::SignatureHost;
use crate::mint::{self, SigningKey};
use serde_json::{json, Value};
use std::cell::Cell;
use std::sync::OnceLock;

/// The key for `alg`; the RSA algorithms share one RSA key, the HMAC ones one 64-byte secret.
pub fn key(alg: Algorithm) -> &'static SigningKey {
    static RSA: OnceLock<SigningKey> = OnceLock::new();
    static P256: OnceLock<SigningKey> = OnceLock::new();
    static P384: OnceLock<SigningKey> = OnceLock::new();
    static P521: OnceLock<SigningKey> = OnceLock::new();
    static ED25519: OnceLock<SigningKey> = OnceLock::new();
    static HMAC: OnceLock<SigningKey> = OnceLock::new();
    let (cell, make) = match alg {
        Algorithm::ES256 => (&P256, alg),
        Algorithm::ES384 => (&P384, alg),
        Algorithm::ES512 => (&P521, alg),
        Algorithm::EdDSA => (&ED25519, alg),
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => (&HMAC, Algorithm::HS512),
        _ => (&RSA, Algorithm::RS256),
    };
    cell.get_or_init(|| SigningKey::generate(make).expect("test key"))
}

/// A second, unrelated key of the same kind, for "signed by someone else".
pub fn other_key(alg: Algorithm) -> SigningKey {
    SigningKey::generate(alg).expect("test key")
}

pub fn jwk(alg: Algorithm, kid: Option<&str>) -> Value {
    key(alg).public_jwk(kid, None)
}

pub fn jwks(keys: &[Value]) -> Value {
    json!({ "keys": keys })
}

pub fn token(alg: Algorithm, kid: Option<&str>, claims: &Value) -> String {
    mint::mint(key(alg), alg, kid, claims).expect("test token")
}

/// The token with one bit of its signature flipped.
pub fn flip_signature_bit(token: &str) -> String {
    let (input, signature) = token.rsplit_once('.').expect("a token");
    let mut raw = crate::b64::decode(signature.as_bytes()).expect("base64url");
    raw[0] ^= 1;
    format!("{input}.{}", crate::b64::encode(&raw))
}

/// Claims valid now (`NOW`) for an hour.
pub fn claims(extra: Value) -> Value {
    let mut claims = json!({"iss": "https://issuer.example", "sub": "alice", "exp": NOW + 3600.0});
    if let (Some(target), Value::Object(extra)) = (claims.as_object_mut(), extra) {
        target.extend(extra);
    }
    claims
}

/// The fixed "current time" of the tests.
pub const NOW: f64 = 1_800_000_000.0;

/// Verifies as Envoy's BoringSSL would, from DER only; counts its calls.
#[derive(Default)]
pub struct DerHost {
    pub calls: Cell<usize>,
}

impl SignatureHost for DerHost {
    fn verify(&self, hash: Hash, spki: &[u8], signature: &[u8], message: &[u8]) -> Option<bool> {
        use p256::ecdsa::signature::Verifier;
        use p256::pkcs8::DecodePublicKey;
        use rsa::pkcs8::DecodePublicKey as DecodeRsaPublicKey;
        self.calls.set(self.calls.get() + 1);
        if let Ok(key) = <rsa::RsaPublicKey as DecodeRsaPublicKey>::from_public_key_der(spki) {
            let digest = crate::key::digest(hash, message);
            let scheme = match hash {
                Hash::Sha256 => rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
                Hash::Sha384 => rsa::Pkcs1v15Sign::new::<sha2::Sha384>(),
                Hash::Sha512 => rsa::Pkcs1v15Sign::new::<sha2::Sha512>(),
            };
            return Some(key.verify(scheme, &digest, signature).is_ok());
        }
        if let Ok(key) = p256::ecdsa::VerifyingKey::from_public_key_der(spki) {
            let Ok(sig) = p256::ecdsa::DerSignature::try_from(signature) else {
                return Some(false);
            };
            return Some(hash == Hash::Sha256 && key.verify(message, &sig).is_ok());
        }
        if let Ok(key) = p384::ecdsa::VerifyingKey::from_public_key_der(spki) {
            let Ok(sig) = p384::ecdsa::DerSignature::try_from(signature) else {
                return Some(false);
            };
            return Some(hash == Hash::Sha384 && key.verify(message, &sig).is_ok());
        }
        if let Ok(key) = p521::ecdsa::VerifyingKey::from_public_key_der(spki) {
            let Ok(sig) = p521::ecdsa::DerSignature::try_from(signature) else {
                return Some(false);
            };
            return Some(hash == Hash::Sha512 && key.verify(message, &sig).is_ok());
        }
        None
    }
}
