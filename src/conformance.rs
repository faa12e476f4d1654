//! The conformance vectors from Google's `jwt_verify_lib` and Envoy's tests
//! (`../shared/conformance/jwt_verify_lib_vectors.json`, beside the repository), run against
//! the core. Every case must give the library's verdict, or be listed with ours and the
//! reason in CONFORMANCE.md's table of intentional differences: the test reads that table,
//! so the document and the code cannot drift apart.

use crate::claims::{audience_allowed, normalize_audience, Claims};
use crate::jwks::KeySet;
use crate::jws::Jws;
use crate::policy::{Policy, Verdict};
use crate::reason::{ClaimType, Reason, Segment};
use crate::request::{headers, Request};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

fn vectors() -> Option<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/conformance/jwt_verify_lib_vectors.json");
    match std::fs::read(&path) {
        Ok(bytes) => Some(serde_json::from_slice(&bytes).expect("the vectors are JSON")),
        Err(_) => {
            eprintln!(
                "skipped: {} is not there (it is beside the repository in CI)",
                path.display()
            );
            None
        }
    }
}

/// The documented differences: case id -> our outcome, from CONFORMANCE.md.
fn documented() -> BTreeMap<String, String> {
    let text = include_str!("../CONFORMANCE.md");
    text.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let (id, ours) = (cells.get(1)?, cells.get(3)?);
            let id = id.strip_prefix('`')?.strip_suffix('`')?;
            let ours = ours.strip_prefix('`')?.strip_suffix('`')?;
            Some((id.to_string(), ours.to_string()))
        })
        .collect()
}

/// jwt_verify_lib's status as our outcome: `ok`, a reason, or the configuration refused.
fn expected(status: &str) -> String {
    let reason = match status {
        "ok" => return "ok".into(),
        "JwtMissed" => Reason::Missing,
        "JwtBadFormat" => Reason::BadFormat,
        "JwtHeaderParseErrorBadBase64" => Reason::BadBase64(Segment::Header),
        "JwtHeaderParseErrorBadJson" => Reason::BadJson(Segment::Header),
        "JwtHeaderBadAlg" => Reason::BadAlg,
        "JwtHeaderNotImplementedAlg" => Reason::UnsupportedAlg,
        "JwtHeaderBadKid" => Reason::BadKid,
        "JwtPayloadParseErrorBadBase64" => Reason::BadBase64(Segment::Payload),
        "JwtPayloadParseErrorBadJson" => Reason::BadJson(Segment::Payload),
        "JwtPayloadParseErrorIssNotString" => Reason::BadClaim("iss", ClaimType::String),
        "JwtPayloadParseErrorSubNotString" => Reason::BadClaim("sub", ClaimType::String),
        "JwtPayloadParseErrorJtiNotString" => Reason::BadClaim("jti", ClaimType::String),
        "JwtPayloadParseErrorIatNotInteger" | "JwtPayloadParseErrorIatOutOfRange" => {
            Reason::BadClaim("iat", ClaimType::Number)
        }
        "JwtPayloadParseErrorNbfNotInteger" | "JwtPayloadParseErrorNbfOutOfRange" => {
            Reason::BadClaim("nbf", ClaimType::Number)
        }
        "JwtPayloadParseErrorExpNotInteger" | "JwtPayloadParseErrorExpOutOfRange" => {
            Reason::BadClaim("exp", ClaimType::Number)
        }
        "JwtPayloadParseErrorAudNotString" => {
            Reason::BadClaim("aud", ClaimType::StringOrStringList)
        }
        "JwtSignatureParseErrorBadBase64" => Reason::BadBase64(Segment::Signature),
        "JwtExpired" => Reason::Expired,
        "JwtNotYetValid" => Reason::NotYetValid,
        "JwtUnknownIssuer" => Reason::UnknownIssuer,
        "JwtAudienceNotAllowed" => Reason::AudienceNotAllowed,
        "JwtVerificationFail" => Reason::VerificationFailed,
        "JwksKidAlgMismatch" => Reason::NoMatchingKey,
        "JwtEd25519SignatureWrongLength" => Reason::Ed25519SignatureWrongLength,
        // Key set statuses: the key set is refused.
        other if other.starts_with("Jwks") => return "config refused".into(),
        other => return format!("unknown status {other}"),
    };
    outcome(&Err(reason))
}

fn outcome(result: &Result<(), Reason>) -> String {
    match result {
        Ok(()) => "ok".into(),
        Err(reason) => format!("{reason:?}"),
    }
}

fn string(case: &Value, field: &str) -> Option<String> {
    case.get(field).and_then(Value::as_str).map(str::to_owned)
}

fn now(case: &Value) -> f64 {
    case.get("now").and_then(Value::as_f64).unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_secs_f64()
    })
}

/// Our outcome for one token case.
fn run_case(case: &Value) -> String {
    let token = string(case, "token");
    let skew = case
        .get("clock_skew")
        .and_then(Value::as_f64)
        .unwrap_or(60.0);
    match case["scope"].as_str() {
        Some("parse") => outcome(&Jws::parse(token.as_deref().unwrap_or_default()).map(|_| ())),
        Some("time") => outcome(
            &Jws::parse(token.as_deref().unwrap_or_default())
                .and_then(|jws| jws.claims.check_time(now(case), skew)),
        ),
        _ => verify(case, token.as_deref(), skew),
    }
}

