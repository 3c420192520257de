//! The SQL evaluator: a checked segment condition compiled to a `WHERE` clause over the
//! members table, for previews, counts and exports on SQLite and PostgreSQL. It means
//! what the in-memory evaluator (`flywheel_core::segment::eval`) means — a property test
//! in `tests/segments.rs` holds them to it — so:
//! - window counts read the same dated signals in the member's facts;
//! - a missing value makes a comparison false (`x IS NOT NULL AND x > $1`), never NULL,
//!   so `not` turns it true as in memory;
//! - instants that move with the clock (window starts, birthdays' month-days, the latest
//!   birth date of an age) are computed here from `now` and bound as parameters.
//!
//! Every value from the expression is bound; the only text spliced into the SQL is this
//! file's own (stage names, JSON keys from the language's fixed tables).

use crate::db::Backend;
use crate::sql::Val;
use flywheel_core::segment::calendar::{birthday_month_days, born_by};
use flywheel_core::segment::expr::{
    Constant, Counter, InstantField, MoneyField, Quantity, ScoreField, Test,
};
use flywheel_core::segment::syntax::Op;
use flywheel_core::segment::{Cond, Language};
use flywheel_core::stage::{Lens, Stage};
use flywheel_core::time::{self, DAY, Micros};
use std::collections::HashMap;

/// What compiling needs besides the condition.
pub(crate) struct SqlContext<'a> {
    pub backend: Backend,
    pub now: Micros,
    pub lang: Language,
    /// Each programme's grace after a term, µs (a membership counts until then).
    pub graces: &'a HashMap<String, Micros>,
    /// Where `points_balance` and `points_redeemed_within` look.
    pub points_programme: &'a str,
}

/// `SELECT … FROM {from} WHERE {condition}`, with `args` bound in order to `$1…`.
pub(crate) struct Compiled {
    pub from: String,
    pub condition: String,
    pub args: Vec<Val>,
}

/// Compiles `cond` and, for a leaderboard, a value to rank its members by: the
/// value's SQL reads `m` as the condition does, with its parameters after the
/// condition's. Parameters are numbered from `$1`.
pub(crate) fn compile(
    cond: &Cond,
    score: Option<&Quantity>,
    ctx: &SqlContext<'_>,
) -> (Compiled, Option<String>) {
    let mut c = Compiler {
        ctx,
        args: Vec::new(),
        scores: false,
    };
    let condition = c.cond(cond);
    let score = score.map(|q| c.quantity(q).0);
    let members = match ctx.backend {
        Backend::Sqlite => "members m".to_owned(),
        // Parsed once per row, not once per condition.
        Backend::Postgres => {
            "(SELECT id, created_at, stage, lens, merged_into, erased_at, facts::jsonb AS facts, \
             profile::jsonb AS profile FROM members) m"
                .to_owned()
        }
    };
    let from = if c.scores {
        format!("{members} LEFT JOIN member_scores s ON s.member_id = m.id")
    } else {
        members
    };
    (
        Compiled {
            from,
            condition: format!("m.merged_into IS NULL AND m.erased_at IS NULL AND ({condition})"),
            args: c.args,
        },
        score,
    )
}

struct Compiler<'a> {
    ctx: &'a SqlContext<'a>,
    args: Vec<Val>,
    scores: bool,
}

