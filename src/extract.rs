//! Finding tokens in a request: the places each provider looks (`from_headers`, `from_params`,
//! `from_cookies`, or Envoy's defaults), every occurrence in every place, and how to take a
//! token back out of the request once it has served.
//!
//! Where we differ from Envoy, on purpose: an auth scheme such as `Bearer ` is matched without
//! regard to case (RFC 7235 §2.1) and the token is the rest of the value byte for byte; a
//! literal prefix must start the value; every header line, comma-separated element, query
//! parameter and cookie is read, never just the first, so that two different tokens for one
//! provider can be refused instead of one being picked.

use crate::config::{self, ConfigError};
use crate::request::{text, Request};
use std::borrow::Cow;
use std::ops::ControlFlow;

/// One place a provider looks for its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Header { name: String, prefix: Prefix },
    Param(String),
    Cookie(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prefix {
    /// The whole value (each comma-separated element) is the token.
    None,
    /// An auth scheme (`Bearer `), kept in lower case: matched without regard to case and
    /// followed by one or more spaces.
    Scheme(String),
    /// Any other `value_prefix`: matched exactly at the start of the value.
    Literal(String),
}

impl Location {
    /// Envoy's default when a provider names no place: `Authorization: Bearer <token>` and the
    /// `access_token` query parameter.
    pub fn defaults() -> Vec<Location> {
        vec![
            Location::Header {
                name: "authorization".into(),
                prefix: Prefix::Scheme("bearer".into()),
            },
            Location::Param("access_token".into()),
        ]
    }

    /// The places configured for a provider, `path` naming it in errors.
    pub fn from_config(
        provider: &config::JwtProvider,
        path: &str,
    ) -> Result<Vec<Location>, ConfigError> {
        if provider.from_headers.is_empty()
            && provider.from_params.is_empty()
            && provider.from_cookies.is_empty()
        {
            return Ok(Location::defaults());
        }
        let mut locations = Vec::new();
        for (i, header) in provider.from_headers.iter().enumerate() {
            let at = format!("{path}.from_headers[{i}]");
            let name = header_name(&header.name)
                .map_err(|why| ConfigError::at(format!("{at}.name"), why))?;
            if header.value_prefix.contains(',') {
                return Err(ConfigError::at(
                    format!("{at}.value_prefix"),
                    "may not contain a comma: a comma separates header values",
                ));
            }
            locations.push(Location::Header {
                name,
                prefix: Prefix::parse(&header.value_prefix),
            });
        }
        for (i, param) in provider.from_params.iter().enumerate() {
            if param.is_empty() {
                return Err(ConfigError::at(
                    format!("{path}.from_params[{i}]"),
                    "may not be empty",
                ));
            }
            locations.push(Location::Param(param.clone()));
        }
        for (i, cookie) in provider.from_cookies.iter().enumerate() {
            if cookie.is_empty() || !cookie.bytes().all(is_token_char) {
                return Err(ConfigError::at(
                    format!("{path}.from_cookies[{i}]"),
                    "is not a cookie name",
                ));
            }
            locations.push(Location::Cookie(cookie.clone()));
        }
        Ok(locations)
    }

    /// Hands every token found here to `visit`, in request order, duplicates kept, until
    /// `visit` says it has seen enough. Tokens borrow from the request where they can.
    pub fn find<'r>(
        &self,
        request: &'r Request<'_>,
        visit: &mut dyn FnMut(Cow<'r, str>) -> ControlFlow<()>,
    ) {
        let _ = match self {
            Location::Header { name, prefix } => request.values(name).try_for_each(|value| {
                // Several lines of one header reach a filter joined with commas.
                let mut rest = value;
                loop {
                    let comma = rest.iter().position(|&b| b == b',');
                    let (element, tail) = match comma.and_then(|at| rest.split_at_checked(at)) {
                        Some((element, tail)) => (element, tail.get(1..)),
                        None => (rest, None),
                    };
                    if let Some(token) = prefix.strip(element.trim_ascii()) {
                        visit(text(token))?;
                    }
                    match tail {
                        Some(tail) => rest = tail,
                        None => return ControlFlow::Continue(()),
                    }
                }
            }),
            Location::Param(name) => request.query_values(name).try_for_each(visit),
            Location::Cookie(name) => request
                .cookie_values(name)
                .try_for_each(|token| visit(text(token))),
        };
    }

    /// The header this location reads, if it is one; removing the token removes the header.
    pub fn header(&self) -> Option<&str> {
        match self {
            Location::Header { name, .. } => Some(name),
            _ => None,
        }
    }
}

impl Prefix {
    fn parse(value_prefix: &str) -> Prefix {
        if value_prefix.is_empty() {
            return Prefix::None;
        }
        match value_prefix.strip_suffix(' ') {
            Some(scheme) if !scheme.is_empty() && scheme.bytes().all(is_token_char) => {
                Prefix::Scheme(scheme.to_ascii_lowercase())
            }
            _ => Prefix::Literal(value_prefix.to_string()),
        }
    }

    /// The token in `value`, if the value carries one for this prefix.
    fn strip<'v>(&self, value: &'v [u8]) -> Option<&'v [u8]> {
        match self {
            Prefix::None => (!value.is_empty()).then_some(value),
            Prefix::Literal(prefix) => value.strip_prefix(prefix.as_bytes()),
            Prefix::Scheme(scheme) => {
                let (head, rest) = value.split_at_checked(scheme.len())?;
                if !head.eq_ignore_ascii_case(scheme.as_bytes()) {
                    return None;
                }
                // `Bearer` alone, or `Bearerx`, is not this scheme with a token.
                let token = rest.strip_prefix(b" ")?;
                Some(token.trim_ascii_start())
            }
        }
    }
}

