//! A verification key in the form it is used in: parsed once when the configuration is applied,
//! with its DER `SubjectPublicKeyInfo` ready for the host where the host can check it.

use crate::alg::{Algorithm, AlgorithmSet, Family, Hash};
use crate::der;
use p256::ecdsa::signature::Verifier;
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, Pkcs1v15Sign, Pss, RsaPublicKey};
use sha2::Digest;
use std::fmt;

/// Smallest RSA modulus accepted (RFC 7518 §3.3).
pub const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted: verification cost grows with the square of the size.
pub const MAX_RSA_BITS: usize = 8192;

/// A signature check done outside the VM, by Envoy's `verify_signature` (BoringSSL).
pub trait SignatureHost {
    /// `Some(valid)` when the host checked the signature, `None` when it could not answer;
    /// the key then checks the signature itself.
    fn verify(&self, hash: Hash, spki: &[u8], signature: &[u8], message: &[u8]) -> Option<bool>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    P256,
    P384,
    P521,
}

impl Curve {
    pub fn from_name(name: &str) -> Option<Curve> {
        match name {
            "P-256" => Some(Curve::P256),
            "P-384" => Some(Curve::P384),
            "P-521" => Some(Curve::P521),
            _ => None,
        }
    }

    /// Size of a coordinate, and of each half of a JWS signature, in bytes.
    pub fn coordinate_len(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
            Curve::P521 => 66,
        }
    }

    /// The one algorithm a key on this curve verifies (RFC 7518 §3.4).
    pub fn algorithm(self) -> Algorithm {
        match self {
            Curve::P256 => Algorithm::ES256,
            Curve::P384 => Algorithm::ES384,
            Curve::P521 => Algorithm::ES512,
        }
    }

    fn oid(self) -> &'static [u8] {
        match self {
            Curve::P256 => der::SECP256R1,
            Curve::P384 => der::SECP384R1,
            Curve::P521 => der::SECP521R1,
        }
    }
}

/// An HMAC secret; never printed.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

#[derive(Debug, Clone)]
enum Material {
    Rsa(RsaPublicKey),
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    P521(p521::ecdsa::VerifyingKey),
    Ed25519(ed25519_dalek::VerifyingKey),
    Hmac(Secret),
}

#[derive(Debug, Clone)]
pub struct Key {
    pub kid: Option<String>,
    /// What this key may verify: decided by its type, curve and `alg`, never by the token.
    pub algorithms: AlgorithmSet,
    material: Material,
    /// DER SubjectPublicKeyInfo, for the keys the host verifies (RSA and EC).
    spki: Vec<u8>,
}

impl Key {
    /// An RSA key from its big-endian modulus and public exponent.
    pub fn rsa(
        kid: Option<String>,
        algorithms: AlgorithmSet,
        n: &[u8],
        e: &[u8],
    ) -> Result<Key, String> {
        let modulus = BigUint::from_bytes_be(n);
        let bits = modulus.bits();
        if bits < MIN_RSA_BITS {
            return Err(format!(
                "RSA modulus of {bits} bits is below the {MIN_RSA_BITS} bits RFC 7518 §3.3 requires"
            ));
        }
        if bits > MAX_RSA_BITS {
            return Err(format!(
                "RSA modulus of {bits} bits is above {MAX_RSA_BITS} bits"
            ));
        }
        let exponent = BigUint::from_bytes_be(e);
        // jwt_verify_lib, and so Envoy, take only these two exponents.
        if exponent != BigUint::from(65537u32) && exponent != BigUint::from(3u32) {
            return Err("RSA exponent must be 65537 or 3".to_string());
        }
        let public = RsaPublicKey::new_with_max_size(modulus, exponent, MAX_RSA_BITS)
            .map_err(|error| format!("not a usable RSA key: {error}"))?;
        let spki = der::rsa_spki(&public.n().to_bytes_be(), &public.e().to_bytes_be());
        Ok(Key {
            kid,
            algorithms,
            material: Material::Rsa(public),
            spki,
        })
    }

