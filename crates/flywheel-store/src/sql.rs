//! Helpers for the statements whose shape depends on a batch: multi-row inserts and
//! `IN (…)` look-ups, chunked under both databases' parameter limits.
//!
//! The SQL text is assembled only from constant fragments and `$n` placeholders; every
//! value is bound, so `AssertSqlSafe` is sound here.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe};

/// A value to bind.
#[derive(Clone, Debug)]
pub(crate) enum Val {
    Int(i64),
    OptInt(Option<i64>),
    Text(String),
    OptText(Option<String>),
    /// Never NULL: the Any driver sends a NULL float untyped, which PostgreSQL rejects.
    Float(f64),
}

impl From<i64> for Val {
    fn from(v: i64) -> Val {
        Val::Int(v)
    }
}
impl From<Option<i64>> for Val {
    fn from(v: Option<i64>) -> Val {
        Val::OptInt(v)
    }
}
impl From<String> for Val {
    fn from(v: String) -> Val {
        Val::Text(v)
    }
}
impl From<&str> for Val {
    fn from(v: &str) -> Val {
        Val::Text(v.to_owned())
    }
}
impl From<f64> for Val {
    fn from(v: f64) -> Val {
        Val::Float(v)
    }
}
impl From<Option<String>> for Val {
    fn from(v: Option<String>) -> Val {
        Val::OptText(v)
    }
}

pub(crate) type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

pub(crate) fn bind(query: AnyQuery<'_>, v: Val) -> AnyQuery<'_> {
    match v {
        Val::Int(i) => query.bind(i),
        Val::OptInt(i) => query.bind(i),
        Val::Text(s) => query.bind(s),
        Val::OptText(s) => query.bind(s),
        Val::Float(x) => query.bind(x),
    }
}

/// Binds a value by reference: the rows of a plan are not copied to be written.
pub(crate) fn bind_ref<'q>(query: AnyQuery<'q>, v: &'q Val) -> AnyQuery<'q> {
    match v {
        Val::Int(i) => query.bind(*i),
        Val::OptInt(i) => query.bind(*i),
        Val::Text(s) => query.bind(s.as_str()),
        Val::OptText(s) => query.bind(s.as_deref()),
        Val::Float(x) => query.bind(*x),
    }
}

/// Rows per statement: few enough to stay far below SQLite's 32,766 parameters, and a
/// fixed size so full chunks share one prepared statement per table.
const ROWS_PER_STATEMENT: usize = 256;
/// Rows per statement on PostgreSQL, where a row adds no parameters (`unnest_insert`):
/// a bound on the size of one array's text.
const PG_ROWS_PER_STATEMENT: usize = 4096;
/// A power of two: look-ups pad their keys to one (`select_in_binding`).
const KEYS_PER_LOOKUP: usize = 512;

fn is_sqlite(conn: &AnyConnection) -> bool {
    conn.backend_name() == "SQLite"
}

/// SQLite finds a named parameter (`$7`, `?7`) by a linear search through the
/// statement's names, which makes binding a 2,500-value insert quadratic; plain `?` is
/// bound by position. PostgreSQL only understands `$n`. The tails and heads passed to
/// these helpers therefore carry no parameters of their own.
fn push_placeholder(sql: &mut String, sqlite: bool, n: usize) {
    if sqlite {
        sql.push('?');
    } else {
        sql.push('$');
        sql.push_str(&n.to_string());
    }
}

/// `INSERT INTO … (cols) … <tail>` for every row, in chunks of a fixed size, so that
/// each table has a handful of statement texts, each parsed once and then reused from
/// the connection's cache. On SQLite a chunk's rows are padded to a power of two
/// ([`padded_insert`]); on PostgreSQL each column is one array ([`unnest_insert`]).
pub(crate) async fn insert_rows<R: AsRef<[Val]>>(
    conn: &mut AnyConnection,
    head: &str,
    rows: &[R],
    tail: &str,
) -> Result<(), sqlx::Error> {
    insert_rows_counting(conn, head, rows, tail).await?;
    Ok(())
}

/// [`insert_rows`], answering how many rows the statements inserted or changed (with
/// `ON CONFLICT … DO NOTHING`, the rows that were new).
pub(crate) async fn insert_rows_counting<R: AsRef<[Val]>>(
    conn: &mut AnyConnection,
    head: &str,
    rows: &[R],
    tail: &str,
) -> Result<u64, sqlx::Error> {
    let Some(width) = rows.first().map(|r| r.as_ref().len()) else {
        return Ok(0);
    };
    if !is_sqlite(conn) {
        return unnest_insert(conn, head, rows, tail).await;
    }
    let mut affected = 0;
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let sql = padded_insert(head, width, chunk.len().next_power_of_two(), tail);
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for row in chunk {
            query = query.bind(1_i64);
            for v in row.as_ref() {
                query = bind_ref(query, v);
            }
        }
        affected += query.execute(&mut *conn).await?.rows_affected();
    }
    Ok(affected)
}

