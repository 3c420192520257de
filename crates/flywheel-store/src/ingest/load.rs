//! Loading what a batch can reach: which of its events were seen before, and the
//! working set — the owners of its identities and orders, the pending referrals of
//! those members and their inviters — locked for the rest of the transaction.

use super::EventResult;
use super::ids::reserve_member_ids;
use crate::cache::{MemberCache, Reached};
use crate::db::Backend;
use crate::dialect::{lock_identity_keys, select_members_for_update};
use crate::error::StoreError;
use crate::rows::{
    ORDER_SELECT, REFERRAL_SELECT, identity_from_row, member_from_row, order_from_row,
    referral_from_row,
};
use crate::sql::{Val, select_in, select_in_binding};
use flywheel_core::ErrorCode;
use flywheel_core::Identity;
use flywheel_core::event::{Event, Payload};
use flywheel_core::identity::IdentityKind;
use flywheel_core::ingest::farming;
use flywheel_core::ingest::{MemberId, MemberState, ReferralState, Rejection, WorkingSet};
use sqlx::{AnyConnection, Row};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Which events of a batch were seen before, in the store or earlier in the batch.
pub(super) struct Seen<'a> {
    /// The stored events among the batch's ids: their member and digest.
    pub stored: HashMap<String, (MemberId, Option<String>)>,
    /// Each event's digest, by position.
    pub digests: Vec<String>,
    /// Where each id first appears in the batch.
    pub first_index: HashMap<&'a str, usize>,
    /// The positions of the events never seen before, in order.
    pub fresh: Vec<usize>,
    /// By position: `event_id_reused` where a seen id came with other content; None
    /// for the rest, for now.
    pub results: Vec<Option<EventResult>>,
}

impl<'a> Seen<'a> {
    /// Every event new (a replay of the event log, whose events are stored already).
    pub fn all_fresh(events: &'a [Event]) -> Seen<'a> {
        let mut first_index = HashMap::new();
        for (i, e) in events.iter().enumerate() {
            first_index.entry(e.event_id.as_str()).or_insert(i);
        }
        Seen {
            stored: HashMap::new(),
            digests: events.iter().map(Event::digest).collect(),
            first_index,
            fresh: (0..events.len()).collect(),
            results: vec![None; events.len()],
        }
    }
}

/// Looks up the batch's ids. A seen id with other content is refused
/// (`event_id_reused`), never taken as a resend.
pub(super) async fn seen_before<'a>(
    conn: &mut AnyConnection,
    events: &'a [Event],
) -> Result<Seen<'a>, StoreError> {
    let ids: BTreeSet<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
    let rows = select_in(
        conn,
        "SELECT event_id, member_id, digest FROM events WHERE event_id",
        ids.iter().map(|i| Val::from(*i)),
        "",
    )
    .await?;
    let mut stored: HashMap<String, (MemberId, Option<String>)> = HashMap::new();
    for r in rows {
        stored.insert(
            r.try_get("event_id")?,
            (r.try_get("member_id")?, r.try_get("digest")?),
        );
    }
    let digests: Vec<String> = events.iter().map(Event::digest).collect();
    let mut results: Vec<Option<EventResult>> = vec![None; events.len()];
    let mut first_index: HashMap<&str, usize> = HashMap::new();
    let mut fresh: Vec<usize> = Vec::with_capacity(events.len());
    for (i, event) in events.iter().enumerate() {
        let id = event.event_id.as_str();
        let earlier = match stored.get(id) {
            Some((_, digest)) => digest.as_deref(),
            None => match *first_index.entry(id).or_insert(i) {
                first if first == i => {
                    fresh.push(i);
                    continue;
                }
                first => Some(digests[first].as_str()),
            },
        };
        if earlier.is_some_and(|d| d != digests[i]) {
            results[i] = Some(EventResult::Rejected(reused(id)));
        }
    }

    Ok(Seen {
        stored,
        digests,
        first_index,
        fresh,
        results,
    })
}

pub(super) fn reused(event_id: &str) -> Rejection {
    Rejection {
        code: ErrorCode::EventIdReused,
        field: Some("event_id".into()),
        message: format!(
            "event_id {event_id:?} was already used for an event with different content; \
             give this event an id of its own"
        ),
    }
}

/// Every identity set a batch names: each event's identities and each referrer's.
fn identity_sets<'a>(events: impl Iterator<Item = &'a Event> + Clone) -> Vec<&'a [Identity]> {
    let mut sets = Vec::new();
    for e in events {
        sets.push(e.identities.as_slice());
        if let Payload::Referral { referrer } = &e.payload {
            sets.push(referrer.as_slice());
        }
    }
    sets
}

