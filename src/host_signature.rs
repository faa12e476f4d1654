//! The wire form of Envoy's `verify_signature` foreign function
//! (`source/extensions/common/wasm/ext/verify_signature.proto`): two small protobuf messages,
//! encoded by hand so the module carries no protobuf library.
//!
//! ```text
//! VerifySignatureArguments { string hash_function = 1; bytes public_key = 2 (DER SPKI);
//!                            bytes signature = 3; bytes text = 4; }
//! VerifySignatureResult    { bool result = 1; string error = 2; }
//! ```

use crate::alg::Hash;

/// The name Envoy registers the function under.
pub const FUNCTION: &str = "verify_signature";

pub fn encode_arguments(hash: Hash, spki: &[u8], signature: &[u8], text: &[u8]) -> Vec<u8> {
    let name = hash.host_name().as_bytes();
    let mut out = Vec::with_capacity(name.len() + spki.len() + signature.len() + text.len() + 24);
    for (field, bytes) in [(1, name), (2, spki), (3, signature), (4, text)] {
        out.push((field << 3) | 2); // length-delimited
        varint(&mut out, bytes.len() as u64);
        out.extend_from_slice(bytes);
    }
    out
}

/// The verdict in a `VerifySignatureResult`, or `None` if the bytes are not one.
pub fn decode_result(mut bytes: &[u8]) -> Option<bool> {
    let mut result = false;
    while !bytes.is_empty() {
        let (key, rest) = read_varint(bytes)?;
        bytes = rest;
        match (key >> 3, key & 7) {
            (field, 0) => {
                let (value, rest) = read_varint(bytes)?;
                bytes = rest;
                if field == 1 {
                    result = value != 0;
                }
            }
            (_, 2) => {
                let (len, rest) = read_varint(bytes)?;
                let len = usize::try_from(len).ok()?;
                bytes = rest.get(len..)?;
            }
            _ => return None,
        }
    }
    Some(result)
}

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn read_varint(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut value = 0u64;
    for (i, byte) in bytes.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return bytes.get(i + 1..).map(|rest| (value, rest));
        }
    }
    None
}

/// A P-256 key, a message and its DER signature, to find out at configure time whether the
/// host checks signatures, and checks them right.
pub mod probe {
    pub const SPKI: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEAXTu5lii2s8pHMast3zqimjuS3YVKNYXPV_ziNKx4jsN_IeBSsAqfjH4VfSsvGe-3safisZeXx2I_u7pSdEQrw";
    pub const MESSAGE: &[u8] = b"jwt-policy host signature probe";
    pub const SIGNATURE: &str = "MEUCIQCRom5zS-KVpOcHBrn7Xk38QFpcl9tQox2NZ3FMoSN7SAIgC_WdJUUsyxG4ZbTvtz614NoAjCYBE7Iihywsfh9jsw0";
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::b64;
    use crate::key::SignatureHost;
    use crate::testing::DerHost;

    #[test]
    fn arguments_are_length_delimited_fields_in_order() {
        let encoded = encode_arguments(Hash::Sha256, &[1, 2], &[3; 200], b"t");
        assert_eq!(
            &encoded[..8],
            &[0x0a, 6, b's', b'h', b'a', b'2', b'5', b'6']
        );
        assert_eq!(&encoded[8..12], &[0x12, 2, 1, 2]);
        assert_eq!(&encoded[12..15], &[0x1a, 0xc8, 0x01]);
        assert_eq!(&encoded[encoded.len() - 3..], &[0x22, 1, b't']);
    }

    #[test]
    fn reads_results() {
        assert_eq!(decode_result(&[0x08, 1]), Some(true));
        assert_eq!(
            decode_result(&[0x08, 0, 0x12, 3, b'b', b'a', b'd']),
            Some(false)
        );
        assert_eq!(decode_result(&[0x12, 1, b'x']), Some(false));
        assert_eq!(decode_result(&[]), Some(false));
        assert_eq!(decode_result(&[0x12, 5, b'x']), None);
        assert_eq!(decode_result(&[0x08]), None);
    }

    #[test]
    fn the_probe_is_a_valid_signature() {
        let spki = b64::decode(probe::SPKI.as_bytes()).unwrap();
        let signature = b64::decode(probe::SIGNATURE.as_bytes()).unwrap();
        let host = DerHost::default();
        assert_eq!(
            host.verify(Hash::Sha256, &spki, &signature, probe::MESSAGE),
            Some(true)
        );
        assert_eq!(
            host.verify(Hash::Sha256, &spki, &signature, b"other"),
            Some(false)
        );
    }
}
