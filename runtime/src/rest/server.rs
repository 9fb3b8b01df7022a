//! The REST server: routes from descriptors, every call through the Dispatcher.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{RawPathParams, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use futures_util::{FutureExt as _, StreamExt as _};
use tracing::Instrument as _;

use super::{CORRELATION_ID, DEADLINE_MS, PROBLEM_JSON, TRACEPARENT};
use crate::context::Context;
use crate::descriptor::{HttpMethod, MethodDescriptor, MethodKind, ParamKind};
use crate::dispatch::{Codec, Dispatch, Payload, Reply};
use crate::status::{Code, Status, Violation};

/// A method and the service that serves it.
type Route = (&'static MethodDescriptor, Arc<dyn Dispatch>);

/// The default largest request body: 4 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 4 << 20;

/// Serves services over HTTP/JSON.
///
/// ```no_run
/// # async fn run(catalog: impl svcgen::Dispatch) -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// svcgen::rest::RestServer::new().service(catalog).serve(listener).await
/// # }
/// ```
pub struct RestServer {
    services: Vec<Arc<dyn Dispatch>>,
    body_limit: usize,
}

impl Default for RestServer {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for RestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.services.iter().map(|s| s.descriptor().name).collect();
        f.debug_struct("RestServer").field("services", &names).field("body_limit", &self.body_limit).finish()
    }
}

impl RestServer {
    /// A server with no service yet.
    #[must_use]
    pub fn new() -> Self {
        Self { services: Vec::new(), body_limit: DEFAULT_BODY_LIMIT }
    }

    /// Adds a service (a generated `…Server`).
    #[must_use]
    pub fn service(mut self, service: impl Dispatch) -> Self {
        self.services.push(Arc::new(service));
        self
    }

    /// Adds a shared service.
    #[must_use]
    pub fn shared_service(mut self, service: Arc<dyn Dispatch>) -> Self {
        self.services.push(service);
        self
    }

    /// The largest request body accepted (larger ones get `413`).
    #[must_use]
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// The axum router, to serve or to merge into an application.
    ///
    /// # Errors
    /// When two services claim the same verb and path.
    pub fn router(&self) -> Result<axum::Router, String> {
        // Group by path: one axum route per path, one handler per verb.
        let mut paths: BTreeMap<&'static str, Vec<Route>> = BTreeMap::new();
        for service in &self.services {
            for method in service.descriptor().methods {
                let entry = paths.entry(method.http_path).or_default();
                if let Some((other, d)) = entry.iter().find(|(m, _)| m.http_method == method.http_method) {
                    return Err(format!(
                        "{} {} is served by both {}.{} and {}.{}",
                        method.http_method.as_str(),
                        method.http_path,
                        d.descriptor().name,
                        other.name,
                        service.descriptor().name,
                        method.name
                    ));
                }
                entry.push((method, service.clone()));
            }
        }
        let mut router = axum::Router::new();
        for (path, methods) in paths {
            let allow: Vec<&str> = methods.iter().map(|(m, _)| m.http_method.as_str()).collect();
            let allow = allow.join(", ");
            let mut route: Option<MethodRouter> = None;
            for (method, service) in methods {
                let limit = self.body_limit;
                let handler =
                    move |params: Result<RawPathParams, axum::extract::rejection::RawPathParamsRejection>,
                          request: Request| {
                        let service = service.clone();
                        async move { handle(service, method, params.ok(), request, limit).await }
                    };
                let filter = match method.http_method {
                    HttpMethod::Get => MethodFilter::GET,
                    HttpMethod::Post => MethodFilter::POST,
                    HttpMethod::Put => MethodFilter::PUT,
                    HttpMethod::Patch => MethodFilter::PATCH,
                    HttpMethod::Delete => MethodFilter::DELETE,
                };
                route = Some(match route {
                    Some(r) => r.on(filter, handler),
                    None => on(filter, handler),
                });
            }
            if let Some(route) = route {
                let allow_header = allow.clone();
                let route = route.fallback(move |request: Request| {
                    let allow = allow_header.clone();
                    async move { method_not_allowed(&request, &allow) }
                });
                // Templates are checked by `svcgen check` (whole-segment `{params}`), so axum accepts them.
                router = router.route(path, route);
            }
        }
        Ok(router.fallback(|request: Request| async move { no_route(&request) }))
    }

