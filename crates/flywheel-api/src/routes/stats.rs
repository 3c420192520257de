//! `/v1/stats/*`: members per stage and lens, the overview's tiles, stage flows by
//! month, cohort retention, referrals, the RFM grid, points by month and their cost
//! against sales, contribution by group and personas. Each figure is built by one
//! function here that the cockpit's pages call too, so a page and the API never
//! disagree.

use crate::auth::{Allowed, need};
use crate::error::ApiError;
use crate::params::Params;
use crate::state::AppState;
use crate::stats_views::{
    CohortView, Cohorts, ConcentrationPoint, ContributionView, CountView, EntriesView, EntryView,
    FlowView, GroupView, OverviewStats, PersonaView, PointsCost, PointsCostMonth, PointsMonth,
    PointsMonths, ReferralMonth, ReferralMonths, RetentionPoint, RfmCell, RfmGrid, SourceReport,
    SourceRow, StageFlowMonth, StageFlows,
};
use crate::views::StageStats;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use flywheel_core::time::{DAY, month_bounds, month_label, month_start, to_rfc3339};
use flywheel_core::{ErrorCode, Lens, Stage};
use std::collections::BTreeMap;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/stats/stages", get(stages))
        .route("/v1/stats/overview", get(overview))
        .route("/v1/stats/stage-flows", get(stage_flows))
        .route("/v1/stats/rfm", get(rfm))
        .route("/v1/stats/points", get(points))
        .route("/v1/stats/cohorts", get(cohorts))
        .route("/v1/stats/referrals", get(referrals))
        .route("/v1/stats/sources", get(sources))
        .route("/v1/stats/contribution", get(contribution))
        .route("/v1/stats/personas", get(personas))
        .route("/v1/stats/points-cost", get(points_cost))
        .route("/v1/stats/entries", get(entries))
}

/// Members per relationship stage and per lens (merged-away ids not counted)
#[utoipa::path(get, path = "/v1/stats/stages", tag = "stats",
    responses((status = 200, body = StageStats)),
    security(("bearer" = [])))]
pub async fn stages(
    _caller: Allowed<need::ReadStats>,
    State(state): State<AppState>,
) -> Result<Json<StageStats>, ApiError> {
    Ok(Json(stage_stats(&state).await?))
}

pub(crate) async fn stage_stats(state: &AppState) -> Result<StageStats, ApiError> {
    let counts = state.store.stage_counts().await?;
    let mut stages: BTreeMap<String, i64> = Stage::ALL
        .iter()
        .map(|s| (s.as_str().to_owned(), 0))
        .collect();
    stages.extend(counts.stages);
    let mut lenses: BTreeMap<String, i64> = Lens::ALL
        .iter()
        .map(|l| (l.as_str().to_owned(), 0))
        .collect();
    lenses.extend(counts.lenses);
    Ok(StageStats {
        total: counts.total,
        stages,
        lenses,
        computed_at: to_rfc3339(state.now()),
    })
}

/// The overview's tiles: members, active, new, super users, paid members, liability
#[utoipa::path(get, path = "/v1/stats/overview", tag = "stats",
    responses((status = 200, body = OverviewStats)),
    security(("bearer" = [])))]
pub async fn overview(
    _caller: Allowed<need::ReadStats>,
    State(state): State<AppState>,
) -> Result<Json<OverviewStats>, ApiError> {
    Ok(Json(overview_stats(&state).await?))
}

pub(crate) async fn overview_stats(state: &AppState) -> Result<OverviewStats, ApiError> {
    let stages = stage_stats(state).await?;
    let now = state.now();
    let report = super::membership_report::build(state, now - 30 * DAY, now).await?;
    overview_of(state, &stages, &report).await
}

