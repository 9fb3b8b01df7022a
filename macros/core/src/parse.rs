//! `parse_*`: the item under `#[service]` → the IDL's syntax tree ([`ast::File`]), every
//! token's span recorded in the [`SpanTable`].
//!
//! This is all the macro front end does itself: turning Rust syntax into what a `.svc` file
//! says. Name resolution, attribute rules and every check are the IDL's own (`lower`, `check`).
//! What only Rust can get wrong (a reference, a tuple struct, `&mut self`) is reported here, and
//! the piece is kept with an unresolved type, so the IDL's checks still run on the rest.

use proc_macro2::{Span as TokenSpan, TokenStream};
use quote::ToTokens;
use svcgen_idl::ast;
use svcgen_idl::model::snake_case;
use syn::ext::IdentExt as _;

use crate::attr::{self, Read};
use crate::spans::SpanTable;

/// What parsing collects: the span table and the errors only the macro can find.
#[derive(Debug, Default)]
pub struct Cx {
    /// The spans behind the syntax tree.
    pub spans: SpanTable,
    /// Errors found while reading Rust syntax.
    pub errors: Vec<syn::Error>,
}

impl Cx {
    /// A new context.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Reports an error over `tokens`.
    pub fn error(&mut self, tokens: &impl ToTokens, message: impl std::fmt::Display) {
        self.errors.push(syn::Error::new_spanned(tokens, message));
    }

    fn ident(&mut self, ident: &syn::Ident) -> ast::Ident {
        ast::Ident { name: ident.unraw().to_string(), span: self.spans.at(ident.span()) }
    }
}

/// The shape the attribute was put on.
pub enum Shape {
    /// `mod name { ... }`: its attributes, visibility and name, and the items that are not
    /// declarations (kept as written).
    Module {
        /// The module's attributes (docs included).
        attrs: Vec<syn::Attribute>,
        /// Its visibility.
        vis: syn::Visibility,
        /// Its name.
        ident: syn::Ident,
        /// Items that are not svcgen declarations: `use`, `impl`, `fn`, ... kept as written.
        other: Vec<syn::Item>,
    },
    /// A bare trait.
    Trait,
}

/// The item under the attribute, read.
pub struct Input {
    /// What a `.svc` file would say.
    pub file: ast::File,
    /// The shape written.
    pub shape: Shape,
    /// The names of the declared types and services (for the skeleton).
    pub names: Vec<(syn::Ident, bool)>,
}

/// The `package = "a.b"` argument of `#[service(...)]`.
pub fn parse_package(args: TokenStream, cx: &mut Cx) -> Option<syn::LitStr> {
    let mut package = None;
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("package") {
            let lit: syn::LitStr = meta.value()?.parse()?;
            let text = lit.value();
            let valid = !text.is_empty()
                && text.split('.').all(|part| {
                    part.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                        && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                });
            if !valid {
                return Err(syn::Error::new(
                    lit.span(),
                    "a package is names joined by dots, like \"shop.catalog\"",
                ));
            }
            package = Some(lit);
            Ok(())
        } else {
            Err(meta.error("unknown argument: `#[service]` takes `package = \"a.b\"`"))
        }
    });
    if let Err(e) = syn::parse::Parser::parse2(parser, args) {
        cx.errors.push(e);
        return None;
    }
    if package.is_none() && cx.errors.is_empty() {
        cx.errors.push(syn::Error::new(
            TokenSpan::call_site(),
            "`#[service]` needs a package: `#[svcgen::service(package = \"shop.catalog\")]`",
        ));
    }
    package
}

