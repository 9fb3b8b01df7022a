//! The Dispatcher: method name + payload + Context → reply. Generated once per service, it
//! serves every binding; REST builds its payload from the path, query and body.

use std::future::Future;
use std::pin::Pin;

use futures_core::Stream;
use futures_util::StreamExt as _;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::context::Context;
use crate::descriptor::ServiceDescriptor;
use crate::status::Status;

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A stream of values sent by a server, as a service implementation returns it.
pub type Streaming<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// Wraps any stream of results as [`Streaming`].
pub fn streaming<T, S>(stream: S) -> Streaming<T>
where
    S: Stream<Item = Result<T, Status>> + Send + 'static,
{
    Box::pin(stream)
}

/// How a payload or reply is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Codec {
    /// JSON (REST, text sockets, the queue by default).
    Json,
    /// `MessagePack` with named fields (RPC, binary sockets): compact, and like JSON it survives
    /// compatible schema change (unknown fields are skipped, variants travel by name).
    MsgPack,
}

impl Codec {
    /// Encodes a value.
    pub fn encode<T: Serialize + ?Sized>(self, value: &T) -> Result<bytes::Bytes, Status> {
        match self {
            Codec::Json => {
                // Room for a typical message up front, as below.
                crate::json::with_capacity(value, 512)
                    .map(bytes::Bytes::from)
                    .map_err(|e| Status::internal(format!("cannot encode the reply: {e}")))
            }
            Codec::MsgPack => {
                // Room for a typical message up front: growing from empty reallocates ~8 times for 1 KiB.
                let mut out = Vec::with_capacity(256);
                rmp_serde::encode::write_named(&mut out, value)
                    .map(|()| bytes::Bytes::from(out))
                    .map_err(|e| Status::internal(format!("cannot encode the reply: {e}")))
            }
        }
    }

    /// Decodes a value.
    pub fn decode<T: DeserializeOwned>(self, bytes: &[u8]) -> Result<T, Status> {
        match self {
            Codec::Json => {
                serde_json::from_slice(bytes).map_err(|e| Status::invalid_argument(json_error(&e)))
            }
            Codec::MsgPack => rmp_serde::from_slice(bytes)
                .map_err(|e| Status::invalid_argument(format!("invalid request: {e}"))),
        }
    }
}

fn json_error(e: &serde_json::Error) -> String {
    match e.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
            format!("malformed JSON: {e}")
        }
        _ => format!("invalid request: {e}"),
    }
}

/// A request's arguments, as a transport received them (cheap to clone: bytes are shared).
#[derive(Clone, Debug)]
pub enum Payload {
    /// Encoded bytes.
    Encoded(Codec, bytes::Bytes),
    /// An already parsed JSON object (REST merges path, query and body into one).
    Json(serde_json::Value),
    /// A JSON object's text, held as text (decoded without checking its UTF-8 again).
    JsonText(String),
}

impl Payload {
    /// Decodes the arguments into the method's parameter struct.
    ///
    /// JSON numbers like `3.0` are integers too (as JSON Schema says): when decoding fails on
    /// data, integral floats are made integers and decoding is tried once more. The fast path
    /// pays nothing for it.
    pub fn decode<T: DeserializeOwned>(self) -> Result<T, Status> {
        let (mut value, error) = match self {
            Payload::Encoded(Codec::Json, bytes) => {
                match read_json(serde_json::from_slice(&bytes), || serde_json::from_slice(&bytes))? {
                    Ok(decoded) => return Ok(decoded),
                    Err(failed) => failed,
                }
            }
            Payload::JsonText(text) => {
                match read_json(serde_json::from_str(&text), || serde_json::from_str(&text))? {
                    Ok(decoded) => return Ok(decoded),
                    Err(failed) => failed,
                }
            }
            Payload::Encoded(codec, bytes) => return codec.decode(&bytes),
            // Borrowed: the tree is kept (not copied) for the retry after a failure.
            Payload::Json(value) => match T::deserialize(&value) {
                Ok(decoded) => return Ok(decoded),
                Err(e) => (value, e),
            },
        };
        if integral_floats_to_integers(&mut value)
            && let Ok(decoded) = serde_json::from_value(value)
        {
            return Ok(decoded);
        }
        Err(Status::invalid_argument(json_error(&error)))
    }
}

