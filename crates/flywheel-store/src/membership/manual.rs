//! Setting or ending a member's tier by hand (an operator's decision, with a reason):
//! recorded as a tier change with the rule `manual` and in the audit log.

use super::cards::ensure_card;
use super::programmes::latest;
use super::purchases::{TierChange, membership_of, remove_membership, save_membership};
use crate::Store;
use crate::audit::{self, AuditActor, AuditChange};
use crate::points::commands::lock_member;
use crate::points::{PointsError, retrying};
use flywheel_core::membership::{Membership, ProgrammeKind, Source, term_end};
use flywheel_core::time::{Micros, to_rfc3339};
use flywheel_core::validation::FieldError;
use flywheel_core::{ErrorCode, MemberId};
use serde_json::{Value, json};
use sqlx::AnyConnection;

/// A change by hand: the tier to hold (None: end the membership), until when (paid
/// tiers and cards; default: the current term's end, or a new term from now), and why.
#[derive(Clone, Debug)]
pub struct ManualTier {
    pub member_id: MemberId,
    pub programme: String,
    pub tier: Option<String>,
    pub expires_at: Option<Micros>,
    pub reason: String,
    pub actor: AuditActor,
}

fn state_json(m: &Membership) -> Value {
    json!({"tier": m.tier, "since": to_rfc3339(m.since),
           "expires_at": m.expires_at.map(to_rfc3339), "source": m.source.as_str()})
}

fn refuse(field: &str, message: String) -> PointsError {
    PointsError::Field(FieldError::new(field, ErrorCode::InvalidValue, message))
}

impl Store {
    /// Sets or ends a member's tier by hand. Setting what the member already holds, as it
    /// is, changes nothing.
    pub async fn set_tier_by_hand(&self, req: &ManualTier, now: Micros) -> Result<(), PointsError> {
        retrying(|| self.set_tier_once(req, now)).await
    }

    async fn set_tier_once(&self, req: &ManualTier, now: Micros) -> Result<(), PointsError> {
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let member = lock_member(conn, self.backend(), req.member_id)
            .await?
            .ok_or(PointsError::NotFound("member"))?;
        let programme = latest(conn, &req.programme)
            .await?
            .ok_or(PointsError::NotFound("programme"))?
            .definition;
        let current = membership_of(conn, member, &req.programme)
            .await?
            .filter(|m| m.active_at(&programme, now));
        let next = match &req.tier {
            None => None,
            Some(tier) => {
                if programme.tier(tier).is_none() {
                    return Err(refuse(
                        "tier",
                        format!("programme {:?} has no tier {tier:?}", req.programme),
                    ));
                }
                let expires_at = match (programme.kind, req.expires_at) {
                    (ProgrammeKind::Earned, Some(_)) => {
                        return Err(refuse(
                            "expires_at",
                            "an earned tier is held while qualified; it has no end date".into(),
                        ));
                    }
                    (ProgrammeKind::Earned, None) => None,
                    (_, Some(at)) if at <= now => {
                        return Err(refuse("expires_at", "must be in the future".into()));
                    }
                    (_, Some(at)) => Some(at),
                    (_, None) => current
                        .as_ref()
                        .and_then(|m| m.expires_at)
                        .filter(|end| *end > now)
                        .or_else(|| term_end(&programme, now)),
                };
                let same_tier = current.as_ref().filter(|m| &m.tier == tier);
                Some(Membership {
                    member_id: member,
                    programme: req.programme.clone(),
                    tier: tier.clone(),
                    since: same_tier.map_or(now, |m| m.since),
                    term_start: same_tier.map_or(now, |m| m.term_start),
                    expires_at,
                    source: Source::Manual,
                })
            }
        };
        let unchanged = match (&current, &next) {
            (None, None) => true,
            (Some(a), Some(b)) => a.tier == b.tier && a.expires_at == b.expires_at,
            _ => false,
        };
        if unchanged {
            return Ok(());
        }
        match &next {
            Some(m) => {
                save_membership(conn, m).await?;
                ensure_card(conn, member, now).await?;
            }
            None => remove_membership(conn, member, &req.programme).await?,
        }
        self.record_tier_change(
            conn,
            TierChange {
                member,
                programme: &req.programme,
                from: current.as_ref().map(|m| m.tier.as_str()),
                to: next.as_ref().map(|m| m.tier.as_str()),
                at: now,
                rule: "manual",
                reason: req.reason.clone(),
                actor: &req.actor.reference,
                reference: None,
            },
        )
        .await?;
        let change = AuditChange {
            kind: "membership",
            action: if next.is_some() { "update" } else { "remove" },
            target: format!("member:{member}/programme:{}", req.programme),
            reason: Some(req.reason.clone()),
            before: current.as_ref().map(state_json),
            after: next.as_ref().map(state_json),
        };
        audit::record(conn, now, &req.actor, change).await?;
        self.refresh_segments_in(conn, &[member], "tier", now)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
