//! The model: the one intermediate representation every front end builds and the back end reads.
//!
//! Plain data (no pest or syn types), fully resolved (a type reference is a [`TypeId`] into
//! [`Model::types`]), with spans for diagnostics. It serialises to JSON for `svcgen model`.

use serde::Serialize;

use crate::source::{FileId, Span};

/// Index into [`Model::types`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct TypeId(pub u32);

/// Index into [`Model::packages`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct PackageId(pub u32);

/// Index into [`Model::services`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ServiceId(pub u32);

/// Everything loaded in one run: the root files and all they import.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Model {
    /// Packages, in the order first seen.
    pub packages: Vec<Package>,
    /// Every declared type, of every package.
    pub types: Vec<TypeDef>,
    /// Every service, of every package.
    pub services: Vec<Service>,
    /// Files, indexed by [`FileId`].
    pub files: Vec<FileInfo>,
}

/// What the model keeps of a source file.
#[derive(Clone, Debug, Serialize)]
pub struct FileInfo {
    /// The path as displayed.
    pub path: String,
    /// Its package.
    pub package: PackageId,
    /// The files it imports.
    pub imports: Vec<FileId>,
}

/// A package: the unit of generated code (one `.rs` file per package).
#[derive(Clone, Debug, Serialize)]
pub struct Package {
    /// Dotted name, `shop.catalog`.
    pub name: String,
    /// Docs from the `package` declarations.
    pub docs: Docs,
    /// Its types, in declaration order.
    pub types: Vec<TypeId>,
    /// Its services, in declaration order.
    pub services: Vec<ServiceId>,
}

/// Documentation lines (`///` text without the slashes, one leading space removed).
pub type Docs = Vec<String>;

/// A declared type.
#[derive(Clone, Debug, Serialize)]
pub struct TypeDef {
    /// Its name, as declared.
    pub name: String,
    /// The package declaring it.
    pub package: PackageId,
    /// Documentation.
    pub docs: Docs,
    /// `@deprecated("why")`.
    pub deprecated: Option<String>,
    /// What it is.
    pub kind: TypeDefKind,
    /// The name in the declaration.
    pub span: Span,
}

/// The kinds of declared type.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TypeDefKind {
    /// A record.
    Struct {
        /// Its fields.
        fields: Vec<Field>,
    },
    /// A typed domain error a method may throw.
    Error {
        /// `@status(code)`: the HTTP status it maps to (the binding's default when `None`).
        status: Option<u16>,
        /// Its fields.
        fields: Vec<Field>,
    },
    /// A closed set of names.
    Enum {
        /// Its variants.
        variants: Vec<Variant>,
    },
    /// A tagged union: exactly one case holds.
    Union {
        /// Its cases.
        cases: Vec<Case>,
    },
    /// Another name for a type.
    Alias {
        /// What it stands for.
        target: Type,
    },
}

impl TypeDefKind {
    /// The IDL keyword of the declaration.
    #[must_use]
    pub fn keyword(&self) -> &'static str {
        match self {
            TypeDefKind::Struct { .. } => "struct",
            TypeDefKind::Error { .. } => "error",
            TypeDefKind::Enum { .. } => "enum",
            TypeDefKind::Union { .. } => "union",
            TypeDefKind::Alias { .. } => "type",
        }
    }

    /// The fields of a struct or error.
    #[must_use]
    pub fn fields(&self) -> Option<&[Field]> {
        match self {
            TypeDefKind::Struct { fields } | TypeDefKind::Error { fields, .. } => Some(fields),
            _ => None,
        }
    }
}

/// A struct, error or event field, or a method parameter.
#[derive(Clone, Debug, Serialize)]
pub struct Field {
    /// Its name.
    pub name: String,
    /// Its type.
    pub ty: Type,
    /// The value used when the field is absent; checked against `ty` and the constraints.
    pub default: Option<ValueNode>,
    /// `@length`, `@range`, `@pattern`.
    pub constraints: Constraints,
    /// Documentation.
    pub docs: Docs,
    /// `@deprecated("why")`.
    pub deprecated: Option<String>,
    /// The name.
    pub span: Span,
}

/// An enum variant.
#[derive(Clone, Debug, Serialize)]
pub struct Variant {
    /// Its name (also its wire name).
    pub name: String,
    /// Documentation.
    pub docs: Docs,
    /// `@deprecated("why")`.
    pub deprecated: Option<String>,
    /// The name.
    pub span: Span,
}

