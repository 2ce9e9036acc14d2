//! The one connection type the repositories speak to, with two implementations: SQLite
//! (rusqlite, the desktop's file) and PostgreSQL (the team server's shared store).
//!
//! The repositories write their SQL once, in the dialect both accept: `?N` (or `?`)
//! placeholders, `INSERT … ON CONFLICT`, `RETURNING`, text timestamps, integers for flags.
//! For PostgreSQL the placeholders become `$N`, every statement is prepared once per
//! connection, and values are bound by the column's type (an integer binds to `BIGINT`,
//! `INTEGER` or `BOOLEAN` alike), so a query needs no casts for the stricter server. Where
//! the two really differ (JSON functions), a repository asks [`Conn::is_postgres`].

use std::cell::RefCell;
use std::collections::HashMap;
use std::error::Error as StdError;

use bytes::{BufMut, BytesMut};
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type};

/// What a statement failed with, from either database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{}", postgres_message(.0))]
    Postgres(#[from] tokio_postgres::Error),
    #[error("the query returned no rows")]
    NoRows,
    #[error("cannot start the database connection's thread: {0}")]
    Thread(String),
    #[error("column {index}: {message}")]
    Conversion { index: usize, message: String },
}

impl DbError {
    pub(crate) fn conversion(index: usize, message: impl Into<String>) -> Self {
        Self::Conversion {
            index,
            message: message.into(),
        }
    }

    /// A UNIQUE, PRIMARY KEY, FOREIGN KEY or CHECK constraint refused the write.
    pub fn is_constraint(&self) -> bool {
        match self {
            Self::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                e.code == rusqlite::ErrorCode::ConstraintViolation
            }
            Self::Postgres(e) => e.code().is_some_and(|c| c.code().starts_with("23")),
            _ => false,
        }
    }

    /// Another connection held the data: the same work may succeed if tried again (SQLite's
    /// busy/locked; PostgreSQL's serialization failure, deadlock or lock timeout).
    pub fn is_busy(&self) -> bool {
        match self {
            Self::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ),
            Self::Postgres(e) => e
                .code()
                .is_some_and(|c| matches!(c.code(), "40001" | "40P01" | "55P03")),
            _ => false,
        }
    }

    /// The connection itself is gone (the server stopped or restarted): a new one may work.
    pub fn is_disconnected(&self) -> bool {
        matches!(self, Self::Postgres(e) if e.is_closed())
    }
}

/// PostgreSQL's own words for a server error (`ERROR: … DETAIL: …`), without the driver's
/// "db error:" prefix; other errors as the driver says them.
fn postgres_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{} ({detail})", db.message()),
            None => db.message().to_string(),
        },
        None => e.to_string(),
    }
}

/// One bound value, borrowed from the caller.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Value<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
}

/// A value a statement can bind, in either database.
pub(crate) trait Arg: Sync {
    fn value(&self) -> Value<'_>;
}

macro_rules! int_arg {
    ($($t:ty),*) => {$(
        impl Arg for $t {
            fn value(&self) -> Value<'_> {
                Value::Int(i64::try_from(*self).unwrap_or(i64::MAX))
            }
        }
    )*};
}
int_arg!(i64, i32, u8, u16, u32, u64, usize);

impl Arg for bool {
    fn value(&self) -> Value<'_> {
        Value::Int(i64::from(*self))
    }
}
impl Arg for f64 {
    fn value(&self) -> Value<'_> {
        Value::Real(*self)
    }
}
impl Arg for str {
    fn value(&self) -> Value<'_> {
        Value::Text(self)
    }
}
impl Arg for String {
    fn value(&self) -> Value<'_> {
        Value::Text(self)
    }
}
impl Arg for [u8] {
    fn value(&self) -> Value<'_> {
        Value::Blob(self)
    }
}
impl Arg for Vec<u8> {
    fn value(&self) -> Value<'_> {
        Value::Blob(self)
    }
}
impl<T: Arg + ?Sized> Arg for &T {
    fn value(&self) -> Value<'_> {
        (**self).value()
    }
}
impl<T: Arg> Arg for Option<T> {
    fn value(&self) -> Value<'_> {
        match self {
            Some(v) => v.value(),
            None => Value::Null,
        }
    }
}
/// A value built at run time (a filter's parts), owned.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Owned {
    Int(i64),
    Text(String),
}

