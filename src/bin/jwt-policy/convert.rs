//! `convert`: Istio `RequestAuthentication` and `AuthorizationPolicy` resources turned into
//! one plugin configuration, for users moving from Istio's JWT handling.
//!
//! Semantics kept: a `RequestAuthentication` alone requires no token, but a token that is
//! present must verify (`allow_missing`); an ALLOW `AuthorizationPolicy` rule with
//! `requestPrincipals` is what requires one. Each `to.operation.paths` entry becomes a rule,
//! and the rest of the paths get `allow_missing`. What has no equivalent is named with its
//! field; the conversion then fails unless `--lenient`, which leaves it out.

use crate::document::{read_text, yaml_documents};
use crate::{yaml11, Failure, Output};
use clap::Args;
use jwt_policy::policy::Policy;
use serde_json::{json, Map, Value};
use std::path::PathBuf;

/// Convert Istio RequestAuthentication and AuthorizationPolicy YAML into a configuration.
///
/// FILE holds one or more YAML documents. jwtRules become providers (jwks inline, jwksUri as
/// remote_jwks through Istio's outbound|PORT||HOST cluster), requestPrincipals the rules'
/// requirements, and when conditions on request.auth.claims[...], request.auth.audiences
/// and request.auth.presenter claim conditions: equals_any (a string claim equals a value,
/// or a list claim holds one), or contains_any for scope, permission and the
/// spaceDelimitedClaims, whose strings Istio splits on spaces. Every field that cannot be
/// translated, and every pair of overlapping rules first-match cannot decide as Istio
/// does, is named on stderr, and the exit code is 1 unless --lenient.
#[derive(Args)]
pub struct ConvertArgs {
    /// The Istio YAML (several documents allowed), or - for stdin
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Leave out what cannot be translated (still named on stderr) instead of failing: an
    /// AuthorizationPolicy rule with such a field then denies what it matches
    #[arg(long)]
    lenient: bool,
}

/// What the conversion found: the parts made, what it could not translate, and what the
/// user should know although it translated.
#[derive(Default)]
struct Conversion {
    providers: Map<String, Value>,
    /// (issuer, provider name), to resolve request principals.
    issuers: Vec<(String, String)>,
    /// Each jwtRule's `spaceDelimitedClaims`, whose strings Istio splits on spaces (as it
    /// always does `scope` and `permission`).
    space_delimited: Vec<Vec<String>>,
    /// RequestAuthentication names used more than once: their providers take the namespace.
    clashing_names: Vec<String>,
    /// Providers named twice, which would have replaced one another.
    clashing_providers: Vec<String>,
    /// (where in the input, rule).
    rules: Vec<(String, Value)>,
    untranslated: Vec<String>,
    notes: Vec<String>,
}

