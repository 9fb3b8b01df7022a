//! Source files, file ids and byte spans.

use serde::Serialize;

/// Index of a file in a [`SourceMap`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct FileId(pub u32);

/// A byte range in one source file.
///
/// The IDL front end fills it with byte offsets into the `.svc` text; the macro front end
/// uses a synthetic file whose offsets index its own token table (see `ARCHITECTURE.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Span {
    /// The file the range is in.
    pub file: FileId,
    /// First byte.
    pub start: u32,
    /// One past the last byte.
    pub end: u32,
}

impl Span {
    /// A span from byte offsets.
    #[must_use]
    pub fn new(file: FileId, start: usize, end: usize) -> Self {
        // Files are limited to `MAX_FILE_SIZE` bytes before parsing, so offsets fit in u32.
        Self {
            file,
            start: u32::try_from(start).unwrap_or(u32::MAX),
            end: u32::try_from(end).unwrap_or(u32::MAX),
        }
    }

    /// The smallest span covering both.
    #[must_use]
    pub fn to(self, other: Span) -> Span {
        Span { file: self.file, start: self.start.min(other.start), end: self.end.max(other.end) }
    }

    /// The byte range, for slicing the source.
    #[must_use]
    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// The largest source file accepted (64 MiB); larger ones get a diagnostic, not a parse.
pub const MAX_FILE_SIZE: usize = 64 << 20;

/// One loaded file: the path as the user should see it, and its text.
#[derive(Clone, Debug)]
pub struct SourceFile {
    /// Path for display (as given on the command line, or joined from an import).
    pub path: String,
    /// The text. Invalid UTF-8 was replaced (and reported) when the file was read.
    pub text: String,
    /// Byte offset of the start of each line (computed once: rendering many diagnostics of
    /// a large file must not rescan it).
    line_starts: Vec<usize>,
}

impl SourceFile {
    /// The 0-based line of a byte offset.
    fn line_index(&self, offset: usize) -> usize {
        self.line_starts.binary_search(&offset).unwrap_or_else(|next| next.saturating_sub(1))
    }

    /// The start of a 0-based line; the text length for the line after the last.
    fn line_start(&self, line: usize) -> Option<usize> {
        match line.cmp(&self.line_starts.len()) {
            std::cmp::Ordering::Less => self.line_starts.get(line).copied(),
            std::cmp::Ordering::Equal => Some(self.text.len()),
            std::cmp::Ordering::Greater => None,
        }
    }
}

/// Every file seen in one run, indexed by [`FileId`].
#[derive(Clone, Debug, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    /// An empty map.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file and returns its id.
    pub fn add(&mut self, path: impl Into<String>, text: impl Into<String>) -> FileId {
        let id = FileId(u32::try_from(self.files.len()).unwrap_or(u32::MAX));
        let text = text.into();
        let line_starts = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
        self.files.push(SourceFile { path: path.into(), text, line_starts });
        id
    }

    /// The file with this id.
    ///
    /// # Panics
    /// If the id was not made by this map (a bug in svcgen, never a user error).
    #[must_use]
    pub fn get(&self, id: FileId) -> &SourceFile {
        &self.files[id.0 as usize]
    }

    /// All files with their ids.
    pub fn iter(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files.iter().enumerate().map(|(i, f)| (FileId(u32::try_from(i).unwrap_or(u32::MAX)), f))
    }

    /// The text a span covers.
    #[must_use]
    pub fn snippet(&self, span: Span) -> &str {
        self.get(span.file).text.get(span.range()).unwrap_or("")
    }

    /// 1-based line and column (in characters) of a byte offset.
    #[must_use]
    pub fn line_col(&self, file: FileId, offset: u32) -> (usize, usize) {
        let source = self.get(file);
        let offset = (offset as usize).min(source.text.len());
        let line = source.line_index(offset);
        let start = source.line_starts[line];
        let col = source.text.get(start..offset).map_or(0, |s| s.chars().count()) + 1;
        (line + 1, col)
    }
}

/// Lets codespan-reporting render from the map directly, with no copy of the texts.
impl<'a> codespan_reporting::files::Files<'a> for SourceMap {
    type FileId = FileId;
    type Name = &'a str;
    type Source = &'a str;

    fn name(&'a self, id: FileId) -> Result<&'a str, codespan_reporting::files::Error> {
        self.files
            .get(id.0 as usize)
            .map(|f| f.path.as_str())
            .ok_or(codespan_reporting::files::Error::FileMissing)
    }

    fn source(&'a self, id: FileId) -> Result<&'a str, codespan_reporting::files::Error> {
        self.files
            .get(id.0 as usize)
            .map(|f| f.text.as_str())
            .ok_or(codespan_reporting::files::Error::FileMissing)
    }

    fn line_index(
        &'a self,
        id: FileId,
        byte_index: usize,
    ) -> Result<usize, codespan_reporting::files::Error> {
        let file = self.files.get(id.0 as usize).ok_or(codespan_reporting::files::Error::FileMissing)?;
        Ok(file.line_index(byte_index))
    }

    fn line_range(
        &'a self,
        id: FileId,
        line_index: usize,
    ) -> Result<std::ops::Range<usize>, codespan_reporting::files::Error> {
        let file = self.files.get(id.0 as usize).ok_or(codespan_reporting::files::Error::FileMissing)?;
        let too_large = || codespan_reporting::files::Error::LineTooLarge {
            given: line_index,
            max: file.line_starts.len().saturating_sub(1),
        };
        let start = file.line_start(line_index).ok_or_else(too_large)?;
        let end = file.line_start(line_index + 1).ok_or_else(too_large)?;
        Ok(start..end)
    }
}
