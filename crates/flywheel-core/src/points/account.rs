//! Ledger accounts. Each member holds three per programme — `wallet` (available points,
//! including any not yet swept past expiry), `pending` (earned, waiting out the return
//! window) and `debt` (negative when a clawback found the wallet short) — and the brand
//! holds one account per purpose, plus one clearing account per partner brand.
//!
//! Sign convention: a member account's balance is what the member holds; the brand's
//! issuance account runs negative (points come from there), redemption, expiry and
//! clawback run positive (points end there). Every transaction sums to zero, so the
//! balances of all accounts always sum to zero.

use crate::ingest::MemberId;
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MemberAccount {
    Wallet,
    Pending,
    Debt,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BrandAccount {
    Issuance,
    Redemption,
    Expiry,
    Clawback,
    Adjustment,
}

impl BrandAccount {
    pub const ALL: [BrandAccount; 5] = [
        BrandAccount::Issuance,
        BrandAccount::Redemption,
        BrandAccount::Expiry,
        BrandAccount::Clawback,
        BrandAccount::Adjustment,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BrandAccount::Issuance => "issuance",
            BrandAccount::Redemption => "redemption",
            BrandAccount::Expiry => "expiry",
            BrandAccount::Clawback => "clawback",
            BrandAccount::Adjustment => "adjustment",
        }
    }
}

impl MemberAccount {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberAccount::Wallet => "wallet",
            MemberAccount::Pending => "pending",
            MemberAccount::Debt => "debt",
        }
    }
}

/// One account of one programme.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Account {
    Member {
        member_id: MemberId,
        programme: String,
        kind: MemberAccount,
    },
    Brand {
        programme: String,
        kind: BrandAccount,
    },
    Clearing {
        partner_id: String,
        programme: String,
    },
}

impl Account {
    pub fn wallet(member_id: MemberId, programme: &str) -> Account {
        Account::member(member_id, programme, MemberAccount::Wallet)
    }

    pub fn pending(member_id: MemberId, programme: &str) -> Account {
        Account::member(member_id, programme, MemberAccount::Pending)
    }

    pub fn debt(member_id: MemberId, programme: &str) -> Account {
        Account::member(member_id, programme, MemberAccount::Debt)
    }

    pub fn member(member_id: MemberId, programme: &str, kind: MemberAccount) -> Account {
        Account::Member {
            member_id,
            programme: programme.to_owned(),
            kind,
        }
    }

    pub fn brand(programme: &str, kind: BrandAccount) -> Account {
        Account::Brand {
            programme: programme.to_owned(),
            kind,
        }
    }

    pub fn clearing(partner_id: &str, programme: &str) -> Account {
        Account::Clearing {
            partner_id: partner_id.to_owned(),
            programme: programme.to_owned(),
        }
    }

    /// The account's type as stored beside each entry (`wallet`, `issuance`, `clearing`…).
    pub fn type_name(&self) -> &'static str {
        match self {
            Account::Member { kind, .. } => kind.as_str(),
            Account::Brand { kind, .. } => kind.as_str(),
            Account::Clearing { .. } => "clearing",
        }
    }

    pub fn member_id(&self) -> Option<MemberId> {
        match self {
            Account::Member { member_id, .. } => Some(*member_id),
            _ => None,
        }
    }

    pub fn partner_id(&self) -> Option<&str> {
        match self {
            Account::Clearing { partner_id, .. } => Some(partner_id),
            _ => None,
        }
    }

    pub fn programme(&self) -> &str {
        match self {
            Account::Member { programme, .. }
            | Account::Brand { programme, .. }
            | Account::Clearing { programme, .. } => programme,
        }
    }
}

/// The stored code: `member:42:points:wallet`, `brand:points:issuance`,
/// `partner:airline:points:clearing`.
impl fmt::Display for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Account::Member {
                member_id,
                programme,
                kind,
            } => write!(f, "member:{member_id}:{programme}:{}", kind.as_str()),
            Account::Brand { programme, kind } => {
                write!(f, "brand:{programme}:{}", kind.as_str())
            }
            Account::Clearing {
                partner_id,
                programme,
            } => write!(f, "partner:{partner_id}:{programme}:clearing"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_name_owner_programme_and_purpose() {
        assert_eq!(
            Account::wallet(42, "points").to_string(),
            "member:42:points:wallet"
        );
        assert_eq!(
            Account::brand("points", BrandAccount::Issuance).to_string(),
            "brand:points:issuance"
        );
        assert_eq!(
            Account::clearing("airline", "points").to_string(),
            "partner:airline:points:clearing"
        );
        assert_eq!(Account::debt(1, "points").type_name(), "debt");
    }
}