/// Removes the query parameter `name` from a `:path`, leaving everything else as it was.
pub fn remove_query_param(path_and_query: &str, name: &str) -> String {
    let Some((path, query)) = path_and_query.split_once('?') else {
        return path_and_query.to_string();
    };
    let (query, fragment) = match query.split_once('#') {
        Some((query, fragment)) => (query, Some(fragment)),
        None => (query, None),
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let key = pair.split_once('=').map_or(*pair, |(key, _)| key);
            !pair.is_empty() && crate::request::percent_decode(key) != name
        })
        .collect();
    let mut out = path.to_string();
    if !kept.is_empty() {
        out.push('?');
        out.push_str(&kept.join("&"));
    }
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

/// RFC 7230 `tchar`: what header names, cookie names and auth schemes are made of.
fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A header name as Envoy hands it over (lower case), refusing pseudo-headers and non-tokens.
pub fn header_name(name: &str) -> Result<String, String> {
    if name.is_empty() || !name.bytes().all(is_token_char) {
        return Err(format!("\"{name}\" is not a valid HTTP header name"));
    }
    Ok(name.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::headers;

    fn find(location: &Location, pairs: &[(&str, &str)]) -> Vec<String> {
        let h = headers(pairs);
        let mut found = Vec::new();
        let request = Request::new(&h);
        location.find(&request, &mut |token| {
            found.push(token.into_owned());
            ControlFlow::Continue(())
        });
        found
    }

    fn header(name: &str, prefix: &str) -> Location {
        Location::Header {
            name: name.into(),
            prefix: Prefix::parse(prefix),
        }
    }

    #[test]
    fn bearer_scheme_is_case_insensitive_and_the_token_exact() {
        let auth = &Location::defaults()[0];
        for value in ["Bearer a.b.c", "bearer a.b.c", "BEARER   a.b.c"] {
            assert_eq!(
                find(auth, &[("authorization", value)]),
                ["a.b.c"],
                "{value}"
            );
        }
        assert_eq!(
            find(auth, &[("authorization", "Bearer a.b.c extra")]),
            ["a.b.c extra"]
        );
        assert!(find(auth, &[("authorization", "Basic dXNlcg==")]).is_empty());
        assert!(find(auth, &[("authorization", "Bearer")]).is_empty());
        assert!(find(auth, &[("authorization", "Bearera.b.c")]).is_empty());
        assert!(find(auth, &[("authorization", "Bearer ")]).is_empty());
    }

    #[test]
    fn reads_every_line_and_every_comma_separated_element() {
        let auth = &Location::defaults()[0];
        assert_eq!(
            find(
                auth,
                &[
                    ("authorization", "Bearer x.y.z"),
                    ("authorization", "Bearer p.q.r")
                ]
            ),
            ["x.y.z", "p.q.r"]
        );
        assert_eq!(
            find(auth, &[("authorization", "Bearer x.y.z,Bearer p.q.r")]),
            ["x.y.z", "p.q.r"]
        );
        assert_eq!(
            find(auth, &[("authorization", "Basic Zm9v, Bearer p.q.r")]),
            ["p.q.r"]
        );
    }

    #[test]
    fn custom_headers_with_and_without_prefixes() {
        assert_eq!(find(&header("x-jwt", ""), &[("x-jwt", "a.b.c")]), ["a.b.c"]);
        assert_eq!(
            find(&header("x-jwt", "JWT "), &[("x-jwt", "jwt a.b.c")]),
            ["a.b.c"]
        );
        assert_eq!(
            find(&header("x-jwt", "tok="), &[("x-jwt", "tok=a.b.c")]),
            ["a.b.c"]
        );
        assert!(find(&header("x-jwt", "tok="), &[("x-jwt", "TOK=a.b.c")]).is_empty());
        assert!(find(&header("x-jwt", "tok="), &[("x-jwt", "x tok=a.b.c")]).is_empty());
    }

    #[test]
    fn params_and_cookies() {
        let param = &Location::defaults()[1];
        assert_eq!(
            find(
                param,
                &[(":path", "/x?a=1&access_token=t.o.k&access_token=u.v.w")]
            ),
            ["t.o.k", "u.v.w"]
        );
        assert_eq!(find(param, &[(":path", "/x?access_token=")]), [""]);
        let cookie = Location::Cookie("session".into());
        assert_eq!(
            find(&cookie, &[("cookie", "a=b; session=t.o.k")]),
            ["t.o.k"]
        );
    }

    #[test]
    fn configured_locations() {
        let provider: config::JwtProvider = serde_json::from_str(
            r#"{"from_headers": [{"name": "X-Token", "value_prefix": "Bearer "}], "from_cookies": ["c"]}"#,
        )
        .unwrap();
        assert_eq!(
            Location::from_config(&provider, "p").unwrap(),
            [
                Location::Header {
                    name: "x-token".into(),
                    prefix: Prefix::Scheme("bearer".into())
                },
                Location::Cookie("c".into())
            ]
        );
        let bad: config::JwtProvider =
            serde_json::from_str(r#"{"from_headers": [{"name": "x y"}]}"#).unwrap();
        assert_eq!(
            Location::from_config(&bad, "providers.p").unwrap_err().path,
            "providers.p.from_headers[0].name"
        );
        let comma: config::JwtProvider =
            serde_json::from_str(r#"{"from_headers": [{"name": "x", "value_prefix": "a,"}]}"#)
                .unwrap();
        assert!(Location::from_config(&comma, "p").is_err());
    }

    #[test]
    fn removes_one_query_parameter_and_keeps_the_rest_verbatim() {
        assert_eq!(
            remove_query_param("/a?access_token=t&b=%2F", "access_token"),
            "/a?b=%2F"
        );
        assert_eq!(
            remove_query_param("/a?access_token=t", "access_token"),
            "/a"
        );
        assert_eq!(
            remove_query_param("/a?x&access_token=1&access_token=2#f", "access_token"),
            "/a?x#f"
        );
        assert_eq!(remove_query_param("/a", "access_token"), "/a");
    }
}
