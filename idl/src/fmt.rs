//! `svcgen fmt`: one canonical layout for `.svc` files, keeping every comment and doc.
//!
//! The printer walks the syntax tree and places the comments found by
//! [`comments::scan`](crate::comments::scan) by position:
//! - a comment on the line after a member (after its comma) stays there, as a trailing comment;
//! - any other comment is printed on its own line before the next thing printed (comments
//!   written inside a member, such as `a: /* x */ u32`, move above that member);
//! - comments left at the end of a block or file stay at its end.
//!
//! Blank lines between members are kept (at most one); items are separated by exactly one.
//! The layout: four-space indent; docs, then attributes, on their own lines before items,
//! fields and methods, attributes inline before parameters; enums, unions, errors and events
//! on one line when they have no docs, attributes or comments inside and fit in 100 columns;
//! method signatures on one line when they fit, otherwise one parameter per line.

use crate::ast::{
    AttrArg, Attribute, Block, Case, Field, File, Item, ItemKind, Member, Method, Prefix, TypeExpr,
    TypeExprKind, Value, ValueKind, Variant,
};
use crate::comments::Comment;
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::parse::{Parsed, parse_file};
use crate::source::{FileId, Span};

/// The width the layout aims for.
pub const MAX_WIDTH: usize = 100;
const INDENT: &str = "    ";

/// Formats a `.svc` text. Syntax errors are returned, not guessed around.
pub fn format_source(file: FileId, text: &str) -> Result<String, Vec<Diagnostic>> {
    let mut diags = Diagnostics::new();
    match parse_file(file, text, &mut diags) {
        Some(parsed) => {
            let _warnings = diags.take();
            Ok(format_parsed(text, &parsed))
        }
        None => Err(diags.take()),
    }
}

/// Formats an already parsed file.
#[must_use]
pub fn format_parsed(text: &str, parsed: &Parsed) -> String {
    let mut p = Printer {
        src: text,
        comments: &parsed.comments,
        next: 0,
        out: String::new(),
        indent: 0,
        last_end: 0,
    };
    p.file(&parsed.file);
    p.out
}

struct Printer<'a> {
    src: &'a str,
    comments: &'a [Comment],
    /// The first comment not yet printed.
    next: usize,
    out: String,
    indent: usize,
    /// End of the last thing printed, as a source offset (for blank-line detection).
    last_end: usize,
}

