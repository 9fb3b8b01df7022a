//! The `AsyncAPI` 3.0 document of the queue binding, built as typed data and serialised.
//!
//! Every method is a channel on its subject (`shop.catalog.catalog.get_product`) whose server
//! **receives** requests and answers on a reply channel (the caller's inbox: a dynamic address);
//! every event is a channel on its subject that the service **sends** to. Messages carry the
//! headers of `docs/queue.md`; payload schemas are the `OpenAPI` document's (one description of
//! each type), so the same `#/components/schemas/…` names appear in both documents.
//!
//! ```
//! use svcgen_idl::{MemoryFs, compile};
//! let fs = MemoryFs::new([("a.svc", "package a;\nservice Pinger { fn ping(n: u32) -> u32; event pinged { n: u32 } }\n")]);
//! let model = compile(&["a.svc"], &fs).model.unwrap();
//! let doc = svcgen_codegen::asyncapi::asyncapi(&model);
//! assert_eq!(doc.channels["a_pinger_ping"].address.as_deref(), Some("a.pinger.ping"));
//! assert_eq!(doc.operations["a_pinger_pinged"].action, svcgen_codegen::asyncapi::Action::Send);
//! ```

use std::collections::HashSet;

use indexmap::IndexMap;
use serde::Serialize;
use svcgen_idl::Model;
use svcgen_idl::model::{Event, Method, Returns, Service};

use crate::openapi::{InstanceType, JSON, PROBLEM, PROBLEM_JSON, Schema, Schemas, VALIDATION_PROBLEM};

/// The `AsyncAPI` version the documents follow.
pub const ASYNCAPI_VERSION: &str = "3.0.0";

/// The AMQP exchange requests are published to (`runtime/src/queue/amqp.rs`).
pub const AMQP_EXCHANGE: &str = "svcgen";

/// The AMQP exchange events are published to.
pub const AMQP_EVENTS_EXCHANGE: &str = "svcgen.events";

/// The AMQP channel binding version used.
const AMQP_BINDING_VERSION: &str = "0.3.0";

/// The NATS operation binding version used.
const NATS_BINDING_VERSION: &str = "0.1.0";

// ---------------------------------------------------------------------------------------------
// The document
// ---------------------------------------------------------------------------------------------

/// An `AsyncAPI` 3.0 document.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Document {
    /// `3.0.0`.
    pub asyncapi: String,
    /// What the API is.
    pub info: Info,
    /// Brokers it may be reached on (given on the command line).
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub servers: IndexMap<String, Server>,
    /// `application/json`.
    pub default_content_type: String,
    /// Every subject and reply address.
    pub channels: IndexMap<String, Channel>,
    /// What each service does on them.
    pub operations: IndexMap<String, Operation>,
    /// Messages and schemas.
    pub components: Components,
}

/// `info`.
#[derive(Clone, Debug, Serialize)]
pub struct Info {
    /// The packages.
    pub title: String,
    /// The API version.
    pub version: String,
    /// The packages' documentation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A broker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Server {
    /// `host:port`.
    pub host: String,
    /// `nats` or `amqp`.
    pub protocol: String,
    /// `0.9.1` for AMQP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<String>,
}

impl Server {
    /// A server from a URL: `nats://host:port` or `amqp://host:port` (credentials and path are
    /// not part of the document); `None` for another scheme.
    #[must_use]
    pub fn from_url(url: &str) -> Option<(String, Self)> {
        let (scheme, rest) = url.split_once("://")?;
        let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h).split('/').next().unwrap_or_default();
        if host.is_empty() {
            return None;
        }
        let (protocol, version) = match scheme {
            "nats" => ("nats", None),
            "amqp" | "amqps" => (scheme, Some("0.9.1".to_owned())),
            _ => return None,
        };
        let name = format!("{scheme}-{}", host.replace([':', '.'], "-"));
        Some((name, Self { host: host.to_owned(), protocol: protocol.to_owned(), protocol_version: version }))
    }
}

