//! Opening the database: URL → backend, pool settings, SQLite pragmas.

use crate::cache::MemberCache;
use crate::engine::{Engine, Pending, WRITE_THROUGH_FOR};
use crate::error::StoreError;
use crate::held::TxConn;
use log::LevelFilter;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, ConnectOptions, Executor};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// sqlx warns about statements slower than a second by default; a bulk import's batch
/// statements and the background checkpoint of a large log routinely take that long, so
/// a warning means five.
const SLOW_STATEMENT: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> Result<Backend, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::UnsupportedUrl(url.to_owned()))
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A handle on the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
    /// Set on the store a [`crate::HeldWrites`] hands out: its writes are savepoints
    /// inside one transaction (`held.rs`).
    pub(crate) held: Option<crate::held::Held>,
}

pub(crate) struct Inner {
    /// Reads (and, on PostgreSQL, writes).
    pub pool: AnyPool,
    /// Write transactions. On SQLite a pool of exactly one connection: SQLite has one
    /// writer anyway, queueing here avoids busy retries, and that one connection keeps
    /// a large, warm page cache instead of eight cold ones. On PostgreSQL, `pool`.
    pub writes: AnyPool,
    pub backend: Backend,
    /// The earning rules, with the newest stored version they include.
    pub rule_cache: RuleCache,
    /// The membership programmes, with the sum of their stored versions (which any new
    /// version changes).
    pub catalogue_cache: CatalogueCache,
    /// The saved segments, compiled, with the definitions' stamp they were built at.
    pub segment_cache: SegmentCache,
    /// The active journeys, compiled, with the stamp they were built at.
    pub journey_cache: JourneyCache,
    /// The service queues and team templates, compiled, with the stamp they were read at.
    pub service_cache: crate::service::book::ServiceCache,
    /// The policy segments are evaluated under (`Store::configure_segments`).
    pub segment_settings: std::sync::RwLock<crate::segments::fill::SegmentSettings>,
    /// Members, identities, orders and referrals ingest read or wrote, kept between its
    /// transactions while no other writer commits (`cache.rs`).
    pub member_cache: tokio::sync::Mutex<MemberCache>,
    /// Whether the cache is on (bounds above zero), readable without its lock.
    pub member_cache_on: AtomicBool,
    /// Write-behind: the lease, the plans waiting to be flushed (`engine.rs`).
    pub engine: Engine,
    /// Held while the kept history figures are computed (`history_figures.rs`).
    pub history_figures: tokio::sync::Mutex<()>,
    /// The slice sizes the clock's passes last earned (`slice.rs`).
    pub slices: crate::slice::Learned,
    /// This process holds the lease and serves nobody: no request waits between the
    /// passes' slices (`Store::work_alone`).
    pub alone: AtomicBool,
    /// Events ingested in the last whole second (`pace.rs`).
    pub ingest_pace: crate::pace::IngestPace,
    /// The database file, on SQLite (None in memory).
    pub sqlite_path: Option<String>,
}

/// A write transaction. Committing advances the write generation (`write_generation`)
/// in the same transaction, so a writer holding rows in memory can tell whether anyone
/// else committed since it last did. Dropped without committing, it rolls back.
pub(crate) struct WriteTx {
    tx: TxConn,
    bumped: Option<i64>,
    /// The engine, held by a writer that is not the engine itself while the engine
    /// writes behind: no group is acknowledged until this transaction ends.
    _engine: Option<tokio::sync::OwnedMutexGuard<Pending>>,
    /// A process without the lease checks, after it has advanced the write generation
    /// (which no acknowledgement can pass), that no event waits in the queue.
    check_queue: bool,
    /// When the writer was taken and by which source file: how long it was held is
    /// recorded (`flywheel_write_held_seconds`) when the transaction ends, so that a
    /// writer that holds up ingest can be named.
    held_since: std::time::Instant,
    taken_by: &'static str,
}

impl WriteTx {
    /// Advances the write generation now (a commit does it otherwise) and answers it.
    /// On PostgreSQL the counter's row stays locked until the end, so the generations
    /// of concurrent writers come out in their commit order.
    pub(crate) async fn bump_generation(&mut self) -> Result<i64, sqlx::Error> {
        if let Some(n) = self.bumped {
            return Ok(n);
        }
        let n: i64 =
            sqlx::query_scalar("UPDATE write_generation SET n = n + 1 WHERE id = 1 RETURNING n")
                .fetch_one(self.tx.conn_mut())
                .await?;
        self.bumped = Some(n);
        Ok(n)
    }

