//! Message templates: text with `{{variable}}` places filled from the member when the
//! message is decided. The variables are a fixed list, so a template that names one
//! Flywheel does not know is refused when it is saved, not discovered at 3 a.m. when it
//! goes out.

use std::collections::BTreeMap;

/// The variables a template may name, with what each holds.
pub const VARIABLES: [(&str, &str); 12] = [
    ("nickname", "the member's nickname, else their name"),
    ("name", "the member's name"),
    ("member_id", "the member's id"),
    (
        "stage",
        "the relationship stage (none, micro, weak, strong, super_strong)",
    ),
    ("tier", "the member's highest tier, or empty"),
    (
        "points.balance",
        "points available in the default programme",
    ),
    (
        "points.expiring_next",
        "points in the lot that expires first",
    ),
    (
        "points.expiring_at",
        "the date that lot expires (YYYY-MM-DD)",
    ),
    (
        "recommended.sku",
        "the best seller of the member's favourite category they have not bought yet",
    ),
    (
        "recommended.category",
        "the category that SKU was chosen from",
    ),
    ("link", "the content's tracked link, when it has one"),
    (
        "open_url",
        "an address that records the message as opened (an e-mail's 1x1 image)",
    ),
];

/// Why a template does not check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateError {
    /// Byte offset of the problem in the text.
    pub at: usize,
    pub message: String,
}

/// A piece of a parsed template.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece<'a> {
    Text(&'a str),
    Var(&'a str),
}

fn parse(text: &str) -> Result<Vec<Piece<'_>>, TemplateError> {
    let mut pieces = Vec::new();
    let mut rest = text;
    let mut offset = 0;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            pieces.push(Piece::Text(&rest[..open]));
        }
        let after = &rest[open + 2..];
        let close = after.find("}}").ok_or_else(|| TemplateError {
            at: offset + open,
            message: "'{{' is not closed by '}}'".into(),
        })?;
        let name = after[..close].trim();
        if !VARIABLES.iter().any(|(v, _)| *v == name) {
            let known: Vec<&str> = VARIABLES.iter().map(|(v, _)| *v).collect();
            return Err(TemplateError {
                at: offset + open,
                message: format!("unknown variable '{name}' (known: {})", known.join(", ")),
            });
        }
        pieces.push(Piece::Var(name));
        let consumed = open + 2 + close + 2;
        offset += consumed;
        rest = &rest[consumed..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest));
    }
    Ok(pieces)
}

/// Checks that `text` only names known variables and closes every `{{`.
pub fn check(text: &str) -> Result<(), TemplateError> {
    parse(text).map(|_| ())
}

/// The variables `text` names, in order of first use.
pub fn variables(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in parse(text).unwrap_or_default() {
        if let Piece::Var(v) = p
            && !out.iter().any(|o| o == v)
        {
            out.push(v.to_owned());
        }
    }
    out
}

/// Fills `text` from `values`; a variable without a value becomes empty. A template
/// that does not check (stored before a variable was withdrawn) renders as written.
pub fn render(text: &str, values: &BTreeMap<&str, String>) -> String {
    let Ok(pieces) = parse(text) else {
        return text.to_owned();
    };
    let mut out = String::with_capacity(text.len() + 32);
    for p in pieces {
        match p {
            Piece::Text(t) => out.push_str(t),
            Piece::Var(v) => {
                if let Some(value) = values.get(v) {
                    out.push_str(value);
                }
            }
        }
    }
    out
}