/// A `$ref`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Reference {
    /// The JSON pointer.
    #[serde(rename = "$ref")]
    pub reference: String,
}

impl Reference {
    fn to(pointer: String) -> Self {
        Self { reference: pointer }
    }
}

/// A channel: a subject, or the dynamic reply address of a method.
#[derive(Clone, Debug, Serialize)]
pub struct Channel {
    /// The subject; `null` for a reply channel (the caller's inbox, known only at run time).
    pub address: Option<String>,
    /// What it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The messages that travel on it.
    pub messages: IndexMap<String, Reference>,
    /// How the brokers carry it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bindings: Option<ChannelBindings>,
}

/// Channel bindings.
#[derive(Clone, Debug, Serialize)]
pub struct ChannelBindings {
    /// AMQP: a routing key on a topic exchange.
    pub amqp: AmqpChannelBinding,
}

/// The AMQP channel binding.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AmqpChannelBinding {
    /// `routingKey`.
    pub is: String,
    /// The exchange.
    pub exchange: AmqpExchange,
    /// The binding's version.
    pub binding_version: String,
}

/// An AMQP exchange.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AmqpExchange {
    /// Its name.
    pub name: String,
    /// `topic`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Survives a broker restart.
    pub durable: bool,
    /// Deleted when unused.
    pub auto_delete: bool,
    /// `/`.
    pub vhost: String,
}

/// What the service does on a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// It receives (requests).
    Receive,
    /// It sends (events).
    Send,
}

/// An operation.
#[derive(Clone, Debug, Serialize)]
pub struct Operation {
    /// Receive or send.
    pub action: Action,
    /// The channel.
    pub channel: Reference,
    /// A short summary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// The documentation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The messages of the channel this operation uses.
    pub messages: Vec<Reference>,
    /// For a method: where and what it answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply: Option<OperationReply>,
    /// How the brokers carry it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bindings: Option<OperationBindings>,
}

/// The reply of a request.
#[derive(Clone, Debug, Serialize)]
pub struct OperationReply {
    /// Where replies go.
    pub address: ReplyAddress,
    /// The reply channel.
    pub channel: Reference,
    /// The reply messages.
    pub messages: Vec<Reference>,
}

/// A reply address, found at run time.
#[derive(Clone, Debug, Serialize)]
pub struct ReplyAddress {
    /// How.
    pub description: String,
    /// Where in the request.
    pub location: String,
}

/// Operation bindings.
#[derive(Clone, Debug, Serialize)]
pub struct OperationBindings {
    /// NATS: the queue group of the servers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nats: Option<NatsOperationBinding>,
}

/// The NATS operation binding.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NatsOperationBinding {
    /// The queue group.
    pub queue: String,
    /// The binding's version.
    pub binding_version: String,
}

/// `components`.
#[derive(Clone, Debug, Serialize)]
pub struct Components {
    /// The `OpenAPI` document's schemas.
    pub schemas: IndexMap<String, Schema>,
    /// Every message.
    pub messages: IndexMap<String, Message>,
}

/// A message.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    /// Its name.
    pub name: String,
    /// A title.
    pub title: String,
    /// The documentation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The body's media type.
    pub content_type: String,
    /// The headers, as an object schema.
    pub headers: Schema,
    /// The body.
    pub payload: Schema,
    /// Where the id matching a reply to its request is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<CorrelationId>,
}

/// A correlation id's location.
#[derive(Clone, Debug, Serialize)]
pub struct CorrelationId {
    /// What it is.
    pub description: String,
    /// `$message.header#/svcgen-call`.
    pub location: String,
}

impl Document {
    /// The document as a JSON value.
    #[must_use]
    pub fn to_value(&self) -> serde_json::Value {
        crate::openapi::to_value(self)
    }

    /// The document as pretty-printed JSON, ending with a newline.
    #[must_use]
    pub fn to_json(&self) -> String {
        crate::openapi::to_json(self)
    }

    /// The document as YAML.
    pub fn to_yaml(&self) -> Result<String, crate::openapi::YamlError> {
        crate::openapi::to_yaml(self)
    }
}

