//! Making keys and signing tokens, for the demo, the tests and the `jwt-policy` tool. Never
//! part of the plugin: it is built only for the host the tools run on.
//!
//! Tokens are signed over exactly the header and payload text given, so tests can make the
//! malformed tokens (duplicate members, `crit`, odd claim types) a filter must refuse.

use crate::alg::{Algorithm, Family, Hash};
use crate::b64;
use crate::key::digest;
use p256::ecdsa::signature::Signer;
use rand_core::{OsRng, RngCore};
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use rsa::{BigUint, Pkcs1v15Sign, Pss, RsaPrivateKey};
use serde_json::{json, Map, Value};

/// Modulus size of generated RSA keys.
pub const RSA_BITS: usize = 2048;

#[derive(Clone)]
pub enum SigningKey {
    Rsa(Box<RsaPrivateKey>),
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
    P521(p521::ecdsa::SigningKey),
    Ed25519(Box<ed25519_dalek::SigningKey>),
    Hmac(Vec<u8>),
}

impl SigningKey {
    /// A new random key for `alg`: RSA-2048, the algorithm's curve, or an HMAC secret as long
    /// as the hash output.
    pub fn generate(alg: Algorithm) -> Result<SigningKey, String> {
        Ok(match alg {
            Algorithm::ES256 => SigningKey::P256(random_scalar(32, |b| {
                p256::ecdsa::SigningKey::from_slice(b).ok()
            })),
            Algorithm::ES384 => SigningKey::P384(random_scalar(48, |b| {
                p384::ecdsa::SigningKey::from_slice(b).ok()
            })),
            Algorithm::ES512 => SigningKey::P521(random_scalar(66, |b| {
                p521::ecdsa::SigningKey::from_slice(b).ok()
            })),
            Algorithm::EdDSA => {
                let mut seed = [0u8; 32];
                OsRng.fill_bytes(&mut seed);
                SigningKey::Ed25519(Box::new(ed25519_dalek::SigningKey::from_bytes(&seed)))
            }
            _ => match alg.family() {
                Family::Hmac => {
                    let mut secret = vec![0u8; alg.hash().map_or(32, Hash::output_len)];
                    OsRng.fill_bytes(&mut secret);
                    SigningKey::Hmac(secret)
                }
                _ => SigningKey::Rsa(Box::new(
                    RsaPrivateKey::new(&mut OsRng, RSA_BITS)
                        .map_err(|e| format!("RSA key generation failed: {e}"))?,
                )),
            },
        })
    }

    /// Signs `input` (the JWS signing input) as `alg`; ECDSA signatures are raw `R || S`.
    pub fn sign(&self, alg: Algorithm, input: &[u8]) -> Result<Vec<u8>, String> {
        let mismatch = || format!("this key cannot sign {alg}");
        Ok(match (self, alg.hash()) {
            (SigningKey::Rsa(key), Some(hash)) => {
                let digest = digest(hash, input);
                match (alg.family(), hash) {
                    (Family::RsaPkcs1, Hash::Sha256) => {
                        key.sign(Pkcs1v15Sign::new::<sha2::Sha256>(), &digest)
                    }
                    (Family::RsaPkcs1, Hash::Sha384) => {
                        key.sign(Pkcs1v15Sign::new::<sha2::Sha384>(), &digest)
                    }
                    (Family::RsaPkcs1, Hash::Sha512) => {
                        key.sign(Pkcs1v15Sign::new::<sha2::Sha512>(), &digest)
                    }
                    (Family::RsaPss, Hash::Sha256) => {
                        key.sign_with_rng(&mut OsRng, Pss::new::<sha2::Sha256>(), &digest)
                    }
                    (Family::RsaPss, Hash::Sha384) => {
                        key.sign_with_rng(&mut OsRng, Pss::new::<sha2::Sha384>(), &digest)
                    }
                    (Family::RsaPss, Hash::Sha512) => {
                        key.sign_with_rng(&mut OsRng, Pss::new::<sha2::Sha512>(), &digest)
                    }
                    _ => return Err(mismatch()),
                }
                .map_err(|e| format!("RSA signing failed: {e}"))?
            }
            (SigningKey::P256(key), Some(Hash::Sha256)) if alg == Algorithm::ES256 => {
                let signature: p256::ecdsa::Signature = key.sign(input);
                signature.to_bytes().to_vec()
            }
            (SigningKey::P384(key), Some(Hash::Sha384)) if alg == Algorithm::ES384 => {
                let signature: p384::ecdsa::Signature = key.sign(input);
                signature.to_bytes().to_vec()
            }
            (SigningKey::P521(key), Some(Hash::Sha512)) if alg == Algorithm::ES512 => {
                let signature: p521::ecdsa::Signature = key.sign(input);
                signature.to_bytes().to_vec()
            }
            (SigningKey::Ed25519(key), None) => ed25519_dalek::Signer::sign(key.as_ref(), input)
                .to_bytes()
                .to_vec(),
            (SigningKey::Hmac(secret), Some(hash)) if alg.family() == Family::Hmac => match hash {
                Hash::Sha256 => hmac_sha256::HMAC::mac(input, secret).to_vec(),
                Hash::Sha384 => hmac_sha512::sha384::HMAC::mac(input, secret).to_vec(),
                Hash::Sha512 => hmac_sha512::HMAC::mac(input, secret).to_vec(),
            },
            _ => return Err(mismatch()),
        })
    }

