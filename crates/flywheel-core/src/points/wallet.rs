//! A member's points in one programme, as lots. Each credit is a lot with the instant it
//! becomes available and the instant it expires; spending takes the earliest-expiring
//! available lots first. The wallet keeps its lots and its ledger accounts in step: every
//! operation that changes a lot also adds the matching lines to a [`Posting`], so the
//! wallet account always equals the sum of the available lots (expired ones included until
//! settled) and the pending account the sum of the pending ones.
//!
//! Time is always passed in. [`Wallet::settle`] posts what time alone has changed —
//! pending lots past their return window, lots past expiry — and every operation runs on
//! a settled wallet, so reads and writes agree whether or not a sweep has run.

use super::account::{Account, BrandAccount};
use super::posting::{Kind, LotMove, Posting};
use crate::ingest::MemberId;
use crate::time::Micros;
use std::collections::BTreeSet;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lot {
    pub id: String,
    pub member_id: MemberId,
    pub programme: String,
    pub earned_at: Micros,
    pub available_at: Micros,
    /// None: never expires.
    pub expires_at: Option<Micros>,
    /// Points credited to the lot in all.
    pub points: i64,
    pub remaining: i64,
    /// The remaining points still sit in the pending account.
    pub pending: bool,
    /// The order whose purchase earned it, so a refund reverses the right points.
    pub order_id: Option<String>,
}

impl Lot {
    fn expired(&self, now: Micros) -> bool {
        self.expires_at.is_some_and(|e| e <= now)
    }

    /// Spending order: earliest expiry first (never-expiring last), then oldest.
    fn spend_order(&self) -> (Micros, Micros, &str) {
        (
            self.expires_at.unwrap_or(Micros::MAX),
            self.earned_at,
            &self.id,
        )
    }
}

/// Points to credit: a new lot, or more points in the live lot with the same expiry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credit {
    pub lot_id: String,
    pub points: i64,
    pub earned_at: Micros,
    pub available_at: Micros,
    pub expires_at: Option<Micros>,
    pub order_id: Option<String>,
}

impl Credit {
    /// Points available at once, expiring as the policy says for points earned `now`
    /// (exchanges in, manual credits).
    pub fn fresh(lot_id: &str, points: i64, policy: &super::PointsPolicy, now: Micros) -> Credit {
        Credit {
            lot_id: lot_id.to_owned(),
            points,
            earned_at: now,
            available_at: now,
            expires_at: policy.expires_at(now),
            order_id: None,
        }
    }
}

/// Not enough available points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insufficient {
    pub available: i64,
    pub requested: i64,
}

/// Points taken from one lot by a debit, with that lot's expiry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Taken {
    pub lot_id: String,
    pub points: i64,
    pub expires_at: Option<Micros>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wallet {
    pub member_id: MemberId,
    pub programme: String,
    /// Lots with points left (others need not be loaded; spent ones stay until written).
    pub lots: Vec<Lot>,
    /// Points the member owes (the debt account's balance, negated).
    pub debt: i64,
    /// Ids of lots changed or created since loading.
    pub dirty: BTreeSet<String>,
    /// The earliest instant [`Wallet::settle`] could find something to post (None:
    /// unknown, scan). Lets a batch touch a member many times without rescanning lots.
    due: Option<Micros>,
}

/// What a member sees: points available now, pending, owed, and what expires when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    pub balance: i64,
    pub pending: i64,
    pub debt: i64,
    pub lots: Vec<LotSummary>,
    /// The points that expire first and when.
    pub next_expiry: Option<(i64, Micros)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LotSummary {
    pub points: i64,
    pub expires_at: Option<Micros>,
    pub available_at: Micros,
    pub pending: bool,
}

impl Wallet {
    pub fn new(member_id: MemberId, programme: &str) -> Wallet {
        Wallet {
            member_id,
            programme: programme.to_owned(),
            lots: Vec::new(),
            debt: 0,
            dirty: BTreeSet::new(),
            due: None,
        }
    }

    fn account(&self, kind: super::account::MemberAccount) -> Account {
        Account::member(self.member_id, &self.programme, kind)
    }

    fn wallet_account(&self) -> Account {
        Account::wallet(self.member_id, &self.programme)
    }

    fn brand(&self, kind: BrandAccount) -> Account {
        Account::brand(&self.programme, kind)
    }

