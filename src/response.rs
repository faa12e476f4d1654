//! The one place a [`Reason`] becomes an HTTP answer: status, body and `WWW-Authenticate`
//! (RFC 6750 §3), the way Envoy's `jwt_authn` answers, plus our 400 for several tokens and 403
//! for unmet claim conditions.

use crate::reason::Reason;
use crate::request::{text, Request};

/// Longest request path echoed in the realm, as in Envoy.
const MAX_REALM_PATH: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalResponse {
    pub status: u32,
    pub body: String,
    pub headers: Vec<(String, String)>,
}

/// The answer for a refused request. With `strip_failure_response` only the status is sent.
pub fn local_response(reason: &Reason, realm: &str, strip_failure_response: bool) -> LocalResponse {
    let (status, error) = match reason {
        Reason::Missing => (401, None),
        Reason::MultipleTokens => (400, Some("invalid_request")),
        Reason::AudienceNotAllowed => (403, Some("invalid_token")),
        Reason::ClaimsNotSatisfied(_) => (403, Some("insufficient_scope")),
        _ => (401, Some("invalid_token")),
    };
    if strip_failure_response {
        return LocalResponse {
            status,
            body: String::new(),
            headers: Vec::new(),
        };
    }
    let challenge = match error {
        Some(error) => format!("Bearer realm=\"{realm}\", error=\"{error}\""),
        None => format!("Bearer realm=\"{realm}\""),
    };
    LocalResponse {
        status,
        body: reason.to_string(),
        headers: vec![("www-authenticate".to_string(), challenge)],
    }
}

/// The request URL for the realm: scheme, authority and path. Unlike Envoy we leave the query
/// string out, since it may hold the very token being refused, and drop characters that
/// would end the quoted string.
pub fn realm(request: &Request<'_>) -> String {
    let text = |name| request.first(name).map(text).unwrap_or_default();
    let scheme = text(":scheme");
    let mut path = request.path();
    if path.len() > MAX_REALM_PATH {
        let mut end = MAX_REALM_PATH;
        while !path.is_char_boundary(end) {
            end -= 1;
        }
        path = &path[..end];
    }
    let scheme = if scheme.is_empty() {
        "http".into()
    } else {
        scheme
    };
    format!("{scheme}://{}{path}", text(":authority"))
        .chars()
        .filter(|c| !c.is_control() && *c != '"' && *c != '\\')
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::headers;

    #[test]
    fn statuses_and_challenges() {
        let missing = local_response(&Reason::Missing, "http://h/p", false);
        assert_eq!(missing.status, 401);
        assert_eq!(missing.body, "Jwt is missing");
        assert_eq!(
            missing.headers,
            [(
                "www-authenticate".into(),
                "Bearer realm=\"http://h/p\"".into()
            )]
        );

        let expired = local_response(&Reason::Expired, "r", false);
        assert_eq!(
            (expired.status, expired.body.as_str()),
            (401, "Jwt is expired")
        );
        assert_eq!(
            expired.headers[0].1,
            "Bearer realm=\"r\", error=\"invalid_token\""
        );

        assert_eq!(
            local_response(&Reason::AudienceNotAllowed, "r", false).status,
            403
        );
        let claims = local_response(&Reason::ClaimsNotSatisfied("scope".into()), "r", false);
        assert_eq!(claims.status, 403);
        assert_eq!(
            claims.headers[0].1,
            "Bearer realm=\"r\", error=\"insufficient_scope\""
        );
        let multiple = local_response(&Reason::MultipleTokens, "r", false);
        assert_eq!(multiple.status, 400);
        assert_eq!(
            multiple.headers[0].1,
            "Bearer realm=\"r\", error=\"invalid_request\""
        );
    }

    #[test]
    fn stripped_answers_carry_only_the_status() {
        let stripped = local_response(&Reason::VerificationFailed, "r", true);
        assert_eq!(
            stripped,
            LocalResponse {
                status: 401,
                body: String::new(),
                headers: vec![]
            }
        );
    }

    #[test]
    fn realm_leaves_out_the_query_and_quotes() {
        let h = headers(&[
            (":scheme", "https"),
            (":authority", "api.example.com"),
            (":path", "/a\"b?access_token=secret"),
        ]);
        assert_eq!(realm(&Request::new(&h)), "https://api.example.com/ab");
        let long = format!("/{}", "é".repeat(200));
        let h = headers(&[(":authority", "h"), (":path", &long)]);
        let realm = realm(&Request::new(&h));
        assert!(
            realm.starts_with("http://h/é") && realm.len() <= "http://h".len() + MAX_REALM_PATH
        );
    }
}