impl Printer<'_> {
    // ---- lines, blank lines and comments ----------------------------------------------------

    fn line(&mut self, text: &str) {
        for _ in 0..self.indent {
            self.out.push_str(INDENT);
        }
        self.out.push_str(text);
        self.out.push('\n');
    }

    /// Ensures the output ends with an empty line (unless at the very start or just after `{`).
    fn blank(&mut self) {
        if self.out.is_empty()
            || self.out.ends_with("\n\n")
            || self.out.ends_with("{\n")
            || self.out.ends_with("(\n")
        {
            return;
        }
        self.out.push('\n');
    }

    /// Whether the source has an empty line between two offsets.
    fn blank_between(&self, from: usize, to: usize) -> bool {
        let Some(gap) = self.src.get(from.min(to)..to) else { return false };
        let mut lines = gap.split('\n');
        lines.next(); // the rest of the line `from` is on
        let mut middle: Vec<&str> = lines.collect();
        middle.pop(); // the start of the line `to` is on
        middle.iter().any(|l| l.trim().is_empty())
    }

    /// Prints, each on its own line, every comment that starts before `upto`, keeping a blank
    /// line where the source had one; then the blank line before the node at `start`, if any.
    fn leading(&mut self, start: usize, upto: usize) {
        while let Some(c) = self.comments.get(self.next) {
            if c.span.start as usize >= upto {
                break;
            }
            if self.blank_between(self.last_end, c.span.start as usize) {
                self.blank();
            }
            let text = normalize_newlines(&c.text);
            self.line(&text);
            self.last_end = c.span.end as usize;
            self.next += 1;
        }
        if self.blank_between(self.last_end, start) {
            self.blank();
        }
    }

    /// Appends to the last line the comments that follow `end` on the same source line.
    fn trailing(&mut self, end: usize) {
        self.last_end = self.last_end.max(end);
        while let Some(c) = self.comments.get(self.next) {
            let start = c.span.start as usize;
            // Only separators may stand between a member and its trailing comment; a comment
            // after the next member on the same line belongs to that member.
            let gap = self.src.get(self.last_end..start);
            if start < end || gap.is_none_or(|g| !g.chars().all(|c| matches!(c, ' ' | '\t' | ',' | ';'))) {
                break;
            }
            if self.out.ends_with('\n') {
                self.out.pop();
            }
            self.out.push(' ');
            self.out.push_str(&normalize_newlines(&c.text));
            self.out.push('\n');
            self.last_end = c.span.end as usize;
            self.next += 1;
        }
    }

    /// Whether a comment lies within a span.
    fn has_comment_in(&self, from: Span, to: Span) -> bool {
        self.comments[self.next..].iter().any(|c| c.span.start >= from.start && c.span.end <= to.end)
    }

    fn prefix(&mut self, prefix: &Prefix) {
        for doc in &prefix.docs {
            self.line(&format!("///{}", doc.text));
        }
        for attr in &prefix.attrs {
            self.line(&attribute(attr));
        }
    }

    // ---- the file --------------------------------------------------------------------------

    fn file(&mut self, file: &File) {
        let package = &file.package;
        self.leading(package.span.start as usize, package.span.end as usize);
        self.prefix(&package.prefix);
        self.line(&format!("package {};", package.name.to_dotted()));
        self.trailing(package.span.end as usize);
        if !file.imports.is_empty() {
            self.blank();
        }
        for import in &file.imports {
            self.leading(import.span.start as usize, import.span.end as usize);
            self.line(&format!("import {};", import.raw));
            self.trailing(import.span.end as usize);
        }
        for item in &file.items {
            self.blank();
            self.item(item);
        }
        self.leading(self.src.len(), self.src.len());
    }

    fn item(&mut self, item: &Item) {
        let header_end = match &item.kind {
            ItemKind::Struct(b) | ItemKind::Error(b) => b.open.start,
            ItemKind::Enum(b) => b.open.start,
            ItemKind::Union(b) => b.open.start,
            ItemKind::Service(b) => b.open.start,
            ItemKind::Alias(_) => item.span.end,
        };
        self.leading(item.span.start as usize, header_end as usize);
        self.prefix(&item.prefix);
        let head = format!("{} {}", item.kind.keyword(), item.name.name);
        match &item.kind {
            ItemKind::Struct(block) => self.block(&head, block, false, Printer::field),
            ItemKind::Error(block) => self.block(&head, block, true, Printer::field),
            ItemKind::Enum(block) => self.block(&head, block, true, Printer::variant),
            ItemKind::Union(block) => self.block(&head, block, true, Printer::case),
            ItemKind::Alias(ty) => {
                self.line(&format!("{head} = {};", type_expr(ty)));
                self.trailing(item.span.end as usize);
            }
            ItemKind::Service(block) => self.block(&head, block, false, Printer::member),
        }
    }

    /// `head { members }`: on one line when allowed and possible, else one member per line.
    fn block<T: Node>(
        &mut self,
        head: &str,
        block: &Block<T>,
        one_line_ok: bool,
        mut member: impl FnMut(&mut Self, &T),
    ) {
        let inner_comments = self.has_comment_in(block.open, block.close);
        if block.members.is_empty() && !inner_comments {
            self.line(&format!("{head} {{}}"));
            self.trailing(block.close.end as usize);
            return;
        }
        if one_line_ok && !inner_comments && block.members.iter().all(Node::is_plain) {
            let body: Vec<String> = block.members.iter().map(Node::inline).collect();
            let text = format!("{head} {{ {} }}", body.join(", "));
            if self.indent * INDENT.len() + text.len() <= MAX_WIDTH {
                self.line(&text);
                self.trailing(block.close.end as usize);
                return;
            }
        }
        self.line(&format!("{head} {{"));
        self.last_end = block.open.end as usize;
        self.indent += 1;
        for m in &block.members {
            member(self, m);
        }
        self.leading(block.close.start as usize, block.close.start as usize);
        self.indent -= 1;
        self.line("}");
        self.trailing(block.close.end as usize);
    }

    fn field(&mut self, field: &Field) {
        self.leading(field.span.start as usize, field.span.end as usize);
        self.prefix(&field.prefix);
        self.line(&format!("{},", field_body(field)));
        self.trailing(field.span.end as usize);
    }

    fn variant(&mut self, variant: &Variant) {
        self.leading(variant.span.start as usize, variant.span.end as usize);
        self.prefix(&variant.prefix);
        self.line(&format!("{},", variant.name.name));
        self.trailing(variant.span.end as usize);
    }

    fn case(&mut self, case: &Case) {
        self.leading(case.span.start as usize, case.span.end as usize);
        self.prefix(&case.prefix);
        self.line(&format!("{}: {},", case.name.name, type_expr(&case.ty)));
        self.trailing(case.span.end as usize);
    }

    fn member(&mut self, member: &Member) {
        match member {
            Member::Method(m) => self.method(m),
            Member::Event(e) => {
                self.leading(e.span.start as usize, e.fields.open.start as usize);
                self.prefix(&e.prefix);
                self.block(&format!("event {}", e.name.name), &e.fields, true, Printer::field);
            }
        }
    }

    fn method(&mut self, m: &Method) {
        self.leading(m.span.start as usize, m.params.open.start as usize);
        self.prefix(&m.prefix);
        let mut tail = String::from(")");
        if let Some(r) = &m.returns {
            tail.push_str(" -> ");
            if r.stream {
                tail.push_str("stream ");
            }
            tail.push_str(&type_expr(&r.ty));
        }
        if !m.throws.is_empty() {
            let names: Vec<String> = m.throws.iter().map(crate::ast::Path::to_dotted).collect();
            tail.push_str(" throws ");
            tail.push_str(&names.join(", "));
        }
        tail.push(';');
        let head = format!("fn {}(", m.name.name);
        let plain = m.params.members.iter().all(|p| p.prefix.docs.is_empty());
        if plain && !self.has_comment_in(m.params.open, m.span) {
            let params: Vec<String> = m.params.members.iter().map(param_inline).collect();
            let text = format!("{head}{}{tail}", params.join(", "));
            if self.indent * INDENT.len() + text.len() <= MAX_WIDTH {
                self.line(&text);
                self.trailing(m.span.end as usize);
                return;
            }
        }
        self.line(&head);
        self.last_end = m.params.open.end as usize;
        self.indent += 1;
        for param in &m.params.members {
            self.leading(param.span.start as usize, param.span.end as usize);
            for doc in &param.prefix.docs {
                self.line(&format!("///{}", doc.text));
            }
            self.line(&format!("{},", param_inline(param)));
            self.trailing(param.span.end as usize);
        }
        // Comments after the last parameter, and any in the return type or `throws` list.
        self.leading(m.params.close.start as usize, m.span.end as usize);
        self.indent -= 1;
        self.line(&tail);
        self.trailing(m.span.end as usize);
    }
}