    /// Posts what the passage of time changed by `now`: pending lots past their return
    /// window become available (repaying any debt first), then lots past expiry expire.
    /// Each lot gets its own posting, dated when it happened, keyed by the lot.
    pub fn settle(&mut self, now: Micros) -> Vec<Posting> {
        if self.due.is_some_and(|d| now < d) {
            return Vec::new();
        }
        let out = self.settle_scan(now);
        self.due = Some(
            self.lots
                .iter()
                .filter(|l| l.remaining > 0 || l.pending)
                .filter_map(|l| {
                    if l.pending {
                        Some(l.available_at)
                    } else {
                        l.expires_at
                    }
                })
                .min()
                .unwrap_or(Micros::MAX),
        );
        out
    }

    fn settle_scan(&mut self, now: Micros) -> Vec<Posting> {
        let mut out = Vec::new();
        let mut due: Vec<usize> = (0..self.lots.len())
            .filter(|&i| self.lots[i].pending && self.lots[i].available_at <= now)
            .collect();
        due.sort_by_key(|&i| (self.lots[i].available_at, self.lots[i].id.clone()));
        for i in due {
            let (id, points, at) = {
                let lot = &mut self.lots[i];
                lot.pending = false;
                (lot.id.clone(), lot.remaining, lot.available_at)
            };
            self.dirty.insert(id.clone());
            if points == 0 {
                continue;
            }
            let mut p = Posting::new(format!("mature:{id}"), Kind::Mature, &self.programme, at)
                .reason("return_window_passed")
                .source("lot", id.clone())
                .member(self.member_id);
            p.add(
                self.account(super::account::MemberAccount::Pending),
                -points,
            );
            let repaid = points.min(self.debt);
            if repaid > 0 {
                p.add(self.account(super::account::MemberAccount::Debt), repaid);
                self.debt -= repaid;
                self.lots[i].remaining -= repaid;
                p.lot_moves.push(LotMove {
                    lot_id: id.clone(),
                    points: -repaid,
                });
            }
            p.add(self.wallet_account(), points - repaid);
            out.push(p);
        }
        let mut expired: Vec<usize> = (0..self.lots.len())
            .filter(|&i| {
                let lot = &self.lots[i];
                !lot.pending && lot.remaining > 0 && lot.expired(now)
            })
            .collect();
        expired.sort_by_key(|&i| (self.lots[i].expires_at, self.lots[i].id.clone()));
        for i in expired {
            let lot = &mut self.lots[i];
            let points = lot.remaining;
            lot.remaining = 0;
            let id = lot.id.clone();
            let at = lot.expires_at.unwrap_or(now);
            self.dirty.insert(id.clone());
            let mut p = Posting::new(format!("expire:{id}"), Kind::Expire, &self.programme, at)
                .reason("expired")
                .source("lot", id.clone())
                .member(self.member_id);
            p.transfer(
                self.wallet_account(),
                self.brand(BrandAccount::Expiry),
                points,
            );
            p.lot_moves.push(LotMove {
                lot_id: id,
                points: -points,
            });
            out.push(p);
        }
        out
    }

    /// Points that can be spent now. Call on a settled wallet.
    pub fn available(&self, now: Micros) -> i64 {
        self.lots
            .iter()
            .filter(|l| !l.pending && !l.expired(now))
            .map(|l| l.remaining)
            .sum()
    }

    pub fn pending(&self) -> i64 {
        self.lots
            .iter()
            .filter(|l| l.pending)
            .map(|l| l.remaining)
            .sum()
    }

    /// Credits a new lot from `from`. A lot still inside its return window goes to the
    /// pending account; otherwise it first repays debt and the rest becomes available.
    pub fn credit(&mut self, posting: &mut Posting, from: Account, credit: Credit, now: Micros) {
        if credit.points <= 0 {
            return;
        }
        posting.add(from, -credit.points);
        let pending = credit.available_at > now;
        let mut remaining = credit.points;
        if pending {
            posting.add(
                self.account(super::account::MemberAccount::Pending),
                credit.points,
            );
        } else {
            let repaid = remaining.min(self.debt);
            if repaid > 0 {
                posting.add(self.account(super::account::MemberAccount::Debt), repaid);
                self.debt -= repaid;
                remaining -= repaid;
            }
            posting.add(self.wallet_account(), remaining);
        }
        if remaining == 0 {
            return;
        }
        let due = if pending {
            Some(credit.available_at)
        } else {
            credit.expires_at
        };
        if let (Some(current), Some(d)) = (self.due, due) {
            self.due = Some(current.min(d));
        }
        // Available points not tied to an order join the live lot with the same expiry:
        // they would be spent and expire together anyway, and a member who likes and
        // checks in every day keeps a handful of lots instead of thousands. Of several,
        // the one with the smallest id, whatever order the lots were loaded or made in.
        if !pending
            && credit.order_id.is_none()
            && let Some(lot) = self
                .lots
                .iter_mut()
                .filter(|l| {
                    !l.pending
                        && l.order_id.is_none()
                        && l.remaining > 0
                        && l.expires_at == credit.expires_at
                })
                .min_by(|a, b| a.id.cmp(&b.id))
        {
            lot.remaining += remaining;
            lot.points += remaining;
            self.dirty.insert(lot.id.clone());
            posting.lot_moves.push(LotMove {
                lot_id: lot.id.clone(),
                points: remaining,
            });
            return;
        }
        posting.lot_moves.push(LotMove {
            lot_id: credit.lot_id.clone(),
            points: remaining,
        });
        self.dirty.insert(credit.lot_id.clone());
        self.lots.push(Lot {
            id: credit.lot_id,
            member_id: self.member_id,
            programme: self.programme.clone(),
            earned_at: credit.earned_at,
            available_at: credit.available_at,
            expires_at: credit.expires_at,
            points: credit.points,
            remaining,
            pending,
            order_id: credit.order_id,
        });
    }