    /// An EC key from its affine coordinates. RFC 7518 §6.2.1.2 wants each exactly the
    /// curve's size, but key sets in the field drop leading zero bytes (a P-521 `y` of 65
    /// bytes), which BoringSSL, and so Envoy, accepts: shorter is padded, longer refused.
    pub fn ec(kid: Option<String>, curve: Curve, x: &[u8], y: &[u8]) -> Result<Key, String> {
        let size = curve.coordinate_len();
        if x.len() > size || y.len() > size {
            return Err(format!(
                "x and y must each be at most {size} bytes for {curve:?}, got {} and {}",
                x.len(),
                y.len()
            ));
        }
        let mut point = Vec::with_capacity(1 + 2 * size);
        point.push(0x04);
        for coordinate in [x, y] {
            point.resize(point.len() + size - coordinate.len(), 0);
            point.extend_from_slice(coordinate);
        }
        let not_on_curve = |_| "the point (x, y) is not on the curve".to_string();
        let material = match curve {
            Curve::P256 => Material::P256(
                p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).map_err(not_on_curve)?,
            ),
            Curve::P384 => Material::P384(
                p384::ecdsa::VerifyingKey::from_sec1_bytes(&point).map_err(not_on_curve)?,
            ),
            Curve::P521 => Material::P521(
                p521::ecdsa::VerifyingKey::from_sec1_bytes(&point).map_err(not_on_curve)?,
            ),
        };
        Ok(Key {
            kid,
            algorithms: AlgorithmSet::of(&[curve.algorithm()]),
            material,
            spki: der::ec_spki(curve.oid(), &point),
        })
    }

    /// An Ed25519 key from its 32-byte public value (RFC 8037 §2).
    pub fn ed25519(kid: Option<String>, x: &[u8]) -> Result<Key, String> {
        let bytes: &[u8; 32] = x
            .try_into()
            .map_err(|_| format!("an Ed25519 key is 32 bytes, got {}", x.len()))?;
        let public = ed25519_dalek::VerifyingKey::from_bytes(bytes)
            .map_err(|_| "not a point on Ed25519".to_string())?;
        Ok(Key {
            kid,
            algorithms: AlgorithmSet::of(&[Algorithm::EdDSA]),
            material: Material::Ed25519(public),
            spki: Vec::new(),
        })
    }

    /// An HMAC secret, which must be at least as long as the output of every hash it may be
    /// used with (RFC 7518 §3.2).
    pub fn hmac(kid: Option<String>, algorithms: AlgorithmSet, k: &[u8]) -> Result<Key, String> {
        if let Some(alg) = algorithms
            .iter()
            .find(|alg| alg.hash().is_some_and(|hash| k.len() < hash.output_len()))
        {
            return Err(format!(
                "a {alg} secret must be at least {} bytes (RFC 7518 §3.2), got {}",
                alg.hash().map_or(0, Hash::output_len),
                k.len()
            ));
        }
        Ok(Key {
            kid,
            algorithms,
            material: Material::Hmac(Secret(k.to_vec())),
            spki: Vec::new(),
        })
    }

    /// True when the token's `kid` does not rule this key out: either side without a `kid`
    /// matches, as in Envoy.
    pub fn kid_matches(&self, token_kid: Option<&str>) -> bool {
        match (self.kid.as_deref(), token_kid) {
            (Some(ours), Some(theirs)) => ours == theirs,
            _ => true,
        }
    }

    /// Checks `signature` over `message`. RSA PKCS#1 v1.5 and ECDSA go to the host when there
    /// is one; everything else, and anything the host cannot answer, is checked here.
    pub fn verify(
        &self,
        alg: Algorithm,
        message: &[u8],
        signature: &[u8],
        host: Option<&dyn SignatureHost>,
    ) -> bool {
        if !self.algorithms.contains(alg) {
            return false;
        }
        let Some(hash) = alg.hash() else {
            return match &self.material {
                Material::Ed25519(public) => ed25519_dalek::Signature::from_slice(signature)
                    .is_ok_and(|sig| {
                        ed25519_dalek::Verifier::verify(public, message, &sig).is_ok()
                    }),
                _ => false,
            };
        };
        match &self.material {
            // RFC 8017 §8.2.2 and §8.1.2: the signature is exactly k bytes and below n, so no
            // second encoding of it (s + n) verifies.
            Material::Rsa(public)
                if signature.len() != public.size()
                    || BigUint::from_bytes_be(signature) >= *public.n() =>
            {
                false
            }
            Material::Rsa(public) => match alg.family() {
                Family::RsaPkcs1 => {
                    if let Some(valid) =
                        host.and_then(|h| h.verify(hash, &self.spki, signature, message))
                    {
                        return valid;
                    }
                    let scheme = match hash {
                        Hash::Sha256 => Pkcs1v15Sign::new::<sha2::Sha256>(),
                        Hash::Sha384 => Pkcs1v15Sign::new::<sha2::Sha384>(),
                        Hash::Sha512 => Pkcs1v15Sign::new::<sha2::Sha512>(),
                    };
                    public
                        .verify(scheme, &digest(hash, message), signature)
                        .is_ok()
                }
                Family::RsaPss => {
                    // Salt as long as the hash, as RFC 7518 §3.5 requires.
                    let scheme = match hash {
                        Hash::Sha256 => Pss::new::<sha2::Sha256>(),
                        Hash::Sha384 => Pss::new::<sha2::Sha384>(),
                        Hash::Sha512 => Pss::new::<sha2::Sha512>(),
                    };
                    public
                        .verify(scheme, &digest(hash, message), signature)
                        .is_ok()
                }
                _ => false,
            },
            Material::P256(public) => self.verify_ecdsa(
                p256::ecdsa::Signature::from_slice(signature)
                    .ok()
                    .map(|sig| move || public.verify(message, &sig).is_ok()),
                hash,
                message,
                signature,
                host,
            ),
            Material::P384(public) => self.verify_ecdsa(
                p384::ecdsa::Signature::from_slice(signature)
                    .ok()
                    .map(|sig| move || public.verify(message, &sig).is_ok()),
                hash,
                message,
                signature,
                host,
            ),
            Material::P521(public) => self.verify_ecdsa(
                p521::ecdsa::Signature::from_slice(signature)
                    .ok()
                    .map(|sig| move || public.verify(message, &sig).is_ok()),
                hash,
                message,
                signature,
                host,
            ),
            Material::Hmac(Secret(secret)) => {
                let expected: Vec<u8> = match hash {
                    Hash::Sha256 => hmac_sha256::HMAC::mac(message, secret).to_vec(),
                    Hash::Sha384 => hmac_sha512::sha384::HMAC::mac(message, secret).to_vec(),
                    Hash::Sha512 => hmac_sha512::HMAC::mac(message, secret).to_vec(),
                };
                constant_time_eq(&expected, signature)
            }
            Material::Ed25519(_) => false,
        }
    }

    /// ECDSA over raw `R || S`. `pure` is `None` when the signature has the wrong length or a
    /// half out of range: such a signature (a DER one among them) never reaches the host.
    fn verify_ecdsa(
        &self,
        pure: Option<impl FnOnce() -> bool>,
        hash: Hash,
        message: &[u8],
        signature: &[u8],
        host: Option<&dyn SignatureHost>,
    ) -> bool {
        let Some(pure) = pure else {
            return false;
        };
        let der = der::ecdsa_signature(signature);
        match host.and_then(|h| h.verify(hash, &self.spki, &der, message)) {
            Some(valid) => valid,
            None => pure(),
        }
    }
}

pub(crate) fn digest(hash: Hash, message: &[u8]) -> Vec<u8> {
    match hash {
        Hash::Sha256 => sha2::Sha256::digest(message).to_vec(),
        Hash::Sha384 => sha2::Sha384::digest(message).to_vec(),
        Hash::Sha512 => sha2::Sha512::digest(message).to_vec(),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_shows_in_debug_output() {
        let k = b"0123456789abcdef0123456789abcdef".to_vec();
        let key = Key::hmac(Some("h".into()), AlgorithmSet::of(&[Algorithm::HS256]), &k)
            .expect("a 32-byte secret");
        let printed = format!("{key:?}");
        assert!(printed.contains("Secret(32 bytes)"), "{printed}");
        assert!(
            !printed.contains("48, 49, 50") && !printed.contains("0123"),
            "{printed}"
        );
    }
}