/// Inserts `rows` on PostgreSQL: `<head> SELECT * FROM unnest($1::bigint[], …) <tail>`,
/// each column bound as one array (sent as the text of an array literal: the `Any`
/// driver binds no arrays). The text is the same whatever the count of rows, so each
/// table has one prepared statement, planned once.
async fn unnest_insert<R: AsRef<[Val]>>(
    conn: &mut AnyConnection,
    head: &str,
    rows: &[R],
    tail: &str,
) -> Result<u64, sqlx::Error> {
    let Some(first) = rows.first().map(|r| r.as_ref()) else {
        return Ok(0);
    };
    let mut sql = format!("{head} SELECT * FROM unnest(");
    for (c, v) in first.iter().enumerate() {
        if c > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!("${}::text::{}", c + 1, pg_array_type(v)));
    }
    sql.push_str(") ");
    sql.push_str(tail);
    let mut affected = 0;
    for chunk in rows.chunks(PG_ROWS_PER_STATEMENT) {
        let mut query = sqlx::query(AssertSqlSafe(sql.as_str()));
        for c in 0..first.len() {
            query = query.bind(pg_array(chunk.iter().map(|r| &r.as_ref()[c])));
        }
        affected += query.execute(&mut *conn).await?.rows_affected();
    }
    Ok(affected)
}

/// The PostgreSQL array type of a column holding values like `v`.
fn pg_array_type(v: &Val) -> &'static str {
    match v {
        Val::Int(_) | Val::OptInt(_) => "bigint[]",
        Val::Text(_) | Val::OptText(_) => "text[]",
        Val::Float(_) => "float8[]",
    }
}

/// The text of a PostgreSQL array literal holding `values`: `{1,NULL,"a \"b\""}`.
fn pg_array<'v>(values: impl Iterator<Item = &'v Val>) -> String {
    use std::fmt::Write;
    let mut out = String::from("{");
    for (i, v) in values.enumerate() {
        if i > 0 {
            out.push(',');
        }
        match v {
            Val::Int(n) | Val::OptInt(Some(n)) => {
                let _ = write!(out, "{n}");
            }
            Val::OptInt(None) | Val::OptText(None) => out.push_str("NULL"),
            // Quoted, so that empty texts, `NULL`, braces and commas stay texts.
            Val::Text(t) | Val::OptText(Some(t)) => {
                out.push('"');
                for ch in t.chars() {
                    if ch == '"' || ch == '\\' {
                        out.push('\\');
                    }
                    out.push(ch);
                }
                out.push('"');
            }
            // Rust writes the shortest text that reads back as the same number.
            Val::Float(x) => {
                let _ = write!(out, "{x}");
            }
        }
    }
    out.push('}');
    out
}

