//! Mapping between rows and domain values. The domain types know nothing of SQL; this
//! file is the only place that does both.

use crate::error::StoreError;
use crate::sql::Val;
use flywheel_core::ingest::farming;
use flywheel_core::ingest::{MemberState, OrderState, ReferralState};
use flywheel_core::{Identity, Lens, Money, Stage};
use sqlx::Row;
use sqlx::any::AnyRow;

/// The columns [`member_from_row`] reads.
macro_rules! member_columns {
    () => {
        "id, created_at, merged_into, stage, lens, stage_since, next_review_at, profile, facts, erased_at"
    };
}

/// Member rows by id; callers append `= $1` or `IN (…)`.
pub(crate) const MEMBER_SELECT: &str =
    concat!("SELECT ", member_columns!(), " FROM members WHERE id");

/// Member rows, for queries that add their own conditions.
pub(crate) const MEMBER_FROM: &str = concat!("SELECT ", member_columns!(), " FROM members");

pub(crate) const MEMBER_INSERT: &str = "INSERT INTO members (id, created_at, merged_into, stage, lens, stage_since, \
     next_review_at, profile, facts, updated_at, source_kind, source_name)";

pub(crate) const MEMBER_UPSERT_TAIL: &str = "ON CONFLICT (id) DO UPDATE SET created_at = excluded.created_at, \
     merged_into = excluded.merged_into, stage = excluded.stage, lens = excluded.lens, \
     stage_since = excluded.stage_since, next_review_at = excluded.next_review_at, profile = excluded.profile, \
     facts = excluded.facts, updated_at = excluded.updated_at, source_kind = excluded.source_kind, \
     source_name = excluded.source_name";

/// The upsert of a member whose indexed columns are as it was loaded: SQLite maintains
/// every index with a column in the SET list, changed or not, and most events move only
/// a member's facts and review instant — not its stage, lens, first-seen time, merge or
/// source. It pays where the indexes do not fit in memory: 60,000 upserts into a table
/// of 300,000 rows with the members' five indexes took 2.6 s setting every column and
/// 1.4–1.9 s setting only these; a replay at 30,000 members gained 3% of its member
/// upserts' time (bench/PROFILE.md).
pub(crate) const MEMBER_UPSERT_HOT_TAIL: &str = "ON CONFLICT (id) DO UPDATE SET \
     stage_since = excluded.stage_since, next_review_at = excluded.next_review_at, \
     profile = excluded.profile, facts = excluded.facts, updated_at = excluded.updated_at";

/// A member's columns that [`MEMBER_UPSERT_HOT_TAIL`] leaves alone: indexed, or (the
/// source) rarely changed. Taken as a member is loaded, so the write can tell whether
/// they moved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MemberColdColumns {
    created_at: i64,
    merged_into: Option<i64>,
    stage: Stage,
    lens: Lens,
    source: Option<(flywheel_core::source::SourceKind, String)>,
}

impl MemberColdColumns {
    pub(crate) fn of(m: &MemberState) -> MemberColdColumns {
        MemberColdColumns {
            created_at: m.created_at,
            merged_into: m.merged_into,
            stage: m.stage,
            lens: m.lens,
            source: m.facts.source.as_ref().map(|s| (s.kind, s.name.clone())),
        }
    }
}

/// Reads a member row (without identities, which live in their own table).
pub(crate) fn member_from_row(row: &AnyRow) -> Result<MemberState, StoreError> {
    let id: i64 = row.try_get("id")?;
    let mut m = MemberState::new(id, row.try_get("created_at")?);
    m.merged_into = row.try_get("merged_into")?;
    let stage: String = row.try_get("stage")?;
    m.stage = Stage::parse(&stage)
        .ok_or_else(|| StoreError::Corrupt(format!("member {id}: stage {stage:?}")))?;
    let lens: String = row.try_get("lens")?;
    m.lens = Lens::parse(&lens)
        .ok_or_else(|| StoreError::Corrupt(format!("member {id}: lens {lens:?}")))?;
    m.stage_since = row.try_get("stage_since")?;
    m.next_review_at = row.try_get("next_review_at")?;
    m.profile = serde_json::from_str(&row.try_get::<String, _>("profile")?)?;
    m.facts = serde_json::from_str(&row.try_get::<String, _>("facts")?)?;
    m.erased_at = row.try_get("erased_at")?;
    Ok(m)
}

pub(crate) fn member_values(m: &MemberState, now: i64) -> Result<Vec<Val>, StoreError> {
    Ok(vec![
        m.id.into(),
        m.created_at.into(),
        m.merged_into.into(),
        m.stage.as_str().into(),
        m.lens.as_str().into(),
        m.stage_since.into(),
        m.next_review_at.into(),
        serde_json::to_string(&m.profile)?.into(),
        serde_json::to_string(&m.facts)?.into(),
        now.into(),
        // The source again, as columns, for reports by source.
        m.facts
            .source
            .as_ref()
            .map(|s| s.kind.as_str().to_owned())
            .into(),
        m.facts.source.as_ref().map(|s| s.name.clone()).into(),
    ])
}

pub(crate) fn identity_from_row(row: &AnyRow) -> Result<(Identity, i64), StoreError> {
    let key: String = row.try_get("key")?;
    let identity = Identity::from_key(&key)
        .ok_or_else(|| StoreError::Corrupt(format!("identity key {key:?}")))?;
    Ok((identity, row.try_get("member_id")?))
}

pub(crate) const ORDER_SELECT: &str = "SELECT order_id, member_id, purchase_event_id, amount, refunded, occurred_at FROM orders WHERE";

pub(crate) const REFERRAL_SELECT: &str = "SELECT event_id, inviter_id, invitee_id, referred_at, converted_at, status, fingerprint, hold_reason FROM referrals WHERE";

pub(crate) fn order_from_row(row: &AnyRow) -> Result<OrderState, StoreError> {
    Ok(OrderState {
        order_id: row.try_get("order_id")?,
        member_id: row.try_get("member_id")?,
        purchase_event_id: row.try_get("purchase_event_id")?,
        amount: row
            .try_get::<Option<i64>, _>("amount")?
            .map(Money::from_minor),
        refunded: Money::from_minor(row.try_get("refunded")?),
        occurred_at: row.try_get("occurred_at")?,
    })
}

pub(crate) fn referral_from_row(row: &AnyRow) -> Result<ReferralState, StoreError> {
    Ok(ReferralState {
        event_id: row.try_get("event_id")?,
        inviter_id: row.try_get("inviter_id")?,
        invitee_id: row.try_get("invitee_id")?,
        referred_at: row.try_get("referred_at")?,
        converted_at: row.try_get("converted_at")?,
        status: row.try_get("status")?,
        fingerprint: farming::decode(&row.try_get::<String, _>("fingerprint")?),
        hold_reason: row.try_get("hold_reason")?,
    })
}
