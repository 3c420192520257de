//! Who may do what: API key roles, the permission table, and how keys are hashed.
//!
//! Keys are 160-bit random tokens, so a fast SHA-256 is the right hash (as for GitHub or
//! Stripe tokens): a slow password hash would add tens of milliseconds to every call
//! without making a random token any harder to guess.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Operator,
    Staff,
    Integrator,
    Finance,
    ReadOnly,
}

/// Things a call can need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    /// Push events (single, batch, import).
    WriteEvents,
    /// Read member documents, timelines, stage history, lookups.
    ReadMembers,
    /// Merge members by hand and decide identity conflicts.
    ManageIdentities,
    /// Read identity conflicts.
    ReadConflicts,
    /// Read aggregate statistics.
    ReadStats,
    /// Create and revoke API keys.
    ManageKeys,
    /// Read members' points, lots and ledgers, the rules, rewards and partners.
    ReadPoints,
    /// Redeem, cancel redemptions, transfer and exchange points for members.
    SpendPoints,
    /// Credit or debit points by hand (audited).
    AdjustPoints,
    /// Manage earning rules, the rewards catalogue and partner brands.
    ManagePoints,
    /// Finance reports: period totals, liability, trial balance, settlement.
    ReadFinance,
    /// Recompute every member's scores on demand (a full pass over the members).
    RecomputeScores,
    /// Read the audit log of manual changes.
    ReadAudit,
    /// Export everything held about one member (PIPL's right to a copy).
    ExportMembers,
    /// Erase a member's personal data (PIPL's right to erasure).
    EraseMembers,
    /// Define membership programmes: tiers, fees, upgrades, retention (admin only).
    ManageProgrammes,
    /// Set or end a member's tier by hand, with a reason (audited).
    ManageMemberships,
    /// Set and remove members' tags (audited).
    TagMembers,
    /// Define segments and tag dimensions (audited).
    ManageSegments,
    /// Set KPI targets (the marketing team's plan for a month).
    SetTargets,
    /// Write content, journeys and campaigns (audited).
    ManageEngagement,
    /// Record a member's consent to be contacted on a channel (audited).
    SetConsent,
    /// Define service queues and the staff roster (audited).
    ManageService,
    /// Open, answer, resolve, reopen, comment on and assign tickets (audited).
    HandleTickets,
    /// Keep the product catalogue, define coupons and issue them (audited).
    ManageMarketing,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Admin,
        Role::Operator,
        Role::Staff,
        Role::Integrator,
        Role::Finance,
        Role::ReadOnly,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Staff => "staff",
            Role::Integrator => "integrator",
            Role::Finance => "finance",
            Role::ReadOnly => "read_only",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The permission table. Integrators push data (and redeem for members) but cannot
    /// read people back; staff at the till read, record and redeem; finance reads and
    /// adjusts points by hand; read-only keys only read.
    pub fn allows(self, p: Permission) -> bool {
        use Permission::*;
        match self {
            Role::Admin => true,
            Role::Operator => matches!(
                p,
                WriteEvents
                    | ReadMembers
                    | ManageIdentities
                    | ReadConflicts
                    | ReadStats
                    | ReadPoints
                    | SpendPoints
                    | ManagePoints
                    | ManageMemberships
                    | TagMembers
                    | ManageSegments
                    | SetTargets
                    | ManageEngagement
                    | SetConsent
                    | ManageService
                    | HandleTickets
                    | ManageMarketing
            ),
            Role::Staff => matches!(
                p,
                WriteEvents
                    | ReadMembers
                    | ReadConflicts
                    | ReadPoints
                    | SpendPoints
                    | TagMembers
                    | SetConsent
                    | HandleTickets
            ),
            Role::Integrator => matches!(p, WriteEvents | SpendPoints),
            Role::Finance => matches!(
                p,
                ReadMembers | ReadStats | ReadPoints | AdjustPoints | ReadFinance
            ),
            Role::ReadOnly => matches!(
                p,
                ReadMembers | ReadConflicts | ReadStats | ReadPoints | ReadFinance
            ),
        }
    }
}

impl Role {
    /// Whether this role sees phone numbers and e-mail addresses whole. Staff at the till
    /// and integrators work with members without needing their contact details, so they
    /// (and read-only keys) see them masked in every answer and export. This is the one
    /// place that decides it.
    pub fn sees_personal_data(self) -> bool {
        matches!(self, Role::Admin | Role::Operator | Role::Finance)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// Builds a key `fw_<32 characters>` from caller-supplied random bytes (the core does no I/O).
pub fn format_key(random: &[u8; 32]) -> String {
    let body: String = random
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect();
    format!("fw_{body}")
}

/// The stored form of a key: lowercase hex SHA-256.
pub fn hash_key(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The first characters of a key, safe to show in listings and logs.
pub fn key_prefix(key: &str) -> String {
    key.chars().take(8).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integrators_push_events_but_cannot_read_members() {
        assert!(Role::Integrator.allows(Permission::WriteEvents));
        assert!(!Role::Integrator.allows(Permission::ReadMembers));
        assert!(!Role::ReadOnly.allows(Permission::WriteEvents));
        assert!(!Role::Staff.allows(Permission::ManageIdentities));
        assert!(Role::Admin.allows(Permission::ManageKeys));
        assert!(!Role::Operator.allows(Permission::ManageKeys));
    }

    #[test]
    fn only_admin_reads_the_audit_log_and_exports_or_erases_members() {
        for role in Role::ALL {
            for p in [
                Permission::ReadAudit,
                Permission::ExportMembers,
                Permission::EraseMembers,
            ] {
                assert_eq!(role.allows(p), role == Role::Admin, "{role} {p:?}");
            }
        }
    }

    #[test]
    fn staff_integrators_and_read_only_keys_see_personal_data_masked() {
        let whole: Vec<Role> = Role::ALL
            .into_iter()
            .filter(|r| r.sees_personal_data())
            .collect();
        assert_eq!(whole, [Role::Admin, Role::Operator, Role::Finance]);
    }

    #[test]
    fn keys_hash_stably_and_differ_by_input() {
        let key = format_key(&[7; 32]);
        assert!(key.starts_with("fw_") && key.len() == 35);
        assert_eq!(hash_key(&key), hash_key(&key));
        assert_ne!(hash_key(&key), hash_key("fw_other"));
        assert_eq!(
            hash_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
