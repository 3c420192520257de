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

/// Characters that change how the text around them is displayed without being seen:
/// bidirectional marks, embeddings, overrides and isolates. A name holding a
/// right-to-left override can read as somebody else's.
pub fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// Unicode's format characters (general category Cf): invisible, and never part of an
/// identifier a person would type. Listed from the Unicode Character Database.
pub fn is_format(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{0600}'..='\u{0605}'
            | '\u{061C}'
            | '\u{06DD}'
            | '\u{070F}'
            | '\u{0890}'..='\u{0891}'
            | '\u{08E2}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{110BD}'
            | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0001}'
            | '\u{E0020}'..='\u{E007F}'
    )
}

/// Checks one line of text a person typed — a name, a label, a reason: trimmed, not
/// empty, at most `max_chars`, no control characters (line breaks included) and no
/// bidirectional controls.
pub fn check_line(field: &str, raw: &str, max_chars: usize) -> Result<String, FieldError> {
    check(field, raw, max_chars, false)
}

/// Like [`check_line`], but line breaks and tabs are allowed (a complaint's text, a note).
pub fn check_paragraph(field: &str, raw: &str, max_chars: usize) -> Result<String, FieldError> {
    check(field, raw, max_chars, true)
}

fn check(field: &str, raw: &str, max_chars: usize, multiline: bool) -> Result<String, FieldError> {
    let s = raw.trim();
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
    let allowed = |c: char| multiline && (c == '\n' || c == '\t');
    if s.chars().any(|c| c.is_control() && !allowed(c)) {
        return Err(FieldError::new(
            field,
            ErrorCode::InvalidValue,
            format!("{field} must not contain control characters"),
        ));
    }
    if s.chars().any(is_bidi_control) {
        return Err(FieldError::new(
            field,
            ErrorCode::InvalidValue,
            format!("{field} must not contain bidirectional control characters"),
        ));
    }
    Ok(s.to_owned())
}

/// A JSON string that passes [`check_line`].
pub fn text(
    field: &str,
    value: &serde_json::Value,
    max_chars: usize,
) -> Result<String, FieldError> {
    check_line(field, string(field, value)?, max_chars)
}

/// A JSON string that passes [`check_paragraph`].
pub fn paragraph(
    field: &str,
    value: &serde_json::Value,
    max_chars: usize,
) -> Result<String, FieldError> {
    check_paragraph(field, string(field, value)?, max_chars)
}

fn string<'a>(field: &str, value: &'a serde_json::Value) -> Result<&'a str, FieldError> {
    value
        .as_str()
        .ok_or_else(|| FieldError::wrong_type(field, "a string"))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_refuse_control_and_bidi_characters_but_paragraphs_keep_line_breaks() {
        assert_eq!(check_line("name", "  Li Wei ", 10).unwrap(), "Li Wei");
        for bad in ["Li\nWei", "Li\u{7}Wei", "abc\u{202E}gpj.exe", "x\u{2066}y"] {
            assert_eq!(
                check_line("name", bad, 20).unwrap_err().code,
                ErrorCode::InvalidValue,
                "{bad:?}"
            );
        }
        assert_eq!(
            check_line("name", "   ", 20).unwrap_err().code,
            ErrorCode::InvalidValue
        );
        assert_eq!(
            check_line("name", "abcdef", 5).unwrap_err().code,
            ErrorCode::TooLong
        );
        assert_eq!(
            check_paragraph("text", "line one\n\tline two", 50).unwrap(),
            "line one\n\tline two"
        );
        assert!(check_paragraph("text", "bell\u{7}", 50).is_err());
        assert!(check_paragraph("text", "\u{202E}evil", 50).is_err());
    }

    #[test]
    fn format_characters_include_the_invisible_ones_used_to_fake_a_name() {
        for c in [
            '\u{200B}',
            '\u{200D}',
            '\u{202E}',
            '\u{2066}',
            '\u{FEFF}',
            '\u{00AD}',
            '\u{E0041}',
        ] {
            assert!(is_format(c), "{c:?}");
        }
        for c in ['a', ' ', '中', '\u{3000}', '1'] {
            assert!(!is_format(c), "{c:?}");
        }
    }
}
