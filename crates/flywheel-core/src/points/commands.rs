//! Spending and moving points: redemption and its cancellation, transfers between
//! members, exchange with partner brands, manual adjustments. Each takes settled wallets
//! and returns the posting to write; the store runs them under the members' row locks.

use super::account::{Account, BrandAccount};
use super::policy::PointsPolicy;
use super::posting::{Kind, LotMove, Posting};
use super::wallet::{Credit, Insufficient, Lot, Wallet};
use crate::time::Micros;
use std::collections::BTreeMap;

/// Debits `points` from `wallet` for a redemption.
pub fn redeem(
    wallet: &mut Wallet,
    key: &str,
    redemption_id: &str,
    points: i64,
    now: Micros,
) -> Result<Posting, Insufficient> {
    let mut p = Posting::new(key, Kind::Redeem, &wallet.programme.clone(), now)
        .reason("redemption")
        .source("redemption", redemption_id)
        .member(wallet.member_id);
    let to = Account::brand(&wallet.programme, BrandAccount::Redemption);
    wallet.debit(&mut p, to, points, now)?;
    Ok(p)
}

/// Debits `points` from `wallet` as the part of a membership fee paid in points. It is
/// a redemption in the books (points given up for something of value), told apart by its
/// reason and source.
pub fn pay_membership_fee(
    wallet: &mut Wallet,
    key: &str,
    purchase_id: &str,
    points: i64,
    now: Micros,
) -> Result<Posting, Insufficient> {
    let mut p = Posting::new(key, Kind::Redeem, &wallet.programme.clone(), now)
        .reason("membership fee")
        .source("membership", purchase_id)
        .member(wallet.member_id);
    let to = Account::brand(&wallet.programme, BrandAccount::Redemption);
    wallet.debit(&mut p, to, points, now)?;
    Ok(p)
}

/// Returns the points part of a cancelled membership purchase to the lots it came from
/// (those past expiry go to expiry), as a cancelled redemption does.
pub fn refund_membership_fee(
    wallet: &mut Wallet,
    key: &str,
    purchase_id: &str,
    moves: &[LotMove],
    lots: &[Lot],
    now: Micros,
) -> Posting {
    let mut p = Posting::new(key, Kind::CancelRedemption, &wallet.programme.clone(), now)
        .reason("membership fee returned")
        .source("membership", purchase_id)
        .member(wallet.member_id);
    let from = Account::brand(&wallet.programme, BrandAccount::Redemption);
    wallet.restore(&mut p, from, moves, lots, now);
    p
}

/// Debits an activity's points cost when the member's seat is confirmed: a redemption
/// in the books, as a membership fee is.
pub fn pay_activity_fee(
    wallet: &mut Wallet,
    key: &str,
    activity_id: &str,
    points: i64,
    now: Micros,
) -> Result<Posting, Insufficient> {
    let mut p = Posting::new(key, Kind::Redeem, &wallet.programme.clone(), now)
        .reason("activity fee")
        .source("activity", activity_id)
        .member(wallet.member_id);
    let to = Account::brand(&wallet.programme, BrandAccount::Redemption);
    wallet.debit(&mut p, to, points, now)?;
    Ok(p)
}

/// Gives an activity's points back to the lots they came from when the member cancels
/// before it starts (or it is cancelled).
pub fn refund_activity_fee(
    wallet: &mut Wallet,
    key: &str,
    activity_id: &str,
    moves: &[LotMove],
    lots: &[Lot],
    now: Micros,
) -> Posting {
    let mut p = Posting::new(key, Kind::CancelRedemption, &wallet.programme.clone(), now)
        .reason("activity fee returned")
        .source("activity", activity_id)
        .member(wallet.member_id);
    let from = Account::brand(&wallet.programme, BrandAccount::Redemption);
    wallet.restore(&mut p, from, moves, lots, now);
    p
}

/// Returns a cancelled redemption's points to the lots they came from (`moves` are the
/// redemption posting's lot moves; `lots` those lots as stored). Points of lots that
/// expired meanwhile go to expiry.
pub fn cancel_redemption(
    wallet: &mut Wallet,
    key: &str,
    redemption_id: &str,
    moves: &[LotMove],
    lots: &[Lot],
    now: Micros,
) -> Posting {
    let mut p = Posting::new(key, Kind::CancelRedemption, &wallet.programme.clone(), now)
        .reason("redemption cancelled")
        .source("redemption", redemption_id)
        .member(wallet.member_id);
    let from = Account::brand(&wallet.programme, BrandAccount::Redemption);
    wallet.restore(&mut p, from, moves, lots, now);
    p
}

