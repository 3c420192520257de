//! `flywheel serve`: migrate, make sure somebody can log in, run the periodic stage and
//! points sweep and the score recompute, and serve the API until SIGINT/SIGTERM.

use crate::config::Config;
use anyhow::Context;
use flywheel_api::AppState;
use flywheel_core::auth::Role;
use flywheel_store::Store;
use std::time::Duration;
use tokio::net::TcpListener;

pub async fn run(config: Config, store: Option<Store>) -> anyhow::Result<()> {
    let store = match store {
        Some(s) => s,
        None => Store::open(&config.server.db)
            .await
            .with_context(|| format!("opening {}", config.server.db))?,
    };
    // Only a fresh install (no key ever made) gets a key printed; after keys were
    // revoked on purpose, a restart must not mint a new admin key into the logs.
    if config.admin_key.is_none() && store.list_keys().await?.is_empty() {
        let (_, key) = crate::keys::create(&store, Role::Admin, "created at first start").await?;
        eprintln!(
            "No API key existed, so an admin key was created (shown only once):\n\n    {key}\n"
        );
        eprintln!("Use it as 'Authorization: Bearer {key}', or set FLYWHEEL_ADMIN_KEY.\n");
    }
    let listener = TcpListener::bind(&config.server.listen)
        .await
        .with_context(|| format!("listening on {}", config.server.listen))?;
    let addr = listener.local_addr()?;
    let sweeper = tokio::spawn(sweep_forever(store.clone(), config.clone()));
    let scorer = tokio::spawn(recompute_forever(store.clone(), config.clone()));
    let state = AppState::new(
        store.clone(),
        config.policy.clone(),
        config.admin_key.as_deref(),
    );
    tracing::info!(%addr, db = store.backend().name(), "Flywheel is serving; docs at http://{addr}/docs");
    eprintln!("Flywheel is serving on http://{addr} (docs: http://{addr}/docs)");
    flywheel_api::serve(listener, state, shutdown()).await?;
    sweeper.abort();
    scorer.abort();
    store.close().await;
    Ok(())
}

/// Re-evaluates members whose stage can change with time alone, and posts points whose
/// return window or expiry has passed, every interval.
async fn sweep_forever(store: Store, config: Config) {
    let mut tick = tokio::time::interval(Duration::from_secs(config.server.sweep_interval_secs));
    loop {
        tick.tick().await;
        let now = chrono::Utc::now().timestamp_micros();
        match store.sweep(&config.policy.stages, now, false).await {
            Ok(r) if r.examined > 0 => {
                tracing::info!(examined = r.examined, changed = r.changed, "stage sweep")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "stage sweep failed; will retry"),
        }
        match store.sweep_points(now).await {
            Ok(r) if r.members > 0 => {
                tracing::info!(
                    members = r.members,
                    matured = r.matured,
                    expired = r.expired,
                    "points sweep"
                )
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "points sweep failed; will retry"),
        }
    }
}

/// Recomputes the population scores (RFM, lifetime value) when the last run is older
/// than the configured interval — at start if it is already due, so a restart neither
/// skips a run nor repeats one.
async fn recompute_forever(store: Store, config: Config) {
    let every = config.policy.scores.recompute_interval_secs;
    if every == 0 {
        return;
    }
    let every = Duration::from_secs(every);
    loop {
        let wait = match store.last_score_run().await {
            Ok(Some((at, _))) => {
                let since = chrono::Utc::now().timestamp_micros() - at;
                every.saturating_sub(Duration::from_micros(since.max(0) as u64))
            }
            Ok(None) => Duration::ZERO,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the last score run; will retry");
                Duration::from_secs(60)
            }
        };
        tokio::time::sleep(wait).await;
        let now = chrono::Utc::now().timestamp_micros();
        match store
            .recompute_scores(&config.policy.scores, now, &|_| {})
            .await
        {
            Ok(r) => tracing::info!(
                members = r.members,
                rfm = r.rfm_members,
                elapsed_ms = r.elapsed_ms,
                "scores recomputed"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "score recompute failed; will retry");
                tokio::time::sleep(Duration::from_secs(60)).await;
            }
        }
    }
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
    tracing::info!("shutting down");
}
