//! The co-creation board (issue 22; seeds 000 and 002: members shaping the products).
//! Every suggestion a member makes — a `feedback` event of kind suggestion, from any
//! channel or the member card — is an idea on the board, and moves through
//!
//! ```text
//! received → under_review → adopted → shipped
//!        ↘        ↓
//!          declined (with a reason; it may be reviewed again)
//! ```
//!
//! Adopting an idea credits its member with a `co_creation` participation — which
//! counts toward `super_strong` — and any points or badge the adoption names; each
//! change of status is told to the member.

use crate::ErrorCode;
use crate::validation::FieldError;

/// The statuses, in the board's order.
pub const STATUSES: [&str; 5] = ["received", "under_review", "adopted", "shipped", "declined"];

/// The participation kind an adoption makes.
pub const CO_CREATION: &str = "co_creation";

/// Whether an idea may go from `from` to `to` (staying put is no move).
pub fn may_move(from: &str, to: &str) -> bool {
    matches!(
        (from, to),
        ("received", "under_review" | "adopted" | "declined")
            | ("under_review", "adopted" | "declined")
            | ("adopted", "shipped")
            | ("declined", "under_review")
    )
}

/// Checks a change of status: a known status, a move the board allows, and a reason
/// for a decline.
pub fn check_move(from: &str, to: &str, reason: Option<&str>) -> Result<(), FieldError> {
    if !STATUSES.contains(&to) {
        return Err(FieldError::new(
            "status",
            ErrorCode::InvalidValue,
            format!("status is one of {}", STATUSES.join(", ")),
        ));
    }
    if from != to && !may_move(from, to) {
        return Err(FieldError::new(
            "status",
            ErrorCode::InvalidTransition,
            format!("an idea {from} cannot become {to}"),
        ));
    }
    if to == "declined" && reason.is_none_or(|r| r.trim().is_empty()) {
        return Err(FieldError::new(
            "reason",
            ErrorCode::MissingField,
            "declining an idea needs a reason the member will read",
        ));
    }
    Ok(())
}

/// What the member is told when their idea reaches `status`: a subject and a body.
pub fn notice(
    status: &str,
    text: &str,
    note: Option<&str>,
    reason: Option<&str>,
) -> (String, String) {
    let short: String = text.chars().take(60).collect();
    let ellipsis = if text.chars().count() > 60 { "…" } else { "" };
    let (subject, what) = match status {
        "under_review" => (
            "We are looking at your idea",
            "is being reviewed by the team",
        ),
        "adopted" => (
            "Your idea was adopted",
            "was adopted — thank you for shaping what we make",
        ),
        "shipped" => ("Your idea has shipped", "is now real: it has shipped"),
        "declined" => ("About your idea", "will not go ahead this time"),
        _ => ("We received your idea", "has reached the team"),
    };
    let mut body = format!("Your idea \"{short}{ellipsis}\" {what}.");
    if let Some(r) = reason.filter(|r| !r.trim().is_empty()) {
        body.push_str(&format!(" Why: {r}"));
    }
    if let Some(n) = note.filter(|n| !n.trim().is_empty()) {
        body.push_str(&format!(" {n}"));
    }
    (subject.to_owned(), body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ideas_move_along_the_board_and_a_decline_needs_a_reason() {
        assert!(check_move("received", "under_review", None).is_ok());
        assert!(check_move("under_review", "adopted", None).is_ok());
        assert!(check_move("adopted", "shipped", None).is_ok());
        assert!(check_move("shipped", "shipped", None).is_ok());
        assert_eq!(
            check_move("shipped", "received", None).unwrap_err().code,
            ErrorCode::InvalidTransition
        );
        assert_eq!(
            check_move("received", "declined", None).unwrap_err().field,
            "reason"
        );
        assert!(check_move("received", "declined", Some("we stopped that tin")).is_ok());
        assert!(check_move("declined", "under_review", None).is_ok());
        assert_eq!(
            check_move("received", "done", None).unwrap_err().field,
            "status"
        );
        let (subject, body) = notice("declined", "A smaller tin", None, Some("too costly"));
        assert_eq!(subject, "About your idea");
        assert!(body.contains("A smaller tin") && body.contains("too costly"));
    }
}
