//! Real-time membership: evaluates members against every saved segment and plans their
//! entries and exits, the rule tags segments set, and when each member's segments could
//! next change with the clock alone (`segment_reviews`).
//!
//! Ingest calls [`plan_segments`] with the members a batch changed, as it left them, so
//! the entries commit (or wait, written behind) with the events that caused them; the
//! tags API, the segment sweep and the fill pass call it with members read from the
//! database ([`refresh_members`]).

use super::SegmentBook;
use crate::dialect::select_members_for_update;
use crate::engagement::triggers::{plan_runs, segment_trigger_rows};
use crate::error::StoreError;
use crate::membership::purchases::{MEMBERSHIP_SELECT, membership_from_row};
use crate::plan::Writes;
use crate::rows::member_from_row;
use crate::sql::{Val, select_in, select_in_binding};
use flywheel_core::ingest::{MemberId, MemberState};
use flywheel_core::membership::{Catalogue, Membership, TierPass};
use flywheel_core::points::Book;
use flywheel_core::points::account::{Account, MemberAccount};
use flywheel_core::segment::{Extras, Held, MemberView, ScoreValues};
use flywheel_core::time::{self, Micros};
use sqlx::{AnyConnection, Row};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// What evaluation reads besides the members.
pub(crate) struct LiveContext<'a> {
    pub backend: crate::db::Backend,
    pub book: &'a SegmentBook,
    pub catalogue: &'a Catalogue,
    pub points_programme: &'a str,
    pub now: Micros,
    /// The active journeys: an entry or exit starts those watching the segment.
    pub journeys: Option<&'a crate::engagement::journeys::JourneyBook>,
}

/// This transaction's own changes that the database does not show yet (written behind,
/// or planned but not run).
#[derive(Default)]
pub(crate) struct Pending<'a> {
    pub tiers: Option<&'a TierPass<'a>>,
    pub points: Option<&'a Book>,
    /// (member, identity kind) added.
    pub identities: Vec<(MemberId, String)>,
    /// (merged member, survivor): the survivor takes the merged member's tags and
    /// identities.
    pub merges: Vec<(MemberId, MemberId)>,
}

/// A member to evaluate and what to record as the cause of any change.
pub(crate) struct Subject<'a> {
    pub member: &'a MemberState,
    pub cause: String,
    /// The instant it is evaluated at: the clock of the last event applied to it (a
    /// history replayed at its own time dates entries when they happened, whatever
    /// the batch), else the context's.
    pub at: Option<Micros>,
}

const ENTER: &str = "INSERT INTO segment_members (segment_id, member_id, entered_at)";
const ENTER_TAIL: &str = "ON CONFLICT (segment_id, member_id) DO NOTHING";
const LEAVE: &str = "DELETE FROM segment_members WHERE segment_id = $1 AND member_id = $2";
const CHANGE: &str =
    "INSERT INTO segment_changes (segment_id, member_id, at, entered, cause, version)";
const RULE_TAG: &str = "INSERT INTO member_tags (member_id, tag, source, set_by, note, set_at)";
const RULE_TAG_TAIL: &str = "ON CONFLICT (member_id, tag) DO NOTHING";
const RULE_UNTAG: &str = "DELETE FROM member_tags WHERE member_id = $1 AND tag = $2 AND source = 'segment' AND set_by = $3";
const BADGE: &str = "INSERT INTO member_badges (member_id, segment_id, badge, awarded_at)";
const BADGE_TAIL: &str = "ON CONFLICT (member_id, segment_id) DO NOTHING";
const REVIEW: &str = "INSERT INTO segment_reviews (member_id, due_at)";
const REVIEW_TAIL: &str = "ON CONFLICT (member_id) DO UPDATE SET due_at = excluded.due_at";
const UNREVIEW: &str = "DELETE FROM segment_reviews WHERE member_id = $1";

/// How many entries and exits a plan made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Moved {
    pub entered: usize,
    pub left: usize,
}

