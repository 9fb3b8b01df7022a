//! The `OpenAPI` 3.1 document of a model's REST binding (`svcgen openapi`).
//!
//! [`openapi`] reads the [`Model`] and builds a [`Document`]: typed data serialised with serde,
//! never text. The document describes exactly what `docs/rest.md` (the contract of the REST
//! binding) promises: one path item per route, path and query parameters, the JSON body of
//! POST, PUT and PATCH, the success status of each method shape, `application/problem+json`
//! errors, the Context headers, and a JSON Schema 2020-12 schema for every declared type under
//! `components/schemas`, keyed by its qualified name (`shop.catalog.Product`).
//!
//! ```
//! use svcgen_idl::{MemoryFs, compile};
//!
//! let fs = MemoryFs::new([("a.svc", "package a;\nservice Pinger { fn ping(); }\n")]);
//! let model = compile(&["a.svc"], &fs).model.expect("a valid file");
//! let document = svcgen_codegen::openapi::openapi(&model);
//! assert!(document.paths["/pinger/ping"].post.is_some());
//! let json = document.to_json();
//! assert!(json.contains("\"operationId\": \"pinger_ping\""));
//! ```

use std::collections::HashMap;
use std::fmt;

use base64::Engine as _;
use indexmap::IndexMap;
use serde::Serialize;
use svcgen_idl::Model;
use svcgen_idl::model::{
    Bounds, Constraints, Field, HttpMethod, Method, Number, Returns, Scalar, Service, Type, TypeDef,
    TypeDefKind, TypeId, TypeKind, Value, ValueNode, path_param_names,
};

/// The `OpenAPI` version the documents follow.
pub const OPENAPI_VERSION: &str = "3.1.1";

/// The JSON Schema dialect of every schema: `OpenAPI` 3.1's base dialect (JSON Schema 2020-12).
pub const JSON_SCHEMA_DIALECT: &str = "https://spec.openapis.org/oas/3.1/dialect/base";

/// The version written in `info.version`: the model has no version of its own.
pub const DEFAULT_API_VERSION: &str = "0.1.0";

/// The wire form of a `duration`: seconds with an optional fraction and `s` (`"1.5s"`).
pub const DURATION_PATTERN: &str = r"^[0-9]{1,19}(\.[0-9]{1,9})?s$";

/// The media type of every error response (RFC 9457).
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The media type of request and response bodies.
pub const JSON: &str = "application/json";

/// The media type of streamed responses (server-sent events).
pub const EVENT_STREAM: &str = "text/event-stream";

/// `components/schemas` key of the problem document every error response carries.
pub const PROBLEM: &str = "Problem";
/// `components/schemas` key of the `400 invalid_argument` problem, with its `violations`.
pub const VALIDATION_PROBLEM: &str = "ValidationProblem";
/// `components/schemas` key of one entry of `violations`.
pub const VIOLATION: &str = "Violation";

/// `components/headers` and `components/parameters` key of `x-correlation-id`.
pub const CORRELATION_ID: &str = "CorrelationId";
/// `components/parameters` key of `x-deadline-ms`.
pub const DEADLINE: &str = "DeadlineMs";
/// `components/parameters` key of `traceparent`.
pub const TRACEPARENT: &str = "Traceparent";

/// The header carrying the correlation id, both ways.
const CORRELATION_ID_HEADER: &str = "x-correlation-id";

/// The codes of the error model shared by every binding, with their HTTP status.
const CODES: [(&str, u16); 13] = [
    ("invalid_argument", 400),
    ("unauthenticated", 401),
    ("permission_denied", 403),
    ("not_found", 404),
    ("already_exists", 409),
    ("failed_precondition", 412),
    ("payload_too_large", 413),
    ("resource_exhausted", 429),
    ("cancelled", 499),
    ("internal", 500),
    ("unimplemented", 501),
    ("unavailable", 503),
    ("deadline_exceeded", 504),
];

// ---------------------------------------------------------------------------------------------
// The document
// ---------------------------------------------------------------------------------------------

/// An `OpenAPI` 3.1 document (the root object).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Document {
    /// The `OpenAPI` version, [`OPENAPI_VERSION`].
    pub openapi: String,
    /// Title, version and description of the API.
    pub info: Info,
    /// The default `$schema` of every Schema Object, [`JSON_SCHEMA_DIALECT`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub json_schema_dialect: Option<String>,
    /// Where the API is served; empty means "relative to where the document is".
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub servers: Vec<Server>,
    /// One path item per route, in the order of the model.
    pub paths: IndexMap<String, PathItem>,
    /// Reusable schemas, responses, parameters and headers.
    pub components: Components,
    /// One tag per service, with its docs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
}

/// The Info Object.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Info {
    /// The packages of the services, `shop.catalog`.
    pub title: String,
    /// The API's version ([`DEFAULT_API_VERSION`] unless set by the caller).
    pub version: String,
    /// The docs of those packages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A Server Object.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Server {
    /// The base URL.
    pub url: String,
    /// What it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A Tag Object: one per service.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Tag {
    /// The service name (qualified by its package when two packages have a service so named).
    pub name: String,
    /// The service's docs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A Path Item Object: the operations on one route.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PathItem {
    /// `GET`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub get: Option<Operation>,
    /// `PUT`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub put: Option<Operation>,
    /// `POST`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub post: Option<Operation>,
    /// `DELETE`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delete: Option<Operation>,
    /// `PATCH`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch: Option<Operation>,
}

impl PathItem {
    /// The operation of a verb.
    #[must_use]
    pub fn operation(&self, verb: HttpMethod) -> Option<&Operation> {
        match verb {
            HttpMethod::Get => self.get.as_ref(),
            HttpMethod::Put => self.put.as_ref(),
            HttpMethod::Post => self.post.as_ref(),
            HttpMethod::Delete => self.delete.as_ref(),
            HttpMethod::Patch => self.patch.as_ref(),
        }
    }

    fn slot(&mut self, verb: HttpMethod) -> &mut Option<Operation> {
        match verb {
            HttpMethod::Get => &mut self.get,
            HttpMethod::Put => &mut self.put,
            HttpMethod::Post => &mut self.post,
            HttpMethod::Delete => &mut self.delete,
            HttpMethod::Patch => &mut self.patch,
        }
    }
}

/// An Operation Object: one method.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    /// `{service}_{method}` in snake case (`catalog_get_product`), qualified by the package
    /// when that would not be unique.
    pub operation_id: String,
    /// The service's tag.
    pub tags: Vec<String>,
    /// The first line of the method's docs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// The method's docs (and its deprecation reason).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Path, query and header parameters.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<RefOr<Parameter>>,
    /// The JSON body of POST, PUT and PATCH.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_body: Option<RequestBody>,
    /// By status (`"200"`, `"404"`, …, then `"default"`).
    pub responses: IndexMap<String, RefOr<Response>>,
    /// `@deprecated` on the method or its service.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub deprecated: bool,
}

