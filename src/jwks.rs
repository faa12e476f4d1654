//! JSON Web Key Sets (RFC 7517) turned into [`Key`]s once, when a configuration is applied, and
//! the choice of key for a token.
//!
//! Keys we cannot verify with (`use: enc`, an unknown `kty`, curve or `alg`) are skipped with a
//! note (RFC 7517 §5); members a key type does not define are ignored (RFC 7517 §4); a key of a
//! type we do verify that is malformed rejects the whole set, naming the member at fault.

use crate::alg::{Algorithm, AlgorithmSet, Family};
use crate::b64;
use crate::jws::Jws;
use crate::key::{Curve, Key, SignatureHost};
use crate::reason::Reason;
use serde_json::{Map, Value};

#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: Vec<Key>,
}

/// A key set and what was left out of it.
#[derive(Debug)]
pub struct ParsedKeySet {
    pub keys: KeySet,
    /// One line per skipped key, for an info log.
    pub skipped: Vec<String>,
}

/// A refusal with the JSON path of the member at fault, relative to the key set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksError {
    pub path: String,
    pub message: String,
}

impl JwksError {
    fn at(path: impl Into<String>, message: impl Into<String>) -> JwksError {
        JwksError {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl KeySet {
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    /// Parses a JWKS document `{"keys": [...]}`.
    pub fn parse(document: &Value) -> Result<ParsedKeySet, JwksError> {
        let Some(object) = document.as_object() else {
            return Err(JwksError::at("", "a JWKS must be a JSON object"));
        };
        let Some(entries) = object.get("keys") else {
            return Err(JwksError::at("keys", "a JWKS needs a \"keys\" member"));
        };
        let Some(entries) = entries.as_array() else {
            return Err(JwksError::at("keys", "must be an array"));
        };
        let mut keys = Vec::with_capacity(entries.len());
        let mut skipped = Vec::new();
        for (index, entry) in entries.iter().enumerate() {
            let path = format!("keys[{index}]");
            let Some(jwk) = entry.as_object() else {
                return Err(JwksError::at(path, "a key must be a JSON object"));
            };
            match parse_key(jwk).map_err(|(member, message)| {
                JwksError::at(
                    member.map_or(path.clone(), |m| format!("{path}.{m}")),
                    message,
                )
            })? {
                Parsed::Key(key) => keys.push(*key),
                Parsed::Skipped(why) => {
                    let kid = jwk.get("kid").and_then(Value::as_str);
                    skipped.push(match kid {
                        Some(kid) => format!("{path} (kid \"{kid}\") skipped: {why}"),
                        None => format!("{path} skipped: {why}"),
                    });
                }
            }
        }
        Ok(ParsedKeySet {
            keys: KeySet { keys },
            skipped,
        })
    }

    /// Checks the token's signature with the keys its `kid` and `alg` allow. A token naming a
    /// `kid` is tried only with keys of that `kid` or none; a token without one with every key
    /// that verifies its `alg`. The key, never the token, decides the algorithm.
    pub fn verify(&self, jws: &Jws, host: Option<&dyn SignatureHost>) -> Result<(), Reason> {
        let alg = jws.header.alg;
        let mut candidates = self.candidates(jws).peekable();
        if candidates.peek().is_none() {
            return Err(Reason::NoMatchingKey);
        }
        if alg == Algorithm::EdDSA && jws.signature.len() != 64 {
            return Err(Reason::Ed25519SignatureWrongLength);
        }
        if candidates.any(|key| key.verify(alg, jws.signing_input(), &jws.signature, host)) {
            Ok(())
        } else {
            Err(Reason::VerificationFailed)
        }
    }
}

impl KeySet {
    /// The keys a token may be verified with: those for its `alg` whose `kid` does not rule
    /// them out.
    pub fn candidates<'k>(&'k self, jws: &'k Jws) -> impl Iterator<Item = &'k Key> + 'k {
        let kid = jws.header.kid.as_deref();
        self.keys
            .iter()
            .filter(move |key| key.algorithms.contains(jws.header.alg) && key.kid_matches(kid))
    }
}

enum Parsed {
    Key(Box<Key>),
    Skipped(String),
}

/// A failure names the member at fault (`None`: the key as a whole).
type KeyError = (Option<&'static str>, String);

fn parse_key(jwk: &Map<String, Value>) -> Result<Parsed, KeyError> {
    let kty = match jwk.get("kty") {
        Some(Value::String(kty)) => kty.as_str(),
        Some(_) => return Err((Some("kty"), "must be a string".into())),
        None => return Err((Some("kty"), "is required".into())),
    };
    if let Some(usage) = optional_string(jwk, "use")? {
        if usage != "sig" {
            return Ok(Parsed::Skipped(format!("use is \"{usage}\", not \"sig\"")));
        }
    }
    if let Some(ops) = jwk.get("key_ops") {
        let ops = ops
            .as_array()
            .filter(|ops| ops.iter().all(Value::is_string))
            .ok_or((Some("key_ops"), "must be an array of strings".to_string()))?;
        if !ops.iter().any(|op| op == "verify") {
            return Ok(Parsed::Skipped(
                "key_ops does not include \"verify\"".into(),
            ));
        }
    }
    let kid = optional_string(jwk, "kid")?.map(str::to_owned);
    let alg = match optional_string(jwk, "alg")? {
        None => None,
        Some(name) => match Algorithm::from_name(name) {
            Some(alg) => Some(alg),
            None => {
                return Ok(Parsed::Skipped(format!(
                    "alg \"{name}\" is not a JWS algorithm we verify"
                )))
            }
        },
    };
    let key = match kty {
        "RSA" => {
            let algorithms = family_algorithms(alg, &[Family::RsaPkcs1, Family::RsaPss], "RSA")?;
            let n = member_bytes(jwk, "n")?;
            let e = member_bytes(jwk, "e")?;
            Key::rsa(kid, algorithms, &n, &e).map_err(|message| (None, message))?
        }
        "EC" => {
            let curve = match optional_string(jwk, "crv")? {
                Some(name) => match Curve::from_name(name) {
                    Some(curve) => curve,
                    None => {
                        return Ok(Parsed::Skipped(format!(
                            "curve \"{name}\" is not supported"
                        )))
                    }
                },
                // jwt_verify_lib infers the curve from `alg`, and takes P-256 when both are absent.
                None => match alg {
                    Some(Algorithm::ES384) => Curve::P384,
                    Some(Algorithm::ES512) => Curve::P521,
                    _ => Curve::P256,
                },
            };
            if let Some(alg) = alg {
                if alg != curve.algorithm() {
                    return Err((
                        Some("alg"),
                        format!(
                            "{alg} does not go with curve {curve:?} (needs {})",
                            curve.algorithm()
                        ),
                    ));
                }
            }
            let x = member_bytes(jwk, "x")?;
            let y = member_bytes(jwk, "y")?;
            Key::ec(kid, curve, &x, &y).map_err(|message| (None, message))?
        }
        "OKP" => {
            match optional_string(jwk, "crv")? {
                Some("Ed25519") => {}
                Some(name) => {
                    return Ok(Parsed::Skipped(format!(
                        "curve \"{name}\" is not supported"
                    )))
                }
                None => return Err((Some("crv"), "is required for an OKP key".into())),
            }
            family_algorithms(alg, &[Family::Ed25519], "OKP")?;
            let x = member_bytes(jwk, "x")?;
            Key::ed25519(kid, &x).map_err(|message| (Some("x"), message))?
        }
        "oct" => {
            let algorithms = family_algorithms(alg, &[Family::Hmac], "oct")?;
            let k = member_bytes(jwk, "k")?;
            // Without an `alg`, the secret verifies each HMAC its length is enough for.
            let algorithms = if alg.is_none() {
                AlgorithmSet::of(
                    &algorithms
                        .iter()
                        .filter(|a| a.hash().is_some_and(|h| k.len() >= h.output_len()))
                        .collect::<Vec<_>>(),
                )
            } else {
                algorithms
            };
            if algorithms.is_empty() {
                return Err((
                    Some("k"),
                    format!(
                        "an HMAC secret must be at least 32 bytes (RFC 7518 §3.2), got {}",
                        k.len()
                    ),
                ));
            }
            Key::hmac(kid, algorithms, &k).map_err(|message| (Some("k"), message))?
        }
        other => return Ok(Parsed::Skipped(format!("kty \"{other}\" is not supported"))),
    };
    Ok(Parsed::Key(Box::new(key)))
}

/// The algorithms a key of `families` may verify: its `alg` alone when it names one, which
/// must belong to the key type.
fn family_algorithms(
    alg: Option<Algorithm>,
    families: &[Family],
    kty: &str,
) -> Result<AlgorithmSet, KeyError> {
    match alg {
        Some(alg) if families.contains(&alg.family()) => Ok(AlgorithmSet::of(&[alg])),
        Some(alg) => Err((
            Some("alg"),
            format!("{alg} cannot be used with a {kty} key"),
        )),
        None => Ok(AlgorithmSet::of(
            &Algorithm::ALL
                .into_iter()
                .filter(|a| families.contains(&a.family()))
                .collect::<Vec<_>>(),
        )),
    }
}

/// Why a required member is missing, with the likely cause when it is YAML 1.1 (kubectl's
/// YAML) reading an unquoted `y:` as the boolean true, or `n:` as false.
fn missing(jwk: &Map<String, Value>, member: &str) -> String {
    let boolean = match member {
        "y" => "true",
        "n" => "false",
        _ => return "is required".into(),
    };
    if jwk.contains_key(boolean) {
        format!("is required (there is a member \"{boolean}\": YAML 1.1, which kubectl reads, turns an unquoted {member}: into {boolean}; quote it: \"{member}\":)")
    } else {
        "is required".into()
    }
}

fn optional_string<'a>(
    jwk: &'a Map<String, Value>,
    member: &'static str,
) -> Result<Option<&'a str>, KeyError> {
    match jwk.get(member) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err((Some(member), "must be a string".into())),
    }
}

