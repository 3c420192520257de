//! Engagement: acting on what Flywheel knows without becoming a nuisance.
//!
//! `template.rs` checks and fills message templates (`{{nickname}}`), `journey.rs`
//! parses a journey's definition and compiles its steps into a flat program the runner
//! walks one step at a time, `quiet.rs` holds the do-not-disturb arithmetic (quiet
//! hours in the member's time zone, frequency caps), `duration.rs` reads `2d`, `36h`.
//! Storage, the runner's transactions and the channels live in the store and the
//! binary; nothing here does I/O.

pub mod duration;
pub mod journey;
pub mod policy;
pub mod quiet;
pub mod template;

pub use policy::{Circumstances, Decision, DoNotDisturb, EngagementPolicy};

#[cfg(test)]
mod tests;

/// The channels a message can go out on.
pub const CHANNELS: [&str; 5] = ["sms", "email", "wechat", "push", "webhook"];

/// Whether `name` is one of [`CHANNELS`].
pub fn is_channel(name: &str) -> bool {
    CHANNELS.contains(&name)
}
