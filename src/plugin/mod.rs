//! The proxy-wasm glue: a root context that compiles each configuration Envoy or istiod pushes,
//! and an HTTP context per request that hands the headers to [`Policy::check`] and carries
//! out the verdict. Host calls live in `host`, metrics in `stats`.

mod host;
mod stats;

use crate::config;
use crate::key::SignatureHost;
use crate::policy::{Policy, Verdict};
use crate::request::Request;
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType};
use std::rc::Rc;
use std::time::{Duration, UNIX_EPOCH};

proxy_wasm::main! {{
    // Ignoring the error is right: it only says a logger is already installed.
    let _ = log::set_logger(&host::HostLogger);
    proxy_wasm::set_root_context(|_| Box::new(Root::default()));
}}

/// How often counters are handed to the host.
const FLUSH_PERIOD: Duration = Duration::from_secs(1);

/// What one configuration compiled to, shared by every request until the next push.
struct Active {
    policy: Policy,
    host_signatures: bool,
    cache_reported: stats::CacheReported,
}

#[derive(Default)]
struct Root {
    active: Option<Rc<Active>>,
}

impl Context for Root {}

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
            policy.providers().iter().map(|p| p.keys.len()).sum::<usize>(),
            if host_signatures { "by Envoy (verify_signature)" } else { "in the VM" }
        );
        // What the previous configuration counted is reported before it goes.
        self.flush();
        stats::configuration_applied(policy.generation());
        self.active = Some(Rc::new(Active {
            policy,
            host_signatures,
            cache_reported: stats::CacheReported::default(),
        }));
        if let Err(status) = hostcalls::set_tick_period(FLUSH_PERIOD) {
            log::warn!(
                "jwt-policy: no tick, metrics are reported only on reconfiguration: {status:?}"
            );
        }
        true
    }

    fn on_tick(&mut self) {
        self.flush();
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
    active: Option<Rc<Active>>,
}

impl Context for Filter {}

impl HttpContext for Filter {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let Some(active) = self.active.clone() else {
            // Envoy does not start a filter whose configuration failed; refuse, never pass.
            return host::refuse(503, "jwt-policy has no configuration");
        };
        let map = match host::request_header_map() {
            Ok(map) => map,
            Err(status) => {
                log::error!("jwt-policy: cannot read request headers: status {status}");
                return host::refuse(500, "jwt-policy cannot read the request headers");
            }
        };
        let Some(request) = Request::from_header_map(&map) else {
            log::error!("jwt-policy: the host sent a malformed header map");
            return host::refuse(500, "jwt-policy cannot read the request headers");
        };
        let now = match hostcalls::get_current_time() {
            Ok(time) => time
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
            Err(status) => {
                log::error!("jwt-policy: cannot read the host clock: {status:?}");
                return host::refuse(500, "jwt-policy cannot read the clock");
            }
        };
        let signatures = active
            .host_signatures
            .then_some(&host::EnvoySignatures as &dyn SignatureHost);
        let verdict = active.policy.check(&request, now, signatures);
        stats::count(&verdict);
        match verdict {
            Verdict::Allow(edits) | Verdict::NotRequired(edits) => {
                host::apply(&edits);
                Action::Continue
            }
            Verdict::Deny { reason, response } => {
                log::debug!("jwt-policy: denied ({}): {reason}", reason.code());
                host::send(&response);
                Action::Pause
            }
        }
    }
}