    /// Debits `points` from the earliest-expiring available lots into `to`. Call on a
    /// settled wallet. All or nothing.
    pub fn debit(
        &mut self,
        posting: &mut Posting,
        to: Account,
        points: i64,
        now: Micros,
    ) -> Result<Vec<Taken>, Insufficient> {
        let available = self.available(now);
        if points > available {
            return Err(Insufficient {
                available,
                requested: points,
            });
        }
        let taken = self.take(points, now, |_| true);
        posting.transfer(self.wallet_account(), to, points);
        for t in &taken {
            posting.lot_moves.push(LotMove {
                lot_id: t.lot_id.clone(),
                points: -t.points,
            });
        }
        Ok(taken)
    }

    /// Takes up to `points` from available lots that pass `filter`, in spending order.
    fn take(&mut self, points: i64, now: Micros, filter: impl Fn(&Lot) -> bool) -> Vec<Taken> {
        let mut order: Vec<usize> = (0..self.lots.len())
            .filter(|&i| {
                let l = &self.lots[i];
                !l.pending && !l.expired(now) && l.remaining > 0 && filter(l)
            })
            .collect();
        order.sort_by(|&a, &b| self.lots[a].spend_order().cmp(&self.lots[b].spend_order()));
        let mut left = points;
        let mut taken = Vec::new();
        for i in order {
            if left == 0 {
                break;
            }
            let lot = &mut self.lots[i];
            let n = left.min(lot.remaining);
            lot.remaining -= n;
            left -= n;
            self.dirty.insert(lot.id.clone());
            taken.push(Taken {
                lot_id: lot.id.clone(),
                points: n,
                expires_at: lot.expires_at,
            });
        }
        taken
    }

    /// Reverses `points` earned by `order_id` after a refund: first from that order's
    /// pending lots (they were never available, so they go back to issuance), then from
    /// its available lots, then from the earliest-expiring others (clawed back); what is
    /// still missing becomes debt. Call on a settled wallet.
    pub fn reverse_order(
        &mut self,
        posting: &mut Posting,
        order_id: &str,
        points: i64,
        now: Micros,
    ) {
        let mut left = points;
        let pending_account = self.account(super::account::MemberAccount::Pending);
        for lot in self
            .lots
            .iter_mut()
            .filter(|l| l.pending && l.order_id.as_deref() == Some(order_id))
        {
            if left == 0 {
                break;
            }
            let n = left.min(lot.remaining);
            if n == 0 {
                continue;
            }
            lot.remaining -= n;
            left -= n;
            self.dirty.insert(lot.id.clone());
            posting.transfer(
                pending_account.clone(),
                Account::brand(&self.programme, BrandAccount::Issuance),
                n,
            );
            posting.lot_moves.push(LotMove {
                lot_id: lot.id.clone(),
                points: -n,
            });
        }
        let own = self.take(left, now, |l| l.order_id.as_deref() == Some(order_id));
        let own_points: i64 = own.iter().map(|t| t.points).sum();
        left -= own_points;
        let others = self.take(left, now, |_| true);
        let other_points: i64 = others.iter().map(|t| t.points).sum();
        left -= other_points;
        for t in own.iter().chain(&others) {
            posting.lot_moves.push(LotMove {
                lot_id: t.lot_id.clone(),
                points: -t.points,
            });
        }
        posting.transfer(
            self.wallet_account(),
            self.brand(BrandAccount::Clawback),
            own_points + other_points,
        );
        if left > 0 {
            posting.transfer(
                self.account(super::account::MemberAccount::Debt),
                self.brand(BrandAccount::Clawback),
                left,
            );
            self.debt += left;
        }
    }

