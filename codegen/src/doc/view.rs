//! The view model of the API reference: plain data the templates read.
//!
//! [`site`] lowers the [`Model`] once into one [`PackageView`] per package. Everything a page
//! shows is decided here — type references split into linkable parts, presence, defaults as
//! IDL text, constraints, where each parameter travels over REST, the status of each error,
//! the address of each method and event on each binding — so the HTML and the Markdown
//! templates only lay it out, and cannot disagree.

use std::collections::{BTreeSet, HashMap};

use svcgen_idl::Model;
use svcgen_idl::model::{
    Bounds, Constraints, Docs, Event, Field, Method, Number, PackageId, Returns, Service, Type, TypeDefKind,
    TypeId, TypeKind, Value, ValueNode, path_param_names,
};

/// The file name (without extension) of the index page.
pub const INDEX_PAGE: &str = "index";

/// The whole reference: every package of the model, in the order first seen.
pub struct Site {
    /// One per package.
    pub packages: Vec<PackageView>,
}

/// One package: one page.
pub struct PackageView {
    /// Dotted name, `shop.catalog`.
    pub name: String,
    /// The page's file name without extension, `shop.catalog`.
    pub page: String,
    /// The package's docs.
    pub docs: DocsView,
    /// Other packages whose types this one uses.
    pub uses: Vec<PageLink>,
    /// Its services, in declaration order.
    pub services: Vec<ServiceView>,
    /// Its types, in declaration order.
    pub types: Vec<TypeView>,
}

/// A link to another package's page.
pub struct PageLink {
    /// The package name.
    pub name: String,
    /// Its page's file name without extension.
    pub page: String,
}

/// Where a link goes: an anchor, on this page or on another package's page.
pub struct Link {
    /// The other page's file name without extension; `None` for this page.
    pub page: Option<String>,
    /// The anchor (an element id).
    pub anchor: String,
}

impl Link {
    /// The `href` in a document whose pages end in `.{ext}`: `#type.Money` or
    /// `shop.money.html#type.Money`.
    pub fn href(&self, ext: &str) -> String {
        match &self.page {
            Some(page) => format!("{page}.{ext}#{}", self.anchor),
            None => format!("#{}", self.anchor),
        }
    }
}

/// A piece of text, linked or not: a piece of a type, of a signature, a name.
pub struct Part {
    /// The text shown.
    pub text: String,
    /// Where it links to.
    pub link: Option<Link>,
}

/// A type in use, as IDL text cut into parts so that declared types link to their definition:
/// `list<` `Product` `>`.
pub struct TypeRef {
    /// The parts, adjacent plain text merged.
    pub parts: Vec<Part>,
}

/// Documentation lines.
pub struct DocsView {
    /// The lines as written (Markdown keeps them).
    pub lines: Vec<String>,
    /// The lines grouped into paragraphs at blank lines, each paragraph's lines joined by `\n`.
    pub paragraphs: Vec<String>,
}

impl DocsView {
    /// No documentation.
    pub fn is_empty(&self) -> bool {
        self.paragraphs.is_empty()
    }

    /// The first paragraph on one line (for tables of contents and the index).
    pub fn summary(&self) -> String {
        self.paragraphs
            .first()
            .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    }
}

/// A struct, error or event field, or a method parameter.
pub struct FieldView {
    /// Its name.
    pub name: String,
    /// Its type.
    pub ty: TypeRef,
    /// `T?` (also through an alias): may be absent.
    pub optional: bool,
    /// The default value, as IDL text.
    pub default: Option<String>,
    /// `@length`, `@range`, `@pattern`.
    pub constraints: Vec<ConstraintView>,
    /// Documentation.
    pub docs: DocsView,
    /// `@deprecated`: the reason, possibly empty.
    pub deprecated: Option<String>,
    /// For a method parameter: where it travels over REST, `path`, `query` or `body`.
    pub rest: Option<&'static str>,
}

