//! One write transaction around many: an import's batch replayed day by day.
//!
//! Replaying a history applies each UTC day's events as a group and, between days, the
//! clock's sweeps (stages, points, memberships, segments) — a dozen or more write
//! transactions for a batch of 10,000 events, each committing its pages to the log.
//! Measured on 60,000 events of the demo history: 388 groups and 384 rounds of sweeps,
//! 1.9 s of it in commits alone. [`Store::hold_writes`] opens one transaction that the
//! groups and sweeps of a batch run inside, each as a savepoint: every statement and
//! every decision is the one it would have been, the rows come out the same, and the
//! batch commits (or rolls back) as a whole — as `flywheel import --batch-size` says.
//!
//! Only a process that writes through and holds the engine's lease holds writes: one
//! writing behind has its own transactions (the engine's flushes), and one without the
//! lease must check another process's queue at each commit.
//!
//! Reads through the pool see what was committed before the batch, not what its earlier
//! days wrote: everything the groups and sweeps decide from is read inside their
//! transaction, except the definitions (rules, programmes, segments, journeys), which an
//! import does not change, and the standing of a duplicate event's member (the import
//! only counts duplicates).

use crate::db::Store;
use crate::error::StoreError;
use sqlx::Executor;
use std::sync::Arc;
use tokio::sync::{Mutex, OwnedMutexGuard};

/// The transaction held open, and whether a write inside it ended without a word.
pub(crate) struct HeldConn {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    /// A write dropped without commit or rollback (an error on its way up): its
    /// savepoint is rolled back before anything else runs.
    abandoned: bool,
}

pub(crate) type Held = Arc<Mutex<HeldConn>>;

/// A write transaction's connection: its own transaction, or a savepoint inside the one
/// a [`HeldWrites`] holds. Either is None once committed or rolled back.
pub(crate) enum TxConn {
    Own(Option<sqlx::Transaction<'static, sqlx::Any>>),
    Savepoint(Option<OwnedMutexGuard<HeldConn>>),
}

const ENDED: &str = "a write transaction used after it ended";

impl TxConn {
    pub(crate) fn own(tx: sqlx::Transaction<'static, sqlx::Any>) -> TxConn {
        TxConn::Own(Some(tx))
    }

    /// A savepoint inside `held`, after rolling back one a dropped write left open.
    pub(crate) async fn savepoint(held: &Held) -> Result<TxConn, sqlx::Error> {
        let mut conn = held.clone().lock_owned().await;
        conn.settle().await?;
        conn.tx.execute(sqlx::raw_sql(SAVEPOINT_SQL)).await?;
        Ok(TxConn::Savepoint(Some(conn)))
    }

    pub(crate) async fn commit(&mut self) -> Result<(), sqlx::Error> {
        match self {
            TxConn::Own(tx) => tx.take().expect(ENDED).commit().await,
            TxConn::Savepoint(conn) => {
                let mut conn = conn.take().expect(ENDED);
                conn.tx.execute(sqlx::raw_sql(RELEASE_SQL)).await?;
                Ok(())
            }
        }
    }

    pub(crate) async fn rollback(&mut self) -> Result<(), sqlx::Error> {
        match self {
            TxConn::Own(tx) => tx.take().expect(ENDED).rollback().await,
            TxConn::Savepoint(conn) => {
                let mut conn = conn.take().expect(ENDED);
                conn.abandoned = true;
                conn.settle().await
            }
        }
    }

    pub(crate) fn conn(&self) -> &sqlx::AnyConnection {
        match self {
            TxConn::Own(tx) => tx.as_ref().expect(ENDED),
            TxConn::Savepoint(conn) => &conn.as_ref().expect(ENDED).tx,
        }
    }

