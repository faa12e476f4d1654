//! Ours: conditions a rule puts on the verified token's claims (`rules[].claims`), beyond what
//! Envoy's `jwt_authn` can express. A condition that fails answers 403 `insufficient_scope`.

use crate::claims::Claims;
use crate::config::{self, ConfigError};
use crate::reason::Reason;
use serde_json::Value;

#[derive(Debug, Clone)]
enum Test {
    Equals(Value),
    Contains(String),
    ContainsAny(Vec<String>),
    ContainsAll(Vec<String>),
    EqualsAny(Vec<String>),
    Present(bool),
}

#[derive(Debug, Clone)]
pub struct ClaimCondition {
    claim: String,
    test: Test,
}

impl ClaimCondition {
    pub fn compile(
        config: &config::ClaimCondition,
        path: &str,
    ) -> Result<ClaimCondition, ConfigError> {
        if config.name.is_empty() {
            return Err(ConfigError::at(format!("{path}.name"), "may not be empty"));
        }
        let mut tests = Vec::new();
        if let Some(value) = &config.equals {
            tests.push(Test::Equals(value.clone()));
        }
        if let Some(value) = &config.contains {
            tests.push(Test::Contains(value.clone()));
        }
        let non_empty = |values: &Vec<String>, member: &str| {
            if values.is_empty() {
                return Err(ConfigError::at(
                    format!("{path}.{member}"),
                    "may not be empty",
                ));
            }
            Ok(values.clone())
        };
        if let Some(values) = &config.contains_any {
            tests.push(Test::ContainsAny(non_empty(values, "contains_any")?));
        }
        if let Some(values) = &config.contains_all {
            tests.push(Test::ContainsAll(non_empty(values, "contains_all")?));
        }
        if let Some(values) = &config.equals_any {
            tests.push(Test::EqualsAny(non_empty(values, "equals_any")?));
        }
        if let Some(present) = config.present {
            tests.push(Test::Present(present));
        }
        match (tests.pop(), tests.is_empty()) {
            (Some(test), true) => Ok(ClaimCondition {
                claim: config.name.clone(),
                test,
            }),
            _ => Err(ConfigError::at(
                path,
                "set exactly one of equals, contains, contains_any, contains_all, equals_any, present",
            )),
        }
    }

    /// The condition as written: `scope contains "orders.write"`.
    pub fn describe(&self) -> String {
        let claim = &self.claim;
        let list = |items: &[String]| format!("{items:?}");
        match &self.test {
            Test::Equals(value) => format!("{claim} equals {value}"),
            Test::Contains(item) => format!("{claim} contains {item:?}"),
            Test::ContainsAny(items) => format!("{claim} contains_any {}", list(items)),
            Test::ContainsAll(items) => format!("{claim} contains_all {}", list(items)),
            Test::EqualsAny(items) => format!("{claim} equals_any {}", list(items)),
            Test::Present(present) => format!("{claim} present {present}"),
        }
    }

    pub fn check(&self, claims: &Claims) -> Result<(), Reason> {
        let value = claims.lookup(&self.claim);
        let met = match &self.test {
            Test::Present(present) => value.is_some() == *present,
            Test::Equals(expected) => value.is_some_and(|v| same_json(v, expected)),
            Test::Contains(item) => value.is_some_and(|v| has(v, item)),
            Test::ContainsAny(items) => {
                value.is_some_and(|v| items.iter().any(|item| has(v, item)))
            }
            Test::ContainsAll(items) => {
                value.is_some_and(|v| items.iter().all(|item| has(v, item)))
            }
            Test::EqualsAny(items) => {
                value.is_some_and(|v| items.iter().any(|item| is_or_holds(v, item)))
            }
        };
        if met {
            Ok(())
        } else {
            Err(Reason::ClaimsNotSatisfied(self.claim.clone()))
        }
    }
}

/// JSON equality by value: `3` and `3.0` are the same number.
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
                (Some(x), Some(y), ..) => x == y,
                (.., Some(x), Some(y)) => x == y,
                _ => x.as_f64() == y.as_f64(),
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_json(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}

/// True when the claim, read as a list, holds `item`: an array of strings, or a string of
/// space-separated words such as OAuth's `scope` (RFC 8693 §4.2).
fn has(value: &Value, item: &str) -> bool {
    match value {
        Value::Array(items) => items.iter().any(|v| v.as_str() == Some(item)),
        Value::String(words) => words.split(' ').any(|word| word == item),
        _ => false,
    }
}

