//! Coupons (migration 35): definitions with their budget counters, codes issued to
//! members, and redemption exactly once.
//!
//! What keeps the promises under concurrency:
//! - a code is issued in one transaction that holds the member's row (the per-member
//!   limit) and moves the coupon's `issued` counter only while it is below the budget, in
//!   the same statement — two issues at once never pass either;
//! - a redemption holds the code's row and flips it from `issued` to `redeemed` only if
//!   it still is `issued`; the discount moves `granted` only while it stays within the
//!   amount budget. A second redemption of the code — at once or later — is refused with
//!   `coupon_used`, unless it is the same order again (a retry), which answers as the first.
//!
//! At ingest a purchase naming codes (`properties.coupons`) marks them used on its order,
//! and a refund covering the whole order gives its codes back if they are still valid.

use super::products::products_in;
use crate::audit::{self, AuditActor, AuditChange};
use crate::db::Store;
use crate::dialect::row_lock;
use crate::error::StoreError;
use crate::plan::Writes;
use crate::points::commands::lock_member;
use crate::points::{AdjustRequest, PointsError};
use crate::sql::Val;
use flywheel_core::ErrorCode;
use flywheel_core::Event;
use flywheel_core::event::{Payload, purchase_coupons};
use flywheel_core::ingest::{MemberId, WorkingSet};
use flywheel_core::marketing::coupon::normalise_code;
use flywheel_core::marketing::{Coupon, Order, OrderLine};
use flywheel_core::money::Money;
use flywheel_core::points::PointsPolicy;
use flywheel_core::time::Micros;
use rand::Rng;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// A refusal with its stable code, a points command's refusal (a lottery's cost, a
/// flash sale's points), or a store failure.
#[derive(Debug, thiserror::Error)]
pub enum MarketingError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{message}")]
    Refused { code: ErrorCode, message: String },
    #[error(transparent)]
    Points(PointsError),
}

impl From<sqlx::Error> for MarketingError {
    fn from(e: sqlx::Error) -> Self {
        MarketingError::Store(e.into())
    }
}

impl From<PointsError> for MarketingError {
    fn from(e: PointsError) -> Self {
        match e {
            PointsError::Store(s) => MarketingError::Store(s),
            // The caller answers it as the points command would (an unknown member, too
            // few points, a reused key), not as a failure of the store.
            other => MarketingError::Points(other),
        }
    }
}

pub(super) fn refused(code: ErrorCode, message: impl Into<String>) -> MarketingError {
    MarketingError::Refused {
        code,
        message: message.into(),
    }
}

impl MarketingError {
    fn is_transient(&self) -> bool {
        matches!(self, MarketingError::Store(e) if e.is_transient())
    }
}

/// Runs a coupon transaction again after a deadlock, serialization failure or key race.
pub(super) async fn retrying<T, F, Fut>(mut attempt_once: F) -> Result<T, MarketingError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, MarketingError>>,
{
    let mut attempt = 1u32;
    loop {
        match attempt_once().await {
            Err(e) if e.is_transient() && attempt < 8 => {
                tokio::time::sleep(std::time::Duration::from_millis(5 << attempt.min(6))).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// A coupon as stored, with its counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CouponRow {
    pub coupon: Coupon,
    /// Codes issued, codes redeemed now, and the discount granted on them.
    pub issued: i64,
    pub redeemed: i64,
    pub granted: Money,
    pub created_at: Micros,
    pub updated_at: Micros,
    pub updated_by: String,
}

/// An issued code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeRow {
    pub code: String,
    pub coupon_id: String,
    pub member_id: MemberId,
    /// api | segment | gift | fission:<campaign>
    pub source: String,
    pub issued_at: Micros,
    pub expires_at: Micros,
    /// issued | redeemed | gifted (sent by `gift_from`, not yet redeemed by a friend)
    pub status: String,
    pub order_id: Option<String>,
    /// None for a code a purchase event named: the shop took the discount off.
    pub discount: Option<Money>,
    pub redeemed_at: Option<Micros>,
    /// The member who gifted the code (give-one-get-one).
    pub gift_from: Option<MemberId>,
}

/// What issuing to a segment did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Issued {
    pub issued: usize,
    /// Issued before under the same key.
    pub already: usize,
    /// Members refused, by the code of the refusal (limit_reached…).
    pub refused: std::collections::BTreeMap<String, usize>,
    /// The budget ran out before every member had a code.
    pub budget_spent: bool,
}

/// What a redemption asks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redeemed {
    pub code: String,
    pub member_id: MemberId,
    pub order_id: String,
    pub order: Order,
}

