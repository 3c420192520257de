//! Segments: audiences written in a small language a loyalty manager can read —
//! `stage >= strong and purchases_within(30d) >= 1 and not open_complaint`.
//!
//! `syntax.rs` parses the text, `check.rs` resolves names and types (errors carry a line
//! and column), `expr.rs` is the checked form both evaluators share, `eval.rs` evaluates
//! it for one member in memory (at ingest) and says when the answer could next change
//! with the clock alone, `calendar.rs` holds the birthday and age arithmetic both
//! evaluators use. The SQL evaluator lives in the store (`segments/sql.rs`).

pub mod builtin;
pub mod calendar;
pub mod check;
pub mod eval;
pub mod expr;
pub mod syntax;
pub mod tags;

#[cfg(test)]
mod tests;

pub use check::{ExprError, Language, compile};
pub use eval::{Extras, Held, MemberView, ScoreValues};
pub use expr::{Cond, Needs};