    /// Serves on `listener` until the process ends.
    ///
    /// # Errors
    /// When the routes conflict or the listener fails.
    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        self.serve_until(listener, std::future::pending::<()>()).await
    }

    /// Serves until `shutdown` completes, then drains the calls in flight.
    ///
    /// # Errors
    /// When the routes conflict or the listener fails.
    pub async fn serve_until(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let router = self.router().map_err(std::io::Error::other)?;
        axum::serve(no_delay(listener), router).with_graceful_shutdown(shutdown).await
    }
}

/// The listener with `TCP_NODELAY` set on each connection it accepts: a response (or a
/// WebSocket message) goes out when written, not held back by Nagle's algorithm while an
/// earlier segment awaits its acknowledgement.
pub(crate) fn no_delay(
    listener: tokio::net::TcpListener,
) -> impl axum::serve::Listener<Addr = std::net::SocketAddr> {
    use axum::serve::ListenerExt as _;
    listener.tap_io(|stream| {
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY: {e}");
        }
    })
}

/// The Context of a request, from its headers (made fresh where they are missing or invalid;
/// a malformed trace context is ignored, as W3C Trace Context requires).
#[must_use]
pub fn context_from_headers(headers: &HeaderMap) -> Context {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let mut ctx = Context::from_headers(text(CORRELATION_ID), text(TRACEPARENT));
    if let Some(ms) = text(DEADLINE_MS).and_then(|v| v.trim().parse::<u64>().ok()) {
        ctx = ctx.with_timeout(std::time::Duration::from_millis(ms));
    }
    if let Some(auth) = text(header::AUTHORIZATION.as_str()) {
        ctx = ctx.with_metadata("authorization", auth);
    }
    ctx
}

async fn handle(
    service: Arc<dyn Dispatch>,
    method: &'static MethodDescriptor,
    params: Option<RawPathParams>,
    request: Request,
    limit: usize,
) -> Response {
    let (parts, body) = request.into_parts();
    let ctx = context_from_headers(&parts.headers);
    let descriptor = service.descriptor();
    let span = tracing::info_span!(
        "svcgen.call",
        binding = "rest",
        service = descriptor.name,
        method = method.name,
        correlation_id = ctx.correlation_id(),
        trace_id = ctx.trace_id(),
    );
    let correlation_id = ctx.correlation_id().to_owned();
    let response = async {
        if let Some(value) = parts.headers.get(DEADLINE_MS)
            && value.to_str().ok().and_then(|v| v.trim().parse::<u64>().ok()).is_none_or(|ms| ms == 0)
        {
            return Err(Status::invalid_fields(vec![Violation {
                field: DEADLINE_MS.to_owned(),
                message: "must be a whole number of milliseconds, at least 1".to_owned(),
            }]));
        }
        if ctx.is_expired() {
            return Err(Status::deadline_exceeded("the deadline passed before the call started"));
        }
        let Some(params) = params else {
            return Err(Status::invalid_argument("a path parameter is not valid UTF-8"));
        };
        let body = if method.http_method.params_in_query() {
            bytes::Bytes::new()
        } else {
            read_body(body, limit).await?
        };
        let payload = payload(method, &params, parts.uri.query(), body)?;
        call(service, method, payload, ctx).await
    }
    .instrument(span.clone())
    .await;
    let _entered = span.enter();
    let mut response = match response {
        Ok(reply) => reply,
        Err(status) => {
            if status.code() == Code::Internal {
                tracing::error!(%status, "call failed");
            } else {
                tracing::debug!(%status, "call failed");
            }
            problem_response(&status, &correlation_id)
        }
    };
    if let Ok(value) = HeaderValue::from_str(&correlation_id) {
        response.headers_mut().insert(CORRELATION_ID, value);
    }
    response
}

async fn read_body(body: Body, limit: usize) -> Result<bytes::Bytes, Status> {
    match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => Ok(bytes),
        Err(error) => {
            let too_large = std::error::Error::source(&error)
                .is_some_and(|e| e.downcast_ref::<http_body_util::LengthLimitError>().is_some());
            if too_large {
                Err(Status::new(Code::PayloadTooLarge, format!("the body is larger than {limit} bytes")))
            } else {
                Err(Status::invalid_argument(format!("cannot read the body: {error}")))
            }
        }
    }
}

