/// What went wrong in the store. Messages are meant for users: they say what to do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "the database {path} was written by a newer KeyGate (schema version {found}, this build knows up to {known}); upgrade KeyGate or point KEYGATE_HOME elsewhere"
    )]
    TooNew {
        path: String,
        found: i64,
        known: i64,
    },
    #[error("cannot open the database {path}: {source}")]
    Open {
        path: String,
        source: crate::sql::DbError,
    },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Sql(#[from] crate::sql::DbError),
    #[error("corrupt value in the database: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Whether another connection held the database (busy or locked past the busy timeout):
    /// the same write may succeed later, so a caller that can keep it retries.
    pub fn is_busy(&self) -> bool {
        matches!(self, Self::Sql(e) if e.is_busy())
    }

    /// Whether a constraint (a name already taken, a row another refers to) refused it.
    pub fn is_constraint(&self) -> bool {
        matches!(self, Self::Sql(e) if e.is_constraint())
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sql(e.into())
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        Self::Sql(e.into())
    }
}
