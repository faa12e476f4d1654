//! The module's metrics in Envoy: defined once per VM, counted in the VM, handed to the host
//! once a second (see [`crate::metrics`] for the names).

use crate::metrics::{self, Tally};
use crate::policy::{Policy, Verdict};
use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

thread_local! {
    static STATS: RefCell<Stats> = RefCell::new(Stats::default());
}

#[derive(Default)]
struct Stats {
    ids: HashMap<String, u32>,
    tally: Tally,
    memory_reported: usize,
}

impl Stats {
    fn id(&mut self, kind: MetricType, name: &str) -> Option<u32> {
        if let Some(id) = self.ids.get(name) {
            return Some(*id);
        }
        let id = hostcalls::define_metric(kind, name).ok()?;
        self.ids.insert(name.to_string(), id);
        Some(id)
    }

    fn add(&mut self, name: &str, delta: u64) {
        if delta == 0 {
            return;
        }
        if let Some(id) = self.id(MetricType::Counter, name) {
            let _ = hostcalls::increment_metric(id, i64::try_from(delta).unwrap_or(i64::MAX));
        }
    }

    fn set(&mut self, name: &str, value: u64) {
        if let Some(id) = self.id(MetricType::Gauge, name) {
            let _ = hostcalls::record_metric(id, value);
        }
    }
}

/// Defines every metric, so each shows (as 0) before anything happened.
pub fn define_all() {
    STATS.with_borrow_mut(|stats| {
        for name in [
            metrics::ALLOWED,
            metrics::NOT_REQUIRED,
            metrics::DENIED,
            metrics::CACHE_HITS,
            metrics::CACHE_MISSES,
            metrics::CONFIG_APPLIED,
            metrics::CONFIG_REJECTED,
            metrics::JWKS_FETCH_SUCCESS,
            metrics::JWKS_FETCH_FAILED,
        ] {
            stats.id(MetricType::Counter, name);
        }
        for code in crate::reason::Reason::CODES {
            stats.id(MetricType::Counter, &metrics::denied_name(code));
        }
        for name in [metrics::GENERATION, metrics::VM_MEMORY_BYTES] {
            stats.id(MetricType::Gauge, name);
        }
    });
}

/// One request's outcome; costs no host call.
pub fn count(verdict: &Verdict) {
    STATS.with_borrow_mut(|stats| stats.tally.count(verdict));
}

pub fn configuration_applied(generation: Option<u32>) {
    STATS.with_borrow_mut(|stats| {
        stats.add(metrics::CONFIG_APPLIED, 1);
        if let Some(generation) = generation {
            stats.set(metrics::GENERATION, u64::from(generation));
        }
    });
}

pub fn jwks_fetched(success: bool) {
    let name = if success {
        metrics::JWKS_FETCH_SUCCESS
    } else {
        metrics::JWKS_FETCH_FAILED
    };
    STATS.with_borrow_mut(|stats| stats.add(name, 1));
}

pub fn configuration_rejected() {
    STATS.with_borrow_mut(|stats| stats.add(metrics::CONFIG_REJECTED, 1));
}

/// How far a policy's cache counters were already reported.
#[derive(Default)]
pub struct CacheReported {
    hits: Cell<u64>,
    misses: Cell<u64>,
}

/// Hands the host what moved since the last flush: outcome counters, the cache counters of
/// `policy`, and the VM's memory when it grew.
pub fn flush(policy: Option<(&Policy, &CacheReported)>) {
    STATS.with_borrow_mut(|stats| {
        for (name, delta) in stats.tally.drain() {
            stats.add(&name, delta);
        }
        if let Some((policy, reported)) = policy {
            let hits: u64 = policy.providers().iter().map(|p| p.cache.hits()).sum();
            let misses: u64 = policy.providers().iter().map(|p| p.cache.misses()).sum();
            stats.add(
                metrics::CACHE_HITS,
                hits.saturating_sub(reported.hits.replace(hits)),
            );
            stats.add(
                metrics::CACHE_MISSES,
                misses.saturating_sub(reported.misses.replace(misses)),
            );
        }
        let memory = core::arch::wasm32::memory_size(0) * 65536;
        if memory != stats.memory_reported {
            stats.set(metrics::VM_MEMORY_BYTES, memory as u64);
            stats.memory_reported = memory;
        }
    });
}
