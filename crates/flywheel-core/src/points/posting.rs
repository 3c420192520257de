//! A ledger transaction: balanced entries plus why it happened. Postings are built in
//! memory by the wallet and the earning engine and written as they are; once written
//! they never change — a correction is another posting.

use super::account::Account;
use crate::ingest::MemberId;
use crate::time::Micros;
use std::collections::BTreeMap;

/// What a posting does. The code is stored with every entry, so reports group by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Points awarded by an earning rule.
    Earn,
    /// Pending points passing their return window.
    Mature,
    /// Points of a lot past its expiry.
    Expire,
    /// Points taken back because their purchase was refunded.
    Refund,
    Redeem,
    CancelRedemption,
    Transfer,
    ExchangeOut,
    ExchangeIn,
    Adjust,
    /// A merged member's points moving to the surviving member.
    Merge,
}

impl Kind {
    pub const ALL: [Kind; 11] = [
        Kind::Earn,
        Kind::Mature,
        Kind::Expire,
        Kind::Refund,
        Kind::Redeem,
        Kind::CancelRedemption,
        Kind::Transfer,
        Kind::ExchangeOut,
        Kind::ExchangeIn,
        Kind::Adjust,
        Kind::Merge,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Earn => "earn",
            Kind::Mature => "mature",
            Kind::Expire => "expire",
            Kind::Refund => "refund",
            Kind::Redeem => "redeem",
            Kind::CancelRedemption => "cancel_redemption",
            Kind::Transfer => "transfer",
            Kind::ExchangeOut => "exchange_out",
            Kind::ExchangeIn => "exchange_in",
            Kind::Adjust => "adjust",
            Kind::Merge => "merge",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Points moved into (+) or out of (−) a lot by a posting; kept so a cancelled
/// redemption returns its points to the very lots they came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LotMove {
    pub lot_id: String,
    pub points: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Posting {
    /// Unique and deterministic: writing the same posting twice is refused by the store,
    /// which is what makes every write idempotent under retry.
    pub key: String,
    pub kind: Kind,
    pub programme: String,
    /// A readable reason code, e.g. `rule:purchase`, `refund`, `expired`, or the reason an
    /// operator typed for an adjustment.
    pub reason: String,
    /// What caused it: `event`, `referral`, `redemption`, `transfer`, `exchange`,
    /// `adjustment`, `lot`, `merge`.
    pub source_type: &'static str,
    pub source_id: String,
    pub rule_id: Option<String>,
    pub actor: Option<String>,
    /// The member it is about (the sender, for a transfer).
    pub member_id: Option<MemberId>,
    /// When it takes effect.
    pub at: Micros,
    pub entries: BTreeMap<Account, i64>,
    pub lot_moves: Vec<LotMove>,
}

impl Posting {
    pub fn new(key: impl Into<String>, kind: Kind, programme: &str, at: Micros) -> Posting {
        Posting {
            key: key.into(),
            kind,
            programme: programme.to_owned(),
            reason: kind.as_str().to_owned(),
            source_type: "lot",
            source_id: String::new(),
            rule_id: None,
            actor: None,
            member_id: None,
            at,
            entries: BTreeMap::new(),
            lot_moves: Vec::new(),
        }
    }

    pub fn reason(mut self, reason: impl Into<String>) -> Posting {
        self.reason = reason.into();
        self
    }

    pub fn source(mut self, source_type: &'static str, source_id: impl Into<String>) -> Posting {
        self.source_type = source_type;
        self.source_id = source_id.into();
        self
    }

    pub fn member(mut self, member_id: MemberId) -> Posting {
        self.member_id = Some(member_id);
        self
    }

    pub fn actor(mut self, actor: impl Into<String>) -> Posting {
        self.actor = Some(actor.into());
        self
    }

    /// Adds `amount` to `account`'s line (lines for one account are netted).
    pub fn add(&mut self, account: Account, amount: i64) {
        if amount == 0 {
            return;
        }
        let line = self.entries.entry(account).or_insert(0);
        *line += amount;
        if *line == 0 {
            let zero: Vec<Account> = self
                .entries
                .iter()
                .filter(|(_, v)| **v == 0)
                .map(|(k, _)| k.clone())
                .collect();
            for k in zero {
                self.entries.remove(&k);
            }
        }
    }

    /// Moves `amount` from one account to another.
    pub fn transfer(&mut self, from: Account, to: Account, amount: i64) {
        self.add(from, -amount);
        self.add(to, amount);
    }

    pub fn is_balanced(&self) -> bool {
        self.entries.values().sum::<i64>() == 0
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The net amount on one account.
    pub fn amount_on(&self, account: &Account) -> i64 {
        self.entries.get(account).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::points::account::BrandAccount;

    #[test]
    fn lines_for_one_account_net_out() {
        let mut p = Posting::new("k", Kind::Earn, "points", 0);
        p.transfer(
            Account::brand("points", BrandAccount::Issuance),
            Account::wallet(1, "points"),
            10,
        );
        p.transfer(Account::wallet(1, "points"), Account::debt(1, "points"), 10);
        assert!(p.is_balanced());
        assert_eq!(p.entries.len(), 2);
        assert_eq!(p.amount_on(&Account::wallet(1, "points")), 0);
    }
}
