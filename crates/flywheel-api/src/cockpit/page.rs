//! What every page shares: the header (who is signed in, the navigation, the CSRF token
//! its forms carry), which actions the role may see, rendering with masking, and error
//! pages.

use super::session::Viewer;
use crate::error::ApiError;
use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use flywheel_core::ErrorCode;
use flywheel_core::auth::Permission;
use flywheel_core::privacy::mask_text;

/// The header of a signed-in page.
pub(crate) struct Chrome {
    pub who: String,
    pub role: &'static str,
    pub csrf: String,
    /// The navigation entry to highlight.
    pub active: &'static str,
    pub can: Can,
}

/// What the signed-in role may see and do; a page shows no button the role may not use.
#[derive(Clone, Copy)]
pub(crate) struct Can {
    pub stats: bool,
    pub conflicts: bool,
    pub tag: bool,
    pub adjust_points: bool,
    pub merge: bool,
    pub manage_segments: bool,
    pub set_targets: bool,
    pub handle_tickets: bool,
    /// Redeem coupons (and points) for members.
    pub redeem: bool,
    /// Release or refuse referrals held as farmed.
    pub review_referrals: bool,
    /// Move ideas along the co-creation board.
    pub decide_ideas: bool,
}

impl Chrome {
    pub fn of(viewer: &Viewer, active: &'static str) -> Chrome {
        let role = viewer.caller.role;
        Chrome {
            who: viewer.caller.name.clone(),
            role: role.as_str(),
            csrf: viewer.csrf.clone(),
            active,
            can: Can {
                stats: role.allows(Permission::ReadStats),
                conflicts: role.allows(Permission::ReadConflicts),
                tag: role.allows(Permission::TagMembers),
                adjust_points: role.allows(Permission::AdjustPoints),
                merge: role.allows(Permission::ManageIdentities),
                manage_segments: role.allows(Permission::ManageSegments),
                set_targets: role.allows(Permission::SetTargets),
                handle_tickets: role.allows(Permission::HandleTickets),
                redeem: role.allows(Permission::SpendPoints),
                review_referrals: role.allows(Permission::ManageMarketing),
                decide_ideas: role.allows(Permission::ManageService),
            },
        }
    }
}

/// Renders a page for `viewer`, masking phones and e-mails for roles that must not see
/// them: the whole page's text, as the API masks whole answers, so no template can
/// forget a field.
pub(crate) fn render(viewer: &Viewer, template: &impl Template) -> Response {
    let html = match template.render() {
        Ok(html) => html,
        Err(e) => return PageError::from(ApiError::internal(e)).into_response(),
    };
    let html = if viewer.caller.role.sees_personal_data() {
        html
    } else {
        mask_text(&html).into_owned()
    };
    html_response(StatusCode::OK, html)
}

/// An HTML answer that no other site may frame, and that is not stored by caches.
pub(crate) fn html_response(status: StatusCode, html: String) -> Response {
    let mut response = (status, html).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'",
        ),
    );
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    response
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    code: &'a str,
    message: &'a str,
}

/// A page that could not be shown: the API's error code and message, as HTML.
#[derive(Debug)]
pub(crate) struct PageError(pub ApiError);

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> PageError {
        PageError(e)
    }
}

impl From<flywheel_store::StoreError> for PageError {
    fn from(e: flywheel_store::StoreError) -> PageError {
        PageError(e.into())
    }
}

impl From<FormRejection> for PageError {
    fn from(e: FormRejection) -> PageError {
        PageError(ApiError::new(ErrorCode::InvalidValue, e.body_text()))
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = crate::error::status_of(self.0.code);
        let page = ErrorPage {
            status: status.as_u16(),
            code: self.0.code.as_str(),
            message: &self.0.message,
        };
        // The error's message may repeat what was typed (a phone): mask it for all.
        let html = page
            .render()
            .map(|h| mask_text(&h).into_owned())
            .unwrap_or_else(|_| format!("{} {}", status.as_u16(), self.0.code.as_str()));
        html_response(status, html)
    }
}

/// The error for a form whose CSRF token is missing or not the session's.
pub(crate) fn check_csrf(viewer: &Viewer, sent: &str) -> Result<(), PageError> {
    if super::session::same_secret(sent, &viewer.csrf) {
        Ok(())
    } else {
        Err(PageError(ApiError::new(
            ErrorCode::CsrfMismatch,
            "this form is out of date or was not sent from this cockpit (CSRF token mismatch); reload the page and try again",
        ).field("csrf")))
    }
}

/// An RFC 3339 instant as people read it: `2025-01-29 08:21 UTC`; anything else as is.
pub(crate) fn when(rfc3339: &str) -> String {
    match flywheel_core::time::parse_rfc3339(rfc3339) {
        Some(t) => flywheel_core::time::to_datetime(t)
            .format("%Y-%m-%d %H:%M UTC")
            .to_string(),
        None => rfc3339.to_owned(),
    }
}

/// A chart `cockpit.js` draws from a canvas's `data-chart`: a type, labels and named
/// series of numbers.
pub(crate) struct Chart {
    kind: &'static str,
    labels: Vec<String>,
    series: Vec<serde_json::Value>,
    horizontal: bool,
}

impl Chart {
    pub fn bar(labels: impl IntoIterator<Item = impl ToString>) -> Chart {
        Chart::of("bar", labels)
    }

    pub fn line(labels: impl IntoIterator<Item = impl ToString>) -> Chart {
        Chart::of("line", labels)
    }

    fn of(kind: &'static str, labels: impl IntoIterator<Item = impl ToString>) -> Chart {
        Chart {
            kind,
            labels: labels.into_iter().map(|l| l.to_string()).collect(),
            series: Vec::new(),
            horizontal: false,
        }
    }

    /// Adds a series, one number per label.
    pub fn series(
        mut self,
        label: &str,
        data: impl IntoIterator<Item = impl serde::Serialize>,
    ) -> Chart {
        let data: Vec<serde_json::Value> = data
            .into_iter()
            .map(|n| serde_json::to_value(n).unwrap_or_default())
            .collect();
        self.series
            .push(serde_json::json!({"label": label, "data": data}));
        self
    }

    /// Bars run across, one row per label (the funnel).
    pub fn horizontal(mut self) -> Chart {
        self.horizontal = true;
        self
    }

    /// The `data-chart` attribute's value.
    pub fn json(&self) -> String {
        serde_json::json!({
            "type": self.kind,
            "labels": self.labels,
            "series": self.series,
            "horizontal": self.horizontal,
        })
        .to_string()
    }
}