/// Either a `$ref` to a component or the object itself.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum RefOr<T> {
    /// `{"$ref": "#/components/…"}`
    Ref(Reference),
    /// The object.
    Item(T),
}

impl<T> RefOr<T> {
    /// The object, when this is not a reference.
    #[must_use]
    pub fn item(&self) -> Option<&T> {
        match self {
            RefOr::Item(item) => Some(item),
            RefOr::Ref(_) => None,
        }
    }

    /// The reference, when this is one.
    #[must_use]
    pub fn reference(&self) -> Option<&str> {
        match self {
            RefOr::Ref(r) => Some(&r.reference),
            RefOr::Item(_) => None,
        }
    }
}

/// A Reference Object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Reference {
    /// `#/components/{kind}/{name}`.
    #[serde(rename = "$ref")]
    pub reference: String,
}

impl Reference {
    fn to(kind: &str, name: &str) -> Self {
        Reference { reference: format!("#/components/{kind}/{name}") }
    }
}

/// Where a parameter travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ParameterLocation {
    /// A `{name}` of the path.
    Path,
    /// The query string (GET and DELETE).
    Query,
    /// A request header.
    Header,
}

/// How a parameter is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ParameterStyle {
    /// `?id=1&id=2` (with `explode: true`).
    Form,
    /// Path segments and headers.
    Simple,
}

/// A Parameter Object.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Parameter {
    /// The parameter's name (the header name for headers).
    pub name: String,
    /// Where it travels.
    #[serde(rename = "in")]
    pub location: ParameterLocation,
    /// Its docs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether it must be sent (always for path parameters).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
    /// `@deprecated`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub deprecated: bool,
    /// How it is written (given for lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub style: Option<ParameterStyle>,
    /// Whether a list repeats the name (given for lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explode: Option<bool>,
    /// Its value's schema (with its default, if any).
    pub schema: Schema,
}

/// A Request Body Object.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RequestBody {
    /// What the body is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// By media type: `application/json`.
    pub content: IndexMap<String, MediaType>,
    /// Whether a body must be sent.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
}

/// A Response Object.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Response {
    /// What the response means.
    pub description: String,
    /// By header name: `x-correlation-id`.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub headers: IndexMap<String, RefOr<Header>>,
    /// By media type; empty for `204` and `202`.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub content: IndexMap<String, MediaType>,
}

/// A Media Type Object.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct MediaType {
    /// The body's schema.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<Schema>,
    /// For `text/event-stream`: the schema of the JSON `data` of each `item` event (`OpenAPI`
    /// 3.1 has no field for it; 3.2 calls it `itemSchema`).
    #[serde(rename = "x-svcgen-item-schema", skip_serializing_if = "Option::is_none")]
    pub item_schema: Option<Schema>,
}

/// A Header Object (in `components/headers` and response headers).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Header {
    /// What the header means.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether it is always present.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
    /// Its value's schema.
    pub schema: Schema,
}

/// The Components Object.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Components {
    /// Every declared type by qualified name, then the problem documents.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub schemas: IndexMap<String, Schema>,
    /// The standard error responses.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub responses: IndexMap<String, Response>,
    /// The Context's request headers.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub parameters: IndexMap<String, Parameter>,
    /// The Context's response headers.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub headers: IndexMap<String, Header>,
}

/// A JSON Schema 2020-12 type name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InstanceType {
    /// `null`
    Null,
    /// `boolean`
    Boolean,
    /// `integer`
    Integer,
    /// `number`
    Number,
    /// `string`
    String,
    /// `array`
    Array,
    /// `object`
    Object,
}

/// The `type` keyword: one type name or several.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum SchemaType {
    /// `"type": "string"`
    Single(InstanceType),
    /// `"type": ["string", "null"]`
    Multiple(Vec<InstanceType>),
}

/// `additionalProperties`: a schema, or `false`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum AdditionalProperties {
    /// `false` (or `true`).
    Allowed(bool),
    /// The schema of every other member.
    Schema(Box<Schema>),
}

/// A Schema Object: JSON Schema 2020-12 with the keywords the REST binding needs.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Schema {
    /// `$ref`: `#/components/schemas/shop.catalog.Product`.
    #[serde(rename = "$ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// `title`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// `description`: the docs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `type`
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub instance_type: Option<SchemaType>,
    /// `format`: `int32`, `int64`, `float`, `double`, `date-time`, `uuid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// `contentEncoding`: `base64` for `bytes`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    /// `contentMediaType`: what a string holds (`application/json` for SSE `data`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_media_type: Option<String>,
    /// `contentSchema`: the schema of what a string holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_schema: Option<Box<Schema>>,
    /// `enum`: the variant names of an enum.
    #[serde(rename = "enum", skip_serializing_if = "Option::is_none")]
    pub enum_values: Option<Vec<serde_json::Value>>,
    /// `const`
    #[serde(rename = "const", skip_serializing_if = "Option::is_none")]
    pub const_value: Option<serde_json::Value>,
    /// `minimum` (inclusive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum: Option<serde_json::Number>,
    /// `maximum` (inclusive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum: Option<serde_json::Number>,
    /// `minLength` (characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_length: Option<u64>,
    /// `maxLength` (characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u64>,
    /// `pattern` (unanchored).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// `items`: the schema of every item of an array.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<Box<Schema>>,
    /// `minItems`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_items: Option<u64>,
    /// `maxItems`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_items: Option<u64>,
    /// `properties`, in declaration order.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub properties: IndexMap<String, Schema>,
    /// `required`: the members that must be present.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub required: Vec<String>,
    /// `additionalProperties`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional_properties: Option<AdditionalProperties>,
    /// `propertyNames`: the schema of a map's keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub property_names: Option<Box<Schema>>,
    /// `minProperties`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_properties: Option<u64>,
    /// `maxProperties`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_properties: Option<u64>,
    /// `allOf`
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub all_of: Vec<Schema>,
    /// `anyOf`
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub any_of: Vec<Schema>,
    /// `oneOf`
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub one_of: Vec<Schema>,
    /// `default`: the value the server uses when the member is absent (may be `null`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<serde_json::Value>,
    /// `deprecated`
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub deprecated: bool,
}

impl Schema {
    /// A schema of one type.
    #[must_use]
    pub fn of_type(instance_type: InstanceType) -> Self {
        Schema { instance_type: Some(SchemaType::Single(instance_type)), ..Schema::default() }
    }

