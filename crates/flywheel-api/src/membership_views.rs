//! Bodies of the membership routes. The input types document the shape in the OpenAPI
//! document; requests are parsed into the core's own definitions
//! (`flywheel_core::membership`), which check them.

use flywheel_core::Money;
use flywheel_core::membership::Measure;
use flywheel_core::membership::progress::{Keep, Progress};
use flywheel_core::time::to_rfc3339;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// What qualifies for, keeps or raises a tier.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
#[serde(rename_all = "snake_case")]
pub enum MeasureInput {
    /// Money spent on orders, less refunds.
    Spend,
    /// Points earned (never the balance: spending points lowers no tier).
    Points,
}

/// A measure and how much of it is needed.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct ThresholdInput {
    pub measure: MeasureInput,
    /// Money as a decimal string ("10000.00"), or points as a whole number.
    #[schema(value_type = String, example = "10000.00")]
    pub threshold: Value,
}

/// One tier of a programme.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct TierInput {
    /// 1-40 letters, digits, '_' or '-' ("V1").
    pub id: String,
    pub name: String,
    /// 1 is the lowest; each tier its own rank.
    #[schema(minimum = 1, maximum = 1000)]
    pub rank: u32,
    /// Paid programmes: the fee for one term, a decimal string.
    #[schema(example = "99.00")]
    pub fee: Option<String>,
    /// Paid programmes: the largest share of the fee payable in points, 0 to 1.
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub max_points_share: Option<f64>,
    /// Paid programmes: reached free, until the term ends, at this measure over the term.
    pub upgrade: Option<ThresholdInput>,
    /// Earned programmes: held while the measure over the window reaches this.
    pub qualify: Option<ThresholdInput>,
}

/// How long a paid tier or a card lasts: `days` from the purchase, or a yearly cycle
/// ending on `ends_on` ("MM-DD"); one of the two.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct TermInput {
    #[schema(minimum = 1, maximum = 3660)]
    pub days: Option<u32>,
    #[schema(example = "12-31")]
    pub ends_on: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
#[serde(rename_all = "snake_case")]
pub enum DowngradePolicyInput {
    OneDown,
    Recompute,
    Never,
}

/// What happens when a tier is not kept, and after how many days of grace.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct DowngradeInput {
    pub policy: DowngradePolicyInput,
    #[schema(minimum = 0, maximum = 3660)]
    pub grace_days: Option<u32>,
}

/// Cards: members whose profile field equals the value may hold one.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct EligibilityInput {
    /// gender, city, occupation or birthday.
    pub field: String,
    pub equals: String,
}

#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
#[serde(rename_all = "snake_case")]
pub enum ProgrammeKindInput {
    Paid,
    Earned,
    Card,
}

/// `PUT /v1/programmes/{id}`: a whole programme definition.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct ProgrammeInput {
    pub name: String,
    /// Fixed once the programme exists.
    pub kind: ProgrammeKindInput,
    pub tiers: Vec<TierInput>,
    /// Paid programmes and cards (default 365 days).
    pub term: Option<TermInput>,
    /// Earned programmes: the rolling window of the measure (default 365).
    #[schema(minimum = 1, maximum = 3660)]
    pub window_days: Option<u32>,
    /// Paid programmes: what keeps the tier at the end of a term without paying again.
    pub retention: Option<ThresholdInput>,
    /// Default: one tier down, no grace.
    pub downgrade: Option<DowngradeInput>,
    /// Cards only.
    pub eligibility: Option<EligibilityInput>,
    /// Days within which a purchase may be cancelled (default 7).
    #[schema(minimum = 0, maximum = 365)]
    pub cooling_off_days: Option<u32>,
    /// Days before a benefit leaves a holder's tier that they are told, and before
    /// their renewal that an added one is announced (default 30).
    #[schema(minimum = 0, maximum = 365)]
    pub notice_days: Option<u32>,
}

/// A programme as its newest version defines it.
#[derive(Serialize, ToSchema)]
pub struct ProgrammeView {
    pub id: String,
    pub version: i64,
    /// When this version was stored (RFC 3339).
    pub updated_at: String,
    /// Who stored it (`key:<id>`, `env-admin`).
    pub updated_by: String,
    /// The definition, as `PUT` takes it (with defaults filled in).
    #[schema(value_type = ProgrammeInput)]
    pub definition: Value,
    /// Every stored version, newest first (only on `GET /v1/programmes/{id}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub versions: Option<Vec<ProgrammeVersionView>>,
}

