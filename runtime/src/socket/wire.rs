//! The socket binding's wire: JSON-RPC 2.0 members, reserved names, the error code table, and
//! `_meta` ⇄ [`Context`] (`docs/protocol.md`, "Socket binding").

use std::time::Duration;

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

/// A response carrying `result` (already encoded JSON).
#[must_use]
pub fn result_text(id: &Value, result: &[u8]) -> String {
    let id = serde_json::to_string(id).unwrap_or_else(|_| "null".to_owned());
    let result = std::str::from_utf8(result).unwrap_or("null");
    let mut out = String::with_capacity(32 + id.len() + result.len());
    for part in [r#"{"jsonrpc":"2.0","id":"#, &id, r#","result":"#, result, "}"] {
        out.push_str(part);
    }
    out
}

/// A response carrying `error`.
#[must_use]
pub fn error_text(id: &Value, error: Value) -> String {
    let mut message = Map::with_capacity(3);
    message.insert("jsonrpc".into(), "2.0".into());
    message.insert("id".into(), id.clone());
    message.insert("error".into(), error);
    Value::Object(message).to_string()
}

/// A `svcgen.stream.item` notification (the item already encoded JSON).
#[must_use]
pub fn item_text(subscription: &str, item: &[u8]) -> String {
    let item = std::str::from_utf8(item).unwrap_or("null");
    let sub = Value::from(subscription).to_string();
    let mut out = String::with_capacity(80 + sub.len() + item.len());
    for part in [
        r#"{"jsonrpc":"2.0","method":"svcgen.stream.item","params":{"subscription":"#,
        &sub,
        r#","item":"#,
        item,
        "}}",
    ] {
        out.push_str(part);
    }
    out
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
    let mut out = String::with_capacity(80 + sub.len() + event.len());
    for part in [
        r#"{"jsonrpc":"2.0","method":"svcgen.event","params":{"subscription":"#,
        &sub,
        r#","event":"#,
        event,
        "}}",
    ] {
        out.push_str(part);
    }
    out
}

/// A request's `params`: the arguments by name, and `_meta`.
#[derive(serde::Serialize)]
struct Params<'a, P> {
    #[serde(flatten)]
    args: &'a P,
    #[serde(rename = "_meta")]
    meta: Value,
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
    let request = Request { jsonrpc: "2.0", id, method, params: Params { args, meta: meta_of(ctx) } };
    serde_json::to_string(&request)
        .map_err(|e| Status::invalid_argument(format!("cannot encode the request: {e}")))
}

/// The Context `_meta` describes (every member optional; missing or invalid ids are made fresh).
///
/// # Errors
/// `invalid_argument` naming the member when `_meta` or one of its members has the wrong shape.
pub fn context_of(meta: Option<&Value>) -> Result<Context, Status> {
    let invalid = |field: &str, message: &str| {
        Status::invalid_fields(vec![Violation {
            field: format!("{META}.{field}"),
            message: message.to_owned(),
        }])
    };
    let Some(meta) = meta else { return Ok(Context::from_headers(None, None)) };
    let Some(meta) = meta.as_object() else {
        return Err(Status::invalid_fields(vec![Violation {
            field: META.to_owned(),
            message: "must be an object".to_owned(),
        }]));
    };
    let text = |name: &str| meta.get(name).and_then(Value::as_str);
    let mut ctx = Context::from_headers(text("correlation_id"), text("traceparent"));
    match meta.get("deadline_ms") {
        None | Some(Value::Null) => {}
        Some(value) => match value.as_u64() {
            Some(ms) if ms > 0 => ctx = ctx.with_timeout(Duration::from_millis(ms)),
            _ => return Err(invalid("deadline_ms", "must be a whole number of milliseconds, at least 1")),
        },
    }
    match meta.get("metadata") {
        None | Some(Value::Null) => {}
        Some(Value::Object(entries)) => {
            for (key, value) in entries {
                let Some(value) = value.as_str() else {
                    return Err(invalid(&format!("metadata.{key}"), "must be a string"));
                };
                ctx = ctx.with_metadata(key, value);
            }
        }
        Some(_) => return Err(invalid("metadata", "must be an object of strings")),
    }
    Ok(ctx)
}

/// The `_meta` member of a call made under `ctx`.
#[must_use]
pub fn meta_of(ctx: &Context) -> Value {
    let mut meta = Map::new();
    meta.insert("correlation_id".into(), ctx.correlation_id().into());
    if let Some(tp) = ctx.traceparent() {
        meta.insert("traceparent".into(), tp.into());
    }
    if let Some(left) = ctx.remaining() {
        let ms = u64::try_from(left.as_millis()).unwrap_or(u64::MAX).max(1);
        meta.insert("deadline_ms".into(), ms.into());
    }
    let metadata: Map<String, Value> = ctx.metadata_iter().map(|(k, v)| (k.to_owned(), v.into())).collect();
    if !metadata.is_empty() {
        meta.insert("metadata".into(), Value::Object(metadata));
    }
    Value::Object(meta)
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
            result_text(&Value::from(7), b"{\"a\":1}"),
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
        let bad = serde_json::json!({"deadline_ms": 0});
        assert_eq!(context_of(Some(&bad)).expect_err("0 ms").violations()[0].field, "_meta.deadline_ms");
    }
}
