//! `parse_*`: text → [`ast::File`] with pest. No pest type leaves this module.

use std::sync::Mutex;

use pest::Parser as _;
use pest::iterators::Pair;

use crate::ast::{
    AttrArg, Attribute, Block, Case, Doc, Event, Field, File, Ident, Import, Item, ItemKind, Member, Method,
    PackageDecl, Path, Prefix, Returns, TypeExpr, TypeExprKind, Value, ValueKind, Variant,
};
use crate::comments::{self, Comment};
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::source::{FileId, MAX_FILE_SIZE, Span};

mod grammar {
    //! The pest parser; private, so its `Rule` type never leaves this module.
    #[derive(pest_derive::Parser)]
    #[grammar = "grammar.pest"]
    pub(super) struct SvcParser;
}
use grammar::{Rule, SvcParser};

/// How many syntax errors one file may report before the parser gives up on it.
const MAX_SYNTAX_ERRORS: usize = 20;

/// A parsed file and its comments (for the formatter).
#[derive(Clone, Debug)]
pub struct Parsed {
    /// The syntax tree.
    pub file: File,
    /// Every `//` and `/* */` comment, in order.
    pub comments: Vec<Comment>,
}

/// Parses one file. `None` when it has syntax errors, all of them reported in `diags`.
pub fn parse_file(file: FileId, text: &str, diags: &mut Diagnostics) -> Option<Parsed> {
    if text.len() > MAX_FILE_SIZE {
        diags.push(
            Diagnostic::error("file-too-large", Span::new(file, 0, 0), "file is too large").with_note(
                format!(
                    "the file has {} bytes; svcgen reads files of up to {} MiB",
                    text.len(),
                    MAX_FILE_SIZE >> 20
                ),
            ),
        );
        return None;
    }
    let before = diags.error_count();
    let comments = comments::scan(file, text, diags);
    if diags.error_count() > before {
        return None;
    }
    if let Ok(mut pairs) = SvcParser::parse(Rule::file, text) {
        let builder = Builder { file, base: 0, text, comments: &comments, diags };
        let ast = pairs.next().map(|p| builder.file(p));
        if diags.error_count() > before {
            return None;
        }
        ast.map(|file| Parsed { file, comments })
    } else {
        report_syntax_errors(file, text, diags);
        None
    }
}

/// Reports the first syntax error, then resumes at the next line that starts a declaration
/// and reports the next, up to [`MAX_SYNTAX_ERRORS`].
fn report_syntax_errors(file: FileId, text: &str, diags: &mut Diagnostics) {
    let mut base = 0;
    let mut rule = Rule::file;
    for _ in 0..MAX_SYNTAX_ERRORS {
        let rest = &text[base..];
        let Some(error) = detailed_error(rule, rest) else { return };
        let (position, message) = describe(&error, rest);
        let at = base + position;
        let end = at + rest[position..].chars().next().map_or(0, char::len_utf8);
        diags.push(Diagnostic::error("syntax", Span::new(file, at, end), message));
        match next_declaration(text, at) {
            Some(next) => {
                base = next;
                rule = Rule::items;
            }
            None => return,
        }
    }
}

/// The parse error with the expected tokens filled in.
///
/// pest only records them when "error detail" is on, a process-wide switch that slows the
/// happy path; so it is turned on here alone, under a lock, for the failing file.
fn detailed_error(rule: Rule, text: &str) -> Option<pest::error::Error<Rule>> {
    static DETAIL: Mutex<()> = Mutex::new(());
    let _guard = DETAIL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    pest::set_error_detail(true);
    let result = SvcParser::parse(rule, text);
    pest::set_error_detail(false);
    result.err()
}

/// The offset of the next line after `after` that starts (at column 0) with something that
/// can only begin a declaration.
fn next_declaration(text: &str, after: usize) -> Option<usize> {
    let mut offset = text[after..].find('\n')? + after + 1;
    loop {
        let line = &text[offset..];
        let starts = ["struct ", "enum ", "union ", "type ", "error ", "service ", "@", "///"];
        if starts.iter().any(|s| line.starts_with(s)) {
            return Some(offset);
        }
        offset += line.find('\n')? + 1;
    }
}