const CODE_COLUMNS: &str = "code, coupon_id, member_id, source, issued_at, expires_at, status, order_id, discount, redeemed_at, gift_from";

fn code_from_row(r: &AnyRow) -> Result<CodeRow, StoreError> {
    Ok(CodeRow {
        code: r.try_get("code")?,
        coupon_id: r.try_get("coupon_id")?,
        member_id: r.try_get("member_id")?,
        source: r.try_get("source")?,
        issued_at: r.try_get("issued_at")?,
        expires_at: r.try_get("expires_at")?,
        status: r.try_get("status")?,
        order_id: r.try_get("order_id")?,
        discount: r
            .try_get::<Option<i64>, _>("discount")?
            .map(Money::from_minor),
        redeemed_at: r.try_get("redeemed_at")?,
        gift_from: r.try_get("gift_from")?,
    })
}

const COUPON_COLUMNS: &str = "id, definition, issued, granted, created_at, updated_at, updated_by, \
    (SELECT COUNT(*) FROM coupon_codes c WHERE c.coupon_id = coupons.id AND c.status = 'redeemed') AS redeemed";

fn coupon_from_row(r: &AnyRow) -> Result<CouponRow, StoreError> {
    let id: String = r.try_get("id")?;
    let coupon = serde_json::from_str(&r.try_get::<String, _>("definition")?)
        .map_err(|_| StoreError::Corrupt(format!("coupon {id}: definition")))?;
    Ok(CouponRow {
        coupon,
        issued: r.try_get("issued")?,
        redeemed: r.try_get("redeemed")?,
        granted: Money::from_minor(r.try_get("granted")?),
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        updated_by: r.try_get("updated_by")?,
    })
}

async fn coupon_in(conn: &mut AnyConnection, id: &str) -> Result<Option<CouponRow>, StoreError> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COUPON_COLUMNS} FROM coupons WHERE id = $1"
    )))
    .bind(id.to_owned())
    .fetch_optional(&mut *conn)
    .await?
    .as_ref()
    .map(coupon_from_row)
    .transpose()
}

/// Twelve characters from an alphabet without look-alikes (no 0/O, 1/I), in three
/// groups: about 60 bits, so codes cannot be guessed in any number of tries a rate limit
/// allows.
fn new_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    let chars: Vec<char> = (0..12)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

fn audit_body(c: &Coupon) -> serde_json::Value {
    serde_json::to_value(c).unwrap_or_default()
}

impl Store {
    /// Creates a coupon (`replace` false: refused with `coupon_exists` when the id is
    /// taken) or replaces its definition; codes already issued keep their expiry.
    /// Returns whether it was created.
    pub async fn save_coupon(
        &self,
        coupon: &Coupon,
        replace: bool,
        actor: &AuditActor,
        now: Micros,
    ) -> Result<bool, MarketingError> {
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let before = coupon_in(conn, &coupon.id).await?;
        if before.is_some() && !replace {
            return Err(refused(
                ErrorCode::CouponExists,
                format!("a coupon {:?} exists; change it with PUT", coupon.id),
            ));
        }
        let definition =
            serde_json::to_string(coupon).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(
            "INSERT INTO coupons (id, definition, budget_count, budget_amount, issued, granted, created_at, updated_at, updated_by) \
             VALUES ($1, $2, $3, $4, 0, 0, $5, $5, $6) \
             ON CONFLICT (id) DO UPDATE SET definition = excluded.definition, budget_count = excluded.budget_count, \
             budget_amount = excluded.budget_amount, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        )
        .bind(coupon.id.clone())
        .bind(definition)
        .bind(coupon.budget_count)
        .bind(coupon.budget_amount.map(Money::minor))
        .bind(now)
        .bind(actor.reference.clone())
        .execute(&mut *conn)
        .await?;
        let change = AuditChange {
            kind: "coupon",
            action: if before.is_some() { "update" } else { "create" },
            target: format!("coupon:{}", coupon.id),
            reason: None,
            before: before.as_ref().map(|b| audit_body(&b.coupon)),
            after: Some(audit_body(coupon)),
        };
        audit::record(conn, now, actor, change).await?;
        tx.commit().await?;
        Ok(before.is_none())
    }

    pub async fn coupon(&self, id: &str) -> Result<Option<CouponRow>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        coupon_in(&mut conn, id).await
    }

