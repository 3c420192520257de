//! Configuration, layered: built-in defaults < the TOML file (`--config`) < `FLYWHEEL_*`
//! environment variables < command-line flags. Nothing global: the result is passed
//! down explicitly.
//!
//! ```toml
//! [server]
//! db = "sqlite://flywheel.db"
//! listen = "127.0.0.1:8080"
//! sweep_interval_secs = 60
//! metrics_require_key = false   # /metrics without a key, like /health
//! cache_members = 200000        # members ingest keeps in memory between groups…
//! cache_mib = 128               # …and about how much they may hold (SQLite; off on PostgreSQL)
//! write_behind = false          # acknowledge events once logged; write derived rows in flushes
//! flush_rows = 20000            # …flushed once this many rows wait (and every second)
//! public_url = "https://loyalty.example.com"   # card links' address (default: the request's host)
//! stats_refresh_secs = 900  # active members and cohorts: recomputed at most this often
//!
//! currency = "CNY"          # at the top level, before any [section]
//!
//! [events]
//! # the channels events come from; replaces the built-in list when given
//! channels = ["tmall", "jd", "wechat", "app", "mini_program", "store", "vipshop", "bilibili"]
//!
//! [identity]
//! default_region = "CN"
//! unique_kinds = ["phone"]
//!
//! [stages]
//! window_days = 365
//! # [[stages.rules]] and [[stages.caps]] replace the defaults when given.
//!
//! [points]
//! programmes = ["points"]     # the first is the default
//! expire_after_years = 1      # lots expire at the end of the next calendar year (UTC)
//! value_per_point = "0.01"    # for the liability in finance reports
//! transfer_daily_limit = 10000
//!
//! [limits]
//! max_order_amount = "10000000.00"    # larger amounts are refused (422 out_of_range)
//! max_points_per_posting = 100000000  # likewise any earning or points command
//! event_body_bytes = 1048576          # one event, alone or inside a batch (413 beyond)
//! batch_body_bytes = 16777216         # a whole batch
//! concurrent_batches = 2              # batches parsed at once; more wait their turn
//! header_timeout_secs = 10            # to send a request's headers (also the idle limit)
//! body_timeout_secs = 30              # to send its body (408 beyond)
//! [limits.rate_per_key]               # per key, by role; replaces the defaults when given
//! staff = { per_second = 20, burst = 40 }
//! read_only = { per_second = 20, burst = 40 }
//!
//! [scores]
//! half_life_days = 90             # silence halves intimacy and repurchase every 90 days
//! horizon_days = 90               # lifetime value: expected purchases in the next 90 days
//! recompute_interval_secs = 3600  # RFM and lifetime value; 0 = only on demand
//! # [scores.super_user] repurchase, feedback, advocacy, system_purchase, paid_membership
//! # [scores.influence] favour, positive_reviews, shares, followers, referral_tree
//! # [scores.intimacy] talk, togetherness, time      (relative weights)
//!
//! [segments]
//! # the brand's own channels (owned_channel_events); the rest are platforms'
//! owned_channels = ["app", "mini_program", "store", "wechat", "web", "call_center"]
//!
//! [wechat.official_account]   # its callback: /wechat/official-account/callback
//! token = "…"                 # the token set on the platform
//! encoding_aes_key = "…"      # 43 characters; safe mode when set
//! app_id = "wx…"
//! [wechat.work]               # WeCom: /wechat/work/callback
//! token = "…"
//! encoding_aes_key = "…"
//! corp_id = "ww…"
//!
//! [tracking]                  # Segment / RudderStack calls (POST /v1/batch…)
//! user_id_kind = "external_id"
//! default_channel = "app"
//! [tracking.events]           # laid over the built-in e-commerce names
//! "Coupon Applied" = { type = "coupon_applied" }
//! "Lesson Booked" = { type = "participation", properties = { lesson = "kind" } }
//! ```
//!
//! Earning rules are not configured here: they are data, managed (and versioned) at
//! `PUT /v1/points/rules`.

