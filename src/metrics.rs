//! What the plugin counts, kept in the VM and handed to the host in batches, so a request
//! costs no host call for its metrics. The names are stable: dashboards depend on them.
//! Envoy shows them under `wasmcustom.` in `/stats`, and without that prefix in
//! `/stats/prometheus` (`jwt_policy_allowed`, `jwt_policy_denied_expired`, ...).

use crate::policy::Verdict;
use crate::reason::Reason;

/// Requests whose rule's requirement was met.
pub const ALLOWED: &str = "jwt_policy.allowed";
/// Requests no rule asked for a token.
pub const NOT_REQUIRED: &str = "jwt_policy.not_required";
/// Requests refused, whatever the reason; `jwt_policy.denied.<reason>` for each reason.
pub const DENIED: &str = "jwt_policy.denied";
/// Tokens found in a provider's cache, and looked for there but not found.
pub const CACHE_HITS: &str = "jwt_policy.jwt_cache_hit";
pub const CACHE_MISSES: &str = "jwt_policy.jwt_cache_miss";
/// Key sets fetched from issuers, and fetches that failed (Envoy's names).
pub const JWKS_FETCH_SUCCESS: &str = "jwt_policy.jwks_fetch_success";
pub const JWKS_FETCH_FAILED: &str = "jwt_policy.jwks_fetch_failed";
/// Configurations compiled and taken, and refused (the previous one keeps serving).
pub const CONFIG_APPLIED: &str = "jwt_policy.config_applied";
pub const CONFIG_REJECTED: &str = "jwt_policy.config_rejected";
/// Gauges: the `generation` of the configuration in force, and the VM's linear memory.
pub const GENERATION: &str = "jwt_policy.generation";
pub const VM_MEMORY_BYTES: &str = "jwt_policy.vm_memory_bytes";

/// Counts per request outcome, until they are flushed.
#[derive(Debug, Default)]
pub struct Tally {
    allowed: u64,
    not_required: u64,
    denied: [u64; Reason::CODES.len()],
}

impl Tally {
    pub fn count(&mut self, verdict: &Verdict) {
        match verdict {
            Verdict::Allow(_) => self.allowed += 1,
            // Counted once decided.
            Verdict::Wait(_) => {}
            Verdict::NotRequired(_) => self.not_required += 1,
            Verdict::Deny { reason, .. } => {
                if let Some(slot) = Reason::CODES
                    .iter()
                    .position(|code| *code == reason.code())
                    .and_then(|i| self.denied.get_mut(i))
                {
                    *slot += 1;
                }
            }
        }
    }

    /// Every counter that moved, as (metric name, increase), and zero again.
    pub fn drain(&mut self) -> Vec<(String, u64)> {
        let mut moved = Vec::new();
        let denied: u64 = self.denied.iter().sum();
        for (name, count) in [
            (ALLOWED, self.allowed),
            (NOT_REQUIRED, self.not_required),
            (DENIED, denied),
        ] {
            if count > 0 {
                moved.push((name.to_string(), count));
            }
        }
        for (code, count) in Reason::CODES.iter().zip(self.denied) {
            if count > 0 {
                moved.push((denied_name(code), count));
            }
        }
        *self = Tally::default();
        moved
    }
}

/// `jwt_policy.denied.<code>`.
pub fn denied_name(code: &str) -> String {
    format!("{DENIED}.{code}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Edits;
    use crate::response::local_response;

    fn deny(reason: Reason) -> Verdict {
        Verdict::Deny {
            response: local_response(&reason, "r", false),
            reason,
        }
    }

    #[test]
    fn counts_outcomes_and_reasons_then_starts_over() {
        let mut tally = Tally::default();
        tally.count(&Verdict::Allow(Edits::default()));
        tally.count(&Verdict::Allow(Edits::default()));
        tally.count(&Verdict::NotRequired(Edits::default()));
        tally.count(&deny(Reason::Expired));
        tally.count(&deny(Reason::NoMatchingKey));
        tally.count(&deny(Reason::Expired));
        let mut moved = tally.drain();
        moved.sort();
        assert_eq!(
            moved,
            [
                ("jwt_policy.allowed".to_string(), 2),
                ("jwt_policy.denied".to_string(), 3),
                ("jwt_policy.denied.expired".to_string(), 2),
                ("jwt_policy.denied.unknown_key".to_string(), 1),
                ("jwt_policy.not_required".to_string(), 1),
            ]
        );
        assert!(tally.drain().is_empty());
    }

    #[test]
    fn every_reason_has_a_counter() {
        let samples = [
            Reason::Missing,
            Reason::MultipleTokens,
            Reason::BadFormat,
            Reason::UnknownIssuer,
            Reason::NotYetValid,
            Reason::Expired,
            Reason::LifetimeTooLong,
            Reason::AudienceNotAllowed,
            Reason::SubjectNotAllowed,
            Reason::NoMatchingKey,
            Reason::JwksFetchFailed,
            Reason::VerificationFailed,
            Reason::ClaimsNotSatisfied("scope".into()),
        ];
        for reason in samples {
            assert!(Reason::CODES.contains(&reason.code()), "{reason:?}");
        }
    }
}
