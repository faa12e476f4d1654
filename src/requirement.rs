//! What a rule requires (`JwtRequirement`), compiled into a tree, and its evaluation over the
//! tokens of one request, with Envoy's semantics for each node.

use crate::config::{self, ConfigError};
use crate::jws::Jws;
use crate::key::SignatureHost;
use crate::provider::Provider;
use crate::reason::Reason;
use crate::request::Request;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::rc::Rc;

#[derive(Debug, Clone)]
pub enum Requirement {
    /// `provider_name`, or `provider_and_audiences` with the audiences that replace the
    /// provider's own.
    Provider {
        provider: usize,
        audiences: Option<Vec<String>>,
    },
    /// `requires_any`. `allow_missing` and `allow_missing_or_failed` in the list are flags on
    /// the whole list, as in Envoy, not children.
    Any {
        children: Vec<Requirement>,
        allow_missing: bool,
        allow_failed: bool,
    },
    /// `requires_all`.
    All(Vec<Requirement>),
    /// `allow_missing`: no token is fine; a token present must verify.
    AllowMissing,
    /// `allow_missing_or_failed`: always passes; tokens that verify are still forwarded.
    AllowMissingOrFailed,
    /// An empty requirement inside a list: always passes.
    Nothing,
}

/// Compiles requirements against the provider names and the named requirements.
pub struct Compiler<'c> {
    pub provider_index: &'c BTreeMap<&'c str, usize>,
    pub requirement_map: &'c BTreeMap<String, config::JwtRequirement>,
}

impl Compiler<'_> {
    /// `None` for an empty requirement: nothing is required.
    pub fn compile(
        &self,
        config: &config::JwtRequirement,
        path: &str,
    ) -> Result<Option<Requirement>, ConfigError> {
        self.compile_at(config, path, 0)
    }

    fn compile_at(
        &self,
        config: &config::JwtRequirement,
        path: &str,
        depth: usize,
    ) -> Result<Option<Requirement>, ConfigError> {
        if depth > 16 {
            return Err(ConfigError::at(
                path,
                "requirements nested deeper than 16 levels",
            ));
        }
        if config.extract_only_without_validation.is_some() {
            return Err(ConfigError::at(
                format!("{path}.extract_only_without_validation"),
                "not supported by this plugin: forwarding claims of a token nobody verified defeats the filter",
            ));
        }
        let set = [
            config.provider_name.is_some(),
            config.provider_and_audiences.is_some(),
            config.requires_any.is_some(),
            config.requires_all.is_some(),
            config.allow_missing_or_failed.is_some(),
            config.allow_missing.is_some(),
        ];
        if set.iter().filter(|s| **s).count() > 1 {
            return Err(ConfigError::at(
                path,
                "set only one of provider_name, provider_and_audiences, requires_any, requires_all, \
                 allow_missing, allow_missing_or_failed",
            ));
        }
        if let Some(name) = &config.provider_name {
            return Ok(Some(Requirement::Provider {
                provider: self.provider(name, &format!("{path}.provider_name"))?,
                audiences: None,
            }));
        }
        if let Some(with) = &config.provider_and_audiences {
            let audiences = with
                .audiences
                .iter()
                .map(|a| crate::claims::normalize_audience(a).to_string())
                .collect();
            return Ok(Some(Requirement::Provider {
                provider: self.provider(
                    &with.provider_name,
                    &format!("{path}.provider_and_audiences.provider_name"),
                )?,
                audiences: Some(audiences),
            }));
        }
        if let Some(list) = &config.requires_any {
            let at = format!("{path}.requires_any.requirements");
            let mut children = Vec::new();
            let (mut allow_missing, mut allow_failed) = (false, false);
            for (i, child) in self.list(list, &at)?.iter().enumerate() {
                match self.compile_at(child, &format!("{at}[{i}]"), depth + 1)? {
                    Some(Requirement::AllowMissing) => allow_missing = true,
                    Some(Requirement::AllowMissingOrFailed) => allow_failed = true,
                    Some(requirement) => children.push(requirement),
                    None => children.push(Requirement::Nothing),
                }
            }
            if children.is_empty() {
                return Ok(Some(if allow_failed {
                    Requirement::AllowMissingOrFailed
                } else {
                    Requirement::AllowMissing
                }));
            }
            return Ok(Some(Requirement::Any {
                children,
                allow_missing,
                allow_failed,
            }));
        }
        if let Some(list) = &config.requires_all {
            let at = format!("{path}.requires_all.requirements");
            let children = self
                .list(list, &at)?
                .iter()
                .enumerate()
                .map(|(i, child)| {
                    Ok(self
                        .compile_at(child, &format!("{at}[{i}]"), depth + 1)?
                        .unwrap_or(Requirement::Nothing))
                })
                .collect::<Result<_, ConfigError>>()?;
            return Ok(Some(Requirement::All(children)));
        }
        if config.allow_missing_or_failed.is_some() {
            return Ok(Some(Requirement::AllowMissingOrFailed));
        }
        if config.allow_missing.is_some() {
            return Ok(Some(Requirement::AllowMissing));
        }
        Ok(None)
    }

    fn provider(&self, name: &str, path: &str) -> Result<usize, ConfigError> {
        self.provider_index.get(name).copied().ok_or_else(|| {
            ConfigError::at(
                path,
                format!("required provider [\"{name}\"] is not configured"),
            )
        })
    }

    fn list<'l>(
        &self,
        list: &'l config::RequirementList,
        path: &str,
    ) -> Result<&'l [config::JwtRequirement], ConfigError> {
        if list.requirements.len() < 2 {
            return Err(ConfigError::at(path, "needs at least 2 requirements"));
        }
        Ok(&list.requirements)
    }
}

