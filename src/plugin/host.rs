//! Thin wrappers over the proxy-wasm host calls the filter needs, each error handled: a
//! panic here would abort the VM and fail every later request on its worker.

use crate::alg::Hash;
use crate::b64;
use crate::host_signature::{self, probe};
use crate::key::SignatureHost;
use crate::policy::Edits;
use crate::response::LocalResponse;
use proxy_wasm::hostcalls;
use proxy_wasm::types::{Action, LogLevel, MapType};
use std::time::SystemTime;

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_get_header_map_pairs(map_type: u32, data: *mut *mut u8, size: *mut usize) -> u32;
}

/// The request headers in their serialized form, read in place by [`Request::from_header_map`].
/// The SDK's own reader copies every name and value into a String and unwraps their UTF-8;
/// this costs one buffer and cannot panic.
pub fn request_header_map() -> Result<Vec<u8>, u32> {
    const HTTP_REQUEST_HEADERS: u32 = 0;
    let mut data: *mut u8 = std::ptr::null_mut();
    let mut size: usize = 0;
    // SAFETY: the host writes a pointer to `size` bytes it allocated in our memory through
    // the SDK's proxy_on_memory_allocate (the global allocator), which we then own.
    let status = unsafe { proxy_get_header_map_pairs(HTTP_REQUEST_HEADERS, &mut data, &mut size) };
    match status {
        0 if data.is_null() => Ok(Vec::new()),
        // SAFETY: as above; the allocation is exactly `size` bytes long.
        0 => Ok(unsafe { Vec::from_raw_parts(data, size, size) }),
        status => Err(status),
    }
}

/// Makes the edits of a request that passes. An edit the host refuses fails the request:
/// a spoofed identity header left in place, or a token left in the query, must not reach
/// the upstream.
pub fn apply(edits: &Edits) -> Result<(), String> {
    let map = MapType::HttpRequestHeaders;
    for name in &edits.remove_headers {
        hostcalls::remove_map_value(map, name)
            .map_err(|status| format!("cannot remove header {name}: {status:?}"))?;
    }
    for (name, value) in &edits.add_headers {
        hostcalls::add_map_value(map, name, value)
            .map_err(|status| format!("cannot add header {name}: {status:?}"))?;
    }
    if let Some(path) = &edits.path {
        hostcalls::set_map_value(map, ":path", Some(path))
            .map_err(|status| format!("cannot rewrite :path: {status:?}"))?;
    }
    // Only a route chosen on a header we changed is stale; a host without the function
    // keeps the route it had, which is no risk to what reaches the upstream.
    if edits.clear_route_cache {
        if let Err(status) = hostcalls::call_foreign_function("clear_route_cache", None) {
            log::warn!("jwt-policy: cannot clear the route cache: {status:?}");
        }
    }
    Ok(())
}

/// Sends a refusal and ends the request here.
pub fn send(response: &LocalResponse) {
    let headers: Vec<(&str, &str)> = response
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let body = (!response.body.is_empty()).then_some(response.body.as_bytes());
    if let Err(status) = hostcalls::send_http_response(response.status, headers, body) {
        log::error!(
            "jwt-policy: cannot send the {} answer: {status:?}",
            response.status
        );
    }
}

pub fn refuse(status: u32, body: &str) -> Action {
    if let Err(error) = hostcalls::send_http_response(status, vec![], Some(body.as_bytes())) {
        log::error!("jwt-policy: cannot send the {status} answer: {error:?}");
    }
    Action::Pause
}

pub fn milliseconds_since(start: SystemTime) -> f64 {
    hostcalls::get_current_time()
        .ok()
        .and_then(|now| now.duration_since(start).ok())
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// Envoy's `verify_signature` foreign function (BoringSSL).
pub struct EnvoySignatures;

impl SignatureHost for EnvoySignatures {
    fn verify(&self, hash: Hash, spki: &[u8], signature: &[u8], message: &[u8]) -> Option<bool> {
        let arguments = host_signature::encode_arguments(hash, spki, signature, message);
        match hostcalls::call_foreign_function(host_signature::FUNCTION, Some(&arguments)) {
            Ok(Some(result)) => host_signature::decode_result(&result),
            Ok(None) => None,
            Err(status) => {
                log::debug!("jwt-policy: verify_signature failed: {status:?}; checking in the VM");
                None
            }
        }
    }
}

/// True when the host has `verify_signature` and it accepts a good signature and refuses a
/// bad one; otherwise every signature is checked in the VM.
pub fn host_verifies_signatures() -> bool {
    let (Some(spki), Some(signature)) = (
        b64::decode(probe::SPKI.as_bytes()),
        b64::decode(probe::SIGNATURE.as_bytes()),
    ) else {
        return false;
    };
    let host = EnvoySignatures;
    host.verify(Hash::Sha256, &spki, &signature, probe::MESSAGE) == Some(true)
        && host.verify(Hash::Sha256, &spki, &signature, b"tampered") == Some(false)
}

/// Logs through the host, at the level the host runs at, so nothing below it is formatted.
pub struct HostLogger;

impl log::Log for HostLogger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let level = match record.level() {
            log::Level::Error => LogLevel::Error,
            log::Level::Warn => LogLevel::Warn,
            log::Level::Info => LogLevel::Info,
            log::Level::Debug => LogLevel::Debug,
            log::Level::Trace => LogLevel::Trace,
        };
        // A log line that cannot be written is not worth failing a request for.
        let _ = hostcalls::log(level, &record.args().to_string());
    }

    fn flush(&self) {}
}

pub fn sync_log_level() {
    let filter = match hostcalls::get_log_level() {
        Ok(LogLevel::Trace) => log::LevelFilter::Trace,
        Ok(LogLevel::Debug) => log::LevelFilter::Debug,
        Ok(LogLevel::Info) | Err(_) => log::LevelFilter::Info,
        Ok(LogLevel::Warn) => log::LevelFilter::Warn,
        Ok(LogLevel::Error) => log::LevelFilter::Error,
        Ok(LogLevel::Critical) => log::LevelFilter::Off,
    };
    log::set_max_level(filter);
}
