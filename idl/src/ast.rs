//! The syntax tree of one `.svc` file: what was written, unresolved, with spans.
//!
//! Plain data: no pest types escape `parse`. The formatter prints from this tree; `lower`
//! turns it into the [`Model`](crate::model::Model).

use crate::source::Span;

/// A name as written.
#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    /// The text.
    pub name: String,
    /// Where.
    pub span: Span,
}

/// A dotted name: `shop.catalog`, `Currency.EUR`, `Product`.
#[derive(Clone, Debug, PartialEq)]
pub struct Path {
    /// The parts between the dots (never empty).
    pub segments: Vec<Ident>,
    /// The whole path.
    pub span: Span,
}

impl Path {
    /// The path as written, dots included.
    #[must_use]
    pub fn to_dotted(&self) -> String {
        let parts: Vec<&str> = self.segments.iter().map(|s| s.name.as_str()).collect();
        parts.join(".")
    }
}

/// One `///` line.
#[derive(Clone, Debug, PartialEq)]
pub struct Doc {
    /// The text after `///`, trailing white space removed (a leading space is kept).
    pub text: String,
    /// The whole comment.
    pub span: Span,
}

/// Docs and attributes written before a declaration.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Prefix {
    /// `///` lines, in order.
    pub docs: Vec<Doc>,
    /// `@name(args)`, in order.
    pub attrs: Vec<Attribute>,
}

/// `@name` or `@name(args)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Attribute {
    /// The name without `@`.
    pub name: Ident,
    /// `None` without parentheses; `Some(vec![])` for `@name()`.
    pub args: Option<Vec<AttrArg>>,
    /// From `@` to the closing parenthesis.
    pub span: Span,
}

/// One attribute argument: positional (`GET`) or named (`min: 1`).
#[derive(Clone, Debug, PartialEq)]
pub struct AttrArg {
    /// `min` in `min: 1`.
    pub name: Option<Ident>,
    /// The value.
    pub value: Value,
    /// The whole argument.
    pub span: Span,
}

/// A literal: an attribute argument or a default.
#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    /// What kind.
    pub kind: ValueKind,
    /// Where.
    pub span: Span,
}

/// The kinds of literal.
#[derive(Clone, Debug, PartialEq)]
pub enum ValueKind {
    /// A number as written (`-12`, `0xff`, `1_000`, `2.5e3`); read by `lower`.
    Number(String),
    /// A string, unescaped; `raw` is the source text with quotes (kept by the formatter).
    String {
        /// The unescaped text.
        value: String,
        /// As written.
        raw: String,
    },
    /// `true` / `false`.
    Bool(bool),
    /// `null`.
    Null,
    /// `[a, b]`.
    List(Vec<Value>),
    /// `{k: v}`.
    Map(Vec<(Value, Value)>),
    /// A name: an enum variant (`EUR`, `Currency.EUR`) or a word (`GET`).
    Path(Path),
}

/// A type as written.
#[derive(Clone, Debug, PartialEq)]
pub struct TypeExpr {
    /// What kind.
    pub kind: TypeExprKind,
    /// Where.
    pub span: Span,
}

/// The kinds of type expression.
#[derive(Clone, Debug, PartialEq)]
pub enum TypeExprKind {
    /// A scalar or a declared type, maybe package-qualified.
    Named(Path),
    /// `list<T>`.
    List(Box<TypeExpr>),
    /// `map<K, V>`.
    Map(Box<TypeExpr>, Box<TypeExpr>),
    /// `T?`.
    Optional(Box<TypeExpr>),
}

/// A parsed file.
#[derive(Clone, Debug, PartialEq)]
pub struct File {
    /// `package a.b;`
    pub package: PackageDecl,
    /// `import "x.svc";`, in order.
    pub imports: Vec<Import>,
    /// Declarations, in order.
    pub items: Vec<Item>,
}

/// `package a.b;` with its docs.
#[derive(Clone, Debug, PartialEq)]
pub struct PackageDecl {
    /// Docs and attributes before `package`.
    pub prefix: Prefix,
    /// The dotted name.
    pub name: Path,
    /// From the first doc to `;`.
    pub span: Span,
}