/// Loads everything `events` can reach: the owners of their identities, the owners of
/// their orders, the referrals of those members and the inviters of the pending ones
/// (with `rebates`, of the converted ones too) —
/// from `cache` where it has them, from the database otherwise — and says what it
/// looked up, for the cache to keep after the commit.
pub(crate) async fn load_working_set<'a>(
    conn: &mut AnyConnection,
    backend: Backend,
    unique_kinds: &[IdentityKind],
    events: impl Iterator<Item = &'a Event> + Clone,
    cache: Option<&MemberCache>,
    rebates: bool,
) -> Result<(WorkingSet, Reached), StoreError> {
    let sets = identity_sets(events.clone());
    let identities: BTreeMap<String, &Identity> = sets
        .iter()
        .flat_map(|s| s.iter().map(|i| (i.key(), i)))
        .collect();
    let keys: Vec<String> = identities.keys().cloned().collect();
    lock_identity_keys(conn, backend, &keys).await?;
    let mut named: HashMap<MemberId, Vec<Identity>> = HashMap::new();
    let mut unknown_keys: Vec<&str> = Vec::new();
    for (key, identity) in &identities {
        match cache.and_then(|c| c.owner(key)) {
            Some(Some(member)) => named.entry(member).or_default().push((*identity).clone()),
            Some(None) => {}
            None => unknown_keys.push(key),
        }
    }
    for row in select_in(
        conn,
        "SELECT key, member_id FROM identities WHERE key",
        unknown_keys.into_iter().map(Val::from),
        "",
    )
    .await?
    {
        let (identity, member) = identity_from_row(&row)?;
        named.entry(member).or_default().push(identity);
    }
    let mut wanted: BTreeSet<MemberId> = named.keys().copied().collect();

    let order_ids: BTreeSet<&str> = events
        .clone()
        .filter_map(|e| match &e.payload {
            Payload::Purchase(p) => Some(p.order_id.as_str()),
            Payload::Refund { order_id, .. } => Some(order_id.as_str()),
            _ => None,
        })
        .collect();
    let mut ws = WorkingSet::default();
    let mut unknown_orders: Vec<&str> = Vec::new();
    for &id in &order_ids {
        match cache.and_then(|c| c.order(id)) {
            Some(Some(order)) => {
                wanted.insert(order.member_id);
                ws.orders.insert(order.order_id.clone(), order.clone());
            }
            Some(None) => {}
            None => unknown_orders.push(id),
        }
    }
    let head = format!("{ORDER_SELECT} order_id");
    for row in select_in(conn, &head, unknown_orders.into_iter().map(Val::from), "").await? {
        let order = order_from_row(&row)?;
        wanted.insert(order.member_id);
        ws.orders.insert(order.order_id.clone(), order);
    }

    // A review of a held referral needs its invitee's referrals in full (the cache keeps
    // them by invitee) and, through them, its inviter.
    let reviewed: Vec<&str> = events
        .clone()
        .filter_map(|e| match &e.payload {
            Payload::ReferralReview {
                referral_event_id, ..
            } => Some(referral_event_id.as_str()),
            _ => None,
        })
        .collect();
    if !reviewed.is_empty() {
        let head = "SELECT invitee_id FROM referrals WHERE event_id";
        for row in select_in(conn, head, reviewed.into_iter().map(Val::from), "").await? {
            wanted.insert(row.try_get("invitee_id")?);
        }
    }

    let scope = IdentityScope::ForResolution {
        named: &named,
        unique_kinds,
    };
    load_members(conn, backend, &scope, &mut ws, wanted, cache).await?;
    let invitees: Vec<MemberId> = ws.members.keys().copied().collect();
    let mut inviters = BTreeSet::new();
    let mut unknown_invitees: Vec<MemberId> = Vec::new();
    let mut referrals: Vec<ReferralState> = Vec::new();
    for &id in &invitees {
        match cache.and_then(|c| c.referrals_of(id)) {
            Some(cached) => referrals.extend(cached.iter().cloned()),
            None => unknown_invitees.push(id),
        }
    }
    let head = format!("{REFERRAL_SELECT} invitee_id");
    for row in select_in(conn, &head, unknown_invitees.into_iter().map(Val::Int), "").await? {
        referrals.push(referral_from_row(&row)?);
    }
    for r in referrals {
        // A converted referral's inviter earns on the invitee's purchases when a rule
        // pays rebates.
        if r.status == "pending" || r.status == "held" || (rebates && r.status == "converted") {
            inviters.insert(r.inviter_id);
        }
        ws.referrals.insert(r.event_id.clone(), r);
    }
    // The inviters a referral event of the batch names may convert a referral too.
    for e in events.clone() {
        if let Payload::Referral { referrer } = &e.payload {
            inviters.extend(referrer.iter().filter_map(|i| ws.owners.get(i)));
        }
    }
    load_members(conn, backend, &scope, &mut ws, inviters.clone(), cache).await?;
    load_referral_chains(conn, &mut ws).await?;
    if events
        .clone()
        .any(|e| matches!(e.payload, Payload::Purchase(_) | Payload::Referral { .. }))
    {
        load_recent_invitees(conn, &mut ws, &inviters, events.clone()).await?;
    }

    // One fresh id for every identity set none of whose identities is known: an upper
    // bound on the members this batch can create.
    let needed = sets
        .iter()
        .filter(|s| s.iter().all(|i| !ws.owners.contains_key(i)))
        .count();
    let mut ids = reserve_member_ids(conn, needed).await?;
    ids.reverse();
    ws.fresh_ids = ids;
    let reached = Reached {
        identities: identities.into_values().cloned().collect(),
        order_ids: order_ids.into_iter().map(str::to_owned).collect(),
        complete_invitees: invitees,
        loaded: ws.members.keys().copied().collect(),
    };
    Ok((ws, reached))
}