    /// Commits; answers the write generation the transaction made.
    pub(crate) async fn commit(mut self) -> Result<i64, StoreError> {
        let n = self.bump_generation().await?;
        if self.check_queue && queue_waiting(self.tx.conn_mut()).await? {
            // The lease holder acknowledged events after this transaction began; what it
            // read may be behind them. Run it again (after the queue empties).
            self.tx.rollback().await?;
            return Err(StoreError::Contended);
        }
        self.tx.commit().await?;
        self.record_hold();
        Ok(n)
    }

    pub(crate) async fn rollback(mut self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await?;
        self.record_hold();
        Ok(())
    }

    /// When the writer was taken.
    pub(crate) fn held_since(&self) -> std::time::Instant {
        self.held_since
    }

    fn record_hold(&self) {
        metrics::histogram!("flywheel_write_held_seconds", "by" => self.taken_by)
            .record(self.held_since.elapsed().as_secs_f64());
    }
}

/// The source file of a call, from `src/` on: `service/care.rs`.
fn source_file(at: &'static std::panic::Location<'static>) -> &'static str {
    let file = at.file();
    file.rfind("src/").map_or(file, |i| &file[i + 4..])
}

impl std::ops::Deref for WriteTx {
    type Target = sqlx::AnyConnection;
    fn deref(&self) -> &sqlx::AnyConnection {
        self.tx.conn()
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut sqlx::AnyConnection {
        self.tx.conn_mut()
    }
}

/// The write generation now: how many write transactions have committed.
/// Whether the event log holds events whose rows are not written yet.
pub(crate) async fn queue_waiting(conn: &mut sqlx::AnyConnection) -> Result<bool, sqlx::Error> {
    let waiting: Option<i64> = sqlx::query_scalar("SELECT seq FROM ingest_queue LIMIT 1")
        .fetch_optional(conn)
        .await?;
    Ok(waiting.is_some())
}

pub(crate) async fn write_generation(conn: &mut sqlx::AnyConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT n FROM write_generation WHERE id = 1")
        .fetch_one(conn)
        .await
}

pub(crate) type RuleCache = std::sync::Mutex<Option<(i64, Arc<flywheel_core::points::RuleBook>)>>;
pub(crate) type SegmentCache = std::sync::Mutex<Option<(i64, Arc<crate::segments::SegmentBook>)>>;
pub(crate) type JourneyCache =
    std::sync::Mutex<Option<(i64, Arc<crate::engagement::journeys::JourneyBook>)>>;
pub(crate) type CatalogueCache =
    std::sync::Mutex<Option<(i64, Arc<flywheel_core::membership::Catalogue>)>>;

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.inner.backend)
            .finish()
    }
}