impl Compiler<'_> {
    fn bind(&mut self, v: Val) -> String {
        self.args.push(v);
        let n = self.args.len();
        match self.ctx.backend {
            Backend::Sqlite => format!("${n}"),
            // Typed, so PostgreSQL never has to guess (`->>` takes text or an index).
            Backend::Postgres => match self.args[n - 1] {
                Val::Text(_) | Val::OptText(_) => format!("CAST(${n} AS TEXT)"),
                Val::Float(_) => format!("CAST(${n} AS DOUBLE PRECISION)"),
                _ => format!("CAST(${n} AS BIGINT)"),
            },
        }
    }

    fn pg(&self) -> bool {
        self.ctx.backend == Backend::Postgres
    }

    fn cond(&mut self, c: &Cond) -> String {
        match c {
            Cond::Const(true) => "1 = 1".into(),
            Cond::Const(false) => "1 = 0".into(),
            Cond::And(cs) => join(cs.iter().map(|c| self.cond(c)).collect(), " AND "),
            Cond::Or(cs) => join(cs.iter().map(|c| self.cond(c)).collect(), " OR "),
            Cond::Not(c) => format!("NOT ({})", self.cond(c)),
            Cond::Test(t) => self.test(t),
            Cond::Compare(Quantity::Age, op, Constant::Int(k)) => self.age(*op, *k),
            Cond::Compare(Quantity::Stage, op, Constant::Int(k)) => {
                ranks("m.stage", &stage_names(*op, *k))
            }
            Cond::Compare(Quantity::Lens, op, Constant::Int(k)) => {
                ranks("m.lens", &lens_names(*op, *k))
            }
            Cond::Compare(q, op, c) => {
                let (expr, nullable) = self.quantity(q);
                let value = self.constant(c);
                let test = format!("{expr} {} {value}", sql_op(*op));
                if nullable {
                    format!("({expr} IS NOT NULL AND {test})")
                } else {
                    test
                }
            }
            Cond::In(Quantity::Age, set) => {
                let parts: Vec<String> = set
                    .iter()
                    .filter_map(|c| match c {
                        Constant::Int(k) => Some(self.age(Op::Eq, *k)),
                        _ => None,
                    })
                    .collect();
                if parts.is_empty() {
                    "1 = 0".into()
                } else {
                    join(parts, " OR ")
                }
            }
            Cond::In(Quantity::Stage, set) => {
                let names: Vec<&str> = set
                    .iter()
                    .flat_map(|c| stage_names(Op::Eq, int(c)))
                    .collect();
                ranks("m.stage", &names)
            }
            Cond::In(Quantity::Lens, set) => {
                let names: Vec<&str> = set
                    .iter()
                    .flat_map(|c| lens_names(Op::Eq, int(c)))
                    .collect();
                ranks("m.lens", &names)
            }
            Cond::In(q, set) => {
                let (expr, nullable) = self.quantity(q);
                let values: Vec<String> = set.iter().map(|c| self.constant(c)).collect();
                let test = format!("{expr} IN ({})", values.join(", "));
                if nullable {
                    format!("({expr} IS NOT NULL AND {test})")
                } else {
                    test
                }
            }
        }
    }

    fn constant(&mut self, c: &Constant) -> String {
        match c {
            Constant::Int(n) => self.bind(Val::Int(*n)),
            Constant::Float(f) => self.bind(Val::Float(*f)),
            Constant::Text(t) => self.bind(Val::Text(t.clone())),
        }
    }

    fn test(&mut self, t: &Test) -> String {
        match t {
            Test::OpenComplaint => format!("{} > 0", self.array_len("open_complaints")),
            Test::ComplainerWonBack => format!(
                "({} IS NOT NULL AND {} > {})",
                self.facts_int("resolved_in_time_at"),
                self.counter("last_purchase_at"),
                self.facts_int("resolved_in_time_at")
            ),
            Test::Tag(tag) => {
                let p = self.bind(Val::Text(tag.clone()));
                format!(
                    "EXISTS (SELECT 1 FROM member_tags t WHERE t.member_id = m.id AND t.tag = {p})"
                )
            }
            Test::Has(kind) => {
                let p = self.bind(Val::Text(kind.clone()));
                format!(
                    "EXISTS (SELECT 1 FROM identities i WHERE i.member_id = m.id AND i.kind = {p})"
                )
            }
            Test::InSegment(s) => {
                let p = self.bind(Val::Text(s.clone()));
                format!(
                    "EXISTS (SELECT 1 FROM segment_members sm WHERE sm.segment_id = {p} AND sm.member_id = m.id)"
                )
            }
            Test::BirthdayWithin(days) => {
                let b = self.profile_text("birthday");
                let days: Vec<String> = birthday_month_days(self.ctx.now, *days)
                    .into_iter()
                    .map(|d| self.bind(Val::Text(d)))
                    .collect();
                format!(
                    "({b} IS NOT NULL AND length({b}) IN (5, 10) AND substr({b}, length({b}) - 4) IN ({}))",
                    days.join(", ")
                )
            }
            Test::Holds(p) => {
                let active = self.active_membership(p);
                format!("EXISTS (SELECT 1 FROM memberships ms WHERE {active})")
            }
            Test::InGroup(g) => {
                let p = self.bind(Val::Text(g.clone()));
                format!("{} > 0", self.open_groups(Some(&p)))
            }
        }
    }

    /// Open customer groups in the facts (`flywheel_core::link`): joined, and not left
    /// since; only the one named by the bound parameter `group` when given.
    fn open_groups(&self, group: Option<&str>) -> String {
        let (each, joined, left, key) = if self.pg() {
            (
                "jsonb_each(m.facts->'groups') g",
                "COALESCE((g.value->>'joined')::bigint, 0)",
                "(g.value->>'left')::bigint",
                "g.key",
            )
        } else {
            (
                "json_each(m.facts, '$.groups') g",
                "COALESCE(json_extract(g.value, '$.joined'), 0)",
                "json_extract(g.value, '$.left')",
                "g.key",
            )
        };
        let only = group.map_or(String::new(), |p| format!(" AND {key} = {p}"));
        format!(
            "(SELECT count(*) FROM {each} WHERE {joined} > 0 AND ({left} IS NULL OR {left} < {joined}){only})"
        )
    }

    /// The membership of `programme` counting at `now` (its end plus grace ahead).
    fn active_membership(&mut self, programme: &str) -> String {
        let grace = self.ctx.graces.get(programme).copied().unwrap_or(0);
        let p = self.bind(Val::Text(programme.to_owned()));
        let until = self.bind(Val::Int(self.ctx.now - grace));
        format!(
            "ms.member_id = m.id AND ms.programme = {p} AND (ms.expires_at IS NULL OR ms.expires_at > {until})"
        )
    }

    /// `age op k` as comparisons of the birthday text with cut-off dates (see
    /// `calendar::born_by`), exactly as the in-memory evaluator decides it.
    fn age(&mut self, op: Op, k: i64) -> String {
        let b = self.profile_text("birthday");
        let now = self.ctx.now;
        let today = self.bind(Val::Text(born_by(now, 0)));
        let at_least = |c: &mut Self, years: i64| {
            let cut = c.bind(Val::Text(born_by(now, years)));
            format!("{b} <= {cut}")
        };
        let next = k.saturating_add(1);
        let test = match op {
            Op::Ge => at_least(self, k),
            Op::Gt => at_least(self, next),
            Op::Le => format!("NOT ({})", at_least(self, next)),
            Op::Lt => format!("NOT ({})", at_least(self, k)),
            Op::Eq => {
                let (a, b2) = (at_least(self, k), at_least(self, next));
                format!("{a} AND NOT ({b2})")
            }
            Op::Ne => {
                let (a, b2) = (at_least(self, k), at_least(self, next));
                format!("NOT ({a} AND NOT ({b2}))")
            }
        };
        format!("({b} IS NOT NULL AND length({b}) = 10 AND {b} <= {today} AND ({test}))")
    }

    fn facts_int(&self, key: &str) -> String {
        if self.pg() {
            format!("(m.facts->>'{key}')::bigint")
        } else {
            format!("json_extract(m.facts, '$.{key}')")
        }
    }

    fn counter(&self, key: &str) -> String {
        format!("COALESCE({}, 0)", self.facts_int(key))
    }

    fn profile_text(&self, key: &str) -> String {
        if self.pg() {
            format!("(m.profile->>'{key}')")
        } else {
            format!("json_extract(m.profile, '$.{key}')")
        }
    }

    fn array_len(&self, key: &str) -> String {
        if self.pg() {
            format!("COALESCE(jsonb_array_length(m.facts->'{key}'), 0)")
        } else {
            format!("COALESCE(json_array_length(m.facts, '$.{key}'), 0)")
        }
    }

    /// A count kept in one of the facts' maps (`categories`, `sub_brands`…).
    fn map_count(&mut self, map: &str, key: &str) -> String {
        let p = self.bind(Val::Text(key.to_owned()));
        if self.pg() {
            format!("COALESCE((m.facts->'{map}'->>{p})::bigint, 0)")
        } else {
            format!(
                "COALESCE((SELECT e.value FROM json_each(m.facts, '$.{map}') e WHERE e.key = {p}), 0)"
            )
        }
    }

    /// Events on any of `names` (channels).
    fn channel_events(&mut self, names: &[String]) -> String {
        if names.is_empty() {
            return "0".into();
        }
        let list: Vec<String> = names
            .iter()
            .map(|n| self.bind(Val::Text(n.clone())))
            .collect();
        let list = list.join(", ");
        if self.pg() {
            format!(
                "COALESCE((SELECT sum((e.value)::bigint) FROM jsonb_each_text(m.facts->'channels') e WHERE e.key IN ({list})), 0)"
            )
        } else {
            format!(
                "COALESCE((SELECT sum(e.value) FROM json_each(m.facts, '$.channels') e WHERE e.key IN ({list})), 0)"
            )
        }
    }

    /// SKUs bought in three or more orders, or orders beyond the first of each SKU.
    fn skus(&self, three_times: bool) -> String {
        let (each, n) = if self.pg() {
            ("jsonb_each_text(m.facts->'skus') e", "(e.value)::bigint")
        } else {
            ("json_each(m.facts, '$.skus') e", "e.value")
        };
        let (select, filter) = if three_times {
            ("count(*)".to_owned(), format!("{n} >= 3"))
        } else {
            (format!("sum({n} - 1)"), format!("{n} > 1"))
        };
        format!("COALESCE((SELECT {select} FROM {each} WHERE {filter}), 0)")
    }

    /// Purchases in the window `(now - days, now]` and later, not refunded in full:
    /// `count(*)` or the sum of what is left of them.
    fn window(&mut self, days: u32, spent: bool) -> String {
        let start = self.bind(Val::Int(self.ctx.now - time::days(days)));
        let pg = self.pg();
        let field = |k: &str| {
            if pg {
                format!("(r.value->>'{k}')::bigint")
            } else {
                format!("json_extract(r.value, '$.{k}')")
            }
        };
        let (signals, kind) = if pg {
            (
                "jsonb_array_elements(m.facts->'recent') r(value)",
                "r.value->>'signal'",
            )
        } else {
            (
                "json_each(m.facts, '$.recent') r",
                "json_extract(r.value, '$.signal')",
            )
        };
        let (at, amount, refunded) = (field("at"), field("amount"), field("refunded"));
        let select = if spent {
            format!("COALESCE(sum({amount} - {refunded}), 0)")
        } else {
            "count(*)".to_owned()
        };
        format!(
            "(SELECT {select} FROM {signals} WHERE {kind} = 'purchase' AND {at} > {start} \
             AND NOT ({refunded} > 0 AND {refunded} >= {amount}))"
        )
    }

    fn interactions(&mut self, days: u32) -> String {
        let first = self.bind(Val::Int(
            time::day_number(self.ctx.now) - i64::from(days) + 1,
        ));
        if self.pg() {
            format!(
                "COALESCE((SELECT sum((d->>1)::bigint) FROM jsonb_array_elements(m.facts->'interaction_days') d \
                 WHERE (d->>0)::bigint >= {first}), 0)"
            )
        } else {
            format!(
                "COALESCE((SELECT sum(json_extract(d.value, '$[1]')) FROM json_each(m.facts, '$.interaction_days') d \
                 WHERE json_extract(d.value, '$[0]') >= {first}), 0)"
            )
        }
    }

    fn instant(&self, f: InstantField) -> (String, bool) {
        let key = match f {
            InstantField::FirstPurchase => "first_purchase_at",
            InstantField::LastPurchase => "last_purchase_at",
            InstantField::FirstSeen => "first_seen_at",
            InstantField::LastSeen => "last_seen_at",
            InstantField::LastInteraction => "last_interaction_at",
            InstantField::MemberSince => return ("m.created_at".into(), false),
        };
        (self.facts_int(key), true)
    }

    /// The quantity's SQL and whether it can be NULL.
    fn quantity(&mut self, q: &Quantity) -> (String, bool) {
        match q {
            Quantity::Count(c) => (
                match c {
                    Counter::Stored(key) => self.counter(key),
                    Counter::PurchaseCount => {
                        format!(
                            "({} - {})",
                            self.counter("orders"),
                            self.counter("refunded_orders")
                        )
                    }
                    Counter::PurchasesInWindow => self.window(self.ctx.lang.window_days, false),
                    Counter::OpenComplaints => self.array_len("open_complaints"),
                    Counter::GroupsCount => self.open_groups(None),
                    Counter::SkusBoughtThreeTimes => self.skus(true),
                    Counter::RepeatSkuPurchases => self.skus(false),
                },
                false,
            ),
            Quantity::Money(f) => (
                match f {
                    MoneyField::TotalSpent => {
                        format!(
                            "({} - {})",
                            self.counter("gross_spent"),
                            self.counter("refunded")
                        )
                    }
                    MoneyField::GrossSpent => self.counter("gross_spent"),
                    MoneyField::Refunded => self.counter("refunded"),
                    MoneyField::SpentInWindow => self.window(self.ctx.lang.window_days, true),
                },
                false,
            ),
            Quantity::Instant(f) => self.instant(*f),
            Quantity::DaysSince(f) => {
                let (t, nullable) = self.instant(*f);
                let now = self.bind(Val::Int(self.ctx.now));
                let now2 = self.bind(Val::Int(self.ctx.now));
                (
                    format!("(CASE WHEN {t} > {now} THEN 0 ELSE ({now2} - {t}) / {DAY} END)"),
                    nullable,
                )
            }
            Quantity::DaysSinceCategory(c) => {
                let p = self.bind(Val::Text(c.clone()));
                let t = if self.pg() {
                    format!("(m.facts->'category_last_at'->>{p})::bigint")
                } else {
                    format!(
                        "(SELECT e.value FROM json_each(m.facts, '$.category_last_at') e WHERE e.key = {p})"
                    )
                };
                let now = self.bind(Val::Int(self.ctx.now));
                let now2 = self.bind(Val::Int(self.ctx.now));
                (
                    format!("(CASE WHEN {t} > {now} THEN 0 ELSE ({now2} - {t}) / {DAY} END)"),
                    true,
                )
            }
            Quantity::DaysUntilExpiry(p) => {
                let active = self.active_membership(p);
                let now = self.bind(Val::Int(self.ctx.now));
                let now2 = self.bind(Val::Int(self.ctx.now));
                (
                    format!(
                        "(SELECT CASE WHEN ms.expires_at < {now} THEN 0 ELSE (ms.expires_at - {now2}) / {DAY} END \
                         FROM memberships ms WHERE {active})"
                    ),
                    true,
                )
            }
            Quantity::PurchasesWithin(d) => (self.window(*d, false), false),
            Quantity::SpentWithin(d) => (self.window(*d, true), false),
            Quantity::InteractionsWithin(d) => (self.interactions(*d), false),
            Quantity::RedeemedWithin(d) => {
                let p = self.bind(Val::Text(self.ctx.points_programme.to_owned()));
                let start = self.bind(Val::Int(self.ctx.now - time::days(*d)));
                (
                    format!(
                        "COALESCE((SELECT sum(-pe.amount) FROM points_entries pe WHERE pe.member_id = m.id \
                         AND pe.programme = {p} AND pe.account_type = 'wallet' AND pe.kind = 'redeem' AND pe.at > {start}), 0)"
                    ),
                    false,
                )
            }
            Quantity::Category(c) => (self.map_count("categories", c), false),
            Quantity::SubBrand(c) => (self.map_count("sub_brands", c), false),
            Quantity::Participations(c) => (self.map_count("participations", c), false),
            Quantity::ChannelEvents(names) => (self.channel_events(names), false),
            Quantity::ChannelsUsed => (
                if self.pg() {
                    "(SELECT count(*) FROM jsonb_object_keys(COALESCE(m.facts->'channels', '{}'::jsonb)))".to_owned()
                } else {
                    "(SELECT count(*) FROM json_each(m.facts, '$.channels'))".to_owned()
                },
                false,
            ),
            Quantity::City => (self.profile_text("city"), true),
            Quantity::Gender => (self.profile_text("gender"), true),
            Quantity::Occupation => (self.profile_text("occupation"), true),
            Quantity::Followers => {
                let f = if self.pg() {
                    "(m.profile->>'followers')::bigint".to_owned()
                } else {
                    "json_extract(m.profile, '$.followers')".to_owned()
                };
                (f, true)
            }
            // Compared through `age`.
            Quantity::Age => ("NULL".into(), true),
            Quantity::Stage | Quantity::Lens => ("NULL".into(), true),
            Quantity::PointsBalance => {
                let p = self.bind(Val::Text(self.ctx.points_programme.to_owned()));
                (
                    format!(
                        "COALESCE((SELECT pa.balance FROM points_accounts pa WHERE pa.member_id = m.id \
                         AND pa.programme = {p} AND pa.account_type = 'wallet'), 0)"
                    ),
                    false,
                )
            }
            Quantity::OpenRate(ch) | Quantity::ClickRate(ch) => {
                let column = if matches!(q, Quantity::OpenRate(_)) {
                    "o.opened_at"
                } else {
                    "o.clicked_at"
                };
                let on_channel = match ch {
                    Some(c) => format!(" AND o.channel = {}", self.bind(Val::Text(c.clone()))),
                    None => String::new(),
                };
                // Millionths, integer division: as the evaluator reads `open_rate`.
                (
                    format!(
                        "(SELECT CASE WHEN COUNT(*) = 0 THEN NULL ELSE \
                         SUM(CASE WHEN {column} IS NOT NULL THEN 1 ELSE 0 END) * 1000000 / COUNT(*) END \
                         FROM outbox o WHERE o.member_id = m.id AND o.kind = 'message' \
                         AND o.status = 'delivered'{on_channel})"
                    ),
                    true,
                )
            }
            Quantity::Tier(p) => {
                let active = self.active_membership(p);
                (
                    format!("(SELECT ms.tier FROM memberships ms WHERE {active})"),
                    true,
                )
            }
            Quantity::Score(f) => {
                self.scores = true;
                let col = match f {
                    ScoreField::SuperUser => "s.super_user",
                    ScoreField::Influence => "s.influence",
                    ScoreField::Intimacy => "s.intimacy",
                    ScoreField::RfmCell => "s.cell",
                    ScoreField::RfmR => "s.r",
                    ScoreField::RfmF => "s.f",
                    ScoreField::RfmM => "s.m",
                    ScoreField::PAlive => "s.p_alive_millionths",
                    ScoreField::Clv => "s.expected_value",
                };
                (col.into(), true)
            }
        }
    }
}