/// Path, query and body merged into the method's arguments; every bad parameter is reported.
fn payload(
    method: &'static MethodDescriptor,
    path: &RawPathParams,
    query: Option<&str>,
    body: bytes::Bytes,
) -> Result<Payload, Status> {
    let mut violations = Vec::new();
    let mut path_values = Vec::new();
    for (name, text) in path {
        let kind = method.params.iter().find(|p| p.name == name).map_or(ParamKind::Text, |p| p.kind);
        match text_value(kind, text) {
            Ok(value) => path_values.push((name.to_owned(), value)),
            Err(message) => violations.push(Violation { field: name.to_owned(), message }),
        }
    }
    let mut object = serde_json::Map::new();
    if method.http_method.params_in_query() {
        for (name, text) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            let Some(param) = method.params.iter().find(|p| p.name == name) else { continue };
            match param.kind {
                ParamKind::List(item) => match text_value(*item, &text) {
                    Ok(value) => {
                        let entry =
                            object.entry(param.name).or_insert_with(|| serde_json::Value::Array(Vec::new()));
                        if let serde_json::Value::Array(items) = entry {
                            items.push(value);
                        }
                    }
                    Err(message) => violations.push(Violation { field: param.name.to_owned(), message }),
                },
                kind => match text_value(kind, &text) {
                    Ok(value) => {
                        object.insert(param.name.to_owned(), value);
                    }
                    Err(message) => violations.push(Violation { field: param.name.to_owned(), message }),
                },
            }
        }
    } else if path_values.is_empty() {
        // The fast path: the body is the whole argument object.
        if !violations.is_empty() {
            return Err(Status::invalid_fields(violations));
        }
        let body =
            if body.iter().all(u8::is_ascii_whitespace) { bytes::Bytes::from_static(b"{}") } else { body };
        return Ok(Payload::Encoded(Codec::Json, body));
    } else if !body.iter().all(u8::is_ascii_whitespace) {
        match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(serde_json::Value::Object(map)) => object = map,
            Ok(_) => {
                return Err(Status::invalid_argument("the body must be a JSON object of the parameters"));
            }
            Err(e) => return Err(Status::invalid_argument(format!("malformed JSON: {e}"))),
        }
    }
    if !violations.is_empty() {
        return Err(Status::invalid_fields(violations));
    }
    for (name, value) in path_values {
        object.insert(name, value);
    }
    Ok(Payload::Json(serde_json::Value::Object(object)))
}

/// A parameter's text as the JSON value its type expects.
fn text_value(kind: ParamKind, text: &str) -> Result<serde_json::Value, String> {
    match kind {
        ParamKind::Bool => match text {
            "true" => Ok(true.into()),
            "false" => Ok(false.into()),
            _ => Err(format!("expected `true` or `false`, found {text:?}")),
        },
        ParamKind::Int => {
            if let Ok(i) = text.parse::<i64>() {
                Ok(i.into())
            } else if let Ok(u) = text.parse::<u64>() {
                Ok(u.into())
            } else {
                Err(format!("expected an integer, found {text:?}"))
            }
        }
        ParamKind::Float => text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(serde_json::Value::Number)
            .ok_or_else(|| format!("expected a number, found {text:?}")),
        ParamKind::Text | ParamKind::Json | ParamKind::List(_) => Ok(text.into()),
    }
}