// ---------------------------------------------------------------------------------------------
// Generation
// ---------------------------------------------------------------------------------------------

/// The `AsyncAPI` 3.0 document of every service of the model (methods and events).
#[must_use]
pub fn asyncapi(model: &Model) -> Document {
    let schemas = Schemas::new(model);
    let mut doc = Document {
        asyncapi: ASYNCAPI_VERSION.to_owned(),
        info: info(model),
        servers: IndexMap::new(),
        default_content_type: JSON.to_owned(),
        channels: IndexMap::new(),
        operations: IndexMap::new(),
        components: Components { schemas: schemas.components(), messages: IndexMap::new() },
    };
    let mut keys = Keys::default();
    for service in &model.services {
        for method in &service.methods {
            let subject = model.method_addresses(service, method).subject;
            let key = keys.key(&subject);
            emit_method(&mut doc, &schemas, service, method, &subject, &key);
        }
        for event in &service.events {
            let subject = model.event_addresses(service, event).subject;
            let key = keys.key(&subject);
            emit_event(&mut doc, &schemas, event, &subject, &key);
        }
    }
    doc
}

/// Channel, operation and message keys: the subject with `_` for `.`, made unique.
#[derive(Default)]
struct Keys(HashSet<String>);

impl Keys {
    fn key(&mut self, subject: &str) -> String {
        let base = subject.replace('.', "_");
        let mut key = base.clone();
        let mut n = 1;
        while !self.0.insert(key.clone()) {
            n += 1;
            key = format!("{base}_{n}");
        }
        key
    }
}

fn info(model: &Model) -> Info {
    let packages: Vec<&str> = model.services.iter().map(|s| model.package(s.package).name.as_str()).fold(
        Vec::new(),
        |mut seen, p| {
            if !seen.contains(&p) {
                seen.push(p);
            }
            seen
        },
    );
    let docs: Vec<String> = model
        .packages
        .iter()
        .filter(|p| packages.contains(&p.name.as_str()))
        .map(|p| p.docs.join("\n"))
        .filter(|d| !d.is_empty())
        .collect();
    Info {
        title: if packages.is_empty() { "svcgen".to_owned() } else { packages.join(", ") },
        version: crate::openapi::DEFAULT_API_VERSION.to_owned(),
        description: (!docs.is_empty()).then(|| docs.join("\n\n")),
    }
}

fn text(docs: &[String], deprecated: Option<&str>) -> Option<String> {
    let mut text = docs.join("\n");
    if let Some(why) = deprecated {
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        text.push_str("Deprecated");
        if !why.is_empty() {
            text.push_str(": ");
            text.push_str(why);
        }
        text.push('.');
    }
    (!text.is_empty()).then_some(text)
}

fn string_header(description: &str) -> Schema {
    Schema { description: Some(description.to_owned()), ..Schema::of_type(InstanceType::String) }
}

fn const_header(value: &str, description: &str) -> Schema {
    Schema { description: Some(description.to_owned()), ..Schema::constant(value) }
}

fn headers(entries: Vec<(&str, Schema)>, required: &[&str]) -> Schema {
    Schema {
        properties: entries.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        required: required.iter().map(|r| (*r).to_owned()).collect(),
        ..Schema::of_type(InstanceType::Object)
    }
}

fn call_header() -> Schema {
    string_header("The call's id (decimal), unique per inbox; every reply echoes it.")
}

fn correlation_header() -> Schema {
    string_header("The correlation id that follows the exchange through every service and event.")
}

fn amqp_channel(exchange: &str) -> ChannelBindings {
    ChannelBindings {
        amqp: AmqpChannelBinding {
            is: "routingKey".to_owned(),
            exchange: AmqpExchange {
                name: exchange.to_owned(),
                kind: "topic".to_owned(),
                durable: true,
                auto_delete: false,
                vhost: "/".to_owned(),
            },
            binding_version: AMQP_BINDING_VERSION.to_owned(),
        },
    }
}