/// A union case.
#[derive(Clone, Debug, Serialize)]
pub struct Case {
    /// Its name (the tag on the wire).
    pub name: String,
    /// Its payload.
    pub ty: Type,
    /// Documentation.
    pub docs: Docs,
    /// `@deprecated("why")`.
    pub deprecated: Option<String>,
    /// The name.
    pub span: Span,
}

/// A type in use, resolved.
#[derive(Clone, Debug, Serialize)]
pub struct Type {
    /// What it is.
    #[serde(flatten)]
    pub kind: TypeKind,
    /// Where it was written.
    pub span: Span,
}

/// The kinds of type in use.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", content = "of", rename_all = "snake_case")]
pub enum TypeKind {
    /// A built-in scalar.
    Scalar(Scalar),
    /// `list<T>`.
    List(Box<Type>),
    /// `map<K, V>`.
    Map(Box<Type>, Box<Type>),
    /// `T?`.
    Optional(Box<Type>),
    /// A declared type.
    Named(TypeId),
    /// A name that did not resolve (already reported); never in a model that passed checks.
    Unresolved,
}

/// The built-in scalars.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scalar {
    /// `bool`
    Bool,
    /// `i8`
    I8,
    /// `i16`
    I16,
    /// `i32`
    I32,
    /// `i64`
    I64,
    /// `u8`
    U8,
    /// `u16`
    U16,
    /// `u32`
    U32,
    /// `u64`
    U64,
    /// `f32`
    F32,
    /// `f64`
    F64,
    /// `string` (UTF-8)
    String,
    /// `bytes` (base64 in JSON)
    Bytes,
    /// `timestamp` (RFC 3339 in JSON)
    Timestamp,
    /// `duration`
    Duration,
    /// `uuid`
    Uuid,
}

impl Scalar {
    /// Every scalar with its IDL name.
    pub const ALL: [(&'static str, Scalar); 16] = [
        ("bool", Scalar::Bool),
        ("i8", Scalar::I8),
        ("i16", Scalar::I16),
        ("i32", Scalar::I32),
        ("i64", Scalar::I64),
        ("u8", Scalar::U8),
        ("u16", Scalar::U16),
        ("u32", Scalar::U32),
        ("u64", Scalar::U64),
        ("f32", Scalar::F32),
        ("f64", Scalar::F64),
        ("string", Scalar::String),
        ("bytes", Scalar::Bytes),
        ("timestamp", Scalar::Timestamp),
        ("duration", Scalar::Duration),
        ("uuid", Scalar::Uuid),
    ];

    /// The scalar with this IDL name.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Scalar> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
    }

    /// Its IDL name.
    #[must_use]
    pub fn name(self) -> &'static str {
        Self::ALL.iter().find(|(_, s)| *s == self).map_or("?", |(n, _)| n)
    }

    /// The inclusive range of an integer scalar.
    #[must_use]
    pub fn int_range(self) -> Option<(i128, i128)> {
        Some(match self {
            Scalar::I8 => (i8::MIN.into(), i8::MAX.into()),
            Scalar::I16 => (i16::MIN.into(), i16::MAX.into()),
            Scalar::I32 => (i32::MIN.into(), i32::MAX.into()),
            Scalar::I64 => (i64::MIN.into(), i64::MAX.into()),
            Scalar::U8 => (0, u8::MAX.into()),
            Scalar::U16 => (0, u16::MAX.into()),
            Scalar::U32 => (0, u32::MAX.into()),
            Scalar::U64 => (0, u64::MAX.into()),
            _ => return None,
        })
    }

    /// `f32` or `f64`.
    #[must_use]
    pub fn is_float(self) -> bool {
        matches!(self, Scalar::F32 | Scalar::F64)
    }
}

/// Validation constraints on a field or parameter, enforced by servers.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Constraints {
    /// `@length(min:, max:)`: characters of a string, bytes of `bytes`, items of a list or map.
    pub length: Option<Bounds>,
    /// `@range(min:, max:)`: inclusive bounds of a number.
    pub range: Option<Bounds>,
    /// `@pattern("regex")`: a string must match (unanchored, like JSON Schema `pattern`).
    pub pattern: Option<String>,
    /// Where the constraint attributes were written (first of them), for diagnostics.
    #[serde(skip)]
    pub span: Option<Span>,
}