    /// The public JWK (for HMAC, the secret itself: it is both).
    pub fn public_jwk(&self, kid: Option<&str>, alg: Option<Algorithm>) -> Value {
        let mut jwk = match self {
            SigningKey::Rsa(key) => json!({
                "kty": "RSA",
                "n": b64::encode(&key.n().to_bytes_be()),
                "e": b64::encode(&key.e().to_bytes_be()),
            }),
            SigningKey::P256(key) => ec_jwk(
                "P-256",
                key.verifying_key()
                    .to_sec1_point(false)
                    .as_bytes()
                    .get(1..)
                    .unwrap_or_default(),
            ),
            SigningKey::P384(key) => ec_jwk(
                "P-384",
                key.verifying_key()
                    .to_sec1_point(false)
                    .as_bytes()
                    .get(1..)
                    .unwrap_or_default(),
            ),
            SigningKey::P521(key) => ec_jwk(
                "P-521",
                key.verifying_key()
                    .to_sec1_point(false)
                    .as_bytes()
                    .get(1..)
                    .unwrap_or_default(),
            ),
            SigningKey::Ed25519(key) => {
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64::encode(key.verifying_key().as_bytes())})
            }
            SigningKey::Hmac(secret) => json!({"kty": "oct", "k": b64::encode(secret)}),
        };
        label(&mut jwk, kid, alg);
        jwk
    }

    /// The private JWK (RFC 7518 §6), to store a generated key.
    pub fn private_jwk(&self, kid: Option<&str>, alg: Option<Algorithm>) -> Value {
        let mut jwk = self.public_jwk(None, None);
        let private = match self {
            SigningKey::Rsa(key) => {
                let primes = key.primes();
                let mut members = vec![("d", b64::encode(&key.d().to_bytes_be()))];
                if let [p, q] = primes {
                    members.push(("p", b64::encode(&p.to_bytes_be())));
                    members.push(("q", b64::encode(&q.to_bytes_be())));
                }
                members
            }
            SigningKey::P256(key) => vec![("d", b64::encode(&key.to_bytes()))],
            SigningKey::P384(key) => vec![("d", b64::encode(&key.to_bytes()))],
            SigningKey::P521(key) => vec![("d", b64::encode(&key.to_bytes()))],
            SigningKey::Ed25519(key) => vec![("d", b64::encode(key.as_bytes()))],
            SigningKey::Hmac(_) => Vec::new(),
        };
        if let Some(object) = jwk.as_object_mut() {
            for (name, value) in private {
                object.insert(name.into(), Value::String(value));
            }
        }
        label(&mut jwk, kid, alg);
        jwk
    }

    /// Reads a private JWK written by [`SigningKey::private_jwk`] (or any with the same members).
    pub fn from_private_jwk(jwk: &Map<String, Value>) -> Result<SigningKey, String> {
        let bytes = |name: &str| -> Result<Vec<u8>, String> {
            let text = jwk
                .get(name)
                .and_then(Value::as_str)
                .ok_or(format!("the key has no \"{name}\""))?;
            b64::decode(text.as_bytes()).ok_or(format!("\"{name}\" is not base64url"))
        };
        let kty = jwk.get("kty").and_then(Value::as_str).unwrap_or_default();
        let crv = jwk.get("crv").and_then(Value::as_str).unwrap_or_default();
        let bad = |what: &str| format!("not a valid {what} private key");
        Ok(match (kty, crv) {
            ("RSA", _) => {
                let e = BigUint::from_bytes_be(&bytes("e")?);
                let p = BigUint::from_bytes_be(&bytes("p")?);
                let q = BigUint::from_bytes_be(&bytes("q")?);
                SigningKey::Rsa(Box::new(
                    RsaPrivateKey::from_p_q(p, q, e).map_err(|_| bad("RSA"))?,
                ))
            }
            ("EC", "P-256") => SigningKey::P256(
                p256::ecdsa::SigningKey::from_slice(&bytes("d")?).map_err(|_| bad("P-256"))?,
            ),
            ("EC", "P-384") => SigningKey::P384(
                p384::ecdsa::SigningKey::from_slice(&bytes("d")?).map_err(|_| bad("P-384"))?,
            ),
            ("EC", "P-521") => SigningKey::P521(
                p521::ecdsa::SigningKey::from_slice(&bytes("d")?).map_err(|_| bad("P-521"))?,
            ),
            ("OKP", "Ed25519") => {
                let seed: [u8; 32] = bytes("d")?.try_into().map_err(|_| bad("Ed25519"))?;
                SigningKey::Ed25519(Box::new(ed25519_dalek::SigningKey::from_bytes(&seed)))
            }
            ("oct", _) => SigningKey::Hmac(bytes("k")?),
            _ => return Err(format!("unsupported key type \"{kty}\" {crv}")),
        })
    }
}