use crate::channels::ChannelsConfig;
use anyhow::{Context, bail};
use flywheel_api::{HttpLimits, Rate};
use flywheel_core::auth::Role;
use flywheel_core::engagement::EngagementPolicy;
use flywheel_core::points::PointsPolicy;
use flywheel_core::policy::SegmentPolicy;
use flywheel_core::scores::ScorePolicy;
use flywheel_core::{IdentityRules, Limits, Money, Policy, StagePolicy};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// The member cache's default bound in members on SQLite.
pub const DEFAULT_CACHE_MEMBERS: usize = 200_000;
/// The member cache's default bound in MiB: with the rest of an import (about 750 MiB
/// at its peak on the `--quick` history, since a batch is one transaction), under the
/// 1 GiB the process must stay within. 256 took that import to 1,030 MiB; 128 peaked at
/// 873 MiB (bench/PROFILE.md). A replayed history runs no faster with more.
pub const DEFAULT_CACHE_MIB: usize = 128;

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub db: String,
    pub listen: String,
    /// How often the stage sweep looks for members whose stage changed with time.
    pub sweep_interval_secs: u64,
    /// `/metrics` answers only with a key (of a role that reads statistics); off by
    /// default, like `/health`, for scrapers on a private network.
    pub metrics_require_key: bool,
    /// Members ingest keeps in memory between its transactions (their identities,
    /// orders and referrals besides); 0: none. Unset: 200,000 on SQLite, none on
    /// PostgreSQL, where it makes the writers take turns (bench/PROFILE.md).
    pub cache_members: Option<usize>,
    /// About how many MiB the cached members may hold in all, as estimated
    /// (`FLYWHEEL_CACHE_MIB`); whichever bound is met first evicts.
    pub cache_mib: usize,
    /// Acknowledge events once they are in the event log and write the rows they derive
    /// in flushes (`FLYWHEEL_WRITE_BEHIND=1`); only the process holding the lease does.
    pub write_behind: bool,
    /// Rows waiting before a flush (`FLYWHEEL_FLUSH_ROWS`); one runs every second besides.
    pub flush_rows: usize,
    /// The address members open their card links at (`https://loyalty.example.com`);
    /// unset, a link names the host its request came to.
    pub public_url: Option<String>,
    /// Active members and cohort retention need a pass over every member's history, so
    /// they are kept and computed again (in the background) at most this often while
    /// anything changes, and on each new day (UTC).
    pub stats_refresh_secs: u64,
}

impl ServerConfig {
    /// The member cache's bounds on `backend`: (members, bytes).
    pub fn member_cache_bounds(&self, backend: flywheel_store::Backend) -> (usize, usize) {
        let members = self.cache_members.unwrap_or(match backend {
            flywheel_store::Backend::Sqlite => DEFAULT_CACHE_MEMBERS,
            flywheel_store::Backend::Postgres => 0,
        });
        (members, self.cache_mib.saturating_mul(1 << 20))
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            db: "sqlite://flywheel.db".into(),
            listen: "127.0.0.1:8080".into(),
            sweep_interval_secs: 60,
            metrics_require_key: false,
            cache_members: None,
            cache_mib: DEFAULT_CACHE_MIB,
            write_behind: false,
            flush_rows: flywheel_store::DEFAULT_FLUSH_ROWS,
            public_url: None,
            stats_refresh_secs: 900,
        }
    }
}

/// `[limits]`: the largest amounts the engine accepts (the core's `Limits`) and what
/// protects the HTTP server (the API's `HttpLimits`), in one section.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct LimitsFile {
    max_order_amount: String,
    max_points_per_posting: i64,
    event_body_bytes: usize,
    batch_body_bytes: usize,
    concurrent_batches: usize,
    header_timeout_secs: u64,
    body_timeout_secs: u64,
    /// Role → rate; giving the table replaces the defaults (a role left out is not
    /// limited).
    rate_per_key: Option<BTreeMap<String, RateFile>>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RateFile {
    per_second: u32,
    burst: u32,
}

impl Default for LimitsFile {
    fn default() -> Self {
        let (core, http) = (Limits::default(), HttpLimits::default());
        LimitsFile {
            max_order_amount: core.max_order_amount.to_string(),
            max_points_per_posting: core.max_points_per_posting,
            event_body_bytes: http.event_body_bytes,
            batch_body_bytes: http.batch_body_bytes,
            concurrent_batches: http.concurrent_batches,
            header_timeout_secs: http.header_timeout.as_secs(),
            body_timeout_secs: http.body_timeout.as_secs(),
            rate_per_key: None,
        }
    }
}

