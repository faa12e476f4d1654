//! Parsing a JWS in compact serialization (RFC 7515 §7.1) into a header we act on, claims we
//! check, and the signature. Nothing here trusts the token: every refusal is a [`Reason`].

use crate::alg::Algorithm;
use crate::b64;
use crate::claims::Claims;
use crate::json::{self, JsonError};
use crate::reason::{ClaimType, Reason, Segment};
use serde_json::{Map, Value};

/// Longest token accepted. Real access tokens are a few KiB; the limit keeps a request from
/// making us decode and parse an arbitrarily large document.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

#[derive(Debug, Clone)]
pub struct Header {
    pub alg: Algorithm,
    pub kid: Option<String>,
}

/// A parsed token, owning its text so a verified one can be kept in a cache. The signature
/// is not checked yet: see [`crate::jwks::KeySet::verify`].
#[derive(Debug, Clone)]
pub struct Jws {
    pub header: Header,
    pub claims: Claims,
    pub signature: Vec<u8>,
    token: String,
    /// Where the payload segment starts and ends in `token`.
    payload: (usize, usize),
}

impl Jws {
    pub fn parse(token: &str) -> Result<Jws, Reason> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(Reason::TooLarge);
        }
        let mut segments = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) = (
            segments.next(),
            segments.next(),
            segments.next(),
            segments.next(),
        ) else {
            return Err(Reason::BadFormat);
        };
        // An empty signature is an unsecured JWS (RFC 7515 §A.5), which no key verifies:
        // refused as malformed before any claim is looked at, as Envoy does.
        if header_b64.is_empty() || payload_b64.is_empty() || signature_b64.is_empty() {
            return Err(Reason::BadFormat);
        }

        let header = parse_header(&decode_object(header_b64, Segment::Header)?)?;
        let claims = Claims::from_payload(decode_object(payload_b64, Segment::Payload)?)?;
        let signature =
            b64::decode(signature_b64.as_bytes()).ok_or(Reason::BadBase64(Segment::Signature))?;
        let payload_start = header_b64.len() + 1;
        Ok(Jws {
            header,
            claims,
            signature,
            token: token.to_owned(),
            payload: (payload_start, payload_start + payload_b64.len()),
        })
    }

    /// The token as received.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// `BASE64URL(header) || '.' || BASE64URL(payload)`, the bytes that were signed.
    pub fn signing_input(&self) -> &[u8] {
        self.token
            .as_bytes()
            .get(..self.payload.1)
            .unwrap_or_default()
    }

    /// The payload segment as it appeared in the token.
    pub fn payload_segment(&self) -> &str {
        self.token
            .get(self.payload.0..self.payload.1)
            .unwrap_or_default()
    }
}

fn decode_object(segment: &str, which: Segment) -> Result<Map<String, Value>, Reason> {
    let bytes = b64::decode(segment.as_bytes()).ok_or(Reason::BadBase64(which))?;
    json::parse_object(&bytes).map_err(|error| match error {
        JsonError::Invalid | JsonError::NotObject => Reason::BadJson(which),
        JsonError::DuplicateMember(_) => Reason::DuplicateMember(which),
        JsonError::TooDeep => Reason::TooDeep(which),
    })
}

fn parse_header(header: &Map<String, Value>) -> Result<Header, Reason> {
    if header.contains_key("crit") {
        return Err(Reason::CritUnsupported);
    }
    let alg = match header.get("alg") {
        Some(Value::String(name)) => Algorithm::from_name(name).ok_or(Reason::UnsupportedAlg)?,
        _ => return Err(Reason::BadAlg),
    };
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err(Reason::BadKid),
    };
    Ok(Header { alg, kid })
}

