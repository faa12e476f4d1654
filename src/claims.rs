//! A verified token's claims, and the checks Envoy runs on them: time with clock skew, issuer,
//! audiences. Types of the registered claims were checked when the token was parsed.

use crate::reason::Reason;
use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct Claims {
    payload: Map<String, Value>,
}

impl Claims {
    pub(crate) fn new(payload: Map<String, Value>) -> Claims {
        Claims { payload }
    }

    pub fn payload(&self) -> &Map<String, Value> {
        &self.payload
    }

    pub fn issuer(&self) -> Option<&str> {
        self.payload.get("iss").and_then(Value::as_str)
    }

    pub fn subject(&self) -> Option<&str> {
        self.payload.get("sub").and_then(Value::as_str)
    }

    /// A numeric date claim (`exp`, `nbf`, `iat`), fractions kept.
    pub fn number(&self, name: &str) -> Option<f64> {
        self.payload.get(name).and_then(Value::as_f64)
    }

    /// The `aud` claim as a list: a single string counts as a list of one.
    pub fn audiences(&self) -> impl Iterator<Item = &str> {
        let values: &[Value] = match self.payload.get("aud") {
            Some(Value::Array(items)) => items,
            Some(single @ Value::String(_)) => std::slice::from_ref(single),
            _ => &[],
        };
        values.iter().filter_map(Value::as_str)
    }

    /// Finds a claim by name. A name that exists at the top level wins, so namespaced claims
    /// such as `https://example.com/roles` work; otherwise dots walk into nested objects
    /// (`realm_access.roles`), as in Envoy's `claim_to_headers`.
    pub fn lookup(&self, name: &str) -> Option<&Value> {
        if let Some(value) = self.payload.get(name) {
            return Some(value);
        }
        let mut parts = name.split('.');
        let mut value = self.payload.get(parts.next()?)?;
        for part in parts {
            value = value.as_object()?.get(part)?;
        }
        Some(value)
    }
}

impl Claims {
    /// `nbf` and `exp` against `now`, both with `skew` seconds of leeway (Envoy's rule:
    /// not yet valid if `now + skew < nbf`, expired if `now > exp + skew`).
    pub fn check_time(&self, now: f64, skew: f64) -> Result<(), Reason> {
        if self.number("nbf").is_some_and(|nbf| now + skew < nbf) {
            return Err(Reason::NotYetValid);
        }
        if self.number("exp").is_some_and(|exp| now > exp + skew) {
            return Err(Reason::Expired);
        }
        Ok(())
    }
}

/// Audiences compared the way `jwt_verify_lib` does: one leading `http://` or `https://` and one
/// trailing `/` do not count, so `https://api.example.com/` matches `api.example.com`.
pub fn normalize_audience(audience: &str) -> &str {
    let without_scheme = audience
        .strip_prefix("https://")
        .or_else(|| audience.strip_prefix("http://"))
        .unwrap_or(audience);
    without_scheme.strip_suffix('/').unwrap_or(without_scheme)
}

/// True when any of the token's audiences is allowed (`allowed` holds normalized values).
pub fn audience_allowed(claims: &Claims, allowed: &[String]) -> bool {
    claims
        .audiences()
        .any(|aud| allowed.iter().any(|ok| ok == normalize_audience(aud)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(value: Value) -> Claims {
        match value {
            Value::Object(map) => Claims::new(map),
            _ => unreachable!("test claims are objects"),
        }
    }

    #[test]
    fn looks_up_top_level_then_dotted_paths() {
        let c = claims(json!({
            "realm_access": {"roles": ["admin"]},
            "https://example.com/roles": ["ops"],
            "a.b": "flat",
            "a": {"b": "nested"}
        }));
        assert_eq!(c.lookup("realm_access.roles"), Some(&json!(["admin"])));
        assert_eq!(c.lookup("https://example.com/roles"), Some(&json!(["ops"])));
        assert_eq!(c.lookup("a.b"), Some(&json!("flat")));
        assert_eq!(c.lookup("realm_access.missing"), None);
        assert_eq!(c.lookup("realm_access.roles.x"), None);
        assert_eq!(c.lookup(""), None);
    }

    #[test]
    fn time_rule_is_jwt_verify_libs() {
        // The boundaries of jwt_verify_lib's time vectors (exp 1605052800, nbf 1605050800).
        let c = claims(json!({"exp": 1_605_052_800u64, "nbf": 1_605_050_800u64}));
        let (exp, nbf) = (1_605_052_800.0, 1_605_050_800.0);
        assert_eq!(c.check_time(exp + 50.0, 60.0), Ok(()));
        assert_eq!(c.check_time(exp + 70.0, 60.0), Err(Reason::Expired));
        assert_eq!(c.check_time(exp + 9.0, 10.0), Ok(()));
        assert_eq!(c.check_time(exp + 11.0, 10.0), Err(Reason::Expired));
        assert_eq!(c.check_time(nbf - 50.0, 60.0), Ok(()));
        assert_eq!(c.check_time(nbf - 70.0, 60.0), Err(Reason::NotYetValid));
        assert_eq!(c.check_time(nbf - 9.0, 10.0), Ok(()));
        assert_eq!(c.check_time(nbf - 11.0, 10.0), Err(Reason::NotYetValid));
        // Both bounds include the skew: exactly exp + 60 is still valid.
        assert_eq!(c.check_time(exp + 60.0, 60.0), Ok(()));
    }

    #[test]
    fn audiences_are_a_list_either_way() {
        assert_eq!(
            claims(json!({"aud": "a"})).audiences().collect::<Vec<_>>(),
            ["a"]
        );
        assert_eq!(
            claims(json!({"aud": ["a", "b"]}))
                .audiences()
                .collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(claims(json!({})).audiences().count(), 0);
    }

    #[test]
    fn audiences_match_like_jwt_verify_lib() {
        let allowed: Vec<String> = [
            "example_service",
            "http://example_service1",
            "https://svc2/",
        ]
        .iter()
        .map(|a| normalize_audience(a).to_string())
        .collect();
        for aud in [
            "example_service",
            "https://example_service/",
            "example_service1",
            "svc2",
        ] {
            assert!(
                audience_allowed(&claims(json!({ "aud": aud })), &allowed),
                "{aud}"
            );
        }
        for aud in ["other", "example_service//", "ftp://svc2"] {
            assert!(
                !audience_allowed(&claims(json!({ "aud": aud })), &allowed),
                "{aud}"
            );
        }
        assert!(audience_allowed(
            &claims(json!({"aud": ["x", "svc2"]})),
            &allowed
        ));
        assert!(!audience_allowed(&claims(json!({})), &allowed));
    }
}
