//! `flywheel demo`: builds a synthetic tea-and-coffee brand (see `generate.rs`), loads
//! its two years of history through the real ingest path — replayed in time order so
//! the stage history reads as it happened, with its membership programmes defined
//! first so tiers move as it goes (`memberships.rs`) — then serves it.

mod catalog;
mod community;
mod fission;
mod generate;
mod journeys;
mod marketing;
mod memberships;
mod rewards;
mod segments;
mod service;

use crate::config::{Config, Overrides};
use anyhow::Context;
use flywheel_core::parse_event;
use flywheel_core::time::Micros;
use flywheel_store::{AsOf, IngestMode, Store};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub use generate::Generator;

/// Events per transaction while loading. Large batches let many inserts share the same
/// B-tree pages, so each commit writes far fewer pages per event.
const DEMO_BATCH: usize = 20_000;

#[derive(clap::Args)]
pub struct DemoArgs {
    /// How many people the brand has.
    #[arg(long, default_value_t = 2000)]
    members: u32,
    /// Same seed (and end date), same brand.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Database URL (default sqlite://flywheel-demo.db, kept apart from your real data).
    #[arg(long)]
    db: Option<String>,
    #[arg(long)]
    listen: Option<String>,
    /// Last day of the history, YYYY-MM-DD (default: today, UTC).
    #[arg(long)]
    end: Option<chrono::NaiveDate>,
    /// Start from an empty database (deletes a SQLite demo file first).
    #[arg(long)]
    fresh: bool,
    /// Load the data and exit instead of serving it.
    #[arg(long)]
    no_serve: bool,
    /// Write the events as JSON Lines to this file instead of loading them.
    #[arg(long)]
    export: Option<PathBuf>,
}

pub async fn run(file: Option<&Path>, args: DemoArgs) -> anyhow::Result<()> {
    let db = args
        .db
        .clone()
        .or_else(|| std::env::var("FLYWHEEL_DB").ok())
        .unwrap_or_else(|| "sqlite://flywheel-demo.db".into());
    let config = Config::load(
        file,
        &Overrides {
            db: Some(db),
            listen: args.listen.clone(),
        },
    )?;
    let end_day = args.end.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let end = end_day
        .and_hms_opt(0, 0, 0)
        .context("end date")?
        .and_utc()
        .timestamp_micros();
    let generator = Generator::new(args.seed, args.members, end);

    if let Some(path) = &args.export {
        let mut out = std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        );
        let mut n = 0u64;
        for event in generator {
            serde_json::to_writer(&mut out, &event)?;
            out.write_all(b"\n")?;
            n += 1;
        }
        out.flush()?;
        println!(
            "wrote {n} events for {} people to {}",
            args.members,
            path.display()
        );
        return Ok(());
    }

    if args.fresh {
        remove_sqlite_file(&config.server.db)?;
    }
    let store = crate::open::open_for_ingest(&config, false).await?;
    if store.stage_counts().await?.total > 0 {
        eprintln!(
            "{} already holds a brand; serving it as it is (use --fresh to rebuild)",
            config.server.db
        );
    } else {
        load(&store, &config, generator, args.members, end).await?;
    }
    if args.no_serve {
        return Ok(());
    }
    crate::serve::run(config, Some(store)).await
}

