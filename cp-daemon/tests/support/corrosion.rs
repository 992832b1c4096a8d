//! A fake Corrosion agent for tests: the two HTTP endpoints the endpoint
//! store uses, answering in Corrosion's documented formats, over an
//! in-memory SQLite database loaded with the same schema file.
//!
//! - `POST /v1/transactions` `[[sql, [params…]], …]` → 200
//!   `{"results":[{"rows_affected":n,"time":t}],"time":t,"version":v}`, or
//!   500 `{"results":[{"error":"…"}]}` (nothing applied).
//! - `POST /v1/queries` `[sql, [params…]]` → 200 NDJSON `{"columns":[…]}`,
//!   `{"row":[rowid,[values…]]}`…, `{"eoq":{"time":t}}`; bad SQL → 400
//!   `{"error":"…"}`.
//!
//! It can be stopped and restarted on the same address with its data kept,
//! to test a store outage.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use coold::discovery::{from_sql, to_sql};
use rusqlite::types::Value as SqlValue;
use rusqlite::Connection;
use serde_json::{json, Value};

#[derive(Clone)]
struct Db {
    conn: Arc<Mutex<Connection>>,
    version: Arc<AtomicU64>,
}

pub struct CorrosionFake {
    pub addr: SocketAddr,
    db: Db,
    server: Option<(
        tokio::sync::oneshot::Sender<()>,
        std::thread::JoinHandle<()>,
    )>,
}

impl CorrosionFake {
    /// Starts on a free loopback port.
    pub fn start() -> CorrosionFake {
        let conn = Connection::open_in_memory().expect("sqlite");
        conn.execute_batch(coold::discovery::SCHEMA)
            .expect("schema");
        let db = Db {
            conn: Arc::new(Mutex::new(conn)),
            version: Arc::new(AtomicU64::new(0)),
        };
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut fake = CorrosionFake {
            addr,
            db,
            server: None,
        };
        fake.serve(listener);
        fake
    }

    /// Stops answering (connections are refused) but keeps the data.
    pub fn stop(&mut self) {
        if let Some((tx, handle)) = self.server.take() {
            let _ = tx.send(());
            let _ = handle.join();
        }
    }

    /// Answers again on the same address.
    pub fn restart(&mut self) {
        self.stop();
        let listener = std::net::TcpListener::bind(self.addr).expect("rebind the same port");
        self.serve(listener);
    }

    fn serve(&mut self, listener: std::net::TcpListener) {
        listener.set_nonblocking(true).expect("nonblocking");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let db = self.db.clone();
        let handle = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let app = Router::new()
                    .route("/v1/transactions", post(transactions))
                    .route("/v1/queries", post(queries))
                    .with_state(db);
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = rx.await;
                    })
                    .await;
            });
        });
        self.server = Some((tx, handle));
    }
}

impl Drop for CorrosionFake {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn transactions(State(db): State<Db>, body: Bytes) -> Response {
    let Ok(stmts) = serde_json::from_slice::<Vec<(String, Vec<Value>)>>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "expected [[sql, [params]], ...]"})),
        )
            .into_response();
    };
    let mut conn = db.conn.lock().unwrap_or_else(|p| p.into_inner());
    let outcome: Result<Vec<usize>, String> = (|| {
        let tx = conn.transaction().map_err(|e| e.to_string())?;
        let mut affected = Vec::new();
        for (sql, params) in &stmts {
            let params: Vec<SqlValue> = params.iter().map(to_sql).collect();
            affected.push(
                tx.execute(sql, rusqlite::params_from_iter(params))
                    .map_err(|e| e.to_string())?,
            );
        }
        tx.commit().map_err(|e| e.to_string())?;
        Ok(affected)
    })();
    match outcome {
        Ok(affected) => {
            let version = db.version.fetch_add(1, Ordering::SeqCst) + 1;
            let results: Vec<Value> = affected
                .iter()
                .map(|n| json!({"rows_affected": n, "time": 0.0001}))
                .collect();
            axum::Json(json!({"results": results, "time": 0.0002, "version": version}))
                .into_response()
        }
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(json!({"results": [{"error": e}]})),
        )
            .into_response(),
    }
}

async fn queries(State(db): State<Db>, body: Bytes) -> Response {
    let Ok((sql, params)) = serde_json::from_slice::<(String, Vec<Value>)>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "expected [sql, [params]]"})),
        )
            .into_response();
    };
    let conn = db.conn.lock().unwrap_or_else(|p| p.into_inner());
    let mut st = match conn.prepare(&sql) {
        Ok(st) => st,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({"error": e.to_string()})),
            )
                .into_response()
        }
    };
    let columns: Vec<String> = st.column_names().iter().map(|c| c.to_string()).collect();
    let n = columns.len();
    let params: Vec<SqlValue> = params.iter().map(to_sql).collect();
    let mut lines = vec![json!({"columns": columns}).to_string()];
    let rows = st.query_map(rusqlite::params_from_iter(params), |r| {
        (0..n)
            .map(|i| r.get::<_, SqlValue>(i).map(from_sql))
            .collect::<Result<Vec<_>, _>>()
    });
    match rows {
        Ok(rows) => {
            for (i, row) in rows.enumerate() {
                match row {
                    Ok(values) => lines.push(json!({"row": [i + 1, values]}).to_string()),
                    Err(e) => {
                        lines.push(json!({"error": e.to_string()}).to_string());
                        return ndjson(lines);
                    }
                }
            }
            lines.push(json!({"eoq": {"time": 0.0001}}).to_string());
            ndjson(lines)
        }
        Err(e) => (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": e.to_string()})),
        )
            .into_response(),
    }
}

fn ndjson(lines: Vec<String>) -> Response {
    let mut body = lines.join("\n");
    body.push('\n');
    (
        [(axum::http::header::CONTENT_TYPE, "application/x-ndjson")],
        body,
    )
        .into_response()
}
