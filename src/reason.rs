//! Why a request was refused: one flat list of reasons, each with a fixed message. Where Envoy's
//! `jwt_authn` (through `jwt_verify_lib`) has the same reason, the message is its message, so
//! clients and dashboards see the same text after a migration. `response` turns a reason into
//! the HTTP answer.

use std::fmt;

/// Which of the three JWS segments a parse failure is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment {
    Header,
    Payload,
    Signature,
}

impl Segment {
    fn label(self) -> &'static str {
        match self {
            Segment::Header => "header",
            Segment::Payload => "payload",
            Segment::Signature => "signature",
        }
    }
}

/// The JSON type a registered claim must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimType {
    String,
    Number,
    StringOrStringList,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// No token where the requirement looks for one.
    Missing,
    /// Two different tokens where one provider looks for one.
    MultipleTokens,
    /// Longer than [`crate::jws::MAX_TOKEN_BYTES`].
    TooLarge,
    /// Not three segments separated by two dots.
    BadFormat,
    BadBase64(Segment),
    BadJson(Segment),
    DuplicateMember(Segment),
    TooDeep(Segment),
    /// A `crit` header: we understand no JWS extension (RFC 7515 §4.1.11).
    CritUnsupported,
    /// `alg` missing or not a string.
    BadAlg,
    /// `alg` names an algorithm we do not verify, `none` included.
    UnsupportedAlg,
    BadKid,
    BadClaim(&'static str, ClaimType),
    UnknownIssuer,
    NotYetValid,
    Expired,
    ExpirationRequired,
    LifetimeTooLong,
    AudienceNotAllowed,
    SubjectNotAllowed,
    /// No key of the provider matches the token's `kid` and `alg`.
    NoMatchingKey,
    /// The provider's keys come from its issuer and none could be fetched yet.
    JwksFetchFailed,
    Ed25519SignatureWrongLength,
    VerificationFailed,
    /// A rule's claim condition is not met; carries the claim's name.
    ClaimsNotSatisfied(String),
}

impl Reason {
    /// Every value [`Reason::code`] takes, in a fixed order (one metric each).
    pub const CODES: [&'static str; 13] = [
        "missing",
        "multiple_tokens",
        "malformed",
        "issuer",
        "not_yet_valid",
        "expired",
        "lifetime",
        "audience",
        "subject",
        "unknown_key",
        "jwks_fetch",
        "bad_signature",
        "claims",
    ];

    /// A stable identifier for logs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Reason::Missing => "missing",
            Reason::MultipleTokens => "multiple_tokens",
            Reason::TooLarge
            | Reason::BadFormat
            | Reason::BadBase64(_)
            | Reason::BadJson(_)
            | Reason::DuplicateMember(_)
            | Reason::TooDeep(_)
            | Reason::CritUnsupported
            | Reason::BadAlg
            | Reason::UnsupportedAlg
            | Reason::BadKid
            | Reason::BadClaim(..) => "malformed",
            Reason::UnknownIssuer => "issuer",
            Reason::NotYetValid => "not_yet_valid",
            Reason::Expired => "expired",
            Reason::ExpirationRequired | Reason::LifetimeTooLong => "lifetime",
            Reason::AudienceNotAllowed => "audience",
            Reason::SubjectNotAllowed => "subject",
            Reason::NoMatchingKey => "unknown_key",
            Reason::JwksFetchFailed => "jwks_fetch",
            Reason::Ed25519SignatureWrongLength | Reason::VerificationFailed => "bad_signature",
            Reason::ClaimsNotSatisfied(_) => "claims",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Missing => f.write_str("Jwt is missing"),
            Reason::MultipleTokens => f.write_str("Found multiple Jwt tokens"),
            Reason::TooLarge => write!(
                f,
                "Jwt is larger than {} bytes",
                crate::jws::MAX_TOKEN_BYTES
            ),
            Reason::BadFormat => f.write_str(
                "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections",
            ),
            Reason::BadBase64(segment) => {
                write!(f, "Jwt {} is an invalid Base64url encoded", segment.label())
            }
            Reason::BadJson(segment) => write!(f, "Jwt {} is an invalid JSON", segment.label()),
            Reason::DuplicateMember(segment) => {
                write!(f, "Jwt {} has a duplicate member", segment.label())
            }
            Reason::TooDeep(segment) => write!(f, "Jwt {} is nested too deeply", segment.label()),
            Reason::CritUnsupported => f.write_str("Jwt header [crit] is not supported"),
            Reason::BadAlg => {
                f.write_str("Jwt header [alg] field is required and must be a string")
            }
            Reason::UnsupportedAlg => f.write_str("Jwt header [alg] is not supported"),
            Reason::BadKid => f.write_str("Jwt header [kid] field is not a string"),
            Reason::BadClaim(name, ClaimType::String) => {
                write!(f, "Jwt payload [{name}] field is not a string")
            }
            Reason::BadClaim(name, ClaimType::Number) => {
                write!(f, "Jwt payload [{name}] field is not a number")
            }
            Reason::BadClaim(name, ClaimType::StringOrStringList) => {
                write!(
                    f,
                    "Jwt payload [{name}] field is not a string or string list"
                )
            }
            Reason::UnknownIssuer => f.write_str("Jwt issuer is not configured"),
            Reason::NotYetValid => f.write_str("Jwt not yet valid"),
            Reason::Expired => f.write_str("Jwt is expired"),
            Reason::ExpirationRequired => f.write_str("Jwt has no exp claim but one is required"),
            Reason::LifetimeTooLong => f.write_str("Jwt lifetime exceeds max_lifetime"),
            Reason::AudienceNotAllowed => f.write_str("Audiences in Jwt are not allowed"),
            Reason::SubjectNotAllowed => f.write_str("Jwt subject is not allowed"),
            Reason::NoMatchingKey => {
                f.write_str("Jwks doesn't have key to match kid or alg from Jwt")
            }
            Reason::JwksFetchFailed => f.write_str("Jwks remote fetch is failed"),
            Reason::Ed25519SignatureWrongLength => {
                f.write_str("Jwt ED25519 signature is wrong length")
            }
            Reason::VerificationFailed => f.write_str("Jwt verification fails"),
            Reason::ClaimsNotSatisfied(claim) => {
                write!(f, "Jwt claim [{claim}] does not satisfy the rule")
            }
        }
    }
}