/// One constraint, as text.
pub struct ConstraintView {
    /// `length`, `range` or `pattern`.
    pub name: &'static str,
    /// `min 1, max 200 characters`, or the pattern.
    pub text: String,
    /// Show the text as code (a pattern).
    pub code: bool,
}

/// A service.
pub struct ServiceView {
    /// Its name.
    pub name: String,
    /// Its anchor, `service.Catalog`.
    pub anchor: String,
    /// Documentation.
    pub docs: DocsView,
    /// `@deprecated`: the reason, possibly empty.
    pub deprecated: Option<String>,
    /// Its methods.
    pub methods: Vec<MethodView>,
    /// Its events.
    pub events: Vec<EventView>,
}

/// A method.
pub struct MethodView {
    /// Its name.
    pub name: String,
    /// Its anchor, `method.Catalog.get_product`.
    pub anchor: String,
    /// `fn get_product(id: ProductId) -> Product throws NotFound`, types linked.
    pub signature: Vec<Part>,
    /// Documentation.
    pub docs: DocsView,
    /// `@deprecated`: the reason, possibly empty.
    pub deprecated: Option<String>,
    /// Its parameters.
    pub params: Vec<FieldView>,
    /// What it returns (each item of the stream, for a streaming method).
    pub returns: Option<TypeRef>,
    /// `-> stream T`.
    pub stream: bool,
    /// `@oneway`.
    pub oneway: bool,
    /// The REST success response (`docs/rest.md`, "Responses").
    pub success: &'static str,
    /// The errors it throws.
    pub errors: Vec<ThrowView>,
    /// Where it is reached on each binding.
    pub addresses: AddressesView,
}

impl MethodView {
    /// The signature as plain text.
    pub fn signature_text(&self) -> String {
        self.signature.iter().map(|p| p.text.as_str()).collect()
    }
}

/// An error a method throws.
pub struct ThrowView {
    /// The error type, linked.
    pub error: Part,
    /// Its HTTP status.
    pub status: u16,
    /// The status is the default (no `@status`).
    pub default_status: bool,
    /// The first paragraph of the error's docs.
    pub summary: String,
}

/// Where a method or event is reached on each binding (from `Model::method_addresses` and
/// `Model::event_addresses`).
pub struct AddressesView {
    /// REST: `GET /products/{id}`; `None` for events.
    pub rest: Option<String>,
    /// RPC method name; `None` for events.
    pub rpc: Option<String>,
    /// Queue subject.
    pub subject: String,
    /// JSON-RPC method (or, for events, notification) name on the socket.
    pub jsonrpc: String,
}

/// An event.
pub struct EventView {
    /// Its name.
    pub name: String,
    /// Its anchor, `event.Catalog.product_created`.
    pub anchor: String,
    /// Documentation.
    pub docs: DocsView,
    /// `@deprecated`: the reason, possibly empty.
    pub deprecated: Option<String>,
    /// Its fields.
    pub fields: Vec<FieldView>,
    /// `@hydrate(method)`: the method, linked.
    pub hydrate: Option<Part>,
    /// Where it is published.
    pub addresses: AddressesView,
}

/// A declared type.
pub struct TypeView {
    /// Its name.
    pub name: String,
    /// Its anchor, `type.Product`.
    pub anchor: String,
    /// `struct`, `error`, `enum`, `union` or `type`.
    pub keyword: &'static str,
    /// Documentation.
    pub docs: DocsView,
    /// `@deprecated`: the reason, possibly empty.
    pub deprecated: Option<String>,
    /// What it holds.
    pub body: TypeBody,
    /// For an error: the methods that throw it, linked.
    pub thrown_by: Vec<Part>,
}

/// What a declared type holds, by kind.
pub enum TypeBody {
    /// A struct's fields.
    Struct(Vec<FieldView>),
    /// An error's HTTP status and fields.
    Error {
        /// Its HTTP status.
        status: u16,
        /// The status is the default (no `@status`).
        default_status: bool,
        /// Its fields.
        fields: Vec<FieldView>,
    },
    /// An enum's variants.
    Enum(Vec<VariantView>),
    /// A union's cases.
    Union(Vec<CaseView>),
    /// What an alias stands for.
    Alias(TypeRef),
}

