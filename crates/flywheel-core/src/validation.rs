//! Field-level validation errors: which field, a stable snake_case code, and a sentence.
//!
//! Parsers collect every problem they find instead of stopping at the first, so one
//! answer tells an integrator everything that is wrong with an event.

use crate::error_code::ErrorCode;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// Dotted path of the field, e.g. `properties.items[2].qty`.
    pub field: String,
    /// Stable snake_case code, e.g. `missing_field`, `invalid_amount`.
    pub code: ErrorCode,
    pub message: String,
}

impl FieldError {
    pub fn new(
        field: impl Into<String>,
        code: ErrorCode,
        message: impl Into<String>,
    ) -> FieldError {
        FieldError {
            field: field.into(),
            code,
            message: message.into(),
        }
    }

    pub fn missing(field: impl Into<String>) -> FieldError {
        let field = field.into();
        let message = format!("{field} is required");
        FieldError {
            field,
            code: ErrorCode::MissingField,
            message,
        }
    }

    pub fn wrong_type(field: impl Into<String>, expected: &str) -> FieldError {
        let field = field.into();
        let message = format!("{field} must be {expected}");
        FieldError {
            field,
            code: ErrorCode::InvalidType,
            message,
        }
    }
}

/// Accumulates errors while a value is parsed.
#[derive(Debug, Default)]
pub struct Errors(pub Vec<FieldError>);

impl Errors {
    pub fn push(&mut self, error: FieldError) {
        self.0.push(error);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Keeps an `Ok` value, records an `Err`.
    pub fn take<T>(&mut self, result: Result<T, FieldError>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.push(e);
                None
            }
        }
    }
}

/// A bounded, non-empty string without control characters.
pub fn text(
    field: &str,
    value: &serde_json::Value,
    max_chars: usize,
) -> Result<String, FieldError> {
    let s = value
        .as_str()
        .ok_or_else(|| FieldError::wrong_type(field, "a string"))?;
    let s = s.trim();
    if s.is_empty() {
        return Err(FieldError::new(
            field,
            ErrorCode::InvalidValue,
            format!("{field} must not be empty"),
        ));
    }
    if s.chars().count() > max_chars {
        return Err(FieldError::new(
            field,
            ErrorCode::TooLong,
            format!("{field} must be at most {max_chars} characters"),
        ));
    }
    if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(FieldError::new(
            field,
            ErrorCode::InvalidValue,
            format!("{field} must not contain control characters"),
        ));
    }
    Ok(s.to_owned())
}

/// Like [`text`], for an optional field of a JSON object.
pub fn optional_text(
    obj: &serde_json::Map<String, serde_json::Value>,
    key: &str,
    path: &str,
    max_chars: usize,
    errors: &mut Errors,
) -> Option<String> {
    match obj.get(key) {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => errors.take(text(&format!("{path}.{key}"), v, max_chars)),
    }
}
