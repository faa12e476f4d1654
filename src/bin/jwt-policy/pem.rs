//! PEM public keys (SubjectPublicKeyInfo, or PKCS#1 for RSA) as JWKs, for `render`: RSA,
//! EC on P-256, P-384 and P-521, and Ed25519, decoded by the crates the plugin verifies with.

use jwt_policy::b64;
use jwt_policy::mint::ec_jwk;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};

/// The public JWK of a PEM document, with `kid`.
pub fn jwk(pem: &str, kid: &str) -> Result<Value, String> {
    let mut jwk = if let Ok(key) = rsa::RsaPublicKey::from_public_key_pem(pem)
        .or_else(|_| rsa::RsaPublicKey::from_pkcs1_pem(pem))
    {
        json!({"kty": "RSA", "n": b64::encode(&key.n().to_bytes_be()),
               "e": b64::encode(&key.e().to_bytes_be())})
    } else if let Ok(key) =
        <p256::ecdsa::VerifyingKey as p256::pkcs8::DecodePublicKey>::from_public_key_pem(pem)
    {
        ec_jwk(
            "P-256",
            key.to_sec1_point(false)
                .as_bytes()
                .get(1..)
                .unwrap_or_default(),
        )
    } else if let Ok(key) =
        <p384::ecdsa::VerifyingKey as p384::pkcs8::DecodePublicKey>::from_public_key_pem(pem)
    {
        ec_jwk(
            "P-384",
            key.to_sec1_point(false)
                .as_bytes()
                .get(1..)
                .unwrap_or_default(),
        )
    } else if let Ok(key) =
        <p521::ecdsa::VerifyingKey as p521::pkcs8::DecodePublicKey>::from_public_key_pem(pem)
    {
        ec_jwk(
            "P-521",
            key.to_sec1_point(false)
                .as_bytes()
                .get(1..)
                .unwrap_or_default(),
        )
    } else if let Ok(key) =
        <ed25519_dalek::VerifyingKey as ed25519_dalek::pkcs8::DecodePublicKey>::from_public_key_pem(
            pem,
        )
    {
        json!({"kty": "OKP", "crv": "Ed25519", "x": b64::encode(key.as_bytes())})
    } else {
        // A private key is the common slip: say so rather than "unsupported".
        return Err(if pem.contains("PRIVATE KEY-----") {
            "a private key: give the public key (openssl pkey -pubout), or the private JWK with --key"
                .into()
        } else {
            "not a PEM public key of a type the plugin verifies (RSA, EC P-256/P-384/P-521, Ed25519)"
                .into()
        });
    };
    if let Some(object) = jwk.as_object_mut() {
        object.insert("kid".into(), Value::String(kid.into()));
    }
    Ok(jwk)
}
