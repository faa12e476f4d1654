//! Key sets, as a provider's `local_jwks` or a fetched `remote_jwks` document is read: every
//! key type, curve and member.
#![no_main]

use jwt_policy::json;
use jwt_policy::jwks::KeySet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(document) = json::parse_object(data) {
        let _ = KeySet::parse(&serde_json::Value::Object(document));
    }
});
