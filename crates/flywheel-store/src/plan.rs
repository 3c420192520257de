//! A plan of writes: the statements a batch decided on, held as data until they run.
//!
//! Ingest builds the plan of its derived rows (members, identities, orders, ledger…)
//! without touching the database, so the engine can either run it in the batch's own
//! transaction (write-through) or keep it in memory and run it later with the plans of
//! other batches in one flush (write-behind, `engine.rs`). Running the plans of several
//! batches one after another in one transaction writes exactly what running each in a
//! transaction of its own would: the statements are the same, in the same order.

use crate::sql::{Val, insert_rows, remap_ids};
use sqlx::AnyConnection;

enum Write {
    /// `INSERT … VALUES (…), … <tail>` for every row.
    Rows {
        head: &'static str,
        rows: Vec<Vec<Val>>,
        tail: &'static str,
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

/// Statements to run, in order.
#[derive(Default)]
pub(crate) struct Writes {
    writes: Vec<Write>,
    /// Rows across every statement: what a flush's size is measured in.
    rows: usize,
}

impl Writes {
    pub fn rows(&mut self, head: &'static str, rows: Vec<Vec<Val>>, tail: &'static str) {
        if rows.is_empty() {
            return;
        }
        self.rows += rows.len();
        self.writes.push(Write::Rows { head, rows, tail });
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
                Write::Rows { head, rows, tail } => insert_rows(conn, head, rows, tail).await?,
                Write::Remap {
                    table,
                    column,
                    moves,
                } => remap_ids(conn, table, column, moves).await?,
                Write::Statement { sql, args } => {
                    let mut query = sqlx::query(*sql);
                    for v in args {
                        query = crate::sql::bind_ref(query, v);
                    }
                    query.execute(&mut *conn).await?;
                }
            }
        }
        Ok(())
    }
}
