//! Rust names for model names: case conversion, raw identifiers, and the names generated
//! code adds (`CatalogClient`, `GetProductError`), checked against the user's own.

use proc_macro2::{Ident, Span};
use svcgen_idl::model::{snake_case, upper_camel};

/// Rust keywords (strict and reserved, all editions): written as raw identifiers.
const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "dyn", "else", "enum", "extern", "false", "fn",
    "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return",
    "static", "struct", "trait", "true", "type", "unsafe", "use", "where", "while", "abstract", "become",
    "box", "do", "final", "macro", "override", "priv", "typeof", "unsized", "virtual", "yield", "try", "gen",
];

/// Keywords that cannot be raw identifiers (the IDL refuses them; this keeps codegen total).
const NOT_RAW: &[&str] = &["self", "Self", "super", "crate", "_"];

/// An identifier for `text`: raw when it is a keyword; never a panic.
#[must_use]
pub fn ident(text: &str) -> Ident {
    let text = if text.is_empty() || text.starts_with(|c: char| c.is_ascii_digit()) {
        format!("x{text}")
    } else if NOT_RAW.contains(&text) {
        format!("{text}_")
    } else {
        text.to_owned()
    };
    if KEYWORDS.contains(&text.as_str()) {
        Ident::new_raw(&text, Span::call_site())
    } else {
        Ident::new(&text, Span::call_site())
    }
}

/// A field, method, parameter or module name: `productId` → `product_id`.
#[must_use]
pub fn value_ident(name: &str) -> Ident {
    ident(&snake_case(name))
}

/// The text of a type, variant or trait name: `order_history` → `OrderHistory`.
#[must_use]
pub fn type_name(name: &str) -> String {
    let camel = upper_camel(&snake_case(name));
    if camel.is_empty() { "T".to_owned() } else { camel }
}

/// A type, variant or trait identifier.
#[must_use]
pub fn type_ident(name: &str) -> Ident {
    ident(&type_name(name))
}

/// The module a package's code lives in: `shop.catalog` → `shop_catalog`.
#[must_use]
pub fn package_module(name: &str) -> String {
    snake_case(&name.replace('.', "_"))
}

/// Names of the inherent methods of a generated client; a service method with one of these
/// names has no convenience method (it is still reachable through the service trait).
pub const CLIENT_RESERVED: &[&str] = &[
    "new",
    "rest",
    "rpc",
    "queue",
    "socket",
    "with_context",
    "with_deadline",
    "with_metadata",
    "channel",
    "context",
    "clone",
    "into",
    "default",
    "fmt",
    "eq",
    "to_owned",
    "borrow",
];
