//! Tags and segments. `tags.rs` keeps dimensions and members' tags; this file keeps the
//! saved segments' definitions and the compiled book ingest evaluates; `live.rs`
//! evaluates members and plans their entries and exits (in ingest's transaction, or in
//! any other writer's); `fill.rs` runs the background passes that fill a new segment and
//! the sweep of members whose segments change with the clock; `reads.rs` pages members,
//! changes and exports; `sql.rs` compiles a condition to SQL for previews and counts.

pub(crate) mod fill;
pub(crate) mod live;
mod reads;
pub(crate) mod sql;
mod tags;

pub use fill::{FillReport, SegmentSettings};
pub use reads::{
    ChangeRow, InfluencerRow, MemberSegmentRow, Preview, RankedMember, Reach, SegmentCursor,
    SegmentMemberRow,
};
pub(crate) use tags::set_tag_in;
pub use tags::{DimensionRow, MemberTagRow, SetTag, TagCount, TagImportLine};

use crate::audit::{self, AuditActor, AuditChange};
use crate::db::Store;
use crate::error::StoreError;
use flywheel_core::segment::{Cond, Language, Needs, compile};
use flywheel_core::time::Micros;
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// A saved segment as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct SegmentRow {
    pub id: String,
    pub name: String,
    pub expression: String,
    /// A tag the segment sets on its members while they are in it.
    pub tag: Option<String>,
    /// A badge the segment awards whoever enters it, kept when they leave.
    pub badge: Option<String>,
    pub builtin: bool,
    pub version: i64,
    /// `filling` until the first background pass over every member ends, then `ready`.
    pub status: String,
    /// The member id a running pass has reached; None when no pass runs.
    pub fill_after: Option<i64>,
    pub defined_at: Micros,
    pub defined_by: String,
    /// When its membership last changed.
    pub changed_at: Micros,
}

/// A definition to save.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PutSegment {
    pub id: String,
    pub name: String,
    pub expression: String,
    pub tag: Option<String>,
    pub badge: Option<String>,
}

/// What saving a definition did.
#[derive(Clone, Debug, PartialEq)]
pub enum SavedSegment {
    Created(SegmentRow),
    Updated(SegmentRow),
    /// The same definition was stored already.
    Unchanged(SegmentRow),
    /// `create` was asked and the id is taken.
    Exists,
    /// The expression names a segment that does not exist.
    UnknownSegment(String),
    /// The expression would make segments depend on themselves.
    Cycle(String),
}

const SEGMENT_COLUMNS: &str = "id, name, expression, tag, badge, builtin, version, status, fill_after, \
     defined_at, defined_by, changed_at";

fn segment_from_row(row: &AnyRow) -> Result<SegmentRow, StoreError> {
    Ok(SegmentRow {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        expression: row.try_get("expression")?,
        tag: row.try_get("tag")?,
        badge: row.try_get("badge")?,
        builtin: row.try_get::<i64, _>("builtin")? != 0,
        version: row.try_get("version")?,
        status: row.try_get("status")?,
        fill_after: row.try_get("fill_after")?,
        defined_at: row.try_get("defined_at")?,
        defined_by: row.try_get("defined_by")?,
        changed_at: row.try_get("changed_at")?,
    })
}

/// A segment compiled for evaluation.
#[derive(Clone, Debug)]
pub(crate) struct Compiled {
    pub id: String,
    pub version: i64,
    pub cond: Cond,
    pub tag: Option<String>,
    pub badge: Option<String>,
    pub needs: Needs,
}

/// Every saved segment, compiled, in an order where each comes after those it reads
/// (`in_segment`, or a tag another segment sets).
#[derive(Debug, Default)]
pub(crate) struct SegmentBook {
    pub segments: Vec<Compiled>,
    pub needs: Needs,
    pub lang: Option<Language>,
}

impl SegmentBook {
    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }
}