/// An enum variant.
pub struct VariantView {
    /// Its name.
    pub name: String,
    /// Documentation.
    pub docs: DocsView,
    /// `@deprecated`: the reason, possibly empty.
    pub deprecated: Option<String>,
}

/// A union case.
pub struct CaseView {
    /// Its name (the tag).
    pub name: String,
    /// Its payload.
    pub ty: TypeRef,
    /// Documentation.
    pub docs: DocsView,
    /// `@deprecated`: the reason, possibly empty.
    pub deprecated: Option<String>,
}

/// The anchor of a declared type.
pub fn type_anchor(name: &str) -> String {
    format!("type.{name}")
}

/// The anchor of a service.
pub fn service_anchor(service: &str) -> String {
    format!("service.{service}")
}

/// The anchor of a method.
pub fn method_anchor(service: &str, method: &str) -> String {
    format!("method.{service}.{method}")
}

/// The anchor of an event.
pub fn event_anchor(service: &str, event: &str) -> String {
    format!("event.{service}.{event}")
}

/// The page (file name without extension) of each package: its dotted name, except that a
/// package named like the index page gets `index-package` (`-` is in no package name).
fn page_names(model: &Model) -> Vec<String> {
    model
        .packages
        .iter()
        .map(|p| if p.name == INDEX_PAGE { format!("{INDEX_PAGE}-package") } else { p.name.clone() })
        .collect()
}

/// Lowers the model into the view of every page.
pub fn site(model: &Model) -> Site {
    let pages = page_names(model);
    let mut thrown_by: HashMap<TypeId, Vec<(&Service, &Method)>> = HashMap::new();
    for service in &model.services {
        for method in &service.methods {
            for throw in &method.throws {
                thrown_by.entry(throw.error).or_default().push((service, method));
            }
        }
    }
    let packages = (0..model.packages.len())
        .map(|index| {
            let id = PackageId(u32::try_from(index).unwrap_or(u32::MAX));
            Lowerer { model, pages: &pages, package: id, uses: BTreeSet::new(), thrown_by: &thrown_by }
                .lower_package()
        })
        .collect();
    Site { packages }
}

/// Lowers one package; links are relative to its page.
struct Lowerer<'m> {
    model: &'m Model,
    pages: &'m [String],
    package: PackageId,
    /// Other packages whose types were referred to.
    uses: BTreeSet<PackageId>,
    thrown_by: &'m HashMap<TypeId, Vec<(&'m Service, &'m Method)>>,
}

