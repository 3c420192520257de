//! Bodies of the benefit routes. Inputs document the shape in the OpenAPI document;
//! requests are parsed into the core's `membership::benefit::Benefit`, which checks them.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// Where a benefit applies; an empty or missing list means all.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct ScopeInput {
    /// Channels ("app", "store", "tmall"…).
    pub channels: Option<Vec<String>>,
    /// Product categories.
    pub categories: Option<Vec<String>>,
}

#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
#[serde(rename_all = "snake_case")]
pub enum PeriodInput {
    Day,
    Month,
    Term,
}

/// At most `uses` uses per `per` (a UTC day, a calendar month, or the holder's term).
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct LimitInput {
    #[schema(minimum = 1, maximum = 10000)]
    pub uses: u32,
    pub per: PeriodInput,
}

/// `POST /v1/benefits` (with `id`) or `PUT /v1/benefits/{id}` (without).
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct BenefitInput {
    /// `POST` only: 1-40 lower-case letters, digits, '_' or '-'.
    pub id: Option<String>,
    pub name: String,
    pub description: Option<String>,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub effective_from: String,
    /// RFC 3339, after `effective_from`; none: open-ended.
    #[schema(format = DateTime)]
    pub effective_to: Option<String>,
    pub scope: Option<ScopeInput>,
    pub limit: Option<LimitInput>,
}

/// A benefit.
#[derive(Serialize, ToSchema)]
pub struct BenefitView {
    pub id: String,
    /// The definition, as `PUT` takes it.
    #[schema(value_type = BenefitInput)]
    pub definition: Value,
    /// The tiers that give it now, as `programme/tier`.
    pub tiers: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// `GET /v1/benefits`.
#[derive(Serialize, ToSchema)]
pub struct BenefitList {
    pub benefits: Vec<BenefitView>,
}

/// `PUT /v1/programmes/{id}/tiers/{tier}/benefits`: the whole list a tier gives.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct TierBenefitsInput {
    /// Benefit ids.
    pub benefits: Vec<String>,
}

/// The benefits a tier gives, and what a change did.
#[derive(Serialize, ToSchema)]
pub struct TierBenefitsView {
    pub programme: String,
    pub tier: String,
    pub benefits: Vec<String>,
    /// Given at once; announced to holders before their renewal.
    pub added: Vec<String>,
    /// Kept by each holder until their term ends, with a notice before.
    pub removed: Vec<String>,
    /// Notices written to holders.
    pub notices: u64,
}

/// A benefit a member holds now.
#[derive(Serialize, ToSchema)]
pub struct HeldBenefitView {
    pub id: String,
    pub name: String,
    pub description: String,
    /// The tier that gives it.
    pub programme: String,
    pub tier: String,
    /// Set when it has left the tier and stays with the member until then.
    pub until: Option<String>,
    /// With a limit: uses so far in the current period, the limit, and when the
    /// period ends (none for a term without end).
    pub used: Option<u32>,
    pub limit: Option<u32>,
    pub per: Option<String>,
    pub period_ends: Option<String>,
}

/// `GET /v1/members/{id}/benefits`.
#[derive(Serialize, ToSchema)]
pub struct MemberBenefitsView {
    pub member_id: i64,
    pub benefits: Vec<HeldBenefitView>,
}

/// `POST /v1/members/{id}/benefits/{benefit}/uses`.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct UseInput {
    /// Where the use happens ("store", "app"…), checked against the benefit's scope.
    pub channel: Option<String>,
    /// The product category it is used on, checked against the scope.
    pub category: Option<String>,
    /// Retrying with the same key answers the same use and counts nothing again.
    pub idempotency_key: String,
}

/// A recorded use.
#[derive(Serialize, ToSchema)]
pub struct UseView {
    pub id: String,
    pub member_id: i64,
    pub benefit: String,
    pub programme: String,
    pub tier: String,
    pub channel: Option<String>,
    pub category: Option<String>,
    pub at: String,
    /// Uses left in the period (none: no limit, or a replayed answer).
    pub remaining: Option<u32>,
    pub replayed: bool,
}

/// A notice to a member.
#[derive(Serialize, ToSchema)]
pub struct NoticeView {
    pub member_id: i64,
    /// `benefit_removed` or `benefit_added`.
    pub kind: String,
    pub subject: String,
    pub body: String,
    /// When it is due to be delivered.
    pub deliver_at: String,
    pub created_at: String,
}

/// `GET /v1/notices`.
#[derive(Serialize, ToSchema)]
pub struct NoticeList {
    pub notices: Vec<NoticeView>,
}

impl From<flywheel_store::HeldBenefit> for HeldBenefitView {
    fn from(h: flywheel_store::HeldBenefit) -> Self {
        let limit = h.benefit.definition.limit.clone();
        HeldBenefitView {
            id: h.benefit.id,
            name: h.benefit.definition.name,
            description: h.benefit.definition.description,
            programme: h.programme,
            tier: h.tier,
            until: h.until.map(flywheel_core::time::to_rfc3339),
            used: limit.as_ref().map(|_| h.used),
            limit: limit.as_ref().map(|l| l.uses),
            per: limit.as_ref().map(|l| l.per.as_str().to_owned()),
            period_ends: h.period_ends.map(flywheel_core::time::to_rfc3339),
        }
    }
}