/// Orders segments so each follows what it reads; None names one in a cycle.
fn dependency_order(segments: Vec<Compiled>) -> Result<Vec<Compiled>, String> {
    let tag_setter: BTreeMap<String, String> = segments
        .iter()
        .filter_map(|s| s.tag.clone().map(|t| (t, s.id.clone())))
        .collect();
    let reads = |s: &Compiled| -> BTreeSet<String> {
        let mut out: BTreeSet<String> = s.needs.segments.iter().cloned().collect();
        let mut tags = Vec::new();
        collect_tags(&s.cond, &mut tags);
        out.extend(tags.iter().filter_map(|t| tag_setter.get(t).cloned()));
        out
    };
    let mut left: Vec<(Compiled, BTreeSet<String>)> = segments
        .into_iter()
        .map(|s| {
            let r = reads(&s);
            (s, r)
        })
        .collect();
    let ids: BTreeSet<String> = left.iter().map(|(s, _)| s.id.clone()).collect();
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::new();
    while !left.is_empty() {
        let before = left.len();
        let mut i = 0;
        while i < left.len() {
            let ready = left[i]
                .1
                .iter()
                .all(|d| done.contains(d) || !ids.contains(d));
            if ready {
                let (s, _) = left.remove(i);
                done.insert(s.id.clone());
                out.push(s);
            } else {
                i += 1;
            }
        }
        if left.len() == before {
            return Err(left[0].0.id.clone());
        }
    }
    Ok(out)
}

fn collect_tags(c: &Cond, out: &mut Vec<String>) {
    use flywheel_core::segment::expr::Test;
    match c {
        Cond::Test(Test::Tag(t)) => out.push(t.clone()),
        Cond::And(cs) | Cond::Or(cs) => cs.iter().for_each(|c| collect_tags(c, out)),
        Cond::Not(c) => collect_tags(c, out),
        _ => {}
    }
}

/// The counter every definition change advances, so each process can tell its
/// compiled book is stale.
const STAMP: &str = "segments";