/// Reads a module or a trait into the IDL's syntax tree.
pub fn parse_input(item: syn::Item, package: Option<&syn::LitStr>, cx: &mut Cx) -> Option<Input> {
    let (package_name, package_span) = match package {
        Some(lit) => (lit.value(), lit.span()),
        None => ("service".to_owned(), TokenSpan::call_site()),
    };
    let span = cx.spans.at(package_span);
    let segments = package_name.split('.').map(|s| ast::Ident { name: s.to_owned(), span }).collect();
    let mut package =
        ast::PackageDecl { prefix: ast::Prefix::default(), name: ast::Path { segments, span }, span };
    let mut items = Vec::new();
    let mut names = Vec::new();
    let shape = match item {
        syn::Item::Mod(module) => {
            let Some((_, content)) = module.content else {
                cx.error(&module, "`#[service]` goes on an inline module, `mod name { ... }`, or on a trait");
                return None;
            };
            package.prefix.docs = attr::read(
                &module.attrs.iter().filter(|a| a.path().is_ident("doc")).cloned().collect::<Vec<_>>(),
                cx,
            )
            .prefix
            .docs;
            let mut other = Vec::new();
            for item in content {
                match item {
                    syn::Item::Struct(s) => {
                        names.push((s.ident.clone(), false));
                        items.push(parse_struct(&s, cx));
                    }
                    syn::Item::Enum(e) => {
                        names.push((e.ident.clone(), false));
                        items.push(parse_enum(&e, cx));
                    }
                    syn::Item::Type(t) => {
                        names.push((t.ident.clone(), false));
                        items.push(parse_alias(&t, cx));
                    }
                    syn::Item::Trait(t) => {
                        names.push((t.ident.clone(), true));
                        items.push(parse_trait(&t, cx));
                    }
                    other_item => other.push(other_item),
                }
            }
            Shape::Module { attrs: module.attrs, vis: module.vis, ident: module.ident, other }
        }
        syn::Item::Trait(t) => {
            names.push((t.ident.clone(), true));
            items.push(parse_trait(&t, cx));
            Shape::Trait
        }
        other => {
            cx.error(&other, "`#[service]` goes on a trait or on an inline module, `mod name { ... }`");
            return None;
        }
    };
    Some(Input { file: ast::File { package, imports: Vec::new(), items }, shape, names })
}

/// `#[event]` and `#[default]` only go where they mean something.
fn refuse_extras(read: &Read, what: &str, allow_error: bool, cx: &mut Cx) {
    if let Some(span) = read.event {
        cx.errors.push(syn::Error::new(
            span,
            format!("`#[event]` cannot be used on {what}: it marks a `fn` of the service trait"),
        ));
    }
    if !allow_error && let Some(span) = read.error {
        cx.errors
            .push(syn::Error::new(span, format!("`#[error]` cannot be used on {what}: it marks a struct")));
    }
    if let Some(value) = &read.default {
        let error = cx.spans.error(
            value.span,
            format!("`#[default]` cannot be used on {what}: it goes on fields and parameters"),
        );
        cx.errors.push(error);
    }
}

fn refuse_generics(generics: &syn::Generics, cx: &mut Cx) {
    if !generics.params.is_empty() || generics.where_clause.is_some() {
        cx.error(generics, "svcgen declarations cannot be generic");
    }
}

fn parse_struct(s: &syn::ItemStruct, cx: &mut Cx) -> ast::Item {
    let read = attr::read(&s.attrs, cx);
    refuse_extras(&read, "a struct", true, cx);
    refuse_generics(&s.generics, cx);
    let name = cx.ident(&s.ident);
    let block = match &s.fields {
        syn::Fields::Named(named) => {
            let (open, close) = delimiters(&named.brace_token.span, cx);
            let members = named
                .named
                .iter()
                .filter_map(|f| {
                    let ident = f.ident.as_ref()?;
                    Some(parse_field(&f.attrs, ident, &f.ty, f, cx))
                })
                .collect();
            ast::Block { members, open, close }
        }
        syn::Fields::Unnamed(unnamed) => {
            cx.error(unnamed, "svcgen structs have named fields: `struct Name { field: T }`");
            empty_block(s.ident.span(), cx)
        }
        syn::Fields::Unit => empty_block(s.ident.span(), cx),
    };
    let kind = if read.error.is_some() { ast::ItemKind::Error(block) } else { ast::ItemKind::Struct(block) };
    ast::Item { prefix: read.prefix, name, kind, span: cx.spans.of(s) }
}

fn empty_block(span: TokenSpan, cx: &mut Cx) -> ast::Block<ast::Field> {
    let at = cx.spans.at(span);
    ast::Block { members: Vec::new(), open: at, close: at }
}

fn delimiters(span: &proc_macro2::extra::DelimSpan, cx: &mut Cx) -> (svcgen_idl::Span, svcgen_idl::Span) {
    (cx.spans.at(span.open()), cx.spans.at(span.close()))
}