fn member_bytes(jwk: &Map<String, Value>, member: &'static str) -> Result<Vec<u8>, KeyError> {
    let text = optional_string(jwk, member)?.ok_or_else(|| (Some(member), missing(jwk, member)))?;
    let bytes = b64::decode(text.as_bytes()).ok_or((
        Some(member),
        "is not strict base64url (RFC 7515 §2: no padding, no +/)".to_string(),
    ))?;
    if bytes.is_empty() {
        return Err((Some(member), "is empty".into()));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mint::{sign_token, SigningKey};
    use crate::testing::{self, claims, jwk, jwks, token, DerHost};
    use serde_json::json;

    fn key_set(document: Value) -> KeySet {
        KeySet::parse(&document).expect("key set").keys
    }

    fn verify(keys: &KeySet, token: &str, host: Option<&dyn SignatureHost>) -> Result<(), Reason> {
        keys.verify(&Jws::parse(token).expect("parses"), host)
    }

    #[test]
    fn every_algorithm_verifies_in_rust_and_through_the_host() {
        for alg in Algorithm::ALL {
            let keys = key_set(jwks(&[jwk(alg, Some("k1"))]));
            let good = token(alg, Some("k1"), &claims(json!({})));
            assert_eq!(verify(&keys, &good, None), Ok(()), "{alg} in Rust");
            let host = DerHost::default();
            assert_eq!(verify(&keys, &good, Some(&host)), Ok(()), "{alg} via host");
            let hosted = matches!(alg.family(), Family::RsaPkcs1 | Family::Ecdsa);
            assert_eq!(
                host.calls.get() > 0,
                hosted,
                "{alg}: host used only for PKCS#1 and ECDSA"
            );
        }
    }

    #[test]
    fn tampered_tokens_and_other_keys_fail() {
        for alg in Algorithm::ALL {
            let keys = key_set(jwks(&[jwk(alg, None)]));
            let good = token(alg, None, &claims(json!({})));
            let flipped = testing::flip_signature_bit(&good);
            let forged_claims = good.replacen(
                good.split('.').nth(1).unwrap(),
                &b64::encode(br#"{"sub":"mallory"}"#),
                1,
            );
            let stranger =
                crate::mint::mint(&testing::other_key(alg), alg, None, &claims(json!({}))).unwrap();
            for bad in [&flipped, &forged_claims, &stranger] {
                for host in [None, Some(&DerHost::default() as &dyn SignatureHost)] {
                    assert_eq!(
                        verify(&keys, bad, host),
                        Err(Reason::VerificationFailed),
                        "{alg}"
                    );
                }
            }
        }
    }

    #[test]
    fn keys_a_token_points_to_or_carries_are_never_used() {
        // RFC 8725 §3.10, §3.11: `jwk`, `jku`, `x5u` and `x5c` name keys the attacker chose.
        let alg = Algorithm::ES256;
        let keys = key_set(jwks(&[jwk(alg, None)]));
        let attacker = testing::other_key(alg);
        let header = json!({
            "alg": "ES256",
            "jwk": attacker.public_jwk(None, None),
            "jku": "https://attacker.example/jwks",
            "x5u": "https://attacker.example/cert",
            "x5c": ["MIIB"],
        });
        let forged =
            sign_token(&attacker, alg, &header.to_string(), r#"{"sub":"mallory"}"#).expect("signs");
        for host in [None, Some(&DerHost::default() as &dyn SignatureHost)] {
            assert_eq!(
                verify(&keys, &forged, host),
                Err(Reason::VerificationFailed)
            );
        }
    }

    #[test]
    fn a_kid_limits_the_keys_tried() {
        let alg = Algorithm::ES256;
        let stranger = testing::other_key(alg);
        let keys = key_set(jwks(&[
            stranger.public_jwk(Some("a"), None),
            jwk(alg, Some("b")),
        ]));
        assert_eq!(
            verify(&keys, &token(alg, Some("b"), &claims(json!({}))), None),
            Ok(())
        );
        // Signed by b's key but naming a: never falls back to b.
        assert_eq!(
            verify(&keys, &token(alg, Some("a"), &claims(json!({}))), None),
            Err(Reason::VerificationFailed)
        );
        assert_eq!(
            verify(&keys, &token(alg, Some("zzz"), &claims(json!({}))), None),
            Err(Reason::NoMatchingKey)
        );
        // No kid in the token: every compatible key is tried.
        assert_eq!(
            verify(&keys, &token(alg, None, &claims(json!({}))), None),
            Ok(())
        );
        // A key without a kid matches any kid.
        let unnamed = key_set(jwks(&[jwk(alg, None)]));
        assert_eq!(
            verify(
                &unnamed,
                &token(alg, Some("anything"), &claims(json!({}))),
                None
            ),
            Ok(())
        );
    }

    #[test]
    fn the_key_not_the_token_decides_the_algorithm() {
        // An RSA key limited to RS256 does not verify PS256, and an EC key only its curve's alg.
        let mut rs256_only = jwk(Algorithm::RS256, None);
        rs256_only["alg"] = json!("RS256");
        let keys = key_set(jwks(&[rs256_only]));
        assert_eq!(
            verify(
                &keys,
                &token(Algorithm::RS256, None, &claims(json!({}))),
                None
            ),
            Ok(())
        );
        assert_eq!(
            verify(
                &keys,
                &token(Algorithm::PS256, None, &claims(json!({}))),
                None
            ),
            Err(Reason::NoMatchingKey)
        );
        // The classic confusion: an HMAC token "signed" with the RSA public key as secret.
        let rsa_jwk = jwk(Algorithm::RS256, None);
        let public_bytes = serde_json::to_vec(&rsa_jwk).unwrap();
        let confused = sign_token(
            &SigningKey::Hmac(public_bytes),
            Algorithm::HS256,
            r#"{"alg":"HS256"}"#,
            "{}",
        )
        .unwrap();
        assert_eq!(
            verify(&key_set(jwks(&[rsa_jwk])), &confused, None),
            Err(Reason::NoMatchingKey)
        );
        let p256 = key_set(jwks(&[jwk(Algorithm::ES256, None)]));
        assert_eq!(
            verify(
                &p256,
                &token(Algorithm::ES384, None, &claims(json!({}))),
                None
            ),
            Err(Reason::NoMatchingKey)
        );
    }

    #[test]
    fn ecdsa_signatures_must_be_raw_and_in_range() {
        let alg = Algorithm::ES256;
        let keys = key_set(jwks(&[jwk(alg, None)]));
        let good = token(alg, None, &claims(json!({})));
        let (input, signature) = good.rsplit_once('.').unwrap();
        let raw = b64::decode(signature.as_bytes()).unwrap();
        let der = crate::der::ecdsa_signature(&raw);
        // n, the order of P-256: r = n is out of range though it fits in 32 bytes.
        let order = b64::decode(b"_____wAAAAD__________7zm-q2nF56E87nKwvxjJVE").unwrap();
        let r_is_n = [order.as_slice(), &raw[32..]].concat();
        for bad in [
            der,
            raw[..63].to_vec(),
            [raw.clone(), vec![0]].concat(),
            r_is_n,
            vec![0; 64],
        ] {
            let forged = format!("{input}.{}", b64::encode(&bad));
            for host in [None, Some(&DerHost::default() as &dyn SignatureHost)] {
                assert_eq!(
                    verify(&keys, &forged, host),
                    Err(Reason::VerificationFailed)
                );
            }
        }
    }

    #[test]
    fn rsa_signatures_must_be_below_the_modulus() {
        use rsa::traits::PublicKeyParts;
        let SigningKey::Rsa(private) = testing::key(Algorithm::PS256) else {
            unreachable!()
        };
        let n = private.n().clone();
        let keys = key_set(jwks(&[jwk(Algorithm::PS256, None)]));
        for alg in [Algorithm::PS256, Algorithm::RS256] {
            let good = token(alg, None, &claims(json!({})));
            let (input, signature) = good.rsplit_once('.').unwrap();
            let modulus = format!("{input}.{}", b64::encode(&n.to_bytes_be()));
            assert_eq!(
                verify(&keys, &modulus, None),
                Err(Reason::VerificationFailed)
            );
            // s + n, where it still fits in k bytes, is the same signature written again.
            let s = rsa::BigUint::from_bytes_be(&b64::decode(signature.as_bytes()).unwrap());
            let shifted = (&s + &n).to_bytes_be();
            if shifted.len() == 256 {
                let again = format!("{input}.{}", b64::encode(&shifted));
                assert_eq!(
                    verify(&keys, &again, None),
                    Err(Reason::VerificationFailed),
                    "{alg}"
                );
            }
        }
    }

    #[test]
    fn ed25519_signatures_must_be_64_bytes() {
        let keys = key_set(jwks(&[jwk(Algorithm::EdDSA, None)]));
        let good = token(Algorithm::EdDSA, None, &claims(json!({})));
        let (input, signature) = good.rsplit_once('.').unwrap();
        let signature = b64::decode(signature.as_bytes()).unwrap();
        for len in [1, 63, 65] {
            let resized: Vec<u8> = signature.iter().copied().chain([0]).take(len).collect();
            let token = format!("{input}.{}", b64::encode(&resized));
            assert_eq!(
                verify(&keys, &token, None),
                Err(Reason::Ed25519SignatureWrongLength)
            );
        }
    }

    #[test]
    fn interoperates_with_jwt_simple() {
        use jwt_simple::prelude::*;
        let claims =
            || Claims::create(Duration::from_hours(1)).with_issuer("https://issuer.example");
        let rsa = RS256KeyPair::generate(2048).unwrap().with_key_id("rsa");
        let cases: Vec<(String, String)> = vec![
            (rsa.public_key().to_jwk(), rsa.sign(claims()).unwrap()),
            {
                let k = PS256KeyPair::from_der(&rsa.to_der().unwrap())
                    .unwrap()
                    .with_key_id("pss");
                (k.public_key().to_jwk(), k.sign(claims()).unwrap())
            },
            {
                let k = ES256KeyPair::generate().with_key_id("p256");
                (k.public_key().to_jwk(), k.sign(claims()).unwrap())
            },
            {
                let k = ES384KeyPair::generate().with_key_id("p384");
                (k.public_key().to_jwk(), k.sign(claims()).unwrap())
            },
            {
                let k = Ed25519KeyPair::generate().with_key_id("ed");
                (k.public_key().to_jwk(), k.sign(claims()).unwrap())
            },
        ];
        for (public_jwk, token) in cases {
            let jwk: Value = serde_json::from_str(&public_jwk).unwrap();
            let keys = key_set(jwks(&[jwk]));
            assert_eq!(verify(&keys, &token, None), Ok(()), "{public_jwk}");
            assert_eq!(
                verify(&keys, &token, Some(&DerHost::default())),
                Ok(()),
                "{public_jwk}"
            );
        }
    }

    fn parse_error(keys: Value) -> JwksError {
        KeySet::parse(&jwks(&[keys])).unwrap_err()
    }

    #[test]
    fn skips_keys_we_do_not_verify_with() {
        let parsed = KeySet::parse(&jwks(&[
            json!({"kty": "RSA", "use": "enc", "kid": "e1", "n": "x", "e": "AQAB"}),
            json!({"kty": "EC", "crv": "secp256k1", "x": "AA", "y": "AA"}),
            json!({"kty": "OKP", "crv": "X25519", "x": "AA"}),
            json!({"kty": "LWE", "x": "AA"}),
            json!({"kty": "RSA", "alg": "RSA-OAEP-256", "n": "x", "e": "AQAB"}),
            json!({"kty": "oct", "k": "AA", "key_ops": ["encrypt"]}),
            jwk(Algorithm::EdDSA, Some("ok")),
        ]))
        .unwrap();
        assert_eq!(parsed.keys.len(), 1);
        assert_eq!(parsed.skipped.len(), 6);
        assert_eq!(
            parsed.skipped[0],
            "keys[0] (kid \"e1\") skipped: use is \"enc\", not \"sig\""
        );
    }

    #[test]
    fn ignores_members_a_key_type_does_not_define() {
        let mut ec = jwk(Algorithm::ES256, None);
        ec["n"] = json!(1);
        ec["x5c"] = json!(["whatever"]);
        ec["ext"] = json!(true);
        assert_eq!(KeySet::parse(&jwks(&[ec])).unwrap().keys.len(), 1);
    }

    #[test]
    fn refuses_malformed_keys_naming_the_member() {
        let mut rsa = jwk(Algorithm::RS256, None);
        rsa["n"] = json!(format!("{}=", rsa["n"].as_str().unwrap()));
        assert_eq!(parse_error(rsa).path, "keys[0].n");

        let mut yaml_y = jwk(Algorithm::ES256, None);
        let y = yaml_y.as_object_mut().unwrap().remove("y").unwrap();
        yaml_y["true"] = y;
        let error = parse_error(yaml_y);
        assert_eq!(error.path, "keys[0].y");
        assert!(error.message.contains("quote it"), "{}", error.message);

        let mut missing_e = jwk(Algorithm::RS256, None);
        missing_e.as_object_mut().unwrap().remove("e");
        assert_eq!(parse_error(missing_e).path, "keys[0].e");

        let small = SigningKey::Rsa(Box::new(
            rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 1024).unwrap(),
        ));
        let error = parse_error(small.public_jwk(None, None));
        assert_eq!(error.path, "keys[0]");
        assert!(error.message.contains("1024 bits"), "{}", error.message);

        let mut exponent = jwk(Algorithm::RS256, None);
        exponent["e"] = json!("Aw_"); // not canonical base64url
        assert_eq!(parse_error(exponent).path, "keys[0].e");

        let mut off_curve = jwk(Algorithm::ES256, None);
        off_curve["y"] = off_curve["x"].clone();
        assert!(parse_error(off_curve).message.contains("not on the curve"));

        let mut long_x = jwk(Algorithm::ES384, None);
        long_x["x"] = json!(b64::encode(&[1u8; 49]));
        assert!(parse_error(long_x).message.contains("at most 48 bytes"));

        let mut mismatched = jwk(Algorithm::ES256, None);
        mismatched["alg"] = json!("ES384");
        assert_eq!(parse_error(mismatched).path, "keys[0].alg");

        let mut rsa_as_hmac = jwk(Algorithm::RS256, None);
        rsa_as_hmac["alg"] = json!("HS256");
        assert_eq!(parse_error(rsa_as_hmac).path, "keys[0].alg");

        assert_eq!(parse_error(json!({"k": "AA"})).path, "keys[0].kty");
        assert_eq!(parse_error(json!({"kty": 1})).path, "keys[0].kty");
        assert_eq!(
            parse_error(json!({"kty": "OKP", "x": "AA"})).path,
            "keys[0].crv"
        );
        assert_eq!(parse_error(json!("key")).path, "keys[0]");
        let mut kid = jwk(Algorithm::EdDSA, None);
        kid["kid"] = json!(7);
        assert_eq!(parse_error(kid).path, "keys[0].kid");
    }

    #[test]
    fn hmac_secrets_must_cover_the_hash() {
        let secret = |len: usize, alg: Option<&str>| {
            let mut key = json!({"kty": "oct", "k": b64::encode(&vec![7u8; len])});
            if let Some(alg) = alg {
                key["alg"] = json!(alg);
            }
            KeySet::parse(&jwks(&[key]))
        };
        assert!(secret(31, None).is_err());
        assert!(secret(32, Some("HS256")).is_ok());
        assert!(secret(47, Some("HS384"))
            .unwrap_err()
            .message
            .contains("48 bytes"));
        // Without an alg, a 32-byte secret verifies HS256 but not HS384 or HS512.
        let keys = secret(32, None).unwrap().keys;
        let algorithms = keys.keys()[0].algorithms;
        assert!(algorithms.contains(Algorithm::HS256) && !algorithms.contains(Algorithm::HS384));
    }

    #[test]
    fn refuses_documents_that_are_not_key_sets() {
        assert_eq!(KeySet::parse(&json!([])).unwrap_err().path, "");
        assert_eq!(KeySet::parse(&json!({})).unwrap_err().path, "keys");
        assert_eq!(
            KeySet::parse(&json!({"keys": {}})).unwrap_err().path,
            "keys"
        );
    }
}
