//! The whole token path on an arbitrary request: extraction from headers, query and cookies,
//! JWS parsing, key selection and signature checks, claims, rules, the response.
//!
//! Input: a flags byte, then newline-separated fields: `:path`, `authorization`, `cookie`,
//! `x-jwt`, `x-mode`, then further `name: value` headers. Flag bit 0 routes signatures past a
//! host that never answers (the DER the host would get is built); bit 1 reads the rest as
//! a proxy-wasm serialized header map instead.
#![no_main]

use jwt_policy::key::SignatureHost;
use jwt_policy::request::Request;
use jwt_policy_fuzz::{check, SilentHost};
use libfuzzer_sys::fuzz_target;

const FIELDS: [&str; 5] = [":path", "authorization", "cookie", "x-jwt", "x-mode"];

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let host = (flags & 1 == 1).then_some(&SilentHost as &dyn SignatureHost);
    if flags & 2 == 2 {
        if let Some(request) = Request::from_header_map(rest) {
            check(&request, host);
        }
        return;
    }
    let mut headers: Vec<(&str, &[u8])> = vec![(":method", b"GET")];
    for (index, field) in rest.split(|&b| b == b'\n').enumerate() {
        match FIELDS.get(index) {
            Some(name) => headers.push((name, field)),
            None => {
                let Some(colon) = field.iter().position(|&b| b == b':') else {
                    continue;
                };
                let Ok(name) = std::str::from_utf8(&field[..colon]) else {
                    continue;
                };
                headers.push((name, field[colon + 1..].trim_ascii_start()));
            }
        }
    }
    let request = Request::from_pairs(headers);
    check(&request, host);
});
