//! Why a request gets its answer: a read-only walk over the same parts the plugin decides
//! with (rule matching, token extraction, parsing, each provider's checks, each key, claim
//! conditions), for `jwt-policy explain`; native only, the plugin never explains. The verdict
//! itself is never worked out here: it is [`Policy::check`]'s, so the account cannot disagree
//! with the answer.
//!
//! The walk shows every (token, provider) pair the matched rule's requirement may try, with
//! every check run even after one failed, so one look shows everything that is wrong; the
//! plugin stops at the first failure, whose reason the verdict carries.

use crate::b64;
use crate::extract::Location;
use crate::jws::Jws;
use crate::policy::{Policy, Verdict};
use crate::reason::Reason;
use crate::request::Request;
use crate::requirement::{RequestTokens, Requirement};
use serde_json::Value;

pub struct Explanation {
    /// The plugin's answer, from [`Policy::check`] with signatures checked in Rust.
    pub verdict: Verdict,
    /// Output headers the client sent, removed before anything else.
    pub spoofed_outputs: Vec<String>,
    /// A CORS preflight let through unchecked.
    pub cors_preflight: bool,
    /// The index of the rule that matched.
    pub rule: Option<usize>,
    /// Whether that rule requires anything.
    pub requires: bool,
    pub tokens: Vec<TokenTrace>,
    /// The rule's claim conditions, on each token that verified.
    pub conditions: Vec<ConditionTrace>,
}

pub struct TokenTrace {
    pub token: String,
    /// (provider, place) for each place the token was found.
    pub found_in: Vec<(String, String)>,
    /// The decoded header and payload, when they are JSON, valid token or not.
    pub header: Option<Value>,
    pub payload: Option<Value>,
    pub parsed: Result<(), Reason>,
    pub attempts: Vec<Attempt>,
}

/// One provider checking one token.
pub struct Attempt {
    pub provider: String,
    /// Audiences that replace the provider's own (`provider_and_audiences`).
    pub audiences: Option<Vec<String>>,
    /// Each check before the signature, by name.
    pub checks: Vec<(&'static str, Result<(), Reason>)>,
    pub keys: Vec<KeyTrial>,
    pub signature: Result<(), Reason>,
    /// The first failure, in the plugin's order: the checks, then the signature.
    pub result: Result<(), Reason>,
}

pub struct KeyTrial {
    pub kid: Option<String>,
    pub algorithms: Vec<&'static str>,
    pub outcome: KeyOutcome,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOutcome {
    /// Not tried: the key does not verify the token's `alg`.
    OtherAlgorithm,
    /// Not tried: the token names another `kid`.
    OtherKid,
    Valid,
    Invalid,
}

pub struct ConditionTrace {
    /// Index into [`Explanation::tokens`].
    pub token: usize,
    pub condition: String,
    pub result: Result<(), Reason>,
}

impl Policy {
    /// How this request is decided at `now` (Unix seconds), signatures checked in Rust.
    pub fn explain(&self, request: &Request<'_>, now: f64) -> Explanation {
        let verdict = self.check(request, now, None);
        let spoofed_outputs = self.spoofed_outputs(request);
        let kept = request
            .headers()
            .iter()
            .filter(|(name, _)| !spoofed_outputs.iter().any(|s| s == name))
            .copied()
            .collect();
        let request = Request::from_pairs(kept);
        let mut explanation = Explanation {
            verdict,
            spoofed_outputs,
            cors_preflight: self.bypasses(&request),
            rule: None,
            requires: false,
            tokens: Vec::new(),
            conditions: Vec::new(),
        };
        if explanation.cors_preflight {
            return explanation;
        }
        let Some((index, rule)) = self.rule_for(&request) else {
            return explanation;
        };
        explanation.rule = Some(index);
        let Some(requirement) = &rule.requirement else {
            return explanation;
        };
        explanation.requires = true;
        let tokens = RequestTokens::extract(self.providers(), &request);
        let mut tried = Vec::new();
        let mut any_provider = false;
        leaves(requirement, &mut tried, &mut any_provider);
        for (t, found) in tokens.found.iter().enumerate() {
            let mut pairs: Vec<(usize, Option<&[String]>)> = tried
                .iter()
                .filter(|(p, _)| tokens.of(*p).contains(&t))
                .copied()
                .collect();
            if any_provider {
                for (p, _) in &found.places {
                    if !pairs.contains(&(*p, None)) {
                        pairs.push((*p, None));
                    }
                }
            }
            let trace = self.trace_token(&found.token, &found.places, &pairs, now);
            if trace.attempts.iter().any(|a| a.result.is_ok()) {
                if let Ok(jws) = Jws::parse(&found.token) {
                    for condition in &rule.claims {
                        explanation.conditions.push(ConditionTrace {
                            token: explanation.tokens.len(),
                            condition: condition.describe(),
                            result: condition.check(&jws.claims),
                        });
                    }
                }
            }
            explanation.tokens.push(trace);
        }
        explanation
    }