impl Store {
    /// Every saved segment, by id.
    pub async fn segments(&self) -> Result<Vec<SegmentRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SEGMENT_COLUMNS} FROM segments ORDER BY id"
        )))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(segment_from_row).collect()
    }

    pub async fn segment(&self, id: &str) -> Result<Option<SegmentRow>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        segment_in(&mut conn, id).await
    }

    /// Members in each segment now.
    pub async fn segment_counts(&self) -> Result<BTreeMap<String, i64>, StoreError> {
        let rows = sqlx::query(
            "SELECT segment_id, count(*) AS n FROM segment_members GROUP BY segment_id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("segment_id")?, r.try_get("n")?)))
            .collect()
    }

    pub async fn segment_count(&self, id: &str) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT count(*) FROM segment_members WHERE segment_id = $1")
                .bind(id.to_owned())
                .fetch_one(self.pool())
                .await?,
        )
    }

    /// Saves a definition (checked by the caller: `expression` compiles to `cond`). A
    /// new or changed definition is `filling` until a background pass has evaluated every
    /// member against it; meanwhile ingest already evaluates the members it touches.
    pub async fn save_segment(
        &self,
        def: &PutSegment,
        cond: &Cond,
        create: bool,
        builtin: bool,
        actor: &AuditActor,
        now: Micros,
    ) -> Result<SavedSegment, StoreError> {
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let before = segment_in(conn, &def.id).await?;
        match &before {
            Some(b)
                if b.name == def.name
                    && b.expression == def.expression
                    && b.tag == def.tag
                    && b.badge == def.badge =>
            {
                return Ok(SavedSegment::Unchanged(b.clone()));
            }
            Some(_) if create => return Ok(SavedSegment::Exists),
            _ => {}
        }
        // Every segment it reads must exist, and none may read itself through others.
        let needs = cond.needs();
        let mut all: Vec<Compiled> = Vec::new();
        for row in sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SEGMENT_COLUMNS} FROM segments WHERE id <> $1"
        )))
        .bind(def.id.clone())
        .fetch_all(&mut *conn)
        .await?
        {
            let s = segment_from_row(&row)?;
            // Stored expressions compiled before; one that no longer does reads nothing.
            let cond = compile(&s.expression, &LANG_FOR_GRAPH).unwrap_or(Cond::Const(false));
            all.push(Compiled {
                needs: cond.needs(),
                id: s.id,
                version: s.version,
                cond,
                tag: s.tag,
                badge: s.badge,
            });
        }
        if let Some(missing) = needs
            .segments
            .iter()
            .find(|s| !all.iter().any(|c| &c.id == *s))
        {
            return Ok(SavedSegment::UnknownSegment(missing.clone()));
        }
        all.push(Compiled {
            id: def.id.clone(),
            version: 0,
            cond: cond.clone(),
            tag: def.tag.clone(),
            badge: def.badge.clone(),
            needs,
        });
        if let Err(id) = dependency_order(all) {
            return Ok(SavedSegment::Cycle(id));
        }
        let version = before.as_ref().map_or(1, |b| b.version + 1);
        let changed_at = before.as_ref().map_or(now, |b| b.changed_at);
        sqlx::query(
            "INSERT INTO segments (id, name, expression, tag, builtin, version, status, fill_after, fill_reason, \
             defined_at, defined_by, changed_at, badge) VALUES ($1, $2, $3, $4, $5, $6, 'filling', 0, 'definition', $7, $8, $9, $10) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, expression = excluded.expression, tag = excluded.tag, \
             badge = excluded.badge, \
             version = excluded.version, status = 'filling', fill_after = 0, fill_reason = 'definition', \
             defined_at = excluded.defined_at, defined_by = excluded.defined_by",
        )
        .bind(def.id.clone())
        .bind(def.name.clone())
        .bind(def.expression.clone())
        .bind(def.tag.clone())
        .bind(i64::from(builtin))
        .bind(version)
        .bind(now)
        .bind(actor.reference.clone())
        .bind(changed_at)
        .bind(def.badge.clone())
        .execute(&mut *conn)
        .await?;
        crate::sql::advance_stamp(conn, STAMP).await?;
        let change = AuditChange {
            kind: "segment",
            action: if before.is_some() { "update" } else { "create" },
            target: format!("segment:{}", def.id),
            reason: None,
            before: before
                .as_ref()
                .map(|b| json!({"name": b.name, "expression": b.expression, "tag": b.tag, "badge": b.badge})),
            after: Some(json!({"name": def.name, "expression": def.expression, "tag": def.tag, "badge": def.badge})),
        };
        audit::record(conn, now, actor, change).await?;
        let saved = segment_in(conn, &def.id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("segment vanished".into()))?;
        tx.commit().await?;
        Ok(if before.is_some() {
            SavedSegment::Updated(saved)
        } else {
            SavedSegment::Created(saved)
        })
    }

    /// Deletes a segment with its members and history. Refused (Err(Some(id))) while
    /// another segment reads it.
    pub async fn delete_segment(
        &self,
        id: &str,
        actor: &AuditActor,
        now: Micros,
    ) -> Result<Result<bool, String>, StoreError> {
        let mut tx = self.begin_write().await?;
        let conn: &mut AnyConnection = &mut tx;
        let Some(before) = segment_in(conn, id).await? else {
            return Ok(Ok(false));
        };
        for row in sqlx::query("SELECT id, expression FROM segments WHERE id <> $1")
            .bind(id.to_owned())
            .fetch_all(&mut *conn)
            .await?
        {
            let expression: String = row.try_get("expression")?;
            if let Ok(c) = compile(&expression, &LANG_FOR_GRAPH)
                && c.needs().segments.iter().any(|s| s == id)
            {
                return Ok(Err(row.try_get("id")?));
            }
        }
        // Rule tags it set go with it.
        if let Some(tag) = &before.tag {
            sqlx::query(
                "DELETE FROM member_tags WHERE tag = $1 AND source = 'segment' AND set_by = $2",
            )
            .bind(tag.clone())
            .bind(id.to_owned())
            .execute(&mut *conn)
            .await?;
        }
        for table in ["segment_members", "segment_changes"] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE segment_id = $1"
            )))
            .bind(id.to_owned())
            .execute(&mut *conn)
            .await?;
        }
        sqlx::query("DELETE FROM segments WHERE id = $1")
            .bind(id.to_owned())
            .execute(&mut *conn)
            .await?;
        crate::sql::advance_stamp(conn, STAMP).await?;
        let change = AuditChange {
            kind: "segment",
            action: "delete",
            target: format!("segment:{id}"),
            reason: None,
            before: Some(
                json!({"name": before.name, "expression": before.expression, "tag": before.tag}),
            ),
            after: None,
        };
        audit::record(conn, now, actor, change).await?;
        tx.commit().await?;
        Ok(Ok(true))
    }

    /// The compiled book, rebuilt when any definition changed (here or in another
    /// process). A stored expression that no longer compiles under `lang` (the stage
    /// window shrank) is left out, with a warning.
    pub(crate) async fn segment_book(
        &self,
        conn: &mut AnyConnection,
        lang: &Language,
    ) -> Result<Arc<SegmentBook>, StoreError> {
        let now_stamp = crate::sql::stamp(conn, STAMP).await?;
        if let Some((s, book)) = self.segment_cache().lock().expect("segment cache").as_ref()
            && *s == now_stamp
            && book.lang.as_ref() == Some(lang)
        {
            return Ok(book.clone());
        }
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SEGMENT_COLUMNS} FROM segments ORDER BY id"
        )))
        .fetch_all(&mut *conn)
        .await?;
        let mut compiled = Vec::new();
        for row in &rows {
            let s = segment_from_row(row)?;
            match compile(&s.expression, lang) {
                Ok(cond) => compiled.push(Compiled {
                    needs: cond.needs(),
                    id: s.id,
                    version: s.version,
                    cond,
                    tag: s.tag,
                    badge: s.badge,
                }),
                Err(e) => {
                    tracing::warn!(segment = %s.id, error = %e, "stored segment no longer compiles; skipped")
                }
            }
        }
        let segments = dependency_order(compiled).map_err(|id| {
            StoreError::Corrupt(format!("segments depend on themselves through {id}"))
        })?;
        let mut needs = Needs::default();
        for s in &segments {
            needs.add(&s.needs);
        }
        let book = Arc::new(SegmentBook {
            segments,
            needs,
            lang: Some(lang.clone()),
        });
        *self.segment_cache().lock().expect("segment cache") = Some((now_stamp, book.clone()));
        Ok(book)
    }
}

