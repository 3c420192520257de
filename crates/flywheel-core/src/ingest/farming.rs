//! Referral farming: one person opening many accounts to collect a referral reward for
//! each (seed 002's rings of fake invitees). Each referral carries a fingerprint of its
//! invitee — the device and payment account the referral and the first purchase came
//! from, and the block of phone numbers the invitee's phone sits in (farms buy numbers
//! in runs) — as short hashes, so no personal data is copied onto the referral. When an
//! invitee's first purchase would convert a referral and enough of the same inviter's
//! recent invitees share one of those signals, the referral is held for a person to
//! release or refuse (a `referral_review` event) instead of paying.

use super::ReferralState;
use crate::identity::{Identity, IdentityKind};
use crate::time::{DAY, Micros};
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// Invitees of one inviter sharing a signal, counting the one converting, from which a
/// conversion is held.
pub const HOLD_AT: usize = 3;
/// How far apart (by when they were referred) invitees count as one run.
pub const WINDOW: Micros = 30 * DAY;
/// Phone numbers that differ only in these last digits are one block.
const PHONE_BLOCK_DIGITS: usize = 3;

/// The event properties that name a device or a payment account, and the signal each
/// becomes.
const PROPERTIES: [(&str, &str); 2] = [("device_id", "device"), ("payment_account", "payment")];

/// The signals an event and the invitee's identities give: `kind:hash` strings.
pub fn signals<'a>(
    properties: &Map<String, Value>,
    identities: impl Iterator<Item = &'a Identity>,
) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (property, kind) in PROPERTIES {
        let value = match properties.get(property) {
            Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
            Some(Value::Number(n)) => n.to_string(),
            _ => continue,
        };
        out.insert(format!("{kind}:{}", short_hash(&value)));
    }
    for identity in identities.filter(|i| i.kind == IdentityKind::Phone) {
        let digits = identity.value.len().saturating_sub(PHONE_BLOCK_DIGITS);
        if let Some(block) = identity.value.get(..digits).filter(|b| b.len() >= 6) {
            out.insert(format!("phone_block:{}", short_hash(block)));
        }
    }
    out
}

/// Why `referral` should be held, if it should: the signal the most of its inviter's
/// other converted or held referrals within [`WINDOW`] share, when that makes
/// [`HOLD_AT`] invitees or more. `others` are the inviter's other referrals.
pub fn hold_reason<'a>(
    referral: &ReferralState,
    inviter: i64,
    others: impl Iterator<Item = &'a ReferralState>,
) -> Option<String> {
    let near: Vec<&ReferralState> = others
        .filter(|o| o.event_id != referral.event_id)
        .filter(|o| o.status == "converted" || o.status == "held")
        .filter(|o| (o.referred_at - referral.referred_at).abs() <= WINDOW)
        .collect();
    let (signal, sharing) = referral
        .fingerprint
        .iter()
        .map(|s| {
            let mut with: Vec<&str> = near
                .iter()
                .filter(|o| o.fingerprint.contains(s))
                .map(|o| o.event_id.as_str())
                .collect();
            with.sort_unstable();
            (s, with)
        })
        // On a tie, the plainest signal to check: a device, then a payment account.
        .max_by_key(|(s, with)| (with.len(), std::cmp::Reverse(plainness(s))))?;
    if sharing.len() + 1 < HOLD_AT {
        return None;
    }
    let (kind, hash) = signal.split_once(':').unwrap_or(("signal", signal));
    let what = match kind {
        "device" => "device",
        "payment" => "payment account",
        "phone_block" => "block of phone numbers",
        _ => "signal",
    };
    Some(format!(
        "{} invitees of member {inviter} within {} days share one {what} ({hash}); the others are referrals {}",
        sharing.len() + 1,
        WINDOW / DAY,
        sharing.join(", ")
    ))
}

fn plainness(signal: &str) -> u8 {
    match signal.split_once(':').map(|(kind, _)| kind) {
        Some("device") => 0,
        Some("payment") => 1,
        _ => 2,
    }
}

/// A fingerprint as the store keeps it: its signals, space-separated.
pub fn encode(fingerprint: &BTreeSet<String>) -> String {
    fingerprint.iter().cloned().collect::<Vec<_>>().join(" ")
}

pub fn decode(text: &str) -> BTreeSet<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

/// The first 12 hex digits of a SHA-256: enough to tell signals apart, not to read
/// them back.
fn short_hash(value: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(value.as_bytes());
    digest[..6].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn referral(id: &str, at: Micros, status: &str, fingerprint: &[&str]) -> ReferralState {
        ReferralState {
            event_id: id.into(),
            inviter_id: 1,
            invitee_id: 2,
            referred_at: at,
            converted_at: None,
            status: status.into(),
            fingerprint: fingerprint.iter().map(|s| s.to_string()).collect(),
            hold_reason: None,
        }
    }

    fn phone(value: &str) -> Identity {
        Identity {
            kind: IdentityKind::Phone,
            value: value.into(),
        }
    }

    #[test]
    fn signals_hash_devices_payments_and_phone_blocks() {
        let props = json!({"device_id": "dev-1", "payment_account": 6222, "other": "x"});
        let a = signals(props.as_object().unwrap(), [phone("+8613800138001")].iter());
        let b = signals(&Map::new(), [phone("+8613800138999")].iter());
        assert_eq!(a.len(), 3);
        assert!(a.iter().all(|s| !s.contains("dev-1") && !s.contains("138")));
        // Numbers of one block of a thousand share the signal; the device is not copied.
        assert_eq!(b.len(), 1);
        assert!(a.contains(b.iter().next().unwrap()));
        let c = signals(&Map::new(), [phone("+8613800139001")].iter());
        assert!(!a.contains(c.iter().next().unwrap()));
        assert_eq!(decode(&encode(&a)), a);
    }

    #[test]
    fn the_third_invitee_sharing_a_device_within_the_window_is_held() {
        let now = 100 * DAY;
        let this = referral("r3", now, "pending", &["device:aa", "phone_block:bb"]);
        let two = [
            referral("r1", now - DAY, "converted", &["device:aa"]),
            referral("r2", now - 2 * DAY, "held", &["device:aa", "payment:cc"]),
        ];
        let reason = hold_reason(&this, 7, two.iter()).expect("three share a device");
        assert!(reason.starts_with("3 invitees of member 7 within 30 days share one device (aa)"));
        assert!(reason.ends_with("referrals r1, r2"), "{reason}");
        // Two is not a run; nor are referrals outside the window, pending or refused.
        assert_eq!(hold_reason(&this, 7, two[..1].iter()), None);
        let far = [
            referral("r1", now - 40 * DAY, "converted", &["device:aa"]),
            referral("r2", now - DAY, "pending", &["device:aa"]),
            referral("r4", now - DAY, "refused_cycle", &["device:aa"]),
        ];
        assert_eq!(hold_reason(&this, 7, far.iter()), None);
        // A tie goes to the device, the plainest to check.
        let both = [
            referral(
                "r1",
                now - DAY,
                "converted",
                &["device:aa", "phone_block:bb"],
            ),
            referral(
                "r2",
                now - DAY,
                "converted",
                &["device:aa", "phone_block:bb"],
            ),
        ];
        assert!(
            hold_reason(&this, 7, both.iter())
                .unwrap()
                .contains("one device (aa)")
        );
        // Different signals do not add up.
        let mixed = [
            referral("r1", now - DAY, "converted", &["device:aa"]),
            referral("r2", now - DAY, "converted", &["phone_block:zz"]),
        ];
        assert_eq!(hold_reason(&this, 7, mixed.iter()), None);
    }
}
