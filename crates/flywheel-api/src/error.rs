//! The one error table: every error the API returns has a stable snake_case code, and
//! the code alone decides the HTTP status. Bodies are
//! `{"error": {"code", "message", "field", "details"?}}`. Server-side failures are
//! logged in full and answered with a bare `internal`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use flywheel_core::ErrorCode;
use flywheel_core::validation::FieldError;
use serde_json::{Value, json};

#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub field: Option<String>,
    pub details: Option<Value>,
    /// Seconds to wait before retrying (`Retry-After`), for 429.
    pub retry_after: Option<u64>,
    /// Further members of the error object (`line` and `column` of an expression);
    /// boxed, so every `Result<_, ApiError>` stays small.
    pub extra: Option<Box<serde_json::Map<String, Value>>>,
}

/// The HTTP status of a code.
pub fn status_of(code: ErrorCode) -> StatusCode {
    StatusCode::from_u16(code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            field: None,
            details: None,
            retry_after: None,
            extra: None,
        }
    }

    /// Adds a member to the error object.
    pub fn with(mut self, key: &'static str, value: impl Into<Value>) -> ApiError {
        self.extra
            .get_or_insert_with(Default::default)
            .insert(key.to_owned(), value.into());
        self
    }

    pub fn field(mut self, field: impl Into<String>) -> ApiError {
        self.field = Some(field.into());
        self
    }

    pub fn details(mut self, details: Value) -> ApiError {
        self.details = Some(details);
        self
    }

    pub fn retry_after(mut self, seconds: u64) -> ApiError {
        self.retry_after = Some(seconds);
        self
    }

    pub fn not_found(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError::new(code, message)
    }

    pub fn internal(error: impl std::fmt::Display) -> ApiError {
        tracing::error!(%error, "internal error");
        ApiError::new(
            ErrorCode::Internal,
            "something went wrong on our side; it has been logged",
        )
    }

    /// One invalid event: the first problem up front, all of them in `details`.
    pub fn invalid_event(errors: Vec<FieldError>) -> ApiError {
        let first = errors
            .first()
            .cloned()
            .unwrap_or_else(|| FieldError::new("event", ErrorCode::InvalidValue, "invalid event"));
        let details: Vec<Value> = errors
            .iter()
            .map(|e| json!({"field": e.field, "code": e.code, "message": e.message}))
            .collect();
        ApiError::new(first.code, first.message)
            .field(first.field)
            .details(Value::Array(details))
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> ApiError {
        ApiError::new(e.code, e.message).field(e.field)
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
                    "member" => ErrorCode::MemberNotFound,
                    "reward" => ErrorCode::RewardNotFound,
                    "partner" => ErrorCode::PartnerNotFound,
                    "redemption" => ErrorCode::RedemptionNotFound,
                    "programme" => ErrorCode::ProgrammeNotFound,
                    "benefit" => ErrorCode::BenefitNotFound,
                    "idea" => ErrorCode::IdeaNotFound,
                    "activity" | "rsvp" => ErrorCode::ActivityNotFound,
                    _ => ErrorCode::NotFound,
                };
                ApiError::new(code, message)
            }
            P::InsufficientPoints {
                available,
                requested,
            } => ApiError::new(ErrorCode::InsufficientPoints, message)
                .details(json!({"available": available, "requested": requested})),
            P::OutOfStock => ApiError::new(ErrorCode::OutOfStock, message).field("reward_id"),
            P::RewardUnavailable(_) => {
                ApiError::new(ErrorCode::RewardUnavailable, message).field("reward_id")
            }
            P::LimitReached(_) => ApiError::new(ErrorCode::LimitReached, message).field("points"),
            P::InexactExchange { step } => ApiError::new(ErrorCode::InexactExchange, message)
                .field("points")
                .details(json!({"step": step})),
            P::IdempotencyConflict => {
                ApiError::new(ErrorCode::IdempotencyKeyReused, message).field("idempotency_key")
            }
            P::Erased(_) => ApiError::new(ErrorCode::MemberErased, message),
            P::OutOfRange { field, .. } => {
                ApiError::new(ErrorCode::OutOfRange, message).field(field)
            }
            P::Invalid(_) => ApiError::new(ErrorCode::InvalidValue, message),
            P::Field(f) => ApiError::new(f.code, f.message).field(f.field),
            P::Store(e) => ApiError::internal(e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = status_of(self.code);
        let mut error =
            json!({"code": self.code.as_str(), "message": self.message, "field": self.field});
        if let Some(d) = self.details {
            error["details"] = d;
        }
        for (k, v) in self.extra.into_iter().flat_map(|m| *m) {
            error[k.as_str()] = v;
        }
        let mut response = (status, Json(json!({ "error": error }))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README's error table, as `ErrorCode` says it should read.
    fn error_table() -> String {
        let mut out = String::from("| code | status | meaning |\n|---|---|---|\n");
        for code in ErrorCode::ALL {
            out.push_str(&format!(
                "| `{}` | {} | {} |\n",
                code.as_str(),
                code.status(),
                code.meaning()
            ));
        }
        out
    }

    /// The README documents every code with its status and meaning; run with
    /// `FLYWHEEL_BLESS=1` to rewrite its table from the code.
    #[test]
    fn the_readme_error_table_is_the_code_table() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");
        let readme = std::fs::read_to_string(path).unwrap();
        let (start, end) = ("<!-- error-codes:start -->\n", "<!-- error-codes:end -->");
        let from = readme
            .find(start)
            .expect("README has the error table markers")
            + start.len();
        let to = readme
            .find(end)
            .expect("README has the error table end marker");
        let expected = error_table();
        if readme[from..to] != expected {
            if std::env::var("FLYWHEEL_BLESS").as_deref() == Ok("1") {
                let updated = format!("{}{expected}{}", &readme[..from], &readme[to..]);
                std::fs::write(path, updated).unwrap();
            } else {
                panic!(
                    "README.md's error table differs from ErrorCode; rerun with FLYWHEEL_BLESS=1 \
                     to rewrite it. Expected:\n{expected}"
                );
            }
        }
    }

    #[test]
    fn statuses_come_from_the_codes() {
        assert_eq!(
            status_of(ErrorCode::Internal),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(
            status_of(ErrorCode::RateLimited),
            StatusCode::TOO_MANY_REQUESTS
        );
        assert_eq!(status_of(ErrorCode::EventIdReused), StatusCode::CONFLICT);
    }
}
