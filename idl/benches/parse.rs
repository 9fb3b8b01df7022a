//! Parse + check throughput on a large generated `.svc` file, measured side by side with the
//! `toml` crate (cargo's TOML parser) on a TOML document of the same byte size.
//!
//! Run with `cargo bench -p svcgen-idl --bench parse`. It is a plain bench binary
//! (`harness = false`): it generates both inputs deterministically, checks that they are
//! valid, then times them interleaved in the same process and prints a table.
//!
//! Environment:
//! - `SVCGEN_BENCH_ROUNDS` — timed rounds (default 15, after 3 warm-up rounds);
//! - `SVCGEN_BENCH_OUT` — a directory to write `large.svc` and `large.toml` into;
//! - `SVCGEN_BIN` — the `svcgen` binary to time as a process (`svcgen check large.svc`);
//!   by default `target/release/svcgen` is used when it exists (build it first with
//!   `cargo build --release -p svcgen-codegen`).
//! - `SVCGEN_BENCH_ONLY=compile` — generate, then run only `compile` in a loop (for
//!   profilers such as `valgrind --tool=callgrind`).

#![allow(missing_docs, clippy::cast_precision_loss, clippy::cast_possible_truncation)]

use std::fmt::Write as _;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use svcgen_idl::diagnostic::Diagnostics;
use svcgen_idl::lower::LoadedFile;
use svcgen_idl::{FileId, MemoryFs, compile};

// ---- a small deterministic random generator (splitmix64) ----------------------------------

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// `0..n`
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// `true` with probability `percent`/100.
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

// ---- the .svc generator ------------------------------------------------------------------

const STRUCTS: usize = 2_000;
const ENUMS: usize = 150;
const ERRORS: usize = 100;
const UNIONS: usize = 40;
const ALIASES: usize = 60;
const SERVICES: usize = 50;
const METHODS_PER_SERVICE: usize = 200;
const EVENTS_PER_SERVICE: usize = 6;

const NOUNS: [&str; 40] = [
    "Order",
    "Product",
    "Customer",
    "Invoice",
    "Payment",
    "Shipment",
    "Account",
    "Address",
    "Cart",
    "Coupon",
    "Review",
    "Rating",
    "Warehouse",
    "Stock",
    "Supplier",
    "Refund",
    "Ticket",
    "Session",
    "Token",
    "Device",
    "Report",
    "Metric",
    "Alert",
    "Policy",
    "Role",
    "Team",
    "Project",
    "Task",
    "Comment",
    "Attachment",
    "Message",
    "Channel",
    "Webhook",
    "Subscription",
    "Plan",
    "Quota",
    "Region",
    "Zone",
    "Cluster",
    "Node",
];
const SUFFIXES: [&str; 12] = [
    "", "Line", "Summary", "Detail", "Item", "Entry", "Record", "Snapshot", "Config", "Status", "Request",
    "Info",
];
const FIELD_WORDS: [&str; 60] = [
    "id",
    "name",
    "title",
    "amount",
    "created_at",
    "updated_at",
    "owner",
    "tags",
    "labels",
    "state",
    "count",
    "total",
    "price",
    "quantity",
    "email",
    "phone",
    "street",
    "city",
    "country",
    "postcode",
    "notes",
    "description",
    "score",
    "rating",
    "enabled",
    "visible",
    "priority",
    "retries",
    "timeout",
    "deadline",
    "version",
    "checksum",
    "payload",
    "metadata",
    "children",
    "parent",
    "items",
    "lines",
    "currency",
    "region",
    "locale",
    "color",
    "size",
    "weight",
    "height",
    "width",
    "kind",
    "origin",
    "target",
    "reason",
    "revision",
    "etag",
    "language",
    "timezone",
    "summary",
    "author",
    "assignee",
    "due_at",
    "sequence",
    "external_ref",
];
const VERBS: [&str; 12] = [
    "get", "list", "create", "update", "delete", "search", "count", "archive", "restore", "export", "import",
    "validate",
];
const VARIANTS: [&str; 24] = [
    "UNKNOWN",
    "PENDING",
    "ACTIVE",
    "SUSPENDED",
    "CLOSED",
    "DRAFT",
    "PUBLISHED",
    "ARCHIVED",
    "LOW",
    "MEDIUM",
    "HIGH",
    "CRITICAL",
    "RED",
    "GREEN",
    "BLUE",
    "NORTH",
    "SOUTH",
    "EAST",
    "WEST",
    "DAILY",
    "WEEKLY",
    "MONTHLY",
    "YEARLY",
    "NEVER",
];
const DOC_WORDS: [&str; 24] = [
    "the",
    "a",
    "current",
    "value",
    "of",
    "this",
    "record",
    "used",
    "by",
    "clients",
    "when",
    "listing",
    "items",
    "in",
    "order",
    "and",
    "kept",
    "for",
    "auditing",
    "purposes",
    "only",
    "if",
    "set",
    "otherwise",
];
const SCALARS: [&str; 16] = [
    "bool",
    "i8",
    "i16",
    "i32",
    "i64",
    "u8",
    "u16",
    "u32",
    "u64",
    "f32",
    "f64",
    "string",
    "bytes",
    "timestamp",
    "duration",
    "uuid",
];
/// Scalars that can appear in a path segment or query string.
const QUERY_SCALARS: [&str; 8] = ["bool", "i32", "i64", "u32", "u64", "string", "uuid", "timestamp"];

