//! The svcgen interface definition language.
//!
//! `.svc` text is parsed with pest into a syntax tree ([`ast`]), lowered into the one
//! [`model`] every back end reads, and checked ([`check`]). Every problem becomes a
//! [`Diagnostic`] with a `path:line:col` and a caret; nothing here panics on user input.
//!
//! ```
//! use svcgen_idl::{compile, MemoryFs};
//!
//! let fs = MemoryFs::new([(
//!     "shop.svc",
//!     "package shop;\nstruct Product { id: u64, name: strnig }\n",
//! )]);
//! let output = compile(&["shop.svc"], &fs);
//! assert!(output.model.is_none());
//! let text = output.render_diagnostics();
//! assert!(text.starts_with("shop.svc:2:33: error: unknown type `strnig`"));
//! assert!(text.contains("help: did you mean `string`?"));
//! ```

pub mod ast;
pub mod attr;
pub mod check;
pub mod comments;
pub mod diagnostic;
pub mod fmt;
pub mod lower;
pub mod model;
pub mod parse;
pub mod source;

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

pub use diagnostic::{Diagnostic, Diagnostics, Severity};
pub use model::Model;
pub use source::{FileId, SourceMap, Span};

use lower::LoadedFile;
use parse::Parsed;

/// Where `.svc` files are read from: the disk, or memory (tests, the macro front end).
pub trait FileSystem {
    /// The file's bytes.
    ///
    /// # Errors
    /// When it cannot be read; the message is shown to the user.
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>>;

    /// A key that is equal for two paths naming the same file (to find import cycles).
    fn identity(&self, path: &Path) -> PathBuf {
        normalize(path)
    }
}

/// The real file system.
#[derive(Clone, Copy, Debug, Default)]
pub struct RealFs;

impl FileSystem for RealFs {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        std::fs::read(path)
    }

    fn identity(&self, path: &Path) -> PathBuf {
        std::fs::canonicalize(path).unwrap_or_else(|_| normalize(path))
    }
}

/// Files held in memory, by normalised path.
#[derive(Clone, Debug, Default)]
pub struct MemoryFs {
    files: HashMap<PathBuf, Vec<u8>>,
}

impl MemoryFs {
    /// A file system with these files.
    pub fn new<P: AsRef<Path>, T: AsRef<[u8]>>(files: impl IntoIterator<Item = (P, T)>) -> Self {
        Self { files: files.into_iter().map(|(p, t)| (normalize(p.as_ref()), t.as_ref().to_vec())).collect() }
    }
}

impl FileSystem for MemoryFs {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        self.files
            .get(&normalize(path))
            .cloned()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory"))
    }
}

/// `a/./b/../c` → `a/c`, lexically.
#[must_use]
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// How deep imports may chain.
const MAX_IMPORT_DEPTH: usize = 128;

/// The result of compiling some root files and everything they import.
#[derive(Debug)]
pub struct Output {
    /// Every file read, for rendering diagnostics.
    pub sources: SourceMap,
    /// The checked model; `None` when there are errors.
    pub model: Option<Model>,
    /// Errors and warnings, in file and position order.
    pub diagnostics: Vec<Diagnostic>,
    /// The syntax tree and comments of each file that parsed, by [`FileId`].
    pub parsed: Vec<Option<Parsed>>,
}

impl Output {
    /// Whether any diagnostic is an error.
    #[must_use]
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(|d| d.severity == Severity::Error)
    }

    /// Every diagnostic rendered for a terminal, each followed by a blank line.
    #[must_use]
    pub fn render_diagnostics(&self) -> String {
        self.diagnostics.iter().map(|d| d.render(&self.sources) + "\n").collect()
    }
}

