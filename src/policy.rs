//! The compiled configuration, and the decision for one request. A configuration is compiled
//! whole or not at all; requests never touch the JSON again.

use crate::conditions::ClaimCondition;
use crate::config::{self, ConfigError, JwtAuthentication};
use crate::extract::{remove_query_param, Location};
use crate::key::SignatureHost;
use crate::matcher::RouteMatcher;
use crate::provider::Provider;
use crate::reason::Reason;
use crate::request::Request;
use crate::requirement::{Compiler, RequestTokens, Requirement, Session, Verified};
use crate::response::{local_response, realm, LocalResponse};
use std::collections::BTreeMap;

#[derive(Debug)]
pub(crate) struct Rule {
    route: RouteMatcher,
    /// `None`: the rule requires no token.
    pub(crate) requirement: Option<Requirement>,
    pub(crate) claims: Vec<ClaimCondition>,
}

#[derive(Debug)]
pub struct Policy {
    providers: Vec<Provider>,
    rules: Vec<Rule>,
    bypass_cors_preflight: bool,
    strip_failure_response: bool,
    use_host_signatures: bool,
    generation: Option<u32>,
    /// Every header a provider writes: removed from each request before anything else.
    output_headers: Vec<String>,
}

/// A policy, with the notes worth an info log (keys skipped).
pub struct Compiled {
    pub policy: Policy,
    pub notes: Vec<String>,
}

/// Changes to make to a request that may pass.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Edits {
    pub remove_headers: Vec<String>,
    pub add_headers: Vec<(String, String)>,
    /// A new `:path`, when a token was taken out of the query string.
    pub path: Option<String>,
    pub clear_route_cache: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// No rule asks this request for a token (or it is a CORS preflight let through).
    NotRequired(Edits),
    /// The rule's requirement is met.
    Allow(Edits),
    /// Refused for now, but keys these providers are fetching may change that: hold the
    /// request and decide again when they arrive.
    Wait(Vec<usize>),
    Deny {
        reason: Reason,
        response: LocalResponse,
    },
}

impl Policy {
    /// Parses and compiles a configuration document.
    pub fn from_json(document: &[u8]) -> Result<Compiled, ConfigError> {
        Policy::compile(&config::parse(document)?)
    }

    /// Compiles a parsed configuration; the error is the first of [`Policy::compile_all`]'s.
    pub fn compile(config: &JwtAuthentication) -> Result<Compiled, ConfigError> {
        Policy::compile_all(config).map_err(|errors| {
            errors
                .into_iter()
                .next()
                .unwrap_or_else(|| ConfigError::at("", "the configuration was refused"))
        })
    }

