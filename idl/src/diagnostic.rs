//! Diagnostics: collected, never thrown; rendered like rustc, or as JSON for tools.
//!
//! Every stage pushes into a [`Diagnostics`] and goes on, so one run reports every error it
//! can find. The header line is `path:line:col: error: message` (the form editors and CI
//! annotators parse); the snippet below it is rendered by `codespan-reporting`.

use codespan_reporting::diagnostic as cs;
use codespan_reporting::term::{self, Chars, Config};
use serde::Serialize;

use crate::source::{SourceMap, Span};

/// How bad a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Style advice; the file is still valid.
    Warning,
    /// The file is invalid.
    Error,
}

/// A span with something to say about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    /// Where.
    pub span: Span,
    /// What (may be empty: the caret alone).
    pub message: String,
}

/// One problem found in the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// A stable kebab-case name of the check (`unknown-type`); listed in `docs/idl.md`.
    pub code: &'static str,
    /// One line, lower case, no final period, names in backticks.
    pub message: String,
    /// The culprit. `None` only for problems with no place in a file (a missing root file).
    pub primary: Option<Label>,
    /// Other places that explain the problem (the first definition of a duplicate, ...).
    pub secondary: Vec<Label>,
    /// Background facts.
    pub notes: Vec<String>,
    /// What to do about it ("did you mean `Product`?").
    pub help: Vec<String>,
}

impl Diagnostic {
    /// An error at `span`; the caret carries no label text.
    #[must_use]
    pub fn error(code: &'static str, span: Span, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            code,
            message: message.into(),
            primary: Some(Label { span, message: String::new() }),
            secondary: Vec::new(),
            notes: Vec::new(),
            help: Vec::new(),
        }
    }

    /// A warning at `span`.
    #[must_use]
    pub fn warning(code: &'static str, span: Span, message: impl Into<String>) -> Self {
        Self { severity: Severity::Warning, ..Self::error(code, span, message) }
    }

    /// An error tied to no place in any file.
    #[must_use]
    pub fn global(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            code,
            message: message.into(),
            primary: None,
            secondary: Vec::new(),
            notes: Vec::new(),
            help: Vec::new(),
        }
    }

    /// Sets the text under the caret.
    #[must_use]
    pub fn with_label(mut self, message: impl Into<String>) -> Self {
        if let Some(primary) = &mut self.primary {
            primary.message = message.into();
        }
        self
    }

    /// Adds a secondary place.
    #[must_use]
    pub fn with_secondary(mut self, span: Span, message: impl Into<String>) -> Self {
        self.secondary.push(Label { span, message: message.into() });
        self
    }

    /// Adds a note.
    #[must_use]
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// Adds a help line.
    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help.push(help.into());
        self
    }

    /// Adds a help line when there is one.
    #[must_use]
    pub fn with_help_opt(self, help: Option<String>) -> Self {
        match help {
            Some(help) => self.with_help(help),
            None => self,
        }
    }

    /// The `path:line:col` of the primary span, or the bare path/nothing without one.
    #[must_use]
    pub fn location(&self, sources: &SourceMap) -> Option<(String, usize, usize)> {
        let span = self.primary.as_ref()?.span;
        let (line, col) = sources.line_col(span.file, span.start);
        Some((sources.get(span.file).path.clone(), line, col))
    }

    /// Renders like rustc, below a `path:line:col: error: message` header.
    #[must_use]
    pub fn render(&self, sources: &SourceMap) -> String {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut out = match self.location(sources) {
            Some((path, line, col)) => format!("{path}:{line}:{col}: {severity}: {}\n", self.message),
            None => format!("{severity}: {}\n", self.message),
        };

        let mut labels = Vec::new();
        if let Some(primary) = &self.primary {
            labels.push(
                cs::Label::primary(primary.span.file, primary.span.range()).with_message(&primary.message),
            );
        }
        for label in &self.secondary {
            labels
                .push(cs::Label::secondary(label.span.file, label.span.range()).with_message(&label.message));
        }
        let mut notes: Vec<String> = self.notes.iter().map(|n| format!("note: {n}")).collect();
        notes.extend(self.help.iter().map(|h| format!("help: {h}")));
        let cs_severity = match self.severity {
            Severity::Error => cs::Severity::Error,
            Severity::Warning => cs::Severity::Warning,
        };
        // No message: codespan's header line is then always the one line `error:`, which
        // our own header replaces.
        let diagnostic = cs::Diagnostic::new(cs_severity).with_labels(labels).with_notes(notes);
        let config = Config { chars: Chars::ascii(), ..Config::default() };
        if let Ok(body) = term::emit_into_string(&config, sources, &diagnostic) {
            // codespan's first line is `error: message`, its second the ` --> path:l:c`
            // locus of the primary label; our header already says both.
            let mut lines = body.lines();
            lines.next();
            let mut rest: Vec<&str> = lines.collect();
            if self.primary.is_some() && rest.first().is_some_and(|l| l.trim_start().starts_with("-->")) {
                rest.remove(0);
            }
            while rest.last().is_some_and(|l| l.trim().is_empty()) {
                rest.pop();
            }
            for line in rest {
                out.push_str(line.trim_end());
                out.push('\n');
            }
        } else {
            // A span outside its file would be a bug in svcgen; still say everything we know.
            for note in &self.notes {
                out.push_str("  = note: ");
                out.push_str(note);
                out.push('\n');
            }
            for help in &self.help {
                out.push_str("  = help: ");
                out.push_str(help);
                out.push('\n');
            }
        }
        out
    }

    /// The JSON form printed by `--message-format json`, one object per line.
    #[must_use]
    pub fn to_json(&self, sources: &SourceMap) -> serde_json::Value {
        let label = |l: &Label| {
            let (line, column) = sources.line_col(l.span.file, l.span.start);
            let (end_line, end_column) = sources.line_col(l.span.file, l.span.end);
            serde_json::json!({
                "file": sources.get(l.span.file).path,
                "byte_start": l.span.start,
                "byte_end": l.span.end,
                "line": line,
                "column": column,
                "end_line": end_line,
                "end_column": end_column,
                "message": l.message,
            })
        };
        serde_json::json!({
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "primary": self.primary.as_ref().map(label),
            "secondary": self.secondary.iter().map(label).collect::<Vec<_>>(),
            "notes": self.notes,
            "help": self.help,
            "rendered": self.render(sources),
        })
    }
}