/// `<head> SELECT column2, … FROM (VALUES (?, ?, …), …) WHERE column1 IS NOT NULL
/// <tail>` with room for `slots` rows of `width` values (SQLite).
///
/// Each row starts with a marker bound to 1. The slots past the rows bound stay unbound,
/// which SQLite reads as NULL (sqlx binds up to the values it was given and leaves the
/// rest, and clears every binding before a kept statement runs again), so the marker
/// keeps them out. Padding costs no binding and little work; a new text costs a
/// parse and a plan. The `WHERE` also settles the parse of an upsert tail, which SQLite
/// requires after `INSERT … SELECT`.
fn padded_insert(head: &str, width: usize, slots: usize, tail: &str) -> String {
    let mut sql =
        String::with_capacity(head.len() + (slots + 2) * (width + 1) * 2 + tail.len() + 64);
    sql.push_str(head);
    sql.push_str(" SELECT ");
    for c in 2..=width + 1 {
        if c > 2 {
            sql.push(',');
        }
        sql.push_str("column");
        sql.push_str(&c.to_string());
    }
    sql.push_str(" FROM (VALUES ");
    for r in 0..slots {
        if r > 0 {
            sql.push(',');
        }
        sql.push('(');
        for c in 0..=width {
            if c > 0 {
                sql.push(',');
            }
            sql.push('?');
        }
        sql.push(')');
    }
    sql.push_str(") WHERE column1 IS NOT NULL ");
    sql.push_str(tail);
    sql
}

/// Runs `<head> IN ($1, …) <tail>` over `keys` in chunks and gathers the rows.
pub(crate) async fn select_in(
    conn: &mut AnyConnection,
    head: &str,
    keys: impl IntoIterator<Item = Val>,
    tail: &str,
) -> Result<Vec<AnyRow>, sqlx::Error> {
    select_in_binding(conn, head, keys, tail, &[]).await
}

/// [`select_in`] with values of its own in the tail, written `$T1`, `$T2`… and bound
/// after the keys: a tail that varies only in its values keeps one text, so its
/// prepared statement is reused.
///
/// Each chunk's keys are padded to a power of two by repeating its last key (a key
/// twice in `IN (…)` matches nothing more), so a look-up has a handful of shapes, not
/// one per count of keys: each new shape is parsed and planned again, and pushes a
/// statement the writer reuses out of the connection's cache.
///
/// Not `= ANY($1)` with the keys as one array on PostgreSQL, though it would have one
/// shape: the array can only be sent as text and cast, and PostgreSQL does not fold
/// that cast while planning, so it cannot tell how many keys there are; on a new
/// database it planned the duplicate check as a scan of every event, 0.5–1 s a batch
/// (measured; `bench/PROFILE.md`).
pub(crate) async fn select_in_binding(
    conn: &mut AnyConnection,
    head: &str,
    keys: impl IntoIterator<Item = Val>,
    tail: &str,
    tail_args: &[Val],
) -> Result<Vec<AnyRow>, sqlx::Error> {
    let keys: Vec<Val> = keys.into_iter().collect();
    let sqlite = is_sqlite(conn);
    let mut out = Vec::new();
    for chunk in keys.chunks(KEYS_PER_LOOKUP) {
        let padded = chunk.len().next_power_of_two();
        let mut sql = format!("{head} IN (");
        for i in 1..=padded {
            if i > 1 {
                sql.push(',');
            }
            push_placeholder(&mut sql, sqlite, i);
        }
        sql.push_str(") ");
        // From the last so `$T1` does not match the start of `$T10`.
        let mut tail = tail.to_owned();
        // Numbered on both databases (`?NNN` on SQLite), so one value can be used twice.
        for t in (1..=tail_args.len()).rev() {
            let mark = if sqlite { '?' } else { '$' };
            tail = tail.replace(&format!("$T{t}"), &format!("{mark}{}", padded + t));
        }
        sql.push_str(&tail);
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for v in chunk.iter().chain(std::iter::repeat_n(
            &chunk[chunk.len() - 1],
            padded - chunk.len(),
        )) {
            query = bind_ref(query, v);
        }
        for v in tail_args {
            query = bind_ref(query, v);
        }
        out.extend(query.fetch_all(&mut *conn).await?);
    }
    Ok(out)
}