/// Which of a loaded member's identities come into the working set.
pub(crate) enum IdentityScope<'a> {
    /// Every identity it holds.
    All,
    /// Only what identity resolution reads: the identities the batch names (already read
    /// by key, by member) and those of unique kinds, to spot a second phone. A loyal
    /// member collects devices and accounts over the years; reading all of them for
    /// every event was the second-largest read of an import. The others stay in the
    /// store, where a merge re-points them by member id.
    ForResolution {
        named: &'a HashMap<MemberId, Vec<Identity>>,
        unique_kinds: &'a [IdentityKind],
    },
}

/// Loads members (and whoever they were merged into) with the identities `scope` asks
/// for: from `cache` where it holds them, from the database otherwise.
pub(crate) async fn load_members(
    conn: &mut AnyConnection,
    backend: Backend,
    scope: &IdentityScope<'_>,
    ws: &mut WorkingSet,
    ids: impl IntoIterator<Item = MemberId>,
    cache: Option<&MemberCache>,
) -> Result<(), StoreError> {
    let mut pending: BTreeSet<MemberId> = ids
        .into_iter()
        .filter(|id| !ws.members.contains_key(id))
        .collect();
    while !pending.is_empty() {
        let mut cached: Vec<MemberState> = Vec::new();
        let mut unknown: Vec<MemberId> = Vec::new();
        for id in pending {
            match cache.and_then(|c| c.member(id)) {
                Some(m) => {
                    let mut m = m.clone();
                    if let IdentityScope::ForResolution { named, .. } = scope
                        && let Some(identities) = named.get(&id)
                    {
                        m.identities.extend(identities.iter().cloned());
                    }
                    cached.push(m);
                }
                None => unknown.push(id),
            }
        }
        metrics::counter!("flywheel_member_cache_members_total", "result" => "hit")
            .increment(cached.len() as u64);
        metrics::counter!("flywheel_member_cache_members_total", "result" => "miss")
            .increment(unknown.len() as u64);
        let mut loaded: BTreeMap<MemberId, MemberState> = BTreeMap::new();
        if !unknown.is_empty() {
            for row in &select_members_for_update(conn, backend, unknown).await? {
                let m = member_from_row(row)?;
                loaded.insert(m.id, m);
            }
            load_identities(conn, scope, &mut loaded).await?;
        }
        loaded.extend(cached.into_iter().map(|m| (m.id, m)));
        let mut next = BTreeSet::new();
        for (_, m) in loaded {
            if let Some(target) = m.merged_into
                && !ws.members.contains_key(&target)
            {
                next.insert(target);
            }
            ws.insert_loaded(m);
        }
        next.retain(|id| !ws.members.contains_key(id));
        pending = next;
    }
    Ok(())
}