/// One stored version.
#[derive(Serialize, ToSchema)]
pub struct ProgrammeVersionView {
    pub version: i64,
    pub stored_at: String,
    pub stored_by: String,
}

/// `GET /v1/programmes`.
#[derive(Serialize, ToSchema)]
pub struct ProgrammeList {
    pub programmes: Vec<ProgrammeView>,
}

/// How a tier is paid for: cash, and points worth `points.value_per_point` each.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct PaymentInput {
    /// Decimal string ("49.00"); default 0.
    #[schema(example = "49.00")]
    pub cash: Option<String>,
    /// Default 0.
    #[schema(minimum = 0)]
    pub points: Option<i64>,
}

/// `POST /v1/memberships`: buy or renew a paid tier, or take a card.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct MembershipInput {
    #[schema(minimum = 1)]
    pub member_id: i64,
    pub programme: String,
    pub tier: String,
    /// Cash and points must add up to the tier's fee; nothing (or left out) for a card.
    pub payment: Option<PaymentInput>,
    /// Retrying with the same key answers the same purchase and pays nothing again.
    pub idempotency_key: String,
}

/// What was paid.
#[derive(Serialize, ToSchema)]
pub struct PaymentView {
    pub cash: String,
    pub points: i64,
}

/// A purchase of a paid tier.
#[derive(Serialize, ToSchema)]
pub struct PurchaseView {
    pub id: String,
    pub member_id: i64,
    pub programme: String,
    pub tier: String,
    pub payment: PaymentView,
    /// When the term bought starts (a renewal bought early starts where the current
    /// term ends).
    pub term_start: String,
    pub expires_at: Option<String>,
    pub status: String,
    pub created_at: String,
    /// True when the idempotency key was seen before: the stored purchase, nothing paid.
    pub replayed: bool,
}

/// A tier a member holds now.
#[derive(Serialize, ToSchema)]
pub struct MembershipView {
    pub programme: String,
    pub tier: String,
    /// When the member reached this tier.
    pub since: String,
    /// When the term ends (none for earned tiers).
    pub expires_at: Option<String>,
    /// paid, earned, upgrade, manual or card.
    pub source: String,
    /// active, or grace: past the term, within the programme's grace days.
    pub status: String,
    /// The end of the grace, when the tier lapses unless kept.
    pub grace_until: Option<String>,
    /// How far the next tier up is; none at the top or when no measure reaches one.
    pub progress: Option<ProgressView>,
    /// What keeps this tier when the term ends.
    pub retention: RetentionView,
}

/// Progress to the next tier. Amounts are in the measure's unit: money as a decimal
/// string ("2340.00"), points as a whole number in a string ("1500").
#[derive(Serialize, ToSchema)]
pub struct ProgressView {
    /// The tier to reach.
    pub tier: String,
    /// spend or points (earned, never the balance).
    pub measure: String,
    /// The measure so far: over the term (paid) or the rolling window (earned).
    pub current: String,
    /// What is still missing; "0.00" or "0" once reached.
    pub needed: String,
    /// What the tier needs in all.
    pub threshold: String,
    /// The deadline: a paid upgrade counts within the term; none for an earned tier,
    /// whose window rolls.
    pub by: Option<String>,
    /// "spend 2,340.00 more by 2027-05-01 to reach V2".
    pub sentence: String,
}

/// What keeps a tier at the end of its term (保级).
#[derive(Serialize, ToSchema)]
pub struct RetentionView {
    /// The measure that keeps it without paying (the paid programme's retention rule,
    /// or an earned tier's own threshold); none: only renewing keeps it.
    pub measure: Option<String>,
    pub current: Option<String>,
    pub needed: Option<String>,
    pub threshold: Option<String>,
    /// Whether the measure already keeps it.
    pub met: bool,
    /// When it is judged: the end of the term.
    pub by: Option<String>,
    /// Paid tiers: the fee for another term, and the most of it payable in points.
    pub renewal_fee: Option<String>,
    pub renewal_max_points: Option<i64>,
    pub sentence: String,
}

/// `GET /v1/members/{id}/memberships`: only memberships that hold now.
#[derive(Serialize, ToSchema)]
pub struct MembershipsView {
    pub member_id: i64,
    /// The member's card number, once they have joined a programme.
    pub card_no: Option<String>,
    pub memberships: Vec<MembershipView>,
}

