//! A lexical pre-pass over a `.svc` file.
//!
//! It finds the comments (the grammar skips them; the formatter must keep them), and it
//! rejects what the parser should never see: unterminated comments and strings, and
//! nesting deeper than [`MAX_NESTING`] (so no input can exhaust the parser's stack). It
//! follows the lexical rules of `grammar.pest` exactly.

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::source::{FileId, Span};

/// The deepest nesting of `( [ { <` accepted. Real files stay under 10.
pub const MAX_NESTING: usize = 64;

/// A `//` or `/* */` comment (not a `///` doc, which belongs to the syntax tree).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comment {
    /// The comment text, delimiters included, trailing white space removed.
    pub text: String,
    /// Where.
    pub span: Span,
    /// `/* */` rather than `//`.
    pub block: bool,
}

/// Scans `text`, returning its comments; lexical errors go to `diags`.
pub fn scan(file: FileId, text: &str, diags: &mut Diagnostics) -> Vec<Comment> {
    let bytes = text.as_bytes();
    let mut comments = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    let ident_byte = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    while i < bytes.len() {
        match bytes[i] {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                let end = memchr_newline(bytes, i);
                let is_doc = bytes.get(i + 2) == Some(&b'/') && bytes.get(i + 3) != Some(&b'/');
                if !is_doc {
                    comments.push(Comment {
                        text: text[i..end].trim_end().to_owned(),
                        span: Span::new(file, i, end),
                        block: false,
                    });
                }
                i = end;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let start = i;
                let mut level = 0usize;
                let mut closed = false;
                while i < bytes.len() {
                    if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'*') {
                        level += 1;
                        if level > MAX_NESTING {
                            diags.push(
                                Diagnostic::error(
                                    "too-deep",
                                    Span::new(file, i, i + 2),
                                    "comments nest too deep",
                                )
                                .with_label(format!("more than {MAX_NESTING} levels deep here"))
                                .with_note(format!(
                                    "svcgen accepts up to {MAX_NESTING} nested `/*` comments"
                                )),
                            );
                            return comments;
                        }
                        i += 2;
                    } else if bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/') {
                        level -= 1;
                        i += 2;
                        if level == 0 {
                            closed = true;
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
                if !closed {
                    diags.push(
                        Diagnostic::error(
                            "unterminated-comment",
                            Span::new(file, start, start + 2),
                            "unterminated block comment",
                        )
                        .with_label("this `/*` is never closed")
                        .with_note("block comments nest: every `/*` needs its own `*/`"),
                    );
                    return comments;
                }
                comments.push(Comment {
                    text: text[start..i].trim_end().to_owned(),
                    span: Span::new(file, start, i),
                    block: true,
                });
            }
            b'"' => {
                let start = i;
                i += 1;
                loop {
                    match bytes.get(i) {
                        Some(b'"') => {
                            i += 1;
                            break;
                        }
                        Some(b'\\') if bytes.get(i + 1).is_some_and(|b| *b != b'\n') => i += 2,
                        Some(b'\n') | None => {
                            unterminated_string(file, start, diags);
                            return comments;
                        }
                        Some(_) => i += 1,
                    }
                }
            }
            b'r' if bytes.get(i + 1) == Some(&b'"') && (i == 0 || !ident_byte(bytes[i - 1])) => {
                let start = i;
                let end = bytes[i + 2..].iter().position(|b| *b == b'"' || *b == b'\n');
                if let Some(len) = end.filter(|len| bytes[i + 2 + len] == b'"') {
                    i += 2 + len + 1;
                } else {
                    unterminated_string(file, start, diags);
                    return comments;
                }
            }
            b'(' | b'[' | b'{' | b'<' => {
                depth += 1;
                if depth > MAX_NESTING {
                    diags.push(
                        Diagnostic::error("too-deep", Span::new(file, i, i + 1), "nesting is too deep")
                            .with_label(format!("more than {MAX_NESTING} levels deep here"))
                            .with_note(format!(
                                "svcgen accepts up to {MAX_NESTING} nested brackets, braces and type arguments"
                            )),
                    );
                    return comments;
                }
                i += 1;
            }
            b'>' if i > 0 && bytes[i - 1] == b'-' => i += 1,
            b')' | b']' | b'}' | b'>' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            _ => i += 1,
        }
    }
    comments
}

fn memchr_newline(bytes: &[u8], from: usize) -> usize {
    bytes[from..].iter().position(|b| *b == b'\n').map_or(bytes.len(), |p| from + p)
}

fn unterminated_string(file: FileId, start: usize, diags: &mut Diagnostics) {
    diags.push(
        Diagnostic::error("unterminated-string", Span::new(file, start, start + 1), "unterminated string")
            .with_label("this string is never closed")
            .with_note("strings end on the line they start on"),
    );
}