impl Arg for Owned {
    fn value(&self) -> Value<'_> {
        match self {
            Self::Int(v) => Value::Int(*v),
            Self::Text(v) => Value::Text(v),
        }
    }
}

impl From<i64> for Owned {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}

impl Arg for Value<'_> {
    fn value(&self) -> Value<'_> {
        *self
    }
}

/// What a statement's values can be given as: `params![a, b]`, or an array of one type.
pub(crate) trait Params {
    fn with<R>(&self, run: impl FnOnce(&[&dyn Arg]) -> R) -> R;
}

impl Params for &[&dyn Arg] {
    fn with<R>(&self, run: impl FnOnce(&[&dyn Arg]) -> R) -> R {
        run(self)
    }
}

impl<T: Arg, const N: usize> Params for [T; N] {
    fn with<R>(&self, run: impl FnOnce(&[&dyn Arg]) -> R) -> R {
        let refs: [&dyn Arg; N] = self.each_ref().map(|v| v as &dyn Arg);
        run(&refs)
    }
}

/// `params![a, b]`: the values of one statement, each anything that is an [`Arg`].
macro_rules! params {
    () => { &[] as &[&dyn $crate::sql::Arg] };
    ($($v:expr),+ $(,)?) => { &[$(&$v as &dyn $crate::sql::Arg),+] as &[&dyn $crate::sql::Arg] };
}
pub(crate) use params;

impl rusqlite::ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match *self {
            Value::Null => ValueRef::Null,
            Value::Int(v) => ValueRef::Integer(v),
            Value::Real(v) => ValueRef::Real(v),
            Value::Text(v) => ValueRef::Text(v.as_bytes()),
            Value::Blob(v) => ValueRef::Blob(v),
        }))
    }
}

type BoxError = Box<dyn StdError + Sync + Send>;

impl ToSql for Value<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match *self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(v) => match *ty {
                Type::INT8 => v.to_sql(ty, out),
                Type::INT4 => i32::try_from(v)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(v)?.to_sql(ty, out),
                Type::BOOL => (v != 0).to_sql(ty, out),
                Type::FLOAT8 => (v as f64).to_sql(ty, out),
                Type::FLOAT4 => (v as f32).to_sql(ty, out),
                Type::NUMERIC => Ok(encode_numeric(v, out)),
                Type::TEXT | Type::VARCHAR => v.to_string().as_str().to_sql(ty, out),
                _ => Err(format!("an integer cannot be bound to a {ty} parameter").into()),
            },
            Value::Real(v) => match *ty {
                Type::FLOAT8 => v.to_sql(ty, out),
                Type::FLOAT4 => (v as f32).to_sql(ty, out),
                _ => Err(format!("a real number cannot be bound to a {ty} parameter").into()),
            },
            Value::Text(v) => match *ty {
                Type::BYTEA => v.as_bytes().to_sql(ty, out),
                Type::JSONB => {
                    out.put_u8(1);
                    out.put_slice(v.as_bytes());
                    Ok(IsNull::No)
                }
                _ => {
                    out.put_slice(v.as_bytes());
                    Ok(IsNull::No)
                }
            },
            Value::Blob(v) => v.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    tokio_postgres::types::to_sql_checked!();
}

/// An integer as PostgreSQL's binary NUMERIC (base-10000 digits, most significant first).
fn encode_numeric(v: i64, out: &mut BytesMut) -> IsNull {
    let mut rest = v.unsigned_abs();
    let mut digits = Vec::new();
    while rest > 0 {
        digits.push((rest % 10_000) as i16);
        rest /= 10_000;
    }
    digits.reverse();
    let weight = digits.len() as i16 - 1;
    out.put_i16(digits.len() as i16);
    out.put_i16(weight.max(0));
    out.put_u16(if v < 0 { 0x4000 } else { 0 });
    out.put_u16(0);
    for d in digits {
        out.put_i16(d);
    }
    IsNull::No
}