async fn call(
    service: Arc<dyn Dispatch>,
    method: &'static MethodDescriptor,
    payload: Payload,
    ctx: Context,
) -> Result<Response, Status> {
    let remaining = ctx.remaining();
    if method.kind == MethodKind::Oneway {
        // Fire and forget: checked and accepted now, worked on in the background.
        service.check(method.name, &payload)?;
        let correlation_id = ctx.correlation_id().to_owned();
        tokio::spawn(
            async move {
                let work = guarded(service.dispatch(method.name, payload, Codec::Json, ctx));
                let result = match remaining {
                    Some(r) => tokio::time::timeout(r, work).await.unwrap_or_else(|_| Err(deadline())),
                    None => work.await,
                };
                if let Err(status) = result {
                    tracing::warn!(%status, "oneway call failed");
                }
            }
            .instrument(tracing::info_span!(
                "svcgen.oneway",
                method = method.name,
                correlation_id
            )),
        );
        return Ok(StatusCode::ACCEPTED.into_response());
    }
    let work = guarded(service.dispatch(method.name, payload, Codec::Json, ctx));
    let reply = match remaining {
        Some(r) => tokio::time::timeout(r, work).await.unwrap_or_else(|_| Err(deadline()))?,
        None => work.await?,
    };
    Ok(match reply {
        Reply::Value(bytes) => ([(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        Reply::Text(text) => {
            ([(header::CONTENT_TYPE, "application/json")], bytes::Bytes::from(text)).into_response()
        }
        Reply::Empty => StatusCode::NO_CONTENT.into_response(),
        Reply::Stream(stream) => {
            // Items as `item` events; the end as `end`, or a failure as `error` (then stop).
            let events = stream.map(Some).chain(futures_util::stream::once(async { None })).scan(
                false,
                |failed, item| {
                    if *failed {
                        return std::future::ready(None);
                    }
                    let event = match item {
                        Some(Ok(bytes)) => {
                            Event::default().event("item").data(String::from_utf8_lossy(&bytes))
                        }
                        Some(Err(status)) => {
                            *failed = true;
                            let problem = serde_json::to_string(&status.to_problem(None)).unwrap_or_default();
                            Event::default().event("error").data(problem)
                        }
                        None => Event::default().event("end").data(""),
                    };
                    std::future::ready(Some(Ok::<_, Infallible>(event)))
                },
            );
            Sse::new(events).into_response()
        }
    })
}

fn deadline() -> Status {
    Status::deadline_exceeded("the deadline passed during the call")
}

/// A handler that panics answers `internal`; the server goes on.
async fn guarded<T>(work: impl std::future::Future<Output = Result<T, Status>>) -> Result<T, Status> {
    AssertUnwindSafe(work)
        .catch_unwind()
        .await
        .unwrap_or_else(|_| Err(Status::internal("the handler panicked")))
}

fn problem_response(status: &Status, correlation_id: &str) -> Response {
    let problem = status.to_problem(Some(correlation_id));
    let code = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    problem_as(code, problem)
}

/// A problem document (RFC 9457) answered with the HTTP status `code` (which its `status` says).
pub(crate) fn problem_as(code: StatusCode, problem: crate::status::Problem) -> Response {
    let problem = crate::status::Problem { status: code.as_u16(), ..problem };
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    (code, [(header::CONTENT_TYPE, PROBLEM_JSON)], body).into_response()
}

fn no_route(request: &Request) -> Response {
    let ctx = context_from_headers(request.headers());
    // HTTP says 404; the call model says the server has no such method.
    let status = Status::unimplemented(format!("no route for {} {}", request.method(), request.uri().path()));
    let mut response = problem_as(StatusCode::NOT_FOUND, status.to_problem(Some(ctx.correlation_id())));
    if let Ok(value) = HeaderValue::from_str(ctx.correlation_id()) {
        response.headers_mut().insert(CORRELATION_ID, value);
    }
    response
}

fn method_not_allowed(request: &Request, allow: &str) -> Response {
    let ctx = context_from_headers(request.headers());
    let problem = crate::status::Problem {
        type_uri: "urn:svcgen:code:method_not_allowed".to_owned(),
        title: "Method not allowed".to_owned(),
        status: 405,
        detail: Some(format!("{} is not allowed on {}; use {allow}", request.method(), request.uri().path())),
        code: Code::Unimplemented.as_str().to_owned(),
        correlation_id: Some(ctx.correlation_id().to_owned()),
        error: None,
        violations: Vec::new(),
    };
    let mut response = problem_as(StatusCode::METHOD_NOT_ALLOWED, problem);
    if let Ok(value) = HeaderValue::from_str(allow) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    if let Ok(value) = HeaderValue::from_str(ctx.correlation_id()) {
        response.headers_mut().insert(CORRELATION_ID, value);
    }
    response
}