/// `import "x.svc";`
#[derive(Clone, Debug, PartialEq)]
pub struct Import {
    /// The path string, unescaped.
    pub path: String,
    /// The string literal as written.
    pub raw: String,
    /// The string literal.
    pub path_span: Span,
    /// The whole declaration.
    pub span: Span,
}

/// A top-level declaration.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    /// Docs and attributes.
    pub prefix: Prefix,
    /// Its name.
    pub name: Ident,
    /// What it declares.
    pub kind: ItemKind,
    /// From the first doc or attribute to the end.
    pub span: Span,
}

/// The declarations.
#[derive(Clone, Debug, PartialEq)]
pub enum ItemKind {
    /// `struct Name { fields }`
    Struct(Block<Field>),
    /// `error Name { fields }`
    Error(Block<Field>),
    /// `enum Name { A, B }`
    Enum(Block<Variant>),
    /// `union Name { a: A, b: B }`
    Union(Block<Case>),
    /// `type Name = T;`
    Alias(TypeExpr),
    /// `service Name { members }`
    Service(Block<Member>),
}

impl ItemKind {
    /// The keyword that introduces it.
    #[must_use]
    pub fn keyword(&self) -> &'static str {
        match self {
            ItemKind::Struct(_) => "struct",
            ItemKind::Error(_) => "error",
            ItemKind::Enum(_) => "enum",
            ItemKind::Union(_) => "union",
            ItemKind::Alias(_) => "type",
            ItemKind::Service(_) => "service",
        }
    }
}

/// A delimited list of members; the delimiter spans let the formatter place comments.
#[derive(Clone, Debug, PartialEq)]
pub struct Block<T> {
    /// The members.
    pub members: Vec<T>,
    /// The opening delimiter.
    pub open: Span,
    /// The closing delimiter.
    pub close: Span,
}

/// A struct, error or event field, or a method parameter: `name: T = default`.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    /// Docs and attributes.
    pub prefix: Prefix,
    /// The name.
    pub name: Ident,
    /// The type.
    pub ty: TypeExpr,
    /// `= value`.
    pub default: Option<Value>,
    /// From the first doc or attribute to the end of the default or type.
    pub span: Span,
}

/// An enum variant.
#[derive(Clone, Debug, PartialEq)]
pub struct Variant {
    /// Docs and attributes.
    pub prefix: Prefix,
    /// The name.
    pub name: Ident,
    /// The whole variant.
    pub span: Span,
}

/// A union case: `name: T`.
#[derive(Clone, Debug, PartialEq)]
pub struct Case {
    /// Docs and attributes.
    pub prefix: Prefix,
    /// The name (the tag).
    pub name: Ident,
    /// The payload type.
    pub ty: TypeExpr,
    /// The whole case.
    pub span: Span,
}

/// A service member.
#[derive(Clone, Debug, PartialEq)]
pub enum Member {
    /// `fn ...;`
    Method(Method),
    /// `event name { ... }`
    Event(Event),
}

impl Member {
    /// The span of the whole member.
    #[must_use]
    pub fn span(&self) -> Span {
        match self {
            Member::Method(m) => m.span,
            Member::Event(e) => e.span,
        }
    }
}

/// `fn name(params) -> [stream] T throws E, F;`
#[derive(Clone, Debug, PartialEq)]
pub struct Method {
    /// Docs and attributes.
    pub prefix: Prefix,
    /// The name.
    pub name: Ident,
    /// The parameters, with the parenthesis spans.
    pub params: Block<Field>,
    /// `-> T` or `-> stream T`.
    pub returns: Option<Returns>,
    /// The `throws` list.
    pub throws: Vec<Path>,
    /// The whole method, docs to `;`.
    pub span: Span,
}

/// A return type.
#[derive(Clone, Debug, PartialEq)]
pub struct Returns {
    /// `stream T`: the server sends many.
    pub stream: bool,
    /// The type.
    pub ty: TypeExpr,
    /// From `->` to the end of the type.
    pub span: Span,
}

/// `event name { fields }`
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// Docs and attributes.
    pub prefix: Prefix,
    /// The name.
    pub name: Ident,
    /// Its fields.
    pub fields: Block<Field>,
    /// The whole event.
    pub span: Span,
}
