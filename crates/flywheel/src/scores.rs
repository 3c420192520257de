//! `flywheel scores recompute`: scores every member now (RFM, lifetime value and the
//! member-local scores), with a progress bar, and prints what it did.

use crate::config::{Config, Overrides};
use flywheel_store::{Progress, Store};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::Path;

#[derive(clap::Subcommand)]
pub enum ScoresCommand {
    /// Recompute every member's scores now.
    Recompute {
        #[arg(long)]
        db: Option<String>,
    },
}

pub async fn run(file: Option<&Path>, command: ScoresCommand) -> anyhow::Result<()> {
    let ScoresCommand::Recompute { db } = command;
    let config = Config::load(file, &Overrides { db, listen: None })?;
    let store = Store::open(&config.server.db).await?;
    store.configure_segments(flywheel_store::SegmentSettings::of(&config.policy));
    let bar = ProgressBar::new(0);
    let style = |template: &str| {
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
    };
    let report = store
        .recompute_scores(
            &config.policy.scores,
            chrono::Utc::now().timestamp_micros(),
            &|p| match p {
                Progress::Reading { done, total } => {
                    bar.set_style(style("reading  {bar:40} {pos}/{len} members ({per_sec})"));
                    bar.set_length(total);
                    bar.set_position(done);
                }
                Progress::Fitting => {
                    bar.set_style(style("ranking and fitting…"));
                    bar.tick();
                }
                Progress::Writing { done, total } => {
                    bar.set_style(style("writing  {bar:40} {pos}/{len} members ({per_sec})"));
                    bar.set_length(total);
                    bar.set_position(done);
                }
            },
        )
        .await?;
    bar.finish_and_clear();
    println!(
        "scored {} members in {:.1} s: {} with RFM, {} with lifetime value",
        report.members,
        report.elapsed_ms as f64 / 1000.0,
        report.rfm_members,
        report.clv_members
    );
    if let Some(reason) = &report.clv.reason {
        println!("lifetime value not computed: {reason}");
    }
    if let Some(m) = &report.model {
        println!(
            "BG/NBD (days) r = {:.4} alpha = {:.4} a = {:.4} b = {:.4}, fitted on {} members",
            m.bgnbd.r, m.bgnbd.alpha, m.bgnbd.a, m.bgnbd.b, m.fitted_on
        );
        if let Some(g) = &m.gamma_gamma {
            println!(
                "Gamma-Gamma p = {:.4} q = {:.4} gamma = {:.2} (minor units)",
                g.p, g.q, g.gamma
            );
        }
    }
    store.close().await;
    Ok(())
}
