use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OpenFlags};

use crate::StoreError;
use crate::sql::{Conn, DbError};

pub const DB_FILE_NAME: &str = "keygate.db";

/// Another KeyGate process (the app, a CLI call) may hold the write lock briefly.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The clock the store stamps rows with; tests pass a fixed one.
pub type Clock = fn() -> DateTime<Utc>;

/// Where the store lives: the desktop's SQLite file in `KEYGATE_HOME`, or a team's
/// PostgreSQL database (`--store postgres://…`, `KEYGATE_STORE`).
#[derive(Clone, PartialEq, Eq)]
pub enum StoreLocation {
    Sqlite(PathBuf),
    Postgres(String),
}

impl std::fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl StoreLocation {
    /// Reads a `--store`/`KEYGATE_STORE` value: a `postgres://` or `postgresql://` URL, or
    /// `sqlite` (the file in `home`); nothing means `sqlite`.
    pub fn parse(value: Option<&str>, home: &Path) -> Result<Self, String> {
        let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
            return Ok(Self::Sqlite(home.to_path_buf()));
        };
        if value == "sqlite" {
            return Ok(Self::Sqlite(home.to_path_buf()));
        }
        if value.starts_with("postgres://") || value.starts_with("postgresql://") {
            value.parse::<tokio_postgres::Config>().map_err(|e| {
                format!(
                    "the store URL {} is not a PostgreSQL URL KeyGate can use: {e}",
                    redact_url(value)
                )
            })?;
            return Ok(Self::Postgres(value.to_string()));
        }
        Err(format!(
            "unknown store {:?}: use `sqlite` (the file in KEYGATE_HOME) or a postgres://USER@HOST:PORT/DB URL",
            redact_url(value)
        ))
    }

    /// `"sqlite"` or `"postgres"`, as `/api/health` reports it.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }

    /// Where it is, fit for messages and logs: the file's path, or the URL without its password.
    pub fn describe(&self) -> String {
        match self {
            Self::Sqlite(home) => home.join(DB_FILE_NAME).display().to_string(),
            Self::Postgres(url) => redact_url(url),
        }
    }
}

/// A URL with the password of its user part (`user:password@`) and any `password=` query
/// value replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let mut out = url.to_string();
    if let Some(scheme_end) = out.find("://") {
        let rest_start = scheme_end + 3;
        let authority_end = out[rest_start..]
            .find(['/', '?'])
            .map_or(out.len(), |i| rest_start + i);
        if let Some(at) = out[rest_start..authority_end].rfind('@') {
            let user_part = &out[rest_start..rest_start + at];
            if let Some(colon) = user_part.find(':') {
                out.replace_range(rest_start + colon + 1..rest_start + at, "***");
            }
        }
    }
    if let Some(q) = out.find('?') {
        let (head, query) = out.split_at(q + 1);
        let query = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => pair.to_string(),
            })
            .collect::<Vec<_>>()
            .join("&");
        out = format!("{head}{query}");
    }
    out
}

/// One connection to the KeyGate database. Cheap to open; open one per thread or task.
pub struct Store {
    pub(crate) conn: Conn,
    location: StoreLocation,
    clock: Clock,
}

impl Store {
    /// Opens (creating if needed) `home/keygate.db`, creating `home` with owner-only access.
    pub fn open_in(home: &Path) -> Result<Self, StoreError> {
        create_private_dir(home).map_err(|e| StoreError::Open {
            path: home.display().to_string(),
            source: DbError::Sqlite(rusqlite::Error::InvalidPath(PathBuf::from(format!(
                "{}: {e}",
                home.display()
            )))),
        })?;
        Self::open(&home.join(DB_FILE_NAME))
    }

    /// Opens the store at `location` (migrating it forward): the SQLite file in its home or
    /// a PostgreSQL database.
    pub fn connect(location: &StoreLocation) -> Result<Self, StoreError> {
        match location {
            StoreLocation::Sqlite(home) => Self::open_in(home),
            StoreLocation::Postgres(url) => Self::open_postgres(url),
        }
    }

    fn open_postgres(url: &str) -> Result<Self, StoreError> {
        let shown = redact_url(url);
        let mut config: tokio_postgres::Config =
            url.parse()
                .map_err(|e: tokio_postgres::Error| StoreError::Open {
                    path: shown.clone(),
                    source: DbError::Postgres(e),
                })?;
        if config.get_application_name().is_none() {
            config.application_name("keygate");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        let client = crate::sql::connect_postgres(&config).map_err(|source| StoreError::Open {
            path: shown.clone(),
            source,
        })?;
        let conn = Conn::postgres(client);
        // The server's notices ("already exists, skipping") are not news for a user.
        conn.batch("SET client_min_messages = warning")?;
        crate::pg_migrations::migrate(&conn, &shown)?;
        Ok(Self {
            conn,
            location: StoreLocation::Postgres(url.to_string()),
            clock: Utc::now,
        })
    }

    /// Opens the database file at `path`, applies pragmas and migrates it forward.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let shown = path.display().to_string();
        let open_err = |source| StoreError::Open {
            path: shown.clone(),
            source: DbError::Sqlite(source),
        };
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(path, flags).map_err(open_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open_err)?;
        restrict_file(path);
        crate::migrations::migrate(&mut conn, &shown)?;
        let home = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(Self {
            conn: Conn::sqlite(conn),
            location: StoreLocation::Sqlite(home),
            clock: Utc::now,
        })
    }

