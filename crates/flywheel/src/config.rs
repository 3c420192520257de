//! Configuration, layered: built-in defaults < the TOML file (`--config`) < `FLYWHEEL_*`
//! environment variables < command-line flags. Nothing global: the result is passed
//! down explicitly.
//!
//! ```toml
//! [server]
//! db = "sqlite://flywheel.db"
//! listen = "127.0.0.1:8080"
//! sweep_interval_secs = 60
//!
//! currency = "CNY"          # at the top level, before any [section]
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
//!
//! [scores]
//! half_life_days = 90             # silence halves intimacy and repurchase every 90 days
//! horizon_days = 90               # lifetime value: expected purchases in the next 90 days
//! recompute_interval_secs = 3600  # RFM and lifetime value; 0 = only on demand
//! # [scores.super_user] repurchase, feedback, advocacy, system_purchase, paid_membership
//! # [scores.influence] favour, positive_reviews, shares, followers, referral_tree
//! # [scores.intimacy] talk, togetherness, time      (relative weights)
//! ```
//!
//! Earning rules are not configured here: they are data, managed (and versioned) at
//! `PUT /v1/points/rules`.

use anyhow::{Context, bail};
use flywheel_core::points::PointsPolicy;
use flywheel_core::scores::ScorePolicy;
use flywheel_core::{IdentityRules, Limits, Policy, StagePolicy};
use serde::Deserialize;
use std::path::Path;

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub db: String,
    pub listen: String,
    /// How often the stage sweep looks for members whose stage changed with time.
    pub sweep_interval_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            db: "sqlite://flywheel.db".into(),
            listen: "127.0.0.1:8080".into(),
            sweep_interval_secs: 60,
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FileConfig {
    server: ServerConfig,
    currency: Option<String>,
    identity: IdentityRules,
    stages: StagePolicy,
    points: PointsPolicy,
    scores: ScorePolicy,
    limits: Limits,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub server: ServerConfig,
    pub policy: Policy,
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
        let policy = Policy {
            currency: parsed
                .currency
                .unwrap_or_else(|| Policy::default().currency),
            identity: parsed.identity,
            stages: parsed.stages,
            points: parsed.points,
            scores: parsed.scores,
            limits: parsed.limits,
        };
        if let Ok(db) = std::env::var("FLYWHEEL_DB") {
            server.db = db;
        }
        if let Ok(listen) = std::env::var("FLYWHEEL_LISTEN") {
            server.listen = listen;
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
        Ok(Config {
            server,
            policy,
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
    fn a_config_file_can_rewrite_the_stage_rules() {
        let c = load(
            r#"
            currency = "HKD"
            [server]
            listen = "0.0.0.0:9000"
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
        assert_eq!(c.policy.stages.window_days, 180);
        assert_eq!(c.policy.stages.rules.len(), 1);
        assert_eq!(c.policy.identity.default_region, "HK");
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
