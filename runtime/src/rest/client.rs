//! The REST client: one pooled reqwest client, parameters placed as `docs/rest.md` says.

use std::sync::Arc;

use futures_util::StreamExt as _;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{CORRELATION_ID, DEADLINE_MS, PROBLEM_JSON, TRACEPARENT, template_params};
use crate::context::Context;
use crate::descriptor::MethodDescriptor;
use crate::dispatch::Streaming;
use crate::status::{Code, Problem, Status};

/// Characters escaped in a path segment: everything but unreserved ones.
const SEGMENT: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Calls services over HTTP/JSON. Cheap to clone: clones share one connection pool.
#[derive(Clone, Debug)]
pub struct RestClient {
    base: Arc<str>,
    http: reqwest::Client,
}

impl RestClient {
    /// A client of the server at `base_url` (`http://host:port`, maybe with a path prefix).
    ///
    /// # Errors
    /// `invalid_argument` when the URL is not an `http` or `https` URL.
    pub fn new(base_url: &str) -> Result<Self, Status> {
        let http = reqwest::Client::builder()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(64)
            .build()
            .map_err(|e| Status::internal(format!("cannot build the HTTP client: {e}")))?;
        Self::with_http_client(base_url, http)
    }

    /// A client that sends through a reqwest client configured by the caller (TLS, proxies).
    ///
    /// # Errors
    /// `invalid_argument` when the URL is not an `http` or `https` URL.
    pub fn with_http_client(base_url: &str, http: reqwest::Client) -> Result<Self, Status> {
        let url = reqwest::Url::parse(base_url)
            .map_err(|e| Status::invalid_argument(format!("invalid base URL {base_url:?}: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Status::invalid_argument(format!("the base URL {base_url:?} is not http or https")));
        }
        Ok(Self { base: base_url.trim_end_matches('/').into(), http })
    }

    /// Calls a method that returns one value.
    ///
    /// # Errors
    /// The call's status: the server's error, `unavailable` when it cannot be reached,
    /// `deadline_exceeded` when the context's deadline passes.
    pub async fn unary<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        method: &MethodDescriptor,
        ctx: &Context,
        request: &Req,
    ) -> Result<Resp, Status> {
        let response = self.send(method, ctx, request).await?;
        let bytes = response.bytes().await.map_err(transport_error)?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Status::internal(format!("the server's reply is not valid: {e}")))
    }

    /// Calls a method that returns nothing (or a oneway one).
    ///
    /// # Errors
    /// As [`RestClient::unary`].
    pub async fn empty<Req: Serialize>(
        &self,
        method: &MethodDescriptor,
        ctx: &Context,
        request: &Req,
    ) -> Result<(), Status> {
        self.send(method, ctx, request).await.map(drop)
    }