/// Where the error is and a sentence for it: "expected `,` or `}`, found `name`".
fn describe(error: &pest::error::Error<Rule>, text: &str) -> (usize, String) {
    let mut expected: Vec<String> = Vec::new();
    let mut position = match error.location {
        pest::error::InputLocation::Pos(p) | pest::error::InputLocation::Span((p, _)) => p,
    };
    if let Some(attempts) = error.parse_attempts() {
        position = attempts.max_position;
        for token in attempts.expected_tokens() {
            // `ParsingToken` is not exported; its Display is the literal for plain tokens.
            // Only punctuation: white space and comment openers can go anywhere, and words
            // (keywords, identifier characters) are named through their rules below.
            let token = token.to_string();
            let punctuation = !token.is_empty()
                && token.chars().all(|c| c.is_ascii_punctuation() && c != '_')
                && !matches!(token.as_str(), "//" | "/*" | "///");
            if punctuation {
                push_unique(&mut expected, token_name(&token));
            }
        }
        for stack in attempts.call_stacks() {
            let rule = stack.deepest.get_rule().copied().or(stack.parent);
            if let Some(name) = rule.and_then(rule_name) {
                push_unique(&mut expected, name.to_owned());
            }
        }
    } else if let pest::error::ErrorVariant::ParsingError { positives, .. } = &error.variant {
        for rule in positives {
            if let Some(name) = rule_name(*rule) {
                push_unique(&mut expected, name.to_owned());
            }
        }
    } else if let pest::error::ErrorVariant::CustomError { message } = &error.variant {
        // "stack limit reached" and the like.
        return (position.min(text.len()), format!("cannot parse this file: {message}"));
    }
    // Keep the list short and stable: specific tokens first, in a fixed order.
    expected.sort_by_key(|e| (rank(e), e.clone()));
    expected.dedup();
    if expected.iter().any(|e| e == "a type") {
        expected.retain(|e| e != "a name");
    }
    if expected.iter().any(|e| e == "an attribute") {
        expected.retain(|e| e != "`@`");
    }
    let position = position.min(text.len());
    if expected.is_empty() && text[..position].trim_end().ends_with("->") {
        expected.push("a type (or `stream` and a type)".to_owned());
    }
    let found = found_text(&text[position..]);
    let message = match expected.len() {
        0 => format!("unexpected {found}"),
        1 => format!("expected {}, found {found}", expected[0]),
        n => format!("expected {} or {}, found {found}", expected[..n - 1].join(", "), expected[n - 1]),
    };
    (position, message)
}

fn push_unique(list: &mut Vec<String>, item: String) {
    if !list.contains(&item) {
        list.push(item);
    }
}

fn rank(name: &str) -> u8 {
    u8::from(!name.starts_with('`'))
}

fn token_name(token: &str) -> String {
    format!("`{token}`")
}

/// How a rule is named in "expected ..." messages; `None` to leave it out.
fn rule_name(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::ident | Rule::path => "a name",
        Rule::kw_package => "`package`",
        Rule::kw_import => "`import`",
        Rule::kw_struct
        | Rule::kw_enum
        | Rule::kw_union
        | Rule::kw_type
        | Rule::kw_error
        | Rule::kw_service
        | Rule::item => "a declaration (`struct`, `enum`, `union`, `type`, `error`, `service`)",
        Rule::kw_fn | Rule::kw_event | Rule::member | Rule::method | Rule::event => "`fn` or `event`",
        Rule::kw_throws | Rule::throws => "`throws`",
        Rule::type_ref | Rule::list_type | Rule::map_type | Rule::kw_list | Rule::kw_map => "a type",
        Rule::value
        | Rule::number
        | Rule::string
        | Rule::boolean
        | Rule::null
        | Rule::list_value
        | Rule::map_value
        | Rule::map_entry => "a value",
        Rule::attribute | Rule::attr_name => "an attribute",
        Rule::attr_args | Rule::attr_arg => "attribute arguments",
        Rule::field => "a field",
        Rule::variant => "a variant",
        Rule::case => "a case",
        Rule::open => "`{`",
        Rule::open_paren => "`(`",
        Rule::close => "`}`",
        Rule::close_paren => "`)`",
        Rule::optional => "`?`",
        Rule::stream => "`stream`",
        Rule::EOI => "end of file",
        _ => return None,
    })
}

