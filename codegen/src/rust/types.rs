//! `emit_*` for declared types: structs, errors, enums, unions, aliases; their defaults and
//! their `Validate` impls.

use std::collections::HashSet;

use petgraph::graph::{DiGraph, NodeIndex};
use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};
use svcgen_idl::check::parse_duration;
use svcgen_idl::model::{
    Case, Constraints, Field, Model, Number, PackageId, Scalar, Type, TypeDef, TypeDefKind, TypeId, TypeKind,
    Value, ValueNode, Variant,
};

use super::names::{package_module, type_ident, value_ident};

/// Where generated code is: the package module, or its private `__svcgen` module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The package module.
    Package,
    /// `__svcgen`, one level down.
    Private,
}

/// What every emitter needs: the model, the package being written, and the shared state.
pub struct Gen<'m> {
    /// The model.
    pub model: &'m Model,
    /// The package being written.
    pub package: PackageId,
    /// Slots (type, field or case index; `usize::MAX` for an alias target) that are boxed
    /// because they close a recursion cycle.
    boxed: HashSet<(TypeId, usize)>,
    /// Items for the private module (defaults, patterns).
    pub private: Vec<TokenStream>,
    counter: usize,
    private_names: HashSet<String>,
    /// The error enum names of every throwing method (computed once).
    pub error_names: svcgen_idl::model::ItemNames,
    /// The struct names of every event (computed once).
    pub event_names: svcgen_idl::model::ItemNames,
    /// Those of the service being emitted, by method name.
    pub current_errors: std::collections::HashMap<String, String>,
}

impl<'m> Gen<'m> {
    /// A generator for one package.
    #[must_use]
    pub fn new(model: &'m Model, package: PackageId) -> Self {
        Self {
            model,
            package,
            boxed: boxed_slots(model),
            private: Vec::new(),
            counter: 0,
            private_names: HashSet::new(),
            error_names: model.method_error_names(),
            event_names: model.event_struct_names(),
            current_errors: std::collections::HashMap::new(),
        }
    }

    /// A name for an item of the private module, unique in it.
    pub fn unique_private_name(&mut self, base: &str) -> proc_macro2::Ident {
        let mut name = base.to_owned();
        let mut n = 1;
        while !self.private_names.insert(name.clone()) {
            n += 1;
            name = format!("{base}{n}");
        }
        format_ident!("{name}")
    }

    fn next_id(&mut self) -> usize {
        self.counter += 1;
        self.counter
    }