/// The tiles, given the stage counts and the membership report the overview page draws
/// anyway (each is read once per page).
pub(crate) async fn overview_of(
    state: &AppState,
    stages: &StageStats,
    report: &crate::report_views::MembershipReportView,
) -> Result<OverviewStats, ApiError> {
    let now = state.now();
    let kept = history_figures(state).await?;
    let new_this_month = state.store.new_members(month_start(now), now + 1).await?;
    let paid_members = report
        .programmes
        .iter()
        .filter(|p| p.kind == "paid")
        .map(|p| p.total.members)
        .sum();
    let programme = state.policy.points.default_programme().to_owned();
    let points = state.store.points_balances(&programme, now + 1).await?;
    Ok(OverviewStats {
        members: stages.total,
        active_30d: kept.active_30d,
        active_30d_computed_at: to_rfc3339(kept.computed_at),
        new_this_month,
        super_users: stages
            .stages
            .get(Stage::SuperStrong.as_str())
            .copied()
            .unwrap_or(0),
        paid_members,
        points_liability: points.outstanding,
        points_pending: points.pending,
        points_programme: programme,
        computed_at: to_rfc3339(now),
    })
}

/// `?months=N`, 1–36, default 12.
fn months_param(params: Vec<(String, String)>) -> Result<u32, ApiError> {
    let mut months = 12;
    for (k, v) in params {
        match k.as_str() {
            "months" => {
                months = v
                    .parse()
                    .ok()
                    .filter(|m| (1..=36).contains(m))
                    .ok_or_else(|| {
                        ApiError::new(
                            ErrorCode::InvalidQuery,
                            "months must be a whole number from 1 to 36",
                        )
                        .field("months")
                    })?;
            }
            other => return Err(crate::params::unknown(other)),
        }
    }
    Ok(months)
}

/// Who moved between stages, month by month: up, down, jumped, and every (from, to)
///
/// Months are calendar months in UTC; the current one is counted up to now.
#[utoipa::path(get, path = "/v1/stats/stage-flows", tag = "stats",
    params(("months" = Option<u32>, Query, description = "1–36, default 12")),
    responses((status = 200, body = StageFlows),
              (status = 400, description = "invalid_query: months out of range or an unknown parameter")),
    security(("bearer" = [])))]
pub async fn stage_flows(
    _caller: Allowed<need::ReadStats>,
    State(state): State<AppState>,
    Params(params): Params,
) -> Result<Json<StageFlows>, ApiError> {
    let months = months_param(params)?;
    Ok(Json(stage_flows_of(&state, months).await?))
}

pub(crate) async fn stage_flows_of(state: &AppState, months: u32) -> Result<StageFlows, ApiError> {
    let now = state.now();
    let bounds = month_bounds(now, months);
    let counts = state.store.stage_flows(&bounds).await?;
    let months = counts
        .into_iter()
        .enumerate()
        .map(|(i, flows)| {
            let (mut up, mut down, mut jumped) = (0, 0, 0);
            let mut views = Vec::with_capacity(flows.len());
            for ((from, to), n) in flows {
                let rank = |s: &str| Stage::parse(s).map_or(0, |s| s as i64);
                let step = rank(&to) - rank(&from);
                if step > 0 {
                    up += n;
                }
                if step < 0 {
                    down += n;
                }
                if step >= 2 {
                    jumped += n;
                }
                views.push(FlowView {
                    from,
                    to,
                    members: n,
                });
            }
            StageFlowMonth {
                month: month_label(bounds[i]),
                from: to_rfc3339(bounds[i]),
                to: to_rfc3339(bounds[i + 1]),
                up,
                down,
                jumped,
                flows: views,
            }
        })
        .collect();
    Ok(StageFlows {
        months,
        computed_at: to_rfc3339(now),
    })
}

/// The RFM 5×5 grid: members per recency and frequency score, from the last recompute
#[utoipa::path(get, path = "/v1/stats/rfm", tag = "stats",
    responses((status = 200, body = RfmGrid)),
    security(("bearer" = [])))]
pub async fn rfm(
    _caller: Allowed<need::ReadStats>,
    State(state): State<AppState>,
) -> Result<Json<RfmGrid>, ApiError> {
    Ok(Json(rfm_grid(&state).await?))
}

