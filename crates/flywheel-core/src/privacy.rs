//! Masking contact details for the roles that must not see them (see
//! [`Role::sees_personal_data`](crate::auth::Role::sees_personal_data)).
//!
//! Masking works on text, not on known fields, so it also catches a phone inside an
//! identity key (`phone:+86138****8000`), a referrer's phone in an event's properties, an
//! error message that repeats a looked-up number, or a free-form custom property:
//!
//! - an international number (`+` and 8–15 digits, spaces or hyphens allowed between
//!   them) keeps its first digits and last four: `+86138****8000`;
//! - a mainland mobile written without a prefix (11 digits starting 13–19) likewise:
//!   `138****8000`;
//! - an e-mail address keeps the first letter of its local part and its domain:
//!   `l***@example.com`.

use serde_json::Value;
use std::borrow::Cow;

/// `text` with every phone number and e-mail address in it masked.
pub fn mask_text(text: &str) -> Cow<'_, str> {
    if !text.bytes().any(|b| b.is_ascii_digit() || b == b'@') {
        return Cow::Borrowed(text);
    }
    let phones = mask_phones(text);
    match mask_emails(&phones) {
        Cow::Borrowed(_) => phones,
        Cow::Owned(s) => Cow::Owned(s),
    }
}

/// Masks every string inside `value`, at any depth (object keys are left alone: they are
/// field names).
pub fn mask_json(value: &mut Value) {
    match value {
        Value::String(s) => {
            if let Cow::Owned(masked) = mask_text(s) {
                *s = masked;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask_json),
        Value::Object(map) => map.values_mut().for_each(mask_json),
        _ => {}
    }
}

fn mask_phones(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0; // bytes of `text` already in `out`
    let mut i = 0;
    while i < bytes.len() {
        let starts = (bytes[i] == b'+' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit))
            || bytes[i].is_ascii_digit();
        let after_word = i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'+');
        if !starts || after_word {
            i += 1;
            continue;
        }
        let end = run_end(bytes, i);
        let digits: Vec<usize> = (i..end).filter(|&k| bytes[k].is_ascii_digit()).collect();
        let followed_by_word = bytes.get(end).is_some_and(u8::is_ascii_alphanumeric);
        if !followed_by_word && is_phone(bytes[i] == b'+', &digits, bytes) {
            let out = out.get_or_insert_with(|| String::with_capacity(text.len()));
            out.push_str(&text[copied..i]);
            let hidden = &digits[digits.len() - 8..digits.len() - 4];
            for (k, b) in bytes.iter().enumerate().take(end).skip(i) {
                out.push(if hidden.contains(&k) { '*' } else { *b as char });
            }
            copied = end;
        }
        i = end.max(i + 1);
    }
    match out {
        None => Cow::Borrowed(text),
        Some(mut s) => {
            s.push_str(&text[copied..]);
            Cow::Owned(s)
        }
    }
}

/// The end of a run of digits starting at `start` (after an optional `+`), where a single
/// space or hyphen may separate digits.
fn run_end(bytes: &[u8], start: usize) -> usize {
    let mut k = start + usize::from(bytes[start] == b'+');
    let mut end = k;
    while k < bytes.len() {
        if bytes[k].is_ascii_digit() {
            k += 1;
            end = k;
        } else if (bytes[k] == b' ' || bytes[k] == b'-')
            && bytes.get(k + 1).is_some_and(u8::is_ascii_digit)
            && k > start
            && bytes[k - 1].is_ascii_digit()
        {
            k += 1;
        } else {
            break;
        }
    }
    end
}

fn is_phone(international: bool, digits: &[usize], bytes: &[u8]) -> bool {
    if international {
        (8..=15).contains(&digits.len())
    } else {
        digits.len() == 11 && bytes[digits[0]] == b'1' && (b'3'..=b'9').contains(&bytes[digits[1]])
    }
}

fn is_local_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"._%+-".contains(&b)
}

fn is_domain_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'.' || b == b'-'
}

fn mask_emails(text: &str) -> Cow<'_, str> {
    if !text.contains('@') {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    for (at, _) in text.match_indices('@') {
        if at < copied {
            continue;
        }
        let mut start = at;
        while start > copied && is_local_char(bytes[start - 1]) {
            start -= 1;
        }
        let mut end = at + 1;
        while end < bytes.len() && is_domain_char(bytes[end]) {
            end += 1;
        }
        let domain = text[at + 1..end].trim_end_matches('.');
        let valid = start < at
            && domain.contains('.')
            && !domain.starts_with('.')
            && domain.bytes().any(|b| b.is_ascii_alphabetic());
        if !valid {
            continue;
        }
        let out = out.get_or_insert_with(|| String::with_capacity(text.len()));
        out.push_str(&text[copied..start]);
        out.push(bytes[start] as char);
        out.push_str("***");
        out.push_str(&text[at..at + 1 + domain.len()]);
        copied = at + 1 + domain.len();
    }
    match out {
        None => Cow::Borrowed(text),
        Some(mut s) => {
            s.push_str(&text[copied..]);
            Cow::Owned(s)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn phones_keep_their_first_digits_and_last_four() {
        assert_eq!(mask_text("+8613800138000"), "+86138****8000");
        assert_eq!(mask_text("13800138000"), "138****8000");
        assert_eq!(mask_text("phone:+8613800138000"), "phone:+86138****8000");
        assert_eq!(mask_text("+86 138-0013-8000"), "+86 138-****-8000");
        assert_eq!(
            mask_text("call 138 0013 8000 now"),
            "call 138 **** 8000 now"
        );
        assert_eq!(mask_text("+12015550123"), "+120****0123");
        assert_eq!(
            mask_text("no member holds phone:+8613800138000"),
            "no member holds phone:+86138****8000"
        );
    }

    #[test]
    fn emails_keep_one_letter_and_the_domain() {
        assert_eq!(mask_text("li.wei@example.com"), "l***@example.com");
        assert_eq!(
            mask_text("email:li.wei@example.com; phone:+8613800138000"),
            "email:l***@example.com; phone:+86138****8000"
        );
        assert_eq!(mask_text("write to a@b.cn."), "write to a***@b.cn.");
    }

    #[test]
    fn what_is_not_a_phone_or_an_email_is_left_alone() {
        for text in [
            "2026-11-20T10:00:00+08:00",
            "TM13800138000",
            "13800138000a",
            "59.00",
            "order O-1234567",
            "+86",
            "12345678901",
            "@someone",
            "a@b",
            "订单 20261120",
        ] {
            assert_eq!(mask_text(text), text, "{text}");
            assert!(matches!(mask_text(text), Cow::Borrowed(_)), "{text}");
        }
    }

    #[test]
    fn json_strings_are_masked_at_any_depth() {
        let mut v = json!({"identities": [{"kind": "phone", "value": "+8613800138000"}],
                           "properties": {"referrer": {"phone": "13900139000"}, "amount": "59.00"},
                           "count": 13800138000_i64});
        mask_json(&mut v);
        assert_eq!(
            v,
            json!({"identities": [{"kind": "phone", "value": "+86138****8000"}],
                   "properties": {"referrer": {"phone": "139****9000"}, "amount": "59.00"},
                   "count": 13800138000_i64})
        );
    }
}