    /// `{"$ref": "#/components/schemas/{name}"}`.
    #[must_use]
    pub fn reference(name: &str) -> Self {
        Schema { reference: Some(Reference::to("schemas", name).reference), ..Schema::default() }
    }

    /// `{"const": value}`.
    #[must_use]
    pub fn constant(value: impl Into<serde_json::Value>) -> Self {
        Schema { const_value: Some(value.into()), ..Schema::default() }
    }

    fn string() -> Self {
        Self::of_type(InstanceType::String)
    }

    fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    fn with_format(mut self, format: &str) -> Self {
        self.format = Some(format.to_owned());
        self
    }

    /// This schema, or `null`: `["T", "null"]` for a plain typed schema, `oneOf` otherwise.
    #[must_use]
    pub fn nullable(self) -> Self {
        let plain = self.reference.is_none()
            && self.enum_values.is_none()
            && self.const_value.is_none()
            && self.all_of.is_empty()
            && self.any_of.is_empty()
            && self.one_of.is_empty();
        match self.instance_type {
            Some(SchemaType::Single(t)) if plain && t != InstanceType::Null => {
                Schema { instance_type: Some(SchemaType::Multiple(vec![t, InstanceType::Null])), ..self }
            }
            Some(SchemaType::Multiple(ref types)) if plain && types.contains(&InstanceType::Null) => self,
            _ => Schema { one_of: vec![self, Schema::of_type(InstanceType::Null)], ..Schema::default() },
        }
    }
}

/// Why a document could not be written as YAML.
#[derive(Debug)]
pub struct YamlError(yaml_serde::Error);

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot write the OpenAPI document as YAML: {}", self.0)
    }
}

impl std::error::Error for YamlError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

impl Document {
    /// The document as a JSON value.
    #[must_use]
    pub fn to_value(&self) -> serde_json::Value {
        to_value(self)
    }

    /// The document as pretty-printed JSON, ending with a newline.
    #[must_use]
    pub fn to_json(&self) -> String {
        to_json(self)
    }

    /// The document as YAML.
    pub fn to_yaml(&self) -> Result<String, YamlError> {
        to_yaml(self)
    }
}

/// Any document as a JSON value. Serialising to a `Value` fails only on non-string map keys;
/// every map of our documents has string keys.
pub(crate) fn to_value<T: Serialize>(document: &T) -> serde_json::Value {
    serde_json::to_value(document).unwrap_or(serde_json::Value::Null)
}

/// Any document as pretty-printed JSON, ending with a newline (no error: as for `to_value`).
pub(crate) fn to_json<T: Serialize>(document: &T) -> String {
    let mut json = serde_json::to_string_pretty(document).unwrap_or_default();
    json.push('\n');
    json
}

/// Any document as YAML.
pub(crate) fn to_yaml<T: Serialize>(document: &T) -> Result<String, YamlError> {
    yaml_serde::to_string(document).map_err(YamlError)
}

// ---------------------------------------------------------------------------------------------
// Generation
// ---------------------------------------------------------------------------------------------

/// The `OpenAPI` 3.1 document of every service of the model, with a schema for every type.
#[must_use]
pub fn openapi(model: &Model) -> Document {
    let emitter = Emitter::new(model);
    Document {
        openapi: OPENAPI_VERSION.to_owned(),
        info: emitter.emit_info(),
        json_schema_dialect: Some(JSON_SCHEMA_DIALECT.to_owned()),
        servers: Vec::new(),
        paths: emitter.emit_paths(),
        components: emitter.emit_components(),
        tags: emitter.emit_tags(),
    }
}

/// The JSON Schemas of a model, as the `OpenAPI` document has them: what other documents
/// (`AsyncAPI`) reuse, so every document describes a type the same way. References point into
/// `#/components/schemas/`, which both documents share.
pub struct Schemas<'m>(Emitter<'m>);

impl<'m> Schemas<'m> {
    /// The schemas of `model`.
    #[must_use]
    pub fn new(model: &'m Model) -> Self {
        Self(Emitter::new(model))
    }

    /// Every schema of `components/schemas`: each declared type, and the problem documents.
    #[must_use]
    pub fn components(&self) -> IndexMap<String, Schema> {
        self.0.emit_components().schemas
    }

    /// The schema of a value of type `ty`.
    #[must_use]
    pub fn of_type(&self, ty: &Type) -> Schema {
        self.0.type_schema(ty)
    }

    /// The problem document of an error a method throws (through aliases).
    #[must_use]
    pub fn thrown(&self, error: TypeId) -> Schema {
        Schema::reference(&problem_schema_name(self.0.model, self.0.error_of(error)))
    }

    /// The schema of an object with these fields (a method's parameters, an event's fields).
    #[must_use]
    pub fn object(&self, fields: &[Field]) -> Schema {
        self.0.object_schema(fields.iter())
    }
}

/// The `components/schemas` key of a declared type: its qualified name, `shop.catalog.Product`
/// (identifiers and dots only, so it is a valid component key).
#[must_use]
pub fn schema_name(model: &Model, id: TypeId) -> String {
    model.qualified_name(id)
}

/// The `components/schemas` key of the problem document of a domain error,
/// `shop.catalog.NotFound-Problem` (a `-` cannot occur in a qualified name).
#[must_use]
pub fn problem_schema_name(model: &Model, error: TypeId) -> String {
    format!("{}-Problem", model.qualified_name(error))
}

/// The `OpenAPI` path of a route: the template as written, without a trailing `/` (a path with
/// and without it are the same route).
#[must_use]
pub fn openapi_path(route: &str) -> String {
    match route.strip_suffix('/') {
        Some(stripped) if !stripped.is_empty() => stripped.to_owned(),
        _ => route.to_owned(),
    }
}

/// A standard error response of `components/responses`.
#[derive(Clone, Copy)]
struct Standard {
    key: &'static str,
    status: u16,
    schema: &'static str,
    description: &'static str,
}

const INVALID_ARGUMENT: Standard = Standard {
    key: "InvalidArgument",
    status: 400,
    schema: VALIDATION_PROBLEM,
    description: "Invalid input (`invalid_argument`): a malformed body or parameter, or violated \
                  constraints, every one of them listed in `violations`.",
};
const NOT_FOUND: Standard =
    Standard { key: "NotFound", status: 404, schema: PROBLEM, description: "Not found (`not_found`)." };
const INTERNAL: Standard = Standard {
    key: "Internal",
    status: 500,
    schema: PROBLEM,
    description: "An internal error (`internal`); the detail is not leaked.",
};
const DEADLINE_EXCEEDED: Standard = Standard {
    key: "DeadlineExceeded",
    status: 504,
    schema: PROBLEM,
    description: "The deadline passed before or during the work (`deadline_exceeded`).",
};
const OTHER_ERROR: Standard = Standard {
    key: "Problem",
    status: 0,
    schema: PROBLEM,
    description: "Any other error, as a problem document.",
};