impl Store {
    /// Connects (creating a SQLite file if missing) and applies pending migrations.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        let store = Store::connect(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Connects without migrating.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        install_default_drivers();
        let backend = Backend::of_url(url)?;
        if backend == Backend::Sqlite && !flywheel_pagecache::install() {
            // SQLite started before the first store opened (a test's own connection):
            // it works as always, commits scanning the writer's whole cache.
            tracing::debug!("SQLite's page cache is its own: SQLite had already started");
        }
        let sqlite_path = match backend {
            Backend::Sqlite => sqlite_file(url),
            Backend::Postgres => None,
        };
        let (url, max) = match backend {
            Backend::Sqlite => (sqlite_url(url), 8),
            Backend::Postgres => (url.to_owned(), 16),
        };
        let options = AnyConnectOptions::from_str(&url)?
            .log_slow_statements(LevelFilter::Warn, SLOW_STATEMENT);
        let pool = pool_options(backend, max, 16, false)
            .connect_with(options.clone())
            .await?;
        let writes = match backend {
            // Every SQLite write waits for the one writer connection — the checkpointer's
            // catch-up behind a whole import batch, seconds at a million members: that
            // is the design, not a fault, so sqlx's slow-acquire warning goes to debug.
            Backend::Sqlite => {
                pool_options(backend, 1, 256, true)
                    .acquire_slow_level(LevelFilter::Debug)
                    .connect_with(options)
                    .await?
            }
            Backend::Postgres => pool.clone(),
        };
        // Off until `set_member_cache`: see there.
        let inner = Arc::new(Inner {
            pool,
            writes,
            backend,
            rule_cache: RuleCache::default(),
            catalogue_cache: CatalogueCache::default(),
            segment_cache: SegmentCache::default(),
            journey_cache: JourneyCache::default(),
            service_cache: Default::default(),
            segment_settings: Default::default(),
            member_cache: tokio::sync::Mutex::new(MemberCache::with_bounds(0, 0)),
            member_cache_on: AtomicBool::new(false),
            engine: Engine::new(),
            history_figures: tokio::sync::Mutex::new(()),
            slices: Default::default(),
            alone: AtomicBool::new(false),
            ingest_pace: Default::default(),
            sqlite_path,
        });
        if backend == Backend::Sqlite {
            tokio::spawn(crate::wal::checkpoint_forever(Arc::downgrade(&inner)));
        }
        Ok(Store { inner, held: None })
    }

    /// Starts a write transaction on the writer connection (`BEGIN IMMEDIATE` on SQLite).
    /// A write transaction for anyone but the engine. Where this process writes behind,
    /// it flushes the waiting plans first and holds the engine until it ends; where
    /// another process holds the lease, it waits until that process's queue is empty,
    /// asking it to write through meanwhile.
    /// (Not an `async fn`, so that `#[track_caller]` names the caller.)
    #[track_caller]
    pub(crate) fn begin_write(
        &self,
    ) -> impl Future<Output = Result<WriteTx, StoreError>> + Send + '_ {
        let taken_by = source_file(std::panic::Location::caller());
        self.begin_write_for(taken_by)
    }

    /// Runs one statement that writes nothing the member cache holds (a session, a note,
    /// a mark on a round) as a write transaction of its own. Through the pool instead,
    /// on SQLite it would wait for the writer's lock and then make the writer wait for it.
    #[track_caller]
    pub(crate) fn write_alone<'q>(
        &'q self,
        statement: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    ) -> impl Future<Output = Result<sqlx::any::AnyQueryResult, StoreError>> + Send + 'q {
        let taken_by = source_file(std::panic::Location::caller());
        async move {
            let mut tx = self.begin_write_for(taken_by).await?;
            let done = statement.execute(&mut *tx).await?;
            self.commit_keeping_cache(tx).await?;
            Ok(done)
        }
    }

    async fn begin_write_for(&self, taken_by: &'static str) -> Result<WriteTx, StoreError> {
        let engine = &self.inner.engine;
        if engine.behind() {
            let mut pending = engine.pending.clone().lock_owned().await;
            self.flush(&mut pending).await?;
            let mut tx = self.begin_engine_write_for(taken_by).await?;
            tx._engine = Some(pending);
            return Ok(tx);
        }
        if engine.holder() {
            return Ok(self.begin_engine_write_for(taken_by).await?);
        }
        let deadline = std::time::Instant::now() + 2 * WRITE_THROUGH_FOR;
        loop {
            let mut tx = self.begin_engine_write_for(taken_by).await?;
            if !queue_waiting(&mut tx).await? {
                tx.check_queue = true;
                return Ok(tx);
            }
            tx.rollback().await?;
            if std::time::Instant::now() > deadline {
                return Err(StoreError::Invalid(
                    "the process writing behind did not empty its event queue in time".into(),
                ));
            }
            self.ask_for_write_through().await?;
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
    }

    /// Whether `SELECT 1 FROM <from_where> LIMIT 1`, `$1` bound to `now`, finds a row.
    /// Passes that run every second ask this on a reader before they take the writer:
    /// with nothing due they neither wait for it nor commit (which would cost ingest its
    /// member cache).
    pub(crate) async fn anything_due(
        &self,
        from_where: &str,
        now: flywheel_core::time::Micros,
    ) -> Result<bool, sqlx::Error> {
        let sql = format!("SELECT 1 FROM {from_where} LIMIT 1");
        Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .fetch_optional(self.pool())
            .await?
            .is_some())
    }

    /// A write transaction for the engine itself (it holds the engine already).
    #[track_caller]
    pub(crate) fn begin_engine_write(
        &self,
    ) -> impl Future<Output = Result<WriteTx, sqlx::Error>> + Send + '_ {
        let taken_by = source_file(std::panic::Location::caller());
        self.begin_engine_write_for(taken_by)
    }

    async fn begin_engine_write_for(&self, taken_by: &'static str) -> Result<WriteTx, sqlx::Error> {
        let tx = match &self.held {
            Some(held) => TxConn::savepoint(held).await?,
            None => TxConn::own(
                self.inner
                    .writes
                    .begin_with(crate::dialect::begin_write(self.inner.backend))
                    .await?,
            ),
        };
        Ok(WriteTx {
            tx,
            bumped: None,
            _engine: None,
            check_queue: false,
            held_since: std::time::Instant::now(),
            taken_by,
        })
    }

    /// Asks the process writing behind to write through for a while.
    async fn ask_for_write_through(&self) -> Result<(), sqlx::Error> {
        let until = chrono::Utc::now().timestamp_micros() + WRITE_THROUGH_FOR.as_micros() as i64;
        sqlx::query("UPDATE write_generation SET write_through_until = $1 WHERE id = 1 AND write_through_until < $1")
            .bind(until)
            .execute(&self.inner.writes)
            .await?;
        Ok(())
    }

    pub(crate) fn member_cache(&self) -> &tokio::sync::Mutex<MemberCache> {
        &self.inner.member_cache
    }

    /// After a commit (which made write generation `committed`) that wrote none of the
    /// rows the member cache holds but the member rows `rewritten`: the cache stays
    /// trusted, without those members, instead of the next ingest emptying it. The
    /// stage sweep calls this; the other background writers through
    /// `commit_keeping_cache`. So a history replayed day by day, or a server under load,
    /// keeps its cache.
    pub(crate) async fn keep_member_cache(&self, committed: i64, rewritten: &[i64]) {
        if self.member_cache_on() {
            self.member_cache()
                .lock()
                .await
                .advance_dropping(committed - 1, committed, rewritten);
        }
    }

    /// Commits `tx`, which wrote nothing the member cache holds (scores, segments,
    /// memberships, care moments, messages, tickets…): the cache stays trusted, only the
    /// definitions it kept are dropped, since the commit may have changed them.
    pub(crate) async fn commit_keeping_cache(&self, tx: WriteTx) -> Result<(), StoreError> {
        let committed = tx.commit().await?;
        self.keep_member_cache(committed, &[]).await;
        Ok(())
    }

    /// After the points sweep's commit (which made write generation `committed`),
    /// which settled by `now` the due lots of `members` as `book` holds them: the cache
    /// stays trusted, with those members' wallets brought up to date.
    pub(crate) async fn keep_member_cache_settled(
        &self,
        committed: i64,
        book: &flywheel_core::points::Book,
        members: &[i64],
        now: flywheel_core::time::Micros,
    ) {
        if self.member_cache_on() {
            self.member_cache().lock().await.advance_settled(
                committed - 1,
                committed,
                book,
                members,
                now,
            );
        }
    }

    pub(crate) fn member_cache_on(&self) -> bool {
        self.inner.member_cache_on.load(Ordering::Relaxed)
    }

    /// How many members ingest keeps in memory between transactions, and about how many
    /// bytes they may hold in all (either 0, the store's default: none). Measured
    /// (bench/PROFILE.md): on SQLite it saves about a tenth of an import whose members
    /// fit; on PostgreSQL it makes the four writers take turns and serves fewer
    /// single-event requests a second, not more.
    pub async fn set_member_cache(&self, members: usize, bytes: usize) {
        let mut cache = self.inner.member_cache.lock().await;
        cache.set_bounds(members, bytes);
        self.inner
            .member_cache_on
            .store(members > 0 && bytes > 0, Ordering::Relaxed);
    }

    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.inner.pool
    }

    pub(crate) fn segment_cache(&self) -> &SegmentCache {
        &self.inner.segment_cache
    }

    pub(crate) fn journey_cache(&self) -> &JourneyCache {
        &self.inner.journey_cache
    }

    pub(crate) fn service_cache(&self) -> &crate::service::book::ServiceCache {
        &self.inner.service_cache
    }

    pub(crate) fn catalogue_cache(&self) -> &CatalogueCache {
        &self.inner.catalogue_cache
    }

    pub(crate) fn rule_cache(&self) -> &RuleCache {
        &self.inner.rule_cache
    }

    /// Connections of each pool now, for metrics.
    pub fn pool_stats(&self) -> Vec<PoolStats> {
        let stats = |name, pool: &AnyPool| PoolStats {
            name,
            size: pool.size(),
            idle: pool.num_idle() as u32,
            max: pool.options().get_max_connections(),
        };
        match self.backend() {
            Backend::Sqlite => vec![
                stats("reads", &self.inner.pool),
                stats("writer", &self.inner.writes),
            ],
            Backend::Postgres => vec![stats("shared", &self.inner.pool)],
        }
    }

    /// On SQLite with the page-cache layer in place (`flywheel-pagecache`): how many of
    /// the cache's truncates it answered without SQLite's scan, in this process.
    pub fn sqlite_truncates_skipped(&self) -> Option<u64> {
        flywheel_pagecache::truncates_skipped().filter(|_| self.backend() == Backend::Sqlite)
    }

    /// A trivial round trip, for health checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(self.pool()).await?;
        Ok(())
    }

    /// Closes both pools; on SQLite the last connection to close checkpoints the log.
    /// Writes what waits in memory, then closes every connection.
    pub async fn close(&self) {
        if let Err(e) = self.settle().await {
            tracing::warn!(error = %e, "flushing at close failed; the event log keeps the events for the next start");
        }
        self.inner.pool.close().await;
        self.inner.writes.close().await;
    }
}

