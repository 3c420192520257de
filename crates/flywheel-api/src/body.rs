//! Request bodies: read with a size limit and parsed as JSON, with our error codes
//! (400 `malformed_json`, 413 `payload_too_large`) instead of axum's plain-text ones.
//! The content type is not checked, so `curl -d` works as people expect.

use crate::error::ApiError;
use axum::body::{Body, to_bytes};
use axum::extract::{FromRequest, Request};
use flywheel_core::ErrorCode;
use serde_json::Value;

/// A JSON body of at most `LIMIT` bytes, as an untyped value: handlers parse it into
/// domain types themselves, to report every field problem at once.
pub struct JsonValue<const LIMIT: usize>(pub Value);

impl<S: Send + Sync, const LIMIT: usize> FromRequest<S> for JsonValue<LIMIT> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        let body: Body = req.into_body();
        let bytes = to_bytes(body, LIMIT).await.map_err(|_| {
            ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("the request body is larger than {} bytes", LIMIT),
            )
        })?;
        if bytes.is_empty() {
            return Err(ApiError::new(
                ErrorCode::MalformedJson,
                "the request body is empty; send a JSON object",
            ));
        }
        serde_json::from_slice(&bytes).map(JsonValue).map_err(|e| {
            ApiError::new(
                ErrorCode::MalformedJson,
                format!("the body is not valid JSON: {e}"),
            )
        })
    }
}

pub const ONE_EVENT: usize = 1 << 20;
pub const BATCH: usize = 64 << 20;
pub const SMALL: usize = 64 << 10;

/// Parses a JSON value into a request type (`deny_unknown_fields` structs), naming the
/// field at fault: `missing_field`, `unknown_field` or `invalid_type`, with its path.
pub fn typed<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let message = e.inner().to_string();
        let quoted = message.split('`').nth(1).unwrap_or("").to_owned();
        let join = |name: &str| {
            if path == "." || path.is_empty() {
                name.to_owned()
            } else {
                format!("{path}.{name}")
            }
        };
        let (code, field) = if message.starts_with("missing field") {
            (ErrorCode::MissingField, join(&quoted))
        } else if message.starts_with("unknown field") {
            (ErrorCode::UnknownField, join(&quoted))
        } else if message.starts_with("invalid type") {
            (ErrorCode::InvalidType, path.clone())
        } else {
            (ErrorCode::InvalidValue, path.clone())
        };
        let field = if field == "." {
            "body".to_owned()
        } else {
            field
        };
        ApiError::new(code, format!("{field}: {message}")).field(field)
    })
}
