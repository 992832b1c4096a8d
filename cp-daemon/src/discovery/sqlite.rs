//! The embedded endpoint store: one SQLite file under the data dir (WAL),
//! one writer. Enough for a single host (DESIGN.md decision 6).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::types::Value as SqlValue;
use rusqlite::Connection;
use serde_json::Value;

use super::endpoint::Change;
use super::store::{row_from_values, statements, EndpointStore, Statement, StoreError, SCHEMA};
use super::Endpoint;

#[derive(Debug, Clone)]
pub struct SqliteStore {
    path: PathBuf,
    conn: Arc<Mutex<Connection>>,
}

fn unavailable(path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("{}: {e}", path.display()))
}

impl SqliteStore {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| unavailable(dir, e))?;
        }
        let conn = Connection::open(path).map_err(|e| unavailable(path, e))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .and_then(|_| conn.pragma_update(None, "synchronous", "NORMAL"))
            .and_then(|_| conn.busy_timeout(std::time::Duration::from_secs(2)))
            .and_then(|_| conn.execute_batch(SCHEMA))
            .map_err(|e| unavailable(path, e))?;
        Ok(SqliteStore {
            path: path.to_path_buf(),
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    async fn with_conn<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = self.conn.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut conn).map_err(|e| match e {
                rusqlite::Error::SqliteFailure(code, _)
                    if matches!(
                        code.code,
                        rusqlite::ErrorCode::ReadOnly
                            | rusqlite::ErrorCode::CannotOpen
                            | rusqlite::ErrorCode::DiskFull
                            | rusqlite::ErrorCode::SystemIoFailure
                            | rusqlite::ErrorCode::DatabaseBusy
                            | rusqlite::ErrorCode::DatabaseLocked
                            | rusqlite::ErrorCode::PermissionDenied
                    ) =>
                {
                    unavailable(&path, e)
                }
                other => StoreError::Rejected(other.to_string()),
            })
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("store task failed: {e}")))?
    }
}

/// JSON parameter → SQLite value (the statements carry JSON params, the
/// shape Corrosion takes).
pub fn to_sql(v: &Value) -> SqlValue {
    match v {
        Value::Null => SqlValue::Null,
        Value::Bool(b) => SqlValue::Integer(i64::from(*b)),
        Value::Number(n) => n
            .as_i64()
            .map(SqlValue::Integer)
            .unwrap_or_else(|| SqlValue::Real(n.as_f64().unwrap_or(0.0))),
        Value::String(s) => SqlValue::Text(s.clone()),
        other => SqlValue::Text(other.to_string()),
    }
}

/// SQLite value → JSON, as Corrosion's query rows carry them.
pub fn from_sql(v: SqlValue) -> Value {
    match v {
        SqlValue::Null => Value::Null,
        SqlValue::Integer(i) => Value::from(i),
        SqlValue::Real(f) => Value::from(f),
        SqlValue::Text(s) => Value::String(s),
        SqlValue::Blob(b) => Value::String(String::from_utf8_lossy(&b).into_owned()),
    }
}

#[async_trait]
impl EndpointStore for SqliteStore {
    async fn apply(&self, host: &str, changes: &[Change]) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let stmts = statements(host, changes);
        self.with_conn(move |conn| {
            let tx = conn.transaction()?;
            for s in &stmts {
                let params: Vec<SqlValue> = s.params.iter().map(to_sql).collect();
                tx.prepare_cached(&s.sql)?
                    .execute(rusqlite::params_from_iter(params))?;
            }
            tx.commit()
        })
        .await
    }

    async fn query(&self, stmt: Statement) -> Result<Vec<Endpoint>, StoreError> {
        let rows: Vec<Vec<Value>> = self
            .with_conn(move |conn| {
                let params: Vec<SqlValue> = stmt.params.iter().map(to_sql).collect();
                let mut st = conn.prepare_cached(&stmt.sql)?;
                let n = st.column_count();
                let rows = st.query_map(rusqlite::params_from_iter(params), |r| {
                    (0..n)
                        .map(|i| r.get::<_, SqlValue>(i).map(from_sql))
                        .collect()
                })?;
                rows.collect()
            })
            .await?;
        rows.iter().map(|r| row_from_values(r)).collect()
    }

    async fn execute(&self, stmt: Statement) -> Result<(), StoreError> {
        self.with_conn(move |conn| {
            let params: Vec<SqlValue> = stmt.params.iter().map(to_sql).collect();
            conn.prepare_cached(&stmt.sql)?
                .execute(rusqlite::params_from_iter(params))
                .map(|_| ())
        })
        .await
    }

    fn kind(&self) -> &'static str {
        "sqlite"
    }
}
