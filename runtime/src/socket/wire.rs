//! The socket binding's wire: JSON-RPC 2.0 members, reserved names, the error code table, and
//! `_meta` ⇄ [`Context`] (`docs/protocol.md`, "Socket binding").

use std::borrow::Cow;
use std::time::Duration;

use serde::de::{self, Deserializer as _, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::context::Context;
use crate::descriptor::MethodDescriptor;
use crate::status::{Code, Problem, Status, Violation};

/// The reserved member of `params` that carries the Context.
pub const META: &str = "_meta";
/// Cancels a call in flight (`{"id": …}`) or a subscription (`{"subscription": "s1"}`).
pub const CANCEL: &str = "svcgen.cancel";
/// A notification carrying one item of a subscription: `{"subscription", "item"}`.
pub const STREAM_ITEM: &str = "svcgen.stream.item";
/// Subscribes to an event (`{"event": "shop.catalog.catalog.price_changed"}`): a subscription.
pub const SUBSCRIBE: &str = "svcgen.subscribe";
/// A notification carrying one event of a subscription: `{"subscription", "event"}`, the event
/// in the `CloudEvents` JSON format.
pub const EVENT: &str = "svcgen.event";
/// A notification ending a subscription normally: `{"subscription"}`.
pub const STREAM_END: &str = "svcgen.stream.end";
/// A notification ending a subscription with an error: `{"subscription", "error"}`.
pub const STREAM_ERROR: &str = "svcgen.stream.error";

/// Invalid JSON was received.
pub const PARSE_ERROR: i64 = -32700;
/// The JSON sent is not a valid JSON-RPC 2.0 request.
pub const INVALID_REQUEST: i64 = -32600;
/// The method does not exist (`unimplemented`).
pub const METHOD_NOT_FOUND: i64 = -32601;
/// Invalid method parameters (`invalid_argument`).
pub const INVALID_PARAMS: i64 = -32602;
/// An internal error (`internal`).
pub const INTERNAL_ERROR: i64 = -32603;
/// A typed domain error of the method (its fields in `data.error`, its name in `data.title`).
pub const DOMAIN_ERROR: i64 = -32000;

/// Every [`Code`] and its JSON-RPC error code (domain errors use [`DOMAIN_ERROR`]).
const CODES: [(Code, i64); 17] = [
    (Code::InvalidArgument, INVALID_PARAMS),
    (Code::Unimplemented, METHOD_NOT_FOUND),
    (Code::Internal, INTERNAL_ERROR),
    (Code::Cancelled, -32001),
    (Code::Unknown, -32002),
    (Code::DeadlineExceeded, -32003),
    (Code::NotFound, -32004),
    (Code::AlreadyExists, -32005),
    (Code::PermissionDenied, -32006),
    (Code::ResourceExhausted, -32007),
    (Code::FailedPrecondition, -32008),
    (Code::Aborted, -32009),
    (Code::OutOfRange, -32010),
    (Code::Unavailable, -32011),
    (Code::DataLoss, -32012),
    (Code::Unauthenticated, -32013),
    (Code::PayloadTooLarge, -32014),
];

/// The JSON-RPC error code of a status.
#[must_use]
pub fn error_code(status: &Status) -> i64 {
    if status.domain_payload().is_some() {
        return DOMAIN_ERROR;
    }
    CODES.iter().find(|(c, _)| *c == status.code()).map_or(INTERNAL_ERROR, |(_, n)| *n)
}

/// The [`Code`] a JSON-RPC error code stands for (for errors without our `data`).
#[must_use]
pub fn code_of(error_code: i64) -> Code {
    match error_code {
        PARSE_ERROR | INVALID_REQUEST => Code::InvalidArgument,
        DOMAIN_ERROR => Code::Unknown,
        n => CODES.iter().find(|(_, m)| *m == n).map_or(Code::Unknown, |(c, _)| *c),
    }
}

/// The JSON-RPC name of a method: `package.Service.method` (`shop.catalog.Catalog.get_product`).
#[must_use]
pub fn method_name(method: &MethodDescriptor) -> String {
    let mut name = String::with_capacity(method.service.len() + 1 + method.name.len());
    name.push_str(method.service);
    name.push('.');
    name.push_str(method.name);
    name
}

/// The JSON-RPC error object of a status: `code`, `message`, and `data`, the problem document
/// (as REST sends it), so the typed error is recovered from it.
#[must_use]
pub fn error_object(status: &Status, correlation_id: Option<&str>) -> Value {
    let problem = status.to_problem(correlation_id);
    let message =
        if status.message().is_empty() { problem.title.clone() } else { status.message().to_owned() };
    serde_json::json!({
        "code": error_code(status),
        "message": message,
        "data": problem,
    })
}

/// An error object made from scratch (parse errors, invalid requests: no Context yet).
#[must_use]
pub fn plain_error(code: i64, message: &str) -> Value {
    let status = Status::invalid_argument(message);
    let mut object = error_object(&status, None);
    object["code"] = code.into();
    object
}

/// The status a JSON-RPC error object describes: from its `data` when it is our problem
/// document, from its `code` and `message` otherwise.
#[must_use]
pub fn status_of_error(error: &Value) -> Status {
    if let Some(problem) = error
        .get("data")
        .and_then(|d| serde_json::from_value::<Problem>(d.clone()).ok())
        .filter(|p| !p.code.is_empty())
    {
        return Status::from_problem(problem);
    }
    let code = error.get("code").and_then(Value::as_i64).map_or(Code::Unknown, code_of);
    let message = error.get("message").and_then(Value::as_str).unwrap_or("an error without a message");
    Status::new(code, message)
}

/// A response carrying `result` (already encoded JSON) to the request `id` (its JSON text, as
/// the request had it).
#[must_use]
pub fn result_text(id: &RawValue, result: &[u8]) -> String {
    response_text(id, std::str::from_utf8(result).unwrap_or("null"))
}

/// [`result_text`] of a result held as text.
pub(crate) fn response_text(id: &RawValue, result: &str) -> String {
    // (One allocation of the exact length: the message is sent as these bytes, not copied.)
    [r#"{"jsonrpc":"2.0","id":"#, id.get(), r#","result":"#, result, "}"].concat()
}

/// A response to the request with a numeric id written as [`result_text`] writes it: the id
/// and the text after `"result":` up to the object's closing brace. That text is the result
/// only if it is one JSON value: a caller must read it as one (a text that is not, say
/// `1,"id":2`, is a message to read as any other).
pub(crate) fn plain_response(text: &str) -> Option<(u64, &str)> {
    let rest = text.strip_prefix(r#"{"jsonrpc":"2.0","id":"#)?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits > 1 && rest.starts_with('0') {
        return None; // not JSON
    }
    let id = rest.get(..digits)?.parse().ok()?;
    let result = rest.get(digits..)?.strip_prefix(r#","result":"#)?.strip_suffix('}')?;
    Some((id, result))
}

/// A response carrying `error` to the request `id`.
#[must_use]
pub fn error_text(id: &RawValue, error: &Value) -> String {
    let id = id.get();
    let error = error.to_string();
    [r#"{"jsonrpc":"2.0","id":"#, id, r#","error":"#, &error, "}"].concat()
}

/// A `svcgen.stream.item` notification (the item already encoded JSON).
#[must_use]
pub fn item_text(subscription: &str, item: &[u8]) -> String {
    let item = std::str::from_utf8(item).unwrap_or("null");
    let sub = Value::from(subscription).to_string();
    [
        r#"{"jsonrpc":"2.0","method":"svcgen.stream.item","params":{"subscription":"#,
        &sub,
        r#","item":"#,
        item,
        "}}",
    ]
    .concat()
}

/// A notification with these params.
#[must_use]
pub fn notification_text(method: &str, params: Value) -> String {
    let mut message = Map::with_capacity(3);
    message.insert("jsonrpc".into(), "2.0".into());
    message.insert("method".into(), method.into());
    message.insert("params".into(), params);
    Value::Object(message).to_string()
}

/// A `svcgen.event` notification (the event already encoded JSON).
#[must_use]
pub fn event_text(subscription: &str, event: &str) -> String {
    let sub = Value::from(subscription).to_string();
    [
        r#"{"jsonrpc":"2.0","method":"svcgen.event","params":{"subscription":"#,
        &sub,
        r#","event":"#,
        event,
        "}}",
    ]
    .concat()
}

/// A request's `params`: the arguments by name, and `_meta`.
#[derive(serde::Serialize)]
struct Params<'a, P> {
    #[serde(flatten)]
    args: &'a P,
    #[serde(rename = "_meta")]
    meta: Meta<'a>,
}

#[derive(serde::Serialize)]
struct Request<'a, P> {
    jsonrpc: &'static str,
    id: u64,
    method: &'a str,
    params: Params<'a, P>,
}

/// The request of a call made under `ctx`: `args` by name, the Context in `_meta`.
///
/// # Errors
/// `invalid_argument` when the arguments cannot be encoded.
pub fn request_text<P: serde::Serialize>(
    id: u64,
    method: &str,
    args: &P,
    ctx: &Context,
) -> Result<String, Status> {
    let request = Request { jsonrpc: "2.0", id, method, params: Params { args, meta: Meta(ctx) } };
    crate::json::to_string(&request)
        .map_err(|e| Status::invalid_argument(format!("cannot encode the request: {e}")))
}

/// The Context `_meta` describes (every member optional; missing or invalid ids are made fresh).
///
/// # Errors
/// `invalid_argument` naming the member when `_meta` or one of its members has the wrong shape.
pub fn context_of(meta: Option<&Value>) -> Result<Context, Status> {
    let meta = meta
        .map(serde_json::value::to_raw_value)
        .transpose()
        .map_err(|e| Status::internal(format!("cannot read `{META}`: {e}")))?;
    context_of_text(meta.as_deref())
}

/// [`context_of`] from the text of `_meta`, read without building a value.
pub(crate) fn context_of_text(meta: Option<&RawValue>) -> Result<Context, Status> {
    let Some(meta) = meta else { return Ok(Context::from_headers(None, None)) };
    match is_object(meta).then(|| serde_json::from_str::<MetaMembers<'_>>(meta.get())).and_then(Result::ok) {
        Some(members) => context_of_members(&members),
        None => Err(Status::invalid_fields(vec![Violation {
            field: META.to_owned(),
            message: "must be an object".to_owned(),
        }])),
    }
}

/// The Context of a request from its `params` (`_meta` among them), as [`context_of_text`] of
/// its `_meta` member (the last, if repeated); `_meta` written last is read once. (`params` laid
/// out exactly as our client writes them are read by [`Plain`], first.)
///
/// `params` is JSON text, or text that is found to be JSON before the Context is relied on
/// (`_meta` at the end is found as in JSON text: see [`meta_at_end`]).
///
/// # Errors
/// The outer error when `params` is not a JSON object; the inner as [`context_of_text`].
pub(crate) fn context_in(params: &str) -> Result<Result<Context, Status>, serde_json::Error> {
    if let Some(members) = meta_at_end::<MetaMembers<'_>>(params) {
        return Ok(context_of_members(&members));
    }
    Ok(context_of_text(meta_scanned(params)?))
}

/// The Context `_meta`'s members describe.
fn context_of_members(meta: &MetaMembers<'_>) -> Result<Context, Status> {
    let invalid = |field: &str, message: &str| {
        Status::invalid_fields(vec![Violation {
            field: format!("{META}.{field}"),
            message: message.to_owned(),
        }])
    };
    let (id, tp) = (meta.correlation_id.and_then(raw_str), meta.traceparent.and_then(raw_str));
    let mut ctx = Context::from_headers(id.as_deref(), tp.as_deref());
    match meta.deadline_ms.map(RawValue::get) {
        None | Some("null") => {}
        Some(ms) => match ms.parse::<u64>() {
            Ok(ms) if ms > 0 => ctx = ctx.with_timeout(Duration::from_millis(ms)),
            _ => return Err(invalid("deadline_ms", "must be a whole number of milliseconds, at least 1")),
        },
    }
    match meta.metadata.map(|m| value_of(m.get())) {
        None | Some(Value::Null) => {}
        Some(Value::Object(entries)) => {
            for (key, value) in entries {
                let Some(value) = value.as_str() else {
                    return Err(invalid(&format!("metadata.{key}"), "must be a string"));
                };
                ctx = ctx.with_metadata(&key, value);
            }
        }
        Some(_) => return Err(invalid("metadata", "must be an object of strings")),
    }
    Ok(ctx)
}

/// The members of `_meta` a Context is made of, each as its text (of a repeated one, the last).
#[derive(Default)]
struct MetaMembers<'a> {
    correlation_id: Option<&'a RawValue>,
    traceparent: Option<&'a RawValue>,
    deadline_ms: Option<&'a RawValue>,
    metadata: Option<&'a RawValue>,
}