struct Emitter<'m> {
    model: &'m Model,
    /// Tag name by service index.
    service_labels: Vec<String>,
    /// Operation id by (service index, method index).
    operation_ids: HashMap<(usize, usize), String>,
}

impl<'m> Emitter<'m> {
    fn new(model: &'m Model) -> Self {
        let mut name_count: HashMap<&str, usize> = HashMap::new();
        for service in &model.services {
            *name_count.entry(service.name.as_str()).or_default() += 1;
        }
        let service_labels = model
            .services
            .iter()
            .map(|s| {
                if name_count[s.name.as_str()] > 1 {
                    format!("{}.{}", model.package(s.package).name, s.name)
                } else {
                    s.name.clone()
                }
            })
            .collect();

        // `{service}_{method}`, qualified by the package where that is not unique, then
        // numbered as a last resort (services whose snake names coincide).
        let short = |s: &Service, m: &Method| format!("{}_{}", s.wire_name(), m.name);
        let mut short_count: HashMap<String, usize> = HashMap::new();
        for s in &model.services {
            for m in &s.methods {
                *short_count.entry(short(s, m)).or_default() += 1;
            }
        }
        let mut operation_ids = HashMap::new();
        let mut taken: HashMap<String, usize> = HashMap::new();
        for (si, s) in model.services.iter().enumerate() {
            for (mi, m) in s.methods.iter().enumerate() {
                let base = short(s, m);
                let mut id = if short_count[&base] > 1 {
                    format!("{}_{base}", model.package(s.package).name.replace('.', "_"))
                } else {
                    base
                };
                let seen = taken.entry(id.clone()).or_default();
                *seen += 1;
                if *seen > 1 {
                    id = format!("{id}_{seen}");
                }
                operation_ids.insert((si, mi), id);
            }
        }
        Emitter { model, service_labels, operation_ids }
    }

    // --- info and tags -----------------------------------------------------------------------

    fn emit_info(&self) -> Info {
        let model = self.model;
        let mut packages: Vec<usize> = Vec::new();
        for service in &model.services {
            let index = service.package.0 as usize;
            if !packages.contains(&index) {
                packages.push(index);
            }
        }
        if packages.is_empty() {
            packages = (0..model.packages.len()).collect();
        }
        let title = packages.iter().map(|&p| model.packages[p].name.as_str()).collect::<Vec<_>>().join(", ");
        let description = packages
            .iter()
            .map(|&p| model.packages[p].docs.join("\n"))
            .filter(|d| !d.is_empty())
            .collect::<Vec<_>>()
            .join("\n\n");
        Info {
            title: if title.is_empty() { "svcgen API".to_owned() } else { title },
            version: DEFAULT_API_VERSION.to_owned(),
            description: (!description.is_empty()).then_some(description),
        }
    }

    fn emit_tags(&self) -> Vec<Tag> {
        let mut tags: Vec<Tag> = Vec::new();
        for (service, label) in self.model.services.iter().zip(&self.service_labels) {
            if tags.iter().all(|t| t.name != *label) {
                tags.push(Tag {
                    name: label.clone(),
                    description: describe(&service.docs, service.deprecated.as_deref()),
                });
            }
        }
        tags
    }

    // --- paths -------------------------------------------------------------------------------

    fn emit_paths(&self) -> IndexMap<String, PathItem> {
        let mut paths: IndexMap<String, PathItem> = IndexMap::new();
        for (si, service) in self.model.services.iter().enumerate() {
            for (mi, method) in service.methods.iter().enumerate() {
                let (verb, route) = method.route(service);
                let operation = self.emit_operation((si, mi), service, method, verb, &route);
                let slot = paths.entry(openapi_path(&route)).or_default().slot(verb);
                // Two methods on one route are refused by the checks; keep the first.
                if slot.is_none() {
                    *slot = Some(operation);
                }
            }
        }
        paths
    }

    fn emit_operation(
        &self,
        (si, mi): (usize, usize),
        service: &Service,
        method: &Method,
        verb: HttpMethod,
        route: &str,
    ) -> Operation {
        let path_names: Vec<String> = path_param_names(route);

        let mut parameters = Vec::new();
        for name in &path_names {
            if let Some(param) = method.params.iter().find(|p| p.name == *name) {
                parameters.push(RefOr::Item(self.emit_path_parameter(param)));
            }
        }
        let others: Vec<&Field> = method.params.iter().filter(|p| !path_names.contains(&p.name)).collect();
        let request_body = if verb.params_in_query() {
            parameters.extend(others.iter().map(|p| RefOr::Item(self.emit_query_parameter(p))));
            None
        } else if others.is_empty() {
            None
        } else {
            Some(self.emit_request_body(&others))
        };
        parameters.extend(
            [CORRELATION_ID, DEADLINE, TRACEPARENT].map(|key| RefOr::Ref(Reference::to("parameters", key))),
        );

        let summary = method.docs.iter().map(|l| l.trim()).find(|l| !l.is_empty()).map(str::to_owned);
        let description =
            describe(&method.docs, method.deprecated.as_deref()).filter(|d| Some(d) != summary.as_ref());
        Operation {
            operation_id: self.operation_ids.get(&(si, mi)).cloned().unwrap_or_else(|| method.name.clone()),
            tags: vec![self.service_labels[si].clone()],
            summary,
            description,
            parameters,
            request_body,
            responses: self.emit_responses(method, !path_names.is_empty()),
            deprecated: method.deprecated.is_some() || service.deprecated.is_some(),
        }
    }

    fn emit_path_parameter(&self, param: &Field) -> Parameter {
        let mut schema = self.value_schema(param, &param.ty);
        // Always present in the path, so a default would never apply.
        schema.default = None;
        Parameter {
            name: param.name.clone(),
            location: ParameterLocation::Path,
            description: describe(&param.docs, param.deprecated.as_deref()),
            required: true,
            deprecated: param.deprecated.is_some(),
            style: None,
            explode: None,
            schema,
        }
    }