/// A struct field, event field or method parameter.
fn parse_field(
    attrs: &[syn::Attribute],
    ident: &syn::Ident,
    ty: &syn::Type,
    whole: &impl ToTokens,
    cx: &mut Cx,
) -> ast::Field {
    let read = attr::read(attrs, cx);
    if let Some(span) = read.event {
        cx.errors.push(syn::Error::new(span, "`#[event]` marks a `fn` of the service trait"));
    }
    if let Some(span) = read.error {
        cx.errors.push(syn::Error::new(span, "`#[error]` marks a struct"));
    }
    let name = cx.ident(ident);
    let ty = parse_type(ty, cx);
    ast::Field { prefix: read.prefix, name, ty, default: read.default, span: cx.spans.of(whole) }
}

fn parse_enum(e: &syn::ItemEnum, cx: &mut Cx) -> ast::Item {
    let read = attr::read(&e.attrs, cx);
    refuse_extras(&read, "an enum", false, cx);
    refuse_generics(&e.generics, cx);
    let name = cx.ident(&e.ident);
    let (open, close) = delimiters(&e.brace_token.span, cx);
    // A union when the first variant carries a value; an enum otherwise.
    let union = e.variants.first().is_some_and(|v| !matches!(v.fields, syn::Fields::Unit));
    let mut variants = Vec::new();
    let mut cases = Vec::new();
    for v in &e.variants {
        let read = attr::read(&v.attrs, cx);
        refuse_extras(&read, "a variant", false, cx);
        if let Some((_, discriminant)) = &v.discriminant {
            cx.error(discriminant, "svcgen enums have no discriminants: variants travel by name");
        }
        match (&v.fields, union) {
            (syn::Fields::Unit, false) => {
                let name = cx.ident(&v.ident);
                variants.push(ast::Variant { prefix: read.prefix, name, span: cx.spans.of(v) });
            }
            (syn::Fields::Unnamed(fields), true) if fields.unnamed.len() == 1 => {
                // Cases are snake_case on the wire, as in the IDL; codegen turns them back.
                let name = ast::Ident {
                    name: snake_case(&v.ident.unraw().to_string()),
                    span: cx.spans.at(v.ident.span()),
                };
                let ty = parse_type(&fields.unnamed[0].ty, cx);
                cases.push(ast::Case { prefix: read.prefix, name, ty, span: cx.spans.of(v) });
            }
            _ => cx.error(
                v,
                "an enum has only unit variants (`A, B`) or only variants holding one value (`Card(Card)`, a union)",
            ),
        }
    }
    let kind = if union {
        ast::ItemKind::Union(ast::Block { members: cases, open, close })
    } else {
        ast::ItemKind::Enum(ast::Block { members: variants, open, close })
    };
    ast::Item { prefix: read.prefix, name, kind, span: cx.spans.of(e) }
}

fn parse_alias(t: &syn::ItemType, cx: &mut Cx) -> ast::Item {
    let read = attr::read(&t.attrs, cx);
    refuse_extras(&read, "a type alias", false, cx);
    refuse_generics(&t.generics, cx);
    let name = cx.ident(&t.ident);
    let ty = parse_type(&t.ty, cx);
    ast::Item { prefix: read.prefix, name, kind: ast::ItemKind::Alias(ty), span: cx.spans.of(t) }
}

fn parse_trait(t: &syn::ItemTrait, cx: &mut Cx) -> ast::Item {
    let read = attr::read(&t.attrs, cx);
    refuse_extras(&read, "a service trait", false, cx);
    refuse_generics(&t.generics, cx);
    if let Some(token) = &t.unsafety {
        cx.error(token, "a service trait cannot be `unsafe`");
    }
    if !t.supertraits.is_empty() {
        cx.error(
            &t.supertraits,
            "a service trait has no supertraits: the generated trait adds `Send + Sync + 'static`",
        );
    }
    let name = cx.ident(&t.ident);
    let (open, close) = delimiters(&t.brace_token.span, cx);
    let mut members = Vec::new();
    for item in &t.items {
        match item {
            syn::TraitItem::Fn(f) => {
                let read = attr::read(&f.attrs, cx);
                if read.event.is_some() {
                    members.push(ast::Member::Event(parse_event(f, read, cx)));
                } else {
                    members.push(ast::Member::Method(parse_method(f, read, cx)));
                }
            }
            other => cx.error(other, "a service trait holds methods (`async fn`) and events (`#[event] fn`)"),
        }
    }
    ast::Item {
        prefix: read.prefix,
        name,
        kind: ast::ItemKind::Service(ast::Block { members, open, close }),
        span: cx.spans.of(t),
    }
}

