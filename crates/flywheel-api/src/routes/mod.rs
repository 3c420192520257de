//! One module per resource, each with its own `router()`.

pub mod activities;
pub mod audit;
pub mod benefits;
pub mod campaigns;
pub mod card;
pub mod care;
pub mod consent;
pub mod content;
pub mod coupons;
pub mod events;
pub mod finance;
pub mod fission;
pub mod flash_sales;
pub mod groups;
pub mod health;
pub mod ideas;
pub mod identity;
pub mod journeys;
pub mod kpis;
pub mod leaderboards;
pub mod lotteries;
pub mod members;
pub mod membership_report;
pub mod memberships;
pub mod owners;
pub mod partner_codes;
pub mod points;
pub mod privacy;
pub mod products;
pub mod programmes;
pub mod protocol;
pub mod queues;
pub mod referrals;
pub mod rewards;
pub mod scores;
pub mod segments;
pub mod service_report;
pub mod service_teams;
pub mod share_links;
pub mod stats;
pub mod suppressions;
pub mod tags;
pub mod tasks;
pub mod tickets;
pub mod tracking;
pub mod wechat;

use crate::error::ApiError;
use flywheel_core::ErrorCode;

/// The id a create (POST) names in its body, which it must.
pub(crate) fn required_id(body_id: Option<&String>) -> Result<String, ApiError> {
    body_id
        .cloned()
        .ok_or_else(|| ApiError::new(ErrorCode::MissingField, "id is required").field("id"))
}

/// On PUT the id is the path's: a body may repeat it but not name another.
pub(crate) fn same_id(path_id: &str, body_id: Option<&String>) -> Result<(), ApiError> {
    if body_id.is_some_and(|b| b != path_id) {
        return Err(ApiError::new(
            ErrorCode::InvalidValue,
            "the id is the path's; leave it out of the body or send the same",
        )
        .field("id"));
    }
    Ok(())
}

/// Parses a member id from a path segment.
/// Checks an id people choose (content, journeys, campaigns): 1-40 lower-case letters,
/// digits, '_' or '-'; `what` names it in the error ("a journey id").
pub(crate) fn check_slug(id: &str, what: &str) -> Result<(), ApiError> {
    let ok = !id.is_empty()
        && id.len() <= 40
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::InvalidValue,
            format!("{what} is 1-40 lower-case letters, digits, '_' or '-'"),
        )
        .field("id"))
    }
}

/// One identity of a member, to write an event into their history; None for a member
/// unknown or erased (no identity left).
pub(crate) async fn an_identity(
    state: &crate::state::AppState,
    member: i64,
) -> Result<Option<flywheel_core::identity::Identity>, ApiError> {
    let member = state.store.member(member).await?;
    Ok(member.and_then(|m| m.identities.iter().next().cloned()))
}

pub(crate) fn member_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidMemberId,
            format!("{raw:?} is not a member id"),
        )
        .field("id")
    })
}