/// A member name of `_meta`.
enum MetaMember {
    CorrelationId,
    Traceparent,
    DeadlineMs,
    Metadata,
    Other,
}

impl OfName for MetaMember {
    fn of_name(name: &str) -> Self {
        match name {
            "correlation_id" => MetaMember::CorrelationId,
            "traceparent" => MetaMember::Traceparent,
            "deadline_ms" => MetaMember::DeadlineMs,
            "metadata" => MetaMember::Metadata,
            _ => MetaMember::Other,
        }
    }
}

impl<'de> de::Deserialize<'de> for MetaMembers<'de> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> Visitor<'de> for Members {
            type Value = MetaMembers<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = MetaMembers::default();
                read_members(&mut map, &mut members, |members, member| match member {
                    MetaMember::CorrelationId => Some(&mut members.correlation_id),
                    MetaMember::Traceparent => Some(&mut members.traceparent),
                    MetaMember::DeadlineMs => Some(&mut members.deadline_ms),
                    MetaMember::Metadata => Some(&mut members.metadata),
                    MetaMember::Other => None,
                })?;
                Ok(members)
            }
        }
        deserializer.deserialize_map(Members)
    }
}

/// The `_meta` member of a call made under `ctx`.
#[must_use]
pub fn meta_of(ctx: &Context) -> Value {
    serde_json::to_value(Meta(ctx)).unwrap_or(Value::Null)
}

