//! Fresh stores for tests, on either backend: SQLite in a temporary folder, or — when
//! `KEYGATE_TEST_POSTGRES` holds a server URL — a schema of its own on that PostgreSQL
//! server, dropped afterwards. The same tests run on both (`make test` runs them twice).

use std::sync::atomic::{AtomicU32, Ordering};

use crate::{Store, StoreLocation};

/// A database only this test uses.
pub(crate) struct TestDb {
    _dir: tempfile::TempDir,
    location: StoreLocation,
    schema: Option<(String, String)>,
}

/// The PostgreSQL server the tests use, if any.
pub(crate) fn postgres_url() -> Option<String> {
    std::env::var("KEYGATE_TEST_POSTGRES")
        .ok()
        .filter(|v| !v.trim().is_empty())
}

pub(crate) fn fresh() -> TestDb {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let dir = tempfile::tempdir().expect("tempdir");
    match postgres_url() {
        None => TestDb {
            location: StoreLocation::Sqlite(dir.path().to_path_buf()),
            _dir: dir,
            schema: None,
        },
        Some(url) => {
            let schema = format!(
                "t{}_{}_{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed),
                chrono::Utc::now().timestamp_subsec_nanos()
            );
            Store::postgres_batch(&url, &format!("CREATE SCHEMA {schema}"))
                .expect("KEYGATE_TEST_POSTGRES must name a reachable server");
            let sep = if url.contains('?') { '&' } else { '?' };
            let location =
                StoreLocation::Postgres(format!("{url}{sep}options=-csearch_path%3D{schema}"));
            TestDb {
                _dir: dir,
                location,
                schema: Some((url, schema)),
            }
        }
    }
}

impl TestDb {
    /// A new connection to this test's database.
    pub(crate) fn open(&self) -> Store {
        Store::connect(&self.location).expect("open the test store")
    }

    pub(crate) fn is_postgres(&self) -> bool {
        self.schema.is_some()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((url, schema)) = &self.schema {
            let _ = Store::postgres_batch(url, &format!("DROP SCHEMA {schema} CASCADE"));
        }
    }
}