fn int(c: &Constant) -> i64 {
    match c {
        Constant::Int(n) => *n,
        _ => -1,
    }
}

fn join(parts: Vec<String>, sep: &str) -> String {
    let wrapped: Vec<String> = parts.into_iter().map(|p| format!("({p})")).collect();
    wrapped.join(sep)
}

fn sql_op(op: Op) -> &'static str {
    match op {
        Op::Eq => "=",
        Op::Ne => "<>",
        Op::Lt => "<",
        Op::Le => "<=",
        Op::Gt => ">",
        Op::Ge => ">=",
    }
}

fn holds(op: Op, rank: i64, k: i64) -> bool {
    match op {
        Op::Eq => rank == k,
        Op::Ne => rank != k,
        Op::Lt => rank < k,
        Op::Le => rank <= k,
        Op::Gt => rank > k,
        Op::Ge => rank >= k,
    }
}

/// The stages whose rank satisfies `op k`: the index on stage answers the rest.
fn stage_names(op: Op, k: i64) -> Vec<&'static str> {
    Stage::ALL
        .into_iter()
        .filter(|s| holds(op, *s as i64, k))
        .map(|s| s.as_str())
        .collect()
}

fn lens_names(op: Op, k: i64) -> Vec<&'static str> {
    Lens::ALL
        .into_iter()
        .filter(|l| holds(op, *l as i64, k))
        .map(|l| l.as_str())
        .collect()
}

fn ranks(column: &str, names: &[&str]) -> String {
    if names.is_empty() {
        return "1 = 0".into();
    }
    let list: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
    format!("{column} IN ({})", list.join(", "))
}
