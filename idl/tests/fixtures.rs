//! Data-driven tests over `tests/fixtures/` at the workspace root. Adding a case is adding a file.
//!
//! - `invalid/*.svc`: each has diagnostics; their rendered text is a reviewed insta snapshot
//!   (`idl/tests/snapshots/`). Files in subfolders are only imported, never roots.
//! - `valid/*.svc`: no diagnostic at all, and the formatter round trip holds: formatting is
//!   idempotent, keeps every comment and doc, and does not change the model.
//!
//! Bless new snapshots with `INSTA_UPDATE=always cargo test -p svcgen-idl --test fixtures`
//! (or `cargo insta review`), then review the diff.

use std::path::{Path, PathBuf};

use svcgen_idl::{FileId, FileSystem, Output, compile, fmt, normalize};

/// Reads paths relative to a root, so diagnostics show `invalid/x.svc`, not absolute paths.
struct Rooted {
    root: PathBuf,
    /// A file whose text replaces what is on disk (the formatted version of a root).
    overlay: Option<(PathBuf, String)>,
}

impl FileSystem for Rooted {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        if let Some((p, text)) = &self.overlay
            && normalize(path) == *p
        {
            return Ok(text.clone().into_bytes());
        }
        std::fs::read(self.root.join(path))
    }
}

fn fixtures_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

fn relative(path: &Path, root: &Path) -> PathBuf {
    let root = root.canonicalize().expect("fixtures folder");
    path.canonicalize().expect("fixture").strip_prefix(&root).expect("under the root").to_path_buf()
}

fn compile_rooted(root: &Path, file: &Path, overlay: Option<String>) -> Output {
    let fs = Rooted { root: root.to_path_buf(), overlay: overlay.map(|t| (normalize(file), t)) };
    compile(&[file], &fs)
}

#[test]
fn invalid_files_report_their_diagnostics() {
    let root = fixtures_root();
    insta::glob!("../../tests/fixtures/invalid", "*.svc", |path| {
        let rel = relative(path, &root);
        let output = compile_rooted(&root, &rel, None);
        assert!(!output.diagnostics.is_empty(), "{} should have diagnostics", rel.display());
        assert!(
            output.model.is_none()
                || output.diagnostics.iter().all(|d| d.severity == svcgen_idl::Severity::Warning),
            "a model was returned for {} despite errors",
            rel.display()
        );
        insta::assert_snapshot!(output.render_diagnostics());
    });
}

#[test]
fn valid_files_have_no_diagnostics_and_survive_formatting() {
    let root = fixtures_root();
    insta::glob!("../../tests/fixtures/valid", "*.svc", |path| check_valid(&root, &relative(path, &root)));
}

#[test]
fn the_examples_are_valid_and_formatted() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let conformance = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/conformance.svc");
    let text = std::fs::read_to_string(&conformance).expect("readable");
    assert_eq!(
        fmt::format_source(FileId(0), &text).expect("parses"),
        text,
        "tests/conformance.svc is not formatted"
    );
    for entry in walk(&root) {
        let rel = relative(&entry, &root);
        check_valid(&root, &rel);
        let text = std::fs::read_to_string(&entry).expect("readable");
        let formatted = fmt::format_source(FileId(0), &text).expect("parses");
        assert_eq!(formatted, text, "{} is not formatted: run `svcgen fmt` on it", rel.display());
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("readable folder").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else if path.extension().is_some_and(|e| e == "svc") {
            out.push(path);
        }
    }
    out.sort();
    out
}

fn check_valid(root: &Path, rel: &Path) {
    let output = compile_rooted(root, rel, None);
    assert!(
        output.diagnostics.is_empty(),
        "{} should be valid:\n{}",
        rel.display(),
        output.render_diagnostics()
    );
    let model = output.model.expect("a valid file has a model");

    let text = std::fs::read_to_string(root.join(rel)).expect("readable");
    let once = fmt::format_source(FileId(0), &text).expect("a valid file parses");
    let twice = fmt::format_source(FileId(0), &once).expect("formatted output parses");
    assert_eq!(once, twice, "formatting {} is not idempotent", rel.display());

    let parsed = output.parsed[0].as_ref().expect("the root parsed");
    let mut before: Vec<String> = parsed.comments.iter().map(|c| c.text.replace("\r\n", "\n")).collect();
    let reparsed = compile_rooted(root, rel, Some(once.clone()));
    let reparsed_file = reparsed.parsed[0].as_ref().expect("the formatted root parses");
    let mut after: Vec<String> =
        reparsed_file.comments.iter().map(|c| c.text.replace("\r\n", "\n")).collect();
    before.sort_unstable();
    after.sort_unstable();
    assert_eq!(before, after, "formatting {} lost or changed comments", rel.display());

    let rendered = reparsed.render_diagnostics();
    let formatted_model =
        reparsed.model.unwrap_or_else(|| panic!("formatted {} is invalid:\n{rendered}", rel.display()));
    assert_eq!(
        model.to_json_without_spans(),
        formatted_model.to_json_without_spans(),
        "formatting {} changed its model",
        rel.display()
    );
}
