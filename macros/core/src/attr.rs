//! `#[name(args)]` on Rust items → the IDL's generic attribute form, so [`svcgen_idl::attr`]
//! decides what is allowed where and says so in the same words for both front ends.
//!
//! What the IDL writes as syntax rather than as an attribute has its own Rust attribute here:
//! `#[error]` (the `error` keyword), `#[event]` (`event`), `#[default(value)]` (`= value`).
//! Docs are `///`, and `#[deprecated]` is Rust's own.

use proc_macro2::Span as TokenSpan;
use quote::ToTokens;
use svcgen_idl::ast;
use syn::ext::IdentExt as _;
use syn::parse::{Parse, ParseStream, Parser as _};
use syn::punctuated::Punctuated;
use syn::{Expr, Lit, Meta, Token, UnOp};

use crate::parse::Cx;

/// Attribute names the macro reads itself (the rest go to the IDL's attribute table).
pub mod symbol {
    /// `#[error]`: the struct is an error (the IDL's `error` keyword).
    pub const ERROR: &str = "error";
    /// `#[event]`: a trait item is an event (the IDL's `event` keyword).
    pub const EVENT: &str = "event";
    /// `#[default(value)]`: a field's or parameter's default (the IDL's `= value`).
    pub const DEFAULT: &str = "default";
    /// `#[deprecated]`, `#[deprecated = "why"]`, `#[deprecated(note = "why")]`: Rust's own.
    pub const DEPRECATED: &str = "deprecated";
    /// `///` docs.
    pub const DOC: &str = "doc";
}

/// The attributes of one declaration, read.
#[derive(Debug, Default)]
pub struct Read {
    /// Docs and IDL attributes.
    pub prefix: ast::Prefix,
    /// `#[error]`, with where it was written.
    pub error: Option<TokenSpan>,
    /// `#[event]`, with where it was written.
    pub event: Option<TokenSpan>,
    /// `#[default(value)]`.
    pub default: Option<ast::Value>,
}

/// The name of an attribute, `svcgen::` prefix allowed.
fn name(path: &syn::Path) -> Option<syn::Ident> {
    let segments: Vec<&syn::PathSegment> = path.segments.iter().collect();
    match segments.as_slice() {
        [one] => Some(one.ident.clone()),
        [crate_name, one] if crate_name.ident == "svcgen" => Some(one.ident.clone()),
        _ => None,
    }
}

/// Reads the attributes of a declaration, reporting the ones no front end knows.
pub fn read(attrs: &[syn::Attribute], cx: &mut Cx) -> Read {
    let mut out = Read::default();
    for attr in attrs {
        let Some(ident) = name(attr.path()) else {
            cx.error(attr.path(), "unknown attribute: svcgen attributes have a one-word name");
            continue;
        };
        let text = ident.unraw().to_string();
        match text.as_str() {
            symbol::DOC => {
                if let Meta::NameValue(nv) = &attr.meta
                    && let Expr::Lit(syn::ExprLit { lit: Lit::Str(s), .. }) = &nv.value
                {
                    let span = cx.spans.of(attr);
                    out.prefix.docs.push(ast::Doc { text: s.value().trim_end().to_owned(), span });
                }
            }
            symbol::ERROR | symbol::EVENT => {
                if !matches!(attr.meta, Meta::Path(_)) {
                    cx.error(attr, format!("`#[{text}]` takes no arguments"));
                }
                let slot = if text == symbol::ERROR { &mut out.error } else { &mut out.event };
                *slot = Some(ident.span());
            }
            symbol::DEFAULT => {
                let expr = match &attr.meta {
                    Meta::List(list) => list.parse_args::<Expr>().map_err(|e| cx.errors.push(e)).ok(),
                    Meta::NameValue(nv) => Some(nv.value.clone()),
                    Meta::Path(_) => {
                        cx.error(attr, "`#[default]` needs a value: `#[default(50)]`");
                        None
                    }
                };
                if out.default.is_some() {
                    cx.error(attr, "`#[default]` is given twice");
                } else {
                    out.default = expr.and_then(|e| value(&e, cx));
                }
            }
            symbol::DEPRECATED => {
                let reason = match &attr.meta {
                    Meta::Path(_) => None,
                    Meta::NameValue(nv) => Some(nv.value.clone()),
                    Meta::List(list) => {
                        let mut note = None;
                        let parsed = list.parse_nested_meta(|meta| {
                            if meta.path.is_ident("note") {
                                note = Some(meta.value()?.parse::<Expr>()?);
                                Ok(())
                            } else {
                                Err(meta.error("`#[deprecated]` takes `note = \"why\"`"))
                            }
                        });
                        if let Err(e) = parsed {
                            cx.errors.push(e);
                        }
                        note
                    }
                };
                let args = reason.and_then(|r| value(&r, cx)).map(|v| {
                    vec![ast::AttrArg { name: None, span: v.span, value: v }]
                });
                let name = ast::Ident { name: text, span: cx.spans.of(attr.path()) };
                out.prefix.attrs.push(ast::Attribute { name, args, span: cx.spans.of(attr) });
            }
            "derive" | "serde" => cx.error(
                attr,
                format!(
                    "svcgen writes the derives and serde attributes of the types it generates: remove `#[{text}]`\n\
                     = note: generated types derive Clone, Debug, PartialEq, Serialize and Deserialize"
                ),
            ),
            _ => {
                let args = match &attr.meta {
                    Meta::Path(_) => None,
                    Meta::List(list) => Some(args(list, cx)),
                    Meta::NameValue(nv) => Some(
                        value(&nv.value, cx)
                            .map(|v| ast::AttrArg { name: None, span: v.span, value: v })
                            .into_iter()
                            .collect(),
                    ),
                };
                let name = ast::Ident { name: text, span: cx.spans.of(attr.path()) };
                out.prefix.attrs.push(ast::Attribute { name, args, span: cx.spans.of(attr) });
            }
        }
    }
    out
}

