//! The benchmark service written by hand, with no svcgen in it: serde types, axum servers and
//! reqwest calls, on the same wire contract as the generated code (`docs/rest.md`).
//!
//! Two servers:
//! - [`equivalent_router`] does the work the generated server does: it reads the Context
//!   headers (a valid `x-correlation-id`, echoed back, or a new one; a valid W3C `traceparent`;
//!   `x-deadline-ms`, enforced; `authorization`), opens a `tracing` span, decodes, checks the
//!   same constraints (every violation reported), catches a panicking handler and answers
//!   errors as `application/problem+json`;
//! - [`bare_router`] is the least axum needs: `Json` in, `Json` out, no checks, no headers.
//!
//! And two ways to call: [`RawClient::echo_equivalent`] (sends a fresh correlation id and
//! `traceparent`, as the generated client does, and reads problem documents) and
//! [`RawClient::echo_bare`].

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::FutureExt as _;
use serde::{Deserialize, Serialize};
use tracing::Instrument as _;

use crate::service::{ITEM_PRICE, item_name};

/// The hand-written twin of the generated `Payload`: the same fields, the same JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RawPayload {
    /// Id.
    pub id: u64,
    /// Name (1 to 128 characters).
    pub name: String,
    /// Email.
    pub email: String,
    /// Description.
    pub description: String,
    /// Category.
    pub category: String,
    /// SKU.
    pub sku: String,
    /// Quantity (0 to 10,000).
    pub quantity: u32,
    /// Price.
    pub price: f64,
    /// Discount.
    pub discount: f64,
    /// In stock.
    pub in_stock: bool,
    /// Created at (ms).
    pub created_at_ms: i64,
    /// Updated at (ms).
    pub updated_at_ms: i64,
    /// Version.
    pub version: u32,
    /// Warehouse.
    pub warehouse: String,
    /// Tags (at most 64).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Scores.
    #[serde(default)]
    pub scores: Vec<i32>,
}

impl RawPayload {
    /// The constraints of `bench.svc`, every violation as `(field, message)`.
    #[must_use]
    pub fn violations(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let name = self.name.chars().count();
        if name < 1 {
            out.push(("msg.name".to_owned(), format!("length must be at least 1, is {name}")));
        }
        if name > 128 {
            out.push(("msg.name".to_owned(), format!("length must be at most 128, is {name}")));
        }
        if self.quantity > 10_000 {
            out.push(("msg.quantity".to_owned(), format!("must be at most 10000, is {}", self.quantity)));
        }
        if self.tags.len() > 64 {
            out.push(("msg.tags".to_owned(), format!("length must be at most 64, is {}", self.tags.len())));
        }
        out
    }
}

/// The hand-written twin of the generated `Item`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RawItem {
    /// Id.
    pub id: u64,
    /// Name.
    pub name: String,
    /// Price.
    pub price: f64,
}

/// The body of `POST /echo`.
#[derive(Debug, Deserialize)]
pub struct EchoArgs {
    /// The payload.
    pub msg: RawPayload,
}

/// The body of `POST /echo`, borrowed for sending.
#[derive(Debug, Serialize)]
pub struct EchoArgsRef<'a> {
    /// The payload.
    pub msg: &'a RawPayload,
}

// ---- the business logic, shared by both servers ------------------------------------------

#[allow(clippy::unused_async)] // `async`, as a real handler would be (and as the generated trait is)
async fn echo(_ctx: &RawContext, msg: RawPayload) -> Result<RawPayload, Problem> {
    Ok(msg)
}

#[allow(clippy::unused_async)]
async fn item(_ctx: &RawContext, id: u64) -> Result<RawItem, Problem> {
    Ok(RawItem { id, name: item_name(id), price: ITEM_PRICE })
}

// ---- the bare server --------------------------------------------------------------------

/// `POST /echo` and `GET /items/{id}`, the least axum needs.
pub fn bare_router() -> Router {
    async fn echo_bare(axum::Json(args): axum::Json<EchoArgs>) -> axum::Json<RawPayload> {
        axum::Json(args.msg)
    }
    async fn item_bare(Path(id): Path<u64>) -> axum::Json<RawItem> {
        axum::Json(RawItem { id, name: item_name(id), price: ITEM_PRICE })
    }
    Router::new().route("/echo", post(echo_bare)).route("/items/{id}", get(item_bare))
}

// ---- the equivalent server --------------------------------------------------------------

/// What a hand-written server keeps of the request headers.
#[derive(Debug)]
pub struct RawContext {
    correlation_id: String,
    traceparent: Option<String>,
    deadline: Option<Instant>,
    authorization: Option<String>,
}