fn reply_message(name: String, title: String, kind: &str, content_type: &str, payload: Schema) -> Message {
    let description = match kind {
        "reply" => "The answer (an empty body for a method that returns nothing, or a oneway one).",
        "item" => "One item of the stream.",
        "end" => "The stream ended (an empty body).",
        _ => "The call failed: an RFC 9457 problem document, as on REST.",
    };
    let mut fields = vec![
        ("svcgen-call", call_header()),
        ("svcgen-kind", const_header(kind, "What this reply is.")),
        ("svcgen-correlation-id", correlation_header()),
    ];
    if kind == "item" {
        fields.push((
            "svcgen-cancel-to",
            string_header(
                "Where the server sending the stream takes a message with `svcgen-kind: cancel`, the stream's \
                 reply address and `svcgen-call`, from a caller that stops reading it.",
            ),
        ));
    }
    Message {
        name,
        title,
        description: Some(description.to_owned()),
        content_type: content_type.to_owned(),
        headers: headers(fields, &["svcgen-kind"]),
        payload,
        correlation_id: Some(call_id()),
    }
}

fn call_id() -> CorrelationId {
    CorrelationId {
        description: "Matches a reply to its request.".to_owned(),
        location: "$message.header#/svcgen-call".to_owned(),
    }
}

fn emit_method(
    doc: &mut Document,
    schemas: &Schemas<'_>,
    service: &Service,
    method: &Method,
    subject: &str,
    key: &str,
) {
    let description = text(&method.docs, method.deprecated.as_deref());
    let message_ref = |name: &str| Reference::to(format!("#/components/messages/{name}"));
    let request = format!("{key}_request");
    doc.components.messages.insert(
        request.clone(),
        Message {
            name: request.clone(),
            title: format!("{}.{} request", service.name, method.name),
            description: description.clone(),
            content_type: JSON.to_owned(),
            headers: headers(
                vec![
                    ("svcgen-call", call_header()),
                    (
                        "content-type",
                        string_header("`application/json` (the default) or `application/msgpack`."),
                    ),
                    ("svcgen-correlation-id", correlation_header()),
                    ("traceparent", string_header("W3C trace context.")),
                    (
                        "svcgen-deadline-ms",
                        string_header("The caller's remaining time in milliseconds (a decimal number)."),
                    ),
                ],
                &[],
            ),
            payload: schemas.object(&method.params),
            correlation_id: Some(call_id()),
        },
    );
    // The replies.
    let mut replies: Vec<(String, Message)> = Vec::new();
    let title = |what: &str| format!("{}.{} {what}", service.name, method.name);
    match (&method.returns, method.oneway) {
        (Returns::Unary(ty), false) => {
            replies.push((
                format!("{key}_reply"),
                reply_message(format!("{key}_reply"), title("reply"), "reply", JSON, schemas.of_type(ty)),
            ));
        }
        (Returns::Stream(ty), false) => {
            replies.push((
                format!("{key}_item"),
                reply_message(format!("{key}_item"), title("item"), "item", JSON, schemas.of_type(ty)),
            ));
            replies.push((
                format!("{key}_end"),
                reply_message(format!("{key}_end"), title("end"), "end", JSON, Schema::constant("")),
            ));
        }
        _ => {
            replies.push((
                format!("{key}_reply"),
                reply_message(format!("{key}_reply"), title("reply"), "reply", JSON, Schema::constant("")),
            ));
        }
    }
    let mut problems: Vec<Schema> = method.throws.iter().map(|t| schemas.thrown(t.error)).collect();
    problems.push(Schema::reference(VALIDATION_PROBLEM));
    problems.push(Schema::reference(PROBLEM));
    let error = Schema { one_of: problems, ..Schema::default() };
    replies.push((
        format!("{key}_error"),
        reply_message(format!("{key}_error"), title("error"), "error", PROBLEM_JSON, error),
    ));

    let reply_key = format!("{key}_reply_to");
    let mut reply_messages = IndexMap::new();
    for (name, message) in replies {
        reply_messages.insert(name.clone(), message_ref(&name));
        doc.components.messages.insert(name, message);
    }
    let reply_refs: Vec<Reference> = reply_messages
        .keys()
        .map(|m| Reference::to(format!("#/channels/{reply_key}/messages/{m}")))
        .collect();
    doc.channels.insert(
        reply_key.clone(),
        Channel {
            address: None,
            description: Some(format!("The replies of `{}`, sent to the caller's inbox.", method.name)),
            messages: reply_messages,
            bindings: None,
        },
    );
    doc.channels.insert(
        key.to_owned(),
        Channel {
            address: Some(subject.to_owned()),
            description: description.clone(),
            messages: IndexMap::from([(request.clone(), message_ref(&request))]),
            bindings: Some(amqp_channel(AMQP_EXCHANGE)),
        },
    );
    let group = subject.rsplit_once('.').map_or(subject, |(group, _)| group).to_owned();
    doc.operations.insert(
        key.to_owned(),
        Operation {
            action: Action::Receive,
            channel: Reference::to(format!("#/channels/{key}")),
            summary: method.docs.first().cloned(),
            description,
            messages: vec![Reference::to(format!("#/channels/{key}/messages/{request}"))],
            reply: Some(OperationReply {
                address: ReplyAddress {
                    description: "The request's reply address: the NATS reply subject, or the AMQP \
                                  `reply_to` property."
                        .to_owned(),
                    location: "$message.header#/reply_to".to_owned(),
                },
                channel: Reference::to(format!("#/channels/{reply_key}")),
                messages: reply_refs,
            }),
            bindings: Some(OperationBindings {
                nats: Some(NatsOperationBinding {
                    queue: group,
                    binding_version: NATS_BINDING_VERSION.to_owned(),
                }),
            }),
        },
    );
}

