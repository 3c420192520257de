//! Query strings as ordered key/value pairs, with our error code when they do not parse.

use crate::error::ApiError;
use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use flywheel_core::ErrorCode;

pub struct Params(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Params, ApiError> {
        Query::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map(|Query(pairs)| Params(pairs))
            .map_err(|e| {
                ApiError::new(
                    ErrorCode::InvalidQuery,
                    format!("the query string does not parse: {e}"),
                )
            })
    }
}

/// A page size from `?limit=`: a whole number from 1 to `max`.
pub fn limit(value: &str, max: u32) -> Result<u32, ApiError> {
    value
        .parse::<u32>()
        .ok()
        .filter(|l| (1..=max).contains(l))
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidQuery,
                format!("limit must be a number from 1 to {max}"),
            )
            .field("limit")
        })
}

/// A query parameter the route does not take.
pub fn unknown(name: &str) -> ApiError {
    ApiError::new(ErrorCode::InvalidQuery, format!("unknown parameter {name}")).field(name)
}