impl Constraints {
    /// No constraint at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.length.is_none() && self.range.is_none() && self.pattern.is_none()
    }
}

/// Inclusive bounds; either side may be open.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Bounds {
    /// Lower bound.
    pub min: Option<Number>,
    /// Upper bound.
    pub max: Option<Number>,
}

/// A number in an attribute or default.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Number {
    /// Written without a fraction or exponent.
    Int(i128),
    /// Written with one.
    Float(f64),
}

impl Number {
    /// As a float, for comparisons.
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn as_f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Float(f) => f,
        }
    }
}

/// A literal value (a default), as written but typed by kind; checked against its field's type.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Value {
    /// `true` / `false`
    Bool(bool),
    /// A number.
    Number(Number),
    /// A string (also durations `"5s"`, timestamps, uuids, bytes as UTF-8).
    String(String),
    /// `null` (for optionals).
    Null,
    /// `[a, b]`
    List(Vec<ValueNode>),
    /// `{k: v}`
    Map(Vec<(ValueNode, ValueNode)>),
    /// A name: an enum variant, `EUR` or `Currency.EUR`.
    Name(String),
}

/// A value with its span (values nest).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ValueNode {
    /// The value.
    #[serde(flatten)]
    pub value: Value,
    /// Where.
    pub span: Span,
}

/// A service: methods and events under one name.
#[derive(Clone, Debug, Serialize)]
pub struct Service {
    /// Its name.
    pub name: String,
    /// The package declaring it.
    pub package: PackageId,
    /// Documentation.
    pub docs: Docs,
    /// `@deprecated("why")`.
    pub deprecated: Option<String>,
    /// Methods, in order.
    pub methods: Vec<Method>,
    /// Events, in order.
    pub events: Vec<Event>,
    /// The name.
    pub span: Span,
}

/// A method.
#[derive(Clone, Debug, Serialize)]
pub struct Method {
    /// Its name (also its wire name).
    pub name: String,
    /// Documentation.
    pub docs: Docs,
    /// `@deprecated("why")`.
    pub deprecated: Option<String>,
    /// Parameters, in order.
    pub params: Vec<Field>,
    /// What it returns.
    pub returns: Returns,
    /// The errors it throws (each a `TypeDefKind::Error`).
    pub throws: Vec<Throw>,
    /// `@oneway`: fire-and-forget, no reply.
    pub oneway: bool,
    /// `@http(METHOD, "/path")`; `None` means the default `POST /{service}/{method}`.
    pub http: Option<HttpRoute>,
    /// The name.
    pub span: Span,
}

/// One entry of a `throws` list.
#[derive(Clone, Debug, Serialize)]
pub struct Throw {
    /// The error type.
    pub error: TypeId,
    /// Where it was named.
    pub span: Span,
}

/// A method's result.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", content = "type", rename_all = "snake_case")]
pub enum Returns {
    /// No return type.
    Nothing,
    /// `-> T`
    Unary(Type),
    /// `-> stream T`
    Stream(Type),
}

/// An explicit HTTP mapping.
#[derive(Clone, Debug, Serialize)]
pub struct HttpRoute {
    /// The verb.
    pub method: HttpMethod,
    /// The path template, `/products/{id}`.
    pub path: String,
    /// The attribute.
    pub span: Span,
    /// The path string in it.
    pub path_span: Span,
}

/// The HTTP verbs a method may be mapped to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    /// GET
    Get,
    /// POST
    Post,
    /// PUT
    Put,
    /// PATCH
    Patch,
    /// DELETE
    Delete,
}

impl HttpMethod {
    /// Every verb with its name.
    pub const ALL: [(&'static str, HttpMethod); 5] = [
        ("GET", HttpMethod::Get),
        ("POST", HttpMethod::Post),
        ("PUT", HttpMethod::Put),
        ("PATCH", HttpMethod::Patch),
        ("DELETE", HttpMethod::Delete),
    ];

    /// The verb's name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        Self::ALL.iter().find(|(_, m)| *m == self).map_or("?", |(n, _)| n)
    }

    /// Whether non-path parameters travel in the query string rather than a JSON body.
    #[must_use]
    pub fn params_in_query(self) -> bool {
        matches!(self, HttpMethod::Get | HttpMethod::Delete)
    }
}

