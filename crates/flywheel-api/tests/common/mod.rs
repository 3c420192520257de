//! Shared by the API test files: a real server on port 0 over each test database
//! (`flywheel_testkit`: SQLite, and PostgreSQL when configured), an HTTP client, and a
//! clock tests can move.
#![allow(dead_code)]

use flywheel_api::AppState;
use flywheel_core::Policy;
use flywheel_core::auth::{Role, hash_key};
use flywheel_store::Store;
use reqwest::StatusCode;
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

pub const ADMIN: &str = "test-admin-key-0123456789";

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub store: Store,
    db: flywheel_testkit::TestDb,
    _stop: tokio::sync::oneshot::Sender<()>,
    /// Added to the system clock: tests move time forward with [`TestApp::advance`].
    pub offset: Arc<AtomicI64>,
}

impl TestApp {
    /// A server on each test database (`flywheel_testkit`): SQLite, and PostgreSQL when
    /// configured. Failures inside the loop name the backend.
    pub async fn all() -> flywheel_testkit::Each<TestApp> {
        flywheel_testkit::databases()
            .await
            .then(|db| async move { TestApp::spawn(db.open().await, db).await })
            .await
    }

    /// A server on SQLite only, for what does not depend on the database.
    pub async fn sqlite() -> TestApp {
        let db = flywheel_testkit::TestDb::sqlite();
        TestApp::spawn(db.open().await, db).await
    }

    pub async fn spawn(store: Store, db: flywheel_testkit::TestDb) -> TestApp {
        TestApp::spawn_with(store, db, |state| state).await
    }

    /// A server whose state `configure` adjusts (limits, metrics settings).
    pub async fn spawn_with(
        store: Store,
        db: flywheel_testkit::TestDb,
        configure: impl FnOnce(AppState) -> AppState,
    ) -> TestApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mut base_state = AppState::new(store.clone(), Policy::default(), Some(ADMIN));
        // Tests read figures right after writing what they count.
        base_state.stats_refresh_after = 0;
        let mut state = configure(base_state);
        let offset = Arc::new(AtomicI64::new(0));
        let shift = offset.clone();
        state.clock =
            Arc::new(move || chrono::Utc::now().timestamp_micros() + shift.load(Ordering::Relaxed));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(flywheel_api::serve(listener, state, async move {
            let _ = stopped.await;
        }));
        TestApp {
            base,
            http: flywheel_testkit::http(),
            store,
            db,
            _stop: stop,
            offset,
        }
    }

    /// A server on each test database, its state adjusted by `configure`.
    pub async fn all_with(
        configure: impl Fn(AppState) -> AppState + Copy,
    ) -> flywheel_testkit::Each<TestApp> {
        flywheel_testkit::databases()
            .await
            .then(|db| async move { TestApp::spawn_with(db.open().await, db, configure).await })
            .await
    }

    /// Another store over this server's database, as a process started afresh would
    /// open it.
    pub async fn reopen(&self) -> Store {
        self.db.open().await
    }

    /// The SQLite file behind this server, if it runs on SQLite.
    pub fn sqlite_file(&self) -> Option<std::path::PathBuf> {
        self.db.sqlite_file()
    }

    /// `host:port`, for raw TCP clients.
    pub fn addr(&self) -> String {
        self.base.trim_start_matches("http://").to_owned()
    }

    pub async fn key(&self, role: Role) -> String {
        let key = format!("fw_test_{}_{}", role.as_str(), self.base.len());
        self.store
            .create_key(
                &hash_key(&key),
                "fw_test",
                role,
                &format!("test {role}"),
                0,
                &flywheel_store::AuditActor::cli(),
            )
            .await
            .unwrap();
        key
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let url = format!("{}{path}", self.base);
        let mut req = match method {
            "GET" => self.http.get(url),
            "POST" => self.http.post(url),
            "DELETE" => self.http.delete(url),
            "PUT" => self.http.put(url),
            _ => unreachable!(),
        };
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call("GET", path, Some(ADMIN), None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call("POST", path, Some(ADMIN), Some(body)).await
    }

    pub async fn send(&self, event: Value) -> Value {
        let (status, body) = self.post("/v1/events", event).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// Moves the server's clock forward.
    pub fn advance(&self, micros: i64) {
        self.offset.fetch_add(micros, Ordering::Relaxed);
    }

    pub fn now(&self) -> i64 {
        chrono::Utc::now().timestamp_micros() + self.offset.load(Ordering::Relaxed)
    }

    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call("PUT", path, Some(ADMIN), Some(body)).await
    }

    /// The points books balance: the trial balance sums to zero, entries too, and every
    /// kept balance and daily total matches its entries.
    pub async fn assert_books_balance(&self) {
        let (status, tb) = self
            .get("/v1/reports/points/trial-balance?verify=true")
            .await;
        assert_eq!(status, StatusCode::OK, "{tb}");
        assert_eq!(tb["total"], 0, "{tb}");
        assert_eq!(tb["entries_total"], 0, "{tb}");
        assert_eq!(tb["mismatched_accounts"], serde_json::json!([]), "{tb}");
        assert_eq!(tb["mismatched_days"], serde_json::json!([]), "{tb}");
    }
}