    /// A GET or DELETE parameter: absent when optional (never `null`), absent for the default,
    /// and a list repeats its name (`?id=1&id=2`), so an empty list is no parameter at all.
    fn emit_query_parameter(&self, param: &Field) -> Parameter {
        let optional = self.optional_inner(&param.ty);
        let ty = optional.unwrap_or(&param.ty);
        let list = matches!(self.model.resolve(ty).kind, TypeKind::List(_));
        let mut schema = self.value_schema(param, ty);
        if schema.default == Some(serde_json::Value::Null) {
            schema.default = None;
        }
        Parameter {
            name: param.name.clone(),
            location: ParameterLocation::Query,
            description: describe(&param.docs, param.deprecated.as_deref()),
            required: optional.is_none() && param.default.is_none() && !list,
            deprecated: param.deprecated.is_some(),
            style: list.then_some(ParameterStyle::Form),
            explode: list.then_some(true),
            schema,
        }
    }

    fn emit_request_body(&self, params: &[&Field]) -> RequestBody {
        let schema = self.object_schema(params.iter().copied());
        RequestBody {
            description: Some("The parameters that are not in the path, by name.".to_owned()),
            content: IndexMap::from([(
                JSON.to_owned(),
                MediaType { schema: Some(schema), ..MediaType::default() },
            )]),
            required: true,
        }
    }

    fn emit_responses(&self, method: &Method, has_path_params: bool) -> IndexMap<String, RefOr<Response>> {
        let mut responses = IndexMap::new();
        let (status, response) = self.emit_success(method);
        responses.insert(status.to_string(), RefOr::Item(response));

        // The typed errors by status, in `throws` order.
        let mut typed: Vec<(u16, TypeId)> = Vec::new();
        for throw in &method.throws {
            let id = self.error_of(throw.error);
            if let TypeDefKind::Error { status, .. } = &self.model.ty(id).kind {
                typed.push((status.unwrap_or(svcgen_idl::model::DEFAULT_ERROR_STATUS), id));
            }
        }
        let mut standards = vec![INVALID_ARGUMENT, INTERNAL, DEADLINE_EXCEEDED];
        if has_path_params {
            standards.push(NOT_FOUND);
        }
        let mut statuses: Vec<u16> =
            typed.iter().map(|(s, _)| *s).chain(standards.iter().map(|s| s.status)).collect();
        statuses.sort_unstable();
        statuses.dedup();
        for status in statuses {
            let errors: Vec<TypeId> = typed.iter().filter(|(s, _)| *s == status).map(|(_, id)| *id).collect();
            let standard = standards.iter().find(|s| s.status == status).copied();
            let response = match standard {
                Some(standard) if errors.is_empty() => RefOr::Ref(Reference::to("responses", standard.key)),
                _ => RefOr::Item(self.emit_error_response(&errors, standard)),
            };
            responses.insert(status.to_string(), response);
        }
        responses.insert("default".to_owned(), RefOr::Ref(Reference::to("responses", OTHER_ERROR.key)));
        responses
    }

    fn emit_success(&self, method: &Method) -> (u16, Response) {
        let headers = correlation_headers();
        if method.oneway {
            return (
                202,
                Response {
                    description: "Accepted: the work may still be running.".to_owned(),
                    headers,
                    content: IndexMap::new(),
                },
            );
        }
        match &method.returns {
            Returns::Nothing => {
                (204, Response { description: "No Content.".to_owned(), headers, content: IndexMap::new() })
            }
            Returns::Unary(ty) => (
                200,
                Response {
                    description: format!("OK: the `{}`.", self.model.display_type(ty)),
                    headers,
                    content: IndexMap::from([(
                        JSON.to_owned(),
                        MediaType { schema: Some(self.type_schema(ty)), ..MediaType::default() },
                    )]),
                },
            ),
            Returns::Stream(ty) => {
                let shown = self.model.display_type(ty);
                let text = format!(
                    "Server-sent events: an `item` event per `{shown}`, its `data` one line of JSON \
                     (schema in `x-svcgen-item-schema`); then an `end` event, or an `error` event \
                     whose `data` is a problem document."
                );
                (
                    200,
                    Response {
                        description: format!("OK: a stream of `{shown}`, as server-sent events."),
                        headers,
                        content: IndexMap::from([(
                            EVENT_STREAM.to_owned(),
                            MediaType {
                                // Each event as an object, `data` a string of JSON (the shape
                                // OpenAPI 3.2's `itemSchema` gives SSE, and tools read today).
                                schema: Some(Schema {
                                    properties: IndexMap::from([
                                        (
                                            "event".to_owned(),
                                            Schema {
                                                enum_values: Some(vec![
                                                    "item".into(),
                                                    "end".into(),
                                                    "error".into(),
                                                ]),
                                                ..Schema::string()
                                            },
                                        ),
                                        (
                                            "data".to_owned(),
                                            Schema {
                                                content_media_type: Some(JSON.to_owned()),
                                                content_schema: Some(Box::new(self.type_schema(ty))),
                                                ..Schema::string()
                                            },
                                        ),
                                    ]),
                                    required: vec!["event".to_owned(), "data".to_owned()],
                                    ..Schema::of_type(InstanceType::Object).with_description(text)
                                }),
                                item_schema: Some(self.type_schema(ty)),
                            },
                        )]),
                    },
                )
            }
        }
    }

    /// The response of a status shared by typed errors (and maybe a standard error).
    fn emit_error_response(&self, errors: &[TypeId], standard: Option<Standard>) -> Response {
        let mut lines = Vec::new();
        if let Some(standard) = standard {
            lines.push(standard.description.to_owned());
        }
        for &id in errors {
            let def = self.model.ty(id);
            let first = def.docs.iter().map(|l| l.trim()).find(|l| !l.is_empty());
            lines.push(match first {
                Some(doc) => format!("The domain error `{}`: {doc}", def.name),
                None => format!("The domain error `{}`.", def.name),
            });
        }
        let mut alternatives: Vec<Schema> =
            errors.iter().map(|&id| Schema::reference(&problem_schema_name(self.model, id))).collect();
        let schema = match standard {
            None if alternatives.len() == 1 => alternatives.remove(0),
            // Typed problems differ by their `type`, and so does the validation problem.
            None => Schema { one_of: alternatives, ..Schema::default() },
            Some(s) if s.schema == VALIDATION_PROBLEM => {
                alternatives.push(Schema::reference(s.schema));
                Schema { one_of: alternatives, ..Schema::default() }
            }
            // The generic problem also matches typed ones.
            Some(s) => {
                alternatives.push(Schema::reference(s.schema));
                Schema { any_of: alternatives, ..Schema::default() }
            }
        };
        Response {
            description: lines.join("\n\n"),
            headers: correlation_headers(),
            content: problem_content(schema),
        }
    }

    // --- components --------------------------------------------------------------------------