    fn trace_token(
        &self,
        token: &str,
        places: &[(usize, usize)],
        pairs: &[(usize, Option<&[String]>)],
        now: f64,
    ) -> TokenTrace {
        let providers = self.providers();
        let found_in = places
            .iter()
            .filter_map(|(p, l)| {
                let provider = providers.get(*p)?;
                Some((provider.name.clone(), place(provider.locations.get(*l)?)))
            })
            .collect();
        let mut segments = token.split('.');
        let mut decode = || {
            let bytes = b64::decode(segments.next()?.as_bytes())?;
            serde_json::from_slice::<Value>(&bytes).ok()
        };
        let (header, payload) = (decode(), decode());
        let jws = Jws::parse(token);
        let mut trace = TokenTrace {
            token: token.to_string(),
            found_in,
            header,
            payload,
            parsed: jws.as_ref().map(|_| ()).map_err(Reason::clone),
            attempts: Vec::new(),
        };
        let Ok(jws) = jws else {
            return trace;
        };
        for (p, audiences) in pairs {
            let Some(provider) = providers.get(*p) else {
                continue;
            };
            let checks: Vec<_> = provider.claim_checks(&jws, *audiences, now).into();
            let (keys, signature) = provider.with_keys(|keys| match keys {
                None => (Vec::new(), Err(Reason::JwksFetchFailed)),
                Some(keys) => (
                    keys.keys()
                        .iter()
                        .map(|key| KeyTrial {
                            kid: key.kid.clone(),
                            algorithms: key.algorithms.iter().map(|a| a.name()).collect(),
                            outcome: if !key.algorithms.contains(jws.header.alg) {
                                KeyOutcome::OtherAlgorithm
                            } else if !key.kid_matches(jws.header.kid.as_deref()) {
                                KeyOutcome::OtherKid
                            } else if key.verify(
                                jws.header.alg,
                                jws.signing_input(),
                                &jws.signature,
                                None,
                            ) {
                                KeyOutcome::Valid
                            } else {
                                KeyOutcome::Invalid
                            },
                        })
                        .collect(),
                    keys.verify(&jws, None),
                ),
            });
            let result = checks
                .iter()
                .map(|(_, result)| result.clone())
                .chain(std::iter::once(signature.clone()))
                .find(Result::is_err)
                .unwrap_or(Ok(()));
            trace.attempts.push(Attempt {
                provider: provider.name.clone(),
                audiences: audiences.map(<[String]>::to_vec),
                checks,
                keys,
                signature,
                result,
            });
        }
        trace
    }
}

/// The (provider, audiences) pairs a requirement may check, and whether it checks tokens
/// with whichever provider their issuer names (`allow_missing`, `allow_missing_or_failed`).
fn leaves<'r>(
    requirement: &'r Requirement,
    tried: &mut Vec<(usize, Option<&'r [String]>)>,
    any_provider: &mut bool,
) {
    match requirement {
        Requirement::Provider {
            provider,
            audiences,
        } => {
            let pair = (*provider, audiences.as_deref());
            if !tried.contains(&pair) {
                tried.push(pair);
            }
        }
        Requirement::Any { children, .. } | Requirement::All(children) => {
            for child in children {
                leaves(child, tried, any_provider);
            }
        }
        Requirement::AllowMissing | Requirement::AllowMissingOrFailed => *any_provider = true,
        Requirement::Nothing => {}
    }
}

fn place(location: &Location) -> String {
    match location {
        Location::Header { name, .. } => format!("header {name}"),
        Location::Param(name) => format!("query parameter {name}"),
        Location::Cookie(name) => format!("cookie {name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alg::Algorithm;
    use crate::request::headers;
    use crate::testing::{claims, jwk, jwks, token, NOW};
    use serde_json::json;

    fn policy() -> Policy {
        let config = json!({
            "providers": {"p": {
                "issuer": "https://issuer.example",
                "audiences": ["api"],
                "jwks": jwks(&[jwk(Algorithm::ES256, Some("a")), jwk(Algorithm::EdDSA, Some("b"))]),
                "claim_to_headers": [{"header_name": "x-user", "claim_name": "sub"}]
            }},
            "rules": [
                {"match": {"prefix": "/public"}},
                {"match": {"prefix": "/"}, "requires": {"provider_name": "p"},
                 "claims": [{"name": "scope", "contains": "write"}]}
            ]
        });
        Policy::from_json(config.to_string().as_bytes())
            .unwrap()
            .policy
    }

    fn explain(policy: &Policy, path: &str, token: Option<&str>) -> Explanation {
        let bearer = token.map(|t| format!("Bearer {t}"));
        let mut pairs = vec![(":path", path), ("x-user", "root")];
        if let Some(bearer) = &bearer {
            pairs.push(("authorization", bearer));
        }
        let h = headers(&pairs);
        policy.explain(&Request::new(&h), NOW)
    }

    #[test]
    fn a_good_token_shows_every_check_passing_and_the_key_that_verified() {
        let p = policy();
        let t = token(
            Algorithm::ES256,
            Some("a"),
            &claims(json!({"aud": "api", "scope": "read write"})),
        );
        let e = explain(&p, "/orders", Some(&t));
        assert!(matches!(e.verdict, Verdict::Allow(_)));
        assert_eq!(e.rule, Some(1));
        assert_eq!(e.spoofed_outputs, ["x-user"]);
        let token = &e.tokens[0];
        assert_eq!(
            token.found_in,
            [("p".into(), "header authorization".into())]
        );
        assert_eq!(token.header.as_ref().unwrap()["kid"], "a");
        let attempt = &token.attempts[0];
        assert!(attempt.checks.iter().all(|(_, r)| r.is_ok()));
        let outcomes: Vec<KeyOutcome> = attempt.keys.iter().map(|k| k.outcome).collect();
        assert_eq!(outcomes, [KeyOutcome::Valid, KeyOutcome::OtherAlgorithm]);
        assert_eq!(e.conditions.len(), 1);
        assert_eq!(e.conditions[0].condition, "scope contains \"write\"");
        assert!(e.conditions[0].result.is_ok());
    }

    #[test]
    fn every_failing_check_is_shown_and_the_verdict_is_the_first() {
        let p = policy();
        let t = token(
            Algorithm::ES256,
            Some("a"),
            &claims(json!({"iss": "https://other", "aud": "web", "exp": NOW - 3600.0})),
        );
        let e = explain(&p, "/orders", Some(&t));
        let Verdict::Deny { reason, .. } = &e.verdict else {
            panic!("denied")
        };
        assert_eq!(reason, &Reason::UnknownIssuer);
        let attempt = &e.tokens[0].attempts[0];
        let failed: Vec<&str> = attempt
            .checks
            .iter()
            .filter(|(_, r)| r.is_err())
            .map(|(name, _)| *name)
            .collect();
        assert_eq!(failed, ["issuer", "time", "audiences"]);
        assert_eq!(attempt.result, Err(Reason::UnknownIssuer));
        assert!(
            e.conditions.is_empty(),
            "no condition runs on a token that failed"
        );
    }

    #[test]
    fn an_unknown_kid_tries_no_key_and_no_rule_needs_no_token() {
        let p = policy();
        let t = token(Algorithm::ES256, Some("zz"), &claims(json!({"aud": "api"})));
        let e = explain(&p, "/orders", Some(&t));
        let attempt = &e.tokens[0].attempts[0];
        assert_eq!(attempt.signature, Err(Reason::NoMatchingKey));
        assert_eq!(attempt.keys[0].outcome, KeyOutcome::OtherKid);

        let public = explain(&p, "/public/x", None);
        assert_eq!((public.rule, public.requires), (Some(0), false));
        assert!(matches!(public.verdict, Verdict::NotRequired(_)));
    }
}