/// `_meta` written straight from a Context (members in the order of a map's keys).
struct Meta<'a>(&'a Context);

impl serde::Serialize for Meta<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let ctx = self.0;
        let mut meta = serializer.serialize_map(None)?;
        meta.serialize_entry("correlation_id", ctx.correlation_id())?;
        if let Some(left) = ctx.remaining() {
            let ms = u64::try_from(left.as_millis()).unwrap_or(u64::MAX).max(1);
            meta.serialize_entry("deadline_ms", &ms)?;
        }
        if ctx.metadata_iter().next().is_some() {
            struct Metadata<'a>(&'a Context);
            impl serde::Serialize for Metadata<'_> {
                fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                    serializer.collect_map(self.0.metadata_iter())
                }
            }
            meta.serialize_entry("metadata", &Metadata(ctx))?;
        }
        if let Some(tp) = ctx.traceparent() {
            meta.serialize_entry("traceparent", tp)?;
        }
        meta.end()
    }
}

/// One message as received, borrowed from its text: nothing is decoded yet but the members
/// JSON-RPC needs, each left as its JSON text.
pub(crate) enum Incoming<'a> {
    /// A request, a notification or a response.
    Object(Envelope<'a>),
    /// A batch: its elements, whatever they are.
    Batch(Vec<&'a RawValue>),
    /// Any other JSON value.
    Other,
}

/// The JSON-RPC members of an object (other members are skipped; of a repeated one, the last
/// counts, as when the object is read into a map).
#[derive(Default)]
pub(crate) struct Envelope<'a> {
    pub(crate) jsonrpc: Option<&'a RawValue>,
    pub(crate) id: Option<&'a RawValue>,
    pub(crate) method: Option<&'a RawValue>,
    /// The text of `params`: one JSON value, unless `params_unchecked`.
    pub(crate) params: Option<&'a str>,
    pub(crate) result: Option<&'a RawValue>,
    pub(crate) error: Option<&'a RawValue>,
    /// `params` is the text between `"params":` and the message's closing `}` of a request in
    /// the plain layout, not yet checked to be one JSON value ([`Incoming::parse_lazily`]). The
    /// message is JSON exactly when it is; when it is not, the message must be read again with
    /// [`Incoming::parse`] (it may still be JSON: `params` followed by other members).
    pub(crate) params_unchecked: bool,
}

impl<'a> Incoming<'a> {
    /// Reads a message's text in one pass; an error only for text that is not JSON, as
    /// `serde_json` reads a value: nested at most 128 deep, numbers within range.
    pub(crate) fn parse(text: &'a str) -> Result<Self, serde_json::Error> {
        Self::read(text, false)
    }

    /// As [`Incoming::parse`], except that a request in the plain layout whose `params` is an
    /// object is read without reading `params` ([`Envelope::params_unchecked`]): for a reader
    /// that leaves the check to a decoder that reads it all anyway.
    pub(crate) fn parse_lazily(text: &'a str) -> Result<Self, serde_json::Error> {
        Self::read(text, true)
    }

    fn read(text: &'a str, lazily: bool) -> Result<Self, serde_json::Error> {
        // Skipped and borrowed members are not read as a value is: a text that could nest too
        // deep is read in full first (cheaply: it has over 128 opening brackets).
        if has_many_brackets(text) {
            serde_json::from_str::<Checked>(text)?;
        }
        if let Some(envelope) = Envelope::plain(text, lazily) {
            return Ok(Incoming::Object(envelope));
        }
        let mut de = serde_json::Deserializer::from_str(text);
        let incoming = de.deserialize_any(IncomingVisitor)?;
        de.end()?;
        // An id that is a number is echoed as written: it must be one a value can hold.
        if let Incoming::Object(Envelope { id: Some(id), .. }) = &incoming
            && !is_plain(id)
        {
            serde_json::from_str::<Checked>(text)?;
        }
        Ok(incoming)
    }
}