/// "`word`", "`,`" or "end of file", for the token at the start of `rest`.
fn found_text(rest: &str) -> String {
    let rest = rest.trim_start_matches([' ', '\t', '\r', '\n']);
    let Some(first) = rest.chars().next() else { return "end of file".to_owned() };
    if first.is_ascii_alphanumeric() || first == '_' {
        let word: String =
            rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').take(40).collect();
        format!("`{word}`")
    } else if first == '/' && rest.starts_with("///") {
        "a doc comment".to_owned()
    } else if first.is_control() {
        format!("a control character (U+{:04X})", u32::from(first))
    } else {
        format!("`{first}`")
    }
}

/// Pairs → AST. Every rule the grammar guarantees is read with `next_pair`, which cannot fail
/// on pest's output; unexpected shapes would be a grammar/builder mismatch in svcgen.
struct Builder<'a, 'd> {
    file: FileId,
    base: usize,
    text: &'a str,
    /// The comments, to trim them off span ends.
    comments: &'a [Comment],
    diags: &'d mut Diagnostics,
}

type P<'i> = Pair<'i, Rule>;

impl Builder<'_, '_> {
    /// The pair's span without trailing white space and comments: pest leaves the implicit
    /// skip inside a rule when an optional tail (`= default`, `?`) does not match.
    fn span(&self, pair: &P<'_>) -> Span {
        let s = pair.as_span();
        let start = self.base + s.start();
        let mut end = self.base + s.end();
        loop {
            let trimmed =
                self.text[start..end].trim_end_matches([' ', '\t', '\r', '\n', '\u{FEFF}']).len() + start;
            let comment = self.comments.binary_search_by_key(&trimmed, |c| c.span.end as usize);
            match comment {
                Ok(i) if self.comments[i].span.start as usize >= start => {
                    end = self.comments[i].span.start as usize;
                }
                _ => {
                    end = trimmed;
                    break;
                }
            }
        }
        Span::new(self.file, start, end)
    }

