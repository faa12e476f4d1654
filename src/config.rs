//! The plugin configuration as written: the JSON form of Envoy's
//! `envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication` (snake_case names, as in
//! Envoy's YAML), plus our additive fields, marked "ours". These types only describe the
//! document; `policy` compiles them into what requests run against.
//!
//! Unknown members are refused, so a typo never silently weakens a policy. Envoy fields this
//! plugin cannot honour are recognised and refused with a reason, never ignored.

use crate::json::{self, JsonError};
use serde::de::{self, Deserializer, IgnoredAny};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// Why a configuration was refused, with the JSON path of the member at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: String,
    pub message: String,
}

impl ConfigError {
    pub fn at(path: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

/// Deepest nesting accepted in a configuration: requirement trees nest, tokens do not.
const MAX_DEPTH: usize = 64;
/// Largest configuration accepted. A hundred RSA keys take about 40 KiB; the bound keeps a
/// runaway push from growing every VM's memory, which never shrinks.
pub const MAX_BYTES: usize = 1024 * 1024;

/// Reads the configuration document, naming the path of the first member that does not fit.
/// A name given twice in one object (two providers called `p`) is refused, not overwritten.
pub fn parse(document: &[u8]) -> Result<JwtAuthentication, ConfigError> {
    if document.iter().all(u8::is_ascii_whitespace) {
        return Err(ConfigError::at("", "the configuration is empty"));
    }
    if document.len() > MAX_BYTES {
        return Err(ConfigError::at(
            "",
            format!(
                "the configuration is {} bytes, more than the {MAX_BYTES} accepted",
                document.len()
            ),
        ));
    }
    let object = json::parse_object_within(document, MAX_DEPTH).map_err(|error| match error {
        JsonError::Invalid => match serde_json::from_slice::<Value>(document) {
            Err(syntax) => ConfigError::at("", format!("not valid JSON: {syntax}")),
            Ok(_) => ConfigError::at("", "not valid JSON"),
        },
        other => ConfigError::at("", format!("the configuration {other}")),
    })?;
    if let Some(error) = first_null(&object, "") {
        return Err(error);
    }
    serde_path_to_error::deserialize(Value::Object(object)).map_err(|error| {
        let path = error.path().to_string();
        let path = if path == "." { String::new() } else { path };
        ConfigError::at(path, error.into_inner().to_string())
    })
}

/// The first `null` in the document, in the path notation of the deserializer's errors.
/// serde reads `null` as an absent `Option`, so `requires:` left empty in YAML would make a
/// rule require nothing; no member of this configuration means anything by `null`.
fn first_null(object: &serde_json::Map<String, Value>, path: &str) -> Option<ConfigError> {
    object.iter().find_map(|(name, value)| {
        let path = if path.is_empty() {
            name.clone()
        } else {
            format!("{path}.{name}")
        };
        null_within(value, path, "member")
    })
}

fn null_within(value: &Value, path: String, what: &str) -> Option<ConfigError> {
    match value {
        Value::Null => Some(ConfigError::at(
            path,
            format!("null is not a value here: remove the {what} or give one"),
        )),
        Value::Object(object) => first_null(object, &path),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| null_within(item, format!("{path}[{i}]"), "item")),
        Value::Bool(_) | Value::Number(_) | Value::String(_) => None,
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtAuthentication {
    #[serde(default)]
    pub providers: BTreeMap<String, JwtProvider>,
    #[serde(default)]
    pub rules: Vec<RequirementRule>,
    #[serde(default)]
    pub requirement_map: BTreeMap<String, JwtRequirement>,
    #[serde(default)]
    pub bypass_cors_preflight: bool,
    #[serde(default)]
    pub strip_failure_response: bool,
    /// Ours: let Envoy's `verify_signature` check RSA PKCS#1 and ECDSA signatures when it
    /// can (default); `false` checks every signature inside the VM.
    #[serde(default = "yes")]
    pub use_host_signatures: bool,
    /// Ours: a number the operator bumps with each push, exported as the gauge
    /// `jwt_policy.generation` so a rollout can be watched.
    #[serde(default, deserialize_with = "optional_whole_number")]
    pub generation: Option<u32>,
    pub filter_state_rules: Option<IgnoredAny>,
    pub stat_prefix: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtProvider {
    #[serde(default)]
    pub issuer: String,
    #[serde(default)]
    pub audiences: Vec<String>,
    pub subjects: Option<StringMatcher>,
    #[serde(default)]
    pub require_expiration: bool,
    #[serde(default, deserialize_with = "duration")]
    pub max_lifetime: Option<Duration>,
    pub local_jwks: Option<DataSource>,
    /// Ours: the key set as a JSON object, so an operator can write it as plain YAML.
    pub jwks: Option<Value>,
    pub remote_jwks: Option<RemoteJwks>,
    #[serde(default)]
    pub forward: bool,
    #[serde(default)]
    pub from_headers: Vec<JwtHeader>,
    #[serde(default)]
    pub from_params: Vec<String>,
    #[serde(default)]
    pub from_cookies: Vec<String>,
    #[serde(default)]
    pub forward_payload_header: String,
    #[serde(default)]
    pub pad_forward_payload_header: bool,
    #[serde(default)]
    pub claim_to_headers: Vec<ClaimToHeader>,
    #[serde(default, deserialize_with = "whole_number")]
    pub clock_skew_seconds: u32,
    #[serde(default)]
    pub clear_route_cache: bool,
    pub payload_in_metadata: Option<IgnoredAny>,
    pub header_in_metadata: Option<IgnoredAny>,
    pub failed_status_in_metadata: Option<IgnoredAny>,
    pub normalize_payload_in_metadata: Option<IgnoredAny>,
    /// On by default here (Envoy: off unless present); `jwt_cache_size: 0` turns it off.
    pub jwt_cache_config: Option<JwtCacheConfig>,
}

/// `JwtCacheConfig`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtCacheConfig {
    /// Tokens kept per provider and VM; absent means 100, 0 turns the cache off.
    #[serde(default, deserialize_with = "optional_whole_number")]
    pub jwt_cache_size: Option<u32>,
    /// Longer tokens are not cached; absent or 0 means 4096 bytes.
    #[serde(default, deserialize_with = "optional_whole_number")]
    pub jwt_max_token_size: Option<u32>,
}

/// `RemoteJwks`: keys fetched from the issuer through an Envoy cluster.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteJwks {
    pub http_uri: HttpUri,
    /// How long a fetched key set is used before it is fetched again (default 600 s).
    #[serde(default, deserialize_with = "duration")]
    pub cache_duration: Option<Duration>,
    /// Envoy's settings for fetching ahead of requests; this plugin always fetches in the
    /// background, so only `failed_refetch_duration` (default 1 s) has an effect.
    pub async_fetch: Option<AsyncFetch>,
    pub retry_policy: Option<IgnoredAny>,
    /// Ours: least time between two fetches caused by tokens whose `kid` the key set lacks
    /// (default 10 s).
    #[serde(default, deserialize_with = "duration")]
    pub unknown_kid_refetch_interval: Option<Duration>,
}

/// `config.core.v3.HttpUri`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpUri {
    pub uri: String,
    pub cluster: String,
    #[serde(default, deserialize_with = "duration")]
    pub timeout: Option<Duration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AsyncFetch {
    #[serde(default)]
    pub fast_listener: bool,
    #[serde(default, deserialize_with = "duration")]
    pub failed_refetch_duration: Option<Duration>,
}

/// `config.core.v3.DataSource`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSource {
    pub inline_string: Option<String>,
    /// Standard base64, as protobuf JSON writes `bytes`.
    pub inline_bytes: Option<String>,
    pub filename: Option<IgnoredAny>,
    pub environment_variable: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtHeader {
    pub name: String,
    #[serde(default)]
    pub value_prefix: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimToHeader {
    pub header_name: String,
    pub claim_name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequirementRule {
    #[serde(rename = "match")]
    pub route: RouteMatch,
    pub requires: Option<JwtRequirement>,
    pub requirement_name: Option<String>,
    /// Ours: conditions on the verified token's claims; a failed one answers 403.
    #[serde(default)]
    pub claims: Vec<ClaimCondition>,
}

/// `JwtRequirement`: exactly one member set; an empty object requires nothing.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtRequirement {
    pub provider_name: Option<String>,
    pub provider_and_audiences: Option<ProviderWithAudiences>,
    pub requires_any: Option<RequirementList>,
    pub requires_all: Option<RequirementList>,
    pub allow_missing_or_failed: Option<Empty>,
    pub allow_missing: Option<Empty>,
    pub extract_only_without_validation: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderWithAudiences {
    pub provider_name: String,
    #[serde(default)]
    pub audiences: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequirementList {
    pub requirements: Vec<JwtRequirement>,
}

/// `google.protobuf.Empty`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

/// `config.route.v3.RouteMatch`, the parts that apply to a request's headers.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteMatch {
    pub prefix: Option<String>,
    pub path: Option<String>,
    pub safe_regex: Option<RegexMatcher>,
    pub path_separated_prefix: Option<String>,
    pub case_sensitive: Option<bool>,
    #[serde(default)]
    pub headers: Vec<HeaderMatcher>,
    #[serde(default)]
    pub query_parameters: Vec<QueryParameterMatcher>,
    pub connect_matcher: Option<IgnoredAny>,
    pub path_match_policy: Option<IgnoredAny>,
    pub runtime_fraction: Option<IgnoredAny>,
    pub grpc: Option<IgnoredAny>,
    pub tls_context: Option<IgnoredAny>,
    pub dynamic_metadata: Option<IgnoredAny>,
    pub filter_state: Option<IgnoredAny>,
}

/// `type.matcher.v3.RegexMatcher`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegexMatcher {
    pub regex: String,
    /// Deprecated in Envoy and without effect: RE2 is the only engine.
    pub google_re2: Option<IgnoredAny>,
}

/// `config.route.v3.HeaderMatcher`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderMatcher {
    pub name: String,
    pub exact_match: Option<String>,
    pub prefix_match: Option<String>,
    pub suffix_match: Option<String>,
    pub contains_match: Option<String>,
    pub safe_regex_match: Option<RegexMatcher>,
    pub present_match: Option<bool>,
    pub string_match: Option<StringMatcher>,
    pub range_match: Option<IgnoredAny>,
    #[serde(default)]
    pub invert_match: bool,
    #[serde(default)]
    pub treat_missing_header_as_empty: bool,
}

/// `config.route.v3.QueryParameterMatcher`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryParameterMatcher {
    pub name: String,
    pub string_match: Option<StringMatcher>,
    pub present_match: Option<bool>,
}

/// `type.matcher.v3.StringMatcher`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StringMatcher {
    pub exact: Option<String>,
    pub prefix: Option<String>,
    pub suffix: Option<String>,
    pub contains: Option<String>,
    pub safe_regex: Option<RegexMatcher>,
    #[serde(default)]
    pub ignore_case: bool,
    pub custom: Option<IgnoredAny>,
}