impl Lowerer<'_> {
    fn lower_package(mut self) -> PackageView {
        let model = self.model;
        let package = model.package(self.package);
        let services =
            package.services.iter().map(|id| self.lower_service(&model.services[id.0 as usize])).collect();
        let types = package.types.iter().map(|id| self.lower_type(*id)).collect();
        let uses = self
            .uses
            .iter()
            .map(|id| PageLink { name: model.package(*id).name.clone(), page: self.page(*id) })
            .collect();
        PackageView {
            name: package.name.clone(),
            page: self.page(self.package),
            docs: docs(&package.docs),
            uses,
            services,
            types,
        }
    }

    fn page(&self, package: PackageId) -> String {
        self.pages.get(package.0 as usize).cloned().unwrap_or_default()
    }

    /// A link to an anchor on the page of `package`.
    fn link(&self, package: PackageId, anchor: String) -> Link {
        Link { page: (package != self.package).then(|| self.page(package)), anchor }
    }

    fn lower_service(&mut self, service: &Service) -> ServiceView {
        ServiceView {
            name: service.name.clone(),
            anchor: service_anchor(&service.name),
            docs: docs(&service.docs),
            deprecated: service.deprecated.clone(),
            methods: service.methods.iter().map(|m| self.lower_method(service, m)).collect(),
            events: service.events.iter().map(|e| self.lower_event(service, e)).collect(),
        }
    }

    fn lower_method(&mut self, service: &Service, method: &Method) -> MethodView {
        let addresses = self.model.method_addresses(service, method);
        let (path_params, in_query) = match &addresses.rest {
            Some((verb, path)) => {
                let params = path_param_names(path);
                (params, verb.params_in_query())
            }
            None => (Vec::new(), false),
        };
        let params = method
            .params
            .iter()
            .map(|p| {
                let rest = if path_params.contains(&p.name) {
                    "path"
                } else if in_query {
                    "query"
                } else {
                    "body"
                };
                FieldView { rest: Some(rest), ..self.lower_field(p) }
            })
            .collect();
        let (returns, stream) = match &method.returns {
            Returns::Nothing => (None, false),
            Returns::Unary(ty) => (Some(self.type_ref(ty)), false),
            Returns::Stream(ty) => (Some(self.type_ref(ty)), true),
        };
        let success = if method.oneway {
            "202 Accepted"
        } else {
            match &method.returns {
                Returns::Nothing => "204 No Content",
                Returns::Unary(_) => "200 OK, application/json",
                Returns::Stream(_) => "200 OK, text/event-stream",
            }
        };
        let errors = method
            .throws
            .iter()
            .map(|throw| {
                let def = self.model.ty(throw.error);
                let status = match &def.kind {
                    TypeDefKind::Error { status, .. } => *status,
                    _ => None,
                };
                ThrowView {
                    error: self.type_part(throw.error),
                    status: status.unwrap_or(svcgen_idl::model::DEFAULT_ERROR_STATUS),
                    default_status: status.is_none(),
                    summary: docs(&def.docs).summary(),
                }
            })
            .collect();
        MethodView {
            name: method.name.clone(),
            anchor: method_anchor(&service.name, &method.name),
            signature: self.signature(method),
            docs: docs(&method.docs),
            deprecated: method.deprecated.clone(),
            params,
            returns,
            stream,
            oneway: method.oneway,
            success,
            errors,
            addresses: AddressesView {
                rest: addresses.rest.map(|(verb, path)| format!("{} {path}", verb.as_str())),
                rpc: Some(addresses.rpc),
                subject: addresses.subject,
                jsonrpc: addresses.jsonrpc,
            },
        }
    }

    /// `fn name(a: T, b: U) -> R throws E, F`, types linked.
    fn signature(&mut self, method: &Method) -> Vec<Part> {
        let mut parts = Vec::new();
        push_text(&mut parts, &format!("fn {}(", method.name));
        for (i, param) in method.params.iter().enumerate() {
            if i > 0 {
                push_text(&mut parts, ", ");
            }
            push_text(&mut parts, &format!("{}: ", param.name));
            self.push_type(&param.ty, &mut parts);
        }
        push_text(&mut parts, ")");
        match &method.returns {
            Returns::Nothing => {}
            Returns::Unary(ty) => {
                push_text(&mut parts, " -> ");
                self.push_type(ty, &mut parts);
            }
            Returns::Stream(ty) => {
                push_text(&mut parts, " -> stream ");
                self.push_type(ty, &mut parts);
            }
        }
        for (i, throw) in method.throws.iter().enumerate() {
            push_text(&mut parts, if i == 0 { " throws " } else { ", " });
            let part = self.type_part(throw.error);
            parts.push(part);
        }
        parts
    }

    fn lower_event(&mut self, service: &Service, event: &Event) -> EventView {
        let addresses = self.model.event_addresses(service, event);
        let hydrate = event.hydrate.as_ref().map(|h| Part {
            text: h.method.clone(),
            link: Some(Link { page: None, anchor: method_anchor(&service.name, &h.method) }),
        });
        EventView {
            name: event.name.clone(),
            anchor: event_anchor(&service.name, &event.name),
            docs: docs(&event.docs),
            deprecated: event.deprecated.clone(),
            fields: event.fields.iter().map(|f| self.lower_field(f)).collect(),
            hydrate,
            // Events travel on the queue and the socket only (see `Model::event_addresses`).
            addresses: AddressesView {
                rest: None,
                rpc: None,
                subject: addresses.subject,
                jsonrpc: addresses.jsonrpc,
            },
        }
    }

    fn lower_type(&mut self, id: TypeId) -> TypeView {
        let model = self.model;
        let def = model.ty(id);
        let body = match &def.kind {
            TypeDefKind::Struct { fields } => {
                TypeBody::Struct(fields.iter().map(|f| self.lower_field(f)).collect())
            }
            TypeDefKind::Error { status, fields } => TypeBody::Error {
                status: status.unwrap_or(svcgen_idl::model::DEFAULT_ERROR_STATUS),
                default_status: status.is_none(),
                fields: fields.iter().map(|f| self.lower_field(f)).collect(),
            },
            TypeDefKind::Enum { variants } => TypeBody::Enum(
                variants
                    .iter()
                    .map(|v| VariantView {
                        name: v.name.clone(),
                        docs: docs(&v.docs),
                        deprecated: v.deprecated.clone(),
                    })
                    .collect(),
            ),
            TypeDefKind::Union { cases } => TypeBody::Union(
                cases
                    .iter()
                    .map(|c| CaseView {
                        name: c.name.clone(),
                        ty: self.type_ref(&c.ty),
                        docs: docs(&c.docs),
                        deprecated: c.deprecated.clone(),
                    })
                    .collect(),
            ),
            TypeDefKind::Alias { target } => TypeBody::Alias(self.type_ref(target)),
        };
        let thrown_by = self
            .thrown_by
            .get(&id)
            .map(|methods| {
                methods
                    .iter()
                    .map(|(service, method)| Part {
                        text: format!("{}.{}", service.name, method.name),
                        link: Some(self.link(service.package, method_anchor(&service.name, &method.name))),
                    })
                    .collect()
            })
            .unwrap_or_default();
        TypeView {
            name: def.name.clone(),
            anchor: type_anchor(&def.name),
            keyword: def.kind.keyword(),
            docs: docs(&def.docs),
            deprecated: def.deprecated.clone(),
            body,
            thrown_by,
        }
    }

    fn lower_field(&mut self, field: &Field) -> FieldView {
        FieldView {
            name: field.name.clone(),
            ty: self.type_ref(&field.ty),
            optional: matches!(self.model.resolve(&field.ty).kind, TypeKind::Optional(_)),
            default: field.default.as_ref().map(value_text),
            constraints: self.constraints(&field.constraints, &field.ty),
            docs: docs(&field.docs),
            deprecated: field.deprecated.clone(),
            rest: None,
        }
    }

    fn constraints(&self, constraints: &Constraints, ty: &Type) -> Vec<ConstraintView> {
        let mut out = Vec::new();
        if let Some(bounds) = &constraints.length {
            let unit = self.length_unit(ty);
            out.push(ConstraintView {
                name: "length",
                text: format!("{} {unit}", bounds_text(bounds)),
                code: false,
            });
        }
        if let Some(bounds) = &constraints.range {
            out.push(ConstraintView { name: "range", text: bounds_text(bounds), code: false });
        }
        if let Some(pattern) = &constraints.pattern {
            out.push(ConstraintView { name: "pattern", text: pattern.clone(), code: true });
        }
        out
    }

    /// What `@length` counts for a type (`Constraints::length`).
    fn length_unit(&self, ty: &Type) -> &'static str {
        let mut ty = self.model.resolve(ty);
        if let TypeKind::Optional(inner) = &ty.kind {
            ty = self.model.resolve(inner);
        }
        match &ty.kind {
            TypeKind::Scalar(svcgen_idl::model::Scalar::Bytes) => "bytes",
            TypeKind::List(_) | TypeKind::Map(..) => "items",
            _ => "characters",
        }
    }

    fn type_ref(&mut self, ty: &Type) -> TypeRef {
        let mut parts = Vec::new();
        self.push_type(ty, &mut parts);
        TypeRef { parts }
    }

    /// A declared type's name, linked to its definition; qualified when it is another
    /// package's (two packages may declare the same name).
    fn type_part(&mut self, id: TypeId) -> Part {
        let def = self.model.ty(id);
        let text = if def.package == self.package {
            def.name.clone()
        } else {
            self.uses.insert(def.package);
            self.model.qualified_name(id)
        };
        Part { text, link: Some(self.link(def.package, type_anchor(&def.name))) }
    }

    fn push_type(&mut self, ty: &Type, parts: &mut Vec<Part>) {
        match &ty.kind {
            TypeKind::Scalar(scalar) => push_text(parts, scalar.name()),
            TypeKind::List(item) => {
                push_text(parts, "list<");
                self.push_type(item, parts);
                push_text(parts, ">");
            }
            TypeKind::Map(key, value) => {
                push_text(parts, "map<");
                self.push_type(key, parts);
                push_text(parts, ", ");
                self.push_type(value, parts);
                push_text(parts, ">");
            }
            TypeKind::Optional(inner) => {
                self.push_type(inner, parts);
                push_text(parts, "?");
            }
            TypeKind::Named(id) => {
                let part = self.type_part(*id);
                parts.push(part);
            }
            TypeKind::Unresolved => push_text(parts, "{unknown}"),
        }
    }
}