    pub async fn coupons(&self) -> Result<Vec<CouponRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COUPON_COLUMNS} FROM coupons ORDER BY id"
        )))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(coupon_from_row).collect()
    }

    /// A member's codes (and those of members merged into them), newest first.
    pub async fn member_coupons(&self, member: MemberId) -> Result<Vec<CodeRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CODE_COLUMNS} FROM coupon_codes WHERE member_id = $1 \
             OR member_id IN (SELECT id FROM members WHERE merged_into = $1) \
             ORDER BY issued_at DESC, code LIMIT 500"
        )))
        .bind(member)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(code_from_row).collect()
    }

    /// A coupon's codes in `status` (issued | redeemed), by member, at most `limit`.
    pub async fn coupon_codes_of(
        &self,
        coupon_id: &str,
        status: &str,
        limit: i64,
    ) -> Result<Vec<CodeRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CODE_COLUMNS} FROM coupon_codes WHERE coupon_id = $1 AND status = $2 \
             ORDER BY member_id, issued_at LIMIT $3"
        )))
        .bind(coupon_id.to_owned())
        .bind(status.to_owned())
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(code_from_row).collect()
    }

    pub async fn coupon_code(&self, code: &str) -> Result<Option<CodeRow>, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CODE_COLUMNS} FROM coupon_codes WHERE code = $1"
        )))
        .bind(normalise_code(code))
        .fetch_optional(self.pool())
        .await?
        .as_ref()
        .map(code_from_row)
        .transpose()
    }

    /// Issues a code of `coupon_id` to a member, once per `key`: the same key again
    /// answers with the same code (`true`).
    pub async fn issue_coupon(
        &self,
        coupon_id: &str,
        member: MemberId,
        key: &str,
        source: &str,
        now: Micros,
    ) -> Result<(CodeRow, bool), MarketingError> {
        retrying(|| self.issue_coupon_once(coupon_id, member, key, source, false, now)).await
    }

    /// Issues a code `giver` sends to a friend (give-one-get-one): it counts against the
    /// giver's per-member limit and the coupon's budget, and is redeemed by whoever the
    /// friend turns out to be — anyone but the giver.
    pub async fn gift_coupon(
        &self,
        coupon_id: &str,
        giver: MemberId,
        key: &str,
        now: Micros,
    ) -> Result<(CodeRow, bool), MarketingError> {
        retrying(|| self.issue_coupon_once(coupon_id, giver, key, "gift", true, now)).await
    }

    async fn issue_coupon_once(
        &self,
        coupon_id: &str,
        member: MemberId,
        key: &str,
        source: &str,
        gift: bool,
        now: Micros,
    ) -> Result<(CodeRow, bool), MarketingError> {
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let survivor = lock_member(conn, self.backend(), member)
            .await?
            .ok_or_else(|| refused(ErrorCode::MemberNotFound, format!("no member {member}")))?;
        if let Some(row) = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CODE_COLUMNS} FROM coupon_codes WHERE issue_key = $1"
        )))
        .bind(key.to_owned())
        .fetch_optional(&mut *conn)
        .await?
        {
            let code = code_from_row(&row)?;
            let owner = code.gift_from.unwrap_or(code.member_id);
            if code.coupon_id != coupon_id || owner != survivor || code.gift_from.is_some() != gift
            {
                return Err(refused(
                    ErrorCode::IdempotencyKeyReused,
                    "the idempotency_key was used to issue another coupon or to another member",
                ));
            }
            return Ok((code, true));
        }
        let row = coupon_in(conn, coupon_id).await?.ok_or_else(|| {
            refused(
                ErrorCode::CouponNotFound,
                format!("no coupon {coupon_id:?}"),
            )
        })?;
        let coupon = row.coupon;
        if !coupon.issuable(now) {
            return Err(refused(
                ErrorCode::CouponUnavailable,
                "the coupon is switched off or outside its dates",
            ));
        }
        if let Some(limit) = coupon.per_member_limit {
            let held: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM coupon_codes WHERE COALESCE(gift_from, member_id) = $1 AND coupon_id = $2",
            )
            .bind(survivor)
            .bind(coupon_id.to_owned())
            .fetch_one(&mut *conn)
            .await?;
            if held >= i64::from(limit) {
                return Err(refused(
                    ErrorCode::LimitReached,
                    format!("a member may hold at most {limit} codes of this coupon"),
                ));
            }
        }
        let moved = sqlx::query(
            "UPDATE coupons SET issued = issued + 1 WHERE id = $1 \
             AND (budget_count IS NULL OR issued < budget_count)",
        )
        .bind(coupon_id.to_owned())
        .execute(&mut *conn)
        .await?;
        if moved.rows_affected() == 0 {
            return Err(refused(
                ErrorCode::CouponBudgetSpent,
                format!(
                    "every one of the coupon's {} codes is issued",
                    coupon.budget_count.unwrap_or_default()
                ),
            ));
        }
        let code = CodeRow {
            code: new_code(),
            coupon_id: coupon_id.to_owned(),
            member_id: survivor,
            source: source.to_owned(),
            issued_at: now,
            expires_at: coupon.expires_at(now),
            status: if gift { "gifted" } else { "issued" }.into(),
            order_id: None,
            discount: None,
            redeemed_at: None,
            gift_from: gift.then_some(survivor),
        };
        sqlx::query(
            "INSERT INTO coupon_codes (code, coupon_id, member_id, issue_key, source, issued_at, expires_at, \
             status, gift_from) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(code.code.clone())
        .bind(code.coupon_id.clone())
        .bind(survivor)
        .bind(key.to_owned())
        .bind(code.source.clone())
        .bind(now)
        .bind(code.expires_at)
        .bind(code.status.clone())
        .bind(code.gift_from)
        .execute(&mut *conn)
        .await?;
        tx.commit().await?;
        Ok((code, false))
    }

    /// Issues a code to each member of a segment (key `<key>:<member>`), until the budget
    /// runs out; a member refused (over their limit) is counted, not fatal.
    pub async fn issue_coupon_to_segment(
        &self,
        coupon_id: &str,
        segment: &str,
        key: &str,
        now: Micros,
    ) -> Result<Issued, MarketingError> {
        let members: Vec<MemberId> = sqlx::query_scalar(
            "SELECT member_id FROM segment_members WHERE segment_id = $1 ORDER BY member_id",
        )
        .bind(segment.to_owned())
        .fetch_all(self.pool())
        .await?;
        let mut out = Issued::default();
        for m in members {
            match self
                .issue_coupon(coupon_id, m, &format!("{key}:{m}"), "segment", now)
                .await
            {
                Ok((_, true)) => out.already += 1,
                Ok((_, false)) => out.issued += 1,
                Err(MarketingError::Refused {
                    code: ErrorCode::CouponBudgetSpent,
                    ..
                }) => {
                    out.budget_spent = true;
                    break;
                }
                Err(MarketingError::Refused { code, message })
                    if matches!(
                        code,
                        ErrorCode::CouponNotFound | ErrorCode::CouponUnavailable
                    ) =>
                {
                    return Err(MarketingError::Refused { code, message });
                }
                Err(MarketingError::Refused { code, .. }) => {
                    *out.refused.entry(code.as_str().to_owned()).or_default() += 1;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Redeems a code on an order, exactly once (see the module's header).
    /// Rewards a gifted code redeemed on the friend's first purchase: the coupon's
    /// `gift_points` to the giver and to the friend, each once (adjustments keyed by the
    /// code, so a retried redemption credits nothing more).
    pub async fn reward_gift(
        &self,
        code: &CodeRow,
        points: i64,
        policy: &PointsPolicy,
        now: Micros,
    ) -> Result<(), MarketingError> {
        let Some(giver) = code.gift_from else {
            return Ok(());
        };
        for (member, side) in [(giver, "giver"), (code.member_id, "friend")] {
            let req = AdjustRequest {
                member_id: member,
                points,
                reason: format!(
                    "gift coupon {} redeemed on a first purchase ({side})",
                    code.coupon_id
                ),
                programme: policy.default_programme().to_owned(),
                idempotency_key: format!("gift-reward:{}:{side}", code.code),
                actor: AuditActor {
                    reference: "gift".into(),
                    key_id: None,
                    name: "Flywheel's give-one-get-one (a gift redeemed)".into(),
                },
            };
            self.adjust_points(&req, policy, now).await?;
        }
        Ok(())
    }

    pub async fn redeem_coupon(
        &self,
        req: &Redeemed,
        now: Micros,
    ) -> Result<(CodeRow, bool), MarketingError> {
        retrying(|| self.redeem_coupon_once(req, now)).await
    }

    async fn redeem_coupon_once(
        &self,
        req: &Redeemed,
        now: Micros,
    ) -> Result<(CodeRow, bool), MarketingError> {
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let member = lock_member(conn, self.backend(), req.member_id)
            .await?
            .ok_or_else(|| {
                refused(
                    ErrorCode::MemberNotFound,
                    format!("no member {}", req.member_id),
                )
            })?;
        let code_text = normalise_code(&req.code);
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CODE_COLUMNS} FROM coupon_codes WHERE code = $1{}",
            row_lock(self.backend())
        )))
        .bind(code_text.clone())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| {
            refused(
                ErrorCode::CouponNotFound,
                "no coupon was issued with that code",
            )
        })?;
        let code = code_from_row(&row)?;
        // The member the code was issued to, as they are now (merges follow).
        let holder: MemberId =
            sqlx::query_scalar("SELECT COALESCE(merged_into, id) FROM members WHERE id = $1")
                .bind(code.member_id)
                .fetch_optional(&mut *conn)
                .await?
                .unwrap_or(code.member_id);
        if code.status == "redeemed" {
            if code.order_id.as_deref() == Some(req.order_id.as_str()) && holder == member {
                return Ok((code, true));
            }
            return Err(refused(
                ErrorCode::CouponUsed,
                "the code was redeemed on another order",
            ));
        }
        if code.status == "gifted" {
            // A gift is the friend's who redeems it — anyone but its giver.
            if holder == member {
                return Err(refused(
                    ErrorCode::SelfReferral,
                    "a gifted code is for a friend, not for the member who sent it",
                ));
            }
        } else if holder != member {
            return Err(refused(
                ErrorCode::CouponNotYours,
                "the code was issued to another member",
            ));
        }
        if now >= code.expires_at {
            return Err(refused(
                ErrorCode::CouponExpired,
                format!(
                    "the code expired at {}",
                    flywheel_core::time::to_rfc3339(code.expires_at)
                ),
            ));
        }
        let coupon = coupon_in(conn, &code.coupon_id)
            .await?
            .ok_or_else(|| refused(ErrorCode::CouponNotFound, "the code's coupon is gone"))?
            .coupon;
        let order = with_catalogue(conn, &req.order).await?;
        let discount = coupon
            .discount(&order)
            .map_err(|r| refused(r.code(), r.message()))?;
        let granted = sqlx::query(
            "UPDATE coupons SET granted = granted + $2 WHERE id = $1 \
             AND (budget_amount IS NULL OR granted + $2 <= budget_amount)",
        )
        .bind(code.coupon_id.clone())
        .bind(discount.minor())
        .execute(&mut *conn)
        .await?;
        if granted.rows_affected() == 0 {
            return Err(refused(
                ErrorCode::CouponBudgetSpent,
                "the coupon's budget cannot cover this discount",
            ));
        }
        let flipped = sqlx::query(
            "UPDATE coupon_codes SET status = 'redeemed', order_id = $2, order_amount = $3, \
             discount = $4, redeemed_at = $5, member_id = $6 WHERE code = $1 \
             AND status IN ('issued', 'gifted')",
        )
        .bind(code_text)
        .bind(req.order_id.clone())
        .bind(req.order.amount.minor())
        .bind(discount.minor())
        .bind(now)
        .bind(member)
        .execute(&mut *conn)
        .await?;
        if flipped.rows_affected() == 0 {
            return Err(refused(
                ErrorCode::CouponUsed,
                "the code was redeemed on another order",
            ));
        }
        tx.commit().await?;
        Ok((
            CodeRow {
                status: "redeemed".into(),
                order_id: Some(req.order_id.clone()),
                discount: Some(discount),
                redeemed_at: Some(now),
                member_id: member,
                ..code
            },
            false,
        ))
    }
}

