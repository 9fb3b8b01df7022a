//! Attributes: `@name(args)` read into typed settings, for every declaration kind.
//!
//! Both front ends hand their attributes here in the generic [`ast::Attribute`] shape (the
//! macro converts `#[http(GET, "/x")]` to it), so what is allowed where, and every message
//! about it, exists once.

use crate::ast::{self, AttrArg, Attribute, ValueKind};
use crate::diagnostic::{Diagnostic, Diagnostics, closest, did_you_mean};
use crate::model::{Bounds, Constraints, HttpMethod, HttpRoute, Hydrate, Number};
use crate::source::Span;

/// Attribute names, as typed constants (serde's `symbol.rs`).
pub mod symbol {
    /// `@http(METHOD, "/path")`
    pub const HTTP: &str = "http";
    /// `@status(code)`
    pub const STATUS: &str = "status";
    /// `@oneway`
    pub const ONEWAY: &str = "oneway";
    /// `@hydrate(method)`
    pub const HYDRATE: &str = "hydrate";
    /// `@length(min:, max:)`
    pub const LENGTH: &str = "length";
    /// `@range(min:, max:)`
    pub const RANGE: &str = "range";
    /// `@pattern("regex")`
    pub const PATTERN: &str = "pattern";
    /// `@deprecated("why")`
    pub const DEPRECATED: &str = "deprecated";

    /// All of them.
    pub const ALL: [&str; 8] = [HTTP, STATUS, ONEWAY, HYDRATE, LENGTH, RANGE, PATTERN, DEPRECATED];
}

/// What an attribute list is attached to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// `package`
    Package,
    /// `struct`
    Struct,
    /// `error`
    Error,
    /// `enum`
    Enum,
    /// `union`
    Union,
    /// `type` alias
    Alias,
    /// `service`
    Service,
    /// a struct, error or event field
    Field,
    /// a method parameter
    Param,
    /// an enum variant
    Variant,
    /// a union case
    Case,
    /// `fn`
    Method,
    /// `event`
    Event,
}

impl Target {
    fn describe(self) -> &'static str {
        match self {
            Target::Package => "a package",
            Target::Struct => "a struct",
            Target::Error => "an error",
            Target::Enum => "an enum",
            Target::Union => "a union",
            Target::Alias => "a type alias",
            Target::Service => "a service",
            Target::Field => "a field",
            Target::Param => "a parameter",
            Target::Variant => "an enum variant",
            Target::Case => "a union case",
            Target::Method => "a method",
            Target::Event => "an event",
        }
    }
}

