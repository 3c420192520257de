//! Response bodies of the score routes: one member's scores with their parts and
//! explanations, the super-user lists, and what a recompute did.

use flywheel_core::scores::{Part, ReferralTree, Score};
use flywheel_core::time::to_rfc3339;
use flywheel_store::{ClvFit, RecomputeReport, StoredScores};
use serde::Serialize;
use utoipa::ToSchema;

/// One part of a score: the points it earned out of its weight, and the facts behind.
#[derive(Serialize, ToSchema)]
pub struct PartView {
    pub name: String,
    pub points: f64,
    pub max: f64,
    pub detail: String,
}

impl From<&Part> for PartView {
    fn from(p: &Part) -> Self {
        PartView {
            name: p.name.to_owned(),
            points: p.points,
            max: p.max,
            detail: p.detail.clone(),
        }
    }
}

pub fn parts(s: &Score) -> Vec<PartView> {
    s.parts.iter().map(PartView::from).collect()
}

/// A 0–100 score, its parts, and one sentence that explains it.
#[derive(Serialize, ToSchema)]
pub struct ScoreView {
    pub score: f64,
    pub parts: Vec<PartView>,
    pub explanation: String,
}

impl From<&Score> for ScoreView {
    fn from(s: &Score) -> Self {
        ScoreView {
            score: s.score,
            parts: parts(s),
            explanation: s.explanation.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct SuperUserScoreView {
    pub score: f64,
    pub parts: Vec<PartView>,
    pub explanation: String,
    /// Bought a paid membership.
    pub paid_member: bool,
}

#[derive(Serialize, ToSchema)]
pub struct ReferralTreeView {
    /// Invitees at depth 1, 2 and 3.
    pub by_depth: [u32; 3],
    /// What every invitee in the tree spent, net of refunds.
    pub net_spend: String,
}

impl From<&ReferralTree> for ReferralTreeView {
    fn from(t: &ReferralTree) -> Self {
        ReferralTreeView {
            by_depth: t.by_depth,
            net_spend: t.net_spend.to_string(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct InfluenceView {
    pub score: f64,
    pub parts: Vec<PartView>,
    pub explanation: String,
    pub referral_tree: ReferralTreeView,
}

#[derive(Serialize, ToSchema)]
pub struct RfmView {
    pub r: i64,
    pub f: i64,
    pub m: i64,
    /// The named cell: champions, loyal, potential_loyalist, new, promising,
    /// need_attention, about_to_sleep, at_risk, cant_lose, hibernating, lost.
    pub cell: String,
    pub recency_days: i64,
    pub frequency: i64,
    /// Net spend, a decimal string.
    pub monetary: String,
}

/// Lifetime value, when the last recompute could compute it.
#[derive(Serialize, ToSchema)]
pub struct ClvView {
    /// `fitted`; `insufficient_data` when the population was too small or the fit
    /// ran away (the reason says which); `no_purchase` for a member who never bought.
    pub status: String,
    pub reason: Option<String>,
    pub p_alive: Option<f64>,
    /// Expected purchases over the horizon.
    pub expected_purchases: Option<f64>,
    /// Expected value over the horizon, a decimal string.
    pub expected_value: Option<String>,
    pub horizon_days: u32,
}

impl ClvView {
    /// What the stored row and the last run say about a member's lifetime value.
    pub fn of(stored: &StoredScores, unfit: Option<&str>, horizon_days: u32) -> ClvView {
        let mut view = ClvView {
            status: "fitted".into(),
            reason: None,
            p_alive: None,
            expected_purchases: None,
            expected_value: None,
            horizon_days,
        };
        match (&stored.clv, unfit) {
            (Some(c), _) => {
                view.p_alive = Some(c.p_alive);
                view.expected_purchases = Some(c.expected_purchases);
                view.expected_value = Some(c.expected_value.to_string());
            }
            (None, Some(reason)) => {
                view.status = "insufficient_data".into();
                view.reason = Some(reason.to_owned());
            }
            (None, None) => {
                view.status = "no_purchase".into();
                view.reason = Some("the member has not bought anything yet".into());
            }
        }
        view
    }
}

/// One member's scores: super user, influence and intimacy live; RFM and lifetime value
/// from the last recompute.
#[derive(Serialize, ToSchema)]
pub struct MemberScoresView {
    pub member_id: i64,
    /// Null before a recompute reached the member, or if they never bought.
    pub rfm: Option<RfmView>,
    pub super_user: SuperUserScoreView,
    pub influence: InfluenceView,
    pub intimacy: ScoreView,
    /// Null before a recompute reached the member.
    pub clv: Option<ClvView>,
    /// When the RFM and lifetime value were computed.
    pub computed_at: Option<String>,
    pub as_of: String,
}

#[derive(Serialize, ToSchema)]
pub struct SuperUserItem {
    pub member_id: i64,
    /// The score at the last recompute (the list's order).
    pub score: f64,
    /// The score now, from the member's facts.
    pub score_now: f64,
    pub explanation: String,
    pub parts: Vec<PartView>,
    pub stage: String,
    pub rfm_cell: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SuperUserList {
    /// True: members to invite (not paid members yet); false: the current super users.
    pub potential: bool,
    pub computed_at: Option<String>,
    pub items: Vec<SuperUserItem>,
}

#[derive(Serialize, ToSchema)]
pub struct BgNbdView {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
}

#[derive(Serialize, ToSchema)]
pub struct GammaGammaView {
    pub p: f64,
    pub q: f64,
    pub gamma: f64,
}

#[derive(Serialize, ToSchema)]
pub struct ModelView {
    pub bgnbd: BgNbdView,
    pub log_likelihood: f64,
    /// Null when nobody bought twice.
    pub gamma_gamma: Option<GammaGammaView>,
    pub fitted_on: usize,
    pub period_days: u32,
    pub horizon_days: u32,
}

#[derive(Serialize, ToSchema)]
pub struct ClvFitView {
    /// `fitted` or `insufficient_data`.
    pub status: String,
    pub reason: Option<String>,
    /// The fewest buyers lifetime value is computed for (`scores.clv_min_customers`).
    pub min_customers: usize,
}

impl From<&ClvFit> for ClvFitView {
    fn from(c: &ClvFit) -> Self {
        ClvFitView {
            status: c.status.to_owned(),
            reason: c.reason.clone(),
            min_customers: c.min_customers,
        }
    }
}

/// What a recompute did.
#[derive(Serialize, ToSchema)]
pub struct RecomputeView {
    pub computed_at: String,
    pub members: u64,
    pub rfm_members: u64,
    pub clv_members: u64,
    /// Null when lifetime value was not computed (see `clv`).
    pub model: Option<ModelView>,
    pub clv: ClvFitView,
    pub elapsed_ms: u64,
}

impl From<&RecomputeReport> for RecomputeView {
    fn from(r: &RecomputeReport) -> Self {
        RecomputeView {
            computed_at: to_rfc3339(r.computed_at),
            members: r.members,
            rfm_members: r.rfm_members,
            clv_members: r.clv_members,
            model: r.model.as_ref().map(|m| ModelView {
                bgnbd: BgNbdView {
                    r: m.bgnbd.r,
                    alpha: m.bgnbd.alpha,
                    a: m.bgnbd.a,
                    b: m.bgnbd.b,
                },
                log_likelihood: m.log_likelihood,
                gamma_gamma: m.gamma_gamma.map(|g| GammaGammaView {
                    p: g.p,
                    q: g.q,
                    gamma: g.gamma,
                }),
                fitted_on: m.fitted_on,
                period_days: m.period_days,
                horizon_days: m.horizon_days,
            }),
            clv: ClvFitView::from(&r.clv),
            elapsed_ms: r.elapsed_ms,
        }
    }
}