pub(crate) async fn rfm_grid(state: &AppState) -> Result<RfmGrid, ApiError> {
    let counts: BTreeMap<(i64, i64), i64> = state
        .store
        .rfm_grid()
        .await?
        .into_iter()
        .map(|(r, f, n)| ((r, f), n))
        .collect();
    let cells = (1..=5)
        .flat_map(|r| (1..=5).map(move |f| (r, f)))
        .map(|(r, f)| RfmCell {
            r,
            f,
            members: counts.get(&(r, f)).copied().unwrap_or(0),
        })
        .collect();
    let computed_at = state
        .store
        .last_score_run()
        .await?
        .map(|(at, _)| to_rfc3339(at));
    Ok(RfmGrid {
        cells,
        scored: counts.values().sum(),
        computed_at,
    })
}

/// Points issued, redeemed and expired per month (default programme)
#[utoipa::path(get, path = "/v1/stats/points", tag = "stats",
    params(("months" = Option<u32>, Query, description = "1–36, default 12")),
    responses((status = 200, body = PointsMonths),
              (status = 400, description = "invalid_query: months out of range or an unknown parameter")),
    security(("bearer" = [])))]
pub async fn points(
    _caller: Allowed<need::ReadStats>,
    State(state): State<AppState>,
    Params(params): Params,
) -> Result<Json<PointsMonths>, ApiError> {
    let months = months_param(params)?;
    Ok(Json(points_months(&state, months).await?))
}

pub(crate) async fn points_months(state: &AppState, months: u32) -> Result<PointsMonths, ApiError> {
    let programme = state.policy.points.default_programme().to_owned();
    let bounds = month_bounds(state.now(), months);
    let mut out = Vec::with_capacity(bounds.len() - 1);
    for pair in bounds.windows(2) {
        let report = state
            .store
            .points_report(&programme, pair[0], pair[1])
            .await?;
        out.push(PointsMonth {
            month: month_label(pair[0]),
            issued: report.issued,
            redeemed: report.redeemed,
            expired: report.expired,
        });
    }
    Ok(PointsMonths {
        programme,
        months: out,
    })
}

/// Retention by cohort: members by month of first purchase, and who bought again
///
/// Months are calendar months in UTC, the current one counted up to `computed_at`.
/// Refunded orders do not count; a merged member counts once, with its survivor. The
/// cohorts need a pass over every member's history, so they are kept and computed again
/// every few minutes when anything changed (`server.stats_refresh_secs`), and on each new
/// day; `computed_at` says when.
#[utoipa::path(get, path = "/v1/stats/cohorts", tag = "stats",
    params(("months" = Option<u32>, Query, description = "1–36, default 12")),
    responses((status = 200, body = Cohorts),
              (status = 400, description = "invalid_query: months out of range or an unknown parameter")),
    security(("bearer" = [])))]
pub async fn cohorts(
    _caller: Allowed<need::ReadStats>,
    State(state): State<AppState>,
    Params(params): Params,
) -> Result<Json<Cohorts>, ApiError> {
    let months = months_param(params)?;
    Ok(Json(cohorts_of(&state, months).await?))
}

pub(crate) async fn cohorts_of(state: &AppState, months: u32) -> Result<Cohorts, ApiError> {
    let kept = history_figures(state).await?;
    let (bounds, cohorts) = kept.last_cohorts(months);
    let cohorts = cohorts
        .iter()
        .enumerate()
        .map(|(i, c)| CohortView {
            month: month_label(bounds[i]),
            members: c.members,
            retention: c
                .buyers
                .iter()
                .enumerate()
                .map(|(offset, &buyers)| RetentionPoint {
                    offset: u32::try_from(offset).unwrap_or(u32::MAX),
                    buyers,
                    share: if c.members > 0 {
                        buyers as f64 / c.members as f64
                    } else {
                        0.0
                    },
                })
                .collect(),
        })
        .collect();
    Ok(Cohorts {
        cohorts,
        computed_at: to_rfc3339(kept.computed_at),
    })
}

/// The figures that need a pass over every member's history, as kept (computed again
/// first when stale: `flywheel_store::HistoryFigures`).
async fn history_figures(state: &AppState) -> Result<flywheel_store::HistoryFigures, ApiError> {
    Ok(state
        .store
        .history_figures(state.now(), state.stats_refresh_after)
        .await?)
}