    /// Calls a method that streams values (Server-Sent Events).
    ///
    /// # Errors
    /// As [`RestClient::unary`] for the call itself; errors during the stream are its items.
    pub async fn stream<Req: Serialize, Item: DeserializeOwned + Send + 'static>(
        &self,
        method: &MethodDescriptor,
        ctx: &Context,
        request: &Req,
    ) -> Result<Streaming<Item>, Status> {
        let response = self.send(method, ctx, request).await?;
        let bytes = response.bytes_stream();
        let events = futures_util::stream::unfold(
            (bytes, SseParser::default(), false),
            |(mut bytes, mut parser, done)| async move {
                if done {
                    return None;
                }
                loop {
                    if let Some(event) = parser.next_event() {
                        return match event.name.as_str() {
                            "item" => {
                                let item = serde_json::from_str::<Item>(&event.data).map_err(|e| {
                                    Status::internal(format!("a streamed item is not valid: {e}"))
                                });
                                Some((item, (bytes, parser, false)))
                            }
                            "error" => {
                                let status = serde_json::from_str::<Problem>(&event.data).map_or_else(
                                    |e| Status::internal(format!("a stream error is not valid: {e}")),
                                    Status::from_problem,
                                );
                                Some((Err(status), (bytes, parser, true)))
                            }
                            "end" => None,
                            _ => continue,
                        };
                    }
                    match bytes.next().await {
                        Some(Ok(chunk)) => parser.push(&chunk),
                        Some(Err(e)) => return Some((Err(transport_error(e)), (bytes, parser, true))),
                        None => {
                            let status = Status::unavailable("the stream ended before its `end` event");
                            return Some((Err(status), (bytes, parser, true)));
                        }
                    }
                }
            },
        );
        Ok(Box::pin(events))
    }

    async fn send<Req: Serialize>(
        &self,
        method: &MethodDescriptor,
        ctx: &Context,
        request: &Req,
    ) -> Result<reqwest::Response, Status> {
        let span = tracing::debug_span!(
            "svcgen.client",
            binding = "rest",
            method = method.name,
            correlation_id = ctx.correlation_id(),
            trace_id = ctx.trace_id(),
        );
        tracing::Instrument::instrument(self.send_in_span(method, ctx, request), span).await
    }

    async fn send_in_span<Req: Serialize>(
        &self,
        method: &MethodDescriptor,
        ctx: &Context,
        request: &Req,
    ) -> Result<reqwest::Response, Status> {
        if ctx.is_expired() {
            return Err(Status::deadline_exceeded("the deadline passed before the call was sent"));
        }
        if !method.http_method.params_in_query() && !method.http_path.contains('{') {
            let body = crate::json::to_string(request)
                .map(String::into_bytes)
                .map_err(|e| Status::invalid_argument(format!("cannot encode the request: {e}")))?;
            let mut url = String::with_capacity(self.base.len() + method.http_path.len());
            url.push_str(&self.base);
            url.push_str(method.http_path);
            let mut builder = self.http.request(http_verb(method), url);
            if body.as_slice() != b"{}" {
                builder = builder.header(reqwest::header::CONTENT_TYPE, "application/json").body(body);
            }
            return self.finish(builder, ctx).await;
        }
        let mut args = match serde_json::to_value(request) {
            Ok(serde_json::Value::Object(map)) => map,
            Ok(_) => serde_json::Map::new(),
            Err(e) => return Err(Status::invalid_argument(format!("cannot encode the request: {e}"))),
        };
        let mut url = String::with_capacity(self.base.len() + method.http_path.len() + 16);
        url.push_str(&self.base);
        let mut rest = method.http_path;
        for name in template_params(method.http_path) {
            let marker = format!("{{{name}}}");
            let Some(at) = rest.find(&marker) else { continue };
            url.push_str(&rest[..at]);
            let text = args.remove(name).as_ref().and_then(value_text).ok_or_else(|| {
                Status::invalid_argument(format!(
                    "path parameter `{name}` must be a number, a string or a bool"
                ))
            })?;
            url.extend(percent_encoding::utf8_percent_encode(&text, SEGMENT));
            rest = &rest[at + marker.len()..];
        }
        url.push_str(rest);
        let verb = http_verb(method);
        let mut builder;
        if method.http_method.params_in_query() {
            let mut query = form_urlencoded::Serializer::new(String::new());
            for (name, value) in &args {
                match value {
                    serde_json::Value::Null => {}
                    serde_json::Value::Array(items) => {
                        for item in items {
                            let text = value_text(item).ok_or_else(|| not_query(name))?;
                            query.append_pair(name, &text);
                        }
                    }
                    other => {
                        let text = value_text(other).ok_or_else(|| not_query(name))?;
                        query.append_pair(name, &text);
                    }
                }
            }
            let query = query.finish();
            if !query.is_empty() {
                url.push('?');
                url.push_str(&query);
            }
            builder = self.http.request(verb, url);
        } else {
            builder = self.http.request(verb, url);
            if !args.is_empty() {
                let body = crate::json::to_string(&args)
                    .map(String::into_bytes)
                    .map_err(|e| Status::invalid_argument(e.to_string()))?;
                builder = builder.header(reqwest::header::CONTENT_TYPE, "application/json").body(body);
            }
        }
        self.finish(builder, ctx).await
    }

    /// Adds the Context headers, sends, and turns a failure into its status.
    async fn finish(
        &self,
        mut builder: reqwest::RequestBuilder,
        ctx: &Context,
    ) -> Result<reqwest::Response, Status> {
        builder = builder.header(CORRELATION_ID, ctx.correlation_id());
        if let Some(tp) = ctx.traceparent() {
            builder = builder.header(TRACEPARENT, tp);
        }
        if let Some(remaining) = ctx.remaining() {
            let ms = remaining.as_millis().max(1);
            builder = builder.header(DEADLINE_MS, ms.to_string()).timeout(remaining);
        }
        for (key, value) in ctx.metadata_iter() {
            if reqwest::header::HeaderName::from_bytes(key.as_bytes()).is_ok()
                && reqwest::header::HeaderValue::from_str(value).is_ok()
            {
                builder = builder.header(key, value);
            }
        }
        let response = builder.send().await.map_err(transport_error)?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(error_status(response).await)
    }
}