impl LimitsFile {
    fn split(self) -> anyhow::Result<(Limits, HttpLimits)> {
        let core = Limits {
            max_order_amount: Money::parse(&self.max_order_amount).map_err(|e| {
                anyhow::anyhow!("limits.max_order_amount {:?} {e}", self.max_order_amount)
            })?,
            max_points_per_posting: self.max_points_per_posting,
        };
        let mut http = HttpLimits {
            event_body_bytes: self.event_body_bytes,
            batch_body_bytes: self.batch_body_bytes,
            concurrent_batches: self.concurrent_batches,
            header_timeout: Duration::from_secs(self.header_timeout_secs),
            body_timeout: Duration::from_secs(self.body_timeout_secs),
            ..HttpLimits::default()
        };
        if let Some(rates) = self.rate_per_key {
            http.rates = BTreeMap::new();
            for (role, rate) in rates {
                let Some(parsed) = Role::parse(&role) else {
                    let all: Vec<_> = Role::ALL.iter().map(|r| r.as_str()).collect();
                    bail!(
                        "limits.rate_per_key: {role:?} is not a role ({})",
                        all.join(", ")
                    );
                };
                http.rates.insert(
                    parsed,
                    Rate {
                        per_second: rate.per_second,
                        burst: rate.burst,
                    },
                );
            }
        }
        http.validate().map_err(anyhow::Error::msg)?;
        Ok((core, http))
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FileConfig {
    server: ServerConfig,
    currency: Option<String>,
    events: EventsFile,
    identity: IdentityRules,
    stages: StagePolicy,
    points: PointsPolicy,
    scores: ScorePolicy,
    limits: LimitsFile,
    segments: SegmentPolicy,
    engagement: EngagementPolicy,
    care: flywheel_core::service::care::CarePolicy,
    channels: ChannelsConfig,
    tracking: TrackingFile,
    wechat: flywheel_api::WechatSettings,
}

/// `[events]`: the brand's channels, when not the built-in list.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct EventsFile {
    channels: Option<Vec<flywheel_core::Channel>>,
}

/// `[tracking]`: the identity kind of `userId`, the default channel, and `track` names
/// laid over the built-in mapping (Segment's e-commerce names).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct TrackingFile {
    user_id_kind: Option<flywheel_core::identity::IdentityKind>,
    default_channel: Option<flywheel_core::event::Channel>,
    events: BTreeMap<String, flywheel_core::tracking::TrackMapping>,
}

impl TrackingFile {
    fn mapping(self) -> flywheel_core::tracking::Mapping {
        let defaults = flywheel_core::tracking::Mapping::default();
        flywheel_core::tracking::Mapping {
            user_id_kind: self.user_id_kind.unwrap_or(defaults.user_id_kind),
            default_channel: self.default_channel.unwrap_or(defaults.default_channel),
            ..defaults
        }
        .with_events(self.events)
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub server: ServerConfig,
    pub policy: Policy,
    pub http_limits: HttpLimits,
    /// Where messages go (`[channels]`).
    pub channels: ChannelsConfig,
    /// The WeChat accounts whose callbacks are taken (`[wechat.official_account]`,
    /// `[wechat.work]`).
    pub wechat: flywheel_api::WechatSettings,
    /// Accepted as an admin key without being stored, so a fresh install is usable at once.
    pub admin_key: Option<String>,
}

/// Overrides from the command line; `None` leaves the lower layers in place.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub db: Option<String>,
    pub listen: Option<String>,
}