/// The sink every stage reports into.
///
/// Like serde's `Ctxt`, it insists on being read: dropping one that still holds diagnostics
/// is a bug in svcgen (caught by a debug assertion), because it would lose the user's errors.
#[derive(Debug, Default)]
pub struct Diagnostics {
    list: Vec<Diagnostic>,
}

impl Diagnostics {
    /// An empty sink.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Reports one diagnostic.
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.list.push(diagnostic);
    }

    /// Whether any error (not warning) was reported.
    #[must_use]
    pub fn has_errors(&self) -> bool {
        self.list.iter().any(|d| d.severity == Severity::Error)
    }

    /// Number of errors so far.
    #[must_use]
    pub fn error_count(&self) -> usize {
        self.list.iter().filter(|d| d.severity == Severity::Error).count()
    }

    /// Takes every diagnostic out, sorted by file and position (stable for equal places).
    #[must_use]
    pub fn take(mut self) -> Vec<Diagnostic> {
        let mut list = std::mem::take(&mut self.list);
        list.sort_by_key(|d| d.primary.as_ref().map(|l| (l.span.file, l.span.start)));
        list
    }

    /// Moves every diagnostic of `other` into this sink.
    pub fn extend(&mut self, other: Diagnostics) {
        self.list.extend(other.take());
    }
}

impl Drop for Diagnostics {
    fn drop(&mut self) {
        debug_assert!(
            self.list.is_empty() || std::thread::panicking(),
            "svcgen bug: {} diagnostic(s) dropped without being reported",
            self.list.len()
        );
    }
}

/// "did you mean `x`?" — the closest candidate by edit distance, if close enough.
#[must_use]
pub fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    closest(name, candidates).map(|c| format!("did you mean `{c}`?"))
}

/// The closest candidate by edit distance (case differences are cheap), if close enough:
/// within a third of the name's length, as rustc does.
#[must_use]
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    let lower = name.to_lowercase();
    candidates
        .into_iter()
        .filter(|c| *c != name)
        .filter_map(|c| {
            let distance = if c.to_lowercase() == lower { 0 } else { strsim::damerau_levenshtein(name, c) };
            (distance <= limit).then_some((distance, c))
        })
        .min_by_key(|(d, c)| (*d, *c))
        .map(|(_, c)| c)
}