/// Evaluates `subjects` (as the caller holds them) against every segment and plans what
/// changed into `w`. Members merged away or erased leave every segment. `only` limits
/// the evaluation to the named segments (a fill pass); None evaluates all.
pub(crate) async fn plan_segments(
    conn: &mut AnyConnection,
    ctx: &LiveContext<'_>,
    subjects: &[Subject<'_>],
    pending: &Pending<'_>,
    w: &mut Writes,
) -> Result<Moved, StoreError> {
    let mut moved = Moved::default();
    if subjects.is_empty() {
        return Ok(moved);
    }
    let book = ctx.book;
    let ids: Vec<MemberId> = subjects.iter().map(|s| s.member.id).collect();
    let current = current_segments(conn, &ids).await?;
    let reviews = current_reviews(conn, &ids).await?;
    let mut extras = if book.is_empty() {
        HashMap::new()
    } else {
        load_extras(conn, ctx, &ids, pending).await?
    };
    let lang = book
        .lang
        .clone()
        .unwrap_or_else(|| flywheel_core::segment::Language::new(365));
    let mut enters = Vec::new();
    let mut changes = Vec::new();
    let mut tags_set = Vec::new();
    let mut badges = Vec::new();
    let mut review_rows = Vec::new();
    let reads_segments = !book.needs.segments.is_empty();
    // Statements of one kind go together, in one order in every plan, so a flush can
    // run each kind once over many plans (`plan.rs`).
    let mut leaves = Vec::new();
    let mut untags = Vec::new();
    let mut unreviews = Vec::new();
    let mut runs = Vec::new();
    for s in subjects {
        let m = s.member;
        let id = m.id;
        let now = s.at.unwrap_or(ctx.now);
        let mine = current.get(&id);
        let gone = m.merged_into.is_some() || m.erased_at.is_some();
        let mut holds: BTreeSet<&str> = BTreeSet::new();
        let mut next: Option<Micros> = None;
        if !gone {
            let x = extras.entry(id).or_default();
            for seg in &book.segments {
                let view = MemberView {
                    created_at: m.created_at,
                    stage: m.stage,
                    lens: m.lens,
                    facts: &m.facts,
                    profile: &m.profile,
                    extras: &x.extras,
                };
                let yes = seg.cond.holds(&view, now, &lang);
                if let Some(t) = seg.cond.next_change(&view, now, &lang) {
                    next = Some(next.map_or(t, |n| n.min(t)));
                }
                if yes {
                    holds.insert(seg.id.as_str());
                    // Only `in_segment` reads these.
                    if reads_segments {
                        x.extras.segments.insert(seg.id.clone());
                    }
                    if let Some(tag) = &seg.tag {
                        x.extras.tags.insert(tag.clone());
                    }
                } else if let Some(tag) = &seg.tag
                    && x.rule_tags.get(tag) == Some(&seg.id)
                {
                    x.extras.tags.remove(tag);
                }
            }
        }
        for seg in &book.segments {
            let id_s = seg.id.as_str();
            let was = mine.is_some_and(|c| c.contains(id_s));
            let is = holds.contains(id_s);
            if was == is {
                continue;
            }
            changes.push(vec![
                id_s.into(),
                Val::Int(id),
                Val::Int(now),
                Val::Int(i64::from(is)),
                s.cause.as_str().into(),
                Val::Int(seg.version),
            ]);
            if let Some(journeys) = ctx.journeys {
                runs.extend(segment_trigger_rows(journeys, id_s, id, is, now));
            }
            if is {
                moved.entered += 1;
                enters.push(vec![id_s.into(), Val::Int(id), Val::Int(now)]);
                // Awarded once, on the first entry; kept on leaving.
                if let Some(badge) = &seg.badge {
                    badges.push(vec![
                        Val::Int(id),
                        id_s.into(),
                        badge.as_str().into(),
                        Val::Int(now),
                    ]);
                }
                if let Some(tag) = &seg.tag {
                    tags_set.push(vec![
                        Val::Int(id),
                        tag.as_str().into(),
                        "segment".into(),
                        id_s.into(),
                        Val::OptText(None),
                        Val::Int(now),
                    ]);
                }
            } else {
                moved.left += 1;
                leaves.push(vec![id_s.into(), Val::Int(id)]);
                if let Some(tag) = &seg.tag {
                    untags.push(vec![Val::Int(id), tag.as_str().into(), id_s.into()]);
                }
            }
        }
        match (reviews.get(&id).copied(), next) {
            (Some(a), Some(b)) if a == b => {}
            (_, Some(b)) => review_rows.push(vec![Val::Int(id), Val::Int(b)]),
            (Some(_), None) => unreviews.push(vec![Val::Int(id)]),
            (None, None) => {}
        }
    }
    for args in leaves {
        w.statement(LEAVE, args);
    }
    for args in untags {
        w.statement(RULE_UNTAG, args);
    }
    for args in unreviews {
        w.statement(UNREVIEW, args);
    }
    w.rows(ENTER, enters, ENTER_TAIL);
    w.rows(CHANGE, changes, "");
    w.rows(RULE_TAG, tags_set, RULE_TAG_TAIL);
    w.rows(BADGE, badges, BADGE_TAIL);
    w.rows(REVIEW, review_rows, REVIEW_TAIL);
    plan_runs(w, runs);
    Ok(moved)
}

/// What a batch changed, for [`plan_batch_segments`].
pub(crate) struct BatchSegments<'a> {
    pub ws: &'a flywheel_core::ingest::WorkingSet,
    pub changes: &'a flywheel_core::ingest::Changes,
    pub events: &'a [flywheel_core::Event],
    /// (index into `events`, member it was applied to).
    pub accepted: &'a [(usize, MemberId)],
    /// The clock each accepted event was applied at.
    pub clocks: &'a [Micros],
    pub tiers: Option<&'a TierPass<'a>>,
    pub book: Option<&'a Book>,
    /// The segments, compiled under the stage window of the batch's rules.
    pub segments: &'a super::SegmentBook,
    pub backend: crate::db::Backend,
    pub points_programme: &'a str,
    pub catalogue: &'a Catalogue,
    /// The active journeys the batch read already: an entry or exit starts those
    /// watching the segment.
    pub journeys: &'a crate::engagement::journeys::JourneyBook,
    pub now: Micros,
}