impl Claims {
    /// Checks the types of the registered claims (RFC 7519 §4.1) once, so later checks can
    /// read them without failing.
    fn from_payload(payload: Map<String, Value>) -> Result<Claims, Reason> {
        for name in ["iss", "sub", "jti"] {
            if payload.get(name).is_some_and(|value| !value.is_string()) {
                return Err(Reason::BadClaim(name, ClaimType::String));
            }
        }
        for name in ["exp", "nbf", "iat"] {
            if payload.get(name).is_some_and(|value| !value.is_number()) {
                return Err(Reason::BadClaim(name, ClaimType::Number));
            }
        }
        let audience_ok = match payload.get("aud") {
            None | Some(Value::String(_)) => true,
            Some(Value::Array(items)) => items.iter().all(Value::is_string),
            Some(_) => false,
        };
        if !audience_ok {
            return Err(Reason::BadClaim("aud", ClaimType::StringOrStringList));
        }
        Ok(Claims::new(payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(json: &str) -> String {
        b64::encode(json.as_bytes())
    }

    fn token(header: &str, payload: &str) -> String {
        format!(
            "{}.{}.{}",
            segment(header),
            segment(payload),
            b64::encode(b"sig")
        )
    }

    fn parse(header: &str, payload: &str) -> Result<(), Reason> {
        Jws::parse(&token(header, payload)).map(|_| ())
    }

    const HS: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

    #[test]
    fn json_that_is_not_utf8_is_refused() {
        // RFC 8725 §3.7: a header or payload is UTF-8, byte for byte, whatever a signature says.
        let header = segment(HS);
        for raw in [
            &b"{\"sub\":\"\xff\"}"[..],
            b"{\"sub\":\"\xc3\"}",
            b"{\"sub\":\"\\ud800\"}",
        ] {
            let text = format!("{header}.{}.{}", b64::encode(raw), b64::encode(b"sig"));
            assert_eq!(
                Jws::parse(&text).unwrap_err(),
                Reason::BadJson(Segment::Payload),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn parses_a_well_formed_token() {
        let text = token(r#"{"alg":"ES256","kid":"k1"}"#, r#"{"iss":"me","exp":1.5}"#);
        let jws = Jws::parse(&text).unwrap();
        assert_eq!(jws.header.alg, Algorithm::ES256);
        assert_eq!(jws.header.kid.as_deref(), Some("k1"));
        assert_eq!(jws.claims.issuer(), Some("me"));
        assert_eq!(jws.claims.number("exp"), Some(1.5));
        assert_eq!(jws.signature, b"sig");
        let dot = text.rfind('.').unwrap();
        assert_eq!(jws.signing_input(), &text.as_bytes()[..dot]);
        assert_eq!(jws.payload_segment(), text.split('.').nth(1).unwrap());
    }

    #[test]
    fn needs_exactly_three_segments() {
        let good = token(HS, "{}");
        assert!(Jws::parse(&good).is_ok());
        for bad in [
            "abc".to_string(),
            "a.b".to_string(),
            format!("{good}."),
            format!(".{good}"),
            good.replacen('.', "..", 1),
            format!("{good}.x"),
            format!("{good}.x.y"), // a JWE has five segments
            good.rsplit_once('.')
                .map(|(input, _)| format!("{input}."))
                .unwrap(),
        ] {
            assert_eq!(Jws::parse(&bad).unwrap_err(), Reason::BadFormat, "{bad}");
        }
    }

    #[test]
    fn needs_strict_base64url_in_every_segment() {
        let good = token(HS, "{}");
        let parts: Vec<&str> = good.split('.').collect();
        let padded = format!("{}==.{}.{}", parts[0], parts[1], parts[2]);
        assert!(matches!(
            Jws::parse(&padded),
            Err(Reason::BadBase64(Segment::Header)) | Err(Reason::BadFormat)
        ));
        let plus = format!("{}.{}+.{}", parts[0], parts[1], parts[2]);
        assert_eq!(
            Jws::parse(&plus).unwrap_err(),
            Reason::BadBase64(Segment::Payload)
        );
        let sig = format!("{}.{}.{}=", parts[0], parts[1], parts[2]);
        assert_eq!(
            Jws::parse(&sig).unwrap_err(),
            Reason::BadBase64(Segment::Signature)
        );
    }

    #[test]
    fn needs_json_objects_without_duplicates() {
        assert_eq!(parse("[1]", "{}"), Err(Reason::BadJson(Segment::Header)));
        assert_eq!(parse(HS, "\"x\""), Err(Reason::BadJson(Segment::Payload)));
        assert_eq!(parse(HS, "{"), Err(Reason::BadJson(Segment::Payload)));
        assert_eq!(
            parse(r#"{"alg":"HS256","alg":"none"}"#, "{}"),
            Err(Reason::DuplicateMember(Segment::Header))
        );
        assert_eq!(
            parse(HS, r#"{"sub":"a","sub":"b"}"#),
            Err(Reason::DuplicateMember(Segment::Payload))
        );
        let deep = format!("{}1{}", "{\"a\":".repeat(40), "}".repeat(40));
        assert_eq!(parse(HS, &deep), Err(Reason::TooDeep(Segment::Payload)));
    }

    #[test]
    fn checks_alg_kid_and_crit() {
        assert_eq!(parse(r#"{"typ":"JWT"}"#, "{}"), Err(Reason::BadAlg));
        assert_eq!(parse(r#"{"alg":256}"#, "{}"), Err(Reason::BadAlg));
        assert_eq!(
            parse(r#"{"alg":"none"}"#, "{}"),
            Err(Reason::UnsupportedAlg)
        );
        assert_eq!(
            parse(r#"{"alg":"hs256"}"#, "{}"),
            Err(Reason::UnsupportedAlg)
        );
        assert_eq!(
            parse(r#"{"alg":"HS256","kid":1}"#, "{}"),
            Err(Reason::BadKid)
        );
        for crit in [r#"["exp"]"#, "[]", "null", r#""b64""#] {
            let header = format!(r#"{{"alg":"HS256","crit":{crit}}}"#);
            assert_eq!(parse(&header, "{}"), Err(Reason::CritUnsupported), "{crit}");
        }
    }

    #[test]
    fn checks_registered_claim_types() {
        assert_eq!(
            parse(HS, r#"{"iss":1}"#),
            Err(Reason::BadClaim("iss", ClaimType::String))
        );
        assert_eq!(
            parse(HS, r#"{"sub":null}"#),
            Err(Reason::BadClaim("sub", ClaimType::String))
        );
        assert_eq!(
            parse(HS, r#"{"jti":[]}"#),
            Err(Reason::BadClaim("jti", ClaimType::String))
        );
        for bad in [r#""1700000000""#, "true", "null", "{}"] {
            for claim in ["exp", "nbf", "iat"] {
                assert_eq!(
                    parse(HS, &format!(r#"{{"{claim}":{bad}}}"#)),
                    Err(Reason::BadClaim(claim, ClaimType::Number))
                );
            }
        }
        for good in ["1700000000", "1700000000.25", "0", "-1", "1e10"] {
            assert!(parse(HS, &format!(r#"{{"exp":{good}}}"#)).is_ok(), "{good}");
        }
        assert!(parse(HS, r#"{"aud":"a"}"#).is_ok());
        assert!(parse(HS, r#"{"aud":["a","b"]}"#).is_ok());
        assert_eq!(
            parse(HS, r#"{"aud":["a",1]}"#),
            Err(Reason::BadClaim("aud", ClaimType::StringOrStringList))
        );
        assert_eq!(
            parse(HS, r#"{"aud":{"a":1}}"#),
            Err(Reason::BadClaim("aud", ClaimType::StringOrStringList))
        );
    }

    #[test]
    fn bounds_token_size() {
        let big = token(
            HS,
            &format!(r#"{{"pad":"{}"}}"#, "x".repeat(MAX_TOKEN_BYTES)),
        );
        assert_eq!(Jws::parse(&big).unwrap_err(), Reason::TooLarge);
    }
}