/// The typed parameters of a signature, after the receiver.
fn parse_params(sig: &syn::Signature, cx: &mut Cx) -> ast::Block<ast::Field> {
    let (open, close) = delimiters(&sig.paren_token.span, cx);
    let mut members = Vec::new();
    for input in &sig.inputs {
        let syn::FnArg::Typed(typed) = input else { continue };
        match &*typed.pat {
            syn::Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => {
                members.push(parse_field(&typed.attrs, &p.ident, &typed.ty, typed, cx));
            }
            other => cx.error(other, "a parameter is a plain name: `name: T`"),
        }
    }
    ast::Block { members, open, close }
}

fn parse_event(f: &syn::TraitItemFn, read: Read, cx: &mut Cx) -> ast::Event {
    if let Some(default) = &read.default {
        let error = cx.spans.error(default.span, "`#[default]` goes on fields and parameters");
        cx.errors.push(error);
    }
    if let Some(receiver) = f.sig.receiver() {
        cx.error(receiver, "an event has no `self`: its parameters are its fields");
    }
    if let syn::ReturnType::Type(_, ty) = &f.sig.output {
        cx.error(ty, "an event returns nothing: its parameters are its fields");
    }
    if let Some(body) = &f.default {
        cx.error(body, "an event has no body");
    }
    refuse_generics(&f.sig.generics, cx);
    let name = cx.ident(&f.sig.ident);
    let fields = parse_params(&f.sig, cx);
    ast::Event { prefix: read.prefix, name, fields, span: cx.spans.of(f) }
}

fn parse_method(f: &syn::TraitItemFn, read: Read, cx: &mut Cx) -> ast::Method {
    if let Some(default) = &read.default {
        let error = cx.spans.error(default.span, "`#[default]` goes on fields and parameters");
        cx.errors.push(error);
    }
    if let Some(span) = read.error {
        cx.errors.push(syn::Error::new(span, "`#[error]` marks a struct"));
    }
    match f.sig.receiver() {
        Some(r) if matches!(r.kind, syn::ReceiverKind::Reference(_, _, None)) && r.mutability.is_none() => {}
        Some(r) => cx.error(r, "a service method takes `&self`: servers call it concurrently"),
        None => {
            cx.error(&f.sig.ident, "a service method takes `&self` first (an event is marked `#[event]`)");
        }
    }
    if let Some(body) = &f.default {
        cx.error(body, "a service method is declared without a body: the server implements it");
    }
    refuse_generics(&f.sig.generics, cx);
    let name = cx.ident(&f.sig.ident);
    let params = parse_params(&f.sig, cx);
    let (returns, throws) = match &f.sig.output {
        syn::ReturnType::Default => (None, Vec::new()),
        syn::ReturnType::Type(_, ty) => parse_returns(ty, cx),
    };
    ast::Method { prefix: read.prefix, name, params, returns, throws, span: cx.spans.of(f) }
}

/// `T`, `impl Stream<Item = T>`, `Result<T, E>`, `Result<T, (E, F)>`, `Result<T, Status>`.
fn parse_returns(ty: &syn::Type, cx: &mut Cx) -> (Option<ast::Returns>, Vec<ast::Path>) {
    if let Some([ok, err]) = generic_args::<2>(ty, "Result") {
        let throws = match err {
            syn::Type::Tuple(tuple) => tuple.elems.iter().filter_map(|e| error_path(e, cx)).collect(),
            other => error_path(other, cx).into_iter().collect(),
        };
        (parse_value(ok, cx), throws)
    } else {
        (parse_value(ty, cx), Vec::new())
    }
}

