//! The proxy-wasm glue: a root context that compiles each configuration Envoy or istiod pushes
//! and fetches remote key sets, and an HTTP context per request that hands the headers to
//! [`Policy::check`] and carries out the verdict. Host calls live in `host`, key set fetches
//! in `fetch`, metrics in `stats`.

mod fetch;
mod host;
mod stats;

use crate::config;
use crate::key::SignatureHost;
use crate::policy::{Policy, Verdict};
use crate::request::Request;
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, UNIX_EPOCH};

proxy_wasm::main! {{
    // Ignoring the error is right: it only says a logger is already installed.
    let _ = log::set_logger(&host::HostLogger);
    proxy_wasm::set_root_context(|_| Box::new(Root::default()));
}}

/// How often counters are handed to the host.
const FLUSH_PERIOD: f64 = 1.0;
/// How often the root context wakes up: every second to hand over counters, ten times a
/// second when remote key sets may be wanted (a request may be waiting for one).
const SLOW_TICK: Duration = Duration::from_secs(1);
const FAST_TICK: Duration = Duration::from_millis(100);

/// What one configuration compiled to, shared by every request until the next push.
struct Active {
    policy: Policy,
    host_signatures: bool,
    cache_reported: stats::CacheReported,
    /// HTTP contexts held until a key set fetch ends.
    waiting: RefCell<Vec<u32>>,
}

#[derive(Default)]
struct Root {
    active: Option<Rc<Active>>,
    flushed_at: Cell<f64>,
}

impl Context for Root {
    fn on_http_call_response(
        &mut self,
        token: u32,
        _headers: usize,
        body_size: usize,
        _trailers: usize,
    ) {
        if let Some(active) = &self.active {
            if fetch::answered(&active.policy, token, body_size, now()) {
                wake(active);
            }
        }
    }
}

impl RootContext for Root {
    fn on_vm_start(&mut self, _vm_configuration_size: usize) -> bool {
        host::sync_log_level();
        stats::define_all();
        log::info!("jwt-policy {} started", env!("CARGO_PKG_VERSION"));
        true
    }