/// One connection pool's size, idle connections and maximum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolStats {
    pub name: &'static str,
    pub size: u32,
    pub idle: u32,
    pub max: u32,
}

/// Pool settings; on SQLite every connection gets WAL and a page cache of `cache_mib`,
/// and the `writer` zeroes what it deletes or overwrites (`secure_delete`), so an erased
/// member's data does not linger in free space of the file.
fn pool_options(backend: Backend, max: u32, cache_mib: i64, writer: bool) -> AnyPoolOptions {
    let options = AnyPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(30));
    if backend == Backend::Postgres {
        return options;
    }
    options.after_connect(move |conn, _| {
        Box::pin(async move {
            // WAL: readers never block the writer. synchronous=NORMAL in WAL mode survives
            // any process crash (SIGKILL included); only an OS crash or power cut can lose
            // the last commits. No checkpoint on commit: `wal.rs` checkpoints in the
            // background.
            conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 10000; \
                 PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 0;")
                .await?;
            let cache = format!("PRAGMA cache_size = -{}", cache_mib * 1024);
            conn.execute(sqlx::AssertSqlSafe(cache)).await?;
            if writer {
                conn.execute("PRAGMA secure_delete = ON").await?;
            }
            Ok(())
        })
    })
}

/// `sqlite://flywheel.db` → the same file, created if missing.
/// The file a SQLite URL names (None for an in-memory database).
fn sqlite_file(url: &str) -> Option<String> {
    let path = url
        .trim_start_matches("sqlite:")
        .trim_start_matches("//")
        .split('?')
        .next()?;
    if path.is_empty() || path.contains(":memory:") || url.contains("mode=memory") {
        None
    } else {
        Some(path.to_owned())
    }
}