/// Arguments that failed on their data: their JSON as a tree, to try again, and the error.
type Retry = (serde_json::Value, serde_json::Error);

/// The arguments decoded from JSON text (`decoded`), or, when that failed on the data rather
/// than the syntax, the text read as a tree (by `tree`) for another try, with the error.
fn read_json<T>(
    decoded: serde_json::Result<T>,
    tree: impl FnOnce() -> serde_json::Result<serde_json::Value>,
) -> Result<Result<T, Retry>, Status> {
    match decoded {
        Ok(decoded) => Ok(Ok(decoded)),
        Err(e) if e.is_data() => match tree() {
            Ok(value) => Ok(Err((value, e))),
            Err(_) => Err(Status::invalid_argument(json_error(&e))),
        },
        Err(e) => Err(Status::invalid_argument(json_error(&e))),
    }
}

/// Turns `3.0` into `3` everywhere in `value`; whether anything changed.
fn integral_floats_to_integers(value: &mut serde_json::Value) -> bool {
    match value {
        serde_json::Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            // Exactly representable integers only (|f| < 2^53).
            let integral = f.fract() == 0.0 && f.abs() < 9.0e15;
            if integral {
                #[allow(clippy::cast_possible_truncation)]
                let i = f as i64;
                *value = serde_json::Value::from(i);
            }
            integral
        }
        // Every element must be visited (no short-circuit).
        serde_json::Value::Array(items) => {
            let mut changed = false;
            for item in items {
                changed |= integral_floats_to_integers(item);
            }
            changed
        }
        serde_json::Value::Object(map) => {
            let mut changed = false;
            for item in map.values_mut() {
                changed |= integral_floats_to_integers(item);
            }
            changed
        }
        _ => false,
    }
}

/// What a method sends back.
pub enum Reply {
    /// One encoded value.
    Value(bytes::Bytes),
    /// One value encoded as JSON text (as [`Reply::value`] encodes it with [`Codec::Json`]),
    /// kept as text: a transport that sends it as text does not check its UTF-8 again.
    Text(String),
    /// Nothing (the method returns no value, or is oneway).
    Empty,
    /// Encoded values, one at a time.
    Stream(Pin<Box<dyn Stream<Item = Result<bytes::Bytes, Status>> + Send + 'static>>),
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reply::Value(b) => write!(f, "Reply::Value({} bytes)", b.len()),
            Reply::Text(t) => write!(f, "Reply::Text({} bytes)", t.len()),
            Reply::Empty => f.write_str("Reply::Empty"),
            Reply::Stream(_) => f.write_str("Reply::Stream"),
        }
    }
}

impl Reply {
    /// Encodes one value.
    pub fn value<T: Serialize>(codec: Codec, value: &T) -> Result<Self, Status> {
        match codec {
            Codec::Json => crate::json::to_string(value)
                .map(Reply::Text)
                .map_err(|e| Status::internal(format!("cannot encode the reply: {e}"))),
            Codec::MsgPack => codec.encode(value).map(Reply::Value),
        }
    }

    /// Encodes a stream of values.
    #[must_use]
    pub fn stream<T: Serialize + Send + 'static>(codec: Codec, stream: Streaming<T>) -> Self {
        Reply::Stream(Box::pin(stream.map(move |item| item.and_then(|v| codec.encode(&v)))))
    }
}

/// A service as every transport sees it. Generated `…Server` types implement it.
pub trait Dispatch: Send + Sync + 'static {
    /// What the service offers.
    fn descriptor(&self) -> &'static ServiceDescriptor;

    /// Runs one call. Unknown methods answer `unimplemented`.
    fn dispatch(
        &self,
        method: &str,
        payload: Payload,
        codec: Codec,
        ctx: Context,
    ) -> BoxFuture<'_, Result<Reply, Status>>;

    /// Decodes and validates the arguments of a `@oneway` call without running it, so a
    /// transport that acknowledges before the work runs (REST's `202`) can refuse bad input
    /// first. Generated servers implement it for their oneway methods; `Ok` otherwise.
    fn check(&self, method: &str, payload: &Payload) -> Result<(), Status> {
        let _ = (method, payload);
        Ok(())
    }

    /// Whether the future `dispatch` returns for a unary or empty method reads the whole
    /// payload when it is first polled, before it does or waits for anything else, and ends
    /// then with an error when a JSON payload is not one JSON value. A transport may then leave
    /// that check to it (the socket binding does, for requests laid out as its client writes
    /// them). Generated servers do (they decode every argument first); `false` otherwise.
    fn reads_whole_payload(&self) -> bool {
        false
    }
}