    fn on_configure(&mut self, plugin_configuration_size: usize) -> bool {
        host::sync_log_level();
        let started = hostcalls::get_current_time().ok();
        // Refused before it is copied in: VM memory that grows never shrinks.
        if plugin_configuration_size > config::MAX_BYTES {
            log::error!(
                "jwt-policy: configuration rejected: the configuration is {plugin_configuration_size} \
                 bytes, more than the {} accepted",
                config::MAX_BYTES
            );
            stats::configuration_rejected();
            return false;
        }
        let document = match hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => Vec::new(),
            Err(status) => {
                log::error!("jwt-policy: cannot read the plugin configuration: {status:?}");
                stats::configuration_rejected();
                return false;
            }
        };
        let compiled = match Policy::from_json(&document) {
            Ok(compiled) => compiled,
            Err(error) => {
                // Returning false makes Envoy refuse this configuration and keep the last good
                // one (an xDS update is NACKed); at startup the listener does not come up.
                log::error!("jwt-policy: configuration rejected: {error}");
                stats::configuration_rejected();
                return false;
            }
        };
        for note in &compiled.notes {
            log::info!("jwt-policy: {note}");
        }
        let policy = compiled.policy;
        let host_signatures = policy.use_host_signatures() && host::host_verifies_signatures();
        let elapsed_ms = started.map_or(0.0, host::milliseconds_since);
        log::info!(
            "jwt-policy: configuration applied in {elapsed_ms:.1} ms: generation {}, {} provider(s), \
             {} key(s); RSA PKCS#1 and ECDSA signatures checked {}",
            policy.generation().map_or("none".to_string(), |g| g.to_string()),
            policy.providers().len(),
            policy.providers().iter().map(|p| p.key_count()).sum::<usize>(),
            if host_signatures { "by Envoy (verify_signature)" } else { "in the VM" }
        );
        // What the previous configuration counted is reported before it goes.
        self.flush();
        stats::configuration_applied(policy.generation());
        let remote = policy.providers().iter().any(|p| p.remote().is_some());
        let active = Rc::new(Active {
            policy,
            host_signatures,
            cache_reported: stats::CacheReported::default(),
            waiting: RefCell::new(Vec::new()),
        });
        if remote {
            fetch::poll(&active.policy, now());
        }
        self.active = Some(active);
        let tick = if remote { FAST_TICK } else { SLOW_TICK };
        if let Err(status) = hostcalls::set_tick_period(tick) {
            log::warn!("jwt-policy: no tick, so no metrics and no key set refresh: {status:?}");
        }
        true
    }

    fn on_tick(&mut self) {
        let now = now();
        if let Some(active) = &self.active {
            if fetch::poll(&active.policy, now) {
                wake(active);
            }
        }
        if now - self.flushed_at.get() >= FLUSH_PERIOD {
            self.flushed_at.set(now);
            self.flush();
        }
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Filter {
            context_id,
            active: self.active.clone(),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

impl Root {
    fn flush(&self) {
        stats::flush(
            self.active
                .as_deref()
                .map(|a| (&a.policy, &a.cache_reported)),
        );
    }
}

struct Filter {
    context_id: u32,
    active: Option<Rc<Active>>,
}

impl Context for Filter {}

impl HttpContext for Filter {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let Some(active) = self.active.clone() else {
            // Envoy does not start a filter whose configuration failed; refuse, never pass.
            return host::refuse(503, "jwt-policy has no configuration");
        };
        match decide(&active, true) {
            Some(action) => action,
            None => {
                // Held until the key set fetch it waits for ends (see `wake`).
                active.waiting.borrow_mut().push(self.context_id);
                Action::Pause
            }
        }
    }
}

/// Decides the request of the current context and carries the verdict out; `None` when it
/// is to wait for a key set (only when `may_wait`).
fn decide(active: &Active, may_wait: bool) -> Option<Action> {
    let map = match host::request_header_map() {
        Ok(map) => map,
        Err(status) => {
            log::error!("jwt-policy: cannot read request headers: status {status}");
            return Some(host::refuse(
                500,
                "jwt-policy cannot read the request headers",
            ));
        }
    };
    let Some(request) = Request::from_header_map(&map) else {
        log::error!("jwt-policy: the host sent a malformed header map");
        return Some(host::refuse(
            500,
            "jwt-policy cannot read the request headers",
        ));
    };
    // Without the time no expiry can be checked: refuse rather than guess.
    let Some(now) = clock() else {
        log::error!("jwt-policy: cannot read the host clock");
        return Some(host::refuse(500, "jwt-policy cannot read the clock"));
    };
    let signatures = active
        .host_signatures
        .then_some(&host::EnvoySignatures as &dyn SignatureHost);
    let verdict = if may_wait {
        active.policy.check_or_wait(&request, now, signatures)
    } else {
        active.policy.check(&request, now, signatures)
    };
    stats::count(&verdict);
    match verdict {
        Verdict::Allow(edits) | Verdict::NotRequired(edits) => {
            if let Err(error) = host::apply(&edits) {
                log::error!("jwt-policy: {error}");
                return Some(host::refuse(500, "jwt-policy cannot edit the request"));
            }
            Some(Action::Continue)
        }
        Verdict::Wait(_) => None,
        Verdict::Deny { reason, response } => {
            log::debug!("jwt-policy: denied ({}): {reason}", reason.code());
            host::send(&response);
            Some(Action::Pause)
        }
    }
}

/// Decides every held request once no key set fetch is in flight any more: each is decided
/// now with the keys there are, and goes on or is refused.
fn wake(active: &Active) {
    let fetching = active
        .policy
        .providers()
        .iter()
        .any(|p| p.remote().is_some_and(|r| r.in_flight().is_some()));
    if fetching {
        return;
    }
    let held: Vec<u32> = active.waiting.borrow_mut().drain(..).collect();
    for context_id in held {
        // A context whose client went away is gone; nothing to do for it.
        if hostcalls::set_effective_context(context_id).is_err() {
            continue;
        }
        if decide(active, false) == Some(Action::Continue) {
            if let Err(status) = hostcalls::resume_http_request() {
                log::warn!("jwt-policy: cannot resume a held request: {status:?}");
            }
        }
    }
}

/// Unix time in seconds, from the host's clock.
fn clock() -> Option<f64> {
    hostcalls::get_current_time()
        .ok()
        .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs_f64())
}

/// The time for scheduling fetches and counters, where a broken clock only delays them.
fn now() -> f64 {
    clock().unwrap_or(0.0)
}