    pub(crate) fn conn_mut(&mut self) -> &mut sqlx::AnyConnection {
        match self {
            TxConn::Own(tx) => tx.as_mut().expect(ENDED),
            TxConn::Savepoint(conn) => &mut conn.as_mut().expect(ENDED).tx,
        }
    }
}

impl Drop for TxConn {
    fn drop(&mut self) {
        // Dropping the guard lets the next write in; it rolls this savepoint back first.
        // (An own transaction rolls itself back when dropped.)
        if let TxConn::Savepoint(Some(conn)) = self {
            conn.abandoned = true;
        }
    }
}

/// Each write transaction inside the held one runs as this savepoint.
const SAVEPOINT_SQL: &str = "SAVEPOINT flywheel_write";
const RELEASE_SQL: &str = "RELEASE SAVEPOINT flywheel_write";
const ROLLBACK_SQL: &str = "ROLLBACK TO SAVEPOINT flywheel_write; RELEASE SAVEPOINT flywheel_write";

impl HeldConn {
    async fn settle(&mut self) -> Result<(), sqlx::Error> {
        if self.abandoned {
            self.tx.execute(sqlx::raw_sql(ROLLBACK_SQL)).await?;
            self.abandoned = false;
        }
        Ok(())
    }
}

/// A batch's writes held in one transaction: run them through [`HeldWrites::store`],
/// then commit or roll back. Dropped without either, it rolls back.
pub struct HeldWrites {
    store: Store,
}

impl HeldWrites {
    /// The store whose writes go into the held transaction (other handles on the same
    /// database write as usual, after it).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Commits every write made through [`HeldWrites::store`].
    pub async fn commit(self) -> Result<(), StoreError> {
        let mut conn = self.take().await?;
        conn.settle().await?;
        crate::crash::point("held.before_commit");
        conn.tx.commit().await?;
        crate::crash::point("held.after_commit");
        Ok(())
    }

    /// Rolls every write back; the member cache, which may hold what they wrote, is
    /// dropped.
    pub async fn rollback(self) -> Result<(), StoreError> {
        let inner = self.store.inner.clone();
        let conn = self.take().await?;
        conn.tx.rollback().await?;
        inner.member_cache.lock().await.clear();
        Ok(())
    }

    async fn take(mut self) -> Result<HeldConn, StoreError> {
        let held = self
            .store
            .held
            .take()
            .expect("held writes hold a transaction");
        let conn = Arc::try_unwrap(held).map_err(|_| {
            StoreError::Invalid("a write is still open inside the held transaction".into())
        })?;
        Ok(conn.into_inner())
    }
}

impl Drop for HeldWrites {
    fn drop(&mut self) {
        // Neither committed nor rolled back (a panic, a cancelled import): the
        // transaction rolls back as it drops, and what the member cache took from it
        // must go too. (A cache busy at this moment is left as it is: its generation is
        // then ahead of the database's, which its next check finds unless as many
        // commits come first.)
        if self.store.held.is_some()
            && let Ok(mut cache) = self.store.member_cache().try_lock()
        {
            cache.clear();
        }
    }
}

/// A connection to read from that sees this store's own writes: a pool connection, or
/// inside held writes a savepoint in their transaction (rolled back when dropped).
pub(crate) enum ReadConn {
    Pool(sqlx::pool::PoolConnection<sqlx::Any>),
    Held(crate::db::WriteTx),
}

impl std::ops::Deref for ReadConn {
    type Target = sqlx::AnyConnection;
    fn deref(&self) -> &sqlx::AnyConnection {
        match self {
            ReadConn::Pool(c) => c,
            ReadConn::Held(tx) => tx,
        }
    }
}

impl std::ops::DerefMut for ReadConn {
    fn deref_mut(&mut self) -> &mut sqlx::AnyConnection {
        match self {
            ReadConn::Pool(c) => c,
            ReadConn::Held(tx) => tx,
        }
    }
}

impl Store {
    /// Where to read what an earlier write of this store (an earlier day of a held
    /// batch) may have changed, without taking the writer when nothing is held.
    pub(crate) async fn read_conn(&self) -> Result<ReadConn, StoreError> {
        Ok(match self.held {
            Some(_) => ReadConn::Held(self.begin_engine_write().await?),
            None => ReadConn::Pool(self.pool().acquire().await?),
        })
    }

    /// Opens one write transaction for what follows through the answer's store; None
    /// where this process cannot (it writes behind, or another holds the lease): then
    /// each write commits on its own as usual.
    pub async fn hold_writes(&self) -> Result<Option<HeldWrites>, StoreError> {
        let engine = &self.inner.engine;
        if self.held.is_some() || engine.behind() || !engine.holder() {
            return Ok(None);
        }
        let tx = self
            .inner
            .writes
            .begin_with(crate::dialect::begin_write(self.inner.backend))
            .await?;
        let mut store = self.clone();
        store.held = Some(Arc::new(Mutex::new(HeldConn {
            tx,
            abandoned: false,
        })));
        Ok(Some(HeldWrites { store }))
    }
}
