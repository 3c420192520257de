//! `flywheel segments`: count what an expression selects (the live builder's preview,
//! timed), save a segment and fill it, list the segments with their counts — for
//! scripts and the benchmark.

use crate::config::{Config, Overrides};
use anyhow::bail;
use flywheel_core::segment::compile;
use flywheel_store::{AuditActor, PutSegment, SavedSegment, SegmentSettings, Store};
use std::path::Path;
use std::time::Instant;

#[derive(clap::Subcommand)]
pub enum SegmentsCommand {
    /// Count the members an expression selects now (nothing is saved).
    Count {
        expression: String,
        #[arg(long)]
        db: Option<String>,
    },
    /// Save a segment (or change it) and fill it now.
    Define {
        id: String,
        expression: String,
        /// What people call it (default: the id).
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        db: Option<String>,
    },
    /// Every segment with its count.
    List {
        #[arg(long)]
        db: Option<String>,
    },
}

async fn open(file: Option<&Path>, db: Option<String>) -> anyhow::Result<(Store, Config)> {
    let config = Config::load(file, &Overrides { db, listen: None })?;
    let store = Store::open(&config.server.db).await?;
    store.configure_segments(SegmentSettings::of(&config.policy));
    Ok((store, config))
}

pub async fn run(file: Option<&Path>, command: SegmentsCommand) -> anyhow::Result<()> {
    let now = chrono::Utc::now().timestamp_micros();
    match command {
        SegmentsCommand::Count { expression, db } => {
            let (store, _) = open(file, db).await?;
            let lang = store.segment_settings().lang;
            let cond = compile(&expression, &lang).map_err(|e| anyhow::anyhow!("{e}"))?;
            let started = Instant::now();
            let p = store.preview_segment(&cond, now, 0).await?;
            println!(
                "{} members in {:.1} ms",
                p.count,
                started.elapsed().as_secs_f64() * 1000.0
            );
            store.close().await;
        }
        SegmentsCommand::Define {
            id,
            expression,
            name,
            db,
        } => {
            let (store, _) = open(file, db).await?;
            let lang = store.segment_settings().lang;
            let cond = compile(&expression, &lang).map_err(|e| anyhow::anyhow!("{e}"))?;
            let def = PutSegment {
                name: name.unwrap_or_else(|| id.clone()),
                id,
                expression,
                tag: None,
                badge: None,
            };
            match store
                .save_segment(&def, &cond, false, false, &AuditActor::cli(), now)
                .await?
            {
                SavedSegment::UnknownSegment(s) => bail!("in_segment({s:?}): no such segment"),
                SavedSegment::Cycle(s) => bail!("segments would read themselves through {s:?}"),
                _ => {}
            }
            let started = Instant::now();
            let r = store.fill_segments(now, u32::MAX).await?;
            println!(
                "{}: {} members ({} evaluated in {:.1} s)",
                def.id,
                store.segment_count(&def.id).await?,
                r.examined,
                started.elapsed().as_secs_f64()
            );
            store.close().await;
        }
        SegmentsCommand::List { db } => {
            let (store, _) = open(file, db).await?;
            let counts = store.segment_counts().await?;
            for s in store.segments().await? {
                println!(
                    "{}\t{}\t{}\t{}",
                    s.id,
                    counts.get(&s.id).copied().unwrap_or(0),
                    s.status,
                    s.expression
                );
            }
            store.close().await;
        }
    }
    Ok(())
}
