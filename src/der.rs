//! The little DER (X.690) that Envoy's `verify_signature` host function needs: public keys as
//! `SubjectPublicKeyInfo` (RFC 5280 §4.1.2.7) and ECDSA signatures as `ECDSA-Sig-Value`
//! (RFC 3279 §2.2.3), where JWS carries them as raw `R || S` (RFC 7518 §3.4).

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;

/// AlgorithmIdentifier for rsaEncryption (RFC 3279 §2.3.1): the OID and a NULL parameter.
const RSA_ENCRYPTION: &[u8] = &[
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
];
/// The id-ecPublicKey OID (RFC 5480 §2.1.1).
const EC_PUBLIC_KEY: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];

/// Named curves (RFC 5480 §2.1.1.1), as encoded OIDs.
pub const SECP256R1: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
pub const SECP384R1: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
pub const SECP521R1: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23];

/// SubjectPublicKeyInfo of an RSA key from its big-endian modulus and exponent.
pub fn rsa_spki(n: &[u8], e: &[u8]) -> Vec<u8> {
    let mut integers = Vec::with_capacity(n.len() + e.len() + 16);
    integer(&mut integers, n);
    integer(&mut integers, e);
    let mut rsa_public_key = Vec::with_capacity(integers.len() + 4);
    tlv(&mut rsa_public_key, SEQUENCE, &integers);
    spki(RSA_ENCRYPTION.to_vec(), &rsa_public_key)
}

/// SubjectPublicKeyInfo of an EC key from its uncompressed SEC1 point (`04 || X || Y`).
pub fn ec_spki(curve_oid: &[u8], sec1_point: &[u8]) -> Vec<u8> {
    let mut algorithm = Vec::with_capacity(EC_PUBLIC_KEY.len() + curve_oid.len() + 2);
    algorithm.extend_from_slice(EC_PUBLIC_KEY);
    algorithm.extend_from_slice(curve_oid);
    let mut identifier = Vec::with_capacity(algorithm.len() + 2);
    tlv(&mut identifier, SEQUENCE, &algorithm);
    spki(identifier, sec1_point)
}

/// An ECDSA signature as DER, from the raw `R || S` of a JWS (both halves the same length).
pub fn ecdsa_signature(raw: &[u8]) -> Vec<u8> {
    let (r, s) = raw.split_at_checked(raw.len() / 2).unwrap_or((raw, &[]));
    let mut integers = Vec::with_capacity(raw.len() + 8);
    integer(&mut integers, r);
    integer(&mut integers, s);
    let mut out = Vec::with_capacity(integers.len() + 4);
    tlv(&mut out, SEQUENCE, &integers);
    out
}

fn spki(mut body: Vec<u8>, public_key: &[u8]) -> Vec<u8> {
    let mut bits = Vec::with_capacity(public_key.len() + 1);
    bits.push(0); // no unused bits
    bits.extend_from_slice(public_key);
    tlv(&mut body, BIT_STRING, &bits);
    let mut out = Vec::with_capacity(body.len() + 4);
    tlv(&mut out, SEQUENCE, &body);
    out
}

/// A non-negative INTEGER from big-endian bytes: minimal, with a zero byte where the top bit
/// would otherwise make it negative.
fn integer(out: &mut Vec<u8>, big_endian: &[u8]) {
    let digits = big_endian
        .iter()
        .position(|&b| b != 0)
        .and_then(|first| big_endian.get(first..))
        .unwrap_or(&[0]);
    let mut content = Vec::with_capacity(digits.len() + 1);
    if digits.first().is_some_and(|top| top & 0x80 != 0) {
        content.push(0);
    }
    content.extend_from_slice(digits);
    tlv(out, INTEGER, &content);
}

fn tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(bytes.get(skip..).unwrap_or_default());
    }
    out.extend_from_slice(content);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_minimal_and_positive() {
        let mut out = Vec::new();
        integer(&mut out, &[0, 0, 0x7f]);
        integer(&mut out, &[0x80]);
        integer(&mut out, &[0, 0]);
        assert_eq!(out, [2, 1, 0x7f, 2, 2, 0, 0x80, 2, 1, 0]);
    }

    #[test]
    fn long_lengths_use_the_long_form() {
        let mut out = Vec::new();
        tlv(&mut out, 4, &[0; 200]);
        assert_eq!(&out[..3], &[4, 0x81, 200]);
        let mut out = Vec::new();
        tlv(&mut out, 4, &[0; 300]);
        assert_eq!(&out[..4], &[4, 0x82, 0x01, 0x2c]);
    }

    #[test]
    fn ecdsa_signature_is_a_sequence_of_two_integers() {
        let mut raw = vec![0u8; 64];
        raw[0] = 0x80; // r needs a sign byte
        raw[63] = 1; // s is 1
        let der = ecdsa_signature(&raw);
        assert_eq!(der[0], SEQUENCE);
        assert_eq!(der[1] as usize, der.len() - 2);
        assert_eq!(&der[2..5], &[INTEGER, 33, 0]);
        assert_eq!(&der[der.len() - 3..], &[INTEGER, 1, 1]);
    }
}

#[cfg(test)]
mod encoder_tests {
    use crate::alg::Algorithm;
    use crate::mint::SigningKey;
    use crate::testing::key;

    #[test]
    fn spki_is_what_independent_encoders_write() {
        use p256::pkcs8::EncodePublicKey;
        use rsa::pkcs8::EncodePublicKey as EncodeRsaPublicKey;
        use rsa::traits::PublicKeyParts;
        let SigningKey::Rsa(rsa_key) = key(Algorithm::RS256) else {
            unreachable!()
        };
        let public = rsa_key.to_public_key();
        let ours = super::rsa_spki(&public.n().to_bytes_be(), &public.e().to_bytes_be());
        assert_eq!(ours, public.to_public_key_der().unwrap().as_bytes());

        let SigningKey::P256(p256_key) = key(Algorithm::ES256) else {
            unreachable!()
        };
        let point = p256_key.verifying_key().to_sec1_point(false);
        let ours = super::ec_spki(super::SECP256R1, point.as_bytes());
        assert_eq!(
            ours,
            p256_key
                .verifying_key()
                .to_public_key_der()
                .unwrap()
                .as_bytes()
        );
    }
}