fn http_verb(method: &MethodDescriptor) -> reqwest::Method {
    match method.http_method {
        crate::descriptor::HttpMethod::Get => reqwest::Method::GET,
        crate::descriptor::HttpMethod::Post => reqwest::Method::POST,
        crate::descriptor::HttpMethod::Put => reqwest::Method::PUT,
        crate::descriptor::HttpMethod::Patch => reqwest::Method::PATCH,
        crate::descriptor::HttpMethod::Delete => reqwest::Method::DELETE,
    }
}

fn not_query(name: &str) -> Status {
    Status::invalid_argument(format!("parameter `{name}` cannot travel in a query string"))
}

/// The text of a scalar JSON value, for a path or query string.
fn value_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[allow(clippy::needless_pass_by_value)] // used as `map_err(transport_error)`
fn transport_error(error: reqwest::Error) -> Status {
    if error.is_timeout() {
        Status::deadline_exceeded("the deadline passed while waiting for the server")
    } else if error.is_connect() {
        Status::unavailable(format!("cannot reach the server: {error}"))
    } else {
        Status::unavailable(format!("the exchange with the server failed: {error}"))
    }
}

async fn error_status(response: reqwest::Response) -> Status {
    let http = response.status().as_u16();
    let is_problem = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(PROBLEM_JSON) || v.starts_with("application/json"));
    let body = response.bytes().await.unwrap_or_default();
    if is_problem && let Ok(problem) = serde_json::from_slice::<Problem>(&body) {
        return Status::from_problem(problem);
    }
    let text: String = String::from_utf8_lossy(&body).chars().take(200).collect();
    Status::new(Code::from_http(http), format!("HTTP {http}: {text}"))
}

/// A Server-Sent Events parser (the subset our servers send: `event:` and `data:` lines).
#[derive(Default)]
struct SseParser {
    buffer: String,
}

struct SseEvent {
    name: String,
    data: String,
}

impl SseParser {
    fn push(&mut self, chunk: &[u8]) {
        self.buffer.push_str(&String::from_utf8_lossy(chunk));
    }

    fn next_event(&mut self) -> Option<SseEvent> {
        let normalized = self.buffer.replace("\r\n", "\n");
        let end = normalized.find("\n\n")?;
        let block = normalized[..end].to_owned();
        normalized[end + 2..].clone_into(&mut self.buffer);
        let mut event = SseEvent { name: "message".to_owned(), data: String::new() };
        let mut first_data = true;
        for line in block.lines() {
            if let Some(name) = line.strip_prefix("event:") {
                name.trim().clone_into(&mut event.name);
            } else if let Some(data) = line.strip_prefix("data:") {
                if !first_data {
                    event.data.push('\n');
                }
                event.data.push_str(data.strip_prefix(' ').unwrap_or(data));
                first_data = false;
            }
        }
        Some(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_events_split_across_chunks() {
        let mut p = SseParser::default();
        p.push(b"event: item\ndata: {\"a\"");
        assert!(p.next_event().is_none());
        p.push(b":1}\n\nevent: end\ndata: \n\n");
        let first = p.next_event().expect("one event");
        assert_eq!((first.name.as_str(), first.data.as_str()), ("item", "{\"a\":1}"));
        assert_eq!(p.next_event().expect("end").name, "end");
    }
}