/// Moves `points` from one member to another. The receiver's points keep the expiry of
/// the sender's lots they came from, so passing points on never extends their life.
pub fn transfer(
    from: &mut Wallet,
    to: &mut Wallet,
    key: &str,
    points: i64,
    now: Micros,
) -> Result<Posting, Insufficient> {
    let mut p = Posting::new(key, Kind::Transfer, &from.programme.clone(), now)
        .reason(format!("transfer to member {}", to.member_id))
        .source("transfer", key)
        .member(from.member_id);
    // Take the lots (the debit's two lines are both the sender's wallet, so they cancel),
    // then credit the receiver lot by lot out of the sender's wallet, grouped by expiry;
    // a receiver in debt repays it first, as with any credit.
    let own = Account::wallet(from.member_id, &from.programme);
    let taken = from.debit(&mut p, own.clone(), points, now)?;
    let mut by_expiry: BTreeMap<Option<Micros>, i64> = BTreeMap::new();
    for t in taken {
        *by_expiry.entry(t.expires_at).or_default() += t.points;
    }
    for (n, (expires_at, pts)) in by_expiry.into_iter().enumerate() {
        let credit = Credit {
            lot_id: format!("{key}/{n}"),
            points: pts,
            earned_at: now,
            available_at: now,
            expires_at,
            order_id: None,
        };
        to.credit(&mut p, own.clone(), credit, now);
    }
    Ok(p)
}

/// Why an exchange cannot be made at a partner's rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExchangeRateError {
    /// Our points must be a multiple of this for the exchange to come out exact.
    Inexact { step: i64 },
    /// The partner's points would be more than `max`.
    TooLarge { max: i64 },
}

/// Partner points for `points` of ours at `rate_ours : rate_theirs`: exact, and no more
/// than `max` (the most one posting may carry).
pub fn partner_points(
    points: i64,
    rate_ours: i64,
    rate_theirs: i64,
    max: i64,
) -> Result<i64, ExchangeRateError> {
    let product = i128::from(points) * i128::from(rate_theirs);
    if product % i128::from(rate_ours) != 0 {
        let step = rate_ours / gcd(rate_ours, rate_theirs);
        return Err(ExchangeRateError::Inexact { step });
    }
    i64::try_from(product / i128::from(rate_ours))
        .ok()
        .filter(|p| *p <= max)
        .ok_or(ExchangeRateError::TooLarge { max })
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 { a.abs() } else { gcd(b, a % b) }
}

/// Sends `points` to a partner: from the member's lots into the partner's clearing account.
pub fn exchange_out(
    wallet: &mut Wallet,
    partner_id: &str,
    key: &str,
    points: i64,
    now: Micros,
) -> Result<Posting, Insufficient> {
    let mut p = Posting::new(key, Kind::ExchangeOut, &wallet.programme.clone(), now)
        .reason(format!("exchanged out to {partner_id}"))
        .source("exchange", key)
        .member(wallet.member_id);
    let clearing = Account::clearing(partner_id, &wallet.programme);
    wallet.debit(&mut p, clearing, points, now)?;
    Ok(p)
}

/// Brings `points` in from a partner: out of its clearing account into a new lot.
pub fn exchange_in(
    wallet: &mut Wallet,
    partner_id: &str,
    key: &str,
    points: i64,
    policy: &PointsPolicy,
    now: Micros,
) -> Posting {
    let mut p = Posting::new(key, Kind::ExchangeIn, &wallet.programme.clone(), now)
        .reason(format!("exchanged in from {partner_id}"))
        .source("exchange", key)
        .member(wallet.member_id);
    let credit = Credit::fresh(key, points, policy, now);
    wallet.credit(
        &mut p,
        Account::clearing(partner_id, &wallet.programme),
        credit,
        now,
    );
    p
}

/// Forfeits all of a member's points (available and pending) because their personal
/// data was erased: posted as expiry, so finance reports count it as breakage.
pub fn forfeit(wallet: &mut Wallet, key: &str, now: Micros) -> (Posting, i64) {
    let mut p = Posting::new(key, Kind::Expire, &wallet.programme.clone(), now)
        .reason("forfeited: the member's personal data was erased")
        .source("erasure", wallet.member_id.to_string())
        .member(wallet.member_id);
    let points = wallet.forfeit(&mut p);
    (p, points)
}

/// A manual correction: a positive amount credits a new lot, a negative one debits the
/// earliest-expiring lots (never below zero).
pub fn adjust(
    wallet: &mut Wallet,
    key: &str,
    points: i64,
    reason: &str,
    actor: &str,
    policy: &PointsPolicy,
    now: Micros,
) -> Result<Posting, Insufficient> {
    let mut p = Posting::new(key, Kind::Adjust, &wallet.programme.clone(), now)
        .reason(reason)
        .source("adjustment", key)
        .member(wallet.member_id)
        .actor(actor);
    let account = Account::brand(&wallet.programme, BrandAccount::Adjustment);
    if points > 0 {
        wallet.credit(
            &mut p,
            account,
            Credit::fresh(key, points, policy, now),
            now,
        );
    } else {
        wallet.debit(&mut p, account, -points, now)?;
    }
    Ok(p)
}