    fn file(mut self, pair: P<'_>) -> File {
        let mut package = None;
        let mut imports = Vec::new();
        let mut items = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::package_decl => package = Some(self.package(p)),
                Rule::import_decl => imports.push(self.import(p)),
                Rule::item => items.push(self.item(p)),
                _ => {}
            }
        }
        let package = package.unwrap_or_else(|| PackageDecl {
            prefix: Prefix::default(),
            name: Path { segments: Vec::new(), span: Span::new(self.file, 0, 0) },
            span: Span::new(self.file, 0, 0),
        });
        File { package, imports, items }
    }

    fn package(&mut self, pair: P<'_>) -> PackageDecl {
        let span = self.span(&pair);
        let mut prefix = Prefix::default();
        let mut name = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::prefix => prefix = self.prefix(p),
                Rule::path => name = Some(self.path(p)),
                _ => {}
            }
        }
        let name = name.unwrap_or_else(|| Path { segments: Vec::new(), span });
        PackageDecl { prefix, name, span }
    }

    fn import(&mut self, pair: P<'_>) -> Import {
        let span = self.span(&pair);
        let mut path = String::new();
        let mut raw = String::new();
        let mut path_span = span;
        for p in pair.into_inner() {
            if p.as_rule() == Rule::string {
                path_span = self.span(&p);
                p.as_str().clone_into(&mut raw);
                path = self.unescape(&p);
            }
        }
        Import { path, raw, path_span, span }
    }

    fn prefix(&mut self, pair: P<'_>) -> Prefix {
        let mut prefix = Prefix::default();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::doc => {
                    let text = p.as_str()[3..].trim_end().to_owned();
                    prefix.docs.push(Doc { text, span: self.span(&p) });
                }
                Rule::attribute => prefix.attrs.push(self.attribute(p)),
                _ => {}
            }
        }
        prefix
    }

    fn attribute(&mut self, pair: P<'_>) -> Attribute {
        let span = self.span(&pair);
        let mut name = None;
        let mut args = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::attr_name => {
                    name = p.into_inner().next().map(|i| self.ident(&i));
                }
                Rule::attr_args => {
                    let mut list = Vec::new();
                    for arg in p.into_inner() {
                        let arg_span = self.span(&arg);
                        let mut arg_name = None;
                        let mut value = None;
                        for q in arg.into_inner() {
                            match q.as_rule() {
                                Rule::ident => arg_name = Some(self.ident(&q)),
                                Rule::value => value = Some(self.value(q)),
                                _ => {}
                            }
                        }
                        if let Some(value) = value {
                            list.push(AttrArg { name: arg_name, value, span: arg_span });
                        }
                    }
                    args = Some(list);
                }
                _ => {}
            }
        }
        let name = name.unwrap_or(Ident { name: String::new(), span });
        Attribute { name, args, span }
    }

    fn item(&mut self, pair: P<'_>) -> Item {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let prefix = match inner.next() {
            Some(p) if p.as_rule() == Rule::prefix => self.prefix(p),
            _ => Prefix::default(),
        };
        let def = inner.next();
        let mut name = Ident { name: String::new(), span };
        let kind = match def {
            Some(def) => {
                let rule = def.as_rule();
                let mut parts = def.into_inner().filter(|p| !is_keyword(p.as_rule()));
                if let Some(n) = parts.next() {
                    name = self.ident(&n);
                }
                let body = parts.next();
                match (rule, body) {
                    (Rule::struct_def, Some(b)) => ItemKind::Struct(self.fields(b)),
                    (Rule::error_def, Some(b)) => ItemKind::Error(self.fields(b)),
                    (Rule::alias_def, Some(b)) => ItemKind::Alias(self.type_expr(b)),
                    (Rule::enum_def, body) => ItemKind::Enum(self.collect(body, parts, Self::variant)),
                    (Rule::union_def, body) => ItemKind::Union(self.collect(body, parts, Self::case)),
                    (Rule::service_def, body) => ItemKind::Service(self.collect(body, parts, Self::member)),
                    _ => ItemKind::Struct(Block { members: Vec::new(), open: span, close: span }),
                }
            }
            None => ItemKind::Struct(Block { members: Vec::new(), open: span, close: span }),
        };
        Item { prefix, name, kind, span }
    }

    /// Members of a `{ ... }` whose pairs follow the name directly, up to the `close` pair.
    fn collect<'i, T>(
        &mut self,
        first: Option<P<'i>>,
        rest: impl Iterator<Item = P<'i>>,
        mut build: impl FnMut(&mut Self, P<'i>) -> T,
    ) -> Block<T> {
        let mut members = Vec::new();
        let mut open = Span::new(self.file, 0, 0);
        let mut close = open;
        for p in first.into_iter().chain(rest) {
            match p.as_rule() {
                Rule::open => open = self.span(&p),
                Rule::close => close = self.span(&p),
                _ => members.push(build(self, p)),
            }
        }
        Block { members, open, close }
    }

    fn fields(&mut self, pair: P<'_>) -> Block<Field> {
        let span = self.span(&pair);
        let mut block = Block { members: Vec::new(), open: span, close: span };
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::field => block.members.push(self.field(p)),
                Rule::open | Rule::open_paren => block.open = self.span(&p),
                Rule::close | Rule::close_paren => block.close = self.span(&p),
                _ => {}
            }
        }
        block
    }

    fn field(&mut self, pair: P<'_>) -> Field {
        let span = self.span(&pair);
        let mut prefix = Prefix::default();
        let mut name = Ident { name: String::new(), span };
        let mut ty = None;
        let mut default = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::prefix => prefix = self.prefix(p),
                Rule::ident => name = self.ident(&p),
                Rule::type_ref => ty = Some(self.type_expr(p)),
                Rule::value => default = Some(self.value(p)),
                _ => {}
            }
        }
        let ty = ty.unwrap_or_else(|| missing_type(span));
        Field { prefix, name, ty, default, span }
    }

    fn variant(&mut self, pair: P<'_>) -> Variant {
        let span = self.span(&pair);
        let mut prefix = Prefix::default();
        let mut name = Ident { name: String::new(), span };
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::prefix => prefix = self.prefix(p),
                Rule::ident => name = self.ident(&p),
                _ => {}
            }
        }
        Variant { prefix, name, span }
    }

    fn case(&mut self, pair: P<'_>) -> Case {
        let span = self.span(&pair);
        let mut prefix = Prefix::default();
        let mut name = Ident { name: String::new(), span };
        let mut ty = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::prefix => prefix = self.prefix(p),
                Rule::ident => name = self.ident(&p),
                Rule::type_ref => ty = Some(self.type_expr(p)),
                _ => {}
            }
        }
        let ty = ty.unwrap_or_else(|| missing_type(span));
        Case { prefix, name, ty, span }
    }

    fn member(&mut self, pair: P<'_>) -> Member {
        let span = self.span(&pair);
        let mut prefix = Prefix::default();
        let mut member = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::prefix => prefix = self.prefix(p),
                Rule::method => member = Some(Member::Method(self.method(p, span))),
                Rule::event => member = Some(Member::Event(self.event(p, span))),
                _ => {}
            }
        }
        match member {
            Some(Member::Method(mut m)) => {
                m.prefix = prefix;
                Member::Method(m)
            }
            Some(Member::Event(mut e)) => {
                e.prefix = prefix;
                Member::Event(e)
            }
            None => Member::Event(Event {
                prefix,
                name: Ident { name: String::new(), span },
                fields: Block { members: Vec::new(), open: span, close: span },
                span,
            }),
        }
    }

    fn method(&mut self, pair: P<'_>, span: Span) -> Method {
        let mut name = Ident { name: String::new(), span };
        let mut params = Block { members: Vec::new(), open: span, close: span };
        let mut returns = None;
        let mut throws = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::ident => name = self.ident(&p),
                Rule::params => params = self.fields(p),
                Rule::returns => {
                    let rspan = self.span(&p);
                    let mut stream = false;
                    let mut ty = None;
                    for q in p.into_inner() {
                        match q.as_rule() {
                            Rule::stream => stream = true,
                            Rule::type_ref => ty = Some(self.type_expr(q)),
                            _ => {}
                        }
                    }
                    let ty = ty.unwrap_or_else(|| missing_type(rspan));
                    returns = Some(Returns { stream, ty, span: rspan });
                }
                Rule::throws => {
                    throws =
                        p.into_inner().filter(|q| q.as_rule() == Rule::path).map(|q| self.path(q)).collect();
                }
                _ => {}
            }
        }
        Method { prefix: Prefix::default(), name, params, returns, throws, span }
    }

    fn event(&mut self, pair: P<'_>, span: Span) -> Event {
        let mut name = Ident { name: String::new(), span };
        let mut fields = Block { members: Vec::new(), open: span, close: span };
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::ident => name = self.ident(&p),
                Rule::fields => fields = self.fields(p),
                _ => {}
            }
        }
        Event { prefix: Prefix::default(), name, fields, span }
    }

    fn type_expr(&mut self, pair: P<'_>) -> TypeExpr {
        let span = self.span(&pair);
        let mut base = None;
        let mut optional = false;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::path => {
                    let path = self.path(p);
                    base = Some(TypeExpr { span: path.span, kind: TypeExprKind::Named(path) });
                }
                Rule::list_type => {
                    let lspan = self.span(&p);
                    let mut args = p.into_inner().filter(|q| q.as_rule() == Rule::type_ref);
                    let elem = args.next().map_or_else(|| missing_type(lspan), |q| self.type_expr(q));
                    base = Some(TypeExpr { kind: TypeExprKind::List(Box::new(elem)), span: lspan });
                }
                Rule::map_type => {
                    let mspan = self.span(&p);
                    let mut args = p.into_inner().filter(|q| q.as_rule() == Rule::type_ref);
                    let key = args.next().map_or_else(|| missing_type(mspan), |q| self.type_expr(q));
                    let value = args.next().map_or_else(|| missing_type(mspan), |q| self.type_expr(q));
                    base = Some(TypeExpr {
                        kind: TypeExprKind::Map(Box::new(key), Box::new(value)),
                        span: mspan,
                    });
                }
                Rule::optional => optional = true,
                _ => {}
            }
        }
        let base = base.unwrap_or_else(|| missing_type(span));
        if optional { TypeExpr { kind: TypeExprKind::Optional(Box::new(base)), span } } else { base }
    }

    fn value(&mut self, pair: P<'_>) -> Value {
        let span = self.span(&pair);
        let Some(inner) = pair.into_inner().next() else {
            return Value { kind: ValueKind::Null, span };
        };
        let kind = match inner.as_rule() {
            Rule::number => ValueKind::Number(inner.as_str().to_owned()),
            Rule::string => {
                let raw = inner.as_str().to_owned();
                let value = self.unescape(&inner);
                ValueKind::String { value, raw }
            }
            Rule::boolean => ValueKind::Bool(inner.as_str() == "true"),
            Rule::list_value => ValueKind::List(
                inner.into_inner().filter(|p| p.as_rule() == Rule::value).map(|p| self.value(p)).collect(),
            ),
            Rule::map_value => ValueKind::Map(
                inner
                    .into_inner()
                    .filter_map(|entry| {
                        let mut kv = entry.into_inner().filter(|p| p.as_rule() == Rule::value);
                        let k = kv.next()?;
                        let v = kv.next()?;
                        Some((self.value(k), self.value(v)))
                    })
                    .collect(),
            ),
            Rule::path => ValueKind::Path(self.path(inner)),
            _ => ValueKind::Null,
        };
        Value { kind, span }
    }

    fn path(&mut self, pair: P<'_>) -> Path {
        let span = self.span(&pair);
        let segments =
            pair.into_inner().filter(|p| p.as_rule() == Rule::ident).map(|p| self.ident(&p)).collect();
        Path { segments, span }
    }

    fn ident(&self, pair: &P<'_>) -> Ident {
        Ident { name: pair.as_str().to_owned(), span: self.span(pair) }
    }

    /// The text of a string literal, escapes resolved; bad escapes are reported.
    fn unescape(&mut self, pair: &P<'_>) -> String {
        let raw = pair.as_str();
        let start = self.base + pair.as_span().start();
        if let Some(body) = raw.strip_prefix("r\"") {
            return body.strip_suffix('"').unwrap_or(body).to_owned();
        }
        let body = raw.strip_prefix('"').and_then(|b| b.strip_suffix('"')).unwrap_or(raw);
        let mut out = String::with_capacity(body.len());
        let mut chars = body.char_indices();
        while let Some((i, c)) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            let at = start + 1 + i;
            match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, 't')) => out.push('\t'),
                Some((_, 'r')) => out.push('\r'),
                Some((_, '0')) => out.push('\0'),
                Some((_, '\\')) => out.push('\\'),
                Some((_, '"')) => out.push('"'),
                Some((j, 'u')) => {
                    let rest = &body[j + 1..];
                    let code = rest
                        .strip_prefix('{')
                        .and_then(|r| r.split_once('}'))
                        .and_then(|(hex, _)| u32::from_str_radix(hex, 16).ok().map(|v| (v, hex.len())));
                    match code.and_then(|(v, len)| char::from_u32(v).map(|c| (c, len))) {
                        Some((c, len)) => {
                            out.push(c);
                            for _ in 0..len + 2 {
                                chars.next();
                            }
                        }
                        None => self.diags.push(
                            Diagnostic::error(
                                "invalid-escape",
                                Span::new(self.file, at, at + 2),
                                "invalid unicode escape",
                            )
                            .with_help("write a code point as `\\u{1F600}`"),
                        ),
                    }
                }
                Some((_, other)) => self.diags.push(
                    Diagnostic::error(
                        "invalid-escape",
                        Span::new(self.file, at, at + 1 + other.len_utf8()),
                        format!("unknown escape `\\{other}`"),
                    )
                    .with_note(r#"strings know `\n`, `\t`, `\r`, `\0`, `\\`, `\"` and `\u{...}`"#)
                    .with_help(r#"for backslashes (as in regular expressions) use a raw string: r"^\d+$""#),
                ),
                None => {}
            }
        }
        out
    }
}

