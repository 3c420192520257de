//! The cockpit: the pages people use — the overview with its charts, member search and
//! the member 360, the till lookup, identity conflicts, segments, points, tiers, journeys
//! and their messages, campaigns, service tickets, the community (activities, WeCom groups,
//! the co-creation board) — and the member's own card page. Served by the same
//! binary from templates and assets compiled in (askama; htmx and Chart.js vendored
//! under `assets/vendor/`), so it works offline.
//!
//! Every page reads through the same functions as the JSON API (`routes::*`), so a
//! figure on a page is the figure its endpoint answers. Pages are behind a session
//! ([`session`]); each renders through [`page::render`], which masks contact details
//! for the roles that must not see them, as the API's middleware does for JSON.
//!
//! Layout: `session.rs` sign-in, sign-out, the session cookie and CSRF; `page.rs` what
//! every page shares (the header, role-dependent actions, errors); `assets.rs` the
//! static files; `card_link.rs` the signed links to a member's card, `card_actions.rs` what
//! the member does from it; one module per page.

mod assets;
mod campaigns;
mod card_actions;
pub(crate) mod card_link;
mod card_page;
mod community;
mod conflicts;
mod journeys;
mod marketing;
mod members;
mod memberships;
mod overview;
mod owners;
mod page;
mod points;
mod segments;
mod service;
pub(crate) mod session;
mod till;
mod value;

use crate::state::AppState;
use axum::Router;
use axum::routing::{get, post};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(overview::page))
        .route("/login", get(session::login_form).post(session::login))
        .route("/logout", post(session::logout))
        .route("/members", get(members::search))
        .route("/members/{id}", get(members::member_360))
        .route("/members/{id}/tags", post(members::add_tag))
        .route("/members/{id}/points", post(members::adjust_points))
        .route("/members/{id}/merge", post(members::merge))
        .route("/till", get(till::page))
        .route("/till/{member}/coupons/{code}", post(till::redeem))
        .route("/conflicts", get(conflicts::page))
        .route("/conflicts/{id}/dismiss", post(conflicts::dismiss))
        .route("/segments", get(segments::page).post(segments::save))
        .route("/segments/preview", post(segments::preview))
        .route("/segments/{id}/export", get(segments::export))
        .route("/points", get(points::page))
        .route("/memberships", get(memberships::page))
        .route("/journeys", get(journeys::page))
        .route("/campaigns", get(campaigns::page))
        .route("/marketing", get(marketing::page))
        .route(
            "/marketing/referrals/{event_id}/review",
            post(marketing::review),
        )
        .route("/service", get(service::page))
        .route("/service/tickets/{id}/{step}", post(service::move_ticket))
        .route("/service/owners", get(owners::page))
        .route(
            "/service/owners/{staff}/contacts/{member}",
            post(owners::contact),
        )
        .route("/community", get(community::page))
        .route("/community/activities/{id}", get(community::activity))
        .route(
            "/community/activities/{id}/check-ins",
            post(community::check_in),
        )
        .route("/community/ideas", get(community::ideas_page))
        .route("/community/ideas/{id}/decision", post(community::decide))
        .route("/value", get(value::page))
        .route("/value/kpis", post(value::set_target))
        .route("/card/{token}", get(card_page::page))
        .route(
            "/card/{token}/activities/{id}/rsvp",
            post(card_actions::rsvp),
        )
        .route(
            "/card/{token}/activities/{id}/check-in",
            post(card_actions::check_in),
        )
        .route("/card/{token}/ideas", post(card_actions::send_idea))
        .route("/assets/{name}", get(assets::serve))
}