/// One column's value as PostgreSQL sent it, decoded by its type.
pub(crate) enum PgValue {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// NUMERIC (what `sum()` and `avg()` of integers answer): an integer when it has no
/// fraction, else a real.
struct Numeric(PgValue);

impl<'a> FromSql<'a> for Numeric {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let word = |i: usize| -> Result<u16, BoxError> {
            raw.get(i..i + 2)
                .map(|b| u16::from_be_bytes([b[0], b[1]]))
                .ok_or_else(|| "a NUMERIC value was cut short".into())
        };
        let count = word(0)? as usize;
        let weight = word(2)? as i16 as i32;
        let sign = word(4)?;
        if sign == 0xC000 {
            return Ok(Self(PgValue::Real(f64::NAN)));
        }
        let mut whole: i128 = 0;
        let mut value = 0f64;
        let mut fraction = false;
        for k in 0..count {
            let digit = word(8 + 2 * k)? as i32;
            let power = weight - k as i32;
            value += f64::from(digit) * 10_000f64.powi(power);
            if power >= 0 {
                whole = whole
                    .saturating_mul(10_000)
                    .saturating_add(i128::from(digit));
            } else if digit != 0 {
                fraction = true;
            }
        }
        if !fraction {
            // Trailing zero groups are left out of the digits.
            let missing = weight + 1 - count as i32;
            for _ in 0..missing.max(0) {
                whole = whole.saturating_mul(10_000);
            }
        }
        let negative = sign == 0x4000;
        Ok(Self(match (fraction, i64::try_from(whole)) {
            (false, Ok(w)) => PgValue::Int(if negative { -w } else { w }),
            _ => PgValue::Real(if negative { -value } else { value }),
        }))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }
}

fn pg_value(row: &tokio_postgres::Row, i: usize) -> Result<PgValue, DbError> {
    let ty = row
        .columns()
        .get(i)
        .ok_or_else(|| DbError::conversion(i, "no such column"))?
        .type_()
        .clone();
    let err = |e: tokio_postgres::Error| DbError::conversion(i, e.to_string());
    macro_rules! take {
        ($t:ty, $wrap:expr) => {
            row.try_get::<_, Option<$t>>(i)
                .map_err(err)?
                .map_or(PgValue::Null, $wrap)
        };
    }
    Ok(match ty {
        Type::INT8 => take!(i64, PgValue::Int),
        Type::INT4 => take!(i32, |v| PgValue::Int(v.into())),
        Type::INT2 => take!(i16, |v| PgValue::Int(v.into())),
        Type::OID => take!(u32, |v| PgValue::Int(v.into())),
        Type::BOOL => take!(bool, |v| PgValue::Int(v.into())),
        Type::FLOAT8 => take!(f64, PgValue::Real),
        Type::FLOAT4 => take!(f32, |v| PgValue::Real(v.into())),
        Type::NUMERIC => take!(Numeric, |n| n.0),
        Type::BYTEA => take!(Vec<u8>, PgValue::Blob),
        _ => take!(String, PgValue::Text),
    })
}

/// A type a column can be read as, from either database.
pub(crate) trait Column: rusqlite::types::FromSql + Sized {
    fn from_pg(value: PgValue) -> Result<Self, String>;
}

fn wrong(found: &PgValue, wanted: &str) -> String {
    let found = match found {
        PgValue::Null => "NULL",
        PgValue::Int(_) => "an integer",
        PgValue::Real(_) => "a real number",
        PgValue::Text(_) => "text",
        PgValue::Blob(_) => "bytes",
    };
    format!("found {found} where {wanted} was expected")
}

macro_rules! int_column {
    ($($t:ty),*) => {$(
        impl Column for $t {
            fn from_pg(value: PgValue) -> Result<Self, String> {
                match value {
                    PgValue::Int(v) => <$t>::try_from(v).map_err(|e| e.to_string()),
                    other => Err(wrong(&other, "an integer")),
                }
            }
        }
    )*};
}
int_column!(i64, i32, u8, u16, u32, u64, usize);

impl Column for bool {
    fn from_pg(value: PgValue) -> Result<Self, String> {
        match value {
            PgValue::Int(v) => Ok(v != 0),
            other => Err(wrong(&other, "a flag")),
        }
    }
}
impl Column for f64 {
    fn from_pg(value: PgValue) -> Result<Self, String> {
        match value {
            PgValue::Real(v) => Ok(v),
            PgValue::Int(v) => Ok(v as f64),
            other => Err(wrong(&other, "a number")),
        }
    }
}
impl Column for String {
    fn from_pg(value: PgValue) -> Result<Self, String> {
        match value {
            PgValue::Text(v) => Ok(v),
            other => Err(wrong(&other, "text")),
        }
    }
}
impl Column for Vec<u8> {
    fn from_pg(value: PgValue) -> Result<Self, String> {
        match value {
            PgValue::Blob(v) => Ok(v),
            PgValue::Text(v) => Ok(v.into_bytes()),
            other => Err(wrong(&other, "bytes")),
        }
    }
}
impl<T: Column> Column for Option<T> {
    fn from_pg(value: PgValue) -> Result<Self, String> {
        match value {
            PgValue::Null => Ok(None),
            other => T::from_pg(other).map(Some),
        }
    }
}