/// For finding which segments read which: windows do not matter there, so the longest
/// any policy could have is allowed.
static LANG_FOR_GRAPH: std::sync::LazyLock<Language> =
    std::sync::LazyLock::new(|| Language::new(3650));

pub(crate) async fn segment_in(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<SegmentRow>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {SEGMENT_COLUMNS} FROM segments WHERE id = $1"
    )))
    .bind(id.to_owned())
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(segment_from_row).transpose()
}

/// Marks that the built-in segments were offered once, so one a brand deleted stays
/// deleted.
const BUILTINS_OFFERED: &str = "builtin_segments";

impl Store {
    /// Saves the built-in segments (`flywheel_core::segment::builtin`) the first time a
    /// database is used; answers how many were added.
    pub async fn ensure_builtin_segments(&self, now: Micros) -> Result<usize, StoreError> {
        let offered: Option<i64> =
            sqlx::query_scalar("SELECT next_value FROM id_counters WHERE name = $1")
                .bind(BUILTINS_OFFERED)
                .fetch_optional(self.pool())
                .await?;
        if offered.is_some() {
            return Ok(0);
        }
        let lang = self.segment_settings().lang;
        let mut added = 0;
        for (id, name, expression) in flywheel_core::segment::builtin::BUILTIN {
            let Ok(cond) = compile(expression, &lang) else {
                tracing::warn!(
                    segment = id,
                    "built-in segment does not compile under this policy; skipped"
                );
                continue;
            };
            let def = PutSegment {
                id: id.into(),
                name: name.into(),
                expression: expression.into(),
                tag: None,
                badge: None,
            };
            if let SavedSegment::Created(_) = self
                .save_segment(&def, &cond, true, true, &AuditActor::system(), now)
                .await?
            {
                added += 1;
            }
        }
        let offered = sqlx::query(
            "INSERT INTO id_counters (name, next_value) VALUES ($1, 1) ON CONFLICT (name) DO NOTHING",
        )
        .bind(BUILTINS_OFFERED);
        self.write_alone(offered).await?;
        Ok(added)
    }
}