/// The order with what its lines leave out — category, sub-brand, price — filled in
/// from the catalogue (a line with no price either way is refused by the coupon, when it
/// needs one).
async fn with_catalogue(conn: &mut AnyConnection, order: &Order) -> Result<Order, MarketingError> {
    let skus: Vec<String> = order.lines.iter().map(|l| l.sku.clone()).collect();
    let catalogue = if skus.is_empty() {
        Default::default()
    } else {
        products_in(conn, &skus).await?
    };
    let lines = order
        .lines
        .iter()
        .map(|l| {
            let p = catalogue.get(&l.sku);
            OrderLine {
                category: l
                    .category
                    .clone()
                    .or_else(|| p.and_then(|p| p.category.clone())),
                sub_brand: l
                    .sub_brand
                    .clone()
                    .or_else(|| p.and_then(|p| p.sub_brand.clone())),
                price: l.price.or_else(|| p.and_then(|p| p.price)),
                ..l.clone()
            }
        })
        .collect();
    Ok(Order {
        amount: order.amount,
        lines,
    })
}

/// Plans what the batch's purchases and refunds do to codes: a purchase naming codes
/// marks them used on its order (when they are the member's, unused and unexpired); a
/// refund of at least an order's amount gives back its codes still valid.
pub(crate) fn plan_event_coupons(
    w: &mut Writes,
    ws: &WorkingSet,
    events: &[Event],
    accepted: &[(usize, MemberId)],
) {
    for &(i, member) in accepted {
        let e = &events[i];
        match &e.payload {
            Payload::Purchase(p) => {
                for code in purchase_coupons(e) {
                    w.statement(
                        "UPDATE coupon_codes SET status = 'redeemed', order_id = $1, order_amount = $2, \
                         redeemed_at = $3 WHERE code = $4 AND status = 'issued' AND expires_at > $3 \
                         AND (member_id = $5 OR member_id IN (SELECT id FROM members WHERE merged_into = $5))",
                        vec![
                            p.order_id.as_str().into(),
                            Val::Int(p.amount.minor()),
                            Val::Int(e.occurred_at),
                            normalise_code(code).into(),
                            Val::Int(ws.survivor(member)),
                        ],
                    );
                }
            }
            Payload::Refund { order_id, amount } => {
                let args = vec![
                    order_id.as_str().into(),
                    Val::Int(e.occurred_at),
                    Val::Int(amount.minor()),
                ];
                w.statement(
                    "UPDATE coupons SET granted = granted - COALESCE((SELECT SUM(c.discount) \
                     FROM coupon_codes c WHERE c.coupon_id = coupons.id AND c.order_id = $1 \
                     AND c.status = 'redeemed' AND c.expires_at > $2 AND c.order_amount <= $3), 0) \
                     WHERE id IN (SELECT coupon_id FROM coupon_codes WHERE order_id = $1)",
                    args.clone(),
                );
                w.statement(
                    "UPDATE coupon_codes SET status = 'issued', order_id = NULL, order_amount = NULL, \
                     discount = NULL, redeemed_at = NULL WHERE order_id = $1 AND status = 'redeemed' \
                     AND expires_at > $2 AND order_amount <= $3",
                    args,
                );
            }
            _ => {}
        }
    }
}