/// A full verification, as the filter runs it: one provider with the case's keys, issuer,
/// audiences and skew, and a rule that requires it.
fn verify(case: &Value, token: Option<&str>, skew: f64) -> String {
    if case.get("pem").is_some_and(|pem| !pem.is_null()) {
        return "unsupported: PEM key".into();
    }
    let mut provider = Map::new();
    match (&case["jwks"], case.get("jwks_text").and_then(Value::as_str)) {
        (Value::Null, Some(text)) => {
            provider.insert("local_jwks".into(), json!({ "inline_string": text }));
        }
        (jwks, _) => {
            provider.insert("jwks".into(), jwks.clone());
        }
    }
    if let Some(issuer) = string(case, "issuer") {
        provider.insert("issuer".into(), json!(issuer));
    }
    if let Some(audiences) = case.get("audiences").filter(|a| !a.is_null()) {
        provider.insert("audiences".into(), audiences.clone());
    }
    provider.insert("clock_skew_seconds".into(), json!(skew));
    let config = json!({
        "providers": {"p": provider},
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "p"}}]
    });
    let Ok(compiled) = Policy::from_json(config.to_string().as_bytes()) else {
        return "config refused".into();
    };
    let authorization = match case.get("authorization") {
        Some(Value::String(value)) => Some(value.clone()),
        Some(_) => None,
        None => token.map(|t| format!("Bearer {t}")),
    };
    let mut pairs = vec![(":path", "/"), (":method", "GET")];
    if let Some(value) = authorization.as_deref() {
        pairs.push(("authorization", value));
    }
    let h = headers(&pairs);
    match compiled.policy.check(&Request::new(&h), now(case), None) {
        Verdict::Allow(_) | Verdict::NotRequired(_) => "ok".into(),
        Verdict::Deny { reason, .. } => outcome(&Err(reason)),
        Verdict::Wait(_) => "wait".into(),
    }
}

fn jwks_case(case: &Value) -> (String, String) {
    let want = match case["expect"].as_str() {
        Some("ok") => match case.get("expect_keys").and_then(Value::as_u64) {
            Some(n) => format!("ok, {n} keys"),
            None => "ok".into(),
        },
        _ => "refused".into(),
    };
    let ours = match &case["json"] {
        Value::Null => "refused".into(),
        document => match KeySet::parse(document) {
            Ok(parsed) if parsed.keys.is_empty() => "refused".into(),
            Ok(parsed) if want.starts_with("ok, ") => format!("ok, {} keys", parsed.keys.len()),
            Ok(_) => "ok".into(),
            Err(_) => "refused".into(),
        },
    };
    (want, ours)
}

#[test]
fn every_vector_passes_or_is_a_documented_difference() {
    let Some(vectors) = vectors() else {
        return;
    };
    let mut differences = BTreeMap::new();
    let mut passed = 0;
    let mut count = 0;
    for case in vectors["cases"].as_array().expect("cases") {
        let id = string(case, "id").expect("an id");
        let (want, ours) = (
            expected(case["expect"].as_str().unwrap_or_default()),
            run_case(case),
        );
        count += 1;
        if want == ours {
            passed += 1;
        } else {
            differences.insert(id, ours);
        }
    }
    for case in vectors["jwks_cases"].as_array().expect("jwks cases") {
        let id = string(case, "id").expect("an id");
        let (want, ours) = jwks_case(case);
        count += 1;
        if want == ours {
            passed += 1;
        } else {
            differences.insert(id, ours);
        }
    }
    for case in vectors["audience_cases"]
        .as_array()
        .expect("audience cases")
    {
        let id = string(case, "id").expect("an id");
        let allowed: Vec<String> = case["allowed"]
            .as_array()
            .expect("allowed")
            .iter()
            .filter_map(Value::as_str)
            .map(|a| normalize_audience(a).to_string())
            .collect();
        let Value::Object(payload) = json!({ "aud": case["token_aud"] }) else {
            unreachable!()
        };
        let ours = allowed.is_empty() || audience_allowed(&Claims::new(payload), &allowed);
        count += 1;
        if ours == case["expect"].as_bool().expect("a boolean") {
            passed += 1;
        } else {
            differences.insert(id, format!("{ours}"));
        }
    }
    let documented = documented();
    let undocumented: Vec<_> = differences
        .iter()
        .filter(|(id, ours)| documented.get(*id) != Some(ours))
        .collect();
    let stale: Vec<_> = documented
        .keys()
        .filter(|id| !differences.contains_key(*id))
        .collect();
    eprintln!(
        "conformance: {count} vectors, {passed} pass, {} documented differences",
        differences.len()
    );
    assert!(
        undocumented.is_empty(),
        "differences not in CONFORMANCE.md (case -> ours): {undocumented:#?}"
    );
    assert!(
        stale.is_empty(),
        "CONFORMANCE.md lists cases that now pass: {stale:?}"
    );
}