const TAGS_MERGED: &str = "INSERT INTO member_tags (member_id, tag, source, set_by, note, set_at) \
     SELECT $1, tag, source, set_by, note, set_at FROM member_tags WHERE member_id = $2 \
     ON CONFLICT (member_id, tag) DO NOTHING";
const TAGS_OF_MERGED: &str = "DELETE FROM member_tags WHERE member_id = $1";
const BADGES_MERGED: &str = "INSERT INTO member_badges (member_id, segment_id, badge, awarded_at) \
     SELECT $1, segment_id, badge, awarded_at FROM member_badges WHERE member_id = $2 \
     ON CONFLICT (member_id, segment_id) DO NOTHING";
const BADGES_OF_MERGED: &str = "DELETE FROM member_badges WHERE member_id = $1";

/// Plans a batch's segment entries and exits: every member it changed (or whose tier or
/// points it moved) is evaluated as the batch left it, each change caused by the last
/// event applied to that member. A merged member's tags and badges go to its survivor.
pub(crate) async fn plan_batch_segments(
    conn: &mut AnyConnection,
    b: &BatchSegments<'_>,
    w: &mut Writes,
) -> Result<(), StoreError> {
    for m in &b.changes.merges {
        w.statement(TAGS_MERGED, vec![Val::Int(m.survivor), Val::Int(m.merged)]);
    }
    for m in &b.changes.merges {
        w.statement(TAGS_OF_MERGED, vec![Val::Int(m.merged)]);
    }
    for m in &b.changes.merges {
        w.statement(
            BADGES_MERGED,
            vec![Val::Int(m.survivor), Val::Int(m.merged)],
        );
    }
    for m in &b.changes.merges {
        w.statement(BADGES_OF_MERGED, vec![Val::Int(m.merged)]);
    }
    let book = b.segments;
    if book.is_empty() {
        return Ok(());
    }
    let mut ids: BTreeSet<MemberId> = b.changes.dirty_members.iter().copied().collect();
    if let Some(t) = b.tiers {
        ids.extend(t.written().map(|m| m.member_id));
    }
    if let Some(p) = b.book {
        ids.extend(p.postings.iter().filter_map(|p| p.member_id));
    }
    let mut cause: HashMap<MemberId, &str> = HashMap::new();
    let mut clock: HashMap<MemberId, Micros> = HashMap::new();
    for (&(i, member), &at) in b.accepted.iter().zip(b.clocks) {
        cause.insert(b.ws.survivor(member), b.events[i].event_id.as_str());
        cause.insert(member, b.events[i].event_id.as_str());
        clock.insert(b.ws.survivor(member), at);
        clock.insert(member, at);
    }
    let subjects: Vec<Subject<'_>> = ids
        .iter()
        .filter_map(|id| b.ws.members.get(id))
        .map(|m| Subject {
            member: m,
            cause: match (m.merged_into, cause.get(&m.id)) {
                (Some(into), _) => format!("merged:{into}"),
                (None, Some(e)) => format!("event:{e}"),
                (None, None) => "event".to_owned(),
            },
            at: clock.get(&m.id).copied(),
        })
        .collect();
    let pending = Pending {
        tiers: b.tiers,
        points: b.book,
        identities: b
            .changes
            .new_identities
            .iter()
            .map(|n| (n.member_id, n.identity.kind.as_str().to_owned()))
            .collect(),
        merges: b
            .changes
            .merges
            .iter()
            .map(|m| (m.merged, m.survivor))
            .collect(),
    };
    let ctx = LiveContext {
        backend: b.backend,
        book,
        catalogue: b.catalogue,
        points_programme: b.points_programme,
        now: b.now,
        journeys: Some(b.journeys),
    };
    plan_segments(conn, &ctx, &subjects, &pending, w).await?;
    Ok(())
}