/// Reads, parses, lowers and checks `roots` and all they import.
pub fn compile<P: AsRef<Path>>(roots: &[P], fs: &dyn FileSystem) -> Output {
    let mut loader = Loader {
        fs,
        sources: SourceMap::new(),
        files: Vec::new(),
        by_identity: HashMap::new(),
        diags: Diagnostics::new(),
    };
    for root in roots {
        loader.load(root.as_ref(), None, &mut Vec::new());
    }
    let Loader { sources, files, mut diags, .. } = loader;
    let mut model = None;
    let trees: Vec<Option<Parsed>> = if !diags.has_errors() && files.iter().all(Option::is_some) {
        let mut comments = Vec::with_capacity(files.len());
        let to_lower: Vec<LoadedFile> = files
            .into_iter()
            .enumerate()
            .filter_map(|(i, f)| {
                let (parsed, imports) = f?;
                let id = FileId(u32::try_from(i).unwrap_or(u32::MAX));
                comments.push(parsed.comments);
                Some(LoadedFile { id, path: sources.get(id).path.clone(), ast: parsed.file, imports })
            })
            .collect();
        let lowered = lower::lower(&to_lower, &mut diags);
        // Checks tolerate what lowering could not resolve, so one run reports both kinds.
        check::check(&lowered, &mut diags);
        if !diags.has_errors() {
            model = Some(lowered);
        }
        // The trees go to the caller: moved, never cloned.
        to_lower
            .into_iter()
            .zip(comments)
            .map(|(f, comments)| Some(Parsed { file: f.ast, comments }))
            .collect()
    } else {
        files.into_iter().map(|f| f.map(|(parsed, _)| parsed)).collect()
    };
    Output { sources, model, diagnostics: diags.take(), parsed: trees }
}

struct Loader<'fs> {
    fs: &'fs dyn FileSystem,
    sources: SourceMap,
    /// By file id: the parse (if it parsed) and the resolved imports.
    files: Vec<Option<(Parsed, Vec<FileId>)>>,
    by_identity: HashMap<PathBuf, FileId>,
    diags: Diagnostics,
}

impl Loader<'_> {
    /// Loads one file and, depth first, its imports. `from` is the import that names it;
    /// `stack` the chain of files being loaded (to find cycles).
    fn load(
        &mut self,
        path: &Path,
        from: Option<(FileId, Span)>,
        stack: &mut Vec<(PathBuf, FileId)>,
    ) -> Option<FileId> {
        let identity = self.fs.identity(path);
        if let Some(at) = stack.iter().position(|(p, _)| *p == identity) {
            if let Some((_, span)) = from {
                let mut chain: Vec<String> =
                    stack[at..].iter().map(|(_, id)| self.sources.get(*id).path.clone()).collect();
                chain.push(self.sources.get(stack[at].1).path.clone());
                self.diags.push(
                    Diagnostic::error("import-cycle", span, "import cycle")
                        .with_label("this import leads back to a file that imports it")
                        .with_note(format!("the cycle: {}", chain.join(" -> ")))
                        .with_help("move the shared declarations into a file that both import"),
                );
            }
            return None;
        }
        if let Some(id) = self.by_identity.get(&identity) {
            return Some(*id);
        }
        let display = path.display().to_string();
        let bytes = match self.fs.read(path) {
            Ok(bytes) => bytes,
            Err(error) => {
                let diag = match from {
                    Some((_, span)) => {
                        Diagnostic::error("import-not-found", span, format!("cannot read `{display}`"))
                            .with_label(if error.kind() == std::io::ErrorKind::NotFound {
                                "no such file".to_owned()
                            } else {
                                error.to_string()
                            })
                            .with_note("imports are relative to the importing file")
                    }
                    None => Diagnostic::global("file-not-found", format!("cannot read `{display}`: {error}")),
                };
                self.diags.push(diag);
                return None;
            }
        };
        let (text, utf8_error) = match String::from_utf8(bytes) {
            Ok(text) => (text, None),
            Err(error) => {
                let at = error.utf8_error().valid_up_to();
                (String::from_utf8_lossy(error.as_bytes()).into_owned(), Some(at))
            }
        };
        let id = self.sources.add(display, text);
        self.by_identity.insert(identity.clone(), id);
        self.files.push(None);
        if let Some(at) = utf8_error {
            self.diags.push(
                Diagnostic::error("invalid-utf8", Span::new(id, at, at + 1), "file is not valid UTF-8")
                    .with_note(".svc files are UTF-8 text"),
            );
            return Some(id);
        }
        let text = self.sources.get(id).text.clone();
        let Some(parsed) = parse::parse_file(id, &text, &mut self.diags) else { return Some(id) };
        if stack.len() >= MAX_IMPORT_DEPTH {
            if let Some((_, span)) = from {
                self.diags.push(Diagnostic::error(
                    "import-depth",
                    span,
                    format!("imports nest more than {MAX_IMPORT_DEPTH} deep"),
                ));
            }
            return Some(id);
        }
        stack.push((identity, id));
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut imports = Vec::new();
        for import in &parsed.file.imports {
            let target = normalize(&dir.join(&import.path));
            if let Some(child) = self.load(&target, Some((id, import.path_span)), stack)
                && !imports.contains(&child)
            {
                imports.push(child);
            }
        }
        stack.pop();
        self.files[id.0 as usize] = Some((parsed, imports));
        Some(id)
    }
}