pub fn convert(args: &ConvertArgs) -> Result<Output, Failure> {
    let text = read_text(&args.file)?;
    let bare = yaml11::misread_scalars(&text, &["forwardOriginalToken"]);
    if !bare.is_empty() {
        return Err(Failure::refused(format!(
            "{}: bare scalars kubectl reads as YAML 1.1 does, as booleans or numbers, not strings (quote them, or write true or false): {}",
            args.file.display(),
            bare.join(", ")
        )));
    }
    // `kubectl get -o yaml` writes several resources as one `kind: List` with `items`.
    let documents: Vec<Value> = yaml_documents(&text)?
        .into_iter()
        .flat_map(
            |document| match document.get("kind").and_then(Value::as_str) {
                Some("List") => document
                    .get("items")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
                _ => vec![document],
            },
        )
        .collect();
    let mut conversion = Conversion::default();
    let name_of = |document: &Value| {
        document
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("unnamed")
            .to_string()
    };
    let authentication_names: Vec<String> = documents
        .iter()
        .filter(|d| d.get("kind").and_then(Value::as_str) == Some("RequestAuthentication"))
        .map(name_of)
        .collect();
    conversion.clashing_names = authentication_names
        .iter()
        .filter(|name| authentication_names.iter().filter(|n| n == name).count() > 1)
        .cloned()
        .collect();
    let mut policies = Vec::new();
    for (i, document) in documents.iter().enumerate() {
        let kind = document.get("kind").and_then(Value::as_str).unwrap_or("");
        let name = name_of(document);
        let at = format!("document {} ({kind} {name})", i + 1);
        match kind {
            "RequestAuthentication" => {
                // Same-named resources of different namespaces keep apart as namespace.name.
                let namespace = document
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str);
                let provider = match namespace {
                    Some(namespace) if conversion.clashing_names.contains(&name) => {
                        format!("{namespace}.{name}")
                    }
                    _ => name.clone(),
                };
                conversion.request_authentication(document, &provider, &at);
            }
            "AuthorizationPolicy" => policies.push((document, at)),
            _ => conversion.untranslated.push(format!(
                "{at}: kind: only RequestAuthentication and AuthorizationPolicy convert"
            )),
        }
    }
    if !conversion.clashing_providers.is_empty() {
        return Err(Failure::refused(format!(
            "{}: two RequestAuthentications make the provider {} (give them different names or namespaces)",
            args.file.display(),
            conversion.clashing_providers.join(", ")
        )));
    }
    if conversion.providers.is_empty() {
        return Err(Failure::refused(format!(
            "{}: no RequestAuthentication with jwtRules",
            args.file.display()
        )));
    }
    for (policy, at) in policies {
        conversion.authorization_policy(policy, &at);
    }
    conversion.order_rules();
    // Every other request: no token needed, but one that is present must verify.
    let mut rules: Vec<Value> = conversion.rules.into_iter().map(|(_, rule)| rule).collect();
    rules.push(json!({"match": {"prefix": "/"}, "requires": {"allow_missing": {}}}));
    let config = json!({"providers": conversion.providers, "rules": rules});
    if let Err(error) = Policy::from_json(config.to_string().as_bytes()) {
        return Err(Failure::refused(format!(
            "the converted configuration is refused: {error}"
        )));
    }
    let mut warnings: Vec<String> = conversion
        .untranslated
        .iter()
        .map(|line| format!("not translated: {line}"))
        .collect();
    if !warnings.is_empty() && !args.lenient {
        warnings.push(
            "nothing written; --lenient writes it anyway, a rule with an untranslated field denying what it matches"
                .into(),
        );
        return Err(Failure::refused(warnings.join("\n")));
    }
    warnings.extend(conversion.notes.iter().map(|line| format!("note: {line}")));
    Ok(Output {
        stdout: serde_json::to_string_pretty(&config).map_err(|e| e.to_string())?,
        warnings,
        code: 0,
    })
}