impl RawContext {
    /// From the request headers: the same rules as the generated server.
    #[must_use]
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let correlation_id = text("x-correlation-id")
            .filter(|id| (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic()))
            .map_or_else(|| uuid::Uuid::new_v4().simple().to_string(), str::to_owned);
        let traceparent = text("traceparent").filter(|tp| valid_traceparent(tp)).map(str::to_owned);
        let deadline = text("x-deadline-ms")
            .and_then(|ms| ms.trim().parse::<u64>().ok())
            .and_then(|ms| Instant::now().checked_add(Duration::from_millis(ms)));
        let authorization = text("authorization").map(str::to_owned);
        Self { correlation_id, traceparent, deadline, authorization }
    }

    /// The trace context, if the caller sent a valid one.
    #[must_use]
    pub fn traceparent(&self) -> Option<&str> {
        self.traceparent.as_deref()
    }

    /// The caller's credentials, if any.
    #[must_use]
    pub fn authorization(&self) -> Option<&str> {
        self.authorization.as_deref()
    }
}

/// `00-<32 hex>-<16 hex>-<2 hex>`, ids not all zero, version not `ff`.
fn valid_traceparent(tp: &str) -> bool {
    let b = tp.as_bytes();
    let hex = |s: &[u8]| s.iter().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c));
    b.len() == 55
        && b[2] == b'-'
        && b[35] == b'-'
        && b[52] == b'-'
        && hex(&b[..2])
        && &b[..2] != b"ff"
        && hex(&b[3..35])
        && b[3..35].iter().any(|c| *c != b'0')
        && hex(&b[36..52])
        && b[36..52].iter().any(|c| *c != b'0')
        && hex(&b[53..])
}

/// An error answered as `application/problem+json`.
#[derive(Debug)]
pub struct Problem {
    status: u16,
    code: &'static str,
    detail: String,
    violations: Vec<(String, String)>,
}

impl Problem {
    fn invalid(detail: String) -> Self {
        Self { status: 400, code: "invalid_argument", detail, violations: Vec::new() }
    }

    fn into_response(self, correlation_id: &str) -> Response {
        let violations: Vec<serde_json::Value> = self
            .violations
            .into_iter()
            .map(|(field, message)| serde_json::json!({ "field": field, "message": message }))
            .collect();
        let mut body = serde_json::json!({
            "type": format!("urn:svcgen:code:{}", self.code),
            "title": self.code,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
            "correlation_id": correlation_id,
        });
        if !violations.is_empty() {
            body["violations"] = serde_json::Value::Array(violations);
        }
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        (status, [(header::CONTENT_TYPE, "application/problem+json")], bytes).into_response()
    }
}

