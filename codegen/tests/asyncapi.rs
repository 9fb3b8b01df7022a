//! The `AsyncAPI` 3.0 document (`svcgen_codegen::asyncapi`): key facts of the example, and every
//! document (the example, every valid fixture; JSON and YAML) checked by the `AsyncAPI`
//! Initiative's own parser, `@asyncapi/parser`, through `tests/asyncapi/validate.mjs` on Node.
//! The parser is installed from `tests/asyncapi/package-lock.json` (`npm ci`) on first use.

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use svcgen_codegen::asyncapi::{self, Server};
mod common;

use common::{inputs, model_of, repo};

fn shop() -> Value {
    asyncapi::asyncapi(&model_of(&repo("examples/shop/shop.svc"))).to_value()
}

/// `doc[pointer]`, or a panic naming the pointer.
fn at<'v>(doc: &'v Value, pointer: &str) -> &'v Value {
    doc.pointer(pointer).unwrap_or_else(|| panic!("nothing at {pointer}"))
}

#[test]
fn a_method_is_a_subject_its_servers_receive_on_and_answer_to_an_inbox() {
    let doc = shop();
    assert_eq!(doc["asyncapi"], "3.0.0");
    let key = "shop_catalog_catalog_get_product";
    assert_eq!(at(&doc, &format!("/channels/{key}/address")), "shop.catalog.catalog.get_product");
    assert_eq!(at(&doc, &format!("/channels/{key}/bindings/amqp/exchange/name")), "svcgen");
    assert_eq!(at(&doc, &format!("/channels/{key}/bindings/amqp/exchange/type")), "topic");
    let operation = at(&doc, &format!("/operations/{key}"));
    assert_eq!(operation["action"], "receive");
    assert_eq!(operation["bindings"]["nats"]["queue"], "shop.catalog.catalog", "the servers' queue group");
    let reply = &operation["reply"];
    assert_eq!(reply["channel"]["$ref"], format!("#/channels/{key}_reply_to"));
    assert_eq!(at(&doc, &format!("/channels/{key}_reply_to/address")), &Value::Null, "an inbox is dynamic");
    let replies: Vec<&str> = reply["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["$ref"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        replies,
        [
            format!("#/channels/{key}_reply_to/messages/{key}_reply"),
            format!("#/channels/{key}_reply_to/messages/{key}_error")
        ]
    );
    // The request's payload is the parameters object; the reply's the return type's schema.
    let request = at(&doc, &format!("/components/messages/{key}_request"));
    assert_eq!(request["payload"]["required"], serde_json::json!(["id"]));
    assert_eq!(request["correlationId"]["location"], "$message.header#/svcgen-call");
    let value = at(&doc, &format!("/components/messages/{key}_reply/payload"));
    assert_eq!(value["$ref"], "#/components/schemas/shop.catalog.Product");
    // Errors: the typed problem documents first, then the standard ones.
    let error = at(&doc, &format!("/components/messages/{key}_error"));
    assert_eq!(error["contentType"], "application/problem+json");
    assert_eq!(error["payload"]["oneOf"][0]["$ref"], "#/components/schemas/shop.catalog.NotFound-Problem");
    assert_eq!(error["headers"]["properties"]["svcgen-kind"]["const"], "error");
}

#[test]
fn a_stream_answers_items_then_an_end() {
    let doc = shop();
    let key = "shop_catalog_catalog_watch_prices";
    let mut names: Vec<&String> = at(&doc, &format!("/channels/{key}_reply_to/messages"))
        .as_object()
        .expect("messages")
        .keys()
        .collect();
    names.sort();
    assert_eq!(names, [&format!("{key}_end"), &format!("{key}_error"), &format!("{key}_item")]);
    assert_eq!(
        at(&doc, &format!("/components/messages/{key}_item/payload/$ref")),
        "#/components/schemas/shop.catalog.PriceTick"
    );
}

#[test]
fn an_event_is_a_subject_the_service_sends_cloudevents_on() {
    let doc = shop();
    let key = "shop_catalog_catalog_product_created";
    assert_eq!(at(&doc, &format!("/channels/{key}/address")), "shop.catalog.catalog.product_created");
    assert_eq!(at(&doc, &format!("/channels/{key}/bindings/amqp/exchange/name")), "svcgen.events");
    let operation = at(&doc, &format!("/operations/{key}"));
    assert_eq!(operation["action"], "send");
    assert!(operation.get("reply").is_none());
    assert!(
        operation["description"].as_str().is_some_and(|d| d.contains("hydrate it by calling `get_product`")),
        "{operation}"
    );
    let headers = at(&doc, &format!("/components/messages/{key}/headers"));
    assert_eq!(headers["properties"]["ce-specversion"]["const"], "1.0");
    assert_eq!(headers["properties"]["ce-type"]["const"], "shop.catalog.catalog.product_created");
    assert_eq!(headers["required"], serde_json::json!(["ce-specversion", "ce-id", "ce-source", "ce-type"]));
    assert_eq!(at(&doc, &format!("/components/messages/{key}/payload/required")), &serde_json::json!(["id"]));
}

#[test]
fn servers_come_from_urls() {
    let (name, server) = Server::from_url("amqp://guest:secret@mq.example:5672/%2f").expect("an AMQP URL");
    assert_eq!(name, "amqp-mq-example-5672");
    assert_eq!(server.host, "mq.example:5672", "no credentials, no path");
    assert_eq!(server.protocol_version.as_deref(), Some("0.9.1"));
    assert_eq!(Server::from_url("nats://127.0.0.1:4222").expect("a NATS URL").1.protocol, "nats");
    assert!(Server::from_url("http://example").is_none());
    assert!(Server::from_url("nats://").is_none());
}

#[test]
fn every_document_passes_the_asyncapi_parser() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let mut files = Vec::new();
    for input in inputs() {
        let mut document = asyncapi::asyncapi(&model_of(&input));
        let (name, server) = Server::from_url("nats://127.0.0.1:4222").expect("a NATS URL");
        document.servers.insert(name, server);
        let stem = input.file_stem().and_then(|s| s.to_str()).unwrap_or("doc").to_owned();
        let json = dir.path().join(format!("{stem}.json"));
        std::fs::write(&json, document.to_json()).expect("writable");
        let yaml = dir.path().join(format!("{stem}.yaml"));
        std::fs::write(&yaml, document.to_yaml().expect("YAML output")).expect("writable");
        files.push(json);
        files.push(yaml);
    }
    assert!(files.len() > 20, "the example and the fixtures: {}", files.len());

    let tool = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/asyncapi");
    if !tool.join("node_modules/@asyncapi/parser").exists() {
        let installed = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--quiet"])
            .current_dir(&tool)
            .status()
            .is_ok_and(|s| s.success());
        assert!(installed, "cannot install @asyncapi/parser: run `npm ci` in {}", tool.display());
    }
    let output =
        Command::new("node").arg(tool.join("validate.mjs")).args(&files).output().unwrap_or_else(|e| {
            panic!("cannot run node ({e}): the AsyncAPI documents are checked on Node.js")
        });
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "invalid AsyncAPI documents:\n{stdout}\n{stderr}");
    assert_eq!(stdout.matches(": valid: ").count(), files.len(), "every document was read:\n{stdout}");
}
