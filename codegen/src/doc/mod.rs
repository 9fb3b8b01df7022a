//! The API reference of a model, in HTML and in Markdown (`svcgen doc`).
//!
//! [`render`] lowers the [`Model`] into a small view model (plain structs, in `view`) and
//! renders it with askama templates (`codegen/templates/doc/`): one page per package and an
//! index, each once as HTML and once as Markdown. A package page documents every type (fields
//! with their types linked to their definitions, presence, defaults, constraints, docs,
//! deprecation), every service with its methods (signature, parameters and where each travels
//! over REST, result, errors with their HTTP status) and events (fields, `@hydrate` method),
//! and where each method and event is reached on each binding: REST route, RPC method name,
//! queue subject and JSON-RPC method name, from `Model::method_addresses` and
//! `Model::event_addresses`.
//!
//! HTML pages are self-contained (a little CSS, no script, no external resource) and escape
//! everything taken from the model; Markdown pages keep documentation text as written, since
//! `///` docs are Markdown.
//!
//! ```
//! use svcgen_idl::{MemoryFs, compile};
//!
//! let fs = MemoryFs::new([("a.svc", "package a;\n/// Answers.\nservice Pinger { fn ping(); }\n")]);
//! let model = compile(&["a.svc"], &fs).model.expect("a valid file");
//! let files = svcgen_codegen::doc::render(&model).expect("rendered");
//! let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
//! assert_eq!(paths, ["index.html", "index.md", "a.html", "a.md"]);
//! assert!(files[2].contents.contains(r#"id="method.Pinger.ping""#));
//! assert!(files[3].contents.contains("| REST | `POST /pinger/ping` |"));
//! ```

mod view;

use std::fmt;

use askama::Template;
use svcgen_idl::Model;

use view::{INDEX_PAGE, PackageView, Site, TypeBody};

/// One file of the reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocFile {
    /// The path relative to the output folder: `index.html`, `shop.catalog.md`.
    pub path: String,
    /// The text.
    pub contents: String,
}

/// A page that could not be rendered.
#[derive(Debug)]
pub struct DocError {
    path: String,
    source: askama::Error,
}

impl fmt::Display for DocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot render `{}`: {}", self.path, self.source)
    }
}

impl std::error::Error for DocError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Renders the reference of every package of the model: `index.html` and `index.md`, then
/// `{package}.html` and `{package}.md` for each package in the order first seen (a package
/// named `index` is written as `index-package.*`).
pub fn render(model: &Model) -> Result<Vec<DocFile>, DocError> {
    let site = view::site(model);
    let mut files = vec![
        emit(format!("{INDEX_PAGE}.html"), &IndexHtml { site: &site })?,
        emit(format!("{INDEX_PAGE}.md"), &IndexMarkdown { site: &site })?,
    ];
    for package in &site.packages {
        files.push(emit(format!("{}.html", package.page), &PackageHtml { package })?);
        files.push(emit(format!("{}.md", package.page), &PackageMarkdown { package })?);
    }
    Ok(files)
}

fn emit(path: String, template: &impl Template) -> Result<DocFile, DocError> {
    match template.render() {
        Ok(mut contents) => {
            // askama drops the template file's final newline; a text file ends with one.
            contents.truncate(contents.trim_end().len());
            contents.push('\n');
            Ok(DocFile { path, contents })
        }
        Err(source) => Err(DocError { path, source }),
    }
}

/// The index page, HTML.
#[derive(Template)]
#[template(path = "doc/index.html")]
struct IndexHtml<'a> {
    site: &'a Site,
}

/// The index page, Markdown.
#[derive(Template)]
#[template(path = "doc/index.md")]
struct IndexMarkdown<'a> {
    site: &'a Site,
}

/// A package page, HTML.
#[derive(Template)]
#[template(path = "doc/package.html")]
struct PackageHtml<'a> {
    package: &'a PackageView,
}

/// A package page, Markdown.
#[derive(Template)]
#[template(path = "doc/package.md")]
struct PackageMarkdown<'a> {
    package: &'a PackageView,
}

/// Filters of the Markdown templates.
#[allow(
    clippy::inline_always,
    clippy::unused_self,
    clippy::unnecessary_wraps,
    reason = "in the filter type that `#[askama::filter_fn]` generates, not in our code"
)]
mod filters {
    use std::fmt::Display;

    /// Text for a Markdown table cell: on one line, `|` escaped (also inside code spans).
    #[askama::filter_fn]
    pub fn cell<T: Display>(value: T, _: &dyn askama::Values) -> askama::Result<String> {
        Ok(super::table_cell(&value.to_string()))
    }

    /// Text as a Markdown code span, whatever backticks it holds.
    #[askama::filter_fn]
    pub fn code<T: Display>(value: T, _: &dyn askama::Values) -> askama::Result<String> {
        Ok(super::code_span(&value.to_string()))
    }
}

/// `a|b` on two lines → `a\|b` on one.
fn table_cell(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ").replace('|', "\\|")
}

/// A Markdown code span: fenced by one more backtick than the longest run inside, padded with
/// a space when the text starts or ends with a backtick (`CommonMark` 6.1).
fn code_span(text: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') { " " } else { "" };
    format!("{fence}{pad}{text}{pad}{fence}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_spans_hold_backticks() {
        assert_eq!(code_span("a"), "`a`");
        assert_eq!(code_span("a`b"), "``a`b``");
        assert_eq!(code_span("`a``"), "``` `a`` ```");
    }

    #[test]
    fn table_cells_are_one_line() {
        assert_eq!(table_cell("a|b\nc"), "a\\|b c");
    }
}