fn struct_name(i: usize) -> String {
    format!("{}{}{}", NOUNS[i % NOUNS.len()], SUFFIXES[(i / NOUNS.len()) % SUFFIXES.len()], i)
}
fn enum_name(i: usize) -> String {
    format!("{}Kind{i}", NOUNS[(i * 7) % NOUNS.len()])
}
fn error_name(i: usize) -> String {
    const KINDS: [&str; 6] = ["NotFound", "Conflict", "Invalid", "Forbidden", "Expired", "Unavailable"];
    format!("{}{}{i}", NOUNS[(i * 3) % NOUNS.len()], KINDS[i % KINDS.len()])
}
fn union_name(i: usize) -> String {
    format!("{}Choice{i}", NOUNS[(i * 11) % NOUNS.len()])
}
fn alias_name(i: usize) -> String {
    format!("{}Ref{i}", NOUNS[(i * 13) % NOUNS.len()])
}
fn service_name(i: usize) -> String {
    format!("{}Service{i}", NOUNS[i % NOUNS.len()])
}
/// `OrderLine12` → `order_line12`.
fn snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// What the alias `alias_name(i)` stands for (aliases are all of scalars, so they are
/// query- and path-compatible when the scalar is).
fn alias_target(i: usize) -> &'static str {
    ["u64", "string", "uuid", "i64", "u32"][i % 5]
}

fn doc_line(rng: &mut Rng, indent: &str, out: &mut String) {
    let n = 4 + rng.below(9);
    let mut words: Vec<&str> = (0..n).map(|_| *rng.pick(&DOC_WORDS)).collect();
    let first = words[0].to_owned();
    let capital = first[..1].to_ascii_uppercase() + &first[1..];
    words[0] = &capital;
    let _ = writeln!(out, "{indent}/// {}.", words.join(" "));
}