/// Referrals made and converted per month
#[utoipa::path(get, path = "/v1/stats/referrals", tag = "stats",
    params(("months" = Option<u32>, Query, description = "1–36, default 12")),
    responses((status = 200, body = ReferralMonths),
              (status = 400, description = "invalid_query: months out of range or an unknown parameter")),
    security(("bearer" = [])))]
pub async fn referrals(
    _caller: Allowed<need::ReadStats>,
    State(state): State<AppState>,
    Params(params): Params,
) -> Result<Json<ReferralMonths>, ApiError> {
    let months = months_param(params)?;
    Ok(Json(referral_months(&state, months).await?))
}

pub(crate) async fn referral_months(
    state: &AppState,
    months: u32,
) -> Result<ReferralMonths, ApiError> {
    let bounds = month_bounds(state.now(), months);
    let counts = state.store.referral_counts(&bounds).await?;
    Ok(ReferralMonths {
        months: counts
            .into_iter()
            .enumerate()
            .map(|(i, c)| ReferralMonth {
                month: month_label(bounds[i]),
                made: c.made,
                converted: c.converted,
            })
            .collect(),
    })
}

/// Members by what brought them
///
/// For each source their first event named (a campaign, a QR code, a referral): how
/// many members it brought, how many of them have bought, and the stage each has
/// reached; then the members who named none. Read from the members table, so it may
/// lag ingest by one flush when write-behind is on.
#[utoipa::path(get, path = "/v1/stats/sources", tag = "stats",
    responses((status = 200, body = SourceReport)),
    security(("bearer" = [])))]
pub async fn sources(
    _caller: Allowed<need::ReadStats>,
    State(state): State<AppState>,
) -> Result<Json<SourceReport>, ApiError> {
    Ok(Json(source_report(&state).await?))
}

pub(crate) async fn source_report(state: &AppState) -> Result<SourceReport, ApiError> {
    let row = |f: flywheel_store::SourceFigures| {
        let mut stages: BTreeMap<String, i64> = Stage::ALL
            .iter()
            .map(|s| (s.as_str().to_owned(), 0))
            .collect();
        stages.extend(f.stages);
        SourceRow {
            buyer_share: if f.members > 0 {
                f.buyers as f64 / f.members as f64
            } else {
                0.0
            },
            kind: f.kind,
            name: f.name,
            members: f.members,
            buyers: f.buyers,
            stages,
        }
    };
    let mut sources = Vec::new();
    let mut unattributed = row(flywheel_store::SourceFigures::default());
    for f in state.store.source_figures().await? {
        if f.kind.is_none() {
            unattributed = row(f);
        } else {
            sources.push(row(f));
        }
    }
    Ok(SourceReport {
        sources,
        unattributed,
        computed_at: to_rfc3339(state.now()),
    })
}

/// What the relationships are worth: members, revenue, repeat buyers, sharers and
/// referrers, lifetime value and the multiple of everyone else, by stage, by lens, by
/// tier and for super users; and the concentration of revenue in the top buyers
#[utoipa::path(get, path = "/v1/stats/contribution", tag = "stats",
    responses((status = 200, body = ContributionView)),
    security(("bearer" = [])))]
pub async fn contribution(
    _caller: Allowed<need::ReadStats>,
    State(state): State<AppState>,
) -> Result<Json<ContributionView>, ApiError> {
    Ok(Json(contribution_of(&state).await?))
}

