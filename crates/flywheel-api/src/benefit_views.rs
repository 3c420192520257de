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

/// The partner behind a benefit whose uses hand out the partner's codes.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct PartnerInput {
    /// 1-40 lower-case letters, digits, '_' or '-'; the settlement groups by it.
    pub id: String,
    pub name: String,
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
    /// Set for a partner's benefit: each use hands out one of the partner's codes,
    /// loaded with `POST /v1/benefits/{id}/codes`.
    pub partner: Option<PartnerInput>,
}

/// A partner benefit's codes: in stock, and handed out so far.
#[derive(Serialize, ToSchema)]
pub struct CodeStockView {
    pub in_stock: i64,
    pub issued: i64,
}

/// `POST /v1/benefits/{id}/codes`: codes the partner supplied.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct CodesInput {
    /// 1-2,000 codes, each 1-100 characters without spaces.
    pub codes: Vec<String>,
}

/// What a load of codes did.
#[derive(Serialize, ToSchema)]
pub struct CodesLoadedView {
    pub benefit: String,
    pub added: u64,
    /// Codes loaded before (a retried load adds nothing).
    pub already_loaded: u64,
    pub in_stock: i64,
    pub issued: i64,
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
    /// A partner benefit's codes; none for others.
    pub codes: Option<CodeStockView>,
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
    /// A partner benefit: the partner's name and the codes handed to the member in the
    /// current period (or term). Whole for the roles that hand codes out (admin,
    /// operator, staff, integrator); others see only the last four characters.
    pub partner: Option<String>,
    pub codes: Vec<String>,
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
    /// A partner benefit: the partner, and the code this use handed out (the same code
    /// again when the request is retried).
    pub partner: Option<String>,
    pub code: Option<String>,
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

/// Codes handed out for partner benefits, per partner and benefit.
#[derive(Serialize, ToSchema)]
pub struct CodeSettlementRowView {
    pub partner: String,
    pub partner_name: String,
    pub benefit: String,
    /// Codes handed out in the period: what the partner is settled for.
    pub issued: i64,
    /// Codes left in stock now.
    pub in_stock: i64,
}

/// `GET /v1/reports/benefits/settlement`.
#[derive(Serialize, ToSchema)]
pub struct CodeSettlementView {
    /// YYYY-MM-DD, both days included (UTC).
    pub from: String,
    pub to: String,
    pub rows: Vec<CodeSettlementRowView>,
    /// Codes handed out in the period, all partners.
    pub issued: i64,
}

/// A partner's code as a role that does not hand codes out sees it: the last four
/// characters, enough to match a member's complaint to a code.
pub fn masked_code(code: &str) -> String {
    let chars: Vec<char> = code.chars().collect();
    let tail: String = chars[chars.len().saturating_sub(4)..].iter().collect();
    if chars.len() <= 4 {
        "****".into()
    } else {
        format!("****{tail}")
    }
}

impl HeldBenefitView {
    /// The view of a held benefit; `whole_codes`: the caller may see partner codes whole.
    pub fn new(h: flywheel_store::HeldBenefit, whole_codes: bool) -> Self {
        let limit = h.benefit.definition.limit.clone();
        let codes = h
            .codes
            .into_iter()
            .map(|c| if whole_codes { c } else { masked_code(&c) })
            .collect();
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
            partner: h.benefit.definition.partner.map(|p| p.name),
            codes,
        }
    }
}
