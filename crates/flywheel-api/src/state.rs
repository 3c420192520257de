//! What every handler shares: the store, the brand's policy, the clock, and the cache of
//! verified API keys.

use flywheel_core::Policy;
use flywheel_core::auth::Role;
use flywheel_core::time::Micros;
use flywheel_store::{EventQueue, Store};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

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
    pub(crate) keys: Arc<KeyCache>,
    /// Single events waiting to be committed together; started on first use, so that
    /// building the state needs no runtime.
    events: Arc<OnceLock<EventQueue>>,
}

impl AppState {
    pub fn new(store: Store, policy: Policy, env_admin_key: Option<&str>) -> AppState {
        AppState {
            store,
            policy: Arc::new(policy),
            clock: system_clock(),
            env_admin_key_hash: env_admin_key.map(|k| flywheel_core::auth::hash_key(k).into()),
            keys: Arc::new(KeyCache::default()),
            events: Arc::new(OnceLock::new()),
        }
    }

    pub fn now(&self) -> Micros {
        (self.clock)()
    }

    /// The group-commit queue for single events.
    pub(crate) fn event_queue(&self) -> &EventQueue {
        self.events
            .get_or_init(|| EventQueue::start(self.store.clone(), self.policy.clone()))
    }
}

/// Verified keys, remembered briefly so a busy integrator costs one hash per call, not
/// one query. A revoked key stops working within [`KEY_CACHE_TTL`].
#[derive(Default)]
pub(crate) struct KeyCache {
    entries: RwLock<HashMap<String, (Role, i64, Instant)>>,
}

pub const KEY_CACHE_TTL: Duration = Duration::from_secs(30);

impl KeyCache {
    pub fn get(&self, hash: &str) -> Option<(Role, i64)> {
        let entries = self.entries.read().ok()?;
        let (role, id, at) = entries.get(hash)?;
        (at.elapsed() < KEY_CACHE_TTL).then_some((*role, *id))
    }

    pub fn put(&self, hash: String, role: Role, id: i64) {
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() > 10_000 {
                entries.clear();
            }
            entries.insert(hash, (role, id, Instant::now()));
        }
    }
}