/// Ours: one condition on a claim, found by name or dotted path. A space-separated string
/// claim such as `scope` counts as a list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimCondition {
    pub name: String,
    /// The claim equals this JSON value.
    pub equals: Option<Value>,
    /// The claim, as a list, contains this string.
    pub contains: Option<String>,
    /// The claim, as a list, contains at least one of these.
    pub contains_any: Option<Vec<String>>,
    /// The claim, as a list, contains every one of these.
    pub contains_all: Option<Vec<String>>,
    /// The claim is one of these strings, or an array holding one of them; a string is
    /// never split (Istio's comparison of a claim that is not space-delimited).
    pub equals_any: Option<Vec<String>>,
    /// The claim is present (`true`) or absent (`false`).
    pub present: Option<bool>,
}

fn yes() -> bool {
    true
}

/// A `uint32`, also as a float with no fraction: Istio hands `pluginConfig` over as a
/// `google.protobuf.Struct`, whose numbers are all doubles.
fn whole_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    let number = f64::deserialize(deserializer)?;
    if number.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&number) {
        Ok(number as u32)
    } else {
        Err(de::Error::custom(format!(
            "{number} is not a whole number from 0 to {}",
            u32::MAX
        )))
    }
}

fn optional_whole_number<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<u32>, D::Error> {
    whole_number(deserializer).map(Some)
}