/// Runs one call as the generated server does: span, deadline, panic guard, JSON reply or
/// problem document, correlation id echoed.
async fn serve_call<T, F>(method: &'static str, ctx: &RawContext, work: F) -> Response
where
    T: Serialize,
    F: Future<Output = Result<T, Problem>> + Send,
{
    let span = tracing::info_span!("raw.call", method, correlation_id = ctx.correlation_id.as_str());
    let outcome = async {
        let guarded = AssertUnwindSafe(work).catch_unwind();
        match ctx.deadline.map(|d| d.saturating_duration_since(Instant::now())) {
            Some(left) if left.is_zero() => Ok(Err(Problem {
                status: 504,
                code: "deadline_exceeded",
                detail: "the deadline passed before the call started".to_owned(),
                violations: Vec::new(),
            })),
            Some(left) => tokio::time::timeout(left, guarded).await.unwrap_or_else(|_| {
                Ok(Err(Problem {
                    status: 504,
                    code: "deadline_exceeded",
                    detail: "the deadline passed during the call".to_owned(),
                    violations: Vec::new(),
                }))
            }),
            None => guarded.await,
        }
    }
    .instrument(span.clone())
    .await;
    let _entered = span.enter();
    let result = outcome.unwrap_or_else(|_| {
        Err(Problem {
            status: 500,
            code: "internal",
            detail: "the handler panicked".to_owned(),
            violations: Vec::new(),
        })
    });
    let mut response = match result.and_then(|value| {
        serde_json::to_vec(&value).map_err(|e| Problem {
            status: 500,
            code: "internal",
            detail: e.to_string(),
            violations: Vec::new(),
        })
    }) {
        Ok(bytes) => ([(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        Err(problem) => problem.into_response(&ctx.correlation_id),
    };
    if let Ok(value) = HeaderValue::from_str(&ctx.correlation_id) {
        response.headers_mut().insert("x-correlation-id", value);
    }
    response
}

/// `POST /echo` and `GET /items/{id}`, doing the work the generated server does.
pub fn equivalent_router() -> Router {
    async fn echo_equivalent(headers: HeaderMap, body: bytes::Bytes) -> Response {
        let ctx = RawContext::from_headers(&headers);
        let work = async {
            let args: EchoArgs = serde_json::from_slice(&body)
                .map_err(|e| Problem::invalid(format!("invalid request: {e}")))?;
            let violations = args.msg.violations();
            if !violations.is_empty() {
                return Err(Problem { violations, ..Problem::invalid("invalid input".to_owned()) });
            }
            echo(&ctx, args.msg).await
        };
        serve_call("echo", &ctx, work).await
    }
    async fn item_equivalent(headers: HeaderMap, Path(id): Path<String>) -> Response {
        let ctx = RawContext::from_headers(&headers);
        let work = async {
            let id = id.parse::<u64>().map_err(|_| Problem {
                violations: vec![("id".to_owned(), format!("expected an integer, found {id:?}"))],
                ..Problem::invalid("invalid input".to_owned())
            })?;
            item(&ctx, id).await
        };
        serve_call("get_item", &ctx, work).await
    }
    Router::new().route("/echo", post(echo_equivalent)).route("/items/{id}", get(item_equivalent))
}

// ---- the client -------------------------------------------------------------------------

/// The hand-written calls, with the generated client's reqwest settings.
#[derive(Clone, Debug)]
pub struct RawClient {
    http: reqwest::Client,
    echo_url: String,
    base: String,
}

/// Why a raw call failed.
#[derive(Debug)]
pub enum RawError {
    /// Transport or decoding.
    Http(reqwest::Error),
    /// The server's problem document (or body), with its HTTP status.
    Problem(u16, String),
}

impl From<reqwest::Error> for RawError {
    fn from(e: reqwest::Error) -> Self {
        Self::Http(e)
    }
}

impl RawClient {
    /// A client of the server at `base` (`http://127.0.0.1:port`), with the generated
    /// client's settings (`tcp_nodelay`, 64 idle connections per host).
    ///
    /// # Panics
    /// If reqwest cannot build a client.
    #[must_use]
    pub fn new(base: &str) -> Self {
        let http = reqwest::Client::builder()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(64)
            .build()
            .expect("a reqwest client");
        Self { http, echo_url: format!("{base}/echo"), base: base.to_owned() }
    }

    /// `POST /echo`: JSON in, JSON out, an error for a non-2xx status.
    pub async fn echo_bare(&self, msg: RawPayload) -> Result<RawPayload, RawError> {
        let response = self.http.post(&self.echo_url).json(&EchoArgsRef { msg: &msg }).send().await?;
        Ok(response.error_for_status()?.json().await?)
    }

    /// `GET /items/{id}`, likewise.
    pub async fn item_bare(&self, id: u64) -> Result<RawItem, RawError> {
        let response = self.http.get(format!("{}/items/{id}", self.base)).send().await?;
        Ok(response.error_for_status()?.json().await?)
    }

    /// `POST /echo` as the generated client makes it: a fresh correlation id and trace
    /// context on every call, the problem document kept on failure.
    pub async fn echo_equivalent(&self, msg: RawPayload) -> Result<RawPayload, RawError> {
        let request = self.http.post(&self.echo_url).json(&EchoArgsRef { msg: &msg });
        decode(with_context(request).send().await?).await
    }

    /// `GET /items/{id}` as the generated client makes it.
    pub async fn item_equivalent(&self, id: u64) -> Result<RawItem, RawError> {
        let request = self.http.get(format!("{}/items/{id}", self.base));
        decode(with_context(request).send().await?).await
    }
}

fn with_context(request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    let correlation_id = uuid::Uuid::new_v4().simple().to_string();
    let trace_id = uuid::Uuid::new_v4().simple();
    let span_id = uuid::Uuid::new_v4().as_u64_pair().0;
    let traceparent = format!("00-{trace_id}-{span_id:016x}-01");
    request.header("x-correlation-id", correlation_id).header("traceparent", traceparent)
}

async fn decode<T: serde::de::DeserializeOwned>(response: reqwest::Response) -> Result<T, RawError> {
    let status = response.status();
    let bytes = response.bytes().await?;
    if status.is_success() {
        serde_json::from_slice(&bytes).map_err(|e| RawError::Problem(status.as_u16(), e.to_string()))
    } else {
        Err(RawError::Problem(status.as_u16(), String::from_utf8_lossy(&bytes).into_owned()))
    }
}