/// One argument: `GET`, `"/x"`, `min = 1` (or `min: 1`, as in the IDL).
struct RawArg {
    name: Option<syn::Ident>,
    value: Expr,
}

impl Parse for RawArg {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let named = input.peek(syn::Ident)
            && (input.peek2(Token![=]) || (input.peek2(Token![:]) && !input.peek2(Token![::])));
        let name = if named {
            let name: syn::Ident = input.parse()?;
            if input.peek(Token![=]) {
                input.parse::<Token![=]>()?;
            } else {
                input.parse::<Token![:]>()?;
            }
            Some(name)
        } else {
            None
        };
        Ok(RawArg { name, value: input.parse()? })
    }
}

fn args(list: &syn::MetaList, cx: &mut Cx) -> Vec<ast::AttrArg> {
    match Punctuated::<RawArg, Token![,]>::parse_terminated.parse2(list.tokens.clone()) {
        Ok(raw) => raw
            .iter()
            .filter_map(|arg| {
                let value = value(&arg.value, cx)?;
                let name = arg
                    .name
                    .as_ref()
                    .map(|n| ast::Ident { name: n.unraw().to_string(), span: cx.spans.at(n.span()) });
                let span = match &arg.name {
                    Some(arg_name) => {
                        let (_, end) = cx.spans.tokens(value.span);
                        cx.spans.add(arg_name.span(), end)
                    }
                    None => value.span,
                };
                Some(ast::AttrArg { name, value, span })
            })
            .collect(),
        Err(e) => {
            cx.errors.push(e);
            Vec::new()
        }
    }
}

/// A literal, a name or a list, as the IDL's value.
pub fn value(expr: &Expr, cx: &mut Cx) -> Option<ast::Value> {
    let kind = match expr {
        Expr::Lit(lit) => match &lit.lit {
            Lit::Int(i) => ast::ValueKind::Number(i.base10_digits().to_owned()),
            Lit::Float(f) => ast::ValueKind::Number(f.base10_digits().to_owned()),
            Lit::Str(s) => ast::ValueKind::String { value: s.value(), raw: s.to_token_stream().to_string() },
            Lit::Bool(b) => ast::ValueKind::Bool(b.value),
            other => {
                cx.error(other, "expected a number, a string, `true` or `false`");
                return None;
            }
        },
        Expr::Unary(unary) if matches!(unary.op, UnOp::Neg(_)) => match &*unary.expr {
            Expr::Lit(syn::ExprLit { lit: Lit::Int(i), .. }) => {
                ast::ValueKind::Number(format!("-{}", i.base10_digits()))
            }
            Expr::Lit(syn::ExprLit { lit: Lit::Float(f), .. }) => {
                ast::ValueKind::Number(format!("-{}", f.base10_digits()))
            }
            _ => {
                cx.error(expr, "expected a number after `-`");
                return None;
            }
        },
        Expr::Path(p) if p.qself.is_none() => {
            if p.path.is_ident("None") {
                ast::ValueKind::Null
            } else {
                ast::ValueKind::Path(path(&p.path, cx))
            }
        }
        Expr::Array(array) => ast::ValueKind::List(array.elems.iter().filter_map(|e| value(e, cx)).collect()),
        Expr::Macro(m) if m.mac.path.is_ident("vec") => {
            match Punctuated::<Expr, Token![,]>::parse_terminated.parse2(m.mac.tokens.clone()) {
                Ok(items) => ast::ValueKind::List(items.iter().filter_map(|e| value(e, cx)).collect()),
                Err(e) => {
                    cx.errors.push(e);
                    return None;
                }
            }
        }
        Expr::Paren(p) => return value(&p.expr, cx),
        Expr::Group(g) => return value(&g.expr, cx),
        _ => {
            cx.error(
                expr,
                "expected a literal: a number, a string, `true`, `false`, `None`, a name or a list",
            );
            return None;
        }
    };
    Some(ast::Value { kind, span: cx.spans.of(expr) })
}

/// A Rust path as the IDL's dotted path: `Currency::EUR` → `Currency.EUR`.
pub fn path(path: &syn::Path, cx: &mut Cx) -> ast::Path {
    let segments = path
        .segments
        .iter()
        .map(|s| ast::Ident { name: s.ident.unraw().to_string(), span: cx.spans.at(s.ident.span()) })
        .collect();
    ast::Path { segments, span: cx.spans.of(path) }
}
