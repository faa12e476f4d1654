//! A strict JSON object reader for untrusted token segments and key sets.
//!
//! `serde_json` keeps the last of two members with the same name; a JWS whose header or claims
//! say two things at once must be refused instead (RFC 7515 §4, RFC 8725 §3.2 on parser
//! differentials). Nesting is bounded well below what any real token needs so a crafted
//! document cannot make the parser recurse deeply. The same reader builds JSON values from
//! other serde formats (the tool reads YAML configurations through it).

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// Deepest nesting of objects and arrays accepted, the top-level object counting as 1.
pub const MAX_DEPTH: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonError {
    /// Not JSON at all, or trailing bytes after the value.
    Invalid,
    /// Valid JSON, but not an object.
    NotObject,
    /// The same member name twice in one object.
    DuplicateMember(String),
    /// Objects or arrays nested deeper than [`MAX_DEPTH`].
    TooDeep,
}

/// Reads after the document's name: "the key set is not valid JSON".
impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonError::Invalid => f.write_str("is not valid JSON"),
            JsonError::NotObject => f.write_str("is not a JSON object"),
            JsonError::DuplicateMember(name) => write!(f, "has the member \"{name}\" twice"),
            JsonError::TooDeep => f.write_str("is nested too deeply"),
        }
    }
}

/// Parses `bytes` as one JSON object with unique member names at every level, nested at most
/// [`MAX_DEPTH`] deep.
pub fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, JsonError> {
    parse_object_within(bytes, MAX_DEPTH)
}

/// [`parse_object`] with another nesting limit, for documents deeper than tokens.
pub fn parse_object_within(
    bytes: &[u8],
    max_depth: usize,
) -> Result<Map<String, Value>, JsonError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = StrictValue::within(max_depth)
        .deserialize(&mut deserializer)
        .map_err(classify)?;
    deserializer.end().map_err(|_| JsonError::Invalid)?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(JsonError::NotObject),
    }
}

// serde carries our refusals as custom error messages, which other formats show as they
// are (`the key "requires" is given twice`); these bring the kind back for JSON.
const DUPLICATE: (&str, &str) = ("the key \"", "\" is given twice");
const TOO_DEEP: &str = "nested too deeply";

fn classify(error: serde_json::Error) -> JsonError {
    let message = error.to_string();
    let duplicate = message
        .strip_prefix(DUPLICATE.0)
        .and_then(|rest| rest.rsplit_once(DUPLICATE.1));
    if let Some((name, _)) = duplicate {
        JsonError::DuplicateMember(name.to_string())
    } else if message.starts_with(TOO_DEEP) {
        JsonError::TooDeep
    } else {
        JsonError::Invalid
    }
}

/// A seed that reads one value of any serde format as a JSON `Value`, refusing a name given
/// twice in one map, nesting deeper than its limit, and numbers JSON cannot hold.
#[derive(Clone, Copy)]
pub struct StrictValue {
    depth: usize,
    max_depth: usize,
}

impl StrictValue {
    /// Objects and arrays nested at most `max_depth` deep, the outermost counting as 1.
    pub fn within(max_depth: usize) -> StrictValue {
        StrictValue {
            depth: 0,
            max_depth,
        }
    }

    fn nested<E: de::Error>(self) -> Result<StrictValue, E> {
        if self.depth >= self.max_depth {
            return Err(E::custom(TOO_DEEP));
        }
        Ok(StrictValue {
            depth: self.depth + 1,
            ..self
        })
    }
}

impl<'de> DeserializeSeed<'de> for StrictValue {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        // serde_json never produces a non-finite number; YAML's .nan and .inf would otherwise
        // become null.
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom(format_args!("{v} is not a JSON number")))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let inner = self.nested()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(inner)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let inner = self.nested()?;
        let mut map = Map::new();
        while let Some(name) = access.next_key::<String>()? {
            if map.contains_key(&name) {
                return Err(de::Error::custom(format_args!(
                    "{}{name}{}",
                    DUPLICATE.0, DUPLICATE.1
                )));
            }
            let value = access.next_value_seed(inner)?;
            map.insert(name, value);
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_object() {
        let map = parse_object(br#"{"a":1,"b":[true,null,"x"],"c":{"d":1.5}}"#).unwrap();
        assert_eq!(map["a"], 1);
        assert_eq!(map["c"]["d"], 1.5);
    }

    #[test]
    fn refuses_duplicate_members_at_any_depth() {
        assert_eq!(
            parse_object(br#"{"alg":"RS256","alg":"none"}"#),
            Err(JsonError::DuplicateMember("alg".into()))
        );
        assert_eq!(
            parse_object(br#"{"a":{"b":1,"b":2}}"#),
            Err(JsonError::DuplicateMember("b".into()))
        );
        // A name that differs only by an escape is the same name.
        assert_eq!(
            parse_object(br#"{"alg":1,"\u0061lg":2}"#),
            Err(JsonError::DuplicateMember("alg".into()))
        );
    }

    #[test]
    fn refuses_what_is_not_one_object() {
        assert_eq!(parse_object(b"[1]"), Err(JsonError::NotObject));
        assert_eq!(parse_object(b"\"x\""), Err(JsonError::NotObject));
        assert_eq!(parse_object(b"{} {}"), Err(JsonError::Invalid));
        assert_eq!(parse_object(b"{\"a\":1,}"), Err(JsonError::Invalid));
        assert_eq!(parse_object(b""), Err(JsonError::Invalid));
        assert_eq!(parse_object(&[0xff, 0xfe]), Err(JsonError::Invalid));
    }

    #[test]
    fn bounds_nesting() {
        let ok = format!(
            "{}{}",
            "{\"a\":".repeat(MAX_DEPTH - 1) + "{",
            "}".repeat(MAX_DEPTH)
        );
        assert!(parse_object(ok.as_bytes()).is_ok());
        let deep = format!(
            "{}1{}",
            "{\"a\":".repeat(MAX_DEPTH + 1),
            "}".repeat(MAX_DEPTH + 1)
        );
        assert_eq!(parse_object(deep.as_bytes()), Err(JsonError::TooDeep));
        let arrays = format!("{{\"a\":{}{}}}", "[".repeat(1000), "]".repeat(1000));
        assert_eq!(parse_object(arrays.as_bytes()), Err(JsonError::TooDeep));
    }
}