impl Config {
    pub fn load(file: Option<&Path>, flags: &Overrides) -> anyhow::Result<Config> {
        let parsed: FileConfig = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading config {}", path.display()))?;
                toml::from_str(&text).with_context(|| format!("in config {}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let mut server = parsed.server;
        let (limits, http_limits) = parsed.limits.split()?;
        let policy = Policy {
            currency: parsed
                .currency
                .unwrap_or_else(|| Policy::default().currency),
            channels: parsed
                .events
                .channels
                .unwrap_or_else(|| flywheel_core::Channel::BUILT_IN.to_vec()),
            identity: parsed.identity,
            stages: parsed.stages,
            points: parsed.points,
            scores: parsed.scores,
            limits,
            segments: parsed.segments,
            engagement: parsed.engagement,
            care: parsed.care,
            tracking: parsed.tracking.mapping(),
        };
        if let Ok(db) = std::env::var("FLYWHEEL_DB") {
            server.db = db;
        }
        if let Ok(listen) = std::env::var("FLYWHEEL_LISTEN") {
            server.listen = listen;
        }
        if let Ok(on) = std::env::var("FLYWHEEL_WRITE_BEHIND") {
            server.write_behind = matches!(on.as_str(), "1" | "true" | "yes");
        }
        if let Ok(rows) = std::env::var("FLYWHEEL_FLUSH_ROWS") {
            server.flush_rows = rows
                .parse()
                .map_err(|_| anyhow::anyhow!("FLYWHEEL_FLUSH_ROWS must be a number of rows"))?;
        }
        if let Ok(mib) = std::env::var("FLYWHEEL_CACHE_MIB") {
            server.cache_mib = mib
                .parse()
                .map_err(|_| anyhow::anyhow!("FLYWHEEL_CACHE_MIB must be a number of MiB"))?;
        }
        if let Some(db) = &flags.db {
            server.db = db.clone();
        }
        if let Some(listen) = &flags.listen {
            server.listen = listen.clone();
        }
        let admin_key = std::env::var("FLYWHEEL_ADMIN_KEY")
            .ok()
            .filter(|k| !k.trim().is_empty());
        if let Some(key) = &admin_key
            && key.len() < 16
        {
            bail!("FLYWHEEL_ADMIN_KEY must be at least 16 characters");
        }
        policy.validate().map_err(anyhow::Error::msg)?;
        if server.sweep_interval_secs == 0 {
            bail!("server.sweep_interval_secs must be at least 1");
        }
        parsed.channels.validate().map_err(anyhow::Error::msg)?;
        parsed.wechat.validate().map_err(anyhow::Error::msg)?;
        Ok(Config {
            server,
            policy,
            http_limits,
            channels: parsed.channels,
            wechat: parsed.wechat,
            admin_key,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn load(text: &str) -> anyhow::Result<Config> {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        Config::load(Some(f.path()), &Overrides::default())
    }

    #[test]
    fn the_brand_says_which_channels_it_owns() {
        let c = load("[segments]\nowned_channels = [\"app\", \"tmall\"]\n").unwrap();
        let lang = c.policy.language();
        assert!(lang.owned_channels.contains(&flywheel_core::Channel::TMALL));
        assert!(!lang.owned_channels.contains(&flywheel_core::Channel::STORE));
        assert!(load("[segments]\nowned_channels = [\"fax\"]\n").is_err());
        let default = load("").unwrap().policy.language();
        assert!(
            default
                .owned_channels
                .contains(&flywheel_core::Channel::STORE)
        );
    }

    #[test]
    fn the_brand_lists_its_own_channels() {
        let c = load(
            "[events]\nchannels = [\"store\", \"app\", \"vipshop\", \"bilibili\"]\n\
                      [segments]\nowned_channels = [\"store\", \"app\"]\n",
        )
        .unwrap();
        let names: Vec<&str> = c.policy.channels.iter().map(|c| c.as_str()).collect();
        assert_eq!(names, ["store", "app", "vipshop", "bilibili"]);
        assert_eq!(
            c.policy.language().channel_names(false),
            ["vipshop", "bilibili"]
        );
        // Owned channels, the tracking default and the names themselves are checked.
        let owned_elsewhere = load("[events]\nchannels = [\"app\"]\n").unwrap_err();
        assert!(
            format!("{owned_elsewhere:#}").contains("owned_channels"),
            "{owned_elsewhere:#}"
        );
        let e =
            load("[events]\nchannels = [\"store\"]\n[segments]\nowned_channels = [\"store\"]\n")
                .unwrap_err();
        assert!(format!("{e:#}").contains("default_channel"), "{e:#}");
        let e = load("[events]\nchannels = [\"Vip Shop\"]\n").unwrap_err();
        assert!(format!("{e:#}").contains("lower-case"), "{e:#}");
        assert!(load("[events]\nchannels = []\n").is_err());
    }

    #[test]
    fn a_config_file_can_rewrite_the_stage_rules() {
        let c = load(
            r#"
            currency = "HKD"
            [server]
            listen = "0.0.0.0:9000"
            public_url = "https://loyalty.example.com"
            [identity]
            default_region = "HK"
            [stages]
            window_days = 180
            [[stages.rules]]
            stage = "weak"
            when = [{ count = "purchases", at_least = 2 }]
            [[stages.caps]]
            name = "quiet"
            at_most = "micro"
            when = [{ since = "last_engagement", more_than_days = 90 }]
            "#,
        )
        .unwrap();
        assert_eq!(c.policy.currency, "HKD");
        assert_eq!(c.server.listen, "0.0.0.0:9000");
        assert_eq!(
            c.server.public_url.as_deref(),
            Some("https://loyalty.example.com")
        );
        assert_eq!(c.policy.stages.window_days, 180);
        assert_eq!(c.policy.stages.rules.len(), 1);
        assert_eq!(c.policy.identity.default_region, "HK");
    }

    #[test]
    fn tracking_names_are_laid_over_the_built_in_mapping() {
        let c = load(
            r#"
            [tracking]
            user_id_kind = "app_user_id"
            [tracking.events]
            "Lesson Booked" = { type = "participation", properties = { lesson = "kind" } }
            "Order Completed" = { type = "purchase", properties = { receipt = "order_id" } }
            "#,
        )
        .unwrap();
        let m = &c.policy.tracking;
        assert_eq!(m.user_id_kind.as_str(), "app_user_id");
        assert_eq!(m.default_channel.as_str(), "app");
        assert_eq!(m.events["Lesson Booked"].type_name, "participation");
        assert_eq!(
            m.events["Order Completed"].properties["receipt"],
            "order_id"
        );
        assert_eq!(m.events["Product Reviewed"].type_name, "review");
        let err = load("[tracking.events]\n\"X\" = { type = \"Not A Type\" }").unwrap_err();
        assert!(format!("{err:#}").contains("snake_case"), "{err:#}");
    }

    #[test]
    fn mistakes_in_the_file_are_named() {
        let err = load("[server]\nlisen = \"x\"").unwrap_err();
        assert!(format!("{err:#}").contains("lisen"), "{err:#}");
        let err = load("[identity]\ndefault_region = \"XX\"").unwrap_err();
        assert!(format!("{err:#}").contains("default_region"), "{err:#}");
        let err =
            load("[[stages.rules]]\nstage = \"weak\"\nwhen = [{ count = \"hugs\", at_least = 1 }]")
                .unwrap_err();
        assert!(
            format!("{err:#}").contains("line 3"),
            "points at the bad rule: {err:#}"
        );
    }

    #[test]
    fn limits_come_from_one_section_and_mistakes_are_named() {
        let c = load(
            r#"
            [limits]
            max_order_amount = "500.00"
            batch_body_bytes = 2000000
            header_timeout_secs = 3
            [limits.rate_per_key]
            integrator = { per_second = 100, burst = 200 }
            "#,
        )
        .unwrap();
        assert_eq!(c.policy.limits.max_order_amount.to_string(), "500.00");
        assert_eq!(c.http_limits.batch_body_bytes, 2_000_000);
        assert_eq!(c.http_limits.header_timeout, Duration::from_secs(3));
        assert_eq!(
            c.http_limits.rates.len(),
            1,
            "the table replaces the defaults"
        );
        assert_eq!(c.http_limits.rates[&Role::Integrator].burst, 200);
        let defaults = load("").unwrap();
        assert_eq!(defaults.http_limits, HttpLimits::default());
        for (bad, named) in [
            ("[limits]\nmax_order_amount = \"ten\"", "max_order_amount"),
            (
                "[limits.rate_per_key]\ncashier = { per_second = 1, burst = 1 }",
                "cashier",
            ),
            ("[limits]\nconcurrent_batches = 0", "concurrent_batches"),
            (
                "[limits]\nmax_points_per_posting = 0",
                "max_points_per_posting",
            ),
        ] {
            let err = format!("{:#}", load(bad).unwrap_err());
            assert!(err.contains(named), "{bad}: {err}");
        }
    }

    #[test]
    fn flags_beat_the_defaults() {
        let c = Config::load(
            None,
            &Overrides {
                db: Some("sqlite://x.db".into()),
                listen: None,
            },
        )
        .unwrap();
        assert_eq!(c.server.db, "sqlite://x.db");
        assert_eq!(c.policy.stages, StagePolicy::default());
    }
}