/// A `google.protobuf.Duration` in its JSON form: decimal seconds with an `s` suffix ("300s",
/// "1.5s").
fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_duration(&text)
        .map(Some)
        .ok_or_else(|| de::Error::custom(format!("\"{text}\" is not a duration like \"300s\"")))
}

pub fn parse_duration(text: &str) -> Option<Duration> {
    let number = text.strip_suffix('s')?;
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || fraction.len() > 9
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let seconds: u64 = whole.parse().ok()?;
    let nanos: u32 = if fraction.is_empty() {
        0
    } else {
        format!("{fraction:0<9}").parse().ok()?
    };
    Some(Duration::new(seconds, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_envoy_json() {
        let config = parse(
            br#"{
              "providers": {"p": {"issuer": "https://idp", "local_jwks": {"inline_string": "{}"},
                                  "from_headers": [{"name": "x-jwt"}], "max_lifetime": "3600s"}},
              "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "p"}}]
            }"#,
        )
        .unwrap();
        let provider = &config.providers["p"];
        assert_eq!(provider.issuer, "https://idp");
        assert_eq!(provider.from_headers[0].name, "x-jwt");
        assert_eq!(provider.max_lifetime, Some(Duration::from_secs(3600)));
        assert_eq!(config.rules[0].route.prefix.as_deref(), Some("/"));
    }

    #[test]
    fn names_the_path_of_an_unknown_or_mistyped_member() {
        let error = parse(br#"{"providers": {"p": {"isuer": "x"}}}"#).unwrap_err();
        assert_eq!(error.path, "providers.p.isuer");
        assert!(error.message.contains("unknown field `isuer`"), "{error}");

        let error = parse(br#"{"rules": [{"match": {"prefix": 1}}]}"#).unwrap_err();
        assert_eq!(error.path, "rules[0].match.prefix");

        let error = parse(br#"{"providers": {"p": {"max_lifetime": "1h"}}}"#).unwrap_err();
        assert_eq!(error.path, "providers.p.max_lifetime");
        assert!(error.message.contains("not a duration"), "{error}");
    }

    #[test]
    fn refuses_what_is_not_one_document() {
        assert_eq!(
            parse(b"  ").unwrap_err().message,
            "the configuration is empty"
        );
        let truncated = parse(br#"{"providers": "#).unwrap_err();
        assert!(
            truncated.message.starts_with("not valid JSON: EOF"),
            "{truncated}"
        );
        assert!(parse(b"{} {}").is_err());
        assert!(parse(b"[]").is_err());
        assert!(parse(b"{").is_err());
    }

    #[test]
    fn refuses_an_oversized_document() {
        let padding = " ".repeat(MAX_BYTES);
        let error = parse(format!("{{{padding}}}").as_bytes()).unwrap_err();
        assert!(
            error.message.contains("more than the 1048576 accepted"),
            "{error}"
        );
    }

    #[test]
    fn refuses_a_name_given_twice() {
        let error = parse(br#"{"providers": {"p": {}, "p": {"issuer": "x"}}}"#).unwrap_err();
        assert_eq!(
            error.message,
            "the configuration has the member \"p\" twice"
        );
    }

    #[test]
    fn refuses_null_anywhere() {
        let error = parse(br#"{"providers": {"p": {"subjects": null}}}"#).unwrap_err();
        assert_eq!(
            error.to_string(),
            "providers.p.subjects: null is not a value here: remove the member or give one"
        );
        let error =
            parse(br#"{"rules": [{"match": {"prefix": "/"}, "requires": null}]}"#).unwrap_err();
        assert_eq!(error.path, "rules[0].requires");
        let error = parse(br#"{"stat_prefix": null}"#).unwrap_err();
        assert_eq!(error.path, "stat_prefix");
        let error = parse(br#"{"providers": {"p": {"audiences": ["a", null]}}}"#).unwrap_err();
        assert_eq!(
            error.to_string(),
            "providers.p.audiences[1]: null is not a value here: remove the item or give one"
        );
    }

    #[test]
    fn whole_numbers_may_come_as_floats() {
        let config = parse(br#"{"providers": {"p": {"clock_skew_seconds": 30.0}}}"#).unwrap();
        assert_eq!(config.providers["p"].clock_skew_seconds, 30);
        let error = parse(br#"{"providers": {"p": {"clock_skew_seconds": 1.5}}}"#).unwrap_err();
        assert_eq!(error.path, "providers.p.clock_skew_seconds");
        assert!(parse(br#"{"providers": {"p": {"clock_skew_seconds": -1}}}"#).is_err());
    }

    #[test]
    fn durations_are_protobuf_json() {
        assert_eq!(parse_duration("300s"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(
            parse_duration("0.000000001s"),
            Some(Duration::from_nanos(1))
        );
        for bad in [
            "300",
            "-1s",
            "1.s5",
            "s",
            "1.0000000001s",
            " 1s",
            "1e3s",
            "1ms",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
