//! The proxy-wasm glue: a root context that compiles each configuration Envoy or istiod pushes,
//! and an HTTP context per request that hands the headers to [`Policy::check`] and carries
//! out the verdict. Every host call goes through `proxy_wasm::hostcalls` and its error is
//! handled: a panic here would abort the VM and fail every later request on the worker.

use crate::alg::Hash;
use crate::b64;
use crate::host_signature::{self, probe};
use crate::key::SignatureHost;
use crate::policy::{Edits, Policy, Verdict};
use crate::request::Request;
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType, LogLevel, MapType, MetricType};
use std::cell::Cell;
use std::rc::Rc;
use std::time::{SystemTime, UNIX_EPOCH};

proxy_wasm::main! {{
    // Ignoring the error is right: it only says a logger is already installed.
    let _ = log::set_logger(&HostLogger);
    proxy_wasm::set_root_context(|_| Box::new(Root::default()));
}}

/// What one configuration compiled to, shared by every request until the next push.
struct Active {
    policy: Policy,
    host_signatures: bool,
    memory: MemoryGauge,
}

#[derive(Default)]
struct Root {
    active: Option<Rc<Active>>,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_vm_start(&mut self, _vm_configuration_size: usize) -> bool {
        sync_log_level();
        log::info!("jwt-policy {} started", env!("CARGO_PKG_VERSION"));
        true
    }

    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        sync_log_level();
        let started = hostcalls::get_current_time().ok();
        let document = match hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => Vec::new(),
            Err(status) => {
                log::error!("jwt-policy: cannot read the plugin configuration: {status:?}");
                return false;
            }
        };
        let compiled = match Policy::from_json(&document) {
            Ok(compiled) => compiled,
            Err(error) => {
                // Returning false makes Envoy refuse this configuration and keep the last good
                // one (an xDS update is NACKed); at startup the listener does not come up.
                log::error!("jwt-policy: configuration rejected: {error}");
                return false;
            }
        };
        for note in &compiled.notes {
            log::info!("jwt-policy: {note}");
        }
        let host_signatures = compiled.policy.use_host_signatures() && host_verifies_signatures();
        let elapsed_ms = started.map_or(0.0, milliseconds_since);
        log::info!(
            "jwt-policy: configuration applied in {elapsed_ms:.1} ms: {} provider(s), {} key(s); \
             RSA PKCS#1 and ECDSA signatures checked {}",
            compiled.policy.providers().len(),
            compiled
                .policy
                .providers()
                .iter()
                .map(|p| p.keys.len())
                .sum::<usize>(),
            if host_signatures {
                "by Envoy (verify_signature)"
            } else {
                "in the VM"
            }
        );
        let memory = MemoryGauge::define();
        memory.report();
        self.active = Some(Rc::new(Active {
            policy: compiled.policy,
            host_signatures,
            memory,
        }));
        true
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Filter {
            active: self.active.clone(),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Filter {
    active: Option<Rc<Active>>,
}

impl Context for Filter {}

impl HttpContext for Filter {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let Some(active) = self.active.clone() else {
            // Envoy does not start a filter whose configuration failed; refuse, never pass.
            return refuse(503, "jwt-policy has no configuration");
        };
        let map = match request_header_map() {
            Ok(map) => map,
            Err(status) => {
                log::error!("jwt-policy: cannot read request headers: status {status}");
                return refuse(500, "jwt-policy cannot read the request headers");
            }
        };
        let Some(request) = Request::from_header_map(&map) else {
            log::error!("jwt-policy: the host sent a malformed header map");
            return refuse(500, "jwt-policy cannot read the request headers");
        };
        let now = match hostcalls::get_current_time() {
            Ok(time) => time
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
            Err(status) => {
                log::error!("jwt-policy: cannot read the host clock: {status:?}");
                return refuse(500, "jwt-policy cannot read the clock");
            }
        };
        let host = active
            .host_signatures
            .then_some(&EnvoySignatures as &dyn SignatureHost);
        let verdict = active.policy.check(&request, now, host);
        active.memory.report();
        match verdict {
            Verdict::Allow(edits) => {
                apply(&edits);
                Action::Continue
            }
            Verdict::Deny { reason, response } => {
                log::debug!("jwt-policy: denied ({}): {reason}", reason.code());
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
                Action::Pause
            }
        }
    }
}

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_get_header_map_pairs(map_type: u32, data: *mut *mut u8, size: *mut usize) -> u32;
}

/// The request headers in their serialized form, read in place by [`Request::from_header_map`].
/// The SDK's own reader copies every name and value into a String and unwraps their UTF-8;
/// this costs one buffer and cannot panic.
fn request_header_map() -> Result<Vec<u8>, u32> {
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

fn apply(edits: &Edits) {
    let map = MapType::HttpRequestHeaders;
    for name in &edits.remove_headers {
        if let Err(status) = hostcalls::remove_map_value(map, name) {
            log::warn!("jwt-policy: cannot remove header {name}: {status:?}");
        }
    }
    for (name, value) in &edits.add_headers {
        if let Err(status) = hostcalls::add_map_value(map, name, value) {
            log::warn!("jwt-policy: cannot add header {name}: {status:?}");
        }
    }
    if let Some(path) = &edits.path {
        if let Err(status) = hostcalls::set_map_value(map, ":path", Some(path)) {
            log::warn!("jwt-policy: cannot rewrite :path: {status:?}");
        }
    }
    if edits.clear_route_cache {
        if let Err(status) = hostcalls::call_foreign_function("clear_route_cache", None) {
            log::warn!("jwt-policy: cannot clear the route cache: {status:?}");
        }
    }
}

fn refuse(status: u32, body: &str) -> Action {
    if let Err(error) = hostcalls::send_http_response(status, vec![], Some(body.as_bytes())) {
        log::error!("jwt-policy: cannot send the {status} answer: {error:?}");
    }
    Action::Pause
}

fn milliseconds_since(start: SystemTime) -> f64 {
    hostcalls::get_current_time()
        .ok()
        .and_then(|now| now.duration_since(start).ok())
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// The VM's linear memory as a gauge, recorded when it grows (it never shrinks), so a full
/// token cache shows up in Envoy's stats without a host call per request.
struct MemoryGauge {
    id: Option<u32>,
    reported: Cell<usize>,
}

impl MemoryGauge {
    fn define() -> MemoryGauge {
        MemoryGauge {
            id: hostcalls::define_metric(MetricType::Gauge, "jwt_policy.vm_memory_bytes").ok(),
            reported: Cell::new(0),
        }
    }

    fn report(&self) {
        let bytes = core::arch::wasm32::memory_size(0) * 65536;
        if let (Some(id), true) = (self.id, bytes != self.reported.get()) {
            if hostcalls::record_metric(id, bytes as u64).is_ok() {
                self.reported.set(bytes);
            }
        }
    }
}

/// Envoy's `verify_signature` foreign function (BoringSSL).
struct EnvoySignatures;

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
fn host_verifies_signatures() -> bool {
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
struct HostLogger;

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

fn sync_log_level() {
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