    fn emit_components(&self) -> Components {
        let model = self.model;
        let mut schemas = IndexMap::new();
        for (index, def) in model.types.iter().enumerate() {
            let id = TypeId(u32::try_from(index).unwrap_or(u32::MAX));
            schemas.insert(schema_name(model, id), self.emit_type_schema(def));
        }
        schemas.insert(PROBLEM.to_owned(), problem_schema());
        schemas.insert(VALIDATION_PROBLEM.to_owned(), validation_problem_schema());
        schemas.insert(VIOLATION.to_owned(), violation_schema());
        for (index, def) in model.types.iter().enumerate() {
            if let TypeDefKind::Error { status, .. } = &def.kind {
                let id = TypeId(u32::try_from(index).unwrap_or(u32::MAX));
                schemas.insert(
                    problem_schema_name(model, id),
                    typed_problem_schema(
                        model,
                        id,
                        status.unwrap_or(svcgen_idl::model::DEFAULT_ERROR_STATUS),
                    ),
                );
            }
        }

        let responses = [INVALID_ARGUMENT, NOT_FOUND, INTERNAL, DEADLINE_EXCEEDED, OTHER_ERROR]
            .into_iter()
            .map(|s| {
                let response = Response {
                    description: s.description.to_owned(),
                    headers: correlation_headers(),
                    content: problem_content(Schema::reference(s.schema)),
                };
                (s.key.to_owned(), response)
            })
            .collect();

        let header = |name: &str, description: &str, schema: Schema| Parameter {
            name: name.to_owned(),
            location: ParameterLocation::Header,
            description: Some(description.to_owned()),
            required: false,
            deprecated: false,
            style: None,
            explode: None,
            schema,
        };
        let parameters = IndexMap::from([
            (
                CORRELATION_ID.to_owned(),
                header(
                    CORRELATION_ID_HEADER,
                    "The id of the whole exchange; made by the server when missing, always echoed back.",
                    Schema::string(),
                ),
            ),
            (
                DEADLINE.to_owned(),
                header(
                    "x-deadline-ms",
                    "The time left for the call, in milliseconds; the server answers `504` when it runs out \
                     (and `400` when the header is not a number).",
                    Schema {
                        minimum: Some(1.into()),
                        ..Schema::of_type(InstanceType::Integer).with_format("int64")
                    },
                ),
            ),
            (
                TRACEPARENT.to_owned(),
                header(
                    "traceparent",
                    "W3C trace context (`00-<trace id>-<parent id>-<flags>`), passed on to nested calls. \
                     As W3C Trace Context requires, a malformed value is ignored and a new trace started.",
                    Schema::string(),
                ),
            ),
        ]);
        let headers = IndexMap::from([(
            CORRELATION_ID.to_owned(),
            Header {
                description: Some("The id of the whole exchange, echoed back.".to_owned()),
                required: true,
                schema: Schema::string(),
            },
        )]);
        Components { schemas, responses, parameters, headers }
    }

    fn emit_type_schema(&self, def: &TypeDef) -> Schema {
        let description = describe(&def.docs, def.deprecated.as_deref());
        let schema = match &def.kind {
            TypeDefKind::Struct { fields } | TypeDefKind::Error { fields, .. } => {
                self.object_schema(fields.iter())
            }
            TypeDefKind::Enum { variants } => {
                let mut schema = Schema {
                    enum_values: Some(variants.iter().map(|v| v.name.clone().into()).collect()),
                    ..Schema::string()
                };
                let documented: Vec<String> = variants
                    .iter()
                    .filter(|v| !v.docs.is_empty() || v.deprecated.is_some())
                    .map(|v| {
                        let mut line = format!("- `{}`", v.name);
                        if v.deprecated.is_some() {
                            line.push_str(" (deprecated)");
                        }
                        if let Some(text) = describe(&v.docs, v.deprecated.as_deref()) {
                            line.push_str(": ");
                            line.push_str(&text.replace("\n\n", " ").replace('\n', " "));
                        }
                        line
                    })
                    .collect();
                let text = [description.clone().unwrap_or_default(), documented.join("\n")]
                    .into_iter()
                    .filter(|t| !t.is_empty())
                    .collect::<Vec<_>>()
                    .join("\n\n");
                schema.description = (!text.is_empty()).then_some(text);
                return Schema { deprecated: def.deprecated.is_some(), ..schema };
            }
            TypeDefKind::Union { cases } => Schema {
                one_of: cases
                    .iter()
                    .map(|case| {
                        let payload = Schema {
                            description: describe(&case.docs, case.deprecated.as_deref()),
                            deprecated: case.deprecated.is_some(),
                            ..self.type_schema(&case.ty)
                        };
                        Schema {
                            title: Some(case.name.clone()),
                            properties: IndexMap::from([(case.name.clone(), payload)]),
                            required: vec![case.name.clone()],
                            additional_properties: Some(AdditionalProperties::Allowed(false)),
                            ..Schema::of_type(InstanceType::Object)
                        }
                    })
                    .collect(),
                ..Schema::default()
            },
            TypeDefKind::Alias { target } => self.type_schema(target),
        };
        Schema { description, deprecated: def.deprecated.is_some(), ..schema }
    }

