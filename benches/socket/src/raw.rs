//! The raw peer: a tokio-tungstenite server and client doing the same JSON work as the socket
//! binding, and nothing else.
//!
//! The client sends the request text our generated client sends (`jsonrpc`, `id`, `method`,
//! `params` with the argument by name and `_meta` with a fresh correlation id and
//! `traceparent`, made as [`svcgen::Context::new`] makes them), serialised with `serde_json`
//! from typed values; the server parses it into the typed arguments and answers the response
//! text our server sends; the client parses that into the typed result. One connection carries
//! one caller: a call writes its request and reads the next text message, inline. No Context,
//! no dispatch, no task per call, no outbox, no keepalive, no cancellation, no reconnection.

use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::http::header::SEC_WEBSOCKET_PROTOCOL;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use svcgen::socket::SUBPROTOCOL;

use crate::sbench::Blob;

/// The JSON-RPC method name of `Bench.echo`, as our client sends it.
pub const METHOD: &str = "sbench.Bench.echo";

/// A client-side WebSocket connection.
pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

#[derive(Serialize)]
struct OutRequest<'a> {
    jsonrpc: &'static str,
    id: u64,
    method: &'static str,
    params: OutParams<'a>,
}

#[derive(Serialize)]
struct OutParams<'a> {
    msg: &'a Blob,
    #[serde(rename = "_meta")]
    meta: Meta<'a>,
}

/// `_meta` as our client sends it (a map with sorted keys).
#[derive(Serialize, Deserialize)]
struct Meta<'a> {
    correlation_id: &'a str,
    traceparent: &'a str,
}

#[derive(Deserialize)]
struct InRequest<'a> {
    jsonrpc: &'a str,
    id: u64,
    method: &'a str,
    params: InParams,
}

#[derive(Deserialize)]
struct InParams {
    msg: Blob,
    #[serde(rename = "_meta")]
    meta: InMeta,
}

/// The server side owns what it read, as our server's Context does.
#[derive(Deserialize)]
struct InMeta {
    correlation_id: String,
    traceparent: String,
}

#[derive(Deserialize)]
struct InResponse<'a> {
    jsonrpc: &'a str,
    id: u64,
    result: Blob,
}

/// The request text of call `id` carrying `msg`, with these ids in `_meta`.
///
/// # Errors
/// When the blob cannot be encoded (never for a string).
pub fn request_text(id: u64, msg: &Blob, correlation_id: &str, traceparent: &str) -> Result<String, String> {
    let request = OutRequest {
        jsonrpc: "2.0",
        id,
        method: METHOD,
        params: OutParams { msg, meta: Meta { correlation_id, traceparent } },
    };
    serde_json::to_string(&request).map_err(|e| format!("cannot encode the request: {e}"))
}

/// A request text with fresh ids, made as `Context::new` makes them (32 hex digits from a v4
/// UUID; `00-<trace>-<span>-01`).
///
/// # Errors
/// As [`request_text`].
pub fn fresh_request_text(id: u64, msg: &Blob) -> Result<String, String> {
    let mut a = [0u8; 32];
    let mut b = [0u8; 32];
    let mut c = [0u8; 32];
    let correlation_id = uuid::Uuid::new_v4().simple().encode_lower(&mut a).to_owned();
    let trace = uuid::Uuid::new_v4().simple().encode_lower(&mut b).to_owned();
    let span = &uuid::Uuid::new_v4().simple().encode_lower(&mut c)[..16];
    let mut traceparent = String::with_capacity(55);
    for part in ["00-", &trace, "-", span, "-01"] {
        traceparent.push_str(part);
    }
    request_text(id, msg, &correlation_id, &traceparent)
}

/// The server's answer to one request text: the response our server sends for `echo`, or an
/// invalid-request error.
#[must_use]
pub fn answer(text: &str) -> String {
    match serde_json::from_str::<InRequest<'_>>(text) {
        Ok(request) if request.jsonrpc == "2.0" && request.method == METHOD => {
            // What our server keeps of `_meta` for the call's Context.
            let InMeta { correlation_id, traceparent } = request.params.meta;
            std::hint::black_box((correlation_id, traceparent));
            match serde_json::to_string(&request.params.msg) {
                Ok(result) => {
                    let id = request.id.to_string();
                    [r#"{"jsonrpc":"2.0","id":"#, &id, r#","result":"#, &result, "}"].concat()
                }
                Err(_) => invalid_request(),
            }
        }
        _ => invalid_request(),
    }
}

fn invalid_request() -> String {
    r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"invalid request"}}"#.to_owned()
}

/// Parses a response text into the echoed blob, checking it answers call `id`.
///
/// # Errors
/// When the text is not a response to call `id` carrying a blob.
pub fn parse_response(text: &str, id: u64) -> Result<Blob, String> {
    let response: InResponse<'_> =
        serde_json::from_str(text).map_err(|e| format!("not a response: {e}: {text:.200}"))?;
    if response.jsonrpc != "2.0" || response.id != id {
        return Err(format!("a response to another call: {text:.200}"));
    }
    Ok(response.result)
}