/// Rewrites `column` of `table` by `moves` (old value → new value) in one statement per
/// chunk: `UPDATE t SET c = CASE c WHEN old THEN new … END WHERE c IN (old, …)`.
pub(crate) async fn remap_ids(
    conn: &mut AnyConnection,
    table: &'static str,
    column: &'static str,
    moves: &[(i64, i64)],
) -> Result<(), sqlx::Error> {
    let sqlite = is_sqlite(conn);
    // Three parameters per move, far below both databases' limits.
    for chunk in moves.chunks(KEYS_PER_LOOKUP) {
        let mut sql = format!("UPDATE {table} SET {column} = CASE {column}");
        let mut n = 0;
        for _ in chunk {
            sql.push_str(" WHEN ");
            n += 1;
            push_placeholder(&mut sql, sqlite, n);
            sql.push_str(" THEN ");
            n += 1;
            push_placeholder(&mut sql, sqlite, n);
        }
        sql.push_str(&format!(" ELSE {column} END WHERE {column} IN ("));
        for i in 0..chunk.len() {
            if i > 0 {
                sql.push(',');
            }
            n += 1;
            push_placeholder(&mut sql, sqlite, n);
        }
        sql.push(')');
        // Merges are rare and each has its own count of moves: prepared once, let go.
        let mut query = sqlx::query(AssertSqlSafe(sql)).persistent(false);
        for &(old, new) in chunk {
            query = query.bind(old).bind(new);
        }
        for &(old, _) in chunk {
            query = query.bind(old);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// A stamp: a counter in `id_counters` that every change of some definitions (saved
/// segments, journeys) advances, so each process can tell its compiled copy is stale.
pub(crate) async fn stamp(conn: &mut AnyConnection, name: &str) -> Result<i64, sqlx::Error> {
    let v: Option<i64> = sqlx::query_scalar("SELECT next_value FROM id_counters WHERE name = $1")
        .bind(name.to_owned())
        .fetch_optional(&mut *conn)
        .await?;
    Ok(v.unwrap_or(0))
}

/// Advances the stamp `name` ([`stamp`]), in the caller's transaction.
pub(crate) async fn advance_stamp(conn: &mut AnyConnection, name: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO id_counters (name, next_value) VALUES ($1, 1) \
         ON CONFLICT (name) DO UPDATE SET next_value = id_counters.next_value + 1",
    )
    .bind(name.to_owned())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Row;

    #[test]
    fn an_array_literal_keeps_every_text_a_text() {
        let vals = [
            Val::Text("a \"b\" \\c".into()),
            Val::OptText(None),
            Val::OptText(Some("NULL".into())),
            Val::Text(String::new()),
            Val::Text("{x,y}".into()),
        ];
        assert_eq!(
            pg_array(vals.iter()),
            r#"{"a \"b\" \\c",NULL,"NULL","","{x,y}"}"#
        );
        let ints = [Val::Int(-3), Val::OptInt(None), Val::OptInt(Some(7))];
        assert_eq!(pg_array(ints.iter()), "{-3,NULL,7}");
    }

    /// An insert's text is kept and run again with fewer rows: the slots an earlier run
    /// filled must not come back (on SQLite, sqlx clears the bindings of a kept
    /// statement before it runs again; if that ever changed, this fails), and awkward
    /// texts and numbers come back as they went in (on PostgreSQL, through an array's
    /// text).
    #[tokio::test]
    async fn an_insert_writes_exactly_its_rows_however_often_its_text_is_reused() {
        for db in flywheel_testkit::databases().await {
            // This crate's own `Store` (the testkit's is the library's, built apart).
            let store = crate::db::Store::open(&db.url).await.unwrap();
            let mut conn = store.pool().acquire().await.unwrap();
            sqlx::query(
                "CREATE TABLE padded (k BIGINT PRIMARY KEY, v TEXT, f DOUBLE PRECISION NOT NULL)",
            )
            .execute(&mut *conn)
            .await
            .unwrap();
            let text = |k: i64| {
                (k % 2 == 0).then(|| match k % 3 {
                    0 => format!("{k} \"quoted\" \\ {{braced,}} 名"),
                    1 => String::new(),
                    _ => "NULL".to_owned(),
                })
            };
            let float = |k: i64| k as f64 / 7.0;
            let rows = |keys: &[i64]| -> Vec<Vec<Val>> {
                keys.iter()
                    .map(|k| vec![Val::Int(*k), Val::OptText(text(*k)), Val::Float(float(*k))])
                    .collect()
            };
            let (head, tail) = (
                "INSERT INTO padded (k, v, f)",
                "ON CONFLICT (k) DO UPDATE SET v = excluded.v",
            );
            // Four slots each time: four rows, then three, then one in a slot of its own.
            insert_rows(&mut conn, head, &rows(&[10, 11, 12, 13]), tail)
                .await
                .unwrap();
            insert_rows(&mut conn, head, &rows(&[20, 21, 22]), tail)
                .await
                .unwrap();
            insert_rows(&mut conn, head, &rows(&[30]), tail)
                .await
                .unwrap();
            // More rows than a statement takes: a full chunk and a rest.
            let many: Vec<i64> = (1000..1000 + PG_ROWS_PER_STATEMENT as i64 + 5).collect();
            insert_rows(&mut conn, head, &rows(&many), tail)
                .await
                .unwrap();
            // The upsert tail still applies: 11 gets a value.
            insert_rows(
                &mut conn,
                head,
                &[vec![
                    Val::Int(11),
                    Val::OptText(Some("eleven".into())),
                    Val::Float(0.0),
                ]],
                tail,
            )
            .await
            .unwrap();

            let got: Vec<(i64, Option<String>, f64)> =
                sqlx::query("SELECT k, v, f FROM padded ORDER BY k")
                    .fetch_all(&mut *conn)
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| {
                        (
                            r.try_get("k").unwrap(),
                            r.try_get("v").unwrap(),
                            r.try_get("f").unwrap(),
                        )
                    })
                    .collect();
            let mut want: Vec<(i64, Option<String>, f64)> = [10, 11, 12, 13, 20, 21, 22, 30]
                .iter()
                .chain(&many)
                .map(|k| (*k, text(*k), float(*k)))
                .collect();
            want[1].1 = Some("eleven".into());
            assert_eq!(
                got,
                want,
                "{}: rows with a NULL value are written; padding is not",
                db.name()
            );

            // Looked up by key (one named twice) with a bound tail, and by text.
            let keys: Vec<Val> = [12, 13, 99, 12].into_iter().map(Val::Int).collect();
            let found = select_in_binding(
                &mut conn,
                "SELECT k FROM padded WHERE k",
                keys,
                "AND f > $T1 ORDER BY k",
                &[Val::Float(1.5)],
            )
            .await
            .unwrap();
            let found: Vec<i64> = found.iter().map(|r| r.try_get("k").unwrap()).collect();
            assert_eq!(found, vec![12, 13], "{}", db.name());
            let by_text = select_in(
                &mut conn,
                "SELECT k FROM padded WHERE v",
                [Val::Text(text(30).unwrap()), Val::Text("NULL".into())],
                "ORDER BY k",
            )
            .await
            .unwrap();
            let wanted = want
                .iter()
                .filter(|(k, v, _)| *k == 30 || v.as_deref() == Some("NULL"))
                .count();
            assert_eq!(by_text.len(), wanted, "{}", db.name());
            drop(conn);
            store.close().await;
        }
    }
}