    /// An object whose members are these fields: required unless optional or defaulted.
    fn object_schema<'f>(&self, fields: impl Iterator<Item = &'f Field>) -> Schema {
        let mut schema = Schema::of_type(InstanceType::Object);
        for field in fields {
            if field.default.is_none() && self.optional_inner(&field.ty).is_none() {
                schema.required.push(field.name.clone());
            }
            let property = Schema {
                description: describe(&field.docs, field.deprecated.as_deref()),
                deprecated: field.deprecated.is_some(),
                ..self.value_schema(field, &field.ty)
            };
            schema.properties.insert(field.name.clone(), property);
        }
        schema
    }

    // --- types -------------------------------------------------------------------------------

    /// The schema of a field's value of type `ty` (its type, or its type without `?`): the
    /// type, the field's constraints and its default.
    fn value_schema(&self, field: &Field, ty: &Type) -> Schema {
        let mut schema = self.type_schema(ty);
        self.apply_constraints(&mut schema, &field.constraints, ty);
        if let Some(default) = &field.default {
            schema.default = self.default_json(&field.ty, default);
        }
        schema
    }

    fn type_schema(&self, ty: &Type) -> Schema {
        match &ty.kind {
            TypeKind::Scalar(scalar) => scalar_schema(*scalar),
            TypeKind::List(item) => Schema {
                items: Some(Box::new(self.type_schema(item))),
                ..Schema::of_type(InstanceType::Array)
            },
            TypeKind::Map(key, value) => Schema {
                additional_properties: Some(AdditionalProperties::Schema(Box::new(self.type_schema(value)))),
                property_names: self.key_schema(key).map(Box::new),
                ..Schema::of_type(InstanceType::Object)
            },
            TypeKind::Optional(inner) => self.type_schema(inner).nullable(),
            TypeKind::Named(id) => Schema::reference(&schema_name(self.model, *id)),
            // Never in a checked model; the empty schema accepts anything.
            TypeKind::Unresolved => Schema::default(),
        }
    }

    /// `propertyNames` of a map: integer keys are decimal text, enum keys variant names.
    fn key_schema(&self, key: &Type) -> Option<Schema> {
        match &self.model.resolve(key).kind {
            TypeKind::Scalar(s) => match s.int_range() {
                Some((0, _)) => Some(Schema { pattern: Some("^[0-9]+$".to_owned()), ..Schema::default() }),
                Some(_) => Some(Schema { pattern: Some("^-?[0-9]+$".to_owned()), ..Schema::default() }),
                None => None,
            },
            TypeKind::Named(id) => Some(Schema::reference(&schema_name(self.model, *id))),
            _ => None,
        }
    }

    /// `@length`, `@range` and `@pattern` as JSON Schema keywords. They apply to one kind of
    /// value each, so next to a `$ref` or a `null` alternative they constrain just that value.
    fn apply_constraints(&self, schema: &mut Schema, constraints: &Constraints, ty: &Type) {
        if let Some(Bounds { min, max }) = &constraints.length {
            let (min, max) = (min.and_then(count), max.and_then(count));
            let resolved = self.optional_inner(ty).unwrap_or(ty);
            match &self.model.resolve(resolved).kind {
                TypeKind::Scalar(Scalar::Bytes) => {
                    // Bounds on the bytes, as bounds on their base64 text (4 characters per 3
                    // bytes, padded): looser, never wrong.
                    schema.min_length = min.map(base64_len);
                    schema.max_length = max.map(base64_len);
                }
                TypeKind::List(_) => (schema.min_items, schema.max_items) = (min, max),
                TypeKind::Map(..) => (schema.min_properties, schema.max_properties) = (min, max),
                _ => (schema.min_length, schema.max_length) = (min, max),
            }
        }
        if let Some(Bounds { min, max }) = &constraints.range {
            if let Some(min) = min.and_then(json_number) {
                schema.minimum = Some(min);
            }
            if let Some(max) = max.and_then(json_number) {
                schema.maximum = Some(max);
            }
        }
        if let Some(pattern) = &constraints.pattern {
            schema.pattern = Some(pattern.clone());
        }
    }

    /// A default in its JSON form (`docs/rest.md`), by its type: enum variants by name,
    /// durations in seconds, bytes in base64, uuids in lower case.
    fn default_json(&self, ty: &Type, node: &ValueNode) -> Option<serde_json::Value> {
        use serde_json::Value as Json;
        let ty = self.model.resolve(ty);
        Some(match (&ty.kind, &node.value) {
            (_, Value::Null) => Json::Null,
            (TypeKind::Optional(inner), _) => return self.default_json(inner, node),
            (TypeKind::Scalar(scalar), value) => scalar_default(*scalar, value)?,
            (TypeKind::Named(_), Value::Name(name)) => Json::String(variant_name(name).to_owned()),
            (TypeKind::List(item), Value::List(values)) => {
                Json::Array(values.iter().map(|v| self.default_json(item, v)).collect::<Option<_>>()?)
            }
            (TypeKind::Map(_, value), Value::Map(entries)) => Json::Object(
                entries
                    .iter()
                    .map(|(k, v)| Some((key_text(&k.value)?, self.default_json(value, v)?)))
                    .collect::<Option<_>>()?,
            ),
            _ => return None,
        })
    }

    /// The type under `?`, also when the `?` hides behind an alias; `None` when not optional.
    fn optional_inner<'t>(&self, ty: &'t Type) -> Option<&'t Type>
    where
        'm: 't,
    {
        match &ty.kind {
            TypeKind::Optional(inner) => Some(inner),
            _ => match &self.model.resolve(ty).kind {
                TypeKind::Optional(inner) => Some(inner),
                _ => None,
            },
        }
    }

    /// The error a `throws` entry names, through aliases.
    fn error_of(&self, mut id: TypeId) -> TypeId {
        for _ in 0..self.model.types.len() {
            match &self.model.ty(id).kind {
                TypeDefKind::Alias { target: Type { kind: TypeKind::Named(next), .. } } => id = *next,
                _ => break,
            }
        }
        id
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Docs as Markdown, with the deprecation reason as a last paragraph.
fn describe(docs: &[String], deprecated: Option<&str>) -> Option<String> {
    let mut text = docs.join("\n").trim().to_owned();
    if let Some(reason) = deprecated.filter(|r| !r.is_empty()) {
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        text.push_str("Deprecated: ");
        text.push_str(reason);
    }
    (!text.is_empty()).then_some(text)
}

fn scalar_schema(scalar: Scalar) -> Schema {
    let integer = |format: &str, bounded: bool| {
        let mut schema = Schema::of_type(InstanceType::Integer).with_format(format);
        if bounded && let Some((lo, hi)) = scalar.int_range() {
            schema.minimum = json_number(Number::Int(lo));
            schema.maximum = json_number(Number::Int(hi));
        }
        schema
    };
    match scalar {
        Scalar::Bool => Schema::of_type(InstanceType::Boolean),
        Scalar::I8 | Scalar::I16 | Scalar::U8 | Scalar::U16 => integer("int32", true),
        Scalar::I32 => integer("int32", false),
        Scalar::I64 => integer("int64", false),
        Scalar::U32 => integer("int64", true),
        // Not `int64`: values above `i64::MAX` are not int64 (the format registry's `uint64`).
        Scalar::U64 => integer("uint64", true),
        Scalar::F32 => Schema::of_type(InstanceType::Number).with_format("float"),
        Scalar::F64 => Schema::of_type(InstanceType::Number).with_format("double"),
        Scalar::String => Schema::string(),
        Scalar::Bytes => Schema { content_encoding: Some("base64".to_owned()), ..Schema::string() },
        Scalar::Timestamp => Schema::string().with_format("date-time"),
        Scalar::Duration => Schema { pattern: Some(DURATION_PATTERN.to_owned()), ..Schema::string() },
        Scalar::Uuid => Schema::string().with_format("uuid"),
    }
}

fn scalar_default(scalar: Scalar, value: &Value) -> Option<serde_json::Value> {
    use serde_json::Value as Json;
    Some(match (scalar, value) {
        (Scalar::Bool, Value::Bool(b)) => Json::Bool(*b),
        (s, Value::Number(n)) if s.is_float() => Json::Number(serde_json::Number::from_f64(n.as_f64())?),
        (_, Value::Number(n)) => Json::Number(json_number(*n)?),
        (Scalar::String, Value::String(s)) => Json::String(s.clone()),
        // A `bytes` default is written as text; its bytes are that text's UTF-8.
        (Scalar::Bytes, Value::String(s)) => {
            Json::String(base64::engine::general_purpose::STANDARD.encode(s.as_bytes()))
        }
        (Scalar::Duration, Value::String(s)) => {
            Json::String(duration_text(svcgen_idl::check::parse_duration(s)?))
        }
        (Scalar::Timestamp, Value::String(s)) => Json::String(timestamp_text(s)),
        (Scalar::Uuid, Value::String(s)) => Json::String(s.to_ascii_lowercase()),
        _ => return None,
    })
}

/// Nanoseconds as the wire form of a duration: `"5400s"`, `"1.5s"`, `"0.000001s"`.
#[must_use]
pub fn duration_text(nanos: u128) -> String {
    let (seconds, fraction) = (nanos / 1_000_000_000, nanos % 1_000_000_000);
    if fraction == 0 {
        format!("{seconds}s")
    } else {
        let digits = format!("{fraction:09}");
        format!("{seconds}.{}s", digits.trim_end_matches('0'))
    }
}

/// An RFC 3339 timestamp with an upper-case `T` and `Z` (the form `date-time` checkers accept).
fn timestamp_text(text: &str) -> String {
    let mut out = text.to_ascii_uppercase();
    if out.as_bytes().get(10) == Some(&b' ') {
        out.replace_range(10..11, "T");
    }
    out
}

/// `Currency.EUR` and `shop.money.Currency.EUR` → `EUR`.
fn variant_name(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name)
}

