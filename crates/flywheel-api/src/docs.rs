//! The OpenAPI document (`/openapi.json`) and browsable docs (`/docs`), served from assets
//! compiled into the binary, so they work with no internet.

use crate::routes::{events, health, identity, members, stats};
use crate::state::AppState;
use crate::views;
use axum::Router;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

#[derive(OpenApi)]
#[openapi(
    info(title = "Flywheel", description = "Super-user relationship engine: ingest, identity resolution, relationship stages."),
    paths(
        health::health,
        events::post_event, events::post_batch,
        members::member, members::lookup, members::timeline, members::stages,
        identity::conflicts, identity::dismiss, identity::merge,
        stats::stages,
    ),
    components(schemas(
        views::EventAnswer, views::BatchAnswer, views::MemberDoc, views::IdentityView, views::Timeline,
        views::TimelineEvent, views::StageHistory, views::TransitionView, views::ConflictList, views::ConflictView,
        views::StageStats, views::Health,
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
