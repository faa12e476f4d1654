//! One provider (`providers.<name>`), compiled: who issues its tokens, for whom, with which
//! keys, where its tokens are found and what is forwarded once one verifies. `authenticate`
//! runs Envoy's checks in Envoy's order: issuer, time, audiences, subject, lifetime, key and
//! signature.

use crate::b64;
use crate::claims::{audience_allowed, normalize_audience};
use crate::config::{self, ConfigError};
use crate::extract::{header_name, Location};
use crate::json;
use crate::jwks::KeySet;
use crate::jws::Jws;
use crate::jwt_cache::JwtCache;
use crate::key::SignatureHost;
use crate::matcher::StringMatcher;
use crate::reason::Reason;
use crate::remote::RemoteJwks;
use serde_json::Value;
use std::rc::Rc;

/// Envoy's default, used when `clock_skew_seconds` is 0 or absent.
pub const DEFAULT_CLOCK_SKEW_SECONDS: u32 = 60;

#[derive(Debug)]
pub struct Provider {
    pub name: String,
    /// `None`: any issuer, or none.
    pub issuer: Option<String>,
    /// Normalized as `jwt_verify_lib` compares them; empty means not checked.
    audiences: Vec<String>,
    subjects: Option<StringMatcher>,
    require_expiration: bool,
    max_lifetime_seconds: Option<f64>,
    clock_skew_seconds: f64,
    pub keys: Keys,
    pub locations: Vec<Location>,
    /// Keep the token in the request after it verified.
    pub forward: bool,
    forward_payload_header: Option<String>,
    pad_forward_payload_header: bool,
    claim_to_headers: Vec<(String, String)>,
    pub clear_route_cache: bool,
    pub cache: JwtCache,
}

/// Where a provider's keys come from.
#[derive(Debug)]
pub enum Keys {
    /// Given in the configuration (`local_jwks`, or our `jwks`).
    Local(KeySet),
    /// Fetched from the issuer (`remote_jwks`).
    Remote(Box<RemoteJwks>),
}

/// A compiled provider, with a line for each key its key set skipped.
pub struct CompiledProvider {
    pub provider: Provider,
    pub skipped_keys: Vec<String>,
}