/// Appends plain text, merged into the last part when that is plain text too.
fn push_text(parts: &mut Vec<Part>, text: &str) {
    match parts.last_mut() {
        Some(Part { text: last, link: None }) => last.push_str(text),
        _ => parts.push(Part { text: text.to_owned(), link: None }),
    }
}

fn docs(lines: &Docs) -> DocsView {
    let blank = |line: &String| line.trim().is_empty();
    let start = lines.iter().position(|l| !blank(l)).unwrap_or(lines.len());
    let end = lines.iter().rposition(|l| !blank(l)).map_or(start, |i| i + 1);
    let lines = &lines[start..end];
    let mut paragraphs = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    for line in lines {
        if line.trim().is_empty() {
            if !current.is_empty() {
                paragraphs.push(current.join("\n"));
                current.clear();
            }
        } else {
            current.push(line);
        }
    }
    if !current.is_empty() {
        paragraphs.push(current.join("\n"));
    }
    DocsView { lines: lines.to_vec(), paragraphs }
}

fn number_text(n: Number) -> String {
    match n {
        Number::Int(i) => i.to_string(),
        Number::Float(f) => format!("{f:?}"),
    }
}

/// `min 1, max 200`.
fn bounds_text(bounds: &Bounds) -> String {
    let min = bounds.min.map(|n| format!("min {}", number_text(n)));
    let max = bounds.max.map(|n| format!("max {}", number_text(n)));
    min.into_iter().chain(max).collect::<Vec<_>>().join(", ")
}

