//! Opening the store for a command that ingests or sweeps (`serve`, `import`, `demo`,
//! `sweep`): the member
//! cache as configured, then the ingest engine — the lease if no other process holds
//! it, a replay of what a stopped process left unapplied in the event log, and
//! write-behind where configured. Other commands open the store plainly: they write
//! through and wait for the lease holder's queue to empty before they write.

use crate::config::Config;
use anyhow::Context;
use flywheel_store::{EngineOptions, Store};

pub async fn open_for_ingest(config: &Config, write_behind: bool) -> anyhow::Result<Store> {
    let store = Store::open(&config.server.db)
        .await
        .with_context(|| format!("opening {}", config.server.db))?;
    store.configure_segments(flywheel_store::SegmentSettings::of(&config.policy));
    let (members, bytes) = config.server.member_cache_bounds(store.backend());
    store.set_member_cache(members, bytes).await;
    start_engine(&store, config, write_behind).await?;
    Ok(store)
}

pub async fn start_engine(
    store: &Store,
    config: &Config,
    write_behind: bool,
) -> anyhow::Result<()> {
    let options = EngineOptions {
        write_behind,
        flush_rows: config.server.flush_rows,
        ..EngineOptions::default()
    };
    let holder = store
        .start_engine(&config.policy, options)
        .await
        .context("starting the ingest engine (replaying the event log)")?;
    if write_behind && !holder {
        tracing::warn!(
            "write_behind is on, but another process holds the ingest lease: writing through"
        );
    }
    Ok(())
}