/// One result row.
pub(crate) enum Row<'a> {
    Sqlite(&'a rusqlite::Row<'a>),
    Postgres(&'a tokio_postgres::Row),
}

impl Row<'_> {
    pub(crate) fn get<T: Column>(&self, index: usize) -> Result<T, DbError> {
        match self {
            Self::Sqlite(row) => Ok(row.get(index)?),
            Self::Postgres(row) => {
                T::from_pg(pg_value(row, index)?).map_err(|m| DbError::conversion(index, m))
            }
        }
    }
}

/// A PostgreSQL connection and the statements it has prepared.
///
/// The connection's socket is driven by a thread of its own (a one-thread runtime), and the
/// client's requests, which only talk to that thread over channels, are waited for with a
/// plain executor. So a store can be used, and dropped, from any thread: a blocking-pool
/// task, the writer's thread, a CLI command, a test's async body.
pub(crate) struct PgConn {
    client: tokio_postgres::Client,
    prepared: RefCell<HashMap<String, tokio_postgres::Statement>>,
}

/// Connects to PostgreSQL, with the connection's own thread.
pub(crate) fn connect_postgres(
    config: &tokio_postgres::Config,
) -> Result<tokio_postgres::Client, DbError> {
    let config = config.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("keygate-postgres".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = tx.send(Err(DbError::Thread(e.to_string())));
                    return;
                }
            };
            runtime.block_on(async move {
                match config.connect(tokio_postgres::NoTls).await {
                    Ok((client, connection)) => {
                        let _ = tx.send(Ok(client));
                        // Ends when the client is dropped (or the server goes away).
                        let _ = connection.await;
                    }
                    Err(e) => {
                        let _ = tx.send(Err(DbError::Postgres(e)));
                    }
                }
            });
        })
        .map_err(|e| DbError::Thread(e.to_string()))?;
    rx.recv()
        .map_err(|_| DbError::Thread("the connection's thread ended".into()))?
}

/// Runs a request of the client to its end on this thread.
fn wait<T>(request: impl std::future::Future<Output = T>) -> T {
    futures_executor::block_on(request)
}

/// Prepared statements kept per PostgreSQL connection before the cache starts over (the
/// request log's filters make a few dozen shapes; anything more is dynamic).
const PG_STATEMENTS_KEPT: usize = 512;
/// SQLite statements kept per connection (rusqlite's default is 16).
const SQLITE_STATEMENTS_KEPT: usize = 128;

impl PgConn {
    fn statement(&self, sql: &str) -> Result<tokio_postgres::Statement, DbError> {
        if let Some(stmt) = self.prepared.borrow().get(sql) {
            return Ok(stmt.clone());
        }
        let stmt = wait(self.client.prepare(&placeholders(sql)))?;
        let mut prepared = self.prepared.borrow_mut();
        if prepared.len() >= PG_STATEMENTS_KEPT {
            prepared.clear();
        }
        prepared.insert(sql.to_string(), stmt.clone());
        Ok(stmt)
    }
}

/// A connection to one of the two databases.
pub(crate) enum Conn {
    Sqlite(rusqlite::Connection),
    Postgres(Box<PgConn>),
}

impl Conn {
    pub(crate) fn sqlite(conn: rusqlite::Connection) -> Self {
        conn.set_prepared_statement_cache_capacity(SQLITE_STATEMENTS_KEPT);
        Self::Sqlite(conn)
    }

    pub(crate) fn postgres(client: tokio_postgres::Client) -> Self {
        Self::Postgres(Box::new(PgConn {
            client,
            prepared: RefCell::new(HashMap::new()),
        }))
    }

    pub(crate) fn is_postgres(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }

    /// The SQLite connection, for what only SQLite has (pragmas); `None` on PostgreSQL.
    pub(crate) fn as_sqlite(&self) -> Option<&rusqlite::Connection> {
        match self {
            Self::Sqlite(c) => Some(c),
            Self::Postgres(_) => None,
        }
    }