/// One error type of a `Result`; `Status` (the runtime's) means no domain error.
fn error_path(ty: &syn::Type, cx: &mut Cx) -> Option<ast::Path> {
    match ty {
        syn::Type::Path(p)
            if p.qself.is_none() && p.path.segments.last().is_some_and(|s| s.arguments.is_none()) =>
        {
            if p.path.segments.last().is_some_and(|s| s.ident == "Status") {
                return None;
            }
            if p.path.segments.len() > 1 {
                cx.error(p, "an error is a struct of this module marked `#[error]`: name it without a path");
                return None;
            }
            Some(attr::path(&p.path, cx))
        }
        other => {
            cx.error(other, "expected an error type: a struct marked `#[error]`, or a tuple of them");
            None
        }
    }
}

fn parse_value(ty: &syn::Type, cx: &mut Cx) -> Option<ast::Returns> {
    match ty {
        syn::Type::Tuple(t) if t.elems.is_empty() => None,
        syn::Type::ImplTrait(imp) => {
            let item = imp.bounds.iter().find_map(|b| match b {
                syn::TypeParamBound::Trait(t) => {
                    let last = t.path.segments.last()?;
                    if last.ident != "Stream" {
                        return None;
                    }
                    let syn::PathArguments::AngleBracketed(args) = &last.arguments else { return None };
                    args.args.iter().find_map(|a| match a {
                        syn::GenericArgument::AssocType(assoc) if assoc.ident == "Item" => Some(&assoc.ty),
                        _ => None,
                    })
                }
                _ => None,
            });
            if let Some(item) = item {
                Some(ast::Returns { stream: true, ty: parse_type(item, cx), span: cx.spans.of(ty) })
            } else {
                cx.error(imp, "a method returns a value, or a stream of them: `impl Stream<Item = T>`");
                None
            }
        }
        other => Some(ast::Returns { stream: false, ty: parse_type(other, cx), span: cx.spans.of(other) }),
    }
}

