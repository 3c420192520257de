//! The `flywheel` binary: one program that serves the API, builds a demo brand, imports
//! event files, migrates the database, manages API keys, recomputes scores, fits
//! lifetime-value models for analysts, and dumps a database canonically for checks.
//!
//! Each subcommand lives in its own module; this file only parses the command line
//! and hands over.

mod channels;
mod clv;
mod config;
mod demo;
mod give_way;
mod healthcheck;
mod import;
mod import_sort;
mod import_tags;
mod keys;
mod open;
mod replay;
mod scores;
mod segments;
mod serve;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// mimalloc rather than the system allocator: ingest allocates and frees small values
/// on two threads at once (tokio's and SQLite's worker), and glibc's malloc spent about
/// a fifth of an import's CPU on that, much of it waiting on its arena locks. Built with
/// mimalloc's `override` feature, so the bundled SQLite's own mallocs use it too, and
/// with `no_thp`: mimalloc otherwise asks for transparent huge pages, and every page it
/// took back after returning it to the system was a fresh 2 MiB the kernel had to zero
/// (`clear_page_erms`, a tenth of an import's samples).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "flywheel", version, about = "Super-user relationship engine")]
struct Cli {
    /// TOML configuration file (defaults < file < FLYWHEEL_* env < flags).
    #[arg(long, global = true, env = "FLYWHEEL_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API (migrations run first).
    Serve {
        /// Database URL: sqlite://FILE (default sqlite://flywheel.db) or postgres://…
        #[arg(long)]
        db: Option<String>,
        /// Address to listen on (default 127.0.0.1:8080).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Build a synthetic tea-and-coffee brand with two years of history, then serve it.
    Demo(demo::DemoArgs),
    /// Stream events from a JSON Lines or CSV file into the database.
    Import(import::ImportArgs),
    /// Apply pending database migrations and exit.
    Migrate {
        #[arg(long)]
        db: Option<String>,
    },
    /// Re-evaluate the stages of members whose stage changed with time, post points that
    /// became available or expired, and end membership terms that are over, once.
    Sweep {
        #[arg(long)]
        db: Option<String>,
        /// Re-evaluate every member, not only those due (after changing the stage rules).
        #[arg(long)]
        all: bool,
    },
    /// Walk members through their journeys and deliver the messages due, once (what
    /// `serve` does every second).
    Engage {
        #[arg(long)]
        db: Option<String>,
        /// Act as at this instant (RFC 3339) instead of now.
        #[arg(long)]
        as_of: Option<String>,
    },
    /// Print every table's rows as JSON lines in a canonical order, without the columns
    /// that record when a row was written: two databases holding the same facts print the
    /// same text (for checks; each table is read whole).
    Dump {
        #[arg(long)]
        db: Option<String>,
        /// The canonical form (the only one there is).
        #[arg(long, required = true)]
        canonical: bool,
    },
    /// Create, list and revoke API keys.
    Keys {
        #[command(subcommand)]
        command: keys::KeysCommand,
        #[arg(long, global = true)]
        db: Option<String>,
    },
    /// Member scores: recompute RFM, lifetime value and the rest for every member.
    Scores {
        #[command(subcommand)]
        command: scores::ScoresCommand,
    },
    /// Segments: count what an expression selects, save one and fill it, list them.
    Segments {
        #[command(subcommand)]
        command: segments::SegmentsCommand,
    },
    /// Customer lifetime value (BG/NBD + Gamma-Gamma) from a transaction CSV file.
    Clv {
        #[command(subcommand)]
        command: clv::ClvCommand,
    },
    /// Ask a running server whether it is healthy (exit 0 if so).
    Healthcheck {
        /// Base URL of the server (default: http:// + the configured listen address).
        #[arg(long)]
        url: Option<String>,
    },
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FLYWHEEL_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=warn")
            }),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    use config::{Config, Overrides};
    let file = cli.config.as_deref();
    let ok = std::process::ExitCode::SUCCESS;
    match cli.command {
        Command::Serve { db, listen } => {
            let config = Config::load(file, &Overrides { db, listen })?;
            serve::run(config, None).await?;
            Ok(ok)
        }
        Command::Demo(args) => demo::run(file, args).await.map(|_| ok),
        Command::Import(args) => import::run(file, args).await,
        Command::Migrate { db } => {
            let config = Config::load(file, &Overrides { db, listen: None })?;
            let store = flywheel_store::Store::connect(&config.server.db).await?;
            let ran = store.migrate().await?;
            println!(
                "{ran} migration(s) applied; schema version {}",
                store.schema_version().await?
            );
            Ok(ok)
        }
        Command::Engage { db, as_of } => {
            let config = Config::load(file, &Overrides { db, listen: None })?;
            let store = flywheel_store::Store::open(&config.server.db).await?;
            store.configure_segments(flywheel_store::SegmentSettings::of(&config.policy));
            let now = match as_of {
                Some(t) => flywheel_core::time::parse_rfc3339(&t)
                    .ok_or_else(|| anyhow::anyhow!("--as-of {t:?} is not an RFC 3339 instant"))?,
                None => chrono::Utc::now().timestamp_micros(),
            };
            let senders = channels::Senders::new(config.channels.clone())?;
            let (runs, delivered, attempted) =
                serve::engage_once(&store, &config, &senders, now).await?;
            println!(
                "journeys: {} admitted, {} skipped, {} steps, {} finished; messages: {} queued, {} delivered of {} attempted",
                runs.admitted,
                runs.skipped,
                runs.steps,
                runs.finished,
                runs.messages,
                delivered,
                attempted
            );
            store.close().await;
            Ok(ok)
        }
        Command::Sweep { db, all } => {
            let config = Config::load(file, &Overrides { db, listen: None })?;
            // Holding the lease (no server is running), the passes take their largest
            // slices: nobody waits between them.
            let store = crate::open::open_for_ingest(&config, false).await?;
            store.work_alone();
            let now = chrono::Utc::now().timestamp_micros();
            let report = store.sweep(&config.policy.stages, now, all).await?;
            println!(
                "examined {} members; {} changed stage",
                report.examined, report.changed
            );
            let points = store.sweep_points(now).await?;
            println!(
                "points: {} lots became available, {} lots expired, for {} members",
                points.matured, points.expired, points.members
            );
            let tiers = store.sweep_memberships(now).await?;
            println!(
                "memberships: {} kept by retention, {} lowered, {} lapsed",
                tiers.retained, tiers.lowered, tiers.lapsed
            );
            let segments = store.sweep_segments(now).await?;
            println!(
                "segments: {} members due, {} entries, {} exits",
                segments.examined, segments.entered, segments.left
            );
            store.close().await;
            Ok(ok)
        }
        Command::Dump { db, canonical: _ } => {
            let config = Config::load(file, &Overrides { db, listen: None })?;
            let store = flywheel_store::Store::open(&config.server.db).await?;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            store.dump_canonical(&mut out).await?;
            std::io::Write::flush(&mut out)?;
            store.close().await;
            Ok(ok)
        }
        Command::Keys { command, db } => {
            let config = Config::load(file, &Overrides { db, listen: None })?;
            keys::run(&config, command).await.map(|_| ok)
        }
        Command::Scores { command } => scores::run(file, command).await.map(|_| ok),
        Command::Segments { command } => segments::run(file, command).await.map(|_| ok),
        Command::Clv { command } => clv::run(command).map(|_| ok),
        Command::Healthcheck { url } => {
            let config = Config::load(file, &Overrides::default())?;
            healthcheck::run(url.unwrap_or_else(|| format!("http://{}", config.server.listen)))
                .await
        }
    }
}