    /// Compiles a parsed configuration, or names every part that is wrong: each provider,
    /// named requirement and rule is compiled on its own, so one bad part does not hide the
    /// next (within a part, the first error is reported).
    pub fn compile_all(config: &JwtAuthentication) -> Result<Compiled, Vec<ConfigError>> {
        let mut errors = Vec::new();
        if config.filter_state_rules.is_some() {
            errors.push(ConfigError::at(
                "filter_state_rules",
                "not supported by this plugin: a wasm filter cannot read Envoy filter state by name",
            ));
        }
        if config.stat_prefix.is_some() {
            errors.push(ConfigError::at("stat_prefix", "not supported yet"));
        }
        let mut notes = Vec::new();
        let mut providers = Vec::with_capacity(config.providers.len());
        for (name, provider) in &config.providers {
            match Provider::compile(name, provider) {
                Ok(compiled) => {
                    notes.extend(
                        compiled
                            .skipped_keys
                            .into_iter()
                            .map(|line| format!("provider {name}: {line}")),
                    );
                    providers.push(compiled.provider);
                }
                Err(error) => errors.push(error),
            }
        }
        let output_headers = output_headers(&providers).unwrap_or_else(|error| {
            errors.push(error);
            Vec::new()
        });

        // Every configured name, compiled or not, so a rule naming a provider that failed is
        // not reported a second time; the indices are right whenever nothing failed.
        let provider_index: BTreeMap<&str, usize> = config
            .providers
            .keys()
            .enumerate()
            .map(|(i, name)| (name.as_str(), i))
            .collect();
        let compiler = Compiler {
            provider_index: &provider_index,
            requirement_map: &config.requirement_map,
        };
        for (name, requirement) in &config.requirement_map {
            if let Err(error) = compiler.compile(requirement, &format!("requirement_map.{name}")) {
                errors.push(error);
            }
        }
        let mut rules = Vec::with_capacity(config.rules.len());
        for (i, rule) in config.rules.iter().enumerate() {
            match compile_rule(&compiler, config, rule, &format!("rules[{i}]")) {
                Ok(rule) => rules.push(rule),
                Err(error) => errors.push(error),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Compiled {
            policy: Policy {
                providers,
                rules,
                bypass_cors_preflight: config.bypass_cors_preflight,
                strip_failure_response: config.strip_failure_response,
                use_host_signatures: config.use_host_signatures,
                generation: config.generation,
                output_headers,
            },
            notes,
        })
    }

    pub fn providers(&self) -> &[Provider] {
        &self.providers
    }

    /// The operator's `generation` for this configuration, if it gave one.
    pub fn generation(&self) -> Option<u32> {
        self.generation
    }

    /// Whether signatures the host can check should go to the host.
    pub fn use_host_signatures(&self) -> bool {
        self.use_host_signatures
    }

    /// Decides one request. `now` is Unix time in seconds, from the host's clock.
    pub fn check(
        &self,
        request: &Request<'_>,
        now: f64,
        host: Option<&dyn SignatureHost>,
    ) -> Verdict {
        self.check_with(request, now, host, false)
    }

    /// [`Policy::check`], but answering [`Verdict::Wait`] where a key fetch may turn a
    /// refusal into an answer: the first request of a remote key set, or a token naming a
    /// `kid` its key set lacks.
    pub fn check_or_wait(
        &self,
        request: &Request<'_>,
        now: f64,
        host: Option<&dyn SignatureHost>,
    ) -> Verdict {
        self.check_with(request, now, host, true)
    }

    /// The output headers a client sent, which go before anything looks at the request.
    pub(crate) fn spoofed_outputs(&self, request: &Request<'_>) -> Vec<String> {
        self.output_headers
            .iter()
            .filter(|name| request.has(name))
            .cloned()
            .collect()
    }

    /// A CORS preflight let through unchecked.
    pub(crate) fn bypasses(&self, request: &Request<'_>) -> bool {
        self.bypass_cors_preflight && is_cors_preflight(request)
    }

    /// The first rule whose match fits, and its index.
    pub(crate) fn rule_for(&self, request: &Request<'_>) -> Option<(usize, &Rule)> {
        self.rules
            .iter()
            .enumerate()
            .find(|(_, rule)| rule.route.matches(request))
    }

    fn check_with(
        &self,
        request: &Request<'_>,
        now: f64,
        host: Option<&dyn SignatureHost>,
        may_wait: bool,
    ) -> Verdict {
        let spoofed = self.spoofed_outputs(request);
        if spoofed.is_empty() {
            return self.decide(request, Edits::default(), now, host, may_wait);
        }
        // What a client sent in an output header is gone before anything looks at the
        // request, rule matching included.
        let kept = request
            .headers()
            .iter()
            .filter(|(name, _)| !spoofed.iter().any(|s| s == name))
            .copied()
            .collect();
        let edits = Edits {
            remove_headers: spoofed,
            ..Edits::default()
        };
        self.decide(&Request::from_pairs(kept), edits, now, host, may_wait)
    }

    fn decide(
        &self,
        request: &Request<'_>,
        mut edits: Edits,
        now: f64,
        host: Option<&dyn SignatureHost>,
        may_wait: bool,
    ) -> Verdict {
        if self.bypasses(request) {
            return Verdict::NotRequired(edits);
        }
        let Some((_, rule)) = self.rule_for(request) else {
            return Verdict::NotRequired(edits);
        };
        let Some(requirement) = &rule.requirement else {
            return Verdict::NotRequired(edits);
        };
        let tokens = RequestTokens::extract(&self.providers, request);
        let mut session = Session::new(&self.providers, &tokens, now, host);
        let outcome = session.evaluate(requirement).and_then(|verified| {
            self.check_claims(&mut session, rule, &verified)?;
            Ok(verified)
        });
        match outcome {
            Ok(verified) => {
                self.forward(&mut session, &tokens, &verified, request, &mut edits);
                Verdict::Allow(edits)
            }
            Err(_) if may_wait && !session.fetch_wanted.is_empty() => {
                Verdict::Wait(session.fetch_wanted)
            }
            Err(reason) => Verdict::Deny {
                response: local_response(&reason, &realm(request), self.strip_failure_response),
                reason,
            },
        }
    }

    /// The rule's claim conditions, met by every token that verified; with none verified they
    /// cannot be met, and the first token failure (or the lack of a token) is the answer.
    fn check_claims(
        &self,
        session: &mut Session<'_>,
        rule: &Rule,
        verified: &[Verified],
    ) -> Result<(), Reason> {
        if rule.claims.is_empty() {
            return Ok(());
        }
        if verified.is_empty() {
            return Err(session.first_failure.clone().unwrap_or(Reason::Missing));
        }
        for (token, _) in verified {
            let jws = session.jws(*token)?;
            for condition in &rule.claims {
                condition.check(&jws.claims)?;
            }
        }
        Ok(())
    }

    fn forward(
        &self,
        session: &mut Session<'_>,
        tokens: &RequestTokens,
        verified: &[Verified],
        request: &Request<'_>,
        edits: &mut Edits,
    ) {
        let mut path: Option<String> = None;
        for (token, p) in verified {
            let Some(provider) = self.providers.get(*p) else {
                continue;
            };
            if let Ok(jws) = session.jws(*token) {
                provider.forwarded_headers(&jws, &mut edits.add_headers);
            }
            edits.clear_route_cache |= provider.clear_route_cache;
            if provider.forward {
                continue;
            }
            let places = tokens
                .found
                .get(*token)
                .map_or(&[][..], |f| f.places.as_slice());
            for (place_provider, location) in places {
                if place_provider != p {
                    continue;
                }
                match provider.locations.get(*location) {
                    Some(Location::Header { name, .. }) => {
                        if !edits.remove_headers.contains(name) {
                            edits.remove_headers.push(name.clone());
                        }
                    }
                    Some(Location::Param(name)) => {
                        let current = path.as_deref().unwrap_or_else(|| request.path_and_query());
                        path = Some(remove_query_param(current, name));
                    }
                    // Envoy leaves a cookie in place too: removing one would mean rewriting
                    // a header that holds others.
                    Some(Location::Cookie(_)) | None => {}
                }
            }
        }
        edits.path = path;
    }
}

fn compile_rule(
    compiler: &Compiler<'_>,
    config: &JwtAuthentication,
    rule: &config::RequirementRule,
    path: &str,
) -> Result<Rule, ConfigError> {
    let requirement = match (&rule.requires, &rule.requirement_name) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::at(
                path,
                "set only one of requires and requirement_name",
            ));
        }
        (Some(requires), None) => compiler.compile(requires, &format!("{path}.requires"))?,
        (None, Some(name)) => {
            let requirement = config.requirement_map.get(name).ok_or_else(|| {
                ConfigError::at(
                    format!("{path}.requirement_name"),
                    format!("\"{name}\" is not in requirement_map"),
                )
            })?;
            compiler.compile(requirement, &format!("requirement_map.{name}"))?
        }
        (None, None) => None,
    };
    let claims = rule
        .claims
        .iter()
        .enumerate()
        .map(|(c, condition)| ClaimCondition::compile(condition, &format!("{path}.claims[{c}]")))
        .collect::<Result<Vec<_>, _>>()?;
    if !claims.is_empty() && requirement.is_none() {
        return Err(ConfigError::at(
            format!("{path}.claims"),
            "claim conditions need a requirement that verifies a token",
        ));
    }
    Ok(Rule {
        route: RouteMatcher::compile(&rule.route, &format!("{path}.match"))?,
        requirement,
        claims,
    })
}

