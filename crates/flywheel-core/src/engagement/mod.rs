//! Engagement: acting on what Flywheel knows without becoming a nuisance.
//!
//! `template.rs` checks and fills message templates (`{{nickname}}`), `journey.rs`
//! parses a journey's definition and compiles its steps into a flat program the runner
//! walks one step at a time, `quiet.rs` holds the do-not-disturb arithmetic (quiet
//! hours in the member's time zone, frequency caps), `duration.rs` reads `2d`, `36h`,
//! `recommend.rs` picks the SKU `{{recommended.sku}}` offers.
//! Storage, the runner's transactions and the channels live in the store and the
//! binary; nothing here does I/O.

pub mod campaign;
pub mod duration;
pub mod journey;
pub mod policy;
pub mod quiet;
pub mod recommend;
pub mod template;

pub use policy::{Circumstances, Decision, DoNotDisturb, EngagementPolicy};

#[cfg(test)]
mod tests;

/// The channels a message can go out on.
pub const CHANNELS: [&str; 5] = ["sms", "email", "wechat", "push", "webhook"];

/// The identity a channel reaches a member at, and whether a message cannot go
/// without it: SMS needs a phone and e-mail an address; a WeChat message goes to the
/// openid and a push to the app's user id when known, else the provider's bridge finds
/// the member by id.
pub fn address_kind(channel: &str) -> Option<(&'static str, bool)> {
    match channel {
        "sms" => Some(("phone", true)),
        "email" => Some(("email", true)),
        "wechat" => Some(("wechat_openid", false)),
        "push" => Some(("app_user_id", false)),
        _ => None,
    }
}

/// Whether `name` is one of [`CHANNELS`].
pub fn is_channel(name: &str) -> bool {
    CHANNELS.contains(&name)
}