/// Where each attribute may go, and how it is written (for messages).
fn rule(name: &str) -> Option<(&'static [Target], &'static str, &'static str)> {
    use Target::{Case, Error, Event, Field, Method, Param};
    Some(match name {
        symbol::HTTP => (&[Method], "methods", r#"@http(GET, "/products/{id}")"#),
        symbol::STATUS => (&[Error], "errors", "@status(404)"),
        symbol::ONEWAY => (&[Method], "methods", "@oneway"),
        symbol::HYDRATE => (&[Event], "events", "@hydrate(get_product)"),
        symbol::LENGTH => (&[Field, Param], "fields and parameters", "@length(min: 1, max: 200)"),
        symbol::RANGE => (&[Field, Param], "fields and parameters", "@range(min: 1, max: 500)"),
        symbol::PATTERN => (&[Field, Param], "fields and parameters", r#"@pattern(r"^[a-z]+$")"#),
        symbol::DEPRECATED => (
            &[
                Target::Package,
                Target::Struct,
                Error,
                Target::Enum,
                Target::Union,
                Target::Alias,
                Target::Service,
                Field,
                Param,
                Target::Variant,
                Case,
                Method,
                Event,
            ],
            "any declaration",
            r#"@deprecated("use get_product_v2")"#,
        ),
        _ => return None,
    })
}

/// The typed content of an attribute list.
#[derive(Clone, Debug, Default)]
pub struct Attrs {
    /// `@http`
    pub http: Option<HttpRoute>,
    /// `@status`
    pub status: Option<u16>,
    /// `@oneway`
    pub oneway: bool,
    /// `@hydrate`
    pub hydrate: Option<Hydrate>,
    /// `@length`, `@range`, `@pattern`
    pub constraints: Constraints,
    /// `@deprecated`
    pub deprecated: Option<String>,
}

/// Reads the attributes of one declaration, reporting unknown, misplaced, repeated and
/// malformed ones.
pub fn lower_attrs(attrs: &[Attribute], target: Target, diags: &mut Diagnostics) -> Attrs {
    let mut out = Attrs::default();
    let mut seen: Vec<(&str, Span)> = Vec::new();
    for attr in attrs {
        let name = attr.name.name.as_str();
        let Some((targets, where_, example)) = rule(name) else {
            diags.push(
                Diagnostic::error(
                    "unknown-attribute",
                    attr.name.span,
                    format!("unknown attribute `@{name}`"),
                )
                .with_help_opt(closest(name, symbol::ALL).map(|c| format!("did you mean `@{c}`?")))
                .with_note(format!(
                    "the attributes are {}",
                    symbol::ALL.iter().map(|s| format!("`@{s}`")).collect::<Vec<_>>().join(", ")
                )),
            );
            continue;
        };
        if !targets.contains(&target) {
            diags.push(
                Diagnostic::error(
                    "misplaced-attribute",
                    attr.span,
                    format!("`@{name}` cannot be used on {}", target.describe()),
                )
                .with_note(format!("`@{name}` applies to {where_}")),
            );
            continue;
        }
        if let Some((_, first)) = seen.iter().find(|(n, _)| *n == name) {
            diags.push(
                Diagnostic::error("duplicate-attribute", attr.span, format!("`@{name}` is given twice"))
                    .with_secondary(*first, "first given here"),
            );
            continue;
        }
        seen.push((name, attr.span));
        let mut args = Args { attr, example, diags };
        match name {
            symbol::HTTP => out.http = args.http(),
            symbol::STATUS => out.status = args.status(),
            symbol::ONEWAY => out.oneway = args.none(),
            symbol::HYDRATE => out.hydrate = args.hydrate(),
            symbol::LENGTH => {
                out.constraints.length = args.bounds(true);
                out.constraints.span.get_or_insert(attr.span);
            }
            symbol::RANGE => {
                out.constraints.range = args.bounds(false);
                out.constraints.span.get_or_insert(attr.span);
            }
            symbol::PATTERN => {
                out.constraints.pattern = args.pattern();
                out.constraints.span.get_or_insert(attr.span);
            }
            symbol::DEPRECATED => out.deprecated = args.deprecated(),
            _ => {}
        }
    }
    out
}

/// Reads the arguments of one attribute.
struct Args<'a, 'd> {
    attr: &'a Attribute,
    example: &'static str,
    diags: &'d mut Diagnostics,
}

impl<'a> Args<'a, '_> {
    fn list(&self) -> &'a [AttrArg] {
        self.attr.args.as_deref().unwrap_or(&[])
    }

    fn wrong(&mut self, span: Span, message: impl Into<String>) {
        self.diags.push(
            Diagnostic::error("attribute-argument", span, message)
                .with_help(format!("write it as `{}`", self.example)),
        );
    }

    /// Exactly `n` positional arguments, or a diagnostic.
    fn positional(&mut self, n: usize, what: &str) -> Option<&'a [AttrArg]> {
        let list = self.list();
        let name = &self.attr.name.name;
        if list.len() != n {
            let span = self.attr.span;
            self.wrong(span, format!("`@{name}` takes {what}"));
            return None;
        }
        if let Some(named) = list.iter().find_map(|a| a.name.as_ref()) {
            let span = named.span;
            self.wrong(span, format!("`@{name}` takes no named arguments"));
            return None;
        }
        Some(list)
    }

    fn none(&mut self) -> bool {
        if self.attr.args.is_some() {
            let span = self.attr.span;
            let name = self.attr.name.name.clone();
            self.wrong(span, format!("`@{name}` takes no arguments"));
        }
        true
    }

    fn string(&mut self, arg: &AttrArg, what: &str) -> Option<String> {
        if let ValueKind::String { value, .. } = &arg.value.kind {
            Some(value.clone())
        } else {
            self.wrong(arg.value.span, format!("expected {what} (a string)"));
            None
        }
    }

    fn http(&mut self) -> Option<HttpRoute> {
        let list = self.positional(2, "an HTTP method and a path")?;
        let method = match &list[0].value.kind {
            ValueKind::Path(p) if p.segments.len() == 1 => {
                let word = p.segments[0].name.as_str();
                if let Some((_, m)) = HttpMethod::ALL.iter().find(|(n, _)| *n == word) {
                    Some(*m)
                } else {
                    let upper = word.to_ascii_uppercase();
                    let help = HttpMethod::ALL
                        .iter()
                        .find(|(n, _)| *n == upper)
                        .map(|(n, _)| format!("did you mean `{n}`?"))
                        .or_else(|| did_you_mean(&upper, HttpMethod::ALL.iter().map(|(n, _)| *n)));
                    self.diags.push(
                        Diagnostic::error(
                            "attribute-argument",
                            p.span,
                            format!("unknown HTTP method `{word}`"),
                        )
                        .with_note("methods can be GET, POST, PUT, PATCH or DELETE")
                        .with_help_opt(help),
                    );
                    None
                }
            }
            _ => {
                let span = list[0].value.span;
                self.wrong(span, "expected an HTTP method (GET, POST, PUT, PATCH or DELETE)");
                None
            }
        };
        let path = self.string(&list[1], "a path")?;
        if !path.starts_with('/') {
            self.diags.push(
                Diagnostic::error(
                    "attribute-argument",
                    list[1].value.span,
                    "an HTTP path must start with `/`",
                )
                .with_help(format!("write \"/{path}\"")),
            );
            return None;
        }
        if path.contains(['?', '#', ' ']) {
            self.diags.push(
                Diagnostic::error(
                    "attribute-argument",
                    list[1].value.span,
                    "an HTTP path cannot contain `?`, `#` or spaces",
                )
                .with_note("parameters not in the path travel in the query string or the body on their own"),
            );
            return None;
        }
        Some(HttpRoute { method: method?, path, span: self.attr.span, path_span: list[1].value.span })
    }

    fn status(&mut self) -> Option<u16> {
        let list = self.positional(1, "one HTTP status code")?;
        let arg = &list[0];
        if let ValueKind::Number(raw) = &arg.value.kind {
            match parse_number(raw) {
                Some(Number::Int(code)) if (400..=599).contains(&code) => u16::try_from(code).ok(),
                _ => {
                    self.diags.push(
                        Diagnostic::error(
                            "attribute-argument",
                            arg.value.span,
                            format!("`{raw}` is not an error status"),
                        )
                        .with_note("errors map to HTTP statuses from 400 to 599"),
                    );
                    None
                }
            }
        } else {
            let span = arg.value.span;
            self.wrong(span, "expected an HTTP status code (a number)");
            None
        }
    }

    fn hydrate(&mut self) -> Option<Hydrate> {
        let list = self.positional(1, "the name of the method that hydrates the event")?;
        match &list[0].value.kind {
            ValueKind::Path(p) if p.segments.len() == 1 => {
                Some(Hydrate { method: p.segments[0].name.clone(), span: p.span })
            }
            _ => {
                let span = list[0].value.span;
                self.wrong(span, "expected a method name");
                None
            }
        }
    }

    fn pattern(&mut self) -> Option<String> {
        let list = self.positional(1, "one regular expression")?;
        let pattern = self.string(&list[0], "a regular expression")?;
        if let Err(error) = regex_syntax::Parser::new().parse(&pattern) {
            // The error's own text spans several lines with its own caret; keep its kind.
            let detail = error.to_string();
            let reason = detail.lines().last().unwrap_or("invalid").trim_start_matches("error: ").to_owned();
            self.diags.push(
                Diagnostic::error(
                    "invalid-pattern",
                    list[0].value.span,
                    format!("invalid regular expression: {reason}"),
                )
                .with_note("patterns use the syntax of the Rust `regex` crate"),
            );
            return None;
        }
        if let Err(error) = regex::Regex::new(&pattern) {
            self.diags.push(
                Diagnostic::error(
                    "invalid-pattern",
                    list[0].value.span,
                    format!("regular expression too large: {error}"),
                )
                .with_note("servers compile the pattern with the Rust `regex` crate, which refuses it"),
            );
            return None;
        }
        Some(pattern)
    }

    fn deprecated(&mut self) -> Option<String> {
        match self.list() {
            [] => Some(String::new()),
            [arg] if arg.name.is_none() => self.string(arg, "the reason"),
            [arg] => {
                let span = arg.span;
                self.wrong(span, "`@deprecated` takes no named arguments");
                None
            }
            _ => {
                let span = self.attr.span;
                self.wrong(span, "`@deprecated` takes at most one argument, the reason");
                None
            }
        }
    }

    /// `min:` and `max:`, at least one; integers ≥ 0 for `@length`.
    fn bounds(&mut self, length: bool) -> Option<Bounds> {
        let mut bounds = Bounds { min: None, max: None };
        let name = self.attr.name.name.clone();
        let mut ok = true;
        for arg in self.list() {
            let Some(arg_name) = &arg.name else {
                self.wrong(arg.span, format!("`@{name}` takes named arguments, `min:` and `max:`"));
                ok = false;
                continue;
            };
            let slot = match arg_name.name.as_str() {
                "min" => &mut bounds.min,
                "max" => &mut bounds.max,
                other => {
                    self.diags.push(
                        Diagnostic::error(
                            "attribute-argument",
                            arg_name.span,
                            format!("`@{name}` has no argument `{other}`"),
                        )
                        .with_help_opt(did_you_mean(other, ["min", "max"]))
                        .with_note(format!("`@{name}` takes `min:` and `max:`")),
                    );
                    ok = false;
                    continue;
                }
            };
            let number = match &arg.value.kind {
                ValueKind::Number(raw) => parse_number(raw),
                _ => None,
            };
            match number {
                Some(Number::Int(n)) if length && n < 0 => {
                    self.diags.push(Diagnostic::error(
                        "attribute-argument",
                        arg.value.span,
                        "a length cannot be negative",
                    ));
                    ok = false;
                }
                Some(Number::Float(_)) if length => {
                    self.diags.push(Diagnostic::error(
                        "attribute-argument",
                        arg.value.span,
                        "a length must be a whole number",
                    ));
                    ok = false;
                }
                Some(n) => *slot = Some(n),
                None => {
                    self.wrong(arg.value.span, "expected a number");
                    ok = false;
                }
            }
        }
        if !ok {
            return None;
        }
        if bounds.min.is_none() && bounds.max.is_none() {
            let span = self.attr.span;
            self.wrong(span, format!("`@{name}` needs `min:`, `max:` or both"));
            return None;
        }
        if let (Some(min), Some(max)) = (bounds.min, bounds.max)
            && min.as_f64() > max.as_f64()
        {
            self.diags.push(Diagnostic::error(
                "attribute-argument",
                self.attr.span,
                format!("`@{name}` has `min` greater than `max`"),
            ));
            return None;
        }
        Some(bounds)
    }
}

/// Reads a number literal: decimal or `0x` hex integers (with `_`), or a float.
#[must_use]
pub fn parse_number(raw: &str) -> Option<Number> {
    let clean: String = raw.chars().filter(|c| *c != '_').collect();
    let (negative, digits) = match clean.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, clean.as_str()),
    };
    let magnitude = if let Some(hex) = digits.strip_prefix("0x") {
        i128::from_str_radix(hex, 16).ok().map(Number::Int)
    } else if digits.contains(['.', 'e', 'E']) {
        digits.parse::<f64>().ok().filter(|f| f.is_finite()).map(Number::Float)
    } else {
        digits.parse::<i128>().ok().map(Number::Int)
    };
    match (negative, magnitude?) {
        (true, Number::Int(i)) => Some(Number::Int(-i)),
        (true, Number::Float(f)) => Some(Number::Float(-f)),
        (false, n) => Some(n),
    }
}

/// The docs of a prefix: `///` text with one leading space removed.
#[must_use]
pub fn docs(prefix: &ast::Prefix) -> Vec<String> {
    prefix.docs.iter().map(|d| d.text.strip_prefix(' ').unwrap_or(&d.text).to_owned()).collect()
}
