//! The member card (电子身份证, seed 003): one answer with who the member is to the
//! brand — card number, nickname, masked phone, tiers with the way up and what keeps
//! them, benefits, points and what expires next. A till or an app shows it as it is.

use super::member_id;
use super::memberships::{held_now, standing};
use crate::auth::{Allowed, need};
use crate::benefit_views::HeldBenefitView;
use crate::error::ApiError;
use crate::membership_views::{CardLinkView, CardPointsView, CardTierView, CardView};
use crate::params::Params;
use crate::points_views::ExpiryView;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::http::header::HOST;
use axum::routing::get;
use axum::{Json, Router};
use flywheel_core::ErrorCode;
use flywheel_core::identity::IdentityKind;
use flywheel_core::ingest::{MemberId, MemberState};
use flywheel_core::privacy::mask_text;
use flywheel_core::time::{days, to_rfc3339};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/members/{id}/card", get(member_card))
        .route("/v1/members/{id}/card-link", get(card_link))
}

/// A signed link to the member's card page, for the member's phone
///
/// The page shows that member's card and nothing more, without signing in, until the
/// link expires. The address is `server.public_url` when configured, else the host this
/// request came to.
#[utoipa::path(get, path = "/v1/members/{id}/card-link", tag = "memberships",
    params(("id" = i64, Path, description = "Member id"),
           ("valid_days" = Option<u32>, Query, description = "1–365, default 30")),
    responses((status = 200, body = CardLinkView), (status = 404, description = "member_not_found"),
              (status = 400, description = "invalid_member_id or invalid_query")),
    security(("bearer" = [])))]
pub async fn card_link(
    _caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    Params(params): Params,
) -> Result<Json<CardLinkView>, ApiError> {
    let id = member_id(&raw)?;
    let mut valid_days = 30;
    for (k, v) in params {
        match k.as_str() {
            "valid_days" => {
                valid_days = v
                    .parse()
                    .ok()
                    .filter(|d| (1..=365).contains(d))
                    .ok_or_else(|| {
                        ApiError::new(
                            ErrorCode::InvalidQuery,
                            "valid_days must be a whole number from 1 to 365",
                        )
                        .field("valid_days")
                    })?;
            }
            other => return Err(crate::params::unknown(other)),
        }
    }
    let member = super::members::load(&state, id).await?;
    let expires_at = state.now() + days(valid_days);
    let token = crate::cockpit::card_link::sign(&state, member.id, expires_at).await?;
    let base = public_base(&state, &headers);
    Ok(Json(CardLinkView {
        url: format!("{base}/card/{token}"),
        expires_at: to_rfc3339(expires_at),
    }))
}

/// Where members reach this server: `server.public_url` when configured, else the host
/// the request came to.
pub(crate) fn public_base(state: &AppState, headers: &HeaderMap) -> String {
    match &state.public_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => {
            let host = headers
                .get(HOST)
                .and_then(|h| h.to_str().ok())
                .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
                .unwrap_or("localhost");
            format!("http://{host}")
        }
    }
}

/// The member card: tiers, progress, benefits and points in one answer
///
/// The phone number is masked whatever the caller's role: the card is what is shown to
/// the member across a counter. Tiers are those held now (within term or grace).
#[utoipa::path(get, path = "/v1/members/{id}/card", tag = "memberships",
    params(("id" = i64, Path, description = "Member id")),
    responses((status = 200, body = CardView), (status = 404, description = "member_not_found"),
              (status = 400, description = "invalid_member_id")),
    security(("bearer" = [])))]
pub async fn member_card(
    caller: Allowed<need::ReadMembers>,
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<CardView>, ApiError> {
    let id = member_id(&raw)?;
    Ok(Json(card(&state, id, caller.hands_out_codes()).await?))
}

/// Member `id`'s card as the route answers it; the card page shows the same.
/// `whole_codes`: partners' codes shown whole rather than by their last four.
pub(crate) async fn card(
    state: &AppState,
    id: MemberId,
    whole_codes: bool,
) -> Result<CardView, ApiError> {
    let member =
        state.store.member(id).await?.ok_or_else(|| {
            ApiError::not_found(ErrorCode::MemberNotFound, format!("no member {id}"))
        })?;
    let now = state.now();
    let names = state.store.programmes().await?;
    let mut tiers = Vec::new();
    for (programme, m) in held_now(state, member.id, now).await? {
        let (progress, keep) = standing(state, &programme, &m, now).await?;
        let tier_name = programme
            .tier(&m.tier)
            .map_or_else(|| m.tier.clone(), |t| t.name.clone());
        tiers.push(CardTierView {
            programme_name: names
                .iter()
                .find(|p| p.id == m.programme)
                .map_or_else(|| m.programme.clone(), |p| p.definition.name.clone()),
            kind: programme.kind.as_str().into(),
            status: if m.in_grace(&programme, now) {
                "grace"
            } else {
                "active"
            }
            .into(),
            expires_at: m.expires_at.map(to_rfc3339),
            progress: progress.map(|p| p.sentence()),
            retention: keep.sentence,
            programme: m.programme,
            tier: m.tier,
            tier_name,
        });
    }
    let benefits = state
        .store
        .member_benefits(member.id, now)
        .await?
        .into_iter()
        .map(|h| HeldBenefitView::new(h, whole_codes))
        .collect();
    let points_programme = state.policy.points.default_programme().to_owned();
    let (_, summary) = state
        .store
        .member_points(member.id, &points_programme, now)
        .await?
        .ok_or_else(|| ApiError::not_found(ErrorCode::MemberNotFound, format!("no member {id}")))?;
    Ok(CardView {
        member_id: member.id,
        card_no: state.store.card_of(member.id).await?,
        nickname: nickname(&member),
        phone: phone(&member),
        tiers,
        benefits,
        honours: super::leaderboards::honours_of(state, member.id).await?,
        tasks: super::tasks::tasks_of(state, &member).await?.tasks,
        points: CardPointsView {
            programme: points_programme,
            balance: summary.balance,
            pending: summary.pending,
            next_expiry: summary.next_expiry.map(|(points, at)| ExpiryView {
                points,
                expires_at: to_rfc3339(at),
            }),
        },
    })
}

/// The nickname set most recently on any channel, else the name.
fn nickname(member: &MemberState) -> Option<String> {
    let profile = &member.profile;
    profile
        .nicknames
        .iter()
        .max_by_key(|(channel, _)| profile.updated_at.get(&format!("nickname.{channel}")))
        .map(|(_, nick)| nick.clone())
        .or_else(|| profile.name.clone())
}

/// The member's phone, masked ("+86137****0001"); the first by key when there are several.
fn phone(member: &MemberState) -> Option<String> {
    member
        .identities
        .iter()
        .find(|i| i.kind == IdentityKind::Phone)
        .map(|i| mask_text(&i.value).into_owned())
}