impl<'a> Envelope<'a> {
    /// A request laid out as our client writes it, `{"jsonrpc":"2.0","id":<digits>,"method":
    /// "<name>","params":<value>}`, read without matching member names: the fixed parts are
    /// compared as bytes, and `params` is read as one value (the only scan of the long part).
    /// `None` for any other layout (whitespace, another order or member, an escape in the
    /// method's name, an id that is not a small whole number), which is read member by member.
    ///
    /// `lazily`, an object's `params` is not read at all: it is taken to be what comes before
    /// the closing `}` ([`Envelope::params_unchecked`]).
    fn plain(text: &'a str, lazily: bool) -> Option<Self> {
        const HEAD: &str = r#"{"jsonrpc":"2.0","id":"#;
        let rest = text.strip_prefix(HEAD)?;
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if !(1..=19).contains(&digits) || (digits > 1 && rest.starts_with('0')) {
            return None;
        }
        let (id, rest) = rest.split_at(digits);
        let rest = rest.strip_prefix(r#","method":""#)?;
        let name = rest.bytes().position(|b| b == b'"' || b == b'\\' || b < 0x20)?;
        if rest.as_bytes().get(name) != Some(&b'"') {
            return None;
        }
        // The name with its quotes: the text just before `rest`, which began after a `"`.
        let method = text.get(text.len() - rest.len() - 1..text.len() - rest.len() + name + 1)?;
        let rest = rest.get(name + 1..)?.strip_prefix(r#","params":"#)?;
        let (params, params_unchecked) = if lazily && rest.starts_with('{') {
            (rest.trim_end_matches(JSON_SPACE).strip_suffix('}')?.trim_end_matches(JSON_SPACE), true)
        } else {
            let mut values = serde_json::Deserializer::from_str(rest).into_iter::<&RawValue>();
            let params = values.next()?.ok()?;
            if rest.get(values.byte_offset()..)?.trim_matches(JSON_SPACE) != "}" {
                return None;
            }
            (params.get(), false)
        };
        let raw = |text: &'a str| serde_json::from_str::<&RawValue>(text).ok();
        Some(Envelope {
            jsonrpc: Some(VERSION.as_deref()?),
            id: Some(raw(id)?),
            method: Some(raw(method)?),
            params: Some(params),
            result: None,
            error: None,
            params_unchecked,
        })
    }
}

/// JSON's whitespace (RFC 8259: space, tab, line feed, carriage return). Not form feed, which
/// `trim_ascii` would also take: text skipped as whitespace here is read by no one else.
const JSON_SPACE: [char; 4] = [' ', '\t', '\n', '\r'];

/// `"2.0"`, the `jsonrpc` member of a request in the plain layout ([`Envelope::plain`]), read once.
static VERSION: std::sync::LazyLock<Option<Box<RawValue>>> =
    std::sync::LazyLock::new(|| RawValue::from_string(r#""2.0""#.to_owned()).ok());

/// Whether a text has over 128 opening brackets (`[`, `{`), so it could nest deeper than a
/// parsed value may. Counted by blocks of 128 bytes (each count fits a byte, and a whole block
/// is a whole number of vectors, leaving no byte-by-byte tail), stopping once past 128.
fn has_many_brackets(text: &str) -> bool {
    let mut open = 0_usize;
    for block in text.as_bytes().chunks(128) {
        // `[` (0x5b) and `{` (0x7b) differ by the bit 0x20 alone.
        open += usize::from(block.iter().fold(0_u8, |n, &b| n + u8::from(b | 0x20 == b'{')));
        if open > 128 {
            return true;
        }
    }
    false
}

/// Whether a value is surely read as written: a string, `null`, or a small whole number.
fn is_plain(raw: &RawValue) -> bool {
    let text = raw.get();
    match text.as_bytes().first() {
        Some(b'0'..=b'9') => text.len() <= 19 && text.bytes().all(|b| b.is_ascii_digit()),
        Some(b'-') => text.len() <= 19 && text.bytes().skip(1).all(|b| b.is_ascii_digit()),
        _ => true,
    }
}

/// Any JSON value, read in full as a parsed value would be (depth, numbers) but kept nowhere.
struct Checked;

impl<'de> de::Deserialize<'de> for Checked {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(Checked)
    }
}

impl<'de> Visitor<'de> for Checked {
    type Value = Checked;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_key::<IgnoredAny>()?.is_some() {
            map.next_value::<Checked>()?;
        }
        Ok(Checked)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<Checked>()?.is_some() {}
        Ok(Checked)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Checked)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Checked)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Checked)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Checked)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Checked)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Checked)
    }
}

/// A member name of [`Envelope`], or another.
enum Member {
    Jsonrpc,
    Id,
    Method,
    Params,
    Result,
    Error,
    Other,
}

/// A member name, read without copying it, as `N` makes of it.
struct Key<N>(N);

/// What a member name means to a reader.
trait OfName {
    fn of_name(name: &str) -> Self;
}

impl OfName for Member {
    fn of_name(name: &str) -> Self {
        match name {
            "jsonrpc" => Member::Jsonrpc,
            "id" => Member::Id,
            "method" => Member::Method,
            "params" => Member::Params,
            "result" => Member::Result,
            "error" => Member::Error,
            _ => Member::Other,
        }
    }
}

/// Whether the name is [`META`].
impl OfName for bool {
    fn of_name(name: &str) -> Self {
        name == META
    }
}

impl<'de, N: OfName> de::Deserialize<'de> for Key<N> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Name<N>(std::marker::PhantomData<N>);
        impl<N: OfName> Visitor<'_> for Name<N> {
            type Value = Key<N>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a member name")
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<Key<N>, E> {
                Ok(Key(N::of_name(name)))
            }
        }
        deserializer.deserialize_identifier(Name(std::marker::PhantomData))
    }
}

/// Reads an object's members: those `slot` has a place for as their text (of a repeated one, the
/// last, as when the object is read into a map), the others skipped.
fn read_members<'de, A, T, N>(
    map: &mut A,
    into: &mut T,
    slot: fn(&mut T, N) -> Option<&mut Option<&'de RawValue>>,
) -> Result<(), A::Error>
where
    A: MapAccess<'de>,
    N: OfName,
{
    while let Some(Key(name)) = map.next_key::<Key<N>>()? {
        match slot(into, name) {
            Some(place) => *place = Some(map.next_value()?),
            None => {
                map.next_value::<IgnoredAny>()?;
            }
        }
    }
    Ok(())
}

struct IncomingVisitor;

impl<'de> Visitor<'de> for IncomingVisitor {
    type Value = Incoming<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut read = (Envelope::default(), None);
        read_members(&mut map, &mut read, |(envelope, params), member| match member {
            Member::Jsonrpc => Some(&mut envelope.jsonrpc),
            Member::Id => Some(&mut envelope.id),
            Member::Method => Some(&mut envelope.method),
            Member::Params => Some(params),
            Member::Result => Some(&mut envelope.result),
            Member::Error => Some(&mut envelope.error),
            Member::Other => None,
        })?;
        let (mut envelope, params) = read;
        envelope.params = params.map(RawValue::get);
        Ok(Incoming::Object(envelope))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Incoming::Batch(items))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Incoming::Other)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Incoming::Other)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Incoming::Other)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Incoming::Other)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Incoming::Other)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Incoming::Other)
    }
}

/// Whether a text is one JSON value, read as a `&RawValue` is (`Envelope::params_unchecked`).
pub(crate) fn is_json(text: &str) -> bool {
    serde_json::from_str::<IgnoredAny>(text).is_ok()
}

/// Whether a value is an object (from the first byte of its text).
pub(crate) fn is_object(raw: &RawValue) -> bool {
    raw.get().starts_with('{')
}