fn sqlite_url(url: &str) -> String {
    if url.contains("mode=") || url.contains(":memory:") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

impl Store {
    /// Runs one administrative statement outside a transaction (e.g. CREATE DATABASE,
    /// which PostgreSQL refuses inside one). For tests and tooling only.
    pub async fn execute_admin(&self, sql: &str) -> Result<(), StoreError> {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(self.pool())
            .await?;
        Ok(())
    }
}

/// Creates an empty PostgreSQL database next to the one `admin_url` names and returns
/// its URL. For tests and benchmarks, which each want a database of their own.
pub async fn create_postgres_database(admin_url: &str, name: &str) -> Result<String, StoreError> {
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(StoreError::Invalid(format!(
            "database name {name:?} must be [A-Za-z0-9_]"
        )));
    }
    let admin = Store::connect(admin_url).await?;
    admin
        .execute_admin(&format!("DROP DATABASE IF EXISTS {name}"))
        .await?;
    admin
        .execute_admin(&format!("CREATE DATABASE {name}"))
        .await?;
    admin.close().await;
    let base = admin_url.split('?').next().unwrap_or(admin_url);
    let (server, _) = base
        .rsplit_once('/')
        .ok_or_else(|| StoreError::UnsupportedUrl(admin_url.to_owned()))?;
    Ok(format!("{server}/{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The engagement task runs these every second. With nothing due each must stay a
    /// read: a commit advances the write generation, and ingest, finding someone else's
    /// commit, empties its member cache (once a second under load, before this test).
    #[tokio::test]
    async fn the_engagement_passes_with_nothing_due_commit_nothing() {
        for db in flywheel_testkit::databases().await {
            // This crate's own `Store` (the testkit's is the library's, built apart).
            let store = Store::open(&db.url).await.unwrap();
            let generation = || async {
                let mut conn = store.pool().acquire().await.unwrap();
                write_generation(&mut conn).await.unwrap()
            };
            let before = generation().await;
            let now = chrono::Utc::now().timestamp_micros();
            assert!(store.flag_ticket_breaches(now).await.unwrap().is_empty());
            assert!(store.claim_messages(now, 1, 10).await.unwrap().is_empty());
            let points = flywheel_core::points::PointsPolicy::default();
            assert_eq!(
                store.close_due_fission_rounds(&points, now).await.unwrap(),
                0
            );
            let teams = store.run_service_teams(now).await.unwrap();
            assert_eq!((teams.formed, teams.closed), (0, 0));
            assert_eq!(generation().await, before, "a pass committed");
            // A write transaction does move it: the reading above can tell.
            store.begin_write().await.unwrap().commit().await.unwrap();
            assert_eq!(generation().await, before + 1);
            store.close().await;
        }
    }
}