/// A compact JWS over exactly `header` and `payload` as given.
pub fn sign_token(
    key: &SigningKey,
    alg: Algorithm,
    header: &str,
    payload: &str,
) -> Result<String, String> {
    let input = format!(
        "{}.{}",
        b64::encode(header.as_bytes()),
        b64::encode(payload.as_bytes())
    );
    let signature = key.sign(alg, input.as_bytes())?;
    Ok(format!("{input}.{}", b64::encode(&signature)))
}

/// A standard token: header `{"alg", "typ": "JWT", "kid"}` and the given claims.
pub fn mint(
    key: &SigningKey,
    alg: Algorithm,
    kid: Option<&str>,
    claims: &Value,
) -> Result<String, String> {
    let mut header = json!({"alg": alg.name(), "typ": "JWT"});
    if let (Some(kid), Some(object)) = (kid, header.as_object_mut()) {
        object.insert("kid".into(), Value::String(kid.into()));
    }
    sign_token(key, alg, &header.to_string(), &claims.to_string())
}

fn random_scalar<K>(len: usize, make: impl Fn(&[u8]) -> Option<K>) -> K {
    let mut bytes = vec![0u8; len];
    loop {
        OsRng.fill_bytes(&mut bytes);
        if let (66, Some(top)) = (len, bytes.first_mut()) {
            // A P-521 scalar has 521 bits: the top byte holds only one.
            *top &= 0x01;
        }
        if let Some(key) = make(&bytes) {
            return key;
        }
    }
}

/// An EC public JWK from the uncompressed point without its 0x04 tag (x then y).
pub fn ec_jwk(crv: &str, xy: &[u8]) -> Value {
    let (x, y) = xy.split_at(xy.len() / 2);
    json!({"kty": "EC", "crv": crv, "x": b64::encode(x), "y": b64::encode(y)})
}

fn label(jwk: &mut Value, kid: Option<&str>, alg: Option<Algorithm>) {
    if let Some(object) = jwk.as_object_mut() {
        if let Some(kid) = kid {
            object.insert("kid".into(), Value::String(kid.into()));
        }
        if let Some(alg) = alg {
            object.insert("alg".into(), Value::String(alg.name().into()));
        }
    }
}