/// Comments keep their text, but line ends become `\n` like the rest of the output.
fn normalize_newlines(text: &str) -> String {
    text.replace("\r\n", "\n")
}

/// What the one-line block layout needs to know of a member.
trait Node {
    /// No docs or attributes.
    fn is_plain(&self) -> bool;
    /// The member on one line, without a trailing comma.
    fn inline(&self) -> String;
}

impl Node for Field {
    fn is_plain(&self) -> bool {
        self.prefix.docs.is_empty() && self.prefix.attrs.is_empty()
    }
    fn inline(&self) -> String {
        field_body(self)
    }
}

impl Node for Variant {
    fn is_plain(&self) -> bool {
        self.prefix.docs.is_empty() && self.prefix.attrs.is_empty()
    }
    fn inline(&self) -> String {
        self.name.name.clone()
    }
}

impl Node for Case {
    fn is_plain(&self) -> bool {
        self.prefix.docs.is_empty() && self.prefix.attrs.is_empty()
    }
    fn inline(&self) -> String {
        format!("{}: {}", self.name.name, type_expr(&self.ty))
    }
}

impl Node for Member {
    fn is_plain(&self) -> bool {
        false
    }
    fn inline(&self) -> String {
        String::new()
    }
}

fn field_body(field: &Field) -> String {
    let mut text = format!("{}: {}", field.name.name, type_expr(&field.ty));
    if let Some(default) = &field.default {
        text.push_str(" = ");
        text.push_str(&value(default));
    }
    text
}

fn param_inline(param: &Field) -> String {
    let mut text = String::new();
    for attr in &param.prefix.attrs {
        text.push_str(&attribute(attr));
        text.push(' ');
    }
    text.push_str(&field_body(param));
    text
}