fn emit_event(doc: &mut Document, schemas: &Schemas<'_>, event: &Event, subject: &str, key: &str) {
    let description = text(&event.docs, event.deprecated.as_deref());
    doc.components.messages.insert(
        key.to_owned(),
        Message {
            name: key.to_owned(),
            title: event.name.clone(),
            description: description.clone(),
            content_type: JSON.to_owned(),
            headers: headers(
                vec![
                    (
                        "ce-specversion",
                        const_header(
                            "1.0",
                            "CloudEvents 1.0, binary mode (`cloudEvents_specversion` on AMQP).",
                        ),
                    ),
                    ("ce-id", string_header("The event's id; subscribers drop a repeated id.")),
                    ("ce-source", string_header("Who published it.")),
                    ("ce-type", const_header(subject, "The event's type: its subject.")),
                    ("ce-time", string_header("When it happened (RFC 3339).")),
                    ("traceparent", string_header("W3C trace context.")),
                    ("svcgen-correlation-id", correlation_header()),
                ],
                &["ce-specversion", "ce-id", "ce-source", "ce-type"],
            ),
            payload: schemas.object(&event.fields),
            correlation_id: None,
        },
    );
    doc.channels.insert(
        key.to_owned(),
        Channel {
            address: Some(subject.to_owned()),
            description: description.clone(),
            messages: IndexMap::from([(
                key.to_owned(),
                Reference::to(format!("#/components/messages/{key}")),
            )]),
            bindings: Some(amqp_channel(AMQP_EVENTS_EXCHANGE)),
        },
    );
    let hydrate =
        event.hydrate.as_ref().map(|h| format!("A thin event: hydrate it by calling `{}`.", h.method));
    let description = match (description, hydrate) {
        (Some(d), Some(h)) => Some(format!("{d}\n\n{h}")),
        (d, h) => d.or(h),
    };
    doc.operations.insert(
        key.to_owned(),
        Operation {
            action: Action::Send,
            channel: Reference::to(format!("#/channels/{key}")),
            summary: event.docs.first().cloned(),
            description,
            messages: vec![Reference::to(format!("#/channels/{key}/messages/{key}"))],
            reply: None,
            bindings: None,
        },
    );
}
