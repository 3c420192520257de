//! Request bodies: read within a size limit and a time limit, and parsed as JSON, with
//! our error codes (400 `malformed_json`, 408 `request_timeout`, 413 `payload_too_large`)
//! instead of axum's plain-text ones. The content type is not checked, so `curl -d`
//! works as people expect. Extractors here run after [`Allowed`](crate::auth::Allowed),
//! so nothing is read for a caller who may not make the request.

use crate::error::ApiError;
use crate::state::AppState;
use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_LENGTH;
use flywheel_core::ErrorCode;
use serde_json::Value;

/// A JSON body of at most `LIMIT` bytes, as an untyped value: handlers parse it into
/// domain types themselves, to report every field problem at once.
pub struct JsonValue<const LIMIT: usize>(pub Value);

impl<const LIMIT: usize> FromRequest<AppState> for JsonValue<LIMIT> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let bytes = read(state, req, LIMIT).await?;
        parse(&bytes).map(JsonValue)
    }
}

/// Reads a whole body of at most `limit` bytes, within the configured body timeout. A
/// body announced larger than the limit is refused before any of it is read.
pub(crate) async fn read(state: &AppState, req: Request, limit: usize) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("the request body is larger than {limit} bytes"),
        )
    };
    let announced = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let body: Body = req.into_body();
    let timeout = state.limits.body_timeout;
    match tokio::time::timeout(timeout, to_bytes(body, limit)).await {
        Err(_) => Err(ApiError::new(
            ErrorCode::RequestTimeout,
            format!(
                "the request body did not arrive within {} s",
                timeout.as_secs()
            ),
        )),
        Ok(Err(_)) => Err(too_large()),
        Ok(Ok(bytes)) => Ok(bytes),
    }
}

/// Parses a body as JSON.
pub(crate) fn parse(bytes: &[u8]) -> Result<Value, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::new(
            ErrorCode::MalformedJson,
            "the request body is empty; send a JSON object",
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::new(
            ErrorCode::MalformedJson,
            format!("the body is not valid JSON: {e}"),
        )
    })
}

/// Checks a body is JSON without keeping it (400 `malformed_json` otherwise).
pub(crate) fn parse_shape(bytes: &[u8]) -> Result<(), ApiError> {
    if bytes.is_empty() {
        return Err(parse(bytes).unwrap_err());
    }
    serde_json::from_slice::<serde::de::IgnoredAny>(bytes)
        .map(|_| ())
        .map_err(|e| {
            ApiError::new(
                ErrorCode::MalformedJson,
                format!("the body is not valid JSON: {e}"),
            )
        })
}

/// Bodies of everything but events: rule sets, rewards, redemptions, reasons.
pub const SMALL: usize = 256 << 10;

/// Parses a JSON value into a request type (`deny_unknown_fields` structs), naming the
/// field at fault: `missing_field`, `unknown_field` or `invalid_type`, with its path.
pub fn typed<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    // Serde reads a struct from an array of its fields in order too; every body here
    // is an object, so `[null, null]` is refused rather than read as all fields absent.
    if value.is_array() {
        return Err(ApiError::new(
            ErrorCode::InvalidType,
            "body: the body is a JSON object, not an array",
        )
        .field("body"));
    }
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
            // The path already ends at the unknown field.
            let named = path == quoted || path.ends_with(&format!(".{quoted}"));
            let field = if named { path.clone() } else { join(&quoted) };
            (ErrorCode::UnknownField, field)
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

#[cfg(test)]
mod tests {
    use super::typed;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct AllOptional {
        note: Option<String>,
        key: Option<String>,
    }

    #[test]
    fn an_array_is_not_read_as_a_struct_of_its_fields() {
        let e = typed::<AllOptional>(json!([null, null])).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("body"));
        assert!(typed::<AllOptional>(json!({})).is_ok());
    }
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        a: u32,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        items: Vec<Inner>,
    }

    fn field_of(v: serde_json::Value) -> (String, String) {
        let e = typed::<Outer>(v).unwrap_err();
        (e.code.as_str().to_owned(), e.field.unwrap_or_default())
    }

    #[test]
    fn a_fault_names_the_field_once() {
        let cases = [
            (json!({"items": [], "x": 1}), ("unknown_field", "x")),
            (
                json!({"items": [{"a": 1, "b": 2}]}),
                ("unknown_field", "items[0].b"),
            ),
            (json!({"items": [{}]}), ("missing_field", "items[0].a")),
            (json!({}), ("missing_field", "items")),
            (
                json!({"items": [{"a": "one"}]}),
                ("invalid_type", "items[0].a"),
            ),
        ];
        for (body, (code, field)) in cases {
            assert_eq!(field_of(body), (code.to_owned(), field.to_owned()));
        }
    }
}
