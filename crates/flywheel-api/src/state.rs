//! What every handler shares: the store, the brand's policy, the clock, the HTTP limits
//! with the per-key rate buckets, and the cache of verified API keys.

use crate::limits::{HttpLimits, RateLimits};
use flywheel_core::Policy;
use flywheel_core::auth::Role;
use flywheel_core::time::Micros;
use flywheel_store::{EventQueue, Store};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

pub type Clock = Arc<dyn Fn() -> Micros + Send + Sync>;

/// The system clock, in microseconds.
pub fn system_clock() -> Clock {
    Arc::new(|| chrono::Utc::now().timestamp_micros())
}

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub policy: Arc<Policy>,
    pub clock: Clock,
    /// SHA-256 of the admin key given in the environment, if any.
    pub env_admin_key_hash: Option<Arc<str>>,
    pub limits: Arc<HttpLimits>,
    /// `/metrics` answers only with a key (of a role that reads statistics).
    pub metrics_require_key: bool,
    pub(crate) keys: Arc<KeyCache>,
    pub(crate) rates: Arc<RateLimits>,
    /// Batches read and parsed at once (`limits.concurrent_batches`).
    pub(crate) batch_permits: Arc<Semaphore>,
    /// Where members open their card links (`server.public_url`); unset, the Host the
    /// request for the link came to.
    pub public_url: Option<Arc<str>>,
    /// How old kept history figures (active members, cohorts) may grow once anything
    /// was written since they were computed (`server.stats_refresh_secs`).
    pub stats_refresh_after: Micros,
    /// The WeChat accounts whose callbacks this server takes (`[wechat]`).
    pub wechat: Arc<crate::wechat::WechatSettings>,
    /// The key that signs card links, read from the database on first use.
    pub(crate) card_secret: Arc<tokio::sync::OnceCell<Vec<u8>>>,
    /// Single events waiting to be committed together; started on first use, so that
    /// building the state needs no runtime.
    events: Arc<OnceLock<EventQueue>>,
}

/// Kept history figures are computed again at most this often while data changes.
pub const DEFAULT_STATS_REFRESH_AFTER: Micros = 15 * 60 * flywheel_core::time::SECOND;

impl AppState {
    pub fn new(store: Store, policy: Policy, env_admin_key: Option<&str>) -> AppState {
        // The metrics recorder before anything is counted.
        crate::metrics::handle();
        store.configure_segments(flywheel_store::SegmentSettings::of(&policy));
        AppState {
            store,
            policy: Arc::new(policy),
            clock: system_clock(),
            env_admin_key_hash: env_admin_key.map(|k| flywheel_core::auth::hash_key(k).into()),
            limits: Arc::new(HttpLimits::default()),
            metrics_require_key: false,
            keys: Arc::new(KeyCache::default()),
            rates: Arc::new(RateLimits::new(&HttpLimits::default().rates)),
            batch_permits: Arc::new(Semaphore::new(HttpLimits::default().concurrent_batches)),
            public_url: None,
            stats_refresh_after: DEFAULT_STATS_REFRESH_AFTER,
            wechat: Arc::new(crate::wechat::WechatSettings::default()),
            card_secret: Arc::new(tokio::sync::OnceCell::new()),
            events: Arc::new(OnceLock::new()),
        }
    }

    /// The same state with other HTTP limits.
    pub fn with_limits(mut self, limits: HttpLimits) -> AppState {
        self.rates = Arc::new(RateLimits::new(&limits.rates));
        self.batch_permits = Arc::new(Semaphore::new(limits.concurrent_batches));
        self.limits = Arc::new(limits);
        self
    }

    pub fn now(&self) -> Micros {
        (self.clock)()
    }

    /// The group-commit queue for single events.
    pub(crate) fn event_queue(&self) -> &EventQueue {
        self.events
            .get_or_init(|| EventQueue::start(self.store.clone(), self.policy.clone()))
    }

    /// The queue if it has been started (for metrics; never starts it).
    pub(crate) fn started_event_queue(&self) -> Option<&EventQueue> {
        self.events.get()
    }
}

/// A verified key: its role, id and label.
#[derive(Clone, Debug)]
pub(crate) struct KnownKey {
    pub role: Role,
    pub id: i64,
    pub label: String,
}

/// Verified keys, remembered briefly so a busy integrator costs one hash per call, not
/// one query. A revoked key stops working within [`KEY_CACHE_TTL`].
#[derive(Default)]
pub(crate) struct KeyCache {
    entries: RwLock<HashMap<String, (KnownKey, Instant)>>,
}

pub const KEY_CACHE_TTL: Duration = Duration::from_secs(30);

impl KeyCache {
    pub fn get(&self, hash: &str) -> Option<KnownKey> {
        let entries = self.entries.read().ok()?;
        let (key, at) = entries.get(hash)?;
        (at.elapsed() < KEY_CACHE_TTL).then(|| key.clone())
    }

    pub fn put(&self, hash: String, key: KnownKey) {
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() > 10_000 {
                entries.clear();
            }
            entries.insert(hash, (key, Instant::now()));
        }
    }
}
