//! `flywheel serve`: migrate, make sure somebody can log in, run the periodic stage and
//! points sweep and the score recompute, and serve the API until SIGINT/SIGTERM.
//!
//! Shutting down is graceful: the server stops accepting, answers every request in
//! flight (single events waiting for their group included), the background tasks stop
//! between runs, the database is closed (SQLite checkpoints its log), and the process
//! exits 0.

use crate::config::Config;
use crate::give_way::{self, GiveWay};
use anyhow::Context;
use flywheel_api::AppState;
use flywheel_core::auth::Role;
use flywheel_core::time::SECOND;
use flywheel_store::Store;
use futures_util::FutureExt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::watch;

pub async fn run(config: Config, store: Option<Store>) -> anyhow::Result<()> {
    // The recorder first, so everything the store does from here on is counted.
    flywheel_api::metrics::handle();
    let store = match store {
        Some(s) => {
            crate::open::start_engine(&s, &config, config.server.write_behind).await?;
            s
        }
        None => crate::open::open_for_ingest(&config, config.server.write_behind).await?,
    };
    // Only a fresh install (no key ever made) gets a key printed; after keys were
    // revoked on purpose, a restart must not mint a new admin key into the logs.
    if config.admin_key.is_none() && store.list_keys().await?.is_empty() {
        let first_start = flywheel_store::AuditActor {
            reference: "system".into(),
            key_id: None,
            name: "first start".into(),
        };
        let (_, key) =
            crate::keys::create(&store, Role::Admin, "created at first start", &first_start)
                .await?;
        eprintln!(
            "No API key existed, so an admin key was created (shown only once):\n\n    {key}\n"
        );
        eprintln!("Use it as 'Authorization: Bearer {key}', or set FLYWHEEL_ADMIN_KEY.\n");
    }
    let listener = TcpListener::bind(&config.server.listen)
        .await
        .with_context(|| format!("listening on {}", config.server.listen))?;
    let addr = listener.local_addr()?;
    let (stop, stopping) = watch::channel(false);
    store.configure_segments(flywheel_store::SegmentSettings::of(&config.policy));
    store
        .ensure_builtin_segments(chrono::Utc::now().timestamp_micros())
        .await?;
    let filler = tokio::spawn(supervise("segment fill", stopping.clone(), RETRY_AFTER, {
        let store = store.clone();
        move || fill_segments(store.clone())
    }));
    let sweep_every = Duration::from_secs(config.server.sweep_interval_secs);
    let sweeper = tokio::spawn(supervise("sweep", stopping.clone(), RETRY_AFTER, {
        let (store, config) = (store.clone(), config.clone());
        move || sweep_once(store.clone(), config.clone(), sweep_every)
    }));
    let scorer = tokio::spawn(supervise("recompute", stopping.clone(), RETRY_AFTER, {
        let (store, config) = (store.clone(), config.clone());
        let give_way = Arc::new(GiveWay::starting_at(Instant::now()));
        move || recompute_when_due(store.clone(), config.clone(), give_way.clone())
    }));
    let stats_refresh_after =
        i64::try_from(config.server.stats_refresh_secs).unwrap_or(i64::MAX / 2) * SECOND;
    let refresher = tokio::spawn(supervise(
        "history figures",
        stopping.clone(),
        RETRY_AFTER,
        {
            let store = store.clone();
            let give_way = Arc::new(GiveWay::starting_at(Instant::now()));
            move || refresh_history_figures(store.clone(), stats_refresh_after, give_way.clone())
        },
    ));
    let senders = crate::channels::Senders::new(config.channels.clone())?;
    let engager = tokio::spawn(supervise("engagement", stopping.clone(), RETRY_AFTER, {
        let (store, config) = (store.clone(), config.clone());
        move || engage(store.clone(), config.clone(), senders.clone())
    }));
    let mut state = AppState::new(
        store.clone(),
        config.policy.clone(),
        config.admin_key.as_deref(),
    )
    .with_limits(config.http_limits.clone());
    state.stats_refresh_after = stats_refresh_after;
    state.metrics_require_key = config.server.metrics_require_key;
    state.public_url = config.server.public_url.as_deref().map(Into::into);
    state.wechat = std::sync::Arc::new(config.wechat.clone());
    tracing::info!(%addr, db = store.backend().name(), "Flywheel is serving; docs at http://{addr}/docs");
    eprintln!("Flywheel is serving on http://{addr} (docs: http://{addr}/docs)");
    flywheel_api::serve(listener, state, shutdown()).await?;
    // Every request has been answered; stop the background work between runs.
    let _ = stop.send(true);
    for mut task in [sweeper, scorer, filler, refresher, engager] {
        if tokio::time::timeout(Duration::from_secs(10), &mut task)
            .await
            .is_err()
        {
            // A run still going (a long recompute): its transaction rolls back.
            tracing::warn!("a background task did not stop within 10 s; cancelling it");
            task.abort();
        }
    }
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Computes the kept history figures (active members, cohorts) again when they are
/// three quarters of the way to stale, so a person opening the overview finds them
/// ready (giving way to busy ingest for a while, `give_way.rs`); then waits a minute.
async fn refresh_history_figures(
    store: Store,
    refresh_after: flywheel_core::time::Micros,
    give_way: Arc<GiveWay>,
) -> anyhow::Result<Duration> {
    let now = chrono::Utc::now().timestamp_micros();
    let refresh_after = refresh_after / 4 * 3;
    if store.history_figures_due(now, refresh_after).await?
        && give_way.waits(store.ingest_per_second(), Instant::now())
    {
        return Ok(give_way::LOOK_AGAIN);
    }
    store.history_figures(now, refresh_after).await?;
    Ok(Duration::from_secs(60))
}

/// Walks members through their journeys and delivers what is due, every second.
async fn engage(
    store: Store,
    config: Config,
    senders: crate::channels::Senders,
) -> anyhow::Result<Duration> {
    let now = chrono::Utc::now().timestamp_micros();
    engage_once(&store, &config, &senders, now).await?;
    Ok(Duration::from_secs(1))
}

/// One pass: the journeys' due steps, the campaigns' due occurrences, the membership
/// notices due, service teams to form or close, tickets past their targets, flash-sale
/// claims and fission rounds past their time, share links' milestones, then the
/// messages due.
pub async fn engage_once(
    store: &Store,
    config: &Config,
    senders: &crate::channels::Senders,
    now: flywheel_core::time::Micros,
) -> anyhow::Result<(flywheel_store::RunReport, u64, u64)> {
    let base = match &config.server.public_url {
        Some(u) => u.clone(),
        None => format!("http://{}", config.server.listen),
    };
    let runs = store.run_journeys(&config.policy, &base, now, 1000).await?;
    if runs != flywheel_store::RunReport::default() {
        tracing::info!(
            admitted = runs.admitted,
            skipped = runs.skipped,
            steps = runs.steps,
            messages = runs.messages,
            "journeys"
        );
    }
    let sent = store.run_campaigns(&config.policy, &base, now).await?;
    if sent != flywheel_store::CampaignReport::default() {
        tracing::info!(
            members = sent.members,
            messages = sent.messages,
            held_out = sent.held_out,
            "campaigns"
        );
    }
    let notices = store.run_notices(&config.policy, &base, now).await?;
    if notices > 0 {
        tracing::info!(notices, "membership notices queued");
    }
    let teams = store.run_service_teams(now).await?;
    if teams != flywheel_store::TeamsReport::default() {
        tracing::info!(
            formed = teams.formed,
            skipped = teams.skipped,
            closed = teams.closed,
            "service teams"
        );
    }
    let breached = store.flag_ticket_breaches(now).await?;
    if !breached.is_empty() {
        let ids: Vec<i64> = breached.iter().take(10).map(|t| t.id).collect();
        tracing::info!(tickets = breached.len(), first = ?ids, "tickets past their target flagged");
    }
    // Flash-sale claims unpaid in time give their units back.
    let lapsed = store.lapse_flash_claims(now).await?;
    if lapsed > 0 {
        tracing::info!(claims = lapsed, "unpaid flash-sale claims lapsed");
    }
    // Group-buys, help requests and bargains past their deadline close.
    let closed = store
        .close_due_fission_rounds(&config.policy.points, now)
        .await?;
    if closed > 0 {
        tracing::info!(rounds = closed, "fission rounds past their deadline closed");
    }
    // Tracked share links whose counts moved (buyers, mostly) reach their milestones.
    let shares = store
        .pay_share_milestones(&config.policy, None, now)
        .await?;
    if shares.paid > 0 {
        tracing::info!(
            links = shares.links,
            paid = shares.paid,
            "share milestones paid"
        );
    }
    let (delivered, attempted) = crate::channels::deliver_due(store, senders, now, 100).await?;
    Ok((runs, delivered, attempted))
}

/// How long a background task waits after a failed or panicked run.
const RETRY_AFTER: Duration = Duration::from_secs(60);

/// Runs `task` over and over — each run says how long to wait before the next — until
/// `stopping` turns true. A run that fails or panics is logged and counted, and retried
/// after `retry_after`. Nothing fails silently.
async fn supervise<F, Fut>(
    name: &'static str,
    mut stopping: watch::Receiver<bool>,
    retry_after: Duration,
    mut task: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Duration>>,
{
    loop {
        if *stopping.borrow() {
            return;
        }
        let started = Instant::now();
        let wait = match AssertUnwindSafe(task()).catch_unwind().await {
            Ok(Ok(wait)) => wait,
            failed => {
                let error = match failed {
                    Ok(Err(e)) => format!("{e:#}"),
                    _ => "the run panicked".to_owned(),
                };
                tracing::warn!(task = name, %error, retry_in = ?retry_after, "background task failed");
                metrics::counter!("flywheel_background_failures_total", "task" => name)
                    .increment(1);
                retry_after
            }
        };
        metrics::histogram!("flywheel_background_run_seconds", "task" => name)
            .record(started.elapsed().as_secs_f64());
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stopping.changed() => return,
        }
    }
}

/// Re-evaluates members whose stage can change with time alone, posts points whose
/// return window or expiry has passed, and ends membership terms that are over; then
/// waits for the next interval.
async fn sweep_once(store: Store, config: Config, every: Duration) -> anyhow::Result<Duration> {
    let now = chrono::Utc::now().timestamp_micros();
    let r = store.sweep(&config.policy.stages, now, false).await?;
    if r.examined > 0 {
        tracing::info!(examined = r.examined, changed = r.changed, "stage sweep");
    }
    let p = store.sweep_points(now).await?;
    if p.members > 0 {
        tracing::info!(
            members = p.members,
            matured = p.matured,
            expired = p.expired,
            "points sweep"
        );
    }
    let t = store.sweep_memberships(now).await?;
    if t != flywheel_store::MembershipSweepReport::default() {
        tracing::info!(
            retained = t.retained,
            lowered = t.lowered,
            lapsed = t.lapsed,
            "membership sweep"
        );
    }
    if let Some(n) = store.compute_care(now, &config.policy.care).await? {
        tracing::info!(moments = n, "today's care moments counted");
    }
    let s = store.sweep_segments(now).await?;
    if s.examined > 0 {
        tracing::info!(
            examined = s.examined,
            entered = s.entered,
            left = s.left,
            "segment sweep"
        );
    }
    Ok(every)
}

/// Fills new and edited segments in the background, ten chunks of a few hundred members
/// a run, letting ingest in between; looks again soon while a fill runs.
async fn fill_segments(store: Store) -> anyhow::Result<Duration> {
    let now = chrono::Utc::now().timestamp_micros();
    let r = store.fill_segments(now, 10).await?;
    for id in &r.ready {
        tracing::info!(segment = %id, "segment filled");
    }
    Ok(if r.examined > 0 {
        Duration::from_millis(50)
    } else {
        Duration::from_secs(2)
    })
}

/// Recomputes the population scores (RFM, lifetime value) when the last run is older
/// than the configured interval — at start if it is already due, so a restart neither
/// skips a run nor repeats one; a due run gives way to busy ingest for a while
/// (`give_way.rs`). Returns how long until the next is due.
async fn recompute_when_due(
    store: Store,
    config: Config,
    give_way: Arc<GiveWay>,
) -> anyhow::Result<Duration> {
    let every = config.policy.scores.recompute_interval_secs;
    if every == 0 {
        // Only on demand: look again in a day in case nothing else ever asks.
        return Ok(Duration::from_secs(86_400));
    }
    let every = Duration::from_secs(every);
    let due_in = match store.last_score_run().await? {
        Some((at, _)) => {
            let since = chrono::Utc::now().timestamp_micros() - at;
            every.saturating_sub(Duration::from_micros(since.max(0) as u64))
        }
        None => Duration::ZERO,
    };
    if !due_in.is_zero() {
        return Ok(due_in);
    }
    if give_way.waits(store.ingest_per_second(), Instant::now()) {
        tracing::debug!("scores recompute due; giving way to busy ingest");
        return Ok(give_way::LOOK_AGAIN);
    }
    let now = chrono::Utc::now().timestamp_micros();
    let r = store
        .recompute_scores(&config.policy.scores, now, &|_| {})
        .await?;
    tracing::info!(
        members = r.members,
        rfm = r.rfm_members,
        elapsed_ms = r.elapsed_ms,
        "scores recomputed"
    );
    Ok(every)
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: no new connections; answering the requests in flight");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A run that fails and a run that panics are both retried; the task stops when told.
    #[tokio::test]
    async fn a_failing_or_panicking_background_task_is_retried_until_stopped() {
        let runs = Arc::new(AtomicU32::new(0));
        let (stop, stopping) = watch::channel(false);
        let counted = runs.clone();
        let retry = Duration::from_millis(10);
        let task = tokio::spawn(supervise("test", stopping, retry, move || {
            let n = counted.fetch_add(1, Ordering::SeqCst);
            async move {
                match n {
                    0 => anyhow::bail!("the database went away"),
                    1 => panic!("a bug in a run"),
                    _ => Ok(Duration::from_millis(10)),
                }
            }
        }));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while runs.load(Ordering::SeqCst) < 4 {
            assert!(
                std::time::Instant::now() < deadline,
                "the task was not retried: {runs:?}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        stop.send(true).unwrap();
        task.await.unwrap();
        let after = runs.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            runs.load(Ordering::SeqCst),
            after,
            "runs went on after stopping"
        );
    }
}