/// True when the claim is the string `item`, or an array holding it; unlike `has`, a
/// string is compared whole.
fn is_or_holds(value: &Value, item: &str) -> bool {
    match value {
        Value::Array(items) => items.iter().any(|v| v.as_str() == Some(item)),
        Value::String(text) => text == item,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn condition(json: Value) -> ClaimCondition {
        let config: config::ClaimCondition = serde_json::from_value(json).unwrap();
        ClaimCondition::compile(&config, "rules[0].claims[0]").unwrap()
    }

    fn claims(value: Value) -> Claims {
        match value {
            Value::Object(map) => Claims::new(map),
            _ => unreachable!("test claims are objects"),
        }
    }

    #[test]
    fn scope_strings_count_as_lists() {
        let c = condition(json!({"name": "scope", "contains": "orders.write"}));
        assert!(c
            .check(&claims(json!({"scope": "orders.read orders.write"})))
            .is_ok());
        assert!(c.check(&claims(json!({"scope": ["orders.write"]}))).is_ok());
        assert_eq!(
            c.check(&claims(json!({"scope": "orders.writer"}))),
            Err(Reason::ClaimsNotSatisfied("scope".into()))
        );
        assert!(c.check(&claims(json!({}))).is_err());
    }

    #[test]
    fn equals_any_all_and_present() {
        let tenant = condition(json!({"name": "tenant", "equals": "acme"}));
        assert!(tenant.check(&claims(json!({"tenant": "acme"}))).is_ok());
        assert!(tenant.check(&claims(json!({"tenant": "acme2"}))).is_err());
        assert!(tenant.check(&claims(json!({"tenant": ["acme"]}))).is_err());

        let roles =
            condition(json!({"name": "realm_access.roles", "contains_any": ["admin", "ops"]}));
        assert!(roles
            .check(&claims(json!({"realm_access": {"roles": ["dev", "ops"]}})))
            .is_ok());
        assert!(roles
            .check(&claims(json!({"realm_access": {"roles": ["dev"]}})))
            .is_err());

        let all = condition(json!({"name": "groups", "contains_all": ["a", "b"]}));
        assert!(all
            .check(&claims(json!({"groups": ["b", "c", "a"]})))
            .is_ok());
        assert!(all.check(&claims(json!({"groups": ["b"]}))).is_err());

        let absent = condition(json!({"name": "act", "present": false}));
        assert!(absent.check(&claims(json!({}))).is_ok());
        assert!(absent.check(&claims(json!({"act": {"sub": "x"}}))).is_err());

        let number = condition(json!({"name": "level", "equals": 3}));
        assert!(number.check(&claims(json!({"level": 3}))).is_ok());
        assert!(number.check(&claims(json!({"level": 3.0}))).is_ok());
        assert!(number.check(&claims(json!({"level": 3.5}))).is_err());
        assert!(number.check(&claims(json!({"level": "3"}))).is_err());
        let nested = condition(json!({"name": "org", "equals": {"id": 1, "tags": [2]}}));
        assert!(nested
            .check(&claims(json!({"org": {"tags": [2.0], "id": 1.0}})))
            .is_ok());
    }

    #[test]
    fn equals_any_compares_a_string_whole() {
        let sub = condition(json!({"name": "sub", "equals_any": ["alice", "bob"]}));
        assert!(sub.check(&claims(json!({"sub": "alice"}))).is_ok());
        assert!(sub.check(&claims(json!({"sub": ["carol", "bob"]}))).is_ok());
        assert!(sub.check(&claims(json!({"sub": "mallory alice"}))).is_err());
        assert!(sub.check(&claims(json!({"sub": "alic"}))).is_err());
        assert!(sub.check(&claims(json!({}))).is_err());
    }

    #[test]
    fn one_test_per_condition() {
        for bad in [
            json!({"name": "a"}),
            json!({"name": "a", "equals": 1, "contains": "x"}),
            json!({"name": "", "equals": 1}),
            json!({"name": "a", "contains_any": []}),
            json!({"name": "a", "equals_any": []}),
        ] {
            let config: config::ClaimCondition = serde_json::from_value(bad).unwrap();
            assert!(ClaimCondition::compile(&config, "c").is_err());
        }
    }
}
