//! `--alg` for the commands that take one: the thirteen names the plugin verifies, listed in
//! `--help`, anything else refused by the parser.

use clap::builder::{PossibleValuesParser, TypedValueParser};
use jwt_policy::alg::Algorithm;

pub fn parser() -> impl TypedValueParser<Value = Algorithm> {
    PossibleValuesParser::new(Algorithm::ALL.map(Algorithm::name)).try_map(|name: String| {
        Algorithm::from_name(&name).ok_or(format!("unknown algorithm \"{name}\""))
    })
}

/// The algorithm a JWK names in its `alg`, if it names one.
pub fn of_jwk(
    jwk: &serde_json::Map<String, serde_json::Value>,
) -> Result<Option<Algorithm>, String> {
    jwk.get("alg")
        .and_then(serde_json::Value::as_str)
        .map(|name| Algorithm::from_name(name).ok_or(format!("unknown algorithm \"{name}\"")))
        .transpose()
}