/// Polls `future` once, here: a future that finishes at once is done without a task of its
/// own; one that is pending is then spawned, and the task's first poll registers the task's
/// waker (only the waker of the latest poll is woken, so the no-op one here is never needed).
pub(crate) fn poll_now<F: Future + Unpin>(future: &mut F) -> std::task::Poll<F::Output> {
    Pin::new(future).poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
}

/// Runs a call under its deadline, as every server does: expired work is refused, a call
/// that outlives its deadline is stopped, and a panic is `internal`.
pub(crate) async fn run_call(
    service: &dyn Dispatch,
    method: &str,
    payload: Payload,
    codec: Codec,
    ctx: Context,
) -> Result<Reply, Status> {
    use futures_util::FutureExt as _;
    if ctx.is_expired() {
        return Err(Status::deadline_exceeded("the deadline passed before the call started"));
    }
    let remaining = ctx.remaining();
    // (`dispatch` is called inside the future: a panic in it is caught like one in the call, and
    // cannot take down a reader or consumer that runs ready calls itself.)
    let work =
        std::panic::AssertUnwindSafe(async move { service.dispatch(method, payload, codec, ctx).await })
            .catch_unwind();
    let outcome = match remaining {
        Some(r) => tokio::time::timeout(r, work)
            .await
            .map_err(|_| Status::deadline_exceeded("the deadline passed during the call"))?,
        None => work.await,
    };
    outcome.unwrap_or_else(|_| Err(Status::internal("the handler panicked")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A service whose `dispatch` panics before it returns a future.
    struct Explodes;

    static EXPLODES: ServiceDescriptor = ServiceDescriptor {
        package: "t",
        name: "Explodes",
        wire_name: "explodes",
        subject: "t.explodes",
        methods: &[],
        events: &[],
    };

    impl Dispatch for Explodes {
        fn descriptor(&self) -> &'static ServiceDescriptor {
            &EXPLODES
        }

        fn dispatch(
            &self,
            _: &str,
            _: Payload,
            _: Codec,
            _: Context,
        ) -> BoxFuture<'_, Result<Reply, Status>> {
            panic!("before any future")
        }
    }

    #[tokio::test]
    async fn a_dispatch_that_panics_at_once_is_an_internal_error() {
        let payload = Payload::Encoded(Codec::Json, bytes::Bytes::from_static(b"{}"));
        let mut call = Box::pin(run_call(&Explodes, "any", payload, Codec::Json, Context::new()));
        // Polled where it arrives, as the readers and consumers do: the panic stays inside.
        match poll_now(&mut call) {
            std::task::Poll::Ready(Err(status)) => assert_eq!(status.code(), crate::Code::Internal),
            other => panic!("expected an internal error at once, got {other:?}"),
        }
    }

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Args {
        count: u32,
        tags: Vec<i64>,
    }

    #[test]
    fn integral_floats_are_integers_in_every_payload() {
        let text = r#"{"count": 3.0, "tags": [1, -2.0]}"#;
        let parsed: serde_json::Value = serde_json::from_str(text).expect("JSON");
        let payloads = [
            Payload::Json(parsed),
            Payload::Encoded(Codec::Json, bytes::Bytes::from_static(text.as_bytes())),
            Payload::JsonText(text.to_owned()),
        ];
        for payload in payloads {
            assert_eq!(payload.decode::<Args>().expect("integral"), Args { count: 3, tags: vec![1, -2] });
        }
        let fraction = serde_json::json!({"count": 3.5, "tags": []});
        let status = Payload::Json(fraction).decode::<Args>().expect_err("a fraction is no integer");
        assert_eq!(status.code(), crate::status::Code::InvalidArgument);
        assert!(status.message().contains("3.5"), "{status}");
    }
}
