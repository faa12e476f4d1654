//! Which rule applies to a request: Envoy's `RouteMatch` (path, headers, query parameters) and
//! `StringMatcher`, compiled once. Regexes are full matches, as with RE2 in Envoy; the engine
//! runs in linear time, so a pattern cannot be made to backtrack.

use crate::config::{self, ConfigError};
use crate::request::{query_pairs, text, Request};
use regex_lite::{Regex, RegexBuilder};

/// Longest regex source accepted, to bound compile time and memory.
const MAX_REGEX_LEN: usize = 1024;
/// Largest compiled program accepted, in bytes. Matching takes time linear in the input but
/// proportional to the program, so nested counted repetition (`(?:[a-z]{0,1000}){0,20}`)
/// must be refused up front, as RE2's program size limit does in Envoy.
const MAX_REGEX_PROGRAM: usize = 16 * 1024;

#[derive(Debug, Clone)]
enum Pattern {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Contains(String),
    Regex(Regex),
}

/// `type.matcher.v3.StringMatcher`.
#[derive(Debug, Clone)]
pub struct StringMatcher {
    pattern: Pattern,
    ignore_case: bool,
}

impl StringMatcher {
    pub fn compile(
        config: &config::StringMatcher,
        path: &str,
    ) -> Result<StringMatcher, ConfigError> {
        if config.custom.is_some() {
            return Err(ConfigError::at(
                format!("{path}.custom"),
                "custom matchers are not supported",
            ));
        }
        let ignore_case = config.ignore_case;
        let fold = |text: &str| {
            if ignore_case {
                text.to_ascii_lowercase()
            } else {
                text.to_string()
            }
        };
        let mut patterns = Vec::new();
        if let Some(text) = &config.exact {
            patterns.push(Pattern::Exact(fold(text)));
        }
        if let Some(text) = &config.prefix {
            patterns.push(Pattern::Prefix(fold(text)));
        }
        if let Some(text) = &config.suffix {
            patterns.push(Pattern::Suffix(fold(text)));
        }
        if let Some(text) = &config.contains {
            patterns.push(Pattern::Contains(fold(text)));
        }
        if let Some(regex) = &config.safe_regex {
            patterns.push(Pattern::Regex(compile_regex(
                &regex.regex,
                &format!("{path}.safe_regex.regex"),
            )?));
        }
        match (patterns.pop(), patterns.is_empty()) {
            (Some(pattern), true) => Ok(StringMatcher {
                pattern,
                ignore_case,
            }),
            _ => Err(ConfigError::at(
                path,
                "set exactly one of exact, prefix, suffix, contains, safe_regex",
            )),
        }
    }

    pub fn matches(&self, value: &str) -> bool {
        let folded;
        let value = if self.ignore_case && !matches!(self.pattern, Pattern::Regex(_)) {
            folded = value.to_ascii_lowercase();
            folded.as_str()
        } else {
            value
        };
        match &self.pattern {
            Pattern::Exact(text) => value == text,
            Pattern::Prefix(text) => value.starts_with(text.as_str()),
            Pattern::Suffix(text) => value.ends_with(text.as_str()),
            Pattern::Contains(text) => value.contains(text.as_str()),
            Pattern::Regex(regex) => regex.is_match(value),
        }
    }
}

fn compile_regex(source: &str, path: &str) -> Result<Regex, ConfigError> {
    if source.len() > MAX_REGEX_LEN {
        return Err(ConfigError::at(
            path,
            format!("longer than {MAX_REGEX_LEN} bytes"),
        ));
    }
    RegexBuilder::new(&format!("^(?:{source})$"))
        .size_limit(MAX_REGEX_PROGRAM)
        .build()
        .map_err(|error| ConfigError::at(path, format!("not a valid regex: {error}")))
}

#[derive(Debug, Clone)]
enum PathPattern {
    Prefix(String),
    Exact(String),
    SeparatedPrefix(String),
    Regex(Regex),
}

#[derive(Debug, Clone)]
enum ValueMatch {
    Present(bool),
    String(StringMatcher),
}

#[derive(Debug, Clone)]
struct HeaderMatch {
    name: String,
    value: ValueMatch,
    invert: bool,
    missing_as_empty: bool,
}

#[derive(Debug, Clone)]
struct QueryMatch {
    name: String,
    value: ValueMatch,
}

/// `config.route.v3.RouteMatch`.
#[derive(Debug, Clone)]
pub struct RouteMatcher {
    path: PathPattern,
    case_sensitive: bool,
    headers: Vec<HeaderMatch>,
    query: Vec<QueryMatch>,
}

