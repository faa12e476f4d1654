//! Strict base64url (RFC 4648 §5) as JWS and JWK require: the URL-safe alphabet, no padding,
//! no whitespace, and no stray bits after the last character (RFC 7515 §2, RFC 7518 §6).

use base64::alphabet::URL_SAFE;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;

const STRICT_URL_SAFE: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(false),
);

/// Decodes unpadded base64url, refusing anything that is not its one canonical encoding.
pub fn decode(text: &[u8]) -> Option<Vec<u8>> {
    STRICT_URL_SAFE.decode(text).ok()
}

/// Encodes as unpadded base64url.
pub fn encode(bytes: &[u8]) -> String {
    STRICT_URL_SAFE.encode(bytes)
}

/// Adds the `=` padding that unpadded base64url leaves off.
pub fn pad(unpadded: &str) -> String {
    let mut padded = String::with_capacity(unpadded.len() + 3);
    padded.push_str(unpadded);
    while !padded.len().is_multiple_of(4) {
        padded.push('=');
    }
    padded
}

/// Decodes standard, padded base64: the JSON form of a protobuf `bytes` field.
pub fn decode_standard(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_unpadded() {
        for len in 0..8 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 250) as u8).collect();
            assert_eq!(decode(encode(&bytes).as_bytes()), Some(bytes));
        }
    }

    #[test]
    fn refuses_padding_other_alphabets_and_stray_bits() {
        assert_eq!(decode(b"YQ"), Some(b"a".to_vec()));
        assert_eq!(decode(b"YQ=="), None, "padding");
        assert_eq!(decode(b"YR"), None, "non-zero trailing bits");
        assert_eq!(decode(b"+/8"), None, "standard alphabet");
        assert_eq!(decode(b"-_8"), Some(vec![0xfb, 0xff]));
        assert_eq!(decode(b"Y Q"), None, "whitespace");
        assert_eq!(decode(b"Y"), None, "impossible length");
    }

    #[test]
    fn pads_to_a_multiple_of_four() {
        assert_eq!(pad("YQ"), "YQ==");
        assert_eq!(pad("YWI"), "YWI=");
        assert_eq!(pad("YWJj"), "YWJj");
    }
}