pub(crate) async fn contribution_of(state: &AppState) -> Result<ContributionView, ApiError> {
    use flywheel_core::Money;
    let now = state.now();
    let c = state.store.contribution(now).await?;
    let (all_members, all_revenue) = c
        .by_stage
        .iter()
        .fold((0, 0), |(m, r), g| (m + g.members, r + g.revenue));
    let ratio = |a: i64, b: i64| if b > 0 { a as f64 / b as f64 } else { 0.0 };
    let view = |g: &flywheel_store::GroupFigures| {
        let (other_members, other_revenue) = (all_members - g.members, all_revenue - g.revenue);
        let per_head = ratio(g.revenue, g.members);
        let others = ratio(other_revenue, other_members);
        GroupView {
            key: g.key.clone(),
            members: g.members,
            member_share: ratio(g.members, all_members),
            buyers: g.buyers,
            revenue: Money::from_minor(g.revenue).to_string(),
            revenue_share: ratio(g.revenue, all_revenue),
            spend_per_head: Money::from_minor((per_head).round() as i64).to_string(),
            repurchase_rate: ratio(g.repeaters, g.buyers),
            sku_repurchase_rate: ratio(g.sku_loyal, g.buyers),
            share_rate: ratio(g.sharers, g.members),
            referral_rate: ratio(g.referrers, g.members),
            multiple: (other_members > 0 && others > 0.0).then(|| per_head / others),
            lifetime_value: Money::from_minor(g.clv).to_string(),
        }
    };
    let in_order = |groups: &[flywheel_store::GroupFigures], order: &[&str]| -> Vec<GroupView> {
        let mut out: Vec<GroupView> = order
            .iter()
            .filter_map(|k| groups.iter().find(|g| g.key == *k))
            .map(view)
            .collect();
        out.extend(
            groups
                .iter()
                .filter(|g| !order.contains(&g.key.as_str()))
                .map(view),
        );
        out
    };
    let stages: Vec<&str> = Stage::ALL.iter().map(|s| s.as_str()).collect();
    let lenses: Vec<&str> = Lens::ALL.iter().map(|l| l.as_str()).collect();
    let total: i64 = c.revenues.iter().sum();
    let mut concentration = Vec::with_capacity(20);
    let mut running = 0i64;
    let mut taken = 0usize;
    for step in 1..=20usize {
        let upto = (c.revenues.len() * step).div_ceil(20);
        running += c.revenues[taken..upto].iter().sum::<i64>();
        taken = upto;
        concentration.push(ConcentrationPoint {
            buyers: step as f64 / 20.0,
            revenue: ratio(running, total),
        });
    }
    let top_fifth_revenue_share = concentration.get(3).map_or(0.0, |p| p.revenue);
    Ok(ContributionView {
        by_stage: in_order(&c.by_stage, &stages),
        by_lens: in_order(&c.by_lens, &lenses),
        by_tier: in_order(&c.by_tier, &[]),
        super_users: in_order(&c.super_users, &["super_users", "everyone_else"]),
        concentration,
        top_fifth_revenue_share,
        computed_at: to_rfc3339(now),
    })
}

/// Who the people of a stage or a segment are: by gender, age band, city and occupation,
/// with a sentence written from the figures
///
/// Name at most one group: `stage` or `segment`; neither gives every member.
#[utoipa::path(get, path = "/v1/stats/personas", tag = "stats",
    params(("stage" = Option<String>, Query, description = "none, micro, weak, strong or super_strong"),
           ("segment" = Option<String>, Query, description = "A segment's id")),
    responses((status = 200, body = PersonaView),
              (status = 400, description = "invalid_query: an unknown parameter, both groups, or an unknown stage"),
              (status = 404, description = "segment_not_found")),
    security(("bearer" = [])))]
pub async fn personas(
    _caller: Allowed<need::ReadStats>,
    State(state): State<AppState>,
    Params(params): Params,
) -> Result<Json<PersonaView>, ApiError> {
    let mut group = flywheel_store::PersonaGroup::All;
    for (k, v) in params {
        if group != flywheel_store::PersonaGroup::All {
            return Err(
                ApiError::new(ErrorCode::InvalidQuery, "name one group: stage or segment").field(k),
            );
        }
        group = match k.as_str() {
            "stage" => match Stage::parse(&v) {
                Some(s) => flywheel_store::PersonaGroup::Stage(s.as_str().to_owned()),
                None => {
                    return Err(ApiError::new(
                        ErrorCode::InvalidQuery,
                        format!("{v:?} is not a stage (none, micro, weak, strong, super_strong)"),
                    )
                    .field("stage"));
                }
            },
            "segment" => {
                if state.store.segment(&v).await?.is_none() {
                    return Err(ApiError::new(
                        ErrorCode::SegmentNotFound,
                        format!("no segment {v:?}"),
                    )
                    .field("segment"));
                }
                flywheel_store::PersonaGroup::Segment(v)
            }
            other => return Err(crate::params::unknown(other)),
        };
    }
    Ok(Json(persona_of(&state, &group).await?))
}