/// Loads members by id and plans their segments, `cause` recorded on each change.
pub(crate) async fn refresh_members(
    conn: &mut AnyConnection,
    ctx: &LiveContext<'_>,
    ids: &[MemberId],
    cause: &str,
    w: &mut Writes,
) -> Result<Moved, StoreError> {
    // Locked on PostgreSQL (as ingest locks them), so a concurrent batch cannot move a
    // member between this read and these writes.
    let rows = select_members_for_update(conn, ctx.backend, ids.iter().copied()).await?;
    let members: Vec<MemberState> = rows.iter().map(member_from_row).collect::<Result<_, _>>()?;
    // A member no longer found (erased outright) leaves everything.
    let found: BTreeSet<MemberId> = members.iter().map(|m| m.id).collect();
    let mut all = members;
    for id in ids.iter().filter(|i| !found.contains(i)) {
        let mut ghost = MemberState::new(*id, 0);
        ghost.merged_into = Some(*id);
        all.push(ghost);
    }
    let subjects: Vec<Subject<'_>> = all
        .iter()
        .map(|m| Subject {
            member: m,
            cause: cause.to_owned(),
            at: None,
        })
        .collect();
    plan_segments(conn, ctx, &subjects, &Pending::default(), w).await
}

async fn current_segments(
    conn: &mut AnyConnection,
    ids: &[MemberId],
) -> Result<HashMap<MemberId, BTreeSet<String>>, StoreError> {
    let rows = select_in(
        conn,
        "SELECT segment_id, member_id FROM segment_members WHERE member_id",
        ids.iter().map(|m| Val::Int(*m)),
        "",
    )
    .await?;
    let mut out: HashMap<MemberId, BTreeSet<String>> = HashMap::new();
    for r in rows {
        out.entry(r.try_get("member_id")?)
            .or_default()
            .insert(r.try_get("segment_id")?);
    }
    Ok(out)
}

async fn current_reviews(
    conn: &mut AnyConnection,
    ids: &[MemberId],
) -> Result<HashMap<MemberId, Micros>, StoreError> {
    let rows = select_in(
        conn,
        "SELECT member_id, due_at FROM segment_reviews WHERE member_id",
        ids.iter().map(|m| Val::Int(*m)),
        "",
    )
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("member_id")?, r.try_get("due_at")?)))
        .collect()
}

#[derive(Default)]
struct Loaded {
    extras: Extras,
    /// Tags set by a segment rule: tag → segment.
    rule_tags: BTreeMap<String, String>,
}