    /// Returns points a debit took back to their lots, taking them from `from`. Points
    /// whose lot has expired meanwhile go straight to expiry. `lots` are the lots named by
    /// `moves` (loaded whatever their remaining points). Returns (returned, expired).
    pub fn restore(
        &mut self,
        posting: &mut Posting,
        from: Account,
        moves: &[LotMove],
        lots: &[Lot],
        now: Micros,
    ) -> (i64, i64) {
        self.due = None;
        let (mut returned, mut expired) = (0, 0);
        for m in moves.iter().filter(|m| m.points < 0) {
            let n = -m.points;
            if !self.lots.iter().any(|l| l.id == m.lot_id) {
                let Some(lot) = lots.iter().find(|l| l.id == m.lot_id) else {
                    continue;
                };
                let mut lot = lot.clone();
                lot.remaining = 0;
                lot.member_id = self.member_id;
                self.lots.push(lot);
            }
            let lot = self
                .lots
                .iter_mut()
                .find(|l| l.id == m.lot_id)
                .expect("lot was just loaded");
            if lot.expired(now) {
                expired += n;
                continue;
            }
            lot.remaining += n;
            returned += n;
            self.dirty.insert(lot.id.clone());
            posting.lot_moves.push(LotMove {
                lot_id: lot.id.clone(),
                points: n,
            });
        }
        posting.add(from, -(returned + expired));
        posting.add(self.wallet_account(), returned);
        posting.add(self.brand(BrandAccount::Expiry), expired);
        (returned, expired)
    }

    /// Forfeits every point the member holds, available and pending, to the brand's
    /// expiry account (they can never be spent: the member's identity was erased). Debt
    /// stays as it is. Returns the points forfeited.
    pub fn forfeit(&mut self, posting: &mut Posting) -> i64 {
        use super::account::MemberAccount::{Pending, Wallet as W};
        let (mut available, mut pending) = (0i64, 0i64);
        for lot in self.lots.iter_mut().filter(|l| l.remaining > 0) {
            if lot.pending {
                pending += lot.remaining;
            } else {
                available += lot.remaining;
            }
            posting.lot_moves.push(LotMove {
                lot_id: lot.id.clone(),
                points: -lot.remaining,
            });
            lot.remaining = 0;
            self.dirty.insert(lot.id.clone());
        }
        let expiry = self.brand(BrandAccount::Expiry);
        posting.transfer(self.account(W), expiry.clone(), available);
        posting.transfer(self.account(Pending), expiry, pending);
        self.due = None;
        available + pending
    }

    /// Takes over a merged member's wallet: its lots, its pending points and its debt.
    pub fn absorb(&mut self, posting: &mut Posting, other: Wallet) {
        use super::account::MemberAccount::{Debt, Pending, Wallet as W};
        let available: i64 = other
            .lots
            .iter()
            .filter(|l| !l.pending)
            .map(|l| l.remaining)
            .sum();
        let pending: i64 = other
            .lots
            .iter()
            .filter(|l| l.pending)
            .map(|l| l.remaining)
            .sum();
        posting.transfer(other.account(W), self.account(W), available);
        posting.transfer(other.account(Pending), self.account(Pending), pending);
        posting.transfer(self.account(Debt), other.account(Debt), other.debt);
        self.debt += other.debt;
        self.due = None;
        for mut lot in other.lots {
            lot.member_id = self.member_id;
            self.dirty.insert(lot.id.clone());
            self.lots.push(lot);
        }
    }

    /// The member's view at `now`, as if settled (the wallet itself is unchanged).
    pub fn summary(&self, now: Micros) -> Summary {
        let mut settled = self.clone();
        settled.settle(now);
        let mut lots: Vec<&Lot> = settled.lots.iter().filter(|l| l.remaining > 0).collect();
        lots.sort_by_key(|l| l.spend_order());
        let next_expiry = lots
            .iter()
            .filter(|l| !l.pending)
            .filter_map(|l| l.expires_at)
            .min()
            .map(|first| {
                let points = lots
                    .iter()
                    .filter(|l| !l.pending && l.expires_at == Some(first))
                    .map(|l| l.remaining)
                    .sum();
                (points, first)
            });
        Summary {
            balance: settled.available(now),
            pending: settled.pending(),
            debt: settled.debt,
            lots: lots
                .iter()
                .map(|l| LotSummary {
                    points: l.remaining,
                    expires_at: l.expires_at,
                    available_at: l.available_at,
                    pending: l.pending,
                })
                .collect(),
            next_expiry,
        }
    }
}