    /// The path of a declared type, from `scope`.
    #[must_use]
    pub fn type_path(&self, id: TypeId, scope: Scope) -> TokenStream {
        let def = self.model.ty(id);
        let name = type_ident(&def.name);
        let up = if scope == Scope::Private { quote!(super::) } else { quote!() };
        if def.package == self.package {
            quote!(#up #name)
        } else {
            let module = format_ident!("{}", package_module(&self.model.package(def.package).name));
            quote!(#up super::#module::#name)
        }
    }

    /// The Rust type of a model type.
    #[must_use]
    pub fn rust_type(&self, ty: &Type, scope: Scope) -> TokenStream {
        self.rust_type_boxed(ty, scope, false)
    }

    fn rust_type_boxed(&self, ty: &Type, scope: Scope, boxed: bool) -> TokenStream {
        let inner = match &ty.kind {
            TypeKind::Scalar(s) => scalar_type(*s),
            TypeKind::List(t) => {
                let t = self.rust_type(t, scope);
                quote!(::std::vec::Vec<#t>)
            }
            TypeKind::Map(k, v) => {
                let (k, v) = (self.rust_type(k, scope), self.rust_type(v, scope));
                quote!(::std::collections::HashMap<#k, #v>)
            }
            TypeKind::Optional(t) => {
                let t = self.rust_type_boxed(t, scope, boxed);
                return quote!(::core::option::Option<#t>);
            }
            TypeKind::Named(id) => self.type_path(*id, scope),
            TypeKind::Unresolved => quote!(()),
        };
        if boxed { quote!(::std::boxed::Box<#inner>) } else { inner }
    }

    /// Emits one declared type.
    pub fn emit_type(&mut self, id: TypeId) -> TokenStream {
        let def = self.model.ty(id);
        match &def.kind {
            TypeDefKind::Struct { fields } => self.emit_struct(id, def, fields, None),
            TypeDefKind::Error { status, fields } => self.emit_struct(
                id,
                def,
                fields,
                Some(status.unwrap_or(svcgen_idl::model::DEFAULT_ERROR_STATUS)),
            ),
            TypeDefKind::Enum { variants } => emit_enum(def, variants),
            TypeDefKind::Union { cases } => self.emit_union(id, def, cases),
            TypeDefKind::Alias { target } => {
                let name = type_ident(&def.name);
                let docs = docs(&def.docs, def.deprecated.as_deref(), &format!("The `{}` type.", def.name));
                let target =
                    self.rust_type_boxed(target, Scope::Package, self.boxed.contains(&(id, usize::MAX)));
                quote! { #docs pub type #name = #target; }
            }
        }
    }

    fn emit_struct(
        &mut self,
        id: TypeId,
        def: &TypeDef,
        fields: &[Field],
        error: Option<u16>,
    ) -> TokenStream {
        let name = type_ident(&def.name);
        let fallback = if error.is_some() {
            format!("The `{}` error.", def.name)
        } else {
            format!("The `{}` type.", def.name)
        };
        let docs = docs(&def.docs, def.deprecated.as_deref(), &fallback);
        let members: Vec<TokenStream> = fields
            .iter()
            .enumerate()
            .map(|(i, f)| self.emit_field(f, Scope::Package, self.boxed.contains(&(id, i))))
            .collect();
        let validate = self.emit_validate(&quote!(#name), fields, Scope::Package);
        let error_impls = error.map(|status| {
            let type_uri = self.model.error_type_uri(id);
            let wire = &def.name;
            quote! {
                impl ::core::fmt::Display for #name {
                    fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                        ::core::fmt::Debug::fmt(self, f)
                    }
                }
                impl ::std::error::Error for #name {}
                impl ::svcgen::DomainError for #name {
                    const TYPE_URI: &'static str = #type_uri;
                    const NAME: &'static str = #wire;
                    const HTTP_STATUS: u16 = #status;
                }
            }
        });
        quote! {
            #docs
            #[derive(Clone, Debug, PartialEq, ::svcgen::__private::serde::Serialize, ::svcgen::__private::serde::Deserialize)]
            #[serde(crate = "::svcgen::__private::serde")]
            pub struct #name { #(#members)* }
            #validate
            #error_impls
        }
    }

    /// A struct field or parameter, with its serde attributes.
    pub fn emit_field(&mut self, field: &Field, scope: Scope, boxed: bool) -> TokenStream {
        let ident = value_ident(&field.name);
        let ty = self.rust_type_boxed(&field.ty, scope, boxed);
        let docs = docs(&field.docs, field.deprecated.as_deref(), &format!("The `{}` field.", field.name));
        let wire = &field.name;
        let rename = (ident.to_string().trim_start_matches("r#") != wire.as_str())
            .then(|| quote!(#[serde(rename = #wire)]));
        let optional = matches!(self.model.resolve(&field.ty).kind, TypeKind::Optional(_));
        let default = match &field.default {
            Some(value) if !matches!(value.value, Value::Null) => {
                let fn_name = format_ident!("default_{}", self.next_id());
                let value = self.emit_value(&field.ty, value, Scope::Private, boxed);
                let ty = self.rust_type_boxed(&field.ty, Scope::Private, boxed);
                self.private.push(quote! {
                    pub(super) fn #fn_name() -> #ty { #value }
                });
                // The function lives in the private module; from inside it, its bare name.
                let path = if scope == Scope::Private {
                    fn_name.to_string()
                } else {
                    format!("__svcgen::{fn_name}")
                };
                Some(quote!(#[serde(default = #path)]))
            }
            _ if optional => {
                Some(quote!(#[serde(default, skip_serializing_if = "::core::option::Option::is_none")]))
            }
            // An absent list or map is empty (query strings cannot send an empty list; older
            // peers do not send fields they do not know).
            _ if matches!(self.model.resolve(&field.ty).kind, TypeKind::List(_) | TypeKind::Map(..)) => {
                Some(quote!(#[serde(default)]))
            }
            _ => None,
        };
        let vis = if scope == Scope::Private { quote!(pub(super)) } else { quote!(pub) };
        quote! { #docs #rename #default #vis #ident: #ty, }
    }

    /// `impl Validate`: the constraints of every field, and the fields that hold validatable types.
    pub fn emit_validate(&mut self, target: &TokenStream, fields: &[Field], scope: Scope) -> TokenStream {
        let mut checks = Vec::new();
        for field in fields {
            let access = value_ident(&field.name);
            checks.extend(self.constraint_checks(field, &quote!(self.#access), scope));
            if self.contains_validatable(&field.ty) {
                let wire = &field.name;
                checks.push(quote! {
                    v.field(#wire, |v| ::svcgen::__private::Validate::validate(&self.#access, v));
                });
            }
        }
        let body = if checks.is_empty() { quote!(let _ = v;) } else { quote!(#(#checks)*) };
        quote! {
            impl ::svcgen::__private::Validate for #target {
                fn validate(&self, v: &mut ::svcgen::__private::Violations) { #body }
            }
        }
    }

    fn constraint_checks(&mut self, field: &Field, access: &TokenStream, scope: Scope) -> Vec<TokenStream> {
        let Constraints { length, range, pattern, .. } = &field.constraints;
        if length.is_none() && range.is_none() && pattern.is_none() {
            return Vec::new();
        }
        let wire = &field.name;
        let optional = matches!(self.model.resolve(&field.ty).kind, TypeKind::Optional(_));
        let x = quote!(x);
        let mut inner = Vec::new();
        if let Some(b) = length {
            let (min, max) = (opt_u64(b.min), opt_u64(b.max));
            inner.push(quote!(v.length(#wire, ::svcgen::__private::Length::length(#x), #min, #max);));
        }
        if let Some(b) = range {
            let scalar = match &strip(self.model, &field.ty).kind {
                TypeKind::Scalar(s) => Some(*s),
                _ => None,
            };
            if scalar.is_some_and(Scalar::is_float) {
                let (min, max) = (opt_f64(b.min), opt_f64(b.max));
                let value = if scalar == Some(Scalar::F64) { quote!(*#x) } else { quote!(f64::from(*#x)) };
                inner.push(quote!(v.range_float(#wire, #value, #min, #max);));
            } else {
                let (min, max) = (opt_i128(b.min), opt_i128(b.max));
                inner.push(quote!(v.range_int(#wire, i128::from(*#x), #min, #max);));
            }
        }
        if let Some(p) = pattern {
            let name = format_ident!("PATTERN_{}", self.next_id());
            self.private.push(quote! {
                pub(super) static #name: ::svcgen::__private::LazyLock<::core::option::Option<::svcgen::__private::Regex>> =
                    ::svcgen::__private::LazyLock::new(|| ::svcgen::__private::Regex::new(#p).ok());
            });
            let path = if scope == Scope::Private { quote!(#name) } else { quote!(__svcgen::#name) };
            inner.push(quote!(v.pattern_checked(#wire, #x, #path.as_ref());));
        }
        if optional {
            vec![quote!(if let ::core::option::Option::Some(x) = &#access { #(#inner)* })]
        } else {
            vec![quote!({ let x = &#access; #(#inner)* })]
        }
    }

    /// Whether a value of this type has something to validate inside (a struct, error or union).
    #[must_use]
    pub fn contains_validatable(&self, ty: &Type) -> bool {
        match &ty.kind {
            TypeKind::List(t) | TypeKind::Optional(t) | TypeKind::Map(_, t) => self.contains_validatable(t),
            TypeKind::Named(id) => match &self.model.ty(*id).kind {
                TypeDefKind::Struct { .. } | TypeDefKind::Error { .. } | TypeDefKind::Union { .. } => true,
                TypeDefKind::Alias { target } => self.contains_validatable(target),
                TypeDefKind::Enum { .. } => false,
            },
            TypeKind::Scalar(_) | TypeKind::Unresolved => false,
        }
    }

    fn emit_union(&mut self, id: TypeId, def: &TypeDef, cases: &[Case]) -> TokenStream {
        let name = type_ident(&def.name);
        let union_docs = docs(
            &def.docs,
            def.deprecated.as_deref(),
            &format!("The `{}` union: exactly one case holds.", def.name),
        );
        let mut variants = Vec::new();
        let mut checked = Vec::new();
        let mut unchecked = Vec::new();
        for (i, case) in cases.iter().enumerate() {
            let variant = type_ident(&case.name);
            let wire = &case.name;
            let ty = self.rust_type_boxed(&case.ty, Scope::Package, self.boxed.contains(&(id, i)));
            let case_docs =
                docs(&case.docs, case.deprecated.as_deref(), &format!("The `{}` case.", case.name));
            variants.push(quote! { #case_docs #[serde(rename = #wire)] #variant(#ty), });
            if self.contains_validatable(&case.ty) {
                checked.push((variant, wire.clone()));
            } else {
                unchecked.push(variant);
            }
        }
        // The shape clippy wants for each count of cases to check.
        let body = match (checked.as_slice(), unchecked.is_empty()) {
            ([], _) => quote!(let _ = v;),
            ([(variant, wire)], true) => quote! {
                let Self::#variant(x) = self;
                v.field(#wire, |v| ::svcgen::__private::Validate::validate(x, v));
            },
            ([(variant, wire)], false) => quote! {
                if let Self::#variant(x) = self {
                    v.field(#wire, |v| ::svcgen::__private::Validate::validate(x, v));
                }
            },
            (many, _) => {
                let arms = many.iter().map(|(variant, wire)| {
                    quote!(Self::#variant(x) => { v.field(#wire, |v| ::svcgen::__private::Validate::validate(x, v)); })
                });
                let rest = (!unchecked.is_empty()).then(|| quote!(#(Self::#unchecked(_))|* => {}));
                quote!(match self { #(#arms)* #rest })
            }
        };
        quote! {
            #union_docs
            #[derive(Clone, Debug, PartialEq, ::svcgen::__private::serde::Serialize, ::svcgen::__private::serde::Deserialize)]
            #[serde(crate = "::svcgen::__private::serde")]
            pub enum #name { #(#variants)* }
            impl ::svcgen::__private::Validate for #name {
                fn validate(&self, v: &mut ::svcgen::__private::Violations) { #body }
            }
        }
    }

    /// A default value as a Rust expression of the field's type.
    pub(super) fn emit_value(&self, ty: &Type, node: &ValueNode, scope: Scope, boxed: bool) -> TokenStream {
        let value = self.emit_value_unboxed(ty, node, scope);
        if boxed && !matches!(ty.kind, TypeKind::Optional(_)) {
            quote!(::std::boxed::Box::new(#value))
        } else {
            value
        }
    }

    fn emit_value_unboxed(&self, ty: &Type, node: &ValueNode, scope: Scope) -> TokenStream {
        let resolved = self.model.resolve(ty);
        match (&resolved.kind, &node.value) {
            (TypeKind::Optional(_), Value::Null) => quote!(::core::option::Option::None),
            (TypeKind::Optional(inner), _) => {
                let v = self.emit_value_unboxed(inner, node, scope);
                quote!(::core::option::Option::Some(#v))
            }
            (TypeKind::Scalar(s), v) => scalar_value(*s, v),
            (TypeKind::List(elem), Value::List(items)) => {
                let items = items.iter().map(|i| self.emit_value_unboxed(elem, i, scope));
                quote!(::std::vec![#(#items),*])
            }
            (TypeKind::Map(k, val), Value::Map(entries)) => {
                let entries = entries.iter().map(|(key, value)| {
                    let (key, value) =
                        (self.emit_value_unboxed(k, key, scope), self.emit_value_unboxed(val, value, scope));
                    quote!((#key, #value))
                });
                quote!([#(#entries),*].into_iter().collect())
            }
            (TypeKind::Named(id), Value::Name(name)) => {
                let variant = name.rsplit('.').next().unwrap_or(name);
                let path = self.type_path(*id, scope);
                let variant = type_ident(variant);
                quote!(#path::#variant)
            }
            _ => quote!(::core::default::Default::default()),
        }
    }
}

fn strip<'m>(model: &'m Model, ty: &'m Type) -> &'m Type {
    let ty = model.resolve(ty);
    match &ty.kind {
        TypeKind::Optional(inner) => model.resolve(inner),
        _ => ty,
    }
}

fn opt_u64(n: Option<Number>) -> TokenStream {
    match n {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Some(Number::Int(i)) => {
            let i = u64::try_from(i).unwrap_or(0);
            quote!(::core::option::Option::Some(#i))
        }
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Some(Number::Float(f)) => {
            let i = f as u64;
            quote!(::core::option::Option::Some(#i))
        }
        None => quote!(::core::option::Option::None),
    }
}

fn opt_i128(n: Option<Number>) -> TokenStream {
    match n {
        Some(Number::Int(i)) => {
            let lit = Literal::i128_suffixed(i);
            quote!(::core::option::Option::Some(#lit))
        }
        #[allow(clippy::cast_possible_truncation)]
        Some(Number::Float(f)) => {
            let lit = Literal::i128_suffixed(f as i128);
            quote!(::core::option::Option::Some(#lit))
        }
        None => quote!(::core::option::Option::None),
    }
}

fn opt_f64(n: Option<Number>) -> TokenStream {
    if let Some(n) = n {
        let lit = Literal::f64_suffixed(n.as_f64());
        quote!(::core::option::Option::Some(#lit))
    } else {
        quote!(::core::option::Option::None)
    }
}

/// The Rust type of a scalar.
#[must_use]
pub fn scalar_type(s: Scalar) -> TokenStream {
    match s {
        Scalar::Bool => quote!(bool),
        Scalar::I8 => quote!(i8),
        Scalar::I16 => quote!(i16),
        Scalar::I32 => quote!(i32),
        Scalar::I64 => quote!(i64),
        Scalar::U8 => quote!(u8),
        Scalar::U16 => quote!(u16),
        Scalar::U32 => quote!(u32),
        Scalar::U64 => quote!(u64),
        Scalar::F32 => quote!(f32),
        Scalar::F64 => quote!(f64),
        Scalar::String => quote!(::std::string::String),
        Scalar::Bytes => quote!(::svcgen::Bytes),
        Scalar::Timestamp => quote!(::svcgen::Timestamp),
        Scalar::Duration => quote!(::svcgen::Duration),
        Scalar::Uuid => quote!(::svcgen::Uuid),
    }
}

fn scalar_value(s: Scalar, value: &Value) -> TokenStream {
    match (s, value) {
        (_, Value::Bool(b)) => quote!(#b),
        (s, Value::Number(n)) if s.is_float() => {
            let lit = if s == Scalar::F32 {
                #[allow(clippy::cast_possible_truncation)]
                Literal::f32_suffixed(n.as_f64() as f32)
            } else {
                Literal::f64_suffixed(n.as_f64())
            };
            quote!(#lit)
        }
        (s, Value::Number(Number::Int(i))) => {
            let lit = match s {
                Scalar::I8 => Literal::i8_suffixed(i8::try_from(*i).unwrap_or_default()),
                Scalar::I16 => Literal::i16_suffixed(i16::try_from(*i).unwrap_or_default()),
                Scalar::I32 => Literal::i32_suffixed(i32::try_from(*i).unwrap_or_default()),
                Scalar::I64 => Literal::i64_suffixed(i64::try_from(*i).unwrap_or_default()),
                Scalar::U8 => Literal::u8_suffixed(u8::try_from(*i).unwrap_or_default()),
                Scalar::U16 => Literal::u16_suffixed(u16::try_from(*i).unwrap_or_default()),
                Scalar::U32 => Literal::u32_suffixed(u32::try_from(*i).unwrap_or_default()),
                _ => Literal::u64_suffixed(u64::try_from(*i).unwrap_or_default()),
            };
            quote!(#lit)
        }
        (Scalar::String, Value::String(text)) => quote!(::std::string::String::from(#text)),
        (Scalar::Bytes, Value::String(text)) => {
            let bytes = Literal::byte_string(text.as_bytes());
            quote!(::svcgen::Bytes(#bytes.to_vec()))
        }
        (Scalar::Duration, Value::String(text)) => {
            let nanos = parse_duration(text).unwrap_or(0);
            let secs = u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX);
            let subsec = u32::try_from(nanos % 1_000_000_000).unwrap_or(0);
            quote!(::svcgen::Duration(::std::time::Duration::new(#secs, #subsec)))
        }
        (Scalar::Timestamp, Value::String(text)) => {
            quote!(::svcgen::__private::parse_timestamp(#text))
        }
        (Scalar::Uuid, Value::String(text)) => {
            let hex: String = text.chars().filter(char::is_ascii_hexdigit).collect();
            let n = u128::from_str_radix(&hex, 16).unwrap_or(0);
            let lit = Literal::u128_suffixed(n);
            quote!(::svcgen::Uuid::from_u128(#lit))
        }
        _ => quote!(::core::default::Default::default()),
    }
}

fn emit_enum(def: &TypeDef, variants: &[Variant]) -> TokenStream {
    let name = type_ident(&def.name);
    let enum_docs = docs(&def.docs, def.deprecated.as_deref(), &format!("The `{}` enum.", def.name));
    let members = variants.iter().map(|v| {
        let ident = type_ident(&v.name);
        let wire = &v.name;
        let d = docs(&v.docs, v.deprecated.as_deref(), &format!("`{}`.", v.name));
        quote! { #d #[serde(rename = #wire)] #ident, }
    });
    let names = variants.iter().map(|v| {
        let ident = type_ident(&v.name);
        let wire = &v.name;
        quote!(Self::#ident => #wire,)
    });
    quote! {
        #enum_docs
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord,
                 ::svcgen::__private::serde::Serialize, ::svcgen::__private::serde::Deserialize)]
        #[serde(crate = "::svcgen::__private::serde")]
        pub enum #name { #(#members)* }
        impl #name {
            /// The variant's name on the wire.
            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self { #(#names)* }
            }
        }
        impl ::core::fmt::Display for #name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    }
}

/// `#[doc]` attributes: the user's docs (with a deprecation note), or a fallback sentence.
#[must_use]
pub fn docs(lines: &[String], deprecated: Option<&str>, fallback: &str) -> TokenStream {
    let mut text: Vec<String> = if lines.is_empty() { vec![fallback.to_owned()] } else { lines.to_vec() };
    if let Some(reason) = deprecated {
        text.push(String::new());
        text.push(if reason.is_empty() {
            "**Deprecated.**".to_owned()
        } else {
            format!("**Deprecated:** {reason}")
        });
    }
    let attrs = text.iter().map(|line| {
        let line = format!(" {line}");
        quote!(#[doc = #line])
    });
    quote!(#(#attrs)*)
}

/// The slots that must be boxed: edges (field, case or alias target holding a named type
/// directly or through `?`) whose two ends are in one strongly connected component.
fn boxed_slots(model: &Model) -> HashSet<(TypeId, usize)> {
    let mut graph: DiGraph<TypeId, ()> = DiGraph::new();
    let nodes: Vec<NodeIndex> = (0..model.types.len())
        .map(|i| graph.add_node(TypeId(u32::try_from(i).unwrap_or(u32::MAX))))
        .collect();
    let target = |ty: &Type| match &ty.kind {
        TypeKind::Named(id) => Some(*id),
        TypeKind::Optional(inner) => match &inner.kind {
            TypeKind::Named(id) => Some(*id),
            _ => None,
        },
        _ => None,
    };
    let mut slots = Vec::new();
    for (i, def) in model.types.iter().enumerate() {
        let id = TypeId(u32::try_from(i).unwrap_or(u32::MAX));
        let types: Vec<(usize, &Type)> = match &def.kind {
            TypeDefKind::Struct { fields } | TypeDefKind::Error { fields, .. } => {
                fields.iter().map(|f| &f.ty).enumerate().collect()
            }
            TypeDefKind::Union { cases } => cases.iter().map(|c| &c.ty).enumerate().collect(),
            TypeDefKind::Alias { target } => vec![(usize::MAX, target)],
            TypeDefKind::Enum { .. } => Vec::new(),
        };
        for (slot, ty) in types {
            if let Some(to) = target(ty) {
                graph.add_edge(nodes[i], nodes[to.0 as usize], ());
                slots.push((id, slot, to));
            }
        }
    }
    let mut component = vec![0usize; model.types.len()];
    for (c, scc) in petgraph::algo::tarjan_scc(&graph).into_iter().enumerate() {
        for node in scc {
            component[graph[node].0 as usize] = c;
        }
    }
    slots
        .into_iter()
        .filter(|(from, _, to)| component[from.0 as usize] == component[to.0 as usize])
        .map(|(from, slot, _)| (from, slot))
        .collect()
}