fn attribute(attr: &Attribute) -> String {
    let mut text = format!("@{}", attr.name.name);
    if let Some(args) = &attr.args {
        let args: Vec<String> = args.iter().map(attr_arg).collect();
        text.push('(');
        text.push_str(&args.join(", "));
        text.push(')');
    }
    text
}

fn attr_arg(arg: &AttrArg) -> String {
    match &arg.name {
        Some(name) => format!("{}: {}", name.name, value(&arg.value)),
        None => value(&arg.value),
    }
}

/// A type as canonical text.
#[must_use]
pub fn type_expr(ty: &TypeExpr) -> String {
    match &ty.kind {
        TypeExprKind::Named(path) => path.to_dotted(),
        TypeExprKind::List(t) => format!("list<{}>", type_expr(t)),
        TypeExprKind::Map(k, v) => format!("map<{}, {}>", type_expr(k), type_expr(v)),
        TypeExprKind::Optional(t) => format!("{}?", type_expr(t)),
    }
}

fn value(v: &Value) -> String {
    match &v.kind {
        ValueKind::Number(raw) | ValueKind::String { raw, .. } => raw.clone(),
        ValueKind::Bool(b) => b.to_string(),
        ValueKind::Null => "null".to_owned(),
        ValueKind::List(items) => format!("[{}]", items.iter().map(value).collect::<Vec<_>>().join(", ")),
        ValueKind::Map(entries) => {
            if entries.is_empty() {
                "{}".to_owned()
            } else {
                let parts: Vec<String> =
                    entries.iter().map(|(k, v)| format!("{}: {}", value(k), value(v))).collect();
                format!("{{ {} }}", parts.join(", "))
            }
        }
        ValueKind::Path(p) => p.to_dotted(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(text: &str) -> String {
        format_source(FileId(0), text).unwrap_or_else(|d| panic!("{d:?}"))
    }

    #[test]
    fn canonical_layout() {
        let src = "package   shop ;\nimport \"a.svc\";struct P{a:u32,@length(max:3) b : string?=\"x\"}\nenum C{A,B}\nservice S{fn f(a:u32)->stream P throws E;@oneway fn g();}";
        assert_eq!(
            fmt(src),
            "package shop;\n\nimport \"a.svc\";\n\nstruct P {\n    a: u32,\n    @length(max: 3)\n    b: string? = \"x\",\n}\n\nenum C { A, B }\n\nservice S {\n    fn f(a: u32) -> stream P throws E;\n    @oneway\n    fn g();\n}\n"
        );
    }

    #[test]
    fn keeps_comments_in_place() {
        let src = "// head\npackage p; // trailing\n\n/// doc\nstruct A {\n    // lead\n    a: u32, // after a\n\n    b: u32,\n    // dangling\n}\n// end\n";
        assert_eq!(fmt(src), src);
    }

    #[test]
    fn hoists_inner_comments_and_is_idempotent() {
        let src = "package p;\nstruct A { a: /* inner */ u32 }\nenum E { X, /* y */ Y }\n";
        let once = fmt(src);
        assert_eq!(
            once,
            "package p;\n\nstruct A {\n    /* inner */\n    a: u32,\n}\n\nenum E {\n    X, /* y */\n    Y,\n}\n"
        );
        assert_eq!(fmt(&once), once);
    }

    #[test]
    fn comments_stay_with_their_member_on_a_shared_line() {
        let once = fmt("package p;\nenum Color { RED, /* a */ GREEN, BLUE /* b */ }\n");
        assert_eq!(once, "package p;\n\nenum Color {\n    RED, /* a */\n    GREEN,\n    BLUE, /* b */\n}\n");
        let once = fmt("package p;\nservice S { fn pick(a: /* x */ u32, b: u32) -> /* y */ Product; }\n");
        assert_eq!(
            once,
            "package p;\n\nservice S {\n    fn pick(\n        /* x */\n        a: u32,\n        b: u32,\n        /* y */\n    ) -> Product;\n}\n"
        );
        assert_eq!(fmt(&once), once);
    }

    #[test]
    fn long_signatures_break_per_parameter() {
        let src = "package p;\nservice S {\n    fn list_products(category: string?, @range(min: 1, max: 500) limit: u32 = 50, after: string?) -> list<Product>;\n}\n";
        assert_eq!(
            fmt(src),
            "package p;\n\nservice S {\n    fn list_products(\n        category: string?,\n        @range(min: 1, max: 500) limit: u32 = 50,\n        after: string?,\n    ) -> list<Product>;\n}\n"
        );
    }
}