fn is_cors_preflight(request: &Request<'_>) -> bool {
    request.method() == b"OPTIONS"
        && request.first("origin").is_some_and(|v| !v.is_empty())
        && request
            .first("access-control-request-method")
            .is_some_and(|v| !v.is_empty())
}

/// The headers providers write, checked so that no output can hide or fake a token.
fn output_headers(providers: &[Provider]) -> Result<Vec<String>, ConfigError> {
    let token_headers: Vec<&str> = providers
        .iter()
        .flat_map(|p| p.locations.iter().filter_map(Location::header))
        .collect();
    let mut outputs: Vec<String> = Vec::new();
    for provider in providers {
        for header in provider.output_headers() {
            if token_headers.contains(&header) || header.starts_with(':') {
                return Err(ConfigError::at(
                    format!("providers.{}", provider.name),
                    format!("output header {header} is also where a token is read"),
                ));
            }
            if !outputs.iter().any(|h| h == header) {
                outputs.push(header.to_string());
            }
        }
    }
    Ok(outputs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alg::Algorithm;
    use crate::request::headers;
    use crate::testing::{claims, jwk, jwks, token, NOW};
    use serde_json::{json, Value};

    const ISSUER: &str = "https://issuer.example";

    fn provider(extra: Value) -> Value {
        let mut provider = json!({
            "issuer": ISSUER,
            "jwks": jwks(&[jwk(Algorithm::ES256, Some("ec")), jwk(Algorithm::EdDSA, Some("ed"))]),
        });
        if let (Some(target), Value::Object(extra)) = (provider.as_object_mut(), extra) {
            target.extend(extra);
        }
        provider
    }

    fn policy(config: Value) -> Policy {
        Policy::from_json(config.to_string().as_bytes())
            .expect("config compiles")
            .policy
    }

    fn config_error(config: Value) -> ConfigError {
        match Policy::from_json(config.to_string().as_bytes()) {
            Ok(_) => panic!("config should be refused"),
            Err(error) => error,
        }
    }

    fn one_rule(requires: Value) -> Value {
        json!({
            "providers": {"p": provider(json!({}))},
            "rules": [{"match": {"prefix": "/"}, "requires": requires}]
        })
    }

    fn check(policy: &Policy, pairs: &[(&str, &str)]) -> Verdict {
        let mut all = vec![
            (":method", "GET"),
            (":scheme", "http"),
            (":authority", "api"),
            (":path", "/x"),
        ];
        for pair in pairs {
            match all
                .iter_mut()
                .find(|(k, _)| k.starts_with(':') && *k == pair.0)
            {
                Some(slot) => *slot = *pair,
                None => all.push(*pair),
            }
        }
        let h = headers(&all);
        policy.check(&Request::new(&h), NOW, None)
    }

    fn status(verdict: &Verdict) -> u32 {
        match verdict {
            Verdict::Allow(_) | Verdict::NotRequired(_) => 200,
            Verdict::Wait(_) => 0,
            Verdict::Deny { response, .. } => response.status,
        }
    }

    fn reason(verdict: &Verdict) -> Option<&Reason> {
        match verdict {
            Verdict::Allow(_) | Verdict::NotRequired(_) | Verdict::Wait(_) => None,
            Verdict::Deny { reason, .. } => Some(reason),
        }
    }

    fn bearer(token: &str) -> String {
        format!("Bearer {token}")
    }

    fn good(extra: Value) -> String {
        token(Algorithm::ES256, Some("ec"), &claims(extra))
    }

    #[test]
    fn a_provider_requirement_allows_good_tokens_and_explains_bad_ones() {
        let p = policy(one_rule(json!({"provider_name": "p"})));
        assert_eq!(
            status(&check(&p, &[("authorization", &bearer(&good(json!({}))))])),
            200
        );
        let missing = check(&p, &[]);
        assert_eq!(reason(&missing), Some(&Reason::Missing));
        let Verdict::Deny { response, .. } = &missing else {
            unreachable!()
        };
        assert_eq!(response.headers[0].1, "Bearer realm=\"http://api/x\"");
        // Within the default 60 s skew an expired token still passes.
        let just_expired = good(json!({"exp": NOW - 59.0}));
        assert_eq!(
            status(&check(&p, &[("authorization", &bearer(&just_expired))])),
            200
        );
        let cases = [
            (good(json!({"exp": NOW - 61.0})), Reason::Expired),
            (good(json!({"nbf": NOW + 61.0})), Reason::NotYetValid),
            (good(json!({"iss": "https://other"})), Reason::UnknownIssuer),
            (
                token(Algorithm::ES256, Some("nope"), &claims(json!({}))),
                Reason::NoMatchingKey,
            ),
            ("a.b".to_string(), Reason::BadFormat),
        ];
        for (token, expected) in cases {
            let verdict = check(&p, &[("authorization", &bearer(&token))]);
            assert_eq!(reason(&verdict), Some(&expected));
            assert_eq!(status(&verdict), 401);
        }
        let mut no_iss = claims(json!({}));
        no_iss.as_object_mut().unwrap().remove("iss");
        let no_iss = token(Algorithm::ES256, Some("ec"), &no_iss);
        assert_eq!(
            reason(&check(&p, &[("authorization", &bearer(&no_iss))])),
            Some(&Reason::UnknownIssuer)
        );
    }

    #[test]
    fn time_claims_may_be_fractional() {
        let p = policy(one_rule(json!({"provider_name": "p"})));
        let fractional = good(json!({"exp": NOW - 60.5, "nbf": NOW - 10.25, "iat": NOW - 10.25}));
        assert_eq!(
            reason(&check(&p, &[("authorization", &bearer(&fractional))])),
            Some(&Reason::Expired)
        );
        let ok = good(json!({"exp": NOW - 59.5}));
        assert_eq!(status(&check(&p, &[("authorization", &bearer(&ok))])), 200);
    }

    #[test]
    fn audiences_subjects_and_lifetimes() {
        let config = json!({
            "providers": {"p": provider(json!({
                "audiences": ["https://api.example/"],
                "subjects": {"prefix": "team-"},
                "max_lifetime": "7200s"
            }))},
            "rules": [
                {"match": {"prefix": "/other"}, "requires": {"provider_and_audiences": {"provider_name": "p", "audiences": ["other"]}}},
                {"match": {"prefix": "/"}, "requires": {"provider_name": "p"}}
            ]
        });
        let p = policy(config);
        let ok = good(json!({"aud": ["x", "api.example"], "sub": "team-a"}));
        assert_eq!(status(&check(&p, &[("authorization", &bearer(&ok))])), 200);
        let wrong_aud = good(json!({"aud": "x", "sub": "team-a"}));
        let verdict = check(&p, &[("authorization", &bearer(&wrong_aud))]);
        assert_eq!(
            (status(&verdict), reason(&verdict)),
            (403, Some(&Reason::AudienceNotAllowed))
        );
        let no_aud = good(json!({"sub": "team-a"}));
        assert_eq!(
            status(&check(&p, &[("authorization", &bearer(&no_aud))])),
            403
        );
        let wrong_sub = good(json!({"aud": "api.example", "sub": "alice"}));
        assert_eq!(
            reason(&check(&p, &[("authorization", &bearer(&wrong_sub))])),
            Some(&Reason::SubjectNotAllowed)
        );
        let long = good(json!({"aud": "api.example", "sub": "team-a", "exp": NOW + 7201.0}));
        assert_eq!(
            reason(&check(&p, &[("authorization", &bearer(&long))])),
            Some(&Reason::LifetimeTooLong)
        );
        let mut no_exp = claims(json!({"aud": "api.example", "sub": "team-a"}));
        no_exp.as_object_mut().unwrap().remove("exp");
        let no_exp = token(Algorithm::ES256, Some("ec"), &no_exp);
        assert_eq!(
            reason(&check(&p, &[("authorization", &bearer(&no_exp))])),
            Some(&Reason::ExpirationRequired)
        );
        // provider_and_audiences replaces the provider's audiences.
        let other = good(json!({"aud": "other", "sub": "team-a"}));
        assert_eq!(
            status(&check(
                &p,
                &[(":path", "/other"), ("authorization", &bearer(&other))]
            )),
            200
        );
        assert_eq!(
            status(&check(
                &p,
                &[(":path", "/other"), ("authorization", &bearer(&ok))]
            )),
            403
        );
    }

    fn two_providers(requires: Value) -> Policy {
        let second = json!({
            "issuer": "https://second.example",
            "jwks": jwks(&[jwk(Algorithm::HS256, Some("hs"))]),
            "from_headers": [{"name": "x-second"}]
        });
        policy(json!({
            "providers": {"p": provider(json!({})), "q": second},
            "rules": [{"match": {"prefix": "/"}, "requires": requires}]
        }))
    }

    fn second_token() -> String {
        token(
            Algorithm::HS256,
            Some("hs"),
            &claims(json!({"iss": "https://second.example"})),
        )
    }

    #[test]
    fn requires_any_and_all() {
        let any = two_providers(
            json!({"requires_any": {"requirements": [{"provider_name": "p"}, {"provider_name": "q"}]}}),
        );
        let first = bearer(&good(json!({})));
        assert_eq!(status(&check(&any, &[("authorization", &first)])), 200);
        assert_eq!(status(&check(&any, &[("x-second", &second_token())])), 200);
        assert_eq!(reason(&check(&any, &[])), Some(&Reason::Missing));
        // The real failure wins over a missing token.
        let expired = bearer(&good(json!({"exp": NOW - 100.0})));
        assert_eq!(
            reason(&check(&any, &[("authorization", &expired)])),
            Some(&Reason::Expired)
        );

        let all = two_providers(
            json!({"requires_all": {"requirements": [{"provider_name": "p"}, {"provider_name": "q"}]}}),
        );
        assert_eq!(
            status(&check(
                &all,
                &[("authorization", &first), ("x-second", &second_token())]
            )),
            200
        );
        assert_eq!(
            reason(&check(&all, &[("authorization", &first)])),
            Some(&Reason::Missing)
        );
    }

    #[test]
    fn allow_missing_and_allow_missing_or_failed() {
        let missing = two_providers(json!({"allow_missing": {}}));
        assert_eq!(status(&check(&missing, &[])), 200);
        assert_eq!(
            status(&check(&missing, &[("x-second", &second_token())])),
            200
        );
        let expired = bearer(&good(json!({"exp": NOW - 100.0})));
        assert_eq!(
            reason(&check(&missing, &[("authorization", &expired)])),
            Some(&Reason::Expired)
        );
        // A token whose issuer no provider at that place has.
        let stranger = token(
            Algorithm::HS256,
            Some("hs"),
            &claims(json!({"iss": "https://nobody"})),
        );
        assert_eq!(
            reason(&check(&missing, &[("x-second", &stranger)])),
            Some(&Reason::UnknownIssuer)
        );
        // The second provider's token in the first provider's place is not the second's to judge.
        assert_eq!(
            reason(&check(
                &missing,
                &[("authorization", &bearer(&second_token()))]
            )),
            Some(&Reason::UnknownIssuer)
        );

        let failed = two_providers(json!({"allow_missing_or_failed": {}}));
        assert_eq!(status(&check(&failed, &[("authorization", &expired)])), 200);
        assert_eq!(
            status(&check(&failed, &[("authorization", "Bearer junk")])),
            200
        );

        let optional = two_providers(
            json!({"requires_any": {"requirements": [{"provider_name": "p"}, {"allow_missing": {}}]}}),
        );
        assert_eq!(status(&check(&optional, &[])), 200);
        assert_eq!(
            reason(&check(&optional, &[("authorization", &expired)])),
            Some(&Reason::Expired)
        );
    }

    #[test]
    fn two_different_tokens_for_one_provider_are_refused() {
        let p = policy(one_rule(json!({"provider_name": "p"})));
        let a = good(json!({}));
        let b = token(Algorithm::EdDSA, Some("ed"), &claims(json!({})));
        let verdict = check(
            &p,
            &[
                ("authorization", &bearer(&a)),
                ("authorization", &bearer(&b)),
            ],
        );
        assert_eq!(
            (status(&verdict), reason(&verdict)),
            (400, Some(&Reason::MultipleTokens))
        );
        let joined = format!("Bearer {a},Bearer {b}");
        assert_eq!(status(&check(&p, &[("authorization", &joined)])), 400);
        let query = format!("/x?access_token={b}");
        assert_eq!(
            status(&check(
                &p,
                &[(":path", &query), ("authorization", &bearer(&a))]
            )),
            400
        );
        // The same token twice is one token.
        let same = format!("/x?access_token={a}");
        assert_eq!(
            status(&check(
                &p,
                &[(":path", &same), ("authorization", &bearer(&a))]
            )),
            200
        );
    }

    #[test]
    fn a_flood_of_tokens_is_read_once_and_refused() {
        let p = policy(json!({
            "providers": {"p": provider(json!({"from_headers": [{"name": "x-jwt"}]}))},
            "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "p"}}]
        }));
        let flood: Vec<String> = (0..20_000).map(|i| i.to_string()).collect();
        let h = headers(&[(":path", "/"), ("x-jwt", &flood.join(","))]);
        let request = Request::new(&h);
        let tokens = RequestTokens::extract(&p.providers, &request);
        assert_eq!(
            tokens.found.len(),
            2,
            "extraction stops at the second distinct token"
        );
        assert_eq!(
            reason(&p.check(&request, NOW, None)),
            Some(&Reason::MultipleTokens)
        );
    }

    #[test]
    fn a_path_that_is_not_utf8_still_matches_its_rule() {
        let p = policy(one_rule(json!({"provider_name": "p"})));
        let h = vec![
            (":path".to_string(), b"/admin/users?x=\xff".to_vec()),
            (":method".to_string(), b"GET".to_vec()),
        ];
        assert_eq!(
            reason(&p.check(&Request::new(&h), NOW, None)),
            Some(&Reason::Missing)
        );
    }

    #[test]
    fn rules_first_match_wins_and_no_match_needs_no_token() {
        let config = json!({
            "providers": {"p": provider(json!({}))},
            "rules": [
                {"match": {"prefix": "/public"}},
                {"match": {"prefix": "/api", "headers": [{"name": "x-internal", "present_match": true}]}},
                {"match": {"prefix": "/api"}, "requires": {"provider_name": "p"}}
            ]
        });
        let p = policy(config);
        assert_eq!(status(&check(&p, &[(":path", "/public/x")])), 200);
        assert_eq!(
            status(&check(&p, &[(":path", "/api/x"), ("x-internal", "1")])),
            200
        );
        assert_eq!(status(&check(&p, &[(":path", "/api/x")])), 401);
        assert_eq!(status(&check(&p, &[(":path", "/elsewhere")])), 200);
    }

    #[test]
    fn claim_conditions_answer_403() {
        let config = json!({
            "providers": {"p": provider(json!({}))},
            "rules": [{
                "match": {"prefix": "/"},
                "requires": {"provider_name": "p"},
                "claims": [
                    {"name": "scope", "contains": "orders.write"},
                    {"name": "tenant", "equals": "acme"}
                ]
            }]
        });
        let p = policy(config);
        let ok = good(json!({"scope": "orders.read orders.write", "tenant": "acme"}));
        assert_eq!(status(&check(&p, &[("authorization", &bearer(&ok))])), 200);
        let no_scope = good(json!({"scope": "orders.read", "tenant": "acme"}));
        let verdict = check(&p, &[("authorization", &bearer(&no_scope))]);
        assert_eq!(
            reason(&verdict),
            Some(&Reason::ClaimsNotSatisfied("scope".into()))
        );
        let Verdict::Deny { response, .. } = verdict else {
            unreachable!()
        };
        assert_eq!(response.status, 403);
        assert!(response.headers[0]
            .1
            .ends_with("error=\"insufficient_scope\""));
        assert_eq!(reason(&check(&p, &[])), Some(&Reason::Missing));
    }

    #[test]
    fn forwards_claims_and_payload_and_strips_spoofed_headers() {
        let config = json!({
            "providers": {"p": provider(json!({
                "forward_payload_header": "x-jwt-payload",
                "claim_to_headers": [
                    {"header_name": "x-user", "claim_name": "sub"},
                    {"header_name": "x-org", "claim_name": "org.id"},
                    {"header_name": "x-missing", "claim_name": "nothing"}
                ]
            }))},
            "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "p"}}]
        });
        let p = policy(config);
        let token = good(json!({"org": {"id": 7}}));
        let spoofed = [
            ("authorization", bearer(&token)),
            ("x-user", "root".to_string()),
            ("x-jwt-payload", "e30".to_string()),
            ("x-missing", "1".to_string()),
        ];
        let pairs: Vec<(&str, &str)> = spoofed.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let Verdict::Allow(edits) = check(&p, &pairs) else {
            panic!("allowed")
        };
        // What the client sent is removed; what it did not send costs no host call.
        let mut removed = edits.remove_headers.clone();
        removed.sort();
        assert_eq!(
            removed,
            ["authorization", "x-jwt-payload", "x-missing", "x-user"]
        );
        let payload = token.split('.').nth(1).unwrap();
        assert_eq!(
            edits.add_headers,
            [
                ("x-jwt-payload".into(), payload.into()),
                ("x-user".into(), "alice".into()),
                ("x-org".into(), "7".into())
            ]
        );
        // A spoofed output header cannot steer rule matching either.
        let steered = policy(json!({
            "providers": {"p": provider(json!({"claim_to_headers": [{"header_name": "x-user", "claim_name": "sub"}]}))},
            "rules": [
                {"match": {"prefix": "/", "headers": [{"name": "x-user", "exact_match": "root"}]}},
                {"match": {"prefix": "/"}, "requires": {"provider_name": "p"}}
            ]
        }));
        assert_eq!(
            reason(&check(&steered, &[("x-user", "root")])),
            Some(&Reason::Missing)
        );
        // Spoofed outputs go even where no rule asks for a token.
        let public = policy(
            json!({"providers": {"p": provider(json!({"claim_to_headers": [{"header_name": "x-user", "claim_name": "sub"}]}))}}),
        );
        let Verdict::NotRequired(edits) = check(&public, &[("x-user", "root")]) else {
            panic!()
        };
        assert_eq!(edits.remove_headers, ["x-user"]);
    }

    #[test]
    fn forward_keeps_the_token_and_query_tokens_are_cut_out() {
        let kept = policy(json!({
            "providers": {"p": provider(json!({"forward": true}))},
            "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "p"}}]
        }));
        let token = good(json!({}));
        let Verdict::Allow(edits) = check(&kept, &[("authorization", &bearer(&token))]) else {
            panic!()
        };
        assert!(edits.remove_headers.is_empty() && edits.path.is_none());

        let removed = policy(one_rule(json!({"provider_name": "p"})));
        let path = format!("/x?a=1&access_token={token}&b=2");
        let Verdict::Allow(edits) = check(&removed, &[(":path", &path)]) else {
            panic!()
        };
        assert_eq!(edits.path.as_deref(), Some("/x?a=1&b=2"));
    }

    #[test]
    fn cors_preflight_and_stripped_failures() {
        let mut config = one_rule(json!({"provider_name": "p"}));
        config["bypass_cors_preflight"] = json!(true);
        config["strip_failure_response"] = json!(true);
        let p = policy(config);
        let preflight = [
            (":method", "OPTIONS"),
            ("origin", "https://app"),
            ("access-control-request-method", "POST"),
        ];
        assert_eq!(status(&check(&p, &preflight)), 200);
        assert_eq!(
            status(&check(
                &p,
                &[(":method", "OPTIONS"), ("origin", "https://app")]
            )),
            401
        );
        let Verdict::Deny { response, .. } = check(&p, &[]) else {
            panic!()
        };
        assert!(response.body.is_empty() && response.headers.is_empty());
    }

    #[test]
    fn requirement_map_names() {
        let mut config = one_rule(json!({}));
        config["requirement_map"] = json!({"needs_p": {"provider_name": "p"}});
        config["rules"] = json!([{"match": {"prefix": "/"}, "requirement_name": "needs_p"}]);
        assert_eq!(status(&check(&policy(config.clone()), &[])), 401);
        config["rules"][0]["requirement_name"] = json!("nope");
        assert_eq!(config_error(config).path, "rules[0].requirement_name");
    }

    #[test]
    fn bad_configurations_name_the_field() {
        let unknown = one_rule(json!({"provider_name": "nope"}));
        let error = config_error(unknown);
        assert_eq!(error.path, "rules[0].requires.provider_name");
        assert!(error.message.contains("\"nope\""), "{error}");

        let regex = json!({"providers": {"p": provider(json!({}))}, "rules": [{"match": {"safe_regex": {"regex": "(["}}}]});
        assert_eq!(config_error(regex).path, "rules[0].match.safe_regex.regex");

        let no_keys = json!({"providers": {"p": {"jwks": {"keys": [{"kty": "oct", "use": "enc", "k": "AA"}]}}}});
        assert_eq!(config_error(no_keys).path, "providers.p.jwks");

        let neither = json!({"providers": {"p": {"issuer": "x"}}});
        assert_eq!(config_error(neither).path, "providers.p");

        let bad_inline =
            json!({"providers": {"p": {"local_jwks": {"inline_string": "{\"keys\": [}"}}}});
        assert_eq!(
            config_error(bad_inline).path,
            "providers.p.local_jwks.inline_string"
        );

        let malformed_key = json!({"providers": {"p": {"jwks": {"keys": [{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}]}}}});
        assert_eq!(config_error(malformed_key).path, "providers.p.jwks.keys[0]");

        let spoofable = json!({"providers": {"p": provider(json!({"claim_to_headers": [{"header_name": "authorization", "claim_name": "sub"}]}))}});
        assert_eq!(config_error(spoofable).path, "providers.p");

        let metadata = json!({"providers": {"p": provider(json!({"payload_in_metadata": "x"}))}});
        assert_eq!(
            config_error(metadata).path,
            "providers.p.payload_in_metadata"
        );

        let both = one_rule(json!({"provider_name": "p", "allow_missing": {}}));
        assert_eq!(config_error(both).path, "rules[0].requires");

        let short_list =
            one_rule(json!({"requires_any": {"requirements": [{"provider_name": "p"}]}}));
        assert_eq!(
            config_error(short_list).path,
            "rules[0].requires.requires_any.requirements"
        );

        let typo = json!({"provider": {}});
        assert!(config_error(typo)
            .message
            .contains("unknown field `provider`"));
    }

    #[test]
    fn compile_all_names_every_bad_part() {
        let config = json!({
            "providers": {
                "bad": {"issuer": "x"},
                "good": provider(json!({}))
            },
            "requirement_map": {"broken": {"provider_name": "ghost"}},
            "rules": [
                {"match": {"prefix": "/a"}, "requires": {"provider_name": "bad"}},
                {"match": {"safe_regex": {"regex": "(["}}},
                {"match": {"prefix": "/c"}, "claims": [{"name": "scope", "contains": "x"}]}
            ]
        });
        let parsed = config::parse(config.to_string().as_bytes()).unwrap();
        let Err(errors) = Policy::compile_all(&parsed) else {
            panic!("refused")
        };
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        // rules[0] names a provider that is configured (if broken): no second error for it.
        assert_eq!(
            paths,
            [
                "providers.bad",
                "requirement_map.broken.provider_name",
                "rules[1].match.safe_regex.regex",
                "rules[2].claims"
            ]
        );
        let Err(first) = Policy::compile(&parsed) else {
            panic!("refused")
        };
        assert_eq!(first, errors[0]);
    }

    #[test]
    fn local_jwks_as_envoy_writes_it() {
        let inline = jwks(&[jwk(Algorithm::ES256, Some("ec"))]).to_string();
        let config = json!({
            "providers": {"p": {"issuer": ISSUER, "local_jwks": {"inline_string": inline}}},
            "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "p"}}]
        });
        assert_eq!(
            status(&check(
                &policy(config),
                &[("authorization", &bearer(&good(json!({}))))]
            )),
            200
        );
    }
}

#[cfg(test)]
mod remote_tests {
    use super::*;
    use crate::alg::Algorithm;
    use crate::jwks::KeySet;
    use crate::request::headers;
    use crate::testing::{claims, jwk, jwks, token, NOW};
    use serde_json::json;

    fn policy() -> Policy {
        let config = json!({
            "providers": {"idp": {
                "issuer": "https://issuer.example",
                "remote_jwks": {"http_uri": {"uri": "http://idp/keys", "cluster": "idp"},
                                "unknown_kid_refetch_interval": "10s"}
            }},
            "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "idp"}}]
        });
        Policy::from_json(config.to_string().as_bytes())
            .unwrap()
            .policy
    }

    fn check(p: &Policy, token: &str, now: f64) -> Verdict {
        let h = headers(&[
            (":path", "/"),
            ("authorization", &format!("Bearer {token}")),
        ]);
        p.check_or_wait(&Request::new(&h), now, None)
    }

    fn deliver(p: &Policy, now: f64, keys: &[serde_json::Value]) {
        let remote = p.providers()[0].remote().unwrap();
        let document = jwks(keys).to_string();
        remote.started(1, now);
        let parsed = KeySet::parse(&jwks(keys)).unwrap().keys;
        if remote.succeeded(now, document.as_bytes(), parsed) {
            p.providers()[0].cache.clear();
        }
    }

    #[test]
    fn the_first_requests_wait_for_the_first_key_set() {
        let p = policy();
        let t = token(Algorithm::ES256, Some("a"), &claims(json!({})));
        assert_eq!(check(&p, &t, NOW), Verdict::Wait(vec![0]));
        assert!(p.providers()[0].remote().unwrap().should_fetch(NOW));
        deliver(&p, NOW, &[jwk(Algorithm::ES256, Some("a"))]);
        assert!(matches!(check(&p, &t, NOW), Verdict::Allow(_)));
    }

    #[test]
    fn without_any_key_set_the_answer_is_a_fetch_failure() {
        let p = policy();
        let remote = p.providers()[0].remote().unwrap();
        remote.started(1, NOW);
        remote.failed(NOW);
        let t = token(Algorithm::ES256, Some("a"), &claims(json!({})));
        let Verdict::Deny { reason, response } = check(&p, &t, NOW) else {
            panic!()
        };
        assert_eq!(
            (reason, response.status, response.body.as_str()),
            (Reason::JwksFetchFailed, 401, "Jwks remote fetch is failed")
        );
    }

    #[test]
    fn an_unknown_kid_waits_for_one_early_refetch() {
        let p = policy();
        deliver(&p, NOW, &[jwk(Algorithm::ES256, Some("a"))]);
        let new = token(Algorithm::EdDSA, Some("b"), &claims(json!({})));
        assert_eq!(check(&p, &new, NOW + 1.0), Verdict::Wait(vec![0]));
        deliver(
            &p,
            NOW + 1.1,
            &[
                jwk(Algorithm::ES256, Some("a")),
                jwk(Algorithm::EdDSA, Some("b")),
            ],
        );
        assert!(matches!(check(&p, &new, NOW + 1.2), Verdict::Allow(_)));
        // Another unknown kid within the interval is refused at once.
        let stranger = token(Algorithm::EdDSA, Some("c"), &claims(json!({})));
        assert!(matches!(
            check(&p, &stranger, NOW + 2.0),
            Verdict::Deny {
                reason: Reason::NoMatchingKey,
                ..
            }
        ));
    }

    #[test]
    fn a_changed_key_set_empties_the_cache() {
        let p = policy();
        deliver(&p, NOW, &[jwk(Algorithm::ES256, Some("a"))]);
        let t = token(Algorithm::ES256, Some("a"), &claims(json!({})));
        assert!(matches!(check(&p, &t, NOW), Verdict::Allow(_)));
        assert!(matches!(check(&p, &t, NOW), Verdict::Allow(_)));
        assert_eq!(p.providers()[0].cache.hits(), 1);
        // The issuer retired key a.
        deliver(&p, NOW + 700.0, &[jwk(Algorithm::EdDSA, Some("b"))]);
        assert!(matches!(
            check(&p, &t, NOW + 701.0),
            Verdict::Deny {
                reason: Reason::NoMatchingKey,
                ..
            } | Verdict::Wait(_)
        ));
        assert_eq!(
            p.providers()[0].cache.hits(),
            1,
            "not served from the cache"
        );
    }

    #[test]
    fn remote_and_local_keys_exclude_each_other() {
        let config = json!({"providers": {"idp": {
            "jwks": jwks(&[jwk(Algorithm::ES256, None)]),
            "remote_jwks": {"http_uri": {"uri": "http://idp/keys", "cluster": "idp"}}
        }}});
        let Err(error) = Policy::from_json(config.to_string().as_bytes()) else {
            panic!()
        };
        assert_eq!(error.path, "providers.idp");
    }
}