async fn load(
    store: &Store,
    config: &Config,
    generator: Generator,
    members: u32,
    end: i64,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let bar = ProgressBar::new(730);
    bar.set_style(
        ProgressStyle::with_template("{spinner} building the demo brand [{elapsed_precise}] {wide_bar} day {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let first_day = end - 730 * flywheel_core::time::DAY;
    let now = chrono::Utc::now().timestamp_micros();
    memberships::define(store, first_day, now).await?;
    service::define(store, first_day).await?;
    marketing::define(store, first_day).await?;
    let rules = config.policy.rules();
    let mut batch = Vec::with_capacity(DEMO_BATCH);
    let mut total = 0u64;
    // Generated events carry times up to `end`; parse them as of `end`.
    let ctx = config.policy.parse_context(end);
    // History replays at its own time, with what the clock changes (silences, expiring
    // points, ending terms) applied between stretches, as an import in time order does.
    let replay = std::cell::RefCell::new(crate::replay::Replay::new());
    let flush = async |batch: &mut Vec<flywheel_core::Event>| -> anyhow::Result<()> {
        for range in crate::replay::stretches(batch) {
            let mut r = replay.take();
            r.catch_up(
                store,
                config,
                crate::replay::day_start(batch[range.start].occurred_at),
            )
            .await?;
            replay.replace(r);
            store
                .ingest(
                    &batch[range],
                    &rules,
                    AsOf::EventTime(Micros::MIN),
                    IngestMode::SkipRejected,
                )
                .await?;
        }
        batch.clear();
        Ok(())
    };
    let mut students = Vec::new();
    for raw in generator {
        if raw["type"] == "register"
            && raw["properties"]["occupation"] == "student"
            && let Some(unionid) = raw["identities"]["wechat_unionid"].as_str()
        {
            students.push(unionid.to_owned());
        }
        let event = parse_event(&raw, &ctx)
            .map_err(|e| anyhow::anyhow!("demo generated an invalid event {raw}: {e:?}"))?;
        let day = (event.occurred_at - first_day) / flywheel_core::time::DAY;
        batch.push(event);
        total += 1;
        if batch.len() == DEMO_BATCH {
            flush(&mut batch).await?;
            bar.set_position(day.clamp(0, 730) as u64);
            bar.set_message(format!("{total} events"));
        }
    }
    flush(&mut batch).await?;
    bar.finish_and_clear();
    // Bring every stage, points lot and membership term up to the present, each change
    // at its own instant.
    replay.take().catch_up(store, config, now).await?;
    let points_programme = config.policy.points.default_programme();
    let tiers = memberships::finish(store, &students, points_programme, now).await?;
    rewards::seed(store, now).await?;
    let counts = store.stage_counts().await?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "demo brand ready: {members} people became {} members from {total} events in {secs:.1} s ({:.0} events/s)",
        counts.total,
        total as f64 / secs.max(1e-9)
    );
    let line: Vec<String> = counts
        .stages
        .iter()
        .map(|(s, n)| format!("{s} {n}"))
        .collect();
    eprintln!("stages: {}", line.join(", "));
    let programme = flywheel_core::points::DEFAULT_PROGRAMME;
    let points = store.points_report(programme, 0, now + 1).await?;
    eprintln!(
        "points: {} issued, {} outstanding, {} pending, {} expired, {} clawed back; 4 rewards and 1 partner brand in the catalogue",
        points.issued, points.outstanding, points.pending, points.expired, points.clawed_back
    );
    // Score everyone now, so the scores and the super-user lists answer at once.
    let scores = store
        .recompute_scores(&config.policy.scores, now, &|_| {})
        .await?;
    let report = store.membership_report(0, now + 1).await?;
    let holders: Vec<String> = report
        .iter()
        .map(|r| {
            let tiers: Vec<String> = r
                .figures
                .tiers
                .iter()
                .map(|(tier, f)| format!("{tier} {}", f.members))
                .collect();
            format!("{} {}", r.programme.id, tiers.join(", "))
        })
        .collect();
    eprintln!(
        "memberships: {}; terms ended today: {} kept, {} lowered, {} lapsed; {} student cards; {} notices of a benefit leaving V2",
        holders.join("; "),
        tiers.retained,
        tiers.lowered,
        tiers.lapsed,
        tiers.cards,
        tiers.notices
    );
    // Journeys before the audiences fill, so today's entries start members on them.
    let journeys = journeys::define(store, config.policy.language(), end, now).await?;
    let audiences = segments::seed(store, config.policy.language(), now).await?;
    let counts = store.segment_counts().await?;
    let sizes: Vec<String> = counts.iter().map(|(s, n)| format!("{s} {n}")).collect();
    eprintln!(
        "segments: {} defined ({}); {} members tagged vip by staff (GET /v1/segments, /v1/tags)",
        audiences.segments,
        sizes.join(", "),
        audiences.vips
    );
    let senders = crate::channels::Senders::new(config.channels.clone())?;
    let (runs, delivered, _) = crate::serve::engage_once(store, config, &senders, now).await?;
    let waiting = store
        .outbox(&flywheel_store::OutboxQuery {
            status: Some("waiting".into()),
            limit: 1000,
            ..Default::default()
        })
        .await?
        .len();
    let campaign = store.campaign_results("mid-autumn", 7).await?;
    let groups: Vec<String> = campaign
        .iter()
        .map(|g| format!("{} {}", g.variant, g.members))
        .collect();
    eprintln!(
        "campaign mid-autumn sent to last month's buyers: {} (GET /v1/campaigns/mid-autumn/results)",
        groups.join(", ")
    );
    eprintln!(
        "journeys: {journeys} active; {} members started today, {} messages decided, {delivered} written to {}{} (GET /v1/journeys, /v1/outbox)",
        runs.admitted,
        runs.messages,
        config.channels.file,
        if waiting > 0 {
            format!(", {waiting} waiting for quiet hours to end")
        } else {
            String::new()
        }
    );
    let (codes, used) = marketing::issue(store, end).await?;
    let claimed = marketing::flash_sale(store, config, end).await?;
    eprintln!(
        "marketing: {} products, 4 coupons; {codes} ten-off codes issued to last month's buyers, {used} redeemed at the till; a mooncake flash sale with {claimed} units claimed (GET /v1/products, /v1/coupons, /v1/flash-sales)",
        catalog::PRODUCTS.len()
    );
    let (rounds, joins) =
        fission::seed(store, config, config.policy.language(), first_day, end).await?;
    eprintln!(
        "fission: a group-buy, a help request and a bargain; {rounds} rounds with {joins} friends joined, each a referral of its leader; 2 leaderboards, an Ambassador badge, super-user awards proposed for staff to confirm, a farmed ring with two referrals held for review, and a tracked share link that reached 10 readers and a new buyer (GET /v1/fission-campaigns, /v1/leaderboards, /v1/awards?status=proposed, /v1/referrals?status=held, /v1/share-links)"
    );
    let team_member = service::deposit_team(store, config, end).await?;
    let care = store
        .compute_care(now, &config.policy.care)
        .await?
        .unwrap_or_default();
    let service = store
        .service_figures(now - 30 * flywheel_core::time::DAY, now + 1)
        .await?;
    let (opened, open_now, late) = service.iter().fold((0, 0, 0), |(a, b, c), q| {
        (a + q.opened, b + q.open_now, c + q.breached_now)
    });
    eprintln!(
        "service: 3 queues; {opened} tickets opened in the last 30 days, {open_now} open now, {late} of them past target (GET /v1/service/report, /v1/tickets); {care} care moments today (GET /v1/care/today?store=…){}",
        team_member.map_or_else(String::new, |m| format!(
            "; a deposit gathered a team around member {m} (GET /v1/members/{m}/service-team)"
        ))
    );
    let deals = store
        .deposit_funnels(end - 90 * flywheel_core::time::DAY, end + 1)
        .await?;
    let delivered = |f: &flywheel_core::service::deposit::Funnel| {
        f.deposit_to_delivery
            .map_or_else(|| "–".to_owned(), |r| format!("{:.0}%", r * 100.0))
    };
    eprintln!(
        "deposits: {} deals in the last 90 days; delivered {} with a service team, {} without (GET /v1/service/report)",
        deals.all.deals,
        delivered(&deals.with_team),
        delivered(&deals.without_team)
    );
    let community = community::seed(store, config, &config.policy.language(), end).await?;
    let groups = store.wecom_groups().await?;
    let in_groups: i64 = groups.iter().map(|g| g.members).sum();
    eprintln!(
        "community: {} WeCom customer groups with {in_groups} members (GET /v1/wecom/groups); a winter salon with {} seated, {} came, {} no-shows; a 45-day check-in challenge with {} through and {} on their way (GET /v1/activities); {} ideas moved along the co-creation board (GET /v1/ideas)",
        groups.len(),
        community.salon_confirmed,
        community.salon_attended,
        community.salon_no_shows,
        community.challenge_completed,
        community.challenge_going,
        community.ideas_moved
    );
    let paid = store.paid_member_count().await?;
    eprintln!(
        "scores: {} members scored in {:.1} s, {} with RFM; {paid} paid members (GET /v1/super-users)",
        scores.members,
        scores.elapsed_ms as f64 / 1000.0,
        scores.rfm_members
    );
    Ok(())
}

fn remove_sqlite_file(url: &str) -> anyhow::Result<()> {
    let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    else {
        anyhow::bail!(
            "--fresh only deletes SQLite files; drop and recreate the PostgreSQL database yourself"
        );
    };
    let path = path.split('?').next().unwrap_or(path);
    for suffix in ["", "-wal", "-shm"] {
        let file = format!("{path}{suffix}");
        if Path::new(&file).exists() {
            std::fs::remove_file(&file).with_context(|| format!("removing {file}"))?;
        }
    }
    Ok(())
}