/// Reads the identities `scope` asks for into the members just loaded.
async fn load_identities(
    conn: &mut AnyConnection,
    scope: &IdentityScope<'_>,
    loaded: &mut BTreeMap<MemberId, MemberState>,
) -> Result<(), StoreError> {
    let kinds_filter = match scope {
        IdentityScope::All => String::new(),
        IdentityScope::ForResolution {
            named,
            unique_kinds,
        } => {
            for (id, m) in loaded.iter_mut() {
                if let Some(identities) = named.get(id) {
                    m.identities.extend(identities.iter().cloned());
                }
            }
            if unique_kinds.is_empty() {
                return Ok(());
            }
            // Kind names are constants of a closed enum, so they may go into the text.
            let kinds: Vec<String> = unique_kinds
                .iter()
                .map(|k| format!("'{}'", k.as_str()))
                .collect();
            format!("AND kind IN ({})", kinds.join(", "))
        }
    };
    let head = "SELECT key, member_id FROM identities WHERE member_id";
    let ids = loaded.keys().map(|id| Val::Int(*id));
    for row in select_in(conn, head, ids, &kinds_filter).await? {
        let (identity, member) = identity_from_row(&row)?;
        if let Some(m) = loaded.get_mut(&member) {
            m.identities.insert(identity);
        }
    }
    Ok(())
}

/// The fingerprinted referrals `inviters` converted (or had held) around the time of
/// the referrals this batch can convert, so a conversion can be held as farmed
/// (`flywheel_core::ingest::farming`). Read only: a row the batch does not change is
/// never written back.
async fn load_recent_invitees<'a>(
    conn: &mut AnyConnection,
    ws: &mut WorkingSet,
    inviters: &BTreeSet<MemberId>,
    events: impl Iterator<Item = &'a Event>,
) -> Result<(), StoreError> {
    if inviters.is_empty() {
        return Ok(());
    }
    let earliest = ws
        .referrals
        .values()
        .filter(|r| r.status == "pending")
        .map(|r| r.referred_at)
        .chain(events.map(|e| e.occurred_at))
        .min()
        .unwrap_or(0);
    // Bound, so the look-up keeps one text (`select_in_binding`).
    let since = [Val::Int(earliest.saturating_sub(farming::WINDOW))];
    let head = format!("{REFERRAL_SELECT} inviter_id");
    let tail = "AND fingerprint <> '' AND status IN ('converted', 'held') AND referred_at >= $T1";
    let keys = inviters.iter().copied().map(Val::Int);
    for row in select_in_binding(conn, &head, keys, tail, &since).await? {
        let r = referral_from_row(&row)?;
        ws.referrals.entry(r.event_id.clone()).or_insert(r);
    }
    Ok(())
}

/// How far up a chain of inviters a new referral is checked for closing a loop.
const CHAIN_DEPTH: usize = 8;

/// The referrals that brought in each inviter above the members loaded, up to
/// [`CHAIN_DEPTH`] levels, so a referral that closes a loop (the invitee brought the
/// inviter in) is seen and refused. Only counted referrals are followed; the rows are
/// read, never written back unless the batch changes them.
async fn load_referral_chains(
    conn: &mut AnyConnection,
    ws: &mut WorkingSet,
) -> Result<(), StoreError> {
    let counted = |s: &str| s == "pending" || s == "converted";
    let mut known: BTreeSet<MemberId> = ws.referrals.values().map(|r| r.invitee_id).collect();
    known.extend(ws.members.keys().copied());
    let mut frontier: BTreeSet<MemberId> = ws
        .referrals
        .values()
        .filter(|r| counted(&r.status))
        .map(|r| r.inviter_id)
        .chain(ws.members.keys().copied())
        .filter(|id| !ws.referrals.values().any(|r| r.invitee_id == *id))
        .collect();
    // The status is filtered here rather than in SQL: with it there, SQLite (which has no
    // statistics) chose the index on status over the one on the invitee for four
    // invitees or more, and read every pending and converted referral — about 0.6 ms a
    // group on a 30,000-member history, growing with the brand (bench/PROFILE.md).
    let head = format!("{REFERRAL_SELECT} invitee_id");
    for _ in 0..CHAIN_DEPTH {
        if frontier.is_empty() {
            break;
        }
        known.extend(frontier.iter().copied());
        let mut next = BTreeSet::new();
        for row in select_in(conn, &head, frontier.iter().copied().map(Val::Int), "").await? {
            let r = referral_from_row(&row)?;
            if !counted(&r.status) {
                continue;
            }
            if !known.contains(&r.inviter_id) {
                next.insert(r.inviter_id);
            }
            ws.referrals.entry(r.event_id.clone()).or_insert(r);
        }
        frontier = next;
    }
    Ok(())
}
