//! A plan of writes: the statements a batch decided on, held as data until they run.
//!
//! Ingest builds the plan of its derived rows (members, identities, orders, ledger…)
//! without touching the database, so the engine can either run it in the batch's own
//! transaction (write-through) or keep it in memory and run it later with the plans of
//! other batches in one flush (write-behind, `engine.rs`).
//!
//! A flush runs many plans together ([`run_together`]): each kind of statement once,
//! over the rows of every plan, instead of once per plan. That writes what running the
//! plans one after another writes, because
//! - the kinds of statement run in an order that keeps each plan's own order (the
//!   planners list them in one fixed order, so one always exists; where none would,
//!   the plans run one after another instead);
//! - the rows of one kind stay in plan order, so generated ids come out the same;
//! - waiting plans never write the same member-keyed row (the engine flushes before a
//!   group that would), so their rows can share a statement; the one row every plan
//!   writes — the brand's accounts — is written once, with the plans' deltas summed
//!   ([`Writes::summed_rows`]).

use crate::sql::{Val, insert_rows, remap_ids};
use sqlx::AnyConnection;
use std::collections::HashMap;

/// How the rows of one statement from several plans are put together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Combine {
    /// Every row, in plan order.
    Append,
    /// One row per value of every column but the last, the last the sum of theirs.
    SumLast,
}

enum Write {
    /// `INSERT … VALUES (…), … <tail>` for every row.
    Rows {
        head: &'static str,
        rows: Vec<Vec<Val>>,
        tail: &'static str,
        combine: Combine,
    },
    /// Rewrite `column` of `table` from each old member id to its new one.
    Remap {
        table: &'static str,
        column: &'static str,
        moves: Vec<(i64, i64)>,
    },
    /// One statement with its arguments, bound in order.
    Statement { sql: &'static str, args: Vec<Val> },
}

/// What statements of several plans can be run as one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Shape {
    Rows(&'static str, &'static str, Combine),
    Remap(&'static str, &'static str),
    Statement(&'static str),
}

impl Write {
    fn shape(&self) -> Shape {
        match self {
            Write::Rows {
                head,
                tail,
                combine,
                ..
            } => Shape::Rows(head, tail, *combine),
            Write::Remap { table, column, .. } => Shape::Remap(table, column),
            Write::Statement { sql, .. } => Shape::Statement(sql),
        }
    }
}

/// Statements to run, in order.
#[derive(Default)]
pub(crate) struct Writes {
    writes: Vec<Write>,
    /// Rows across every statement: what a flush's size is measured in.
    rows: usize,
}

impl Writes {
    pub fn rows(&mut self, head: &'static str, rows: Vec<Vec<Val>>, tail: &'static str) {
        self.push_rows(head, rows, tail, Combine::Append);
    }

    /// Rows of an upsert that adds its last column to the stored row's (`… SET x = x +
    /// excluded.x`), keyed by the others: run with other plans', rows of one key become
    /// one row carrying the sum. Within one plan, each key must come once.
    pub fn summed_rows(&mut self, head: &'static str, rows: Vec<Vec<Val>>, tail: &'static str) {
        self.push_rows(head, rows, tail, Combine::SumLast);
    }

    fn push_rows(
        &mut self,
        head: &'static str,
        rows: Vec<Vec<Val>>,
        tail: &'static str,
        combine: Combine,
    ) {
        if rows.is_empty() {
            return;
        }
        self.rows += rows.len();
        self.writes.push(Write::Rows {
            head,
            rows,
            tail,
            combine,
        });
    }

    pub fn remap(&mut self, table: &'static str, column: &'static str, moves: Vec<(i64, i64)>) {
        if moves.is_empty() {
            return;
        }
        self.rows += moves.len();
        self.writes.push(Write::Remap {
            table,
            column,
            moves,
        });
    }

    pub fn statement(&mut self, sql: &'static str, args: Vec<Val>) {
        self.rows += 1;
        self.writes.push(Write::Statement { sql, args });
    }

