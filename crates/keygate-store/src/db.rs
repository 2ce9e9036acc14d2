use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OpenFlags};

use crate::StoreError;
use crate::migrations::migrate;

pub const DB_FILE_NAME: &str = "keygate.db";

/// Another KeyGate process (the app, a CLI call) may hold the write lock briefly.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The clock the store stamps rows with; tests pass a fixed one.
pub type Clock = fn() -> DateTime<Utc>;

/// One connection to the KeyGate database. Cheap to open; open one per thread or task.
pub struct Store {
    pub(crate) conn: Connection,
    path: PathBuf,
    clock: Clock,
}

impl Store {
    /// Opens (creating if needed) `home/keygate.db`, creating `home` with owner-only access.
    pub fn open_in(home: &Path) -> Result<Self, StoreError> {
        create_private_dir(home).map_err(|e| StoreError::Open {
            path: home.display().to_string(),
            source: rusqlite::Error::InvalidPath(PathBuf::from(format!("{}: {e}", home.display()))),
        })?;
        Self::open(&home.join(DB_FILE_NAME))
    }

    /// Opens the database file at `path`, applies pragmas and migrates it forward.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let shown = path.display().to_string();
        let open_err = |source| StoreError::Open {
            path: shown.clone(),
            source,
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
        migrate(&mut conn, &shown)?;
        Ok(Self {
            conn,
            path: path.to_path_buf(),
            clock: Utc::now,
        })
    }

    /// How long a statement waits for another connection's write lock before it fails with
    /// a busy error (10 s unless changed). The batch writer waits less and retries instead,
    /// so it can keep taking rows in meanwhile.
    pub fn set_busy_timeout(&self, timeout: Duration) -> Result<(), StoreError> {
        Ok(self.conn.busy_timeout(timeout)?)
    }

    /// Replaces the clock (tests).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))?)
    }

    /// SQLite's own consistency check: `"ok"` for a healthy file.
    pub fn integrity_check(&self) -> Result<String, StoreError> {
        Ok(self
            .conn
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))?)
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
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='keys'",
                [],
                |r| r.get(0),
            )
            .expect("count");
        assert_eq!(tables, 1);
    }
}
