//! One-line descriptions of configuration parts, for `validate`'s summary and `explain`.

use jwt_policy::config::{JwtRequirement, RequirementRule, RouteMatch};
use jwt_policy::provider::{Keys, Provider};

/// `prefix /api, 1 header matcher`.
pub fn route(route: &RouteMatch) -> String {
    let path = [
        route.prefix.as_ref().map(|p| format!("prefix {p}")),
        route.path.as_ref().map(|p| format!("path {p}")),
        route
            .safe_regex
            .as_ref()
            .map(|r| format!("regex {}", r.regex)),
        route
            .path_separated_prefix
            .as_ref()
            .map(|p| format!("path_separated_prefix {p}")),
    ]
    .into_iter()
    .flatten()
    .next()
    .unwrap_or_else(|| "any path".into());
    let mut parts = vec![path];
    if !route.headers.is_empty() {
        parts.push(format!("{} header matcher(s)", route.headers.len()));
    }
    if !route.query_parameters.is_empty() {
        parts.push(format!(
            "{} query parameter matcher(s)",
            route.query_parameters.len()
        ));
    }
    parts.join(", ")
}

/// `provider_name idp`, `requires_any [provider_name a, allow_missing]`, ...
pub fn requirement(requirement: &JwtRequirement) -> String {
    let list = |name: &str, requirements: &[JwtRequirement]| {
        let inner: Vec<String> = requirements.iter().map(self::requirement).collect();
        format!("{name} [{}]", inner.join(", "))
    };
    if let Some(name) = &requirement.provider_name {
        format!("provider_name {name}")
    } else if let Some(with) = &requirement.provider_and_audiences {
        format!(
            "provider_and_audiences {} {:?}",
            with.provider_name, with.audiences
        )
    } else if let Some(any) = &requirement.requires_any {
        list("requires_any", &any.requirements)
    } else if let Some(all) = &requirement.requires_all {
        list("requires_all", &all.requirements)
    } else if requirement.allow_missing.is_some() {
        "allow_missing".into()
    } else if requirement.allow_missing_or_failed.is_some() {
        "allow_missing_or_failed".into()
    } else {
        "nothing".into()
    }
}

/// What a rule asks for: `requires provider_name idp, 1 claim condition(s)`.
pub fn rule_requirement(rule: &RequirementRule) -> String {
    let requires = match (&rule.requires, &rule.requirement_name) {
        (Some(requires), _) => format!("requires {}", requirement(requires)),
        (None, Some(name)) => format!("requirement_name {name}"),
        (None, None) => "no token required".into(),
    };
    if rule.claims.is_empty() {
        requires
    } else {
        format!("{requires}, {} claim condition(s)", rule.claims.len())
    }
}

/// `issuer https://idp, 2 keys (kid a: ES256; kid b: RS256 RS384 ...)`.
pub fn provider(provider: &Provider) -> String {
    let issuer = match &provider.issuer {
        Some(issuer) => format!("issuer {issuer}"),
        None => "any issuer".into(),
    };
    let keys = match &provider.keys {
        Keys::Local(set) => {
            let keys: Vec<String> = set
                .keys()
                .iter()
                .map(|key| {
                    let algs: Vec<&str> = key.algorithms.iter().map(|a| a.name()).collect();
                    format!(
                        "kid {}: {}",
                        key.kid.as_deref().unwrap_or("(none)"),
                        algs.join(" ")
                    )
                })
                .collect();
            format!("{} key(s) ({})", set.len(), keys.join("; "))
        }
        Keys::Remote(remote) => format!(
            "remote key set {}://{}{} (fetched by the plugin)",
            remote.scheme, remote.authority, remote.path
        ),
    };
    format!("{issuer}, {keys}")
}