    /// Prepares `sql` (once per connection: later calls reuse the prepared statement).
    pub(crate) fn prepare(&self, sql: &str) -> Result<Stmt<'_>, DbError> {
        Ok(match self {
            Self::Sqlite(c) => Stmt::Sqlite(c.prepare_cached(sql)?),
            Self::Postgres(pg) => Stmt::Postgres {
                conn: pg,
                stmt: pg.statement(sql)?,
            },
        })
    }

    pub(crate) fn execute(&self, sql: &str, args: impl Params) -> Result<usize, DbError> {
        self.prepare(sql)?.execute(args)
    }

    /// The first row's value, or [`DbError::NoRows`].
    pub(crate) fn query_row<T>(
        &self,
        sql: &str,
        args: impl Params,
        read: impl FnOnce(&Row<'_>) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        self.query_opt(sql, args, read)?.ok_or(DbError::NoRows)
    }

    pub(crate) fn query_opt<T>(
        &self,
        sql: &str,
        args: impl Params,
        read: impl FnOnce(&Row<'_>) -> Result<T, DbError>,
    ) -> Result<Option<T>, DbError> {
        self.prepare(sql)?.query_opt(args, read)
    }

    /// Runs statements separated by `;`, with no values (schema changes).
    pub(crate) fn batch(&self, sql: &str) -> Result<(), DbError> {
        match self {
            Self::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Self::Postgres(pg) => Ok(wait(pg.client.batch_execute(sql))?),
        }
    }

    /// Starts a transaction that takes the write lock at once on SQLite (`BEGIN IMMEDIATE`,
    /// so two writers wait instead of failing halfway); rolled back unless committed.
    pub(crate) fn transaction(&self) -> Result<Tx<'_>, DbError> {
        self.batch(match self {
            Self::Sqlite(_) => "BEGIN IMMEDIATE",
            Self::Postgres(_) => "BEGIN",
        })?;
        Ok(Tx {
            conn: self,
            open: true,
        })
    }
}

/// An open transaction: statements run on it through [`Conn`]'s methods (it derefs to the
/// connection); dropping it uncommitted rolls it back.
pub(crate) struct Tx<'c> {
    conn: &'c Conn,
    open: bool,
}

impl Tx<'_> {
    /// Commits; if the commit fails (SQLite busy), the transaction is rolled back when this
    /// is dropped, so the connection is never left inside it.
    pub(crate) fn commit(mut self) -> Result<(), DbError> {
        self.conn.batch("COMMIT")?;
        self.open = false;
        Ok(())
    }
}

impl std::ops::Deref for Tx<'_> {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        self.conn
    }
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if self.open {
            let _ = self.conn.batch("ROLLBACK");
        }
    }
}

/// The rows of a query, each read or failed.
pub(crate) type Rows<T> = std::vec::IntoIter<Result<T, DbError>>;

/// `.optional()` on a single-row query: no row is `None` rather than an error.
pub(crate) trait OptionalExtension<T> {
    fn optional(self) -> Result<Option<T>, DbError>;
}

impl<T> OptionalExtension<T> for Result<T, DbError> {
    fn optional(self) -> Result<Option<T>, DbError> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(DbError::NoRows) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// A prepared statement, run as often as needed.
pub(crate) enum Stmt<'c> {
    Sqlite(rusqlite::CachedStatement<'c>),
    Postgres {
        conn: &'c PgConn,
        stmt: tokio_postgres::Statement,
    },
}

impl Stmt<'_> {
    pub(crate) fn execute(&mut self, args: impl Params) -> Result<usize, DbError> {
        match self {
            Self::Sqlite(stmt) => Ok(args.with(|a| stmt.execute(sqlite_args(a)))?),
            Self::Postgres { conn, stmt } => {
                let changed = with_pg_args(args, |refs| wait(conn.client.execute(stmt, refs)))?;
                Ok(usize::try_from(changed).unwrap_or(usize::MAX))
            }
        }
    }

