//! Claims and headers the fuzzer writes, correctly signed, so that every check after the
//! signature runs on them: JSON strictness, time claims, issuer, audiences, subjects,
//! lifetime, claim conditions, forwarded claims.
//!
//! Input: a selector byte (which key signs, HMAC or Ed25519; which path and header carry the
//! token), then the JWS header, a newline, and the payload, signed as written.
#![no_main]

use jwt_policy::request::Request;
use jwt_policy_fuzz::{check, sign};
use libfuzzer_sys::fuzz_target;

// Signing costs the fuzzer more than anything it checks: instrumented big-number code
// takes about 170 ms for an RSA signature and 17 ms for ECDSA, against microseconds for
// HMAC and Ed25519. Every algorithm's verification is fuzzed by the request target; here
// the point is the checks after the signature.
const KIDS: [&str; 3] = ["ha", "hb", "ed"];
const PATHS: [&str; 6] = ["/", "/any", "/all", "/admin/x", "/maybe", "/open"];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let (header, payload) = text.split_once('\n').unwrap_or((text, ""));
    let kid = KIDS[(selector as usize & 0x0f) % KIDS.len()];
    let token = sign(kid, header, payload);
    let path = PATHS[(selector as usize >> 4) % PATHS.len()];
    let bearer = format!("Bearer {token}");
    let mut headers: Vec<(&str, &[u8])> = vec![(":method", b"GET"), (":path", path.as_bytes())];
    if kid == "hb" {
        headers.push(("x-jwt", token.as_bytes()));
        headers.push(("x-mode", b"b"));
    } else {
        headers.push(("authorization", bearer.as_bytes()));
    }
    check(&Request::from_pairs(headers), None);
});
