//! The one error table: every error the API returns has a stable snake_case code, and
//! the code alone decides the HTTP status. Bodies are
//! `{"error": {"code", "message", "field", "details"?}}`. Server-side failures are
//! logged in full and answered with a bare `internal`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use flywheel_core::validation::FieldError;
use serde_json::{Value, json};

#[derive(Debug)]
pub struct ApiError {
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    pub details: Option<Value>,
}

/// HTTP status for each code. A code not listed here is a bug, answered as 500.
pub fn status_of(code: &str) -> StatusCode {
    match code {
        "malformed_json" | "invalid_member_id" | "invalid_cursor" | "invalid_query" => {
            StatusCode::BAD_REQUEST
        }
        "unauthorized" => StatusCode::UNAUTHORIZED,
        "forbidden" => StatusCode::FORBIDDEN,
        "not_found"
        | "member_not_found"
        | "conflict_not_found"
        | "reward_not_found"
        | "partner_not_found"
        | "redemption_not_found" => StatusCode::NOT_FOUND,
        "order_exists"
        | "already_merged"
        | "conflict_closed"
        | "insufficient_points"
        | "out_of_stock"
        | "reward_unavailable"
        | "limit_reached"
        | "idempotency_key_reused"
        | "reward_exists"
        | "partner_exists" => StatusCode::CONFLICT,
        "payload_too_large" => StatusCode::PAYLOAD_TOO_LARGE,
        "missing_field"
        | "invalid_type"
        | "invalid_value"
        | "invalid_timestamp"
        | "occurred_at_in_future"
        | "unknown_channel"
        | "unknown_identity_kind"
        | "invalid_identity"
        | "invalid_amount"
        | "negative_amount"
        | "unsupported_currency"
        | "out_of_range"
        | "unknown_field"
        | "too_long"
        | "too_many_events"
        | "invalid_events"
        | "unknown_programme"
        | "duplicate"
        | "inexact_exchange" => StatusCode::UNPROCESSABLE_ENTITY,
        "unavailable" => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl ApiError {
    pub fn new(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            field: None,
            details: None,
        }
    }

    pub fn field(mut self, field: impl Into<String>) -> ApiError {
        self.field = Some(field.into());
        self
    }

    pub fn details(mut self, details: Value) -> ApiError {
        self.details = Some(details);
        self
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(code, message)
    }

    pub fn internal(error: impl std::fmt::Display) -> ApiError {
        tracing::error!(%error, "internal error");
        ApiError::new(
            "internal",
            "something went wrong on our side; it has been logged",
        )
    }

    /// One invalid event: the first problem up front, all of them in `details`.
    pub fn invalid_event(errors: Vec<FieldError>) -> ApiError {
        let first = errors
            .first()
            .cloned()
            .unwrap_or_else(|| FieldError::new("event", "invalid_value", "invalid event"));
        let details: Vec<Value> = errors
            .iter()
            .map(|e| json!({"field": e.field, "code": e.code, "message": e.message}))
            .collect();
        ApiError::new(first.code, first.message)
            .field(first.field)
            .details(Value::Array(details))
    }
}

impl From<flywheel_store::StoreError> for ApiError {
    fn from(e: flywheel_store::StoreError) -> ApiError {
        ApiError::internal(e)
    }
}

impl From<flywheel_store::PointsError> for ApiError {
    fn from(e: flywheel_store::PointsError) -> ApiError {
        use flywheel_store::PointsError as P;
        let message = e.to_string();
        match e {
            P::NotFound(what) => {
                let code = match what {
                    "member" => "member_not_found",
                    "reward" => "reward_not_found",
                    "partner" => "partner_not_found",
                    "redemption" => "redemption_not_found",
                    _ => "not_found",
                };
                ApiError::new(code, message)
            }
            P::InsufficientPoints {
                available,
                requested,
            } => ApiError::new("insufficient_points", message)
                .details(json!({"available": available, "requested": requested})),
            P::OutOfStock => ApiError::new("out_of_stock", message).field("reward_id"),
            P::RewardUnavailable(_) => {
                ApiError::new("reward_unavailable", message).field("reward_id")
            }
            P::LimitReached(_) => ApiError::new("limit_reached", message).field("points"),
            P::InexactExchange { step } => ApiError::new("inexact_exchange", message)
                .field("points")
                .details(json!({"step": step})),
            P::IdempotencyConflict => {
                ApiError::new("idempotency_key_reused", message).field("idempotency_key")
            }
            P::Invalid(_) => ApiError::new("invalid_value", message),
            P::Store(e) => ApiError::internal(e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = status_of(self.code);
        let mut error = json!({"code": self.code, "message": self.message, "field": self.field});
        if let Some(d) = self.details {
            error["details"] = d;
        }
        let mut response = (status, Json(json!({ "error": error }))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_the_api_emits_has_a_deliberate_status() {
        let codes = [
            "malformed_json",
            "invalid_member_id",
            "invalid_cursor",
            "invalid_query",
            "unauthorized",
            "forbidden",
            "not_found",
            "member_not_found",
            "conflict_not_found",
            "order_exists",
            "already_merged",
            "conflict_closed",
            "payload_too_large",
            "missing_field",
            "invalid_type",
            "invalid_value",
            "invalid_timestamp",
            "occurred_at_in_future",
            "unknown_channel",
            "unknown_identity_kind",
            "invalid_identity",
            "invalid_amount",
            "negative_amount",
            "unsupported_currency",
            "out_of_range",
            "unknown_field",
            "too_long",
            "too_many_events",
            "invalid_events",
            "unavailable",
            "reward_not_found",
            "partner_not_found",
            "redemption_not_found",
            "insufficient_points",
            "out_of_stock",
            "reward_unavailable",
            "limit_reached",
            "idempotency_key_reused",
            "reward_exists",
            "partner_exists",
            "unknown_programme",
            "duplicate",
            "inexact_exchange",
        ];
        for code in codes {
            assert_ne!(status_of(code), StatusCode::INTERNAL_SERVER_ERROR, "{code}");
        }
        assert_eq!(status_of("internal"), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
