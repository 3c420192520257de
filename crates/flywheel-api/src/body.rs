//! Request bodies: read with a size limit and parsed as JSON, with our error codes
//! (400 `malformed_json`, 413 `payload_too_large`) instead of axum's plain-text ones.
//! The content type is not checked, so `curl -d` works as people expect.

use crate::error::ApiError;
use axum::body::{Body, to_bytes};
use axum::extract::{FromRequest, Request};
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
                "payload_too_large",
                format!("the request body is larger than {} bytes", LIMIT),
            )
        })?;
        if bytes.is_empty() {
            return Err(ApiError::new(
                "malformed_json",
                "the request body is empty; send a JSON object",
            ));
        }
        serde_json::from_slice(&bytes).map(JsonValue).map_err(|e| {
            ApiError::new("malformed_json", format!("the body is not valid JSON: {e}"))
        })
    }
}

pub const ONE_EVENT: usize = 1 << 20;
pub const BATCH: usize = 64 << 20;
pub const SMALL: usize = 64 << 10;