/// One tier change.
#[derive(Serialize, ToSchema)]
pub struct TierChangeView {
    pub programme: String,
    /// None: the member joined.
    pub from: Option<String>,
    /// None: the membership lapsed.
    pub to: Option<String>,
    pub at: String,
    pub rule: String,
    pub reason: String,
}

/// `GET /v1/members/{id}/tiers`: every tier change, oldest first.
#[derive(Serialize, ToSchema)]
pub struct TierHistoryView {
    pub member_id: i64,
    pub changes: Vec<TierChangeView>,
}

/// `PUT /v1/members/{id}/memberships/{programme}`: a tier set or ended by hand.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct ManualTierInput {
    /// The tier to hold; null ends the membership.
    pub tier: Option<String>,
    /// Paid tiers and cards: until when (RFC 3339, in the future). Default: the current
    /// term's end, or a new term from now.
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
    /// Why (kept in the tier history and the audit log).
    pub reason: String,
}

/// An amount in a measure's unit as the API writes it: "2340.00" or "1500".
fn amount(measure: Measure, n: i64) -> String {
    match measure {
        Measure::Spend => Money::from_minor(n).to_string(),
        Measure::Points => n.to_string(),
    }
}

impl From<&Progress> for ProgressView {
    fn from(p: &Progress) -> Self {
        ProgressView {
            tier: p.tier.clone(),
            measure: p.measure.as_str().into(),
            current: amount(p.measure, p.current),
            needed: amount(p.measure, p.needed()),
            threshold: amount(p.measure, p.threshold),
            by: p.by.map(to_rfc3339),
            sentence: p.sentence(),
        }
    }
}

impl From<&Keep> for RetentionView {
    fn from(k: &Keep) -> Self {
        let of = |n: i64| k.measure.map(|m| amount(m, n));
        RetentionView {
            measure: k.measure.map(|m| m.as_str().into()),
            current: of(k.current),
            needed: of((k.threshold - k.current).max(0)),
            threshold: of(k.threshold),
            met: k.met,
            by: k.by.map(to_rfc3339),
            renewal_fee: k.renewal_fee.map(|f| f.to_string()),
            renewal_max_points: k.renewal_max_points,
            sentence: k.sentence.clone(),
        }
    }
}

/// One tier on the member card.
#[derive(Serialize, ToSchema)]
pub struct CardTierView {
    pub programme: String,
    pub programme_name: String,
    /// paid, earned or card.
    pub kind: String,
    pub tier: String,
    pub tier_name: String,
    pub expires_at: Option<String>,
    /// active, or grace.
    pub status: String,
    /// How to reach the next tier, in one sentence; none at the top.
    pub progress: Option<String>,
    /// What keeps this tier when the term ends, in one sentence.
    pub retention: String,
}

/// The member's points on the card.
#[derive(Serialize, ToSchema)]
pub struct CardPointsView {
    pub programme: String,
    pub balance: i64,
    pub pending: i64,
    /// The points that expire first, and when.
    pub next_expiry: Option<crate::points_views::ExpiryView>,
}

/// `GET /v1/members/{id}/card`: the member card (电子身份证), what a till or an app shows
/// the member about themselves.
#[derive(Serialize, ToSchema)]
pub struct CardView {
    pub member_id: i64,
    /// Given on first joining a programme.
    pub card_no: Option<String>,
    /// The newest nickname on any channel, or the name.
    pub nickname: Option<String>,
    /// Always masked on the card ("+86137****0001"): it is shown across the counter.
    pub phone: Option<String>,
    pub tiers: Vec<CardTierView>,
    pub benefits: Vec<crate::benefit_views::HeldBenefitView>,
    pub points: CardPointsView,
    /// Badges segments awarded and awards staff confirmed.
    pub honours: crate::honours_views::HonoursView,
    /// The task centre: tasks with what they pay and how far along the member is.
    pub tasks: Vec<crate::points_views::TaskView>,
}

/// A signed link to a member's card page.
#[derive(Serialize, ToSchema)]
pub struct CardLinkView {
    /// Opens the card page with no sign-in: e.g. `http://host/card/42-1767225600-3f9a…`.
    pub url: String,
    pub expires_at: String,
}