/// The type arguments of `Name<A, B>` when `ty` is a path ending in `Name` with `N` of them.
fn generic_args<'t, const N: usize>(ty: &'t syn::Type, name: &str) -> Option<[&'t syn::Type; N]> {
    let syn::Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident != name {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else { return None };
    let types: Vec<&syn::Type> = args
        .args
        .iter()
        .filter_map(|a| match a {
            syn::GenericArgument::Type(t) => Some(t),
            _ => None,
        })
        .collect();
    types.try_into().ok()
}

/// A type nothing resolves: the IDL's marker for "already reported".
fn unresolved(span: svcgen_idl::Span) -> ast::TypeExprKind {
    ast::TypeExprKind::Named(ast::Path { segments: Vec::new(), span })
}

/// A Rust type → the IDL's type expression.
fn parse_type(ty: &syn::Type, cx: &mut Cx) -> ast::TypeExpr {
    let span = cx.spans.of(ty);
    let kind = match ty {
        syn::Type::Path(p) if p.qself.is_none() => parse_path_type(ty, &p.path, cx),
        syn::Type::Paren(p) => return parse_type(&p.elem, cx),
        syn::Type::Group(g) => return parse_type(&g.elem, cx),
        other => {
            let why = match other {
                syn::Type::Reference(_) => {
                    "a reference cannot be sent: svcgen sends owned values (`String` for `&str`, `Vec<T>` for `&[T]`)"
                }
                syn::Type::Tuple(t) if t.elems.is_empty() => "`()` is not a field type",
                syn::Type::Tuple(_) => "a tuple cannot be sent: declare a struct with named fields",
                syn::Type::Array(_) | syn::Type::Slice(_) => "an array cannot be sent: write `Vec<T>`",
                syn::Type::TraitObject(_) | syn::Type::ImplTrait(_) => {
                    "a trait cannot be sent: svcgen sends data (an `impl Stream<Item = T>` is only a return type)"
                }
                _ => {
                    "this type cannot be sent: svcgen sends scalars, `Vec`, `HashMap`, `Option` and the types of this module"
                }
            };
            cx.error(other, why);
            unresolved(span)
        }
    };
    ast::TypeExpr { kind, span }
}

/// The Rust spelling of each scalar.
const SCALARS: [(&str, &str); 16] = [
    ("bool", "bool"),
    ("i8", "i8"),
    ("i16", "i16"),
    ("i32", "i32"),
    ("i64", "i64"),
    ("u8", "u8"),
    ("u16", "u16"),
    ("u32", "u32"),
    ("u64", "u64"),
    ("f32", "f32"),
    ("f64", "f64"),
    ("String", "string"),
    ("Bytes", "bytes"),
    ("Timestamp", "timestamp"),
    ("Duration", "duration"),
    ("Uuid", "uuid"),
];

/// Scalars that only exist in the `svcgen` runtime (and so may be written `svcgen::Bytes`).
const RUNTIME_SCALARS: [&str; 4] = ["Bytes", "Timestamp", "Duration", "Uuid"];

/// Containers and scalars of `std` (written bare or with their `std::` path).
const STD_NAMES: [&str; 4] = ["String", "Vec", "Option", "HashMap"];

fn parse_path_type(ty: &syn::Type, path: &syn::Path, cx: &mut Cx) -> ast::TypeExprKind {
    let span = cx.spans.of(ty);
    let Some(last) = path.segments.last() else { return unresolved(span) };
    let name = last.ident.unraw().to_string();
    if path.segments.len() > 1 {
        let first = path.segments[0].ident.to_string();
        let ok = match first.as_str() {
            "svcgen" => path.segments.len() == 2 && RUNTIME_SCALARS.contains(&name.as_str()),
            "std" | "core" | "alloc" => STD_NAMES.contains(&name.as_str()),
            _ => false,
        };
        if !ok {
            cx.error(
                path,
                format!(
                    "`{}` cannot be sent: svcgen types are scalars, `Vec`, `HashMap`, `Option` and the types declared in the `#[service]` module",
                    path.to_token_stream().to_string().replace(' ', "")
                ),
            );
            return unresolved(span);
        }
    }
    match name.as_str() {
        "Vec" | "Option" => {
            if let Some([inner]) = generic_args::<1>(ty, &name) {
                let inner = Box::new(parse_type(inner, cx));
                if name == "Vec" {
                    ast::TypeExprKind::List(inner)
                } else {
                    ast::TypeExprKind::Optional(inner)
                }
            } else {
                cx.error(last, format!("expected `{name}<T>`"));
                unresolved(span)
            }
        }
        "HashMap" => {
            if let Some([k, v]) = generic_args::<2>(ty, &name) {
                ast::TypeExprKind::Map(Box::new(parse_type(k, cx)), Box::new(parse_type(v, cx)))
            } else {
                cx.error(last, "expected `HashMap<K, V>`");
                unresolved(span)
            }
        }
        _ if !last.arguments.is_none() => {
            let why = match name.as_str() {
                "Box" => "svcgen boxes recursive fields itself: write the type without `Box`".to_owned(),
                "BTreeMap" | "IndexMap" => {
                    "maps are `HashMap<K, V>` in generated code: write that".to_owned()
                }
                _ => format!(
                    "`{name}<..>` cannot be sent: the generic types are `Vec`, `HashMap` and `Option`"
                ),
            };
            cx.error(ty, why);
            unresolved(span)
        }
        _ => {
            if let Some((_, scalar)) = SCALARS.iter().find(|(rust, _)| *rust == name) {
                let segment = ast::Ident { name: (*scalar).to_owned(), span };
                return ast::TypeExprKind::Named(ast::Path { segments: vec![segment], span });
            }
            let help = match name.as_str() {
                "str" | "char" => Some("write `String`"),
                "usize" | "u128" => Some("write `u64` (or a smaller unsigned integer)"),
                "isize" | "i128" => Some("write `i64` (or a smaller integer)"),
                "string" | "bytes" | "timestamp" | "duration" | "uuid" => Some(
                    "that is the IDL's name: in Rust write `String`, `Bytes`, `Timestamp`, `Duration` or `Uuid`",
                ),
                "Self" => Some("name the type"),
                _ => None,
            };
            if let Some(help) = help {
                cx.error(ty, format!("`{name}` cannot be sent: {help}"));
                return unresolved(span);
            }
            // A type of the module: the IDL resolves it (and says "unknown type" if it is not one).
            ast::TypeExprKind::Named(attr::path(path, cx))
        }
    }
}