fn is_keyword(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::kw_struct | Rule::kw_enum | Rule::kw_union | Rule::kw_type | Rule::kw_error | Rule::kw_service
    )
}

fn missing_type(span: Span) -> TypeExpr {
    TypeExpr { kind: TypeExprKind::Named(Path { segments: Vec::new(), span }), span }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Option<Parsed>, Vec<Diagnostic>) {
        let mut diags = Diagnostics::new();
        let parsed = parse_file(FileId(0), text, &mut diags);
        (parsed, diags.take())
    }

    #[test]
    fn parses_the_design_example_shapes() {
        let (parsed, diags) = parse(
            r#"package shop.catalog;
import "money.svc";
/// A product.
struct Product { id: u64, @length(min: 1, max: 200) name: string, tags: list<string>, description: string?, }
type ProductId = u64;
enum Currency { EUR, USD, GBP }
union Payment { card: Card, voucher: string }
@status(404)
error NotFound { id: ProductId }
service Catalog {
    @http(GET, "/products/{id}")
    fn get_product(id: ProductId) -> Product throws NotFound;
    fn list_products(category: string?, @range(min: 1, max: 500) limit: u32 = 50) -> list<Product>;
    fn watch_prices(ids: list<ProductId>) -> stream PriceTick;
    @oneway
    fn reindex(full: bool);
    @hydrate(get_product)
    event product_created { id: ProductId }
}
"#,
        );
        assert!(diags.is_empty(), "{diags:?}");
        let file = parsed.expect("parses").file;
        assert_eq!(file.package.name.to_dotted(), "shop.catalog");
        assert_eq!(file.imports[0].path, "money.svc");
        assert_eq!(file.items.len(), 6);
        let ItemKind::Service(block) = &file.items[5].kind else { panic!("not a service") };
        assert_eq!(block.members.len(), 5);
        let Member::Method(m) = &block.members[2] else { panic!("not a method") };
        assert!(m.returns.as_ref().is_some_and(|r| r.stream));
    }

    #[test]
    fn contextual_keywords_are_names() {
        let (parsed, diags) =
            parse("package p; struct S { type: string, error: u8, event: bool, stream: string? }");
        assert!(diags.is_empty(), "{diags:?}");
        let ItemKind::Struct(block) = &parsed.expect("parses").file.items[0].kind else { panic!() };
        let names: Vec<_> = block.members.iter().map(|f| f.name.name.as_str()).collect();
        assert_eq!(names, ["type", "error", "event", "stream"]);
    }

    #[test]
    fn reports_expected_tokens() {
        let (_, diags) = parse("package p;\nstruct S {\n    a: u32\n    b: u32,\n}\n");
        assert_eq!(diags.len(), 1);
        assert!(diags[0].message.contains("expected"), "{}", diags[0].message);
        assert!(diags[0].message.contains("found `b`"), "{}", diags[0].message);
    }

    #[test]
    fn reports_several_syntax_errors() {
        let (_, diags) = parse("package p;\nstruct A { a: }\nstruct B { b u32 }\nenum C { }\n");
        assert_eq!(diags.len(), 2, "{diags:?}");
    }

    #[test]
    fn unescapes_strings() {
        let (parsed, diags) = parse(r#"package p; @deprecated("a\"b\u{41}\n") struct S {}"#);
        assert!(diags.is_empty(), "{diags:?}");
        let file = parsed.expect("parses").file;
        let value = &file.items[0].prefix.attrs[0].args.as_ref().expect("args")[0].value;
        assert_eq!(
            value.kind,
            ValueKind::String { value: "a\"bA\n".into(), raw: r#""a\"b\u{41}\n""#.into() }
        );
    }
}