/// A piece of a path template.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "text", rename_all = "snake_case")]
pub enum Segment {
    /// Literal text.
    Literal(String),
    /// `{name}`: a parameter.
    Param(String),
}

/// The parameter names of a path template, in order (none for a malformed template).
#[must_use]
pub fn path_param_names(path: &str) -> Vec<String> {
    parse_path_template(path)
        .map(|segments| {
            segments
                .into_iter()
                .filter_map(|s| match s {
                    Segment::Param(name) => Some(name),
                    Segment::Literal(_) => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Splits a path template into literal text and `{param}` pieces.
///
/// # Errors
/// A description of the first malformed brace, and its byte offset in `path`.
pub fn parse_path_template(path: &str) -> Result<Vec<Segment>, (usize, String)> {
    let mut segments = Vec::new();
    let mut literal = String::new();
    let mut chars = path.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '{' => {
                let rest = &path[i + 1..];
                let Some(close) = rest.find('}') else {
                    return Err((i, "`{` is never closed".to_owned()));
                };
                let name = &rest[..close];
                let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !valid {
                    return Err((i, format!("`{{{name}}}` is not a parameter name")));
                }
                if !literal.is_empty() {
                    segments.push(Segment::Literal(std::mem::take(&mut literal)));
                }
                segments.push(Segment::Param(name.to_owned()));
                for _ in 0..=name.chars().count() {
                    chars.next();
                }
            }
            '}' => return Err((i, "`}` without a matching `{`".to_owned())),
            c => literal.push(c),
        }
    }
    if !literal.is_empty() {
        segments.push(Segment::Literal(literal));
    }
    Ok(segments)
}

/// An event a service publishes.
#[derive(Clone, Debug, Serialize)]
pub struct Event {
    /// Its name (the last part of its subject).
    pub name: String,
    /// Documentation.
    pub docs: Docs,
    /// `@deprecated("why")`.
    pub deprecated: Option<String>,
    /// Its fields.
    pub fields: Vec<Field>,
    /// `@hydrate(method)`: a thin event, expanded by calling this method of the same service.
    pub hydrate: Option<Hydrate>,
    /// The name.
    pub span: Span,
}

/// The method that hydrates a thin event.
#[derive(Clone, Debug, Serialize)]
pub struct Hydrate {
    /// The method's name (checked to exist in the same service).
    pub method: String,
    /// The argument.
    pub span: Span,
}

impl Model {
    /// The type with this id.
    ///
    /// # Panics
    /// If the id is not from this model (a bug, never user input).
    #[must_use]
    pub fn ty(&self, id: TypeId) -> &TypeDef {
        &self.types[id.0 as usize]
    }

    /// The package with this id.
    ///
    /// # Panics
    /// If the id is not from this model.
    #[must_use]
    pub fn package(&self, id: PackageId) -> &Package {
        &self.packages[id.0 as usize]
    }

    /// Follows aliases to the type that is not an alias (bounded, so alias cycles end).
    #[must_use]
    pub fn resolve<'a>(&'a self, mut ty: &'a Type) -> &'a Type {
        for _ in 0..=self.types.len() {
            match &ty.kind {
                TypeKind::Named(id) => match &self.ty(*id).kind {
                    TypeDefKind::Alias { target } => ty = target,
                    _ => return ty,
                },
                _ => return ty,
            }
        }
        ty
    }

    /// The fully qualified name of a type, `shop.catalog.Product`.
    #[must_use]
    pub fn qualified_name(&self, id: TypeId) -> String {
        let def = self.ty(id);
        format!("{}.{}", self.package(def.package).name, def.name)
    }

    /// A type as IDL text: `list<Product>?`.
    #[must_use]
    pub fn display_type(&self, ty: &Type) -> String {
        match &ty.kind {
            TypeKind::Scalar(s) => s.name().to_owned(),
            TypeKind::List(t) => format!("list<{}>", self.display_type(t)),
            TypeKind::Map(k, v) => format!("map<{}, {}>", self.display_type(k), self.display_type(v)),
            TypeKind::Optional(t) => format!("{}?", self.display_type(t)),
            TypeKind::Named(id) => self.ty(*id).name.clone(),
            TypeKind::Unresolved => "{unknown}".to_owned(),
        }
    }

    /// The model as JSON without spans: what two models are compared by when only their
    /// meaning matters (the formatter round trip, the two front ends).
    #[must_use]
    pub fn to_json_without_spans(&self) -> serde_json::Value {
        fn strip(value: &mut serde_json::Value) {
            match value {
                serde_json::Value::Object(map) => {
                    map.retain(|key, _| key != "span" && !key.ends_with("_span"));
                    map.values_mut().for_each(strip);
                }
                serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
                _ => {}
            }
        }
        let mut value = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        if let serde_json::Value::Object(map) = &mut value {
            map.remove("files");
        }
        strip(&mut value);
        value
    }
}

impl Method {
    /// The names of the parameters that travel in the REST path (`{id}` in `/products/{id}`).
    #[must_use]
    pub fn path_params(&self, service: &Service) -> Vec<String> {
        path_param_names(&self.route(service).1)
    }

    /// The HTTP verb and path this method is served at: the `@http` mapping, or the default
    /// `POST /{service_snake}/{method}`.
    #[must_use]
    pub fn route(&self, service: &Service) -> (HttpMethod, String) {
        match &self.http {
            Some(route) => (route.method, route.path.clone()),
            None => (HttpMethod::Post, format!("/{}/{}", snake_case(&service.name), self.name)),
        }
    }
}

/// The HTTP status of a domain error declared without `@status`.
pub const DEFAULT_ERROR_STATUS: u16 = 400;

impl Model {
    /// The HTTP status of a declared error: its `@status`, else [`DEFAULT_ERROR_STATUS`]
    /// (also for a type that is not an error, which `check` never lets be thrown).
    #[must_use]
    pub fn error_status(&self, id: TypeId) -> u16 {
        match &self.ty(id).kind {
            TypeDefKind::Error { status: Some(status), .. } => *status,
            _ => DEFAULT_ERROR_STATUS,
        }
    }

    /// The RFC 9457 problem `type` of a declared error: `urn:svcgen:error:{package}.{Error}`.
    #[must_use]
    pub fn error_type_uri(&self, id: TypeId) -> String {
        format!("urn:svcgen:error:{}", self.qualified_name(id))
    }

    /// The names of the error enums generated for the methods that throw, by service and
    /// method index: `GetProductError`, or `CatalogGetProductError` when another service of
    /// the package has a throwing method of the same name. Computed once, in linear time.
    #[must_use]
    pub fn method_error_names(&self) -> ItemNames {
        let rust = |name: &str| upper_camel(&snake_case(name));
        self.qualified_names(|service| {
            service
                .methods
                .iter()
                .map(|m| (!m.throws.is_empty()).then(|| format!("{}Error", rust(&m.name))))
                .collect()
        })
    }

    /// The names of the structs generated for events, by service and event index:
    /// `ProductCreated`, or `CatalogProductCreated` when another service of the package has
    /// an event of the same name.
    #[must_use]
    pub fn event_struct_names(&self) -> ItemNames {
        let rust = |name: &str| upper_camel(&snake_case(name));
        self.qualified_names(|service| service.events.iter().map(|e| Some(rust(&e.name))).collect())
    }

    /// The short names `short` gives each item of each service, prefixed with the service's
    /// name where another service of the package gives an item the same short name.
    fn qualified_names(&self, short: impl Fn(&Service) -> Vec<Option<String>>) -> ItemNames {
        let rust = |name: &str| upper_camel(&snake_case(name));
        // Per package and short name: how many services use it.
        let mut users: std::collections::HashMap<(PackageId, String), usize> =
            std::collections::HashMap::new();
        let mut shorts: Vec<Vec<Option<String>>> = Vec::with_capacity(self.services.len());
        for service in &self.services {
            let mut seen = std::collections::HashSet::new();
            let names = short(service);
            for name in names.iter().flatten() {
                if seen.insert(name.clone()) {
                    *users.entry((service.package, name.clone())).or_default() += 1;
                }
            }
            shorts.push(names);
        }
        let names = self
            .services
            .iter()
            .zip(shorts)
            .map(|(service, names)| {
                names
                    .into_iter()
                    .map(|short| {
                        short.map(|short| {
                            if users.get(&(service.package, short.clone())).copied().unwrap_or(0) > 1 {
                                format!("{}{short}", rust(&service.name))
                            } else {
                                short
                            }
                        })
                    })
                    .collect()
            })
            .collect();
        ItemNames(names)
    }
}

/// Names generated for the items of services, by service and item index: the error enums of
/// throwing methods ([`Model::method_error_names`]), the structs of events
/// ([`Model::event_struct_names`]).
#[derive(Clone, Debug, Default)]
pub struct ItemNames(Vec<Vec<Option<String>>>);

impl ItemNames {
    /// The name for item `index` (a method's or an event's) of service `service`; `None` if it
    /// has none (a method that throws nothing).
    #[must_use]
    pub fn get(&self, service: ServiceId, index: usize) -> Option<&str> {
        self.0.get(service.0 as usize)?.get(index)?.as_deref()
    }
}

impl Service {
    /// The service's name in routes, subjects and JSON-RPC method names: `Catalog` → `catalog`.
    #[must_use]
    pub fn wire_name(&self) -> String {
        snake_case(&self.name)
    }
}

/// Where each method and event of a service is reached on each binding: the one place these
/// names are made, so generated code, documents and runtimes agree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Addresses {
    /// REST: `GET /products/{id}` (the `@http` mapping or `POST /{service}/{method}`).
    pub rest: Option<(HttpMethod, String)>,
    /// RPC: `shop.catalog.Catalog/get_product`.
    pub rpc: String,
    /// Queue: the subject requests (or events) are sent on, `shop.catalog.catalog.get_product`.
    pub subject: String,
    /// Socket: the JSON-RPC method (or notification) name, `catalog.get_product`.
    pub jsonrpc: String,
}

impl Model {
    /// The queue subject a service's methods and events extend: `shop.catalog.catalog`.
    #[must_use]
    pub fn service_subject(&self, service: &Service) -> String {
        format!("{}.{}", self.package(service.package).name, service.wire_name())
    }

    /// The addresses of a method.
    #[must_use]
    pub fn method_addresses(&self, service: &Service, method: &Method) -> Addresses {
        let package = &self.package(service.package).name;
        Addresses {
            rest: Some(method.route(service)),
            rpc: format!("{package}.{}/{}", service.name, method.name),
            subject: format!("{}.{}", self.service_subject(service), method.name),
            jsonrpc: format!("{}.{}", service.wire_name(), method.name),
        }
    }

    /// The addresses of an event (no REST or RPC address: events travel on the queue and socket).
    #[must_use]
    pub fn event_addresses(&self, service: &Service, event: &Event) -> Addresses {
        let package = &self.package(service.package).name;
        Addresses {
            rest: None,
            rpc: format!("{package}.{}/{}", service.name, event.name),
            subject: format!("{}.{}", self.service_subject(service), event.name),
            jsonrpc: format!("{}.{}", service.wire_name(), event.name),
        }
    }
}

/// `order_history` → `OrderHistory`, `EUR` → `EUR` (only underscores are removed and the
/// letter after each capitalised): apply to [`snake_case`]'s output for Rust type names.
#[must_use]
pub fn upper_camel(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// `OrderHistory` → `order_history`; already snake names stay as they are.
#[must_use]
pub fn snake_case(name: &str) -> String {
    // Most names are already snake case: no work, one allocation.
    if !name.bytes().any(|b| b.is_ascii_uppercase()) {
        return name.to_owned();
    }
    let mut out = String::with_capacity(name.len() + 4);
    let chars: Vec<char> = name.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev_lower = i > 0 && (chars[i - 1].is_ascii_lowercase() || chars[i - 1].is_ascii_digit());
            let next_lower = chars.get(i + 1).is_some_and(char::is_ascii_lowercase);
            let prev_upper = i > 0 && chars[i - 1].is_ascii_uppercase();
            if i > 0 && (prev_lower || (prev_upper && next_lower)) && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(*c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_matches_heck_conventions() {
        assert_eq!(snake_case("Catalog"), "catalog");
        assert_eq!(snake_case("OrderHistory"), "order_history");
        assert_eq!(snake_case("HTTPProxy"), "http_proxy");
        assert_eq!(snake_case("already_snake"), "already_snake");
        assert_eq!(snake_case("V2Api"), "v2_api");
    }

    #[test]
    fn path_templates() {
        assert_eq!(
            parse_path_template("/products/{id}/tags").expect("valid"),
            vec![
                Segment::Literal("/products/".into()),
                Segment::Param("id".into()),
                Segment::Literal("/tags".into())
            ]
        );
        assert!(parse_path_template("/products/{id").is_err());
        assert!(parse_path_template("/products/{}").is_err());
        assert!(parse_path_template("/a}").is_err());
    }
}
