//! Store errors, and which of them are worth retrying.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("unsupported database URL {0:?}: use sqlite://FILE or postgres://…")]
    UnsupportedUrl(String),
    #[error("stored data could not be read: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Invalid(String),
    /// Another writer committed while a transaction relied on rows held in memory; the
    /// transaction was rolled back and runs again from the database.
    #[error("another writer committed meanwhile")]
    Contended,
}

impl StoreError {
    /// Serialization failures, deadlocks, a unique key taken by a concurrent writer, or
    /// SQLite's busy/locked: the whole transaction can simply be run again.
    pub fn is_transient(&self) -> bool {
        let e = match self {
            StoreError::Database(e) => e,
            StoreError::Contended => return true,
            _ => return false,
        };
        match e {
            sqlx::Error::Database(db) => matches!(
                db.code().as_deref(),
                Some(
                    "40001"
                        | "40P01"
                        | "23505"
                        | "55P03"
                        | "5"
                        | "6"
                        | "261"
                        | "262"
                        | "517"
                        | "1555"
                        | "2067"
                )
            ),
            sqlx::Error::PoolTimedOut => true,
            _ => false,
        }
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}
