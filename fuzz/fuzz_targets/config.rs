//! Configuration parsing and compilation, as `on_configure` runs them on a pushed document:
//! it must refuse, never crash.
#![no_main]

use jwt_policy::policy::Policy;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Policy::from_json(data);
});