/// Whether a value may be a request id: a string, a number or `null`.
pub(crate) fn is_id(raw: &RawValue) -> bool {
    matches!(raw.get().as_bytes().first(), Some(b'"' | b'-' | b'0'..=b'9' | b'n'))
}

/// The string a JSON value is, if it is one (borrowed unless it has escapes).
pub(crate) fn raw_str(raw: &RawValue) -> Option<Cow<'_, str>> {
    let text = raw.get();
    let inner = text.strip_prefix('"')?.strip_suffix('"')?;
    if inner.contains('\\') {
        serde_json::from_str(text).ok().map(Cow::Owned)
    } else {
        Some(Cow::Borrowed(inner))
    }
}

/// A request id's key among the calls of a connection: the text of its value as a parsed
/// value prints it, so `"\u0041"` and `"A"`, or `1.0` and `1.00`, are one id (as `svcgen.cancel`
/// names it).
pub(crate) fn id_key(raw: &RawValue) -> String {
    let text = raw.get();
    let plain = match text.as_bytes().first() {
        Some(b'"') => !text.contains('\\'),
        Some(b'0'..=b'9') => is_plain(raw),
        _ => false,
    };
    if plain {
        return text.to_owned();
    }
    serde_json::from_str::<Value>(text).map_or_else(|_| text.to_owned(), |value| value.to_string())
}

/// A member's value from its text, parsed (`null` for text that is no value, or too deep).
pub(crate) fn value_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

/// How far from the end of `params` [`meta_at_end`] looks for `_meta`.
const META_TAIL: usize = 1024;

/// `_meta` when it is the object's last member, found without reading the members before it
/// (a client writes it after the arguments, which may be long): `"_meta":` after `{` or `,`
/// near the end, then one value (read as a `T`), then the object's closing `}`. `None` when
/// that is not so, or when the value is no `T`.
///
/// Sound for a valid JSON text only (a `&RawValue`'s): there, a `"` right after `,` or `{`
/// opens a member name, so `"_meta":` is a member of some object; that its value is followed
/// by exactly one `}` and the end makes that object the outermost one, and `_meta` its last
/// member (so the last `_meta`, as [`meta_scanned`] reads it).
fn meta_at_end<'a, T: de::Deserialize<'a>>(params: &'a str) -> Option<T> {
    // The last `"_meta":`, found from its `_` (a `str::rfind` costs more than the search here).
    let bytes = params.as_bytes();
    let from = bytes.len().saturating_sub(META_TAIL);
    let mut end = bytes.len();
    let at = loop {
        let underscore = from + memchr::memrchr(b'_', bytes.get(from..end)?)?;
        let at = underscore.checked_sub(1)?;
        if bytes.get(at..at + 8) == Some(b"\"_meta\":".as_slice()) {
            break at;
        }
        end = underscore;
    };
    if !matches!(params.get(..at)?.trim_end_matches(JSON_SPACE).as_bytes().last(), Some(b',' | b'{')) {
        return None;
    }
    let rest = params.get(at + "\"_meta\":".len()..)?;
    let mut values = serde_json::Deserializer::from_str(rest).into_iter::<T>();
    let meta = values.next()?.ok()?;
    (rest.get(values.byte_offset()..)?.trim_matches(JSON_SPACE) == "}").then_some(meta)
}

/// `params` as our client writes them when the Context has no deadline and no metadata: `_meta`
/// the last member, `"_meta":{"correlation_id":"<id>","traceparent":"<tp>"}` after `{` or `,`,
/// then the closing `}`, neither id with a `"` or `\`. Found by comparing bytes; any other
/// layout is read by [`meta_at_end`].
///
/// Sound as [`meta_at_end`] is, for a valid JSON text: no `"` there is escaped, so (counted
/// back from the end, outside any string) `"_meta"` is a member name of the outermost object.
pub(crate) struct Plain<'a> {
    /// `params` up to `"_meta"`, ending with its separator (`{` or `,`).
    before: &'a str,
    correlation_id: &'a str,
    traceparent: &'a str,
}

impl<'a> Plain<'a> {
    pub(crate) fn of(params: &'a str) -> Option<Self> {
        // Each id from the `"` before it (the last one: the id has none), then the fixed text.
        fn last_string(text: &str) -> Option<(&str, &str)> {
            let quote = memchr::memrchr(b'"', text.as_bytes())?;
            let value = text.get(quote + 1..)?;
            if value.contains('\\') {
                return None;
            }
            Some((text.get(..quote)?, value))
        }
        let (rest, traceparent) = last_string(params.strip_suffix("\"}}")?)?;
        let (rest, correlation_id) = last_string(rest.strip_suffix("\",\"traceparent\":")?)?;
        let before = rest.strip_suffix("\"_meta\":{\"correlation_id\":")?.trim_end_matches(JSON_SPACE);
        matches!(before.as_bytes().last(), Some(b',' | b'{')).then_some(Self {
            before,
            correlation_id,
            traceparent,
        })
    }

    /// The call's Context.
    pub(crate) fn context(&self) -> Context {
        Context::from_headers(Some(self.correlation_id), Some(self.traceparent))
    }

    /// The arguments: the object without `_meta`, so that the method's decoder does not read
    /// `_meta` only to skip it.
    ///
    /// The object is JSON exactly when `params` is (when the arguments are proven by their
    /// decoder, `params` are too): `_meta`'s ids have no `"`, `\` or control character, and the
    /// separator is kept as the arguments' end only when it closes an object that is one (`{`
    /// alone, or `,` after a member).
    pub(crate) fn args(&self) -> Option<String> {
        // (The lowest byte, over every byte rather than stopping at the first: that is vectorised.)
        let controls = |text: &str| text.bytes().fold(u8::MAX, u8::min) < 0x20;
        if controls(self.correlation_id) || controls(self.traceparent) {
            return None;
        }
        let args = match self.before.strip_suffix(',') {
            // `{,"_meta":…}` is no object.
            Some(members) if members.trim_end_matches(JSON_SPACE) == "{" => return None,
            Some(members) => members,
            None => self.before,
        };
        let mut object = String::with_capacity(args.len() + 1);
        object.push_str(args);
        object.push('}');
        Some(object)
    }
}