/// What the book's expressions read about `ids`, from the database and this
/// transaction's own pending changes.
async fn load_extras(
    conn: &mut AnyConnection,
    ctx: &LiveContext<'_>,
    ids: &[MemberId],
    pending: &Pending<'_>,
) -> Result<HashMap<MemberId, Loaded>, StoreError> {
    let needs = &ctx.book.needs;
    let mut out: HashMap<MemberId, Loaded> = ids.iter().map(|m| (*m, Loaded::default())).collect();
    // Rows of members merged in this transaction belong to their survivors.
    let survivor: HashMap<MemberId, MemberId> = pending.merges.iter().copied().collect();
    let owner = |mut m: MemberId| {
        while let Some(next) = survivor.get(&m) {
            m = *next;
        }
        m
    };
    let with_merged: Vec<Val> = ids
        .iter()
        .copied()
        .chain(pending.merges.iter().map(|(from, _)| *from))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(Val::Int)
        .collect();
    let any_tags = needs.tags || ctx.book.segments.iter().any(|s| s.tag.is_some());
    if any_tags {
        let rows = select_in(
            conn,
            "SELECT member_id, tag, source, set_by FROM member_tags WHERE member_id",
            with_merged.iter().cloned(),
            "",
        )
        .await?;
        for r in rows {
            let m = owner(r.try_get("member_id")?);
            let Some(l) = out.get_mut(&m) else { continue };
            let tag: String = r.try_get("tag")?;
            let source: String = r.try_get("source")?;
            if source == "segment" {
                l.rule_tags.insert(tag.clone(), r.try_get("set_by")?);
            }
            l.extras.tags.insert(tag);
        }
    }
    if needs.identities {
        let rows = select_in(
            conn,
            "SELECT DISTINCT member_id, kind FROM identities WHERE member_id",
            with_merged.iter().cloned(),
            "",
        )
        .await?;
        for r in rows {
            let m = owner(r.try_get("member_id")?);
            if let Some(l) = out.get_mut(&m) {
                l.extras.identity_kinds.insert(r.try_get("kind")?);
            }
        }
        for (m, kind) in &pending.identities {
            if let Some(l) = out.get_mut(&owner(*m)) {
                l.extras.identity_kinds.insert(kind.clone());
            }
        }
    }
    if needs.memberships {
        let head = format!("{MEMBERSHIP_SELECT} WHERE member_id");
        let mut held: BTreeMap<(MemberId, String), Membership> = BTreeMap::new();
        for row in select_in(conn, &head, ids.iter().map(|m| Val::Int(*m)), "").await? {
            let m = membership_from_row(&row)?;
            held.insert((m.member_id, m.programme.clone()), m);
        }
        if let Some(t) = pending.tiers {
            for m in t.written() {
                held.insert((m.member_id, m.programme.clone()), m.clone());
            }
        }
        for ((member, programme), m) in held {
            let Some(l) = out.get_mut(&member) else {
                continue;
            };
            let active_until = match ctx.catalogue.get(&programme) {
                Some(p) => m.grace_until(p),
                None => m.expires_at,
            };
            l.extras.memberships.push(Held {
                programme,
                tier: m.tier,
                active_until,
                expires_at: m.expires_at,
            });
        }
    }
    let programme = ctx.points_programme;
    if needs.points {
        let rows = select_in(
            conn,
            "SELECT member_id, balance FROM points_accounts WHERE member_id",
            ids.iter().map(|m| Val::Int(*m)),
            &format!(
                "AND account_type = 'wallet' AND programme = {}",
                quote(programme)
            ),
        )
        .await?;
        for r in rows {
            if let Some(l) = out.get_mut(&r.try_get::<i64, _>("member_id")?) {
                l.extras.points_balance += r.try_get::<i64, _>("balance")?;
            }
        }
        if let Some(book) = pending.points {
            for p in &book.postings {
                for (account, amount) in &p.entries {
                    if let Account::Member {
                        member_id,
                        programme: pr,
                        kind: MemberAccount::Wallet,
                    } = account
                        && pr == programme
                        && let Some(l) = out.get_mut(member_id)
                    {
                        l.extras.points_balance += amount;
                    }
                }
            }
        }
    }
    if needs.redemptions {
        let longest = ctx
            .book
            .segments
            .iter()
            .filter_map(|s| redeemed_days(&s.cond))
            .max()
            .unwrap_or(0);
        let since = ctx.now - time::days(longest);
        let rows = select_in_binding(
            conn,
            "SELECT member_id, at, amount FROM points_entries WHERE member_id",
            ids.iter().map(|m| Val::Int(*m)),
            &format!(
                "AND programme = {} AND account_type = 'wallet' AND kind = 'redeem' AND at > $T1",
                quote(programme)
            ),
            &[Val::Int(since)],
        )
        .await?;
        for r in rows {
            if let Some(l) = out.get_mut(&r.try_get::<i64, _>("member_id")?) {
                l.extras
                    .redemptions
                    .push((r.try_get("at")?, -r.try_get::<i64, _>("amount")?));
            }
        }
    }
    if needs.messages {
        let rows = select_in(
            conn,
            "SELECT member_id, channel, COUNT(*) AS delivered, \
             SUM(CASE WHEN opened_at IS NOT NULL THEN 1 ELSE 0 END) AS opened, \
             SUM(CASE WHEN clicked_at IS NOT NULL THEN 1 ELSE 0 END) AS clicked \
             FROM outbox WHERE member_id",
            ids.iter().map(|m| Val::Int(*m)),
            "AND kind = 'message' AND status = 'delivered' GROUP BY member_id, channel",
        )
        .await?;
        for r in rows {
            if let Some(l) = out.get_mut(&r.try_get::<i64, _>("member_id")?) {
                let n = |c: &str| -> Result<u32, StoreError> {
                    Ok(u32::try_from(r.try_get::<i64, _>(c)?).unwrap_or(u32::MAX))
                };
                l.extras.messages.insert(
                    r.try_get("channel")?,
                    [n("delivered")?, n("opened")?, n("clicked")?],
                );
            }
        }
    }
    if needs.scores {
        let rows = select_in(
            conn,
            "SELECT member_id, super_user, influence, intimacy, cell, r, f, m, p_alive_millionths, expected_value \
             FROM member_scores WHERE member_id",
            ids.iter().map(|m| Val::Int(*m)),
            "",
        )
        .await?;
        for r in rows {
            if let Some(l) = out.get_mut(&r.try_get::<i64, _>("member_id")?) {
                l.extras.scores = Some(ScoreValues {
                    super_user: r.try_get("super_user")?,
                    influence: r.try_get("influence")?,
                    intimacy: r.try_get("intimacy")?,
                    cell: r.try_get("cell")?,
                    r: r.try_get("r")?,
                    f: r.try_get("f")?,
                    m: r.try_get("m")?,
                    p_alive_millionths: r.try_get("p_alive_millionths")?,
                    clv: r.try_get("expected_value")?,
                });
            }
        }
    }
    Ok(out)
}