pub(crate) async fn persona_of(
    state: &AppState,
    group: &flywheel_store::PersonaGroup,
) -> Result<PersonaView, ApiError> {
    use chrono::Datelike;
    let year = flywheel_core::time::to_datetime(state.now()).year();
    let p = state.store.persona(group, year).await?;
    let counts = |list: &[flywheel_core::persona::Count]| -> Vec<CountView> {
        list.iter()
            .map(|c| CountView {
                value: c.value.clone(),
                members: c.members,
                share: if p.members > 0 {
                    c.members as f64 / p.members as f64
                } else {
                    0.0
                },
            })
            .collect()
    };
    Ok(PersonaView {
        group: match group {
            flywheel_store::PersonaGroup::All => "all".to_owned(),
            flywheel_store::PersonaGroup::Stage(s) => format!("stage:{s}"),
            flywheel_store::PersonaGroup::Segment(s) => format!("segment:{s}"),
        },
        members: p.members,
        genders: counts(&p.genders),
        age_bands: counts(&p.age_bands),
        cities: counts(&p.cities),
        occupations: counts(&p.occupations),
        summary: p.summary(),
    })
}

/// Points cost against sales, per month: points issued at the value per point, and the
/// kept sales of the month
#[utoipa::path(get, path = "/v1/stats/points-cost", tag = "stats",
    params(("months" = Option<u32>, Query, description = "1–36, default 12")),
    responses((status = 200, body = PointsCost),
              (status = 400, description = "invalid_query: months out of range or an unknown parameter")),
    security(("bearer" = [])))]
pub async fn points_cost(
    _caller: Allowed<need::ReadStats>,
    State(state): State<AppState>,
    Params(params): Params,
) -> Result<Json<PointsCost>, ApiError> {
    let months = months_param(params)?;
    Ok(Json(points_cost_of(&state, months).await?))
}

pub(crate) async fn points_cost_of(state: &AppState, months: u32) -> Result<PointsCost, ApiError> {
    use flywheel_core::Money;
    let issued = points_months(state, months).await?;
    let bounds = month_bounds(state.now(), months);
    let sales = state.store.sales(&bounds).await?;
    let value = state.policy.points.value_per_point;
    let out = issued
        .months
        .into_iter()
        .zip(sales)
        .map(|(m, sales)| {
            let cost = m.issued.saturating_mul(value.minor());
            PointsCostMonth {
                month: m.month,
                points_issued: m.issued,
                cost: Money::from_minor(cost).to_string(),
                sales: Money::from_minor(sales).to_string(),
                cost_share: if sales > 0 {
                    cost as f64 / sales as f64
                } else {
                    0.0
                },
            }
        })
        .collect();
    Ok(PointsCost {
        programme: issued.programme,
        value_per_point: value.to_string(),
        months: out,
    })
}

/// Entry products and channels: what each buyer's first purchase was and where, and how
/// many of those buyers came back
#[utoipa::path(get, path = "/v1/stats/entries", tag = "stats",
    responses((status = 200, body = EntriesView)),
    security(("bearer" = [])))]
pub async fn entries(
    _caller: Allowed<need::ReadStats>,
    State(state): State<AppState>,
) -> Result<Json<EntriesView>, ApiError> {
    Ok(Json(entries_of(&state).await?))
}

pub(crate) async fn entries_of(state: &AppState) -> Result<EntriesView, ApiError> {
    let e = state.store.entries().await?;
    let views = |list: Vec<(String, i64, i64)>| -> Vec<EntryView> {
        list.into_iter()
            .map(|(key, members, came_back)| EntryView {
                came_back_rate: if members > 0 {
                    came_back as f64 / members as f64
                } else {
                    0.0
                },
                key,
                members,
                came_back,
            })
            .collect()
    };
    Ok(EntriesView {
        products: views(e.products),
        channels: views(e.channels),
    })
}