/// `_meta` read member by member (every member's text is scanned).
fn meta_scanned(params: &str) -> Result<Option<&RawValue>, serde_json::Error> {
    struct MetaOnly;
    impl<'de> Visitor<'de> for MetaOnly {
        type Value = Option<&'de RawValue>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut meta = None;
            read_members(&mut map, &mut meta, |meta, is_meta: bool| is_meta.then_some(meta))?;
            Ok(meta)
        }
    }
    serde_json::Deserializer::from_str(params).deserialize_map(MetaOnly)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_one_number_and_back() {
        for (code, n) in CODES {
            assert_eq!(error_code(&Status::new(code, "x")), n);
            assert_eq!(code_of(n), code);
        }
        assert_eq!(code_of(PARSE_ERROR), Code::InvalidArgument);
        assert_eq!(code_of(-31999), Code::Unknown);
    }

    #[test]
    fn an_error_object_round_trips_with_violations() {
        let status =
            Status::invalid_fields(vec![Violation { field: "name".into(), message: "empty".into() }]);
        let object = error_object(&status, Some("c1"));
        assert_eq!(object["code"], INVALID_PARAMS);
        assert_eq!(object["data"]["correlation_id"], "c1");
        assert_eq!(status_of_error(&object), status);
        // A foreign server's error, without our data.
        let foreign = serde_json::json!({"code": -32601, "message": "Method not found"});
        assert_eq!(status_of_error(&foreign).code(), Code::Unimplemented);
    }

    #[test]
    fn messages_are_the_documented_text() {
        assert_eq!(
            result_text(&RawValue::from_string("7".into()).expect("JSON"), b"{\"a\":1}"),
            r#"{"jsonrpc":"2.0","id":7,"result":{"a":1}}"#
        );
        assert_eq!(
            item_text("s1", b"3"),
            r#"{"jsonrpc":"2.0","method":"svcgen.stream.item","params":{"subscription":"s1","item":3}}"#
        );
        let parsed: Value = serde_json::from_str(&item_text("s\"1", b"3")).expect("valid JSON");
        assert_eq!(parsed["params"]["subscription"], "s\"1");
    }

    #[test]
    fn meta_round_trips_the_context() {
        let ctx = Context::new()
            .with_correlation_id("order-1")
            .with_timeout(Duration::from_secs(5))
            .with_metadata("authorization", "Bearer t");
        let back = context_of(Some(&meta_of(&ctx))).expect("valid meta");
        assert_eq!(back.correlation_id(), "order-1");
        assert_eq!(back.traceparent(), ctx.traceparent());
        assert_eq!(back.metadata("authorization"), Some("Bearer t"));
        assert!(back.remaining().is_some_and(|r| r <= Duration::from_secs(5)));
        // The request carries `_meta` in the same text, members in key order.
        let ctx = Context::new().with_metadata("b", "2").with_metadata("a", "1");
        let text = request_text(1, "a.B.c", &serde_json::json!({"x": 1}), &ctx).expect("encoded");
        let meta = format!(r#"{{"x":1,"_meta":{}}}}}"#, meta_of(&ctx));
        assert!(text.ends_with(&meta), "{text}");
        assert!(meta.contains(r#""metadata":{"a":"1","b":"2"},"traceparent""#), "{meta}");
        let bad = serde_json::json!({"deadline_ms": 0});
        assert_eq!(context_of(Some(&bad)).expect_err("0 ms").violations()[0].field, "_meta.deadline_ms");
    }

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).expect("JSON")
    }

    /// The `_meta` member of an object (`params`), the other members skipped (of a repeated one,
    /// the last).
    ///
    /// # Errors
    /// When the value is not a JSON object.
    fn meta_in(params: &str) -> Result<Option<&RawValue>, serde_json::Error> {
        match meta_at_end::<&RawValue>(params) {
            Some(meta) => Ok(Some(meta)),
            None => meta_scanned(params),
        }
    }

    #[test]
    fn a_message_is_read_as_its_members_texts() {
        let text = r#"{"jsonrpc":"2.0","id": 1e2,"x":{"y":[1]},"method":"a.B.c","params":{"n":1,"_meta":{"correlation_id":"c"}},"id":"\u0041"}"#;
        let Ok(Incoming::Object(envelope)) = Incoming::parse(text) else { panic!("an object") };
        // Of a repeated member, the last; ids as written.
        assert_eq!(envelope.id.map(RawValue::get), Some(r#""\u0041""#));
        assert_eq!(envelope.method.and_then(raw_str).as_deref(), Some("a.B.c"));
        assert_eq!(envelope.jsonrpc.and_then(raw_str).as_deref(), Some("2.0"));
        assert!(envelope.result.is_none() && envelope.error.is_none());
        let params = envelope.params.expect("params");
        let meta = meta_in(params).expect("an object").expect("_meta");
        assert_eq!(meta.get(), r#"{"correlation_id":"c"}"#);
        assert!(
            matches!(Incoming::parse(r#"[{"id":1}, 2]"#), Ok(Incoming::Batch(items)) if items.len() == 2)
        );
        for other in ["3", "\"s\"", "null", "true", "-1.5"] {
            assert!(matches!(Incoming::parse(other), Ok(Incoming::Other)), "{other}");
        }
    }

    #[test]
    fn a_request_as_our_client_writes_it_is_read_as_any_other() {
        let members = |e: &Envelope<'_>| {
            [e.jsonrpc, e.id, e.method, e.result, e.error]
                .map(|m| m.map(|m| m.get().to_owned()))
                .into_iter()
                .chain([e.params.map(str::to_owned)])
                .collect::<Vec<_>>()
        };
        let generic = |text: &str| {
            let mut de = serde_json::Deserializer::from_str(text);
            match de.deserialize_any(IncomingVisitor) {
                Ok(Incoming::Object(envelope)) if de.end().is_ok() => Some(members(&envelope)),
                _ => None,
            }
        };
        let ctx = Context::new();
        let ours =
            request_text(42, "a.B.c", &serde_json::json!({"n": [1, {"s": "\"}"}]}), &ctx).expect("encoded");
        let plain = [
            ours.as_str(),
            r#"{"jsonrpc":"2.0","id":0,"method":"a.B.c","params":{}}"#,
            r#"{"jsonrpc":"2.0","id":7,"method":"é.ü","params":{"_meta":{}} }"#,
            r#"{"jsonrpc":"2.0","id":7,"method":"","params":null}"#,
        ];
        for text in plain {
            let envelope = Envelope::plain(text, false).unwrap_or_else(|| panic!("read plainly: {text}"));
            assert!(!envelope.params_unchecked);
            assert_eq!(Some(members(&envelope)), generic(text), "{text}");
            // Read lazily, an object's `params` is the text before the closing `}`, unchecked.
            let lazy = Envelope::plain(text, true).unwrap_or_else(|| panic!("read plainly: {text}"));
            assert_eq!(lazy.params_unchecked, envelope.params.is_some_and(|p| p.starts_with('{')), "{text}");
            assert_eq!(Some(members(&lazy)), generic(text), "{text}");
        }
        let other = [
            r#"{"jsonrpc":"2.0","id":01,"method":"a","params":{}}"#,
            r#"{"jsonrpc":"2.0","id":-1,"method":"a","params":{}}"#,
            r#"{"jsonrpc":"2.0","id":1.5,"method":"a","params":{}}"#,
            r#"{"jsonrpc":"2.0","id":12345678901234567890,"method":"a","params":{}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"a\"b","params":{}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"a","params":{},"id":2}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"a","params":{}}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"a","params":{"x":}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"a","params":{} x}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"a","params":{}"#,
            r#"{"jsonrpc":"2.0", "id":1,"method":"a","params":{}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"a"}"#,
        ];
        for text in other {
            assert!(Envelope::plain(text, false).is_none(), "{text}");
            // Whatever it is, it is read as before (or refused as before).
            let refused = serde_json::from_str::<Value>(text).is_err();
            assert_eq!(Incoming::parse(text).is_err(), refused, "{text}");
        }
        // Read lazily, the same: unchecked `params` that are not one JSON value send the reader
        // back to `Incoming::parse`, and those that are make the text JSON.
        let lazily = |text: &str| match Incoming::parse_lazily(text) {
            Ok(Incoming::Object(e)) if e.params_unchecked && !e.params.is_some_and(is_json) => {
                match Incoming::parse(text) {
                    Ok(Incoming::Object(e)) => Some(members(&e)),
                    _ => None,
                }
            }
            Ok(Incoming::Object(e)) => Some(members(&e)),
            _ => None,
        };
        let unchecked_but_json = [r#"{"jsonrpc":"2.0","id":1,"method":"a","params":{"x":[1,"}"]} }"#];
        for text in other.iter().chain(&plain).chain(&unchecked_but_json) {
            assert_eq!(lazily(text), generic(text), "{text}");
        }
        let Ok(Incoming::Object(e)) = Incoming::parse_lazily(unchecked_but_json[0]) else { panic!("read") };
        assert_eq!((e.params, e.params_unchecked), (Some(r#"{"x":[1,"}"]}"#), true));
    }

    #[test]
    fn a_plain_response_is_split_at_its_result() {
        let id = raw("17");
        assert_eq!(plain_response(&result_text(&id, b"{\"a\":1}")), Some((17, "{\"a\":1}")));
        assert_eq!(plain_response(r#"{"jsonrpc":"2.0","id":3,"result":1,"x":2}"#), Some((3, r#"1,"x":2"#)));
        for other in [
            r#"{"jsonrpc":"2.0","id":"3","result":1}"#,
            r#"{"jsonrpc":"2.0","id":03,"result":1}"#,
            r#"{"jsonrpc":"2.0","id":-3,"result":1}"#,
            r#"{"jsonrpc":"2.0","id":99999999999999999999,"result":1}"#,
            r#"{"jsonrpc":"2.0","id":3,"error":{}}"#,
            r#"{"jsonrpc":"2.0","id":3,"result":1} "#,
            r#"{"id":3,"jsonrpc":"2.0","result":1}"#,
        ] {
            assert_eq!(plain_response(other), None, "{other}");
        }
    }

    #[test]
    fn meta_is_the_last_one_found_at_the_end_or_by_a_scan() {
        let long = "x".repeat(META_TAIL * 2);
        let first = format!(r#"{{"_meta":{{"a":1}},"s":"{long}"}}"#);
        let cases: [(&str, Option<&str>, bool); 10] = [
            (r#"{"n":1,"_meta":{"correlation_id":"c"}}"#, Some(r#"{"correlation_id":"c"}"#), true),
            (r#"{"_meta":{} }"#, Some("{}"), true),
            (r#"{"n":[1,{"_meta":2}], "_meta" :{"b":2}}"#, Some(r#"{"b":2}"#), false),
            (r#"{"_meta":1,"_meta":{"y":2}}"#, Some(r#"{"y":2}"#), true),
            (r#"{"_meta":{"y":2},"n":1}"#, Some(r#"{"y":2}"#), false),
            (r#"{"a":{"b":1,"_meta":{"x":1}}}"#, None, false),
            (r#"{"s":"x,\"_meta\":{}}"}"#, None, false),
            (r#"{"s":"x\\","_meta":3}"#, Some("3"), true),
            (r#"{"a":{"_meta":{}},"_meta":[1,{"_meta":0}]}"#, Some(r#"[1,{"_meta":0}]"#), false),
            (&first, Some(r#"{"a":1}"#), false),
        ];
        for (text, meta, at_end) in cases {
            let params = RawValue::from_string(text.to_owned()).unwrap_or_else(|e| panic!("{text}: {e}"));
            let found = meta_in(params.get()).expect("an object");
            assert_eq!(found.map(RawValue::get), meta, "{text}");
            assert_eq!(meta_scanned(text).expect("an object").map(RawValue::get), meta, "{text}");
            assert_eq!(meta_at_end::<&RawValue>(text).is_some(), at_end, "{text}");
            // The Context read in one pass is the one its `_meta` describes.
            let once = context_in(params.get()).expect("an object");
            let twice = context_of_text(found);
            assert_eq!(once.is_ok(), twice.is_ok(), "{text}");
        }
        let params =
            raw(r#"{"n":1,"_meta":{"correlation_id":"c-1","deadline_ms":5000,"metadata":{"k":"v"}}}"#);
        let ctx = context_in(params.get()).expect("an object").expect("a valid _meta");
        assert_eq!((ctx.correlation_id(), ctx.metadata("k")), ("c-1", Some("v")));
        assert!(ctx.remaining().is_some_and(|left| left <= Duration::from_secs(5)));
        let bad = raw(r#"{"_meta":{"deadline_ms":0}}"#);
        assert!(context_in(bad.get()).expect("an object").is_err());
        assert!(context_in("[1]").is_err());
        assert!(meta_in("[1]").is_err());
    }

    #[test]
    fn plain_ids_are_what_json_reads_there() {
        let ctx = Context::new();
        let ours =
            request_text(1, "a.B.c", &serde_json::json!({"s": "\\\",\"_meta\":"}), &ctx).expect("encoded");
        let Some(Incoming::Object(envelope)) = Incoming::parse(&ours).ok() else { panic!("read") };
        let ours = envelope.params.expect("params").to_owned();
        let cases: [(&str, bool); 10] = [
            (&ours, true),
            (r#"{"_meta":{"correlation_id":"c","traceparent":"t"}}"#, true),
            (r#"{"n":1, "_meta":{"correlation_id":"","traceparent":""}}"#, true),
            (r#"{"n":1,"_meta":{"correlation_id":"c\u0041","traceparent":"t"}}"#, false),
            (r#"{"n":1,"_meta":{"correlation_id":"c","traceparent":"t","x":1}}"#, false),
            (r#"{"n":1,"_meta":{"correlation_id":"c","deadline_ms":5,"traceparent":"t"}}"#, false),
            (r#"{"n":1,"_meta":{"correlation_id":"c","traceparent":"t"} }"#, false),
            (r#"{"n":{"_meta":{"correlation_id":"c","traceparent":"t"}}}"#, false),
            (r#"{"s":"x\"_meta\":{\"correlation_id\":\"c\",\"traceparent\":\"t\"}}"}"#, false),
            (r#"{"o":{"b":"\"_meta\":{\"correlation_id\":\"c\",\"traceparent\":\"t"}}"#, false),
        ];
        for (text, plain) in cases {
            assert!(is_json(text), "{text}");
            let found = Plain::of(text).map(|plain| (plain.correlation_id, plain.traceparent));
            assert_eq!(found.is_some(), plain, "{text}");
            let Some((id, tp)) = found else { continue };
            // As the members of the last `_meta` read as JSON.
            let meta = meta_in(text).expect("an object").expect("_meta");
            let members = serde_json::from_str::<MetaMembers<'_>>(meta.get()).expect("members");
            assert_eq!(members.correlation_id.and_then(raw_str).as_deref(), Some(id), "{text}");
            assert_eq!(members.traceparent.and_then(raw_str).as_deref(), Some(tp), "{text}");
            assert!(members.deadline_ms.is_none() && members.metadata.is_none(), "{text}");
        }
        let read = context_in(&ours).expect("an object").expect("a Context");
        assert_eq!((read.correlation_id(), read.traceparent()), (ctx.correlation_id(), ctx.traceparent()));
    }

    #[test]
    fn what_a_parsed_value_refuses_is_refused() {
        let deep = format!("[{}{}]", "{\"a\":[".repeat(100), "]}".repeat(100));
        for not_json in ["{oops", "", "{} x", r#"{"id":1e999}"#, deep.as_str()] {
            let e = Incoming::parse(not_json).err().unwrap_or_else(|| panic!("{not_json} is refused"));
            let expected = serde_json::from_str::<Value>(not_json).expect_err("not a value");
            assert_eq!(e.to_string(), expected.to_string());
        }
    }

    #[test]
    fn args_without_meta_are_json_exactly_when_params_are() {
        let meta = r#""_meta":{"correlation_id":"c","traceparent":"t"}}"#;
        let long = "x".repeat(70_000);
        let long_args = format!(r#"{{"s":"{long}"}}"#);
        let cases = [
            // JSON, and the arguments as JSON reads them without `_meta`.
            (format!("{{{meta}"), Some("{}")),
            (format!("{{ {meta}"), Some("{}")),
            (format!(r#"{{"n":1,{meta}"#), Some(r#"{"n":1}"#)),
            (format!(r#"{{"n":[1,{{"a":"b,"}}] , {meta}"#), Some(r#"{"n":[1,{"a":"b,"}] }"#)),
            (format!(r#"{{"_meta":1,{meta}"#), Some(r#"{"_meta":1}"#)),
            // Not JSON: either no copy, or a copy that is not JSON either.
            (format!("{{,{meta}"), None),
            (format!("{{ , {meta}"), None),
            (format!(r#"{{"n":[1,{meta}"#), Some(r#"{"n":[1}"#)),
            (format!(r#"{{"n":{{{meta}"#), Some(r#"{"n":{}"#)),
            (format!(r#"{{"s":"x,{meta}"#), Some(r#"{"s":"x}"#)),
            (
                r#"{"n":1,"_meta":{"correlation_id":"c
","traceparent":"t"}}"#
                    .to_owned(),
                None,
            ),
            (format!(r#"{{"n":1,"_meta":{{"correlation_id":"{}","traceparent":"t"}}}}"#, "\u{1}"), None),
            // Long arguments are copied too.
            (format!(r#"{{"s":"{long}",{meta}"#), Some(long_args.as_str())),
        ];
        for (params, args) in &cases {
            let copied = Plain::of(params).and_then(|plain| plain.args());
            assert_eq!(copied.as_deref(), *args, "{params}");
            let Some(copied) = copied else { continue };
            assert_eq!(is_json(&copied), is_json(params), "{params}");
            if is_json(params) {
                let mut expected: Value = serde_json::from_str(params).expect("JSON");
                let members = expected.as_object_mut().expect("an object");
                // The last `_meta` is the Context's; an earlier one stays an argument.
                members.remove("_meta");
                if params.starts_with(r#"{"_meta":1"#) {
                    members.insert("_meta".to_owned(), Value::from(1));
                }
                assert_eq!(serde_json::from_str::<Value>(&copied).expect("JSON"), expected, "{params}");
            }
        }
    }

    #[test]
    fn brackets_are_counted_across_blocks_and_the_tail() {
        // 128 or 129 opening brackets, spread over texts whose lengths put them in whole
        // blocks of 128 bytes, across block edges and in the tail.
        for len in [129, 200, 255, 256, 257, 383, 1000] {
            for count in [127, 128, 129] {
                let mut text = vec![b'a'; len];
                for i in 0..count {
                    text[i * len / count] = if i % 2 == 0 { b'[' } else { b'{' };
                }
                let text = String::from_utf8(text).expect("ASCII");
                assert_eq!(text.matches(['[', '{']).count(), count, "{len} bytes");
                assert_eq!(has_many_brackets(&text), count > 128, "{len} bytes, {count} brackets");
            }
        }
    }

    #[test]
    fn ids_are_one_key_however_written() {
        for (written, key) in
            [("7", "7"), ("\"a\"", "\"a\""), (r#""\u0041""#, "\"A\""), ("1.00", "1.0"), ("-3", "-3")]
        {
            assert_eq!(id_key(&raw(written)), key, "{written}");
            assert_eq!(key, serde_json::from_str::<Value>(written).expect("JSON").to_string());
        }
        assert!(is_id(&raw("null")) && is_id(&raw("-1")) && !is_id(&raw("{}")) && !is_id(&raw("true")));
        assert_eq!(raw_str(&raw(r#""a\"b""#)).as_deref(), Some("a\"b"));
        assert_eq!(raw_str(&raw("12")), None);
    }
}