/// A value as IDL text: `50`, `"30s"`, `NEWEST`, `[1, 2]`, `{"a": 1}`.
fn value_text(node: &ValueNode) -> String {
    match &node.value {
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number_text(*n),
        Value::String(s) => format!("{s:?}"),
        Value::Null => "null".to_owned(),
        Value::List(items) => format!("[{}]", items.iter().map(value_text).collect::<Vec<_>>().join(", ")),
        Value::Map(entries) => format!(
            "{{{}}}",
            entries
                .iter()
                .map(|(k, v)| format!("{}: {}", value_text(k), value_text(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Name(name) => name.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docs_are_split_into_paragraphs() {
        let view = docs(&vec!["One".to_owned(), "two.".to_owned(), String::new(), "Three.".to_owned()]);
        assert_eq!(view.paragraphs, ["One\ntwo.", "Three."]);
        assert_eq!(view.summary(), "One two.");
    }

    #[test]
    fn bounds_read_as_words() {
        let bounds = Bounds { min: Some(Number::Int(1)), max: Some(Number::Float(2.5)) };
        assert_eq!(bounds_text(&bounds), "min 1, max 2.5");
        assert_eq!(bounds_text(&Bounds { min: None, max: Some(Number::Int(20)) }), "max 20");
    }
}
