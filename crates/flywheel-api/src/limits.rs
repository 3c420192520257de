//! What protects the server from its clients: body sizes, how many batches are parsed
//! at once, how long a client may take over its headers and body, and per-key request
//! rates by role. Set in the `[limits]` part of the config.

use crate::error::ApiError;
use flywheel_core::ErrorCode;
use flywheel_core::auth::Role;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Requests a second one key may make, with a burst allowance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    pub per_second: u32,
    pub burst: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct HttpLimits {
    /// `POST /v1/events`, and each event inside a batch.
    pub event_body_bytes: usize,
    /// A whole `POST /v1/events/batch` (up to 10,000 events).
    pub batch_body_bytes: usize,
    /// Batches read and parsed at the same time; more wait their turn, so memory stays
    /// bounded whatever integrators send at once.
    pub concurrent_batches: usize,
    /// A client has this long to send a request's headers, counted from when the server
    /// is ready for them: a half-sent request and an idle keep-alive connection are both
    /// closed after it.
    pub header_timeout: Duration,
    /// A client has this long to send a request's body (answered 408 otherwise).
    pub body_timeout: Duration,
    /// Per-key rates by role; a role not listed is not limited.
    pub rates: BTreeMap<Role, Rate>,
}

impl Default for HttpLimits {
    fn default() -> Self {
        let till = Rate {
            per_second: 20,
            burst: 40,
        };
        HttpLimits {
            event_body_bytes: 1 << 20,
            batch_body_bytes: 16 << 20,
            concurrent_batches: 2,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            // People at a till or reading reports are limited; integrations never are by
            // default, so a busy shop is not throttled by surprise.
            rates: [(Role::Staff, till), (Role::ReadOnly, till)].into(),
        }
    }
}

impl HttpLimits {
    pub fn validate(&self) -> Result<(), String> {
        if self.event_body_bytes < 1024 {
            return Err("limits.event_body_bytes must be at least 1024".into());
        }
        if self.batch_body_bytes < self.event_body_bytes {
            return Err("limits.batch_body_bytes must be at least limits.event_body_bytes".into());
        }
        if self.concurrent_batches == 0 {
            return Err("limits.concurrent_batches must be at least 1".into());
        }
        if self.header_timeout.is_zero() || self.body_timeout.is_zero() {
            return Err(
                "limits.header_timeout_secs and body_timeout_secs must be at least 1".into(),
            );
        }
        for (role, rate) in &self.rates {
            if rate.per_second == 0 || rate.burst == 0 {
                return Err(format!(
                    "limits.rate_per_key.{role}: per_second and burst must be at least 1"
                ));
            }
        }
        Ok(())
    }
}

/// One token bucket per key, per role's rate.
pub(crate) struct RateLimits {
    by_role: HashMap<Role, (Rate, DefaultKeyedRateLimiter<String>)>,
    checks: AtomicU64,
}

impl RateLimits {
    pub fn new(rates: &BTreeMap<Role, Rate>) -> RateLimits {
        let by_role = rates
            .iter()
            .filter_map(|(role, rate)| {
                let per_second = NonZeroU32::new(rate.per_second)?;
                let burst = NonZeroU32::new(rate.burst)?;
                let quota = Quota::per_second(per_second).allow_burst(burst);
                Some((*role, (*rate, RateLimiter::keyed(quota))))
            })
            .collect();
        RateLimits {
            by_role,
            checks: AtomicU64::new(0),
        }
    }

    /// Takes one request from `key`'s bucket, or answers 429 with how long to wait.
    pub fn check(&self, role: Role, key: &str) -> Result<(), ApiError> {
        let Some((rate, limiter)) = self.by_role.get(&role) else {
            return Ok(());
        };
        // Forget idle keys now and then, so the table holds only keys in use.
        if self.checks.fetch_add(1, Ordering::Relaxed) % 10_000 == 9_999 {
            limiter.retain_recent();
        }
        limiter.check_key(&key.to_owned()).map_err(|not_until| {
            let now = governor::clock::Clock::now(&governor::clock::DefaultClock::default());
            let wait = not_until.wait_time_from(now);
            let seconds = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
            ApiError::new(
                ErrorCode::RateLimited,
                format!(
                    "a {role} key may make {} requests a second (bursts of {}); retry in {seconds} s",
                    rate.per_second, rate.burst
                ),
            )
            .retry_after(seconds)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_key_waits_while_other_keys_and_roles_go_on() {
        let limits = RateLimits::new(&HttpLimits::default().rates);
        for _ in 0..40 {
            assert!(limits.check(Role::Staff, "key:1").is_ok());
        }
        let refused = limits.check(Role::Staff, "key:1").unwrap_err();
        assert_eq!(refused.code, ErrorCode::RateLimited);
        assert_eq!(refused.retry_after, Some(1));
        assert!(limits.check(Role::Staff, "key:2").is_ok());
        for _ in 0..1_000 {
            assert!(limits.check(Role::Integrator, "key:3").is_ok());
        }
    }

    #[test]
    fn silly_limits_are_named() {
        let mut l = HttpLimits::default();
        assert_eq!(l.validate(), Ok(()));
        l.concurrent_batches = 0;
        assert!(l.validate().unwrap_err().contains("concurrent_batches"));
    }
}