impl Provider {
    pub fn compile(
        name: &str,
        config: &config::JwtProvider,
    ) -> Result<CompiledProvider, ConfigError> {
        let path = format!("providers.{name}");
        if name.is_empty() {
            return Err(ConfigError::at(
                "providers",
                "a provider name may not be empty",
            ));
        }
        refuse_unsupported(config, &path)?;
        let (keys, skipped_keys) = match &config.remote_jwks {
            Some(remote) => {
                if config.local_jwks.is_some() || config.jwks.is_some() {
                    return Err(ConfigError::at(
                        &path,
                        "set only one of local_jwks, jwks and remote_jwks",
                    ));
                }
                (
                    Keys::Remote(Box::new(RemoteJwks::compile(
                        remote,
                        &format!("{path}.remote_jwks"),
                    )?)),
                    Vec::new(),
                )
            }
            None => {
                let (keys, skipped) = key_set(config, &path)?;
                (Keys::Local(keys), skipped)
            }
        };
        let subjects = config
            .subjects
            .as_ref()
            .map(|subjects| StringMatcher::compile(subjects, &format!("{path}.subjects")))
            .transpose()?;
        let forward_payload_header =
            match config.forward_payload_header.as_str() {
                "" => None,
                header => Some(header_name(header).map_err(|why| {
                    ConfigError::at(format!("{path}.forward_payload_header"), why)
                })?),
            };
        let claim_to_headers = config
            .claim_to_headers
            .iter()
            .enumerate()
            .map(|(i, entry)| {
                let at = format!("{path}.claim_to_headers[{i}]");
                let header = header_name(&entry.header_name)
                    .map_err(|why| ConfigError::at(format!("{at}.header_name"), why))?;
                if entry.claim_name.is_empty() {
                    return Err(ConfigError::at(
                        format!("{at}.claim_name"),
                        "may not be empty",
                    ));
                }
                Ok((header, entry.claim_name.clone()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let skew = match config.clock_skew_seconds {
            0 => DEFAULT_CLOCK_SKEW_SECONDS,
            skew => skew,
        };
        let provider = Provider {
            name: name.to_string(),
            issuer: Some(config.issuer.clone()).filter(|issuer| !issuer.is_empty()),
            audiences: normalized(&config.audiences),
            subjects,
            require_expiration: config.require_expiration,
            max_lifetime_seconds: config.max_lifetime.map(|d| d.as_secs_f64()),
            clock_skew_seconds: f64::from(skew),
            keys,
            locations: Location::from_config(config, &path)?,
            forward: config.forward,
            forward_payload_header,
            pad_forward_payload_header: config.pad_forward_payload_header,
            claim_to_headers,
            clear_route_cache: config.clear_route_cache,
            cache: JwtCache::new(config.jwt_cache_config.as_ref()),
        };
        Ok(CompiledProvider {
            provider,
            skipped_keys,
        })
    }

    /// Headers this provider writes, which a client must never be able to set.
    pub fn output_headers(&self) -> impl Iterator<Item = &str> {
        self.forward_payload_header.as_deref().into_iter().chain(
            self.claim_to_headers
                .iter()
                .map(|(header, _)| header.as_str()),
        )
    }

    /// Checks a token: from the cache when this provider verified it before, else `parse`d
    /// and verified in full, then cached. `audiences` replaces the provider's own when a
    /// requirement names them (`provider_and_audiences`); `now` is Unix time in seconds.
    pub fn authenticate(
        &self,
        token: &str,
        parse: impl FnOnce() -> Result<Rc<Jws>, Reason>,
        audiences: Option<&[String]>,
        now: f64,
        host: Option<&dyn SignatureHost>,
    ) -> Result<Rc<Jws>, Reason> {
        if let Some(jws) = self.cache.get(token) {
            self.check_claims(&jws, audiences, now)?;
            return Ok(jws);
        }
        let jws = parse()?;
        self.check_claims(&jws, audiences, now)?;
        self.with_keys(|keys| keys.ok_or(Reason::JwksFetchFailed)?.verify(&jws, host))?;
        self.cache.insert(&jws);
        Ok(jws)
    }

    /// How many keys the provider holds now.
    pub fn key_count(&self) -> usize {
        match &self.keys {
            Keys::Local(keys) => keys.len(),
            Keys::Remote(remote) => remote.keys().map_or(0, |keys| keys.len()),
        }
    }

    pub fn remote(&self) -> Option<&RemoteJwks> {
        match &self.keys {
            Keys::Remote(remote) => Some(remote),
            Keys::Local(_) => None,
        }
    }

    /// For a provider with remote keys that failed with `reason`: whether a fetch is coming
    /// that may change the answer, so the request can wait for it.
    pub fn fetch_may_help(&self, reason: &Reason, now: f64) -> bool {
        match (self.remote(), reason) {
            (Some(remote), Reason::JwksFetchFailed) => remote.first_fetch_pending(),
            (Some(remote), Reason::NoMatchingKey) => remote.want_early_fetch(now),
            _ => false,
        }
    }

    /// Leeway on `exp` and `nbf`, in seconds.
    pub fn clock_skew_seconds(&self) -> f64 {
        self.clock_skew_seconds
    }

    /// Every check but the signature, in Envoy's order: the first failure is the answer.
    /// These run on every request, cached or not.
    fn check_claims(
        &self,
        jws: &Jws,
        audiences: Option<&[String]>,
        now: f64,
    ) -> Result<(), Reason> {
        self.claim_checks(jws, audiences, now)
            .into_iter()
            .try_for_each(|(_, result)| result)
    }

    /// Each check but the signature, by name, in Envoy's order: issuer, time, audiences,
    /// subject, lifetime. A check with nothing configured to check passes.
    pub fn claim_checks(
        &self,
        jws: &Jws,
        audiences: Option<&[String]>,
        now: f64,
    ) -> [(&'static str, Result<(), Reason>); 5] {
        let claims = &jws.claims;
        let issuer = match &self.issuer {
            Some(issuer) if claims.issuer() != Some(issuer.as_str()) => Err(Reason::UnknownIssuer),
            _ => Ok(()),
        };
        let audiences = audiences.unwrap_or(&self.audiences);
        let audience = if !audiences.is_empty() && !audience_allowed(claims, audiences) {
            Err(Reason::AudienceNotAllowed)
        } else {
            Ok(())
        };
        let subject = match &self.subjects {
            Some(subjects) if !subjects.matches(claims.subject().unwrap_or_default()) => {
                Err(Reason::SubjectNotAllowed)
            }
            _ => Ok(()),
        };
        let lifetime = if self.require_expiration || self.max_lifetime_seconds.is_some() {
            match claims.number("exp") {
                None => Err(Reason::ExpirationRequired),
                Some(exp) if self.max_lifetime_seconds.is_some_and(|max| exp - now > max) => {
                    Err(Reason::LifetimeTooLong)
                }
                Some(_) => Ok(()),
            }
        } else {
            Ok(())
        };
        [
            ("issuer", issuer),
            ("time", claims.check_time(now, self.clock_skew_seconds)),
            ("audiences", audience),
            ("subject", subject),
            ("lifetime", lifetime),
        ]
    }

    /// Runs `f` on the key set tokens are verified with now: `None` for a remote one not
    /// fetched yet.
    pub fn with_keys<R>(&self, f: impl FnOnce(Option<&KeySet>) -> R) -> R {
        match &self.keys {
            Keys::Local(keys) => f(Some(keys)),
            Keys::Remote(remote) => f(remote.keys().as_deref()),
        }
    }

    /// The headers to add for a verified token: its payload, and each claim that has a value
    /// a header can carry.
    pub fn forwarded_headers(&self, jws: &Jws, out: &mut Vec<(String, String)>) {
        if let Some(header) = &self.forward_payload_header {
            let payload = if self.pad_forward_payload_header {
                b64::pad(jws.payload_segment())
            } else {
                jws.payload_segment().to_string()
            };
            out.push((header.clone(), payload));
        }
        for (header, claim) in &self.claim_to_headers {
            if let Some(value) = jws.claims.lookup(claim).and_then(header_value) {
                out.push((header.clone(), value));
            } else {
                log::debug!(
                    "provider {}: claim {claim} has no value to forward in {header}",
                    self.name
                );
            }
        }
    }
}

/// A claim as a header value, as Envoy writes it: strings as they are, booleans and numbers
/// in decimal, objects and arrays as base64 of their JSON. Nothing for null or an empty
/// string, nor for a string with control characters, which would break the header.
pub fn header_value(value: &Value) -> Option<String> {
    match value {
        Value::String(text) if text.is_empty() => None,
        Value::String(text) if text.chars().any(|c| c.is_control()) => None,
        Value::String(text) => Some(text.clone()),
        Value::Bool(flag) => Some(flag.to_string()),
        Value::Number(number) => Some(match (number.as_u64(), number.as_f64()) {
            (Some(integer), _) => integer.to_string(),
            (None, Some(real)) if real.fract() == 0.0 && (0.0..u64::MAX as f64).contains(&real) => {
                format!("{real:.0}")
            }
            (None, Some(real)) => format!("{real:.6}"),
            (None, None) => number.to_string(),
        }),
        Value::Array(_) | Value::Object(_) => Some(base64_standard(
            serde_json::to_string(value).ok()?.as_bytes(),
        )),
        Value::Null => None,
    }
}

fn base64_standard(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn normalized(audiences: &[String]) -> Vec<String> {
    audiences
        .iter()
        .map(|audience| normalize_audience(audience).to_string())
        .collect()
}

fn refuse_unsupported(config: &config::JwtProvider, path: &str) -> Result<(), ConfigError> {
    let metadata = "not supported by this plugin: a wasm filter cannot write Envoy dynamic \
                    metadata; use forward_payload_header or claim_to_headers";
    let refusals = [
        (
            "payload_in_metadata",
            config.payload_in_metadata.is_some(),
            metadata,
        ),
        (
            "header_in_metadata",
            config.header_in_metadata.is_some(),
            metadata,
        ),
        (
            "failed_status_in_metadata",
            config.failed_status_in_metadata.is_some(),
            metadata,
        ),
        (
            "normalize_payload_in_metadata",
            config.normalize_payload_in_metadata.is_some(),
            metadata,
        ),
    ];
    match refusals.iter().find(|(_, set, _)| *set) {
        Some((field, _, why)) => Err(ConfigError::at(format!("{path}.{field}"), *why)),
        None => Ok(()),
    }
}

/// The provider's keys, from exactly one of `local_jwks` or (ours) `jwks`.
fn key_set(config: &config::JwtProvider, path: &str) -> Result<(KeySet, Vec<String>), ConfigError> {
    let (document, at) = match (&config.local_jwks, &config.jwks) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::at(path, "set only one of local_jwks and jwks"));
        }
        (None, None) => {
            return Err(ConfigError::at(
                path,
                "a provider needs local_jwks, jwks or remote_jwks",
            ))
        }
        (None, Some(jwks)) => (jwks.clone(), format!("{path}.jwks")),
        (Some(source), None) => local_jwks(source, &format!("{path}.local_jwks"))?,
    };
    let parsed = KeySet::parse(&document).map_err(|error| {
        let member = if error.path.is_empty() {
            at.clone()
        } else {
            format!("{at}.{}", error.path)
        };
        ConfigError::at(member, error.message)
    })?;
    if parsed.keys.is_empty() {
        return Err(ConfigError::at(
            at,
            "the key set has no key this plugin can verify with",
        ));
    }
    Ok((parsed.keys, parsed.skipped))
}

fn local_jwks(source: &config::DataSource, path: &str) -> Result<(Value, String), ConfigError> {
    if source.filename.is_some() || source.environment_variable.is_some() {
        let field = if source.filename.is_some() {
            "filename"
        } else {
            "environment_variable"
        };
        return Err(ConfigError::at(
            format!("{path}.{field}"),
            "not supported by this plugin: the wasm VM reads no files; use inline_string",
        ));
    }
    let (text, at) = match (&source.inline_string, &source.inline_bytes) {
        (Some(text), None) => (text.clone().into_bytes(), format!("{path}.inline_string")),
        (None, Some(encoded)) => {
            let at = format!("{path}.inline_bytes");
            let bytes = b64::decode_standard(encoded)
                .ok_or_else(|| ConfigError::at(&at, "is not base64"))?;
            (bytes, at)
        }
        _ => {
            return Err(ConfigError::at(
                path,
                "set exactly one of inline_string and inline_bytes",
            ))
        }
    };
    let document = json::parse_object(&text)
        .map_err(|error| ConfigError::at(&at, format!("the key set {error}")))?;
    Ok((Value::Object(document), at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn claim_values_as_envoy_writes_them() {
        assert_eq!(header_value(&json!("alice")).as_deref(), Some("alice"));
        assert_eq!(header_value(&json!(true)).as_deref(), Some("true"));
        assert_eq!(header_value(&json!(42)).as_deref(), Some("42"));
        assert_eq!(header_value(&json!(1.5)).as_deref(), Some("1.500000"));
        assert_eq!(header_value(&json!(-3)).as_deref(), Some("-3.000000"));
        assert_eq!(
            header_value(&json!(["a", "b"])).as_deref(),
            Some("WyJhIiwiYiJd")
        );
        assert_eq!(header_value(&json!(null)), None);
        assert_eq!(header_value(&json!("")), None);
        assert_eq!(header_value(&json!("a\r\nx-admin: 1")), None);
        assert_eq!(header_value(&json!("tab\there")), None);
    }
}
