//! The IDL's diagnostics as `syn::Error`s at the macro input's tokens.

use svcgen_idl::{Diagnostic, Severity};

use crate::spans::SpanTable;

/// An error diagnostic as a `syn::Error` at its primary span (warnings are dropped: a stable
/// proc macro cannot emit them). Notes and help follow the message, as rustc prints them.
#[must_use]
pub fn to_syn_error(diagnostic: &Diagnostic, spans: &SpanTable) -> Option<syn::Error> {
    if diagnostic.severity != Severity::Error {
        return None;
    }
    let mut text = rustify(&diagnostic.message);
    for note in &diagnostic.notes {
        text.push_str("\n= note: ");
        text.push_str(&rustify(note));
    }
    for help in &diagnostic.help {
        text.push_str("\n= help: ");
        text.push_str(&rustify(help));
    }
    Some(match &diagnostic.primary {
        Some(label) => spans.error(label.span, text),
        None => syn::Error::new(proc_macro2::Span::call_site(), text),
    })
}

/// The IDL's attribute syntax in a message, written the Rust way: `` `@http(GET, "/x")` `` →
/// `` `#[http(GET, "/x")]` ``, `` `@oneway` `` → `` `#[oneway]` ``, `min: 1` → `min = 1`.
#[must_use]
pub fn rustify(message: &str) -> String {
    let mut out = String::with_capacity(message.len() + 8);
    let mut parts = message.split('`');
    if let Some(first) = parts.next() {
        out.push_str(first);
    }
    // Odd pieces are inside backticks.
    for (i, part) in parts.enumerate() {
        out.push('`');
        if i % 2 == 0
            && let Some(rest) = part.strip_prefix('@')
        {
            let name_end =
                rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
            let args = rest[name_end..].replace(": ", " = ");
            out.push_str("#[");
            out.push_str(&rest[..name_end]);
            out.push_str(&args);
            out.push(']');
        } else {
            out.push_str(part);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::rustify;

    #[test]
    fn attributes_are_written_the_rust_way() {
        assert_eq!(rustify("unknown attribute `@htp`"), "unknown attribute `#[htp]`");
        assert_eq!(
            rustify(r#"write it as `@http(GET, "/products/{id}")`"#),
            r#"write it as `#[http(GET, "/products/{id}")]`"#
        );
        assert_eq!(rustify("`@length(min: 1, max: 200)`"), "`#[length(min = 1, max = 200)]`");
        assert_eq!(rustify("type `u64` is `fine`"), "type `u64` is `fine`");
    }
}