/// A map key of a default as JSON object key text.
fn key_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(Number::Int(i)) => Some(i.to_string()),
        Value::Name(name) => Some(variant_name(name).to_owned()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn json_number(n: Number) -> Option<serde_json::Number> {
    match n {
        Number::Int(i) => {
            if let Ok(i) = i64::try_from(i) {
                Some(i.into())
            } else if let Ok(u) = u64::try_from(i) {
                Some(u.into())
            } else {
                serde_json::Number::from_f64(n.as_f64())
            }
        }
        Number::Float(f) => serde_json::Number::from_f64(f),
    }
}

/// A length bound as a count.
fn count(n: Number) -> Option<u64> {
    match n {
        Number::Int(i) => u64::try_from(i).ok(),
        Number::Float(_) => None,
    }
}

/// The length of the padded base64 text of `bytes` bytes.
fn base64_len(bytes: u64) -> u64 {
    bytes.div_ceil(3).saturating_mul(4)
}

fn correlation_headers() -> IndexMap<String, RefOr<Header>> {
    IndexMap::from([(CORRELATION_ID_HEADER.to_owned(), RefOr::Ref(Reference::to("headers", CORRELATION_ID)))])
}

fn problem_content(schema: Schema) -> IndexMap<String, MediaType> {
    IndexMap::from([(PROBLEM_JSON.to_owned(), MediaType { schema: Some(schema), ..MediaType::default() })])
}

/// RFC 9457 problem document, as every error of the REST binding is sent.
fn problem_schema() -> Schema {
    let codes =
        CODES.iter().map(|(code, status)| format!("`{code}` ({status})")).collect::<Vec<_>>().join(", ");
    Schema {
        description: Some(
            "An RFC 9457 problem document: how every error of the REST binding is sent.".to_owned(),
        ),
        properties: IndexMap::from([
            (
                "type".to_owned(),
                Schema::string().with_format("uri-reference").with_description(
                    "`urn:svcgen:error:{package}.{Error}` for a typed domain error, \
                     `urn:svcgen:code:{code}` for any other.",
                ),
            ),
            (
                "title".to_owned(),
                Schema::string().with_description("The error's name, or a short summary of the code."),
            ),
            (
                "status".to_owned(),
                Schema {
                    minimum: Some(100.into()),
                    maximum: Some(599.into()),
                    ..Schema::of_type(InstanceType::Integer).with_format("int32")
                }
                .with_description("The HTTP status."),
            ),
            ("detail".to_owned(), Schema::string().with_description("What went wrong, for people.")),
            (
                "code".to_owned(),
                Schema::string().with_description(format!(
                    "The status code of the error model shared by every binding: {codes}."
                )),
            ),
            (
                "correlation_id".to_owned(),
                Schema::string().with_description("The `x-correlation-id` of the exchange."),
            ),
        ]),
        required: ["type", "title", "status", "code"].map(str::to_owned).to_vec(),
        ..Schema::of_type(InstanceType::Object)
    }
}

fn validation_problem_schema() -> Schema {
    Schema {
        description: Some(
            "Invalid input (`400`, `invalid_argument`). `violations` names every bad field; it is \
             absent when the input could not be read at all (malformed JSON)."
                .to_owned(),
        ),
        all_of: vec![
            Schema::reference(PROBLEM),
            Schema {
                properties: IndexMap::from([
                    ("type".to_owned(), Schema::constant("urn:svcgen:code:invalid_argument")),
                    ("status".to_owned(), Schema::constant(400)),
                    ("code".to_owned(), Schema::constant("invalid_argument")),
                    (
                        "violations".to_owned(),
                        Schema {
                            items: Some(Box::new(Schema::reference(VIOLATION))),
                            ..Schema::of_type(InstanceType::Array)
                        },
                    ),
                ]),
                ..Schema::of_type(InstanceType::Object)
            },
        ],
        ..Schema::default()
    }
}

fn violation_schema() -> Schema {
    Schema {
        description: Some("One violated constraint or malformed value.".to_owned()),
        properties: IndexMap::from([
            ("field".to_owned(), Schema::string().with_description("The path of the value: `product.name`.")),
            ("message".to_owned(), Schema::string().with_description("What is wrong with it.")),
        ]),
        required: vec!["field".to_owned(), "message".to_owned()],
        ..Schema::of_type(InstanceType::Object)
    }
}

/// The problem document of a typed domain error: its `type`, `title` and `status` fixed, its
/// fields in `error`.
fn typed_problem_schema(model: &Model, id: TypeId, status: u16) -> Schema {
    let name = model.qualified_name(id);
    Schema {
        description: Some(format!("The problem document of the domain error `{name}`.")),
        all_of: vec![
            Schema::reference(PROBLEM),
            Schema {
                properties: IndexMap::from([
                    ("type".to_owned(), Schema::constant(model.error_type_uri(id))),
                    ("title".to_owned(), Schema::constant(model.ty(id).name.clone())),
                    ("status".to_owned(), Schema::constant(status)),
                    ("error".to_owned(), Schema::reference(&schema_name(model, id))),
                ]),
                required: vec!["error".to_owned()],
                ..Schema::of_type(InstanceType::Object)
            },
        ],
        ..Schema::default()
    }
}