/// Serves the raw echo on `listener` until the process ends.
pub async fn serve(listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve_connection(stream));
    }
}

/// The WebSocket settings of the raw peer: tungstenite's defaults (those our binding uses too),
/// except the read buffer, which is our binding's ([`svcgen::socket::DEFAULT_READ_BUFFER`],
/// 8 KiB, so both peers read alike) unless `SVCGEN_BENCH_READ_BUFFER` gives its size in bytes
/// (tungstenite's own default, 128 KiB, is zeroed before every read and kept per connection).
#[must_use]
pub fn ws_config() -> WebSocketConfig {
    static READ_BUFFER: std::sync::LazyLock<usize> = std::sync::LazyLock::new(|| {
        std::env::var("SVCGEN_BENCH_READ_BUFFER")
            .ok()
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(svcgen::socket::DEFAULT_READ_BUFFER)
    });
    WebSocketConfig::default().read_buffer_size(*READ_BUFFER)
}

/// Accepts a WebSocket handshake on `stream`, selecting our subprotocol.
///
/// # Errors
/// When the handshake fails.
pub async fn accept(stream: TcpStream) -> Result<WebSocketStream<TcpStream>, String> {
    tokio_tungstenite::accept_hdr_async_with_config(stream, select_subprotocol, Some(ws_config()))
        .await
        .map_err(|e| format!("handshake: {e}"))
}

// The signature is tungstenite's handshake `Callback`.
#[allow(clippy::result_large_err, clippy::unnecessary_wraps)]
fn select_subprotocol(_: &Request, mut response: Response) -> Result<Response, ErrorResponse> {
    response.headers_mut().insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(SUBPROTOCOL));
    Ok(response)
}

async fn serve_connection(stream: TcpStream) {
    let Ok(mut ws) = accept(stream).await else { return };
    while let Some(Ok(message)) = ws.next().await {
        let reply = match message {
            Message::Text(text) => answer(text.as_str()),
            Message::Close(_) => return,
            // Pings are answered by tungstenite itself.
            _ => continue,
        };
        if ws.send(Message::text(reply)).await.is_err() {
            return;
        }
    }
}

/// Opens a WebSocket connection to `url` offering our subprotocol, with `TCP_NODELAY` and the
/// default limits, as our client does (see [`ws_config`]).
///
/// # Errors
/// When the connection or the handshake fails.
pub async fn open(url: &str) -> Result<Socket, String> {
    let mut request = url.into_client_request().map_err(|e| format!("{url}: {e}"))?;
    request.headers_mut().insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(SUBPROTOCOL));
    let (ws, response) = tokio_tungstenite::connect_async_with_config(request, Some(ws_config()), true)
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    if response.headers().get(SEC_WEBSOCKET_PROTOCOL).and_then(|v| v.to_str().ok()) != Some(SUBPROTOCOL) {
        return Err(format!("{url} did not select {SUBPROTOCOL}"));
    }
    Ok(ws)
}

/// Sends `text` on `ws` and returns the next text message (pings and pongs skipped).
///
/// # Errors
/// When the connection fails or closes first.
pub async fn round_trip(ws: &mut Socket, text: String) -> Result<Utf8Bytes, String> {
    ws.send(Message::text(text)).await.map_err(|e| format!("send: {e}"))?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(reply))) => return Ok(reply),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Ok(other)) => return Err(format!("unexpected message: {other:?}")),
            Some(Err(e)) => return Err(format!("receive: {e}")),
            None => return Err("the connection closed".to_owned()),
        }
    }
}

struct Conn {
    ws: Socket,
    next_id: u64,
}

/// The raw client: one connection, one call at a time. Cheap to clone (clones share the
/// connection; the benchmark gives each connection one caller).
#[derive(Clone)]
pub struct RawClient {
    conn: Arc<tokio::sync::Mutex<Conn>>,
}

impl RawClient {
    /// Connects to the socket server at `url`.
    ///
    /// # Errors
    /// As [`open`].
    pub async fn connect(url: &str) -> Result<Self, String> {
        let ws = open(url).await?;
        Ok(Self { conn: Arc::new(tokio::sync::Mutex::new(Conn { ws, next_id: 0 })) })
    }

    /// One `echo` call: the request with fresh ids, the response parsed into the blob.
    ///
    /// # Errors
    /// When the connection fails or the response is not the echo's.
    pub async fn echo(&self, msg: Blob) -> Result<Blob, String> {
        let mut conn = self.conn.lock().await;
        conn.next_id += 1;
        let id = conn.next_id;
        let text = fresh_request_text(id, &msg)?;
        let reply = round_trip(&mut conn.ws, text).await?;
        parse_response(reply.as_str(), id)
    }
}