/// A token found in the request, with every (provider, location) that holds it.
#[derive(Debug)]
pub struct FoundToken<'r> {
    pub token: Cow<'r, str>,
    pub places: Vec<(usize, usize)>,
}

/// All tokens of one request, for every provider.
#[derive(Debug, Default)]
pub struct RequestTokens<'r> {
    pub found: Vec<FoundToken<'r>>,
    /// For each provider, the distinct tokens in its locations (indices into `found`).
    by_provider: Vec<Vec<usize>>,
}

impl<'r> RequestTokens<'r> {
    pub fn extract(providers: &[Provider], request: &'r Request<'_>) -> RequestTokens<'r> {
        let mut tokens = RequestTokens {
            found: Vec::new(),
            by_provider: vec![Vec::new(); providers.len()],
        };
        for (p, provider) in providers.iter().enumerate() {
            for (l, location) in provider.locations.iter().enumerate() {
                location.find(request, &mut |token| tokens.add(p, l, token));
                // Two different tokens already refuse the request for this provider; a third
                // changes nothing, so a header of ten thousand of them costs one pass.
                if tokens.of(p).len() > 1 {
                    break;
                }
            }
        }
        tokens
    }

    /// The distinct tokens in a provider's locations (indices into `found`).
    pub fn of(&self, provider: usize) -> &[usize] {
        self.by_provider.get(provider).map_or(&[], Vec::as_slice)
    }

    fn add(&mut self, provider: usize, location: usize, token: Cow<'r, str>) -> ControlFlow<()> {
        let index = match self.found.iter().position(|f| f.token == token) {
            Some(index) => index,
            None => {
                self.found.push(FoundToken {
                    token,
                    places: Vec::new(),
                });
                self.found.len() - 1
            }
        };
        if let Some(found) = self.found.get_mut(index) {
            if !found.places.contains(&(provider, location)) {
                found.places.push((provider, location));
            }
        }
        if let Some(distinct) = self.by_provider.get_mut(provider) {
            if !distinct.contains(&index) {
                distinct.push(index);
            }
            if distinct.len() > 1 {
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    }

    fn multiple(&self) -> bool {
        self.by_provider.iter().any(|tokens| tokens.len() > 1)
    }
}

/// A token that verified, and the provider it verified with.
pub type Verified = (usize, usize);

/// One check of a token by a provider, with the audiences that replace the provider's.
type Authentication<'a> = (usize, usize, Option<&'a [String]>);

/// The evaluation of one request: tokens are parsed at most once and each (token, provider,
/// audiences) is authenticated at most once, however often the tree names it.
pub struct Session<'a> {
    providers: &'a [Provider],
    tokens: &'a RequestTokens<'a>,
    parsed: Vec<Option<Result<Rc<Jws>, Reason>>>,
    results: Vec<(Authentication<'a>, Result<(), Reason>)>,
    now: f64,
    host: Option<&'a dyn SignatureHost>,
    /// The first token failure seen, to explain a later refusal that has no reason of its own.
    pub first_failure: Option<Reason>,
    /// Providers whose keys are being fetched (or will be) in a way that may change a
    /// failure seen here.
    pub fetch_wanted: Vec<usize>,
}

