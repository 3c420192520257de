//! What the store, API and CLI test suites share: the list of databases a test runs on.
//!
//! Every test that touches a database runs once per backend: SQLite in a temporary
//! directory, and PostgreSQL when `FLYWHEEL_TEST_PG_URL` names a server whose user may
//! create databases (each test gets a fresh one). `FLYWHEEL_REQUIRE_PG=1` (set by
//! `scripts/test`) makes a missing PostgreSQL a failure instead of a skip.
//!
//! Iterating over [`databases`] (or any [`Each`]) labels the thread with the backend in
//! hand, and a panic hook prints that label before the panic message, so every failure
//! says which database it happened on.

use flywheel_store::{Backend, Store};
use std::cell::Cell;
use std::sync::Once;
use std::sync::atomic::{AtomicU32, Ordering};

/// One database for one test.
#[derive(Debug)]
pub struct TestDb {
    pub backend: Backend,
    /// `sqlite://…` or `postgres://…`, for the CLI or a second store.
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// The backend's name: `sqlite` or `postgres`.
    pub fn name(&self) -> &'static str {
        self.backend.name()
    }

    /// Opens (and migrates) the database.
    pub async fn open(&self) -> Store {
        Store::open(&self.url)
            .await
            .unwrap_or_else(|e| panic!("opening the {} test database: {e}", self.name()))
    }

    /// The database file, for SQLite.
    pub fn sqlite_file(&self) -> Option<std::path::PathBuf> {
        self.url
            .strip_prefix("sqlite://")
            .map(std::path::PathBuf::from)
    }

    /// A fresh SQLite database in a temporary directory.
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("a temporary directory");
        TestDb {
            backend: Backend::Sqlite,
            url: format!("sqlite://{}", dir.path().join("test.db").display()),
            _dir: Some(dir),
        }
    }
}

/// The databases every test runs on: SQLite, then PostgreSQL if configured.
pub async fn databases() -> Each<TestDb> {
    let mut list = vec![TestDb::sqlite()];
    if let Some(admin) = postgres_admin_url() {
        list.push(TestDb {
            backend: Backend::Postgres,
            url: fresh_postgres(&admin).await,
            _dir: None,
        });
    }
    Each::new(list.into_iter().map(|db| (db.name(), db)).collect())
}

/// [`databases`] for tests without a runtime of their own (the CLI suite).
pub fn databases_blocking() -> Each<TestDb> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(databases())
}

/// The PostgreSQL server tests may create databases on; panics when `FLYWHEEL_REQUIRE_PG=1`
/// and none is configured.
pub fn postgres_admin_url() -> Option<String> {
    match std::env::var("FLYWHEEL_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("FLYWHEEL_REQUIRE_PG").as_deref() == Ok("1") => {
            panic!("FLYWHEEL_REQUIRE_PG=1 but FLYWHEEL_TEST_PG_URL is not set")
        }
        _ => {
            eprintln!("FLYWHEEL_TEST_PG_URL is not set: the PostgreSQL half is skipped");
            None
        }
    }
}

/// Creates an empty database of its own on the server at `admin`; returns its URL.
async fn fresh_postgres(admin: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "fw_test_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    flywheel_store::create_postgres_database(admin, &name)
        .await
        .unwrap_or_else(|e| panic!("creating PostgreSQL test database {name}: {e}"))
}

thread_local! {
    static TESTING_ON: Cell<Option<&'static str>> = const { Cell::new(None) };
}

static HOOK: Once = Once::new();

/// Prints the backend under test before any panic message on a labelled thread.
fn install_panic_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if let Some(backend) = TESTING_ON.with(Cell::get) {
                eprintln!("[failed while testing on {backend}]");
            }
            previous(info);
        }));
    });
}

/// The backend label of this thread now, if a loop over an [`Each`] is under way.
pub fn testing_on() -> Option<&'static str> {
    TESTING_ON.with(Cell::get)
}

/// Values to test one after another, each labelled with its backend while it is in hand.
#[derive(Debug)]
pub struct Each<T> {
    items: std::vec::IntoIter<(&'static str, T)>,
}

impl<T> Each<T> {
    pub fn new(items: Vec<(&'static str, T)>) -> Each<T> {
        install_panic_hook();
        Each {
            items: items.into_iter(),
        }
    }

    /// Builds something per database (a server, say), keeping the labels.
    pub async fn then<U, F, Fut>(mut self, mut make: F) -> Each<U>
    where
        F: FnMut(T) -> Fut,
        Fut: std::future::Future<Output = U>,
    {
        let items: Vec<(&'static str, T)> = std::mem::take(&mut self.items).collect();
        let mut out = Vec::with_capacity(items.len());
        for (label, item) in items {
            TESTING_ON.with(|c| c.set(Some(label)));
            out.push((label, make(item).await));
        }
        TESTING_ON.with(|c| c.set(None));
        Each::new(out)
    }
}

impl<T> Iterator for Each<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        let next = self.items.next();
        TESTING_ON.with(|c| c.set(next.as_ref().map(|(label, _)| *label)));
        next.map(|(_, item)| item)
    }
}

impl<T> Drop for Each<T> {
    fn drop(&mut self) {
        TESTING_ON.with(|c| c.set(None));
    }
}

/// An HTTP client builder for tests. reqwest is built with rustls and no crypto provider
/// of its own (the binary installs ring's when it starts its senders), so a test
/// process installs it first.
pub fn http_builder() -> reqwest::ClientBuilder {
    #[allow(deprecated)] // ring lacks post-quantum key exchange; tests talk to 127.0.0.1
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}

/// An HTTP client for tests ([`http_builder`]).
pub fn http() -> reqwest::Client {
    http_builder().build().expect("an HTTP client")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backend_in_hand_labels_the_thread_until_the_loop_ends() {
        let each = Each::new(vec![("sqlite", 1), ("postgres", 2)]);
        let mut seen = Vec::new();
        for n in each {
            seen.push((n, testing_on()));
        }
        assert_eq!(seen, vec![(1, Some("sqlite")), (2, Some("postgres"))]);
        assert_eq!(testing_on(), None);
    }

    #[test]
    fn leaving_a_loop_early_clears_the_label() {
        for n in Each::new(vec![("sqlite", 1), ("postgres", 2)]) {
            if n == 1 {
                break;
            }
        }
        assert_eq!(testing_on(), None);
    }
}
