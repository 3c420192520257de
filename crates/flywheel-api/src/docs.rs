//! The OpenAPI document (`/openapi.json`) and browsable docs (`/docs`), served from assets
//! compiled into the binary, so they work with no internet.

use crate::metrics;
use crate::points_views;
use crate::routes::{
    audit, events, finance, health, identity, members, points, privacy, rewards, scores, stats,
};
use crate::state::AppState;
use crate::views;
use axum::Router;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

#[derive(OpenApi)]
#[openapi(
    info(title = "Flywheel", description = "Super-user relationship engine: ingest, identity resolution, relationship stages, points, scores."),
    paths(
        health::health,
        events::post_event, events::post_batch,
        members::member, members::lookup, members::timeline, members::stages,
        identity::conflicts, identity::dismiss, identity::merge,
        stats::stages,
        points::get_rules, points::put_rules, points::simulate, points::member_points, points::member_ledger,
        points::transfer, points::adjust, points::sweep, finance::report, finance::trial_balance, finance::settlement,
        rewards::list_rewards, rewards::create_reward, rewards::get_reward, rewards::put_reward,
        rewards::redeem, rewards::get_redemption, rewards::cancel,
        rewards::list_partners, rewards::create_partner, rewards::exchange,
        scores::member_scores, scores::super_users, scores::recompute, scores::export,
        audit::audit, privacy::export, privacy::erase, metrics::render,
    ),
    components(schemas(
        views::EventAnswer, views::BatchAnswer, views::MemberDoc, views::IdentityView, views::Timeline,
        views::TimelineEvent, views::StageHistory, views::TransitionView, views::ConflictList, views::ConflictView,
        views::StageStats, views::Health, views::EventInput, views::BatchInput, views::ErrorBody,
        views::ErrorDetail, views::AuditPage, views::AuditEntryView, views::AuditActorView,
        views::MemberExportView, views::PointsExportView, views::ErasureView, views::ReasonInput,
        points_views::PointsView, points_views::LotView, points_views::ExpiryView, points_views::LedgerView,
        points_views::LedgerEntryView, points_views::SourceView, points_views::RewardView, points_views::RedemptionView,
        points_views::TransferView, points_views::PartnerView, points_views::ExchangeView, points_views::AdjustmentView,
    )),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

pub fn router() -> Router<AppState> {
    Router::from(SwaggerUi::new("/docs").url("/openapi.json", ApiDoc::openapi()))
}