/// The members of an object; an absent or non-object value has none.
fn members(value: Option<&Value>) -> impl Iterator<Item = (&String, &Value)> {
    value.and_then(Value::as_object).into_iter().flatten()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

impl Conversion {
    fn request_authentication(&mut self, document: &Value, name: &str, at: &str) {
        for (field, value) in members(document.get("spec")) {
            match field.as_str() {
                "jwtRules" => {
                    let rules = value.as_array().map(Vec::as_slice).unwrap_or_default();
                    for (i, rule) in rules.iter().enumerate() {
                        let provider = if rules.len() == 1 {
                            name.to_string()
                        } else {
                            format!("{name}-{i}")
                        };
                        self.jwt_rule(rule, &provider, &format!("{at}: spec.jwtRules[{i}]"));
                    }
                }
                "selector" | "targetRef" | "targetRefs" => self.notes.push(format!(
                    "{at}: spec.{field} picks workloads: put it on the WasmPlugin, not in its pluginConfig"
                )),
                _ => self.untranslated.push(format!("{at}: spec.{field}")),
            }
        }
    }

    fn jwt_rule(&mut self, rule: &Value, name: &str, at: &str) {
        let mut provider = Map::new();
        let mut timeout = None;
        for (field, value) in members(Some(rule)) {
            let mut set = |key: &str, value: Value| {
                provider.insert(key.to_string(), value);
            };
            match field.as_str() {
                "issuer" => {
                    if let Some(issuer) = value.as_str() {
                        self.issuers.push((issuer.to_string(), name.to_string()));
                    }
                    set("issuer", value.clone());
                }
                "audiences" => set("audiences", value.clone()),
                "jwks" => set("local_jwks", json!({ "inline_string": value })),
                "jwksUri" | "jwks_uri" => match remote_jwks(value.as_str().unwrap_or("")) {
                    Some(remote) => {
                        self.notes.push(format!(
                            "{at}.{field}: fetched by the plugin through the Envoy cluster {} (a ServiceEntry for its host makes it)",
                            remote
                                .pointer("/http_uri/cluster")
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                        ));
                        set("remote_jwks", remote);
                    }
                    None => self
                        .untranslated
                        .push(format!("{at}.{field}: not an http:// or https:// URL")),
                },
                "timeout" => timeout = Some(value.clone()),
                "fromHeaders" => {
                    let headers: Vec<Value> = value
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|h| {
                            let mut header =
                                json!({"name": h.get("name").cloned().unwrap_or_default()});
                            if let (Some(prefix), Some(object)) =
                                (h.get("prefix"), header.as_object_mut())
                            {
                                object.insert("value_prefix".into(), prefix.clone());
                            }
                            header
                        })
                        .collect();
                    set("from_headers", json!(headers));
                }
                "fromParams" => set("from_params", value.clone()),
                "fromCookies" => set("from_cookies", value.clone()),
                "outputPayloadToHeader" => set("forward_payload_header", value.clone()),
                "outputClaimToHeaders" => {
                    let entries: Vec<Value> = value
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|e| json!({"header_name": e.get("header"), "claim_name": e.get("claim")}))
                        .collect();
                    set("claim_to_headers", json!(entries));
                }
                "forwardOriginalToken" => match yaml11::boolean(value) {
                    Some(forward) => set("forward", json!(forward)),
                    None => self
                        .untranslated
                        .push(format!("{at}.{field}: {value} is not a boolean")),
                },
                "spaceDelimitedClaims" => self.space_delimited.push(strings(value)),
                _ => self.untranslated.push(format!("{at}.{field}")),
            }
        }
        if let Some(timeout) = timeout {
            match provider
                .get_mut("remote_jwks")
                .and_then(|remote| remote.get_mut("http_uri"))
                .and_then(Value::as_object_mut)
            {
                Some(http_uri) => {
                    http_uri.insert("timeout".into(), timeout);
                }
                None => self
                    .notes
                    .push(format!("{at}.timeout: no jwksUri to fetch, left out")),
            }
        }
        if self
            .providers
            .insert(name.to_string(), Value::Object(provider))
            .is_some()
        {
            self.clashing_providers.push(format!("\"{name}\""));
        }
    }

    fn authorization_policy(&mut self, document: &Value, at: &str) {
        let spec = document.get("spec");
        for (field, value) in members(spec) {
            match field.as_str() {
                "rules" => {}
                "action" if value.as_str() == Some("ALLOW") => {}
                "selector" | "targetRef" | "targetRefs" => self.notes.push(format!(
                    "{at}: spec.{field} picks workloads: put it on the WasmPlugin, not in its pluginConfig"
                )),
                _ => self.untranslated.push(format!(
                    "{at}: spec.{field}{}",
                    if field == "action" { " (only ALLOW converts)" } else { "" }
                )),
            }
        }
        let action = spec.and_then(|s| s.get("action")).and_then(Value::as_str);
        if action.is_some_and(|action| action != "ALLOW") {
            return;
        }
        self.notes.push(format!(
            "{at}: Istio denies what no ALLOW rule matches; the plugin lets it through (with allow_missing), so keep an AuthorizationPolicy for that"
        ));
        let rules = spec
            .and_then(|s| s.get("rules"))
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for (i, rule) in rules.iter().enumerate() {
            self.authorization_rule(rule, &format!("{at}: spec.rules[{i}]"));
        }
    }

    fn authorization_rule(&mut self, rule: &Value, at: &str) {
        let untranslated_before = self.untranslated.len();
        let mut requirements = Vec::new();
        let mut claims = Vec::new();
        let mut matches = Vec::new();
        let mut headers = Vec::new();
        for (field, value) in members(Some(rule)) {
            match field.as_str() {
                "from" => {
                    for (s, from) in value.as_array().into_iter().flatten().enumerate() {
                        self.source(
                            from,
                            &format!("{at}.from[{s}]"),
                            &mut requirements,
                            &mut claims,
                        );
                    }
                }
                "to" => {
                    for (t, to) in value.as_array().into_iter().flatten().enumerate() {
                        self.operation(to, &format!("{at}.to[{t}]"), &mut matches);
                    }
                }
                "when" => {
                    for (w, condition) in value.as_array().into_iter().flatten().enumerate() {
                        self.when(
                            condition,
                            &format!("{at}.when[{w}]"),
                            &mut claims,
                            &mut headers,
                        );
                    }
                }
                _ => self.untranslated.push(format!("{at}.{field}")),
            }
        }
        if matches.is_empty() {
            matches.push(json!({"prefix": "/"}));
        }
        // Claims need a verified token even where no principal is named: Istio's condition
        // fails on a request without one.
        // Left out, a restriction would let more through than Istio does (and without the
        // rule its requests would reach the allow_missing rule for all paths), so under
        // --lenient the rule denies what it matches instead: two conditions no token meets.
        let restriction_left_out = self.untranslated.len() > untranslated_before;
        if restriction_left_out {
            self.notes.push(format!(
                "{at}: has what cannot be translated, so it denies every request it matches"
            ));
            requirements = vec![self.any_provider()];
            claims = vec![
                json!({"name": "iss", "present": true}),
                json!({"name": "iss", "present": false}),
            ];
        }
        let requires = match requirements.len() {
            0 if claims.is_empty() => json!({"allow_missing": {}}),
            0 => self.any_provider(),
            1 => requirements.pop().unwrap_or_default(),
            _ => json!({"requires_any": {"requirements": requirements}}),
        };
        for mut route in matches {
            if !headers.is_empty() {
                if let Some(object) = route.as_object_mut() {
                    let existing = object.remove("headers").and_then(|h| h.as_array().cloned());
                    let all: Vec<Value> = existing
                        .unwrap_or_default()
                        .into_iter()
                        .chain(headers.iter().cloned())
                        .collect();
                    object.insert("headers".into(), json!(all));
                }
            }
            let mut rule = json!({"match": route, "requires": requires});
            if let (false, Some(object)) = (claims.is_empty(), rule.as_object_mut()) {
                object.insert("claims".into(), json!(claims));
            }
            self.rules.push((at.to_string(), rule));
        }
    }

    /// Istio allows a request when any ALLOW rule matches it; here the first matching rule
    /// decides. Most specific first (exact paths, then regexes, then longer prefixes) puts a
    /// rule before those its paths nest in, but a request both match is then decided by the
    /// first alone: the same as Istio only when the first lets everything through or both
    /// ask the same. Other overlaps cannot be translated exactly.
    fn order_rules(&mut self) {
        let specificity = |(_, rule): &(String, Value)| {
            let route = rule.get("match");
            let text = |key| route.and_then(|r| r.get(key)).and_then(Value::as_str);
            match (
                text("path"),
                route.and_then(|r| r.get("safe_regex")),
                text("prefix"),
            ) {
                (Some(_), _, _) => (0, 0),
                (None, Some(_), _) => (1, 0),
                (None, None, prefix) => (2, usize::MAX - prefix.map_or(0, str::len)),
            }
        };
        self.rules.sort_by_key(specificity);
        let decision = |rule: &Value| (rule.get("requires").cloned(), rule.get("claims").cloned());
        let allows_all = |rule: &Value| {
            rule.get("requires") == Some(&json!({"allow_missing": {}}))
                && rule.get("claims").is_none()
        };
        for (i, (first_at, first)) in self.rules.iter().enumerate() {
            for (later_at, later) in self.rules.iter().skip(i + 1) {
                if overlap(first.get("match"), later.get("match"))
                    && !allows_all(first)
                    && decision(first) != decision(later)
                {
                    self.untranslated.push(format!(
                        "{first_at} and {later_at}: cannot be translated exactly: a request both match gets only the first's answer, where Istio allows what either allows"
                    ));
                }
            }
        }
    }

    fn any_provider(&self) -> Value {
        let names: Vec<Value> = self
            .providers
            .keys()
            .map(|name| json!({ "provider_name": name }))
            .collect();
        match names.as_slice() {
            [one] => one.clone(),
            _ => json!({"requires_any": {"requirements": names}}),
        }
    }

    /// `from[].source`: `requestPrincipals` ("ISS/SUB", "ISS/*", "*") say which provider's
    /// token is required, and a specific subject becomes a condition on `sub`.
    fn source(
        &mut self,
        from: &Value,
        at: &str,
        requirements: &mut Vec<Value>,
        claims: &mut Vec<Value>,
    ) {
        for (field, value) in members(from.get("source")) {
            if field != "requestPrincipals" {
                self.untranslated.push(format!("{at}.source.{field}"));
                continue;
            }
            // (issuer, subject) pairs; Istio compares both whole, and `ISS/*` (or `*`) lets
            // every subject of that issuer (or of all) through.
            let mut subjects: Vec<(String, String)> = Vec::new();
            let mut any_subject_of: Vec<String> = Vec::new();
            let mut any_principal = false;
            for (p, principal) in strings(value).iter().enumerate() {
                let field = format!("{at}.source.requestPrincipals[{p}]");
                if principal == "*" {
                    requirements.push(self.any_provider());
                    any_principal = true;
                    continue;
                }
                let Some((issuer, subject)) = principal.rsplit_once('/') else {
                    self.untranslated
                        .push(format!("{field}: \"{principal}\" is not ISSUER/SUBJECT"));
                    continue;
                };
                // Every provider of that issuer (one per namespace, say) verifies its tokens.
                let providers: Vec<Value> = self
                    .issuers
                    .iter()
                    .filter(|(iss, _)| iss == issuer)
                    .map(|(_, provider)| json!({ "provider_name": provider }))
                    .collect();
                let requirement = match providers.as_slice() {
                    [] => {
                        self.untranslated
                            .push(format!("{field}: no jwtRule has the issuer \"{issuer}\""));
                        continue;
                    }
                    [one] => one.clone(),
                    _ => json!({"requires_any": {"requirements": providers}}),
                };
                if !requirements.contains(&requirement) {
                    requirements.push(requirement);
                }
                if subject == "*" {
                    any_subject_of.push(issuer.to_string());
                } else {
                    subjects.push((issuer.to_string(), subject.to_string()));
                }
            }
            subjects.retain(|(issuer, _)| !any_principal && !any_subject_of.contains(issuer));
            if !subjects.is_empty() {
                if requirements.len() > 1 {
                    self.untranslated.push(format!(
                        "{at}.source.requestPrincipals: subjects of several issuers (a condition on sub cannot tell them apart)"
                    ));
                } else {
                    let names: Vec<String> = subjects.into_iter().map(|(_, sub)| sub).collect();
                    claims.push(json!({"name": "sub", "equals_any": names}));
                }
            }
        }
    }

    /// `to[].operation`: `paths` become route matches, `methods` a `:method` header matcher.
    fn operation(&mut self, to: &Value, at: &str, matches: &mut Vec<Value>) {
        let mut paths = Vec::new();
        let mut method = None;
        for (field, value) in members(to.get("operation")) {
            match field.as_str() {
                "paths" => {
                    for (p, path) in strings(value).iter().enumerate() {
                        match route(path) {
                            Some(route) => paths.push(route),
                            None => self.untranslated.push(format!(
                                "{at}.operation.paths[{p}]: \"{path}\" (only exact, prefix* , *suffix and *)"
                            )),
                        }
                    }
                }
                "methods" => method = Some(alternatives(":method", &strings(value))),
                _ => self.untranslated.push(format!("{at}.operation.{field}")),
            }
        }
        if paths.is_empty() {
            paths.push(json!({"prefix": "/"}));
        }
        for mut path in paths {
            if let (Some(method), Some(object)) = (&method, path.as_object_mut()) {
                object.insert("headers".into(), json!([method]));
            }
            matches.push(path);
        }
    }

    /// `when[]`: conditions on the verified claims, or on request headers.
    fn when(
        &mut self,
        condition: &Value,
        at: &str,
        claims: &mut Vec<Value>,
        headers: &mut Vec<Value>,
    ) {
        let key = condition.get("key").and_then(Value::as_str).unwrap_or("");
        if condition.get("notValues").is_some() {
            self.untranslated
                .push(format!("{at}.notValues (no negated claim condition)"));
            return;
        }
        let values = condition.get("values").map(strings).unwrap_or_default();
        if values.iter().any(|v| v.contains('*')) {
            self.untranslated.push(format!("{at}.values: wildcards"));
            return;
        }
        let claim = if let Some(path) = key.strip_prefix("request.auth.claims[") {
            // request.auth.claims[realm_access][roles] is the nested claim realm_access.roles.
            Some(
                path.trim_end_matches(']')
                    .split("][")
                    .collect::<Vec<_>>()
                    .join("."),
            )
        } else {
            match key {
                "request.auth.audiences" => Some("aud".to_string()),
                "request.auth.presenter" => Some("azp".to_string()),
                _ => None,
            }
        };
        match (claim, key.strip_prefix("request.headers[")) {
            (Some(claim), _) => {
                // Istio splits only the space-delimited claims; any other string is compared
                // whole, so "mallory alice" is not "alice". A condition cannot tell which
                // provider's token it reads, so a claim only some jwtRules split is compared
                // whole, which lets less through.
                let listed_by = self
                    .space_delimited
                    .iter()
                    .filter(|claims| claims.contains(&claim))
                    .count();
                let every_rule = self.issuers.len();
                let split = ["scope", "permission"].contains(&claim.as_str())
                    || (listed_by > 0 && listed_by == every_rule);
                if listed_by > 0 && !split {
                    self.notes.push(format!(
                        "{at}: {claim} is in spaceDelimitedClaims of only some jwtRules, so it is compared whole"
                    ));
                }
                let test = if split { "contains_any" } else { "equals_any" };
                claims.push(json!({"name": claim, test: values}));
            }
            (None, Some(header)) => {
                headers.push(alternatives(
                    &header.trim_end_matches(']').to_ascii_lowercase(),
                    &values,
                ));
            }
            (None, None) => self.untranslated.push(format!("{at}.key: {key}")),
        }
    }
}