/// What reading extras for conditions other than the segments' needs (journeys'
/// triggers, branches and goals).
pub(crate) struct ExtrasFor<'a> {
    pub backend: crate::db::Backend,
    pub catalogue: &'a Catalogue,
    pub points_programme: &'a str,
    pub now: Micros,
}

/// What `conds` read about `ids` beyond their own rows, as the database has it
/// (segments the members are in included).
pub(crate) async fn extras_for(
    conn: &mut AnyConnection,
    ctx: &ExtrasFor<'_>,
    conds: &[&flywheel_core::segment::Cond],
    ids: &[MemberId],
) -> Result<HashMap<MemberId, Extras>, StoreError> {
    if conds.is_empty() || ids.is_empty() {
        return Ok(HashMap::new());
    }
    let mut book = SegmentBook::default();
    for (i, c) in conds.iter().enumerate() {
        let needs = c.needs();
        book.needs.add(&needs);
        book.segments.push(super::Compiled {
            id: format!("condition-{i}"),
            version: 0,
            cond: (*c).clone(),
            tag: None,
            badge: None,
            needs,
        });
    }
    let live = LiveContext {
        backend: ctx.backend,
        book: &book,
        catalogue: ctx.catalogue,
        points_programme: ctx.points_programme,
        now: ctx.now,
        journeys: None,
    };
    let loaded = load_extras(conn, &live, ids, &Pending::default()).await?;
    let mut out: HashMap<MemberId, Extras> =
        loaded.into_iter().map(|(m, l)| (m, l.extras)).collect();
    if !book.needs.segments.is_empty() {
        for (m, segments) in current_segments(conn, ids).await? {
            out.entry(m).or_default().segments = segments;
        }
    }
    Ok(out)
}

/// A programme id in SQL text: ids are checked as `[a-z0-9_-]`, and quotes are doubled
/// besides.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn redeemed_days(c: &flywheel_core::segment::Cond) -> Option<u32> {
    use flywheel_core::segment::Cond;
    use flywheel_core::segment::expr::Quantity;
    match c {
        Cond::Compare(Quantity::RedeemedWithin(d), ..)
        | Cond::In(Quantity::RedeemedWithin(d), _) => Some(*d),
        Cond::And(cs) | Cond::Or(cs) => cs.iter().filter_map(redeemed_days).max(),
        Cond::Not(c) => redeemed_days(c),
        _ => None,
    }
}

/// The members whose points a book posted to, for re-evaluating their segments.
pub(crate) fn posting_members(book: &Book) -> Vec<MemberId> {
    let mut ids: Vec<MemberId> = book.postings.iter().filter_map(|p| p.member_id).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Moves a merged member's tags to its survivor (a tag both carry keeps the survivor's).
pub(crate) async fn move_tags(
    conn: &mut AnyConnection,
    survivor: MemberId,
    merged: MemberId,
) -> Result<(), StoreError> {
    sqlx::query(TAGS_MERGED)
        .bind(survivor)
        .bind(merged)
        .execute(&mut *conn)
        .await?;
    sqlx::query(TAGS_OF_MERGED)
        .bind(merged)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