    /// How many rows the plan writes (an upper bound: a remap counts its moves).
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Runs every statement, in order, on `conn` (inside the caller's transaction).
    pub async fn run(&self, conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
        for write in &self.writes {
            match write {
                Write::Rows {
                    head, rows, tail, ..
                } => insert_rows(conn, head, rows, tail).await?,
                Write::Remap {
                    table,
                    column,
                    moves,
                } => remap_ids(conn, table, column, moves).await?,
                Write::Statement { sql, args } => run_statement(conn, sql, args).await?,
            }
        }
        Ok(())
    }
}

async fn run_statement(
    conn: &mut AnyConnection,
    sql: &'static str,
    args: &[Val],
) -> Result<(), sqlx::Error> {
    let mut query = sqlx::query(sql);
    for v in args {
        query = crate::sql::bind_ref(query, v);
    }
    query.execute(&mut *conn).await?;
    Ok(())
}

/// The writes of one shape, gathered from several plans in plan order.
enum Gathered<'a> {
    Rows(Vec<&'a Vec<Val>>),
    Moves(Vec<(i64, i64)>),
    Statements(Vec<&'a [Val]>),
}

/// Gathers `plans` by shape, in an order that keeps every plan's own order of shapes
/// (the first to appear goes first where the plans leave a choice), or answers None
/// when no order does (one plan writes a shape both before and after another).
fn gather<'a>(plans: &[&'a Writes]) -> Option<Vec<(Shape, Gathered<'a>)>> {
    let mut shapes: Vec<(Shape, Gathered<'a>)> = Vec::new();
    let mut index: HashMap<Shape, usize> = HashMap::new();
    // Which shape some plan writes right before another.
    let mut before: Vec<(usize, usize)> = Vec::new();
    for &plan in plans {
        let mut last = None;
        for write in &plan.writes {
            let shape = write.shape();
            let at = *index.entry(shape).or_insert_with(|| {
                shapes.push((
                    shape,
                    match write {
                        Write::Rows { .. } => Gathered::Rows(Vec::new()),
                        Write::Remap { .. } => Gathered::Moves(Vec::new()),
                        Write::Statement { .. } => Gathered::Statements(Vec::new()),
                    },
                ));
                shapes.len() - 1
            });
            if let Some(last) = last
                && last != at
            {
                before.push((last, at));
            }
            last = Some(at);
            match (write, &mut shapes[at].1) {
                (Write::Rows { rows, .. }, Gathered::Rows(all)) => all.extend(rows),
                (Write::Remap { moves, .. }, Gathered::Moves(all)) => all.extend(moves),
                (Write::Statement { args, .. }, Gathered::Statements(all)) => all.push(args),
                _ => unreachable!("a shape names its kind of write"),
            }
        }
    }
    // Kahn's topological sort, taking the earliest-seen shape among those ready.
    let mut waits_for = vec![0usize; shapes.len()];
    let mut after: Vec<Vec<usize>> = vec![Vec::new(); shapes.len()];
    before.sort_unstable();
    before.dedup();
    for &(a, b) in &before {
        waits_for[b] += 1;
        after[a].push(b);
    }
    let mut ready: std::collections::BTreeSet<usize> =
        (0..shapes.len()).filter(|&i| waits_for[i] == 0).collect();
    let mut order = Vec::with_capacity(shapes.len());
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for &b in &after[i] {
            waits_for[b] -= 1;
            if waits_for[b] == 0 {
                ready.insert(b);
            }
        }
    }
    if order.len() < shapes.len() {
        return None;
    }
    let mut slots: Vec<Option<(Shape, Gathered<'a>)>> = shapes.into_iter().map(Some).collect();
    Some(order.into_iter().filter_map(|i| slots[i].take()).collect())
}

/// Rows keyed by every column but the last, in order of first appearance, each
/// carrying the sum of the last column over its key.
fn sum_last(rows: &[&Vec<Val>]) -> Vec<Vec<Val>> {
    let mut out: Vec<Vec<Val>> = Vec::new();
    let mut at: HashMap<String, usize> = HashMap::new();
    for row in rows {
        let key = format!("{:?}", &row[..row.len().saturating_sub(1)]);
        match at.get(&key) {
            Some(&i) => {
                if let (Some(Val::Int(sum)), Some(Val::Int(add))) = (out[i].last_mut(), row.last())
                {
                    *sum += add;
                } else {
                    // Not a sum this knows how to add: keep the row as it is.
                    out.push((*row).clone());
                }
            }
            None => {
                at.insert(key, out.len());
                out.push((*row).clone());
            }
        }
    }
    out
}

/// Runs `plans` with the effect of running each in turn (see the module's header), one
/// statement per shape over every plan's rows. `after_first` is called once the first
/// statement has run (a crash point).
pub(crate) async fn run_together(
    plans: &[&Writes],
    conn: &mut AnyConnection,
    after_first: impl FnOnce(),
) -> Result<(), sqlx::Error> {
    let mut after_first = Some(after_first);
    let Some(gathered) = gather(plans) else {
        tracing::warn!("plans list their statements in different orders: running them one by one");
        for plan in plans {
            plan.run(conn).await?;
            if let Some(f) = after_first.take() {
                f();
            }
        }
        return Ok(());
    };
    for (shape, writes) in gathered {
        match (shape, writes) {
            (Shape::Rows(head, tail, Combine::Append), Gathered::Rows(rows)) => {
                insert_rows(conn, head, &rows, tail).await?
            }
            (Shape::Rows(head, tail, Combine::SumLast), Gathered::Rows(rows)) => {
                insert_rows(conn, head, &sum_last(&rows), tail).await?
            }
            (Shape::Remap(table, column), Gathered::Moves(moves)) => {
                remap_ids(conn, table, column, &moves).await?
            }
            (Shape::Statement(sql), Gathered::Statements(all)) => {
                for args in all {
                    run_statement(conn, sql, args).await?;
                }
            }
            _ => unreachable!("a shape names its kind of write"),
        }
        if let Some(f) = after_first.take() {
            f();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(shapes: &[&'static str]) -> Writes {
        let mut w = Writes::default();
        for s in shapes {
            w.rows(s, vec![vec![Val::Int(1)]], "");
        }
        w
    }

    #[test]
    fn plans_gather_by_shape_in_an_order_that_keeps_each_plans_own() {
        let shapes = |plans: &[Writes]| {
            let plans: Vec<&Writes> = plans.iter().collect();
            gather(&plans).map(|g| g.into_iter().map(|(shape, _)| shape).collect::<Vec<_>>())
        };
        let rows = |s| Shape::Rows(s, "", Combine::Append);
        assert_eq!(
            shapes(&[plan(&["a", "b", "c"]), plan(&["a", "c"]), plan(&["b"])]),
            Some(vec![rows("a"), rows("b"), rows("c")])
        );
        // "b" first appears after "c", but the second plan writes it before "c"; "r"
        // appears last, but the third plan writes it before "a".
        assert_eq!(
            shapes(&[plan(&["a", "c"]), plan(&["a", "b", "c"]), plan(&["r", "a"])]),
            Some(vec![rows("r"), rows("a"), rows("b"), rows("c")])
        );
        // No order keeps both plans' own.
        assert_eq!(shapes(&[plan(&["a", "b"]), plan(&["b", "a"])]), None);
        assert_eq!(shapes(&[plan(&["a", "b", "a"])]), None);
    }

    #[test]
    fn summed_rows_of_one_key_become_one_row() {
        let a = vec![Val::Text("brand".into()), Val::Int(5)];
        let b = vec![Val::Text("m1".into()), Val::Int(2)];
        let c = vec![Val::Text("brand".into()), Val::Int(-3)];
        let out = sum_last(&[&a, &b, &c]);
        assert_eq!(out.len(), 2);
        assert!(matches!((&out[0][0], &out[0][1]), (Val::Text(k), Val::Int(2)) if k == "brand"));
        assert!(matches!(&out[1][1], Val::Int(2)));
    }
}