/// A type for a field of struct `owner` (`None` for a field of a service or error).
/// Returns the text and what constraint/default it accepts.
#[derive(Clone, Copy, PartialEq)]
enum Shape {
    Int(&'static str),
    Float,
    Str,
    Bytes,
    Bool,
    Duration,
    Timestamp,
    Uuid,
    Enum(usize),
    List,
    Map,
    Other,
}

fn scalar_shape(s: &'static str) -> Shape {
    match s {
        "bool" => Shape::Bool,
        "f32" | "f64" => Shape::Float,
        "string" => Shape::Str,
        "bytes" => Shape::Bytes,
        "timestamp" => Shape::Timestamp,
        "duration" => Shape::Duration,
        "uuid" => Shape::Uuid,
        int => Shape::Int(int),
    }
}

fn element_type(rng: &mut Rng, owner: usize) -> String {
    match rng.below(10) {
        0..=3 => (*rng.pick(&SCALARS)).to_owned(),
        4..=7 if owner > 0 => struct_name(rng.below(owner.max(1))),
        8 => enum_name(rng.below(ENUMS)),
        _ => alias_name(rng.below(ALIASES)),
    }
}

/// A field type: `(text, shape, optional)`.
fn field_type(rng: &mut Rng, owner: Option<usize>) -> (String, Shape, bool) {
    let limit = owner.unwrap_or(STRUCTS);
    let optional = rng.chance(18);
    let (text, shape) = match rng.below(100) {
        0..=49 => {
            let s = *rng.pick(&SCALARS);
            (s.to_owned(), scalar_shape(s))
        }
        50..=61 => (format!("list<{}>", element_type(rng, limit)), Shape::List),
        62..=67 => {
            let key = match rng.below(4) {
                0 => "u32".to_owned(),
                1 => enum_name(rng.below(ENUMS)),
                _ => "string".to_owned(),
            };
            (format!("map<{key}, {}>", element_type(rng, limit)), Shape::Map)
        }
        68..=69 => (format!("list<map<string, {}>>", *rng.pick(&SCALARS)), Shape::List),
        70..=79 => {
            let e = rng.below(ENUMS);
            (enum_name(e), Shape::Enum(e))
        }
        80..=84 => (alias_name(rng.below(ALIASES)), Shape::Other),
        85..=87 => (union_name(rng.below(UNIONS)), Shape::Other),
        _ => {
            // A struct: required only when it is declared earlier (no infinite size).
            if limit == 0 {
                ("string".to_owned(), Shape::Str)
            } else if optional {
                (struct_name(rng.below(STRUCTS)), Shape::Other)
            } else {
                (struct_name(rng.below(limit)), Shape::Other)
            }
        }
    };
    let text = if optional { format!("{text}?") } else { text };
    (text, shape, optional)
}

fn enum_variants(i: usize) -> Vec<&'static str> {
    let n = 3 + (i * 5) % 6;
    (0..n)
        .map(|k| VARIANTS[(i + k * 3) % VARIANTS.len()])
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Attributes (own lines, or inline for parameters) and a default for a field of `shape`.
fn constraints_and_default(rng: &mut Rng, shape: Shape, optional: bool) -> (Vec<String>, Option<String>) {
    let mut attrs = Vec::new();
    let mut default = None;
    match shape {
        Shape::Int(s) => {
            let max = if matches!(s, "i8" | "u8") { 100 } else { 10_000 };
            if rng.chance(30) {
                attrs.push(format!("@range(min: 0, max: {max})"));
            }
            if rng.chance(20) {
                default = Some(format!("{}", rng.below(100)));
            }
        }
        Shape::Float => {
            if rng.chance(25) {
                attrs.push("@range(min: 0.0, max: 1.5e3)".to_owned());
            }
            if rng.chance(15) {
                default = Some("0.5".to_owned());
            }
        }
        Shape::Str => {
            if rng.chance(25) {
                attrs.push(format!("@length(min: 1, max: {})", 32 << rng.below(4)));
            }
            let roll = rng.below(100);
            if roll < 10 {
                attrs.push(
                    (*rng.pick(&[
                        r#"@pattern(r"^[a-z0-9_-]{1,64}$")"#,
                        r#"@pattern(r"^[A-Z]{3}-\d{4}$")"#,
                        r#"@pattern("^\\S+@\\S+$")"#,
                    ]))
                    .to_owned(),
                );
            } else if roll < 19 {
                default = Some(format!("\"{}\"", rng.pick(&["en", "default", "none", "EUR", "n/a"])));
            }
        }
        Shape::Bytes => {
            if rng.chance(20) {
                attrs.push("@length(max: 1_048_576)".to_owned());
            }
        }
        Shape::Bool => {
            if rng.chance(30) {
                default = Some(if rng.chance(50) { "true" } else { "false" }.to_owned());
            }
        }
        Shape::Duration => {
            if rng.chance(40) {
                default = Some(format!("\"{}\"", rng.pick(&["30s", "1h30m", "250ms", "5m", "1.5s"])));
            }
        }
        Shape::Timestamp => {
            if rng.chance(10) {
                default = Some("\"2024-05-01T12:00:00Z\"".to_owned());
            }
        }
        Shape::Uuid => {
            if rng.chance(5) {
                default = Some("\"67e55044-10b1-426f-9247-bb680e5fe0c8\"".to_owned());
            }
        }
        Shape::Enum(e) => {
            if rng.chance(30) {
                let variants = enum_variants(e);
                let v = rng.pick(&variants);
                default =
                    Some(if rng.chance(50) { (*v).to_owned() } else { format!("{}.{v}", enum_name(e)) });
            }
        }
        Shape::List | Shape::Map => {
            if rng.chance(20) {
                attrs.push(format!("@length(max: {})", 10 * (1 + rng.below(50))));
            }
            if rng.chance(15) {
                default = Some(if shape == Shape::List { "[]" } else { "{}" }.to_owned());
            }
        }
        Shape::Other => {}
    }
    if optional && default.is_none() && rng.chance(10) {
        default = Some("null".to_owned());
    }
    if rng.chance(2) {
        attrs.push("@deprecated(\"no longer filled in\")".to_owned());
    }
    (attrs, default)
}

/// Distinct field names.
fn field_names(rng: &mut Rng, n: usize) -> Vec<String> {
    let mut names: Vec<String> = Vec::with_capacity(n);
    while names.len() < n {
        let word = *rng.pick(&FIELD_WORDS);
        let name =
            if names.iter().any(|x| x == word) { format!("{word}_{}", names.len()) } else { word.to_owned() };
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// `n` fields; the first one documented when `doc_first` (so that the block stays multi-line
/// in `svcgen fmt` layout).
fn write_fields(rng: &mut Rng, owner: Option<usize>, n: usize, doc_first: bool, out: &mut String) {
    for (k, name) in field_names(rng, n).into_iter().enumerate() {
        let (ty, shape, optional) = field_type(rng, owner);
        let (attrs, default) = constraints_and_default(rng, shape, optional);
        if (doc_first && k == 0) || rng.chance(8) {
            doc_line(rng, "    ", out);
        }
        for a in &attrs {
            let _ = writeln!(out, "    {a}");
        }
        let default = default.map(|d| format!(" = {d}")).unwrap_or_default();
        let comment = if rng.chance(6) { " // kept for compatibility" } else { "" };
        let _ = writeln!(out, "    {name}: {ty}{default},{comment}");
    }
}

/// A method parameter: `(name, type, shape, optional, has_default, text)`.
struct Param {
    name: String,
    ty: String,
    optional: bool,
    has_default: bool,
    text: String,
}

/// A parameter type: query-compatible ones for GET and DELETE routes (and, as in most real
/// APIs, for half the other parameters too).
fn param_type(rng: &mut Rng, query: bool) -> (String, Shape, bool) {
    if query || rng.chance(50) {
        let optional = rng.chance(25);
        let (text, shape) = match rng.below(10) {
            0..=5 => {
                let s = *rng.pick(&QUERY_SCALARS);
                (s.to_owned(), scalar_shape(s))
            }
            6..=7 => {
                let e = rng.below(ENUMS);
                (enum_name(e), Shape::Enum(e))
            }
            8 => (format!("list<{}>", rng.pick(&["string", "u64", "uuid"])), Shape::List),
            _ => (alias_name(rng.below(ALIASES)), Shape::Other),
        };
        let optional = optional && shape != Shape::List;
        (if optional { format!("{text}?") } else { text }, shape, optional)
    } else {
        field_type(rng, None)
    }
}

fn make_params(rng: &mut Rng, n: usize, query: bool, path_param: Option<&str>) -> Vec<Param> {
    let mut params = Vec::new();
    let mut names = field_names(rng, n);
    if let Some(p) = path_param {
        names.retain(|x| x != p);
    }
    if let Some(p) = path_param {
        // The path parameter: a required scalar, enum or alias of a scalar.
        let ty = match rng.below(6) {
            0..=2 => (*rng.pick(&["u64", "string", "uuid", "i64"])).to_owned(),
            3 => enum_name(rng.below(ENUMS)),
            _ => alias_name(rng.below(ALIASES)),
        };
        params.push(Param {
            name: p.to_owned(),
            text: format!("{p}: {ty}"),
            ty,
            optional: false,
            has_default: false,
        });
    }
    for name in names {
        let (ty, shape, optional) = param_type(rng, query);
        let (attrs, default) = constraints_and_default(rng, shape, optional);
        let mut text = String::new();
        for a in attrs {
            text.push_str(&a);
            text.push(' ');
        }
        let _ = write!(text, "{name}: {ty}");
        if let Some(d) = &default {
            let _ = write!(text, " = {d}");
        }
        params.push(Param { name, ty, optional, has_default: default.is_some(), text });
    }
    params
}

struct MethodInfo {
    name: String,
    unary: bool,
    required: Vec<(String, String)>,
}

fn write_method(rng: &mut Rng, service: usize, m: usize, out: &mut String) -> MethodInfo {
    let verb = VERBS[m % VERBS.len()];
    let noun = snake(NOUNS[(m / VERBS.len() + service) % NOUNS.len()]);
    let name = format!("{verb}_{noun}_{m}");
    let oneway = rng.chance(4);
    let http = !oneway && rng.chance(45);
    let (http_verb, path_param) = if http {
        let v = match verb {
            "get" | "list" | "search" | "count" | "export" => "GET",
            "delete" | "archive" => "DELETE",
            "update" => *rng.pick(&["PUT", "PATCH"]),
            _ => "POST",
        };
        (Some(v), if rng.chance(70) { Some(*rng.pick(&["id", "name", "region", "version"])) } else { None })
    } else {
        (None, None)
    };
    let query = matches!(http_verb, Some("GET" | "DELETE"));
    let n_params = [0, 1, 1, 1, 1, 2, 2, 2, 3, 3][rng.below(10)];
    let params = make_params(rng, n_params, query, path_param);

    let documented = rng.chance(30);
    let deprecated = rng.chance(3);
    if m > 0 && (documented || http || oneway || deprecated) {
        out.push('\n');
    }
    if rng.chance(3) {
        out.push_str("    // TODO: paginate once the storage layer supports cursors\n");
    }
    if documented {
        doc_line(rng, "    ", out);
        if rng.chance(15) {
            doc_line(rng, "    ", out);
        }
    }
    if let Some(v) = http_verb {
        let svc = snake(&service_name(service));
        let path = match path_param {
            Some(p) => format!("/{svc}/{noun}s/{m}/{{{p}}}"),
            None => format!("/{svc}/{noun}s/{m}"),
        };
        let _ = writeln!(out, "    @http({v}, \"{path}\")");
    }
    if oneway {
        out.push_str("    @oneway\n");
    }
    if deprecated {
        let _ = writeln!(out, "    @deprecated(\"use {verb}_{noun}_v2\")");
    }
    let (returns, unary) = if oneway {
        (String::new(), false)
    } else {
        match rng.below(20) {
            0..=7 => (format!(" -> {}", struct_name(rng.below(STRUCTS))), true),
            8..=10 => (format!(" -> list<{}>", struct_name(rng.below(STRUCTS))), true),
            11 => (format!(" -> {}?", struct_name(rng.below(STRUCTS))), true),
            12 => (format!(" -> {}", rng.pick(&["u64", "bool", "string"])), true),
            13..=14 => (format!(" -> stream {}", struct_name(rng.below(STRUCTS))), false),
            _ => (String::new(), false),
        }
    };
    let throws = if oneway || rng.chance(70) {
        String::new()
    } else {
        let n = 1 + rng.below(2);
        let mut errs: Vec<usize> = (0..n).map(|_| rng.below(ERRORS)).collect();
        errs.sort_unstable();
        errs.dedup();
        format!(" throws {}", errs.iter().map(|e| error_name(*e)).collect::<Vec<_>>().join(", "))
    };
    let one_line = format!(
        "    fn {name}({}){returns}{throws};",
        params.iter().map(|p| p.text.as_str()).collect::<Vec<_>>().join(", ")
    );
    if one_line.len() <= 100 {
        out.push_str(&one_line);
        out.push('\n');
    } else {
        let _ = writeln!(out, "    fn {name}(");
        for p in &params {
            let _ = writeln!(out, "        {},", p.text);
        }
        let _ = writeln!(out, "    ){returns}{throws};");
    }
    let required = params
        .iter()
        .filter(|p| !p.optional && !p.has_default)
        .map(|p| (p.name.clone(), p.ty.clone()))
        .collect();
    MethodInfo { name, unary, required }
}

fn generate_svc() -> String {
    let mut rng = Rng(0x5EED_5EED_1234_5678);
    let mut out = String::with_capacity(3 << 20);
    out.push_str("// large.svc — generated by idl/benches/parse.rs; do not edit.\n\n");
    out.push_str("/// A large generated package: the parse + check benchmark input.\n");
    out.push_str("package bench.large;\n\n");

    for i in 0..ALIASES {
        if i % 4 == 0 {
            doc_line(&mut rng, "", &mut out);
        }
        let _ = writeln!(out, "type {} = {};\n", alias_name(i), alias_target(i));
    }

    for i in 0..ENUMS {
        let variants = enum_variants(i);
        if rng.chance(50) {
            doc_line(&mut rng, "", &mut out);
            let _ = writeln!(out, "enum {} {{", enum_name(i));
            for (k, v) in variants.iter().enumerate() {
                if k == 0 || rng.chance(20) {
                    doc_line(&mut rng, "    ", &mut out);
                }
                let _ = writeln!(out, "    {v},");
            }
            out.push_str("}\n\n");
        } else {
            let _ = writeln!(out, "enum {} {{ {} }}\n", enum_name(i), variants.join(", "));
        }
    }

    for i in 0..ERRORS {
        if rng.chance(50) {
            doc_line(&mut rng, "", &mut out);
        }
        let status = [400, 401, 403, 404, 409, 410, 422, 429, 500, 503][i % 10];
        let _ = writeln!(out, "@status({status})");
        let n = 1 + rng.below(3);
        if rng.chance(50) {
            let fields: Vec<String> = field_names(&mut rng, n)
                .into_iter()
                .map(|f| format!("{f}: {}", rng.pick(&["string", "u64", "string?", "timestamp", "u32"])))
                .collect();
            let _ = writeln!(out, "error {} {{ {} }}\n", error_name(i), fields.join(", "));
        } else {
            let _ = writeln!(out, "error {} {{", error_name(i));
            write_fields(&mut rng, Some(0), n, true, &mut out);
            out.push_str("}\n\n");
        }
    }

    for i in 0..UNIONS {
        let n = 2 + rng.below(3);
        let cases: Vec<String> = field_names(&mut rng, n)
            .into_iter()
            .map(|c| {
                let ty = if rng.chance(50) {
                    struct_name(rng.below(STRUCTS))
                } else {
                    (*rng.pick(&SCALARS)).to_owned()
                };
                format!("{c}: {ty}")
            })
            .collect();
        if rng.chance(50) {
            doc_line(&mut rng, "", &mut out);
        }
        let line = format!("union {} {{ {} }}", union_name(i), cases.join(", "));
        if line.len() <= 100 {
            let _ = writeln!(out, "{line}\n");
        } else {
            let _ = writeln!(out, "union {} {{", union_name(i));
            for c in cases {
                let _ = writeln!(out, "    {c},");
            }
            out.push_str("}\n\n");
        }
    }

    for i in 0..STRUCTS {
        if i % 100 == 0 {
            let _ = writeln!(out, "// ---- structs {i}..{} ----\n", i + 99);
        }
        if rng.chance(70) {
            doc_line(&mut rng, "", &mut out);
            if rng.chance(30) {
                doc_line(&mut rng, "", &mut out);
            }
        }
        if rng.chance(2) {
            out.push_str("@deprecated(\"replaced by a newer version\")\n");
        }
        let _ = writeln!(out, "struct {} {{", struct_name(i));
        let n = 2 + rng.below(5);
        if rng.chance(5) {
            out.push_str("    /* identity */\n");
        }
        write_fields(&mut rng, Some(i), n, false, &mut out);
        out.push_str("}\n\n");
    }

    for s in 0..SERVICES {
        doc_line(&mut rng, "", &mut out);
        let _ = writeln!(out, "service {} {{", service_name(s));
        let mut methods = Vec::new();
        for m in 0..METHODS_PER_SERVICE {
            methods.push(write_method(&mut rng, s, m, &mut out));
        }
        for e in 0..EVENTS_PER_SERVICE {
            out.push('\n');
            let noun = snake(NOUNS[(s + e) % NOUNS.len()]);
            let name =
                format!("{noun}_{}_{e}", ["created", "updated", "deleted", "moved", "renamed", "expired"][e]);
            if rng.chance(60) {
                doc_line(&mut rng, "    ", &mut out);
            }
            // Half the events are thin: hydrated by a method with one reply.
            let hydrated = if e % 2 == 0 {
                let start = rng.below(methods.len());
                (0..methods.len()).map(|k| &methods[(start + k) % methods.len()]).find(|m| m.unary)
            } else {
                None
            };
            let mut fields: Vec<String> = Vec::new();
            if let Some(m) = hydrated {
                let _ = writeln!(out, "    @hydrate({})", m.name);
                fields.extend(m.required.iter().map(|(n, t)| format!("{n}: {t}")));
            }
            if fields.is_empty() || rng.chance(50) {
                let taken: Vec<&str> = hydrated
                    .map(|m| m.required.iter().map(|(n, _)| n.as_str()).collect())
                    .unwrap_or_default();
                for f in ["at", "actor", "trace_id"] {
                    if !taken.contains(&f) {
                        fields.push(format!(
                            "{f}: {}",
                            match f {
                                "at" => "timestamp",
                                "actor" => "string?",
                                _ => "uuid",
                            }
                        ));
                    }
                }
            }
            let line = format!("    event {name} {{ {} }}", fields.join(", "));
            if line.len() <= 100 {
                out.push_str(&line);
                out.push('\n');
            } else {
                let _ = writeln!(out, "    event {name} {{");
                for f in fields {
                    let _ = writeln!(out, "        {f},");
                }
                out.push_str("    }\n");
            }
        }
        out.push_str("}\n");
        if s + 1 < SERVICES {
            out.push('\n');
        }
    }
    out
}

// ---- the TOML generator ------------------------------------------------------------------

/// A TOML document of at least `bytes` bytes: a `Cargo.lock`-like list of packages, then a
/// config-like part with nested tables, inline tables, integers, floats, booleans, arrays.
fn generate_toml(bytes: usize) -> String {
    let mut rng = Rng(0x704D_4C00_0000_0001);
    let mut out = String::with_capacity(bytes + 4096);
    out.push_str("# This file is automatically @generated by Cargo.\n# It is not intended for manual editing.\nversion = 4\n");
    let crate_name = |i: usize| {
        format!(
            "{}-{}{}",
            snake(NOUNS[i % NOUNS.len()]),
            ["core", "derive", "sys", "util", "macros", "impl"][(i / 40) % 6],
            i
        )
    };
    let lock_part = bytes * 7 / 10;
    let mut i = 0;
    while out.len() < lock_part {
        let _ = write!(
            out,
            "\n[[package]]\nname = \"{}\"\nversion = \"{}.{}.{}\"\n",
            crate_name(i),
            rng.below(3),
            rng.below(40),
            rng.below(20)
        );
        if i % 9 != 0 {
            out.push_str("source = \"registry+https://github.com/rust-lang/crates.io-index\"\n");
            let _ = writeln!(
                out,
                "checksum = \"{:016x}{:016x}{:016x}{:016x}\"",
                rng.next(),
                rng.next(),
                rng.next(),
                rng.next()
            );
        }
        let deps = if i > 0 { rng.below(7) } else { 0 };
        if deps > 0 {
            out.push_str("dependencies = [\n");
            let mut chosen: Vec<usize> = (0..deps).map(|_| rng.below(i)).collect();
            chosen.sort_unstable();
            chosen.dedup();
            for d in chosen {
                if rng.chance(15) {
                    let _ = writeln!(out, " \"{} 0.{}.{}\",", crate_name(d), rng.below(10), rng.below(10));
                } else {
                    let _ = writeln!(out, " \"{}\",", crate_name(d));
                }
            }
            out.push_str("]\n");
        }
        i += 1;
    }
    let mut s = 0;
    while out.len() < bytes {
        let name = crate_name(s);
        let _ = write!(
            out,
            "\n[servers.{name}]\n# {}\nhost = \"{}.internal.example.com\"\nport = {}\nenabled = {}\nweight = {}.{}\n\
             tags = [\"{}\", \"{}\", \"{}\"]\nlimits = {{ cpu = {}, memory = \"{}Mi\", burst = {} }}\n",
            DOC_WORDS.iter().take(3 + s % 10).copied().collect::<Vec<_>>().join(" "),
            name,
            1024 + rng.below(60_000),
            rng.chance(80),
            rng.below(10),
            rng.below(100),
            rng.pick(&VARIANTS).to_ascii_lowercase(),
            rng.pick(&VARIANTS).to_ascii_lowercase(),
            rng.pick(&FIELD_WORDS),
            1 + rng.below(16),
            256 << rng.below(6),
            rng.chance(50),
        );
        let _ = write!(
            out,
            "\n[servers.{name}.health]\npath = \"/healthz/{s}\"\ninterval_ms = {}\ntimeout_ms = {}\nretries = {}\n",
            1000 * (1 + rng.below(30)),
            100 * (1 + rng.below(20)),
            rng.below(5)
        );
        for r in 0..rng.below(3) {
            let _ = write!(
                out,
                "\n[[servers.{name}.routes]]\nprefix = \"/api/v{r}/{}\"\nmethods = [\"GET\", \"POST\"]\nrate = {}\n",
                rng.pick(&FIELD_WORDS),
                rng.below(1000)
            );
        }
        s += 1;
    }
    out
}

// ---- timing ------------------------------------------------------------------------------

#[derive(Default)]
struct Samples(Vec<Duration>);

impl Samples {
    fn sorted(&self) -> Vec<Duration> {
        let mut v = self.0.clone();
        v.sort();
        v
    }
    fn median(&self) -> Duration {
        let v = self.sorted();
        let n = v.len();
        if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2 }
    }
    fn min(&self) -> Duration {
        self.sorted()[0]
    }
}

/// Every measurement of a run; one round adds one sample to each (after the warm-up).
#[derive(Default)]
struct Timings {
    compile: Samples,
    drop_output: Samples,
    parse: Samples,
    lower: Samples,
    check: Samples,
    fmt: Samples,
    toml: Samples,
}

/// Runs `f`, adding its time to `samples` when `keep`.
fn timed<T>(keep: bool, samples: &mut Samples, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    let took = start.elapsed();
    if keep {
        samples.0.push(took);
    }
    out
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn compile_svc(fs: &MemoryFs) -> svcgen_idl::Output {
    compile(&["large.svc"], fs)
}

/// One round: `compile` (and dropping its output), `toml`, then the phases of `compile` one
/// by one (parse, lower, check, as `compile` runs them, minus reading the file), then `fmt`.
fn round(keep: bool, t: &mut Timings, fs: &MemoryFs, svc: &str, toml_text: &str) {
    let out = timed(keep, &mut t.compile, || compile_svc(fs));
    assert!(out.model.is_some());
    timed(keep, &mut t.drop_output, || drop(black_box(out)));

    let table = timed(keep, &mut t.toml, || toml::from_str::<toml::Table>(toml_text).expect("parses"));
    drop(black_box(table));

    let mut diags = Diagnostics::new();
    let parsed = timed(keep, &mut t.parse, || svcgen_idl::parse::parse_file(FileId(0), svc, &mut diags))
        .expect("parses");
    let files =
        [LoadedFile { id: FileId(0), path: "large.svc".to_owned(), ast: parsed.file, imports: Vec::new() }];
    let model = timed(keep, &mut t.lower, || svcgen_idl::lower::lower(&files, &mut diags));
    timed(keep, &mut t.check, || svcgen_idl::check::check(&model, &mut diags));
    assert!(diags.take().is_empty(), "phases produced diagnostics");
    drop(black_box((files, model)));

    let formatted = timed(keep, &mut t.fmt, || svcgen_idl::fmt::format_source(FileId(0), svc));
    drop(black_box(formatted));
}

fn svcgen_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SVCGEN_BIN") {
        return Some(PathBuf::from(p));
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"), PathBuf::from);
    let bin = target.join("release/svcgen");
    bin.exists().then_some(bin)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it too: keep that quick.
    let quick = std::env::args().any(|a| a == "--test") || !std::env::args().any(|a| a == "--bench");
    let rounds: usize = std::env::var("SVCGEN_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(if quick { 1 } else { 15 });
    let warmup = if quick { 0 } else { 3 };

    let t = Instant::now();
    let svc = generate_svc();
    let svc_lines = svc.lines().count();
    let toml_text = generate_toml(svc.len());
    let toml_lines = toml_text.lines().count();
    let generated_in = t.elapsed();

    let fs = MemoryFs::new([("large.svc", svc.as_bytes())]);
    let output = compile_svc(&fs);
    if !output.diagnostics.is_empty() {
        let text = output.render_diagnostics();
        let shown: String = text.lines().take(60).collect::<Vec<_>>().join("\n");
        panic!("the generated file has {} diagnostics:\n{shown}", output.diagnostics.len());
    }
    let model = output.model.as_ref().expect("a model");
    let methods: usize = model.services.iter().map(|s| s.methods.len()).sum();
    let events: usize = model.services.iter().map(|s| s.events.len()).sum();
    let count = |k: &str| model.types.iter().filter(|t| t.kind.keyword() == k).count();
    let structs = count("struct");
    assert_eq!(structs, STRUCTS);
    assert_eq!(methods, SERVICES * METHODS_PER_SERVICE);
    let table: toml::Table = toml::from_str(&toml_text).expect("the generated TOML parses");
    let packages = table.get("package").and_then(toml::Value::as_array).map_or(0, Vec::len);
    let kinds = [count("enum"), count("error"), count("union"), count("type"), model.services.len()];
    drop(output);

    if let Some(dir) = std::env::var_os("SVCGEN_BENCH_OUT") {
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).expect("create SVCGEN_BENCH_OUT");
        std::fs::write(dir.join("large.svc"), &svc).expect("write large.svc");
        std::fs::write(dir.join("large.toml"), &toml_text).expect("write large.toml");
        println!("wrote {}/large.svc and large.toml", dir.display());
    }
    if std::env::var("SVCGEN_BENCH_ONLY").as_deref() == Ok("compile") {
        for _ in 0..rounds.max(1) {
            black_box(compile_svc(&fs));
        }
        return;
    }

    println!("inputs (generated in {:.0} ms):", ms(generated_in));
    println!(
        "  large.svc : {svc_lines} lines, {} bytes; {structs} structs, {} enums, {} errors, {} unions, \
         {} aliases, {} services, {methods} methods, {events} events",
        svc.len(),
        kinds[0],
        kinds[1],
        kinds[2],
        kinds[3],
        kinds[4],
    );
    println!("  large.toml: {toml_lines} lines, {} bytes; {packages} [[package]] tables", toml_text.len());
    let formatted = svcgen_idl::fmt::format_source(FileId(0), &svc).expect("formats");
    println!("  large.svc is {}in `svcgen fmt` layout", if formatted == svc { "" } else { "not " });

    let mut t = Timings::default();
    for r in 0..warmup + rounds {
        round(r >= warmup, &mut t, &fs, &svc, &toml_text);
    }

    let mb = svc.len() as f64 / 1e6;
    if quick {
        println!("\n(quick run, not a measurement: use `cargo bench -p svcgen-idl --bench parse`)");
    }
    println!("\n{rounds} interleaved rounds after {warmup} warm-up rounds; times in ms:");
    println!("  {:<44} {:>9} {:>9} {:>12} {:>8}", "", "median", "min", "lines/s", "MB/s");
    let row = |label: &str, s: &Samples, lines: usize, bytes: usize| {
        let med = s.median();
        println!(
            "  {label:<44} {:>9.1} {:>9.1} {:>12.0} {:>8.1}",
            ms(med),
            ms(s.min()),
            lines as f64 / med.as_secs_f64(),
            bytes as f64 / 1e6 / med.as_secs_f64()
        );
    };
    row("svcgen compile (read+parse+lower+check)", &t.compile, svc_lines, svc.len());
    row("  parse only (parse::parse_file)", &t.parse, svc_lines, svc.len());
    row("  lower only (lower::lower)", &t.lower, svc_lines, svc.len());
    row("  check only (check::check)", &t.check, svc_lines, svc.len());
    let rest = ms(t.compile.median()) - ms(t.parse.median()) - ms(t.lower.median()) - ms(t.check.median());
    println!("  {:<44} {rest:>9.1}", "  rest of compile (by difference)");
    println!(
        "  {:<44} {:>9.1} {:>9.1}",
        "drop(Output) (not in compile)",
        ms(t.drop_output.median()),
        ms(t.drop_output.min())
    );
    row("svcgen fmt (fmt::format_source)", &t.fmt, svc_lines, svc.len());
    row("toml::from_str::<toml::Table> (same bytes)", &t.toml, toml_lines, toml_text.len());
    let ratio_med = t.compile.median().as_secs_f64() / t.toml.median().as_secs_f64();
    let ratio_min = t.compile.min().as_secs_f64() / t.toml.min().as_secs_f64();
    println!(
        "\n  svcgen compile / toml: {ratio_med:.2}x (medians), {ratio_min:.2}x (mins); target ≤ 3x: {}",
        if ratio_med <= 3.0 { "met" } else { "NOT met" }
    );
    println!(
        "  svcgen compile: {:.0} lines/s, {:.1} MB/s (median)",
        svc_lines as f64 / t.compile.median().as_secs_f64(),
        mb / t.compile.median().as_secs_f64()
    );

    // The real command, as a process.
    match svcgen_binary() {
        Some(bin) if !quick => {
            let dir = std::env::temp_dir().join(format!("svcgen-bench-{}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("temp dir");
            let file = dir.join("large.svc");
            std::fs::write(&file, &svc).expect("write large.svc");
            let mut proc_samples = Samples::default();
            let bin = bin.canonicalize().unwrap_or(bin);
            let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
            let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
            let newest_source =
                std::fs::read_dir(&src).into_iter().flatten().filter_map(|e| modified(&e.ok()?.path())).max();
            if let (Some(b), Some(s)) = (modified(&bin), newest_source)
                && b < s
            {
                println!(
                    "\n  warning: {} is older than idl/src; rebuild it to time the current code",
                    bin.display()
                );
            }
            for r in 0..warmup + rounds.min(10) {
                let start = Instant::now();
                let out =
                    std::process::Command::new(&bin).arg("check").arg(&file).output().expect("run svcgen");
                let took = start.elapsed();
                assert!(
                    out.status.success() && out.stderr.is_empty(),
                    "`svcgen check` failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                if r >= warmup {
                    proc_samples.0.push(took);
                }
            }
            let _ = std::fs::remove_dir_all(&dir);
            println!(
                "\n  `{} check large.svc` (process, {} runs): median {:.1} ms, min {:.1} ms",
                bin.display(),
                proc_samples.0.len(),
                ms(proc_samples.median()),
                ms(proc_samples.min())
            );
        }
        Some(_) => {}
        None => println!(
            "\n  (no target/release/svcgen: `cargo build --release -p svcgen-codegen` to time the process too)"
        ),
    }
}