    pub(crate) fn query_opt<T>(
        &mut self,
        args: impl Params,
        read: impl FnOnce(&Row<'_>) -> Result<T, DbError>,
    ) -> Result<Option<T>, DbError> {
        match self {
            Self::Sqlite(stmt) => args.with(|a| {
                let mut rows = stmt.query(sqlite_args(a))?;
                match rows.next()? {
                    Some(row) => read(&Row::Sqlite(row)).map(Some),
                    None => Ok(None),
                }
            }),
            Self::Postgres { conn, stmt } => {
                let rows = pg_query(conn, stmt, args)?;
                rows.first().map(|r| read(&Row::Postgres(r))).transpose()
            }
        }
    }

    /// Every row, read by `read` (all read before this returns).
    pub(crate) fn query_map<T>(
        &mut self,
        args: impl Params,
        mut read: impl FnMut(&Row<'_>) -> Result<T, DbError>,
    ) -> Result<Rows<T>, DbError> {
        let mut out = Vec::new();
        match self {
            Self::Sqlite(stmt) => args.with(|a| -> Result<(), DbError> {
                let mut rows = stmt.query(sqlite_args(a))?;
                while let Some(row) = rows.next()? {
                    out.push(read(&Row::Sqlite(row)));
                }
                Ok(())
            })?,
            Self::Postgres { conn, stmt } => {
                for row in pg_query(conn, stmt, args)? {
                    out.push(read(&Row::Postgres(&row)));
                }
            }
        }
        Ok(out.into_iter())
    }
}

fn sqlite_args<'a>(
    args: &'a [&'a dyn Arg],
) -> rusqlite::ParamsFromIter<impl Iterator<Item = Value<'a>>> {
    rusqlite::params_from_iter(args.iter().map(|a| a.value()))
}

fn pg_query(
    conn: &PgConn,
    stmt: &tokio_postgres::Statement,
    args: impl Params,
) -> Result<Vec<tokio_postgres::Row>, DbError> {
    Ok(with_pg_args(args, |refs| {
        wait(conn.client.query(stmt, refs))
    })?)
}

/// Runs `run` with the statement's values as PostgreSQL's driver takes them.
fn with_pg_args<R>(args: impl Params, run: impl FnOnce(&[&(dyn ToSql + Sync)]) -> R) -> R {
    args.with(|a| {
        let values: Vec<Value<'_>> = a.iter().map(|v| v.value()).collect();
        let refs: Vec<&(dyn ToSql + Sync)> =
            values.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
        run(&refs)
    })
}

/// SQLite's placeholders in PostgreSQL's spelling: `?N` → `$N`, a bare `?` → the next
/// number. Text in single or double quotes is left as it is.
pub(crate) fn placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut next = 1;
    let mut quote: Option<char> = None;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), _) if c == q => {
                quote = None;
                out.push(c);
            }
            (Some(_), _) => out.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                out.push(c);
            }
            (None, '?') => {
                let mut number = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    number.push(*d);
                    chars.next();
                }
                out.push('$');
                if number.is_empty() {
                    out.push_str(&next.to_string());
                    next += 1;
                } else {
                    next = number.parse::<usize>().unwrap_or(next) + 1;
                    out.push_str(&number);
                }
            }
            (None, _) => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_for_postgres_outside_quotes() {
        assert_eq!(
            placeholders("SELECT a FROM t WHERE b = ?1 AND c = ?2 OR d = ?1"),
            "SELECT a FROM t WHERE b = $1 AND c = $2 OR d = $1"
        );
        assert_eq!(
            placeholders("WHERE a = ? AND b IN (?, ?) AND c = '?'"),
            "WHERE a = $1 AND b IN ($2, $3) AND c = '?'"
        );
    }

    #[test]
    fn numeric_values_decode_to_integers_or_reals() {
        let decode =
            |bytes: &[u8]| match Numeric::from_sql(&Type::NUMERIC, bytes).expect("decode").0 {
                PgValue::Int(v) => format!("int {v}"),
                PgValue::Real(v) => format!("real {v}"),
                _ => "other".into(),
            };
        let mut buf = BytesMut::new();
        encode_numeric(123_456_789, &mut buf);
        assert_eq!(decode(&buf), "int 123456789");
        buf.clear();
        encode_numeric(-20_000, &mut buf);
        assert_eq!(decode(&buf), "int -20000");
        buf.clear();
        encode_numeric(0, &mut buf);
        assert_eq!(decode(&buf), "int 0");
        // 2.5: one digit group before the point (2), one after (5000).
        let half = [0, 2, 0, 0, 0, 0, 0, 1, 0, 2, 0x13, 0x88];
        assert_eq!(decode(&half), "real 2.5");
    }
}