impl<'a> Session<'a> {
    pub fn new(
        providers: &'a [Provider],
        tokens: &'a RequestTokens<'a>,
        now: f64,
        host: Option<&'a dyn SignatureHost>,
    ) -> Session<'a> {
        Session {
            providers,
            tokens,
            parsed: (0..tokens.found.len()).map(|_| None).collect(),
            results: Vec::new(),
            now,
            host,
            first_failure: None,
            fetch_wanted: Vec::new(),
        }
    }

    /// The parsed token, parsed at most once per request.
    pub fn jws(&mut self, token: usize) -> Result<Rc<Jws>, Reason> {
        let tokens = self.tokens;
        let (Some(slot), Some(found)) = (self.parsed.get_mut(token), tokens.found.get(token))
        else {
            return Err(Reason::VerificationFailed);
        };
        slot.get_or_insert_with(|| Jws::parse(&found.token).map(Rc::new))
            .clone()
    }

    /// Verified tokens when the requirement is met, or why it is not.
    pub fn evaluate(&mut self, requirement: &'a Requirement) -> Result<Vec<Verified>, Reason> {
        match requirement {
            Requirement::Nothing => Ok(Vec::new()),
            Requirement::Provider {
                provider,
                audiences,
            } => match self.tokens.of(*provider) {
                [] => Err(Reason::Missing),
                [token] => {
                    self.authenticate(*token, *provider, audiences.as_deref())?;
                    Ok(vec![(*token, *provider)])
                }
                _ => Err(Reason::MultipleTokens),
            },
            Requirement::All(children) => {
                let mut verified = Vec::new();
                for child in children {
                    verified.extend(self.evaluate(child)?);
                }
                Ok(verified)
            }
            Requirement::Any {
                children,
                allow_missing,
                allow_failed,
            } => {
                // Envoy reports the last real failure, else an unknown issuer, else missing.
                let mut failure = Reason::Missing;
                for child in children {
                    match self.evaluate(child) {
                        Ok(verified) => return Ok(verified),
                        Err(reason) => {
                            let real = !matches!(reason, Reason::Missing | Reason::UnknownIssuer);
                            if real || failure == Reason::Missing {
                                failure = reason;
                            }
                        }
                    }
                }
                if *allow_failed || (*allow_missing && failure == Reason::Missing) {
                    Ok(Vec::new())
                } else {
                    Err(failure)
                }
            }
            Requirement::AllowMissing => self.every_token(false),
            Requirement::AllowMissingOrFailed => self.every_token(true),
        }
    }

    /// Every token in the request, each checked by the provider its issuer names.
    fn every_token(&mut self, allow_failed: bool) -> Result<Vec<Verified>, Reason> {
        if self.tokens.multiple() {
            return Err(Reason::MultipleTokens);
        }
        let mut verified = Vec::new();
        for token in 0..self.tokens.found.len() {
            let outcome = self
                .provider_for(token)
                .and_then(|provider| self.authenticate(token, provider, None).map(|()| provider));
            match outcome {
                Ok(provider) => verified.push((token, provider)),
                Err(reason) => {
                    self.first_failure.get_or_insert(reason.clone());
                    if !allow_failed {
                        return Err(reason);
                    }
                }
            }
        }
        Ok(verified)
    }

    /// The provider that checks a token found without one requirement naming it: among the
    /// providers whose locations hold it, the one with its issuer, else one without an issuer.
    fn provider_for(&mut self, token: usize) -> Result<usize, Reason> {
        let (providers, tokens) = (self.providers, self.tokens);
        let places = tokens
            .found
            .get(token)
            .map_or(&[][..], |f| f.places.as_slice());
        let issuer = self.jws(token)?.claims.issuer().map(str::to_owned);
        let issuer_of = |p: usize| providers.get(p).map(|provider| provider.issuer.clone());
        let by_issuer = places
            .iter()
            .map(|(p, _)| *p)
            .find(|p| issuer.is_some() && issuer_of(*p) == Some(issuer.clone()));
        by_issuer
            .or_else(|| {
                places
                    .iter()
                    .map(|(p, _)| *p)
                    .find(|p| issuer_of(*p) == Some(None))
            })
            .ok_or(Reason::UnknownIssuer)
    }

    fn authenticate(
        &mut self,
        token: usize,
        provider: usize,
        audiences: Option<&'a [String]>,
    ) -> Result<(), Reason> {
        let key = (token, provider, audiences);
        if let Some((_, result)) = self.results.iter().find(|(k, _)| *k == key) {
            return result.clone();
        }
        let (now, host, tokens, providers) = (self.now, self.host, self.tokens, self.providers);
        let (Some(provider), Some(found)) = (providers.get(provider), tokens.found.get(token))
        else {
            return Err(Reason::VerificationFailed);
        };
        let result = provider
            .authenticate(&found.token, || self.jws(token), audiences, now, host)
            .map(|jws| {
                // A cache hit stands in for parsing the token.
                if let Some(slot) = self.parsed.get_mut(token) {
                    slot.get_or_insert(Ok(jws));
                }
            });
        if let Err(reason) = &result {
            self.first_failure.get_or_insert(reason.clone());
            let index = key.1;
            if !self.fetch_wanted.contains(&index) && provider.fetch_may_help(reason, now) {
                self.fetch_wanted.push(index);
            }
        }
        self.results.push((key, result.clone()));
        result
    }
}