/// Whether some request path can match both route matches. A regex (`*suffix`) is taken to
/// meet every other match, and headers (methods) are not compared: both can only report an
/// overlap too many.
fn overlap(first: Option<&Value>, later: Option<&Value>) -> bool {
    fn path_or_prefix(route: Option<&Value>) -> Option<(&str, bool)> {
        let text = |key| route.and_then(|r| r.get(key)).and_then(Value::as_str);
        match (text("path"), text("prefix")) {
            (Some(path), _) => Some((path, false)),
            (None, Some(prefix)) => Some((prefix, true)),
            (None, None) => None,
        }
    }
    match (path_or_prefix(first), path_or_prefix(later)) {
        (Some((a, false)), Some((b, false))) => a == b,
        (Some((path, false)), Some((prefix, true)))
        | (Some((prefix, true)), Some((path, false))) => path.starts_with(prefix),
        (Some((a, true)), Some((b, true))) => a.starts_with(b) || b.starts_with(a),
        _ => true,
    }
}

/// An Istio path pattern as a route match: exact, `prefix*`, `*suffix`, or `*`.
fn route(path: &str) -> Option<Value> {
    if path == "*" {
        return Some(json!({"prefix": "/"}));
    }
    if let Some(prefix) = path.strip_suffix('*').filter(|p| !p.contains('*')) {
        return Some(json!({ "prefix": prefix }));
    }
    if let Some(suffix) = path.strip_prefix('*').filter(|s| !s.contains('*')) {
        return Some(json!({"safe_regex": {"regex": format!(".*{}", regex_escape(suffix))}}));
    }
    (!path.contains('*')).then(|| json!({ "path": path }))
}

/// A header matcher for one of `values`.
fn alternatives(name: &str, values: &[String]) -> Value {
    match values {
        [one] => json!({"name": name, "exact_match": one}),
        _ => {
            let escaped: Vec<String> = values.iter().map(|v| regex_escape(v)).collect();
            json!({"name": name, "safe_regex_match": {"regex": escaped.join("|")}})
        }
    }
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$#&-~".contains(c);
            special
                .then_some('\\')
                .into_iter()
                .chain(std::iter::once(c))
        })
        .collect()
}

/// `remote_jwks` for an Istio `jwksUri`, through the cluster Istio names for its host.
fn remote_jwks(uri: &str) -> Option<Value> {
    let (scheme, rest) = uri.split_once("://")?;
    let default_port = match scheme {
        "https" => 443,
        "http" => 80,
        _ => return None,
    };
    let authority = rest.split('/').next().filter(|a| !a.is_empty())?;
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (host, port.parse().ok()?),
        None => (authority, default_port),
    };
    Some(json!({"http_uri": {"uri": uri, "cluster": format!("outbound|{port}||{host}")}}))
}