    /// How long a statement waits for another connection's write lock before it fails with
    /// a busy error (10 s unless changed). The batch writer waits less and retries instead,
    /// so it can keep taking rows in meanwhile. On PostgreSQL, the lock timeout.
    pub fn set_busy_timeout(&self, timeout: Duration) -> Result<(), StoreError> {
        match self.conn.as_sqlite() {
            Some(c) => Ok(c.busy_timeout(timeout)?),
            None => Ok(self
                .conn
                .batch(&format!("SET lock_timeout = {}", timeout.as_millis()))?),
        }
    }

    /// Replaces the clock (tests).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn location(&self) -> &StoreLocation {
        &self.location
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn kind(&self) -> &'static str {
        self.location.kind()
    }

    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(match self.conn.as_sqlite() {
            Some(c) => c.query_row("PRAGMA user_version", [], |row| row.get(0))?,
            None => self.conn.query_row(
                "SELECT max(version) FROM keygate_schema",
                crate::sql::params![],
                |r| r.get(0),
            )?,
        })
    }

    /// The database's own consistency check: `"ok"` for a healthy one. SQLite checks its
    /// file; PostgreSQL checks what the schema promises (every key's provider exists, no
    /// request logged twice), its pages being the server's business.
    pub fn integrity_check(&self) -> Result<String, StoreError> {
        match self.conn.as_sqlite() {
            Some(c) => Ok(c.query_row("PRAGMA integrity_check", [], |row| row.get(0))?),
            None => {
                let orphans: i64 = self.conn.query_row(
                    "SELECT count(*) FROM keys k LEFT JOIN providers p ON p.id = k.provider_id \
                     WHERE p.id IS NULL",
                    crate::sql::params![],
                    |r| r.get(0),
                )?;
                let twice: i64 = self.conn.query_row(
                    "SELECT count(*) - count(DISTINCT id) FROM requests",
                    crate::sql::params![],
                    |r| r.get(0),
                )?;
                Ok(if orphans == 0 && twice == 0 {
                    "ok".to_string()
                } else {
                    format!("{orphans} keys without a provider, {twice} request rows written twice")
                })
            }
        }
    }

    /// Runs `sql` (statements separated by `;`, no values) on the PostgreSQL server at `url`
    /// without opening a store: for setting one up (`CREATE SCHEMA`, `CREATE DATABASE`) and
    /// for tests. Usable from any thread.
    pub fn postgres_batch(url: &str, sql: &str) -> Result<(), StoreError> {
        let config: tokio_postgres::Config =
            url.parse()
                .map_err(|e: tokio_postgres::Error| StoreError::Open {
                    path: redact_url(url),
                    source: DbError::Postgres(e),
                })?;
        let client = crate::sql::connect_postgres(&config).map_err(|source| StoreError::Open {
            path: redact_url(url),
            source,
        })?;
        Ok(Conn::postgres(client).batch(sql)?)
    }

    pub(crate) fn now(&self) -> String {
        timestamp((self.clock)())
    }
}

/// Timestamps are stored as RFC 3339 UTC text with second precision, which sorts correctly.
pub(crate) fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// The database holds no secrets, but usage and labels are still the user's business.
fn restrict_file(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SCHEMA_VERSION;

    #[test]
    fn opening_an_empty_dir_creates_the_schema_and_reopens() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().join("home");
        let store = Store::open_in(&home).expect("open");
        assert_eq!(store.schema_version().expect("version"), SCHEMA_VERSION);
        let mode: String = store
            .conn
            .as_sqlite()
            .expect("sqlite")
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .expect("mode");
        assert_eq!(mode, "wal");
        drop(store);
        let again = Store::open_in(&home).expect("reopen");
        assert_eq!(again.schema_version().expect("version"), SCHEMA_VERSION);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&home).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
    }

    #[test]
    fn a_database_from_a_newer_version_is_refused_with_a_clear_message() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(DB_FILE_NAME);
        {
            let conn = Connection::open(&path).expect("raw open");
            conn.pragma_update(None, "user_version", SCHEMA_VERSION + 5)
                .expect("bump");
        }
        let err = Store::open(&path).err().expect("must refuse");
        let text = err.to_string();
        assert!(text.contains("newer KeyGate"), "{text}");
        assert!(
            text.contains(&format!("schema version {}", SCHEMA_VERSION + 5)),
            "{text}"
        );
    }

    #[test]
    fn a_database_from_an_older_version_is_upgraded_on_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(DB_FILE_NAME);
        // Version 0: a file SQLite created but KeyGate never migrated (an interrupted first run).
        Connection::open(&path)
            .expect("raw open")
            .execute_batch("CREATE TABLE leftover(x);")
            .expect("ddl");
        let store = Store::open(&path).expect("upgrade");
        assert_eq!(store.schema_version().expect("v"), SCHEMA_VERSION);
        let tables: i64 = store
            .conn
            .as_sqlite()
            .expect("sqlite")
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='keys'",
                [],
                |r| r.get(0),
            )
            .expect("count");
        assert_eq!(tables, 1);
    }
}