impl RouteMatcher {
    pub fn compile(config: &config::RouteMatch, path: &str) -> Result<RouteMatcher, ConfigError> {
        let unsupported = [
            ("connect_matcher", config.connect_matcher.is_some()),
            ("path_match_policy", config.path_match_policy.is_some()),
            ("runtime_fraction", config.runtime_fraction.is_some()),
            ("grpc", config.grpc.is_some()),
            ("tls_context", config.tls_context.is_some()),
            ("dynamic_metadata", config.dynamic_metadata.is_some()),
            ("filter_state", config.filter_state.is_some()),
        ];
        if let Some((field, _)) = unsupported.iter().find(|(_, set)| *set) {
            return Err(ConfigError::at(
                format!("{path}.{field}"),
                "not supported by this plugin: a wasm filter sees only the request headers",
            ));
        }
        let case_sensitive = config.case_sensitive.unwrap_or(true);
        let fold = |text: &str| {
            if case_sensitive {
                text.to_string()
            } else {
                text.to_ascii_lowercase()
            }
        };
        let mut patterns = Vec::new();
        if let Some(prefix) = &config.prefix {
            patterns.push(PathPattern::Prefix(fold(prefix)));
        }
        if let Some(exact) = &config.path {
            patterns.push(PathPattern::Exact(fold(exact)));
        }
        if let Some(prefix) = &config.path_separated_prefix {
            if prefix.ends_with('/') || prefix.contains(['?', '#']) {
                return Err(ConfigError::at(
                    format!("{path}.path_separated_prefix"),
                    "may not end with / or contain ? or #",
                ));
            }
            patterns.push(PathPattern::SeparatedPrefix(fold(prefix)));
        }
        if let Some(regex) = &config.safe_regex {
            patterns.push(PathPattern::Regex(compile_regex(
                &regex.regex,
                &format!("{path}.safe_regex.regex"),
            )?));
        }
        let path_pattern = match (patterns.pop(), patterns.is_empty()) {
            (Some(pattern), true) => pattern,
            _ => {
                return Err(ConfigError::at(
                    path,
                    "set exactly one of prefix, path, safe_regex, path_separated_prefix",
                ))
            }
        };
        let headers = config
            .headers
            .iter()
            .enumerate()
            .map(|(i, header)| compile_header(header, &format!("{path}.headers[{i}]")))
            .collect::<Result<_, _>>()?;
        let query = config
            .query_parameters
            .iter()
            .enumerate()
            .map(|(i, param)| {
                let path = format!("{path}.query_parameters[{i}]");
                let value = match (&param.string_match, param.present_match) {
                    (Some(matcher), None) => ValueMatch::String(StringMatcher::compile(
                        matcher,
                        &format!("{path}.string_match"),
                    )?),
                    (None, Some(present)) => ValueMatch::Present(present),
                    _ => {
                        return Err(ConfigError::at(
                            path,
                            "set exactly one of string_match, present_match",
                        ))
                    }
                };
                Ok(QueryMatch {
                    name: param.name.clone(),
                    value,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(RouteMatcher {
            path: path_pattern,
            case_sensitive,
            headers,
            query,
        })
    }

    pub fn matches(&self, request: &Request<'_>) -> bool {
        self.path_matches(request.path())
            && self.headers.iter().all(|header| header.matches(request))
            && self
                .query
                .iter()
                .all(|param| param.matches(request.query()))
    }

    fn path_matches(&self, path: &str) -> bool {
        let folded;
        let path = if self.case_sensitive || matches!(self.path, PathPattern::Regex(_)) {
            path
        } else {
            folded = path.to_ascii_lowercase();
            folded.as_str()
        };
        match &self.path {
            PathPattern::Prefix(prefix) => path.starts_with(prefix.as_str()),
            PathPattern::Exact(exact) => path == exact,
            PathPattern::SeparatedPrefix(prefix) => path
                .strip_prefix(prefix.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/')),
            PathPattern::Regex(regex) => regex.is_match(path),
        }
    }
}

fn compile_header(config: &config::HeaderMatcher, path: &str) -> Result<HeaderMatch, ConfigError> {
    if config.range_match.is_some() {
        return Err(ConfigError::at(
            format!("{path}.range_match"),
            "not supported by this plugin",
        ));
    }
    let plain = |pattern| {
        ValueMatch::String(StringMatcher {
            pattern,
            ignore_case: false,
        })
    };
    let mut values = Vec::new();
    if let Some(text) = &config.exact_match {
        values.push(plain(Pattern::Exact(text.clone())));
    }
    if let Some(text) = &config.prefix_match {
        values.push(plain(Pattern::Prefix(text.clone())));
    }
    if let Some(text) = &config.suffix_match {
        values.push(plain(Pattern::Suffix(text.clone())));
    }
    if let Some(text) = &config.contains_match {
        values.push(plain(Pattern::Contains(text.clone())));
    }
    if let Some(regex) = &config.safe_regex_match {
        let source = format!("{path}.safe_regex_match.regex");
        values.push(plain(Pattern::Regex(compile_regex(&regex.regex, &source)?)));
    }
    if let Some(present) = config.present_match {
        values.push(ValueMatch::Present(present));
    }
    if let Some(matcher) = &config.string_match {
        values.push(ValueMatch::String(StringMatcher::compile(
            matcher,
            &format!("{path}.string_match"),
        )?));
    }
    let value = match (values.pop(), values.is_empty()) {
        (Some(value), true) => value,
        // No specifier at all means "the header is present", as in Envoy.
        (None, _) => ValueMatch::Present(true),
        _ => {
            return Err(ConfigError::at(
                path,
                "set at most one way to match the header value",
            ))
        }
    };
    Ok(HeaderMatch {
        name: config.name.to_ascii_lowercase(),
        value,
        invert: config.invert_match,
        missing_as_empty: config.treat_missing_header_as_empty,
    })
}

impl HeaderMatch {
    fn matches(&self, request: &Request<'_>) -> bool {
        let matched = match &self.value {
            ValueMatch::Present(present) => request.has(&self.name) == *present,
            // Each line of a repeated header is tried on its own, as Envoy does by default.
            ValueMatch::String(matcher) => {
                let mut values = request.values(&self.name).peekable();
                if values.peek().is_none() {
                    self.missing_as_empty && matcher.matches("")
                } else {
                    values.any(|value| matcher.matches(&text(value)))
                }
            }
        };
        matched != self.invert
    }
}

impl QueryMatch {
    /// Only the first value of a parameter counts, and it is not decoded, as in Envoy.
    fn matches(&self, query: &str) -> bool {
        let value = query_pairs(query)
            .find(|(key, _)| *key == self.name)
            .map(|(_, value)| value);
        match &self.value {
            ValueMatch::Present(present) => value.is_some() == *present,
            ValueMatch::String(matcher) => value.is_some_and(|value| matcher.matches(value)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::headers;

    fn route(json: &str) -> RouteMatcher {
        let config: config::RouteMatch = serde_json::from_str(json).unwrap();
        RouteMatcher::compile(&config, "match").unwrap()
    }

    fn route_error(json: &str) -> ConfigError {
        let config: config::RouteMatch = serde_json::from_str(json).unwrap();
        RouteMatcher::compile(&config, "rules[0].match").unwrap_err()
    }

    fn matches(route: &RouteMatcher, pairs: &[(&str, &str)]) -> bool {
        let h = headers(pairs);
        route.matches(&Request::new(&h))
    }

    fn at(route: &RouteMatcher, path: &str) -> bool {
        matches(route, &[(":path", path)])
    }

    #[test]
    fn prefix_and_exact_paths_ignore_the_query() {
        let prefix = route(r#"{"prefix": "/api"}"#);
        assert!(at(&prefix, "/api/x") && at(&prefix, "/api") && at(&prefix, "/apiary"));
        assert!(!at(&prefix, "/ap") && !at(&prefix, "/x?/api"));
        let exact = route(r#"{"path": "/health"}"#);
        assert!(at(&exact, "/health") && at(&exact, "/health?full=1") && at(&exact, "/health#x"));
        assert!(!at(&exact, "/health/") && !at(&exact, "/HEALTH"));
    }

    #[test]
    fn case_insensitive_routes() {
        let exact = route(r#"{"path": "/Health", "case_sensitive": false}"#);
        assert!(at(&exact, "/HEALTH") && at(&exact, "/health"));
    }

    #[test]
    fn separated_prefix_stops_at_a_segment() {
        let route = route(r#"{"path_separated_prefix": "/api"}"#);
        assert!(at(&route, "/api") && at(&route, "/api/v1") && at(&route, "/api?x"));
        assert!(!at(&route, "/apiary"));
        assert_eq!(
            route_error(r#"{"path_separated_prefix": "/api/"}"#).path,
            "rules[0].match.path_separated_prefix"
        );
    }

    #[test]
    fn regexes_match_the_whole_path() {
        let route = route(r#"{"safe_regex": {"regex": "/v[0-9]+/.*"}}"#);
        assert!(at(&route, "/v1/users") && at(&route, "/v22/?q"));
        assert!(!at(&route, "/x/v1/users"));
        let error = route_error(r#"{"safe_regex": {"regex": "("}}"#);
        assert_eq!(error.path, "rules[0].match.safe_regex.regex");
        let costly = route_error(r#"{"safe_regex": {"regex": "/(?:[a-z0-9/]{0,1000}){0,20}x"}}"#);
        assert!(costly.message.contains("size limit"), "{costly}");
    }

    #[test]
    fn needs_exactly_one_path_specifier() {
        assert_eq!(route_error(r#"{}"#).path, "rules[0].match");
        assert_eq!(
            route_error(r#"{"prefix": "/", "path": "/"}"#).path,
            "rules[0].match"
        );
        assert_eq!(
            route_error(r#"{"prefix": "/", "grpc": {}}"#).path,
            "rules[0].match.grpc"
        );
    }

    #[test]
    fn header_matchers() {
        let route = route(
            r#"{"prefix": "/", "headers": [
                {"name": "X-Env", "exact_match": "prod"},
                {"name": "x-debug", "present_match": false},
                {"name": "x-tenant", "string_match": {"prefix": "ACME", "ignore_case": true}}
            ]}"#,
        );
        let base = [(":path", "/"), ("x-env", "prod"), ("x-tenant", "acme-eu")];
        assert!(matches(&route, &base));
        assert!(!matches(
            &route,
            &[(":path", "/"), ("x-env", "dev"), ("x-tenant", "acme")]
        ));
        assert!(!matches(
            &route,
            &[base[0], base[1], base[2], ("x-debug", "1")]
        ));
        assert!(!matches(&route, &[(":path", "/"), ("x-env", "prod")]));
        // One line of a repeated header is enough.
        assert!(matches(
            &route,
            &[base[0], ("x-env", "dev"), base[1], base[2]]
        ));
    }

    #[test]
    fn inverted_and_missing_headers() {
        let route = route(
            r#"{"prefix": "/", "headers": [{"name": "x-env", "exact_match": "prod", "invert_match": true}]}"#,
        );
        assert!(matches(&route, &[(":path", "/"), ("x-env", "dev")]));
        assert!(!matches(&route, &[(":path", "/"), ("x-env", "prod")]));
        let empty = route_with_missing_as_empty();
        assert!(matches(&empty, &[(":path", "/")]));
    }

    fn route_with_missing_as_empty() -> RouteMatcher {
        route(
            r#"{"prefix": "/", "headers": [{"name": "x", "exact_match": "", "treat_missing_header_as_empty": true}]}"#,
        )
    }

    #[test]
    fn query_parameter_matchers() {
        let route = route(
            r#"{"prefix": "/", "query_parameters": [
                {"name": "debug", "present_match": true},
                {"name": "v", "string_match": {"exact": "2"}}
            ]}"#,
        );
        assert!(at(&route, "/?debug&v=2"));
        assert!(at(&route, "/?v=2&debug=0&v=3"));
        assert!(!at(&route, "/?v=2"));
        assert!(!at(&route, "/?debug=1&v=3&v=2"));
    }

    #[test]
    fn string_matchers() {
        let m = |json: &str| {
            let config: config::StringMatcher = serde_json::from_str(json).unwrap();
            StringMatcher::compile(&config, "subjects").unwrap()
        };
        assert!(m(r#"{"prefix": "spiffe://prod/"}"#).matches("spiffe://prod/svc"));
        assert!(m(r#"{"suffix": "@example.com"}"#).matches("a@example.com"));
        assert!(m(r#"{"contains": "ops"}"#).matches("team-ops-1"));
        assert!(m(r#"{"exact": "Bob", "ignore_case": true}"#).matches("bOB"));
        assert!(!m(r#"{"exact": "Bob"}"#).matches("bob"));
        assert!(m(r#"{"safe_regex": {"regex": "user-[0-9]+"}}"#).matches("user-42"));
        assert!(!m(r#"{"safe_regex": {"regex": "user-[0-9]+"}}"#).matches("user-42x"));
        let config: config::StringMatcher = serde_json::from_str("{}").unwrap();
        assert!(StringMatcher::compile(&config, "subjects").is_err());
    }
}
