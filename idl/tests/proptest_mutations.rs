//! Mutated valid files go through `check` and `fmt` without panicking, and whenever `fmt`
//! accepts one, its output is a fixed point that keeps every comment and (if the file was
//! valid) the model.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use svcgen_idl::{FileId, MemoryFs, compile, fmt};

fn corpus() -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for dir in ["examples/shop", "tests/fixtures/valid", "tests/fixtures/invalid"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "svc")
                && let Ok(text) = std::fs::read_to_string(&path)
            {
                files.push((path, text));
            }
        }
    }
    files.sort();
    files
}

const TOKENS: &[&str] = &[
    "{",
    "}",
    "(",
    ")",
    "<",
    ">",
    "[",
    "]",
    "?",
    ",",
    ";",
    ":",
    "=",
    "->",
    "@",
    ".",
    "\"",
    "r\"",
    "//",
    "/*",
    "*/",
    "///",
    "\n",
    " ",
    "list<",
    "map<",
    "stream ",
    "throws ",
    "fn ",
    "event ",
    "struct ",
    "enum ",
    "union ",
    "type ",
    "error ",
    "service ",
    "package ",
    "import \"x.svc\";",
    "@http(GET, \"/a/{id}\")",
    "@oneway",
    "@hydrate(",
    "@length(min: 1)",
    "@range(max: -1)",
    "@pattern(\"(\")",
    "@status(404)",
    "@deprecated",
    "@unknown",
    "u64",
    "string?",
    "Product",
    "null",
    "true",
    "0x",
    "1e999",
    "-",
    "é",
    "\u{0}",
    "\\",
    "\\u{110000}",
];

#[derive(Clone, Debug)]
enum Mutation {
    Delete { at: usize, len: usize },
    Insert { at: usize, token: usize },
    DuplicateLine { line: usize },
    SwapLines { a: usize, b: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1usize..40).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (any::<usize>(), 0..TOKENS.len()).prop_map(|(at, token)| Mutation::Insert { at, token }),
        any::<usize>().prop_map(|line| Mutation::DuplicateLine { line }),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines { a, b }),
    ]
}

fn floor_char(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn apply(text: &str, m: &Mutation) -> String {
    let n = text.len().max(1);
    match m {
        Mutation::Delete { at, len } => {
            let start = floor_char(text, at % n);
            let end = floor_char(text, start + len);
            format!("{}{}", &text[..start], &text[end..])
        }
        Mutation::Insert { at, token } => {
            let at = floor_char(text, at % n);
            format!("{}{}{}", &text[..at], TOKENS[*token], &text[at..])
        }
        Mutation::DuplicateLine { line } => {
            let mut lines: Vec<&str> = text.split('\n').collect();
            let i = line % lines.len();
            lines.insert(i, lines[i]);
            lines.join("\n")
        }
        Mutation::SwapLines { a, b } => {
            let mut lines: Vec<&str> = text.split('\n').collect();
            let len = lines.len();
            lines.swap(a % len, b % len);
            lines.join("\n")
        }
    }
}

fn comments_of(text: &str) -> Vec<String> {
    let mut diags = svcgen_idl::Diagnostics::new();
    let mut found: Vec<String> = svcgen_idl::comments::scan(FileId(0), text, &mut diags)
        .into_iter()
        .map(|c| c.text.replace("\r\n", "\n"))
        .collect();
    let _ = diags.take();
    found.sort();
    found
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_files_never_panic(file in 0usize..1000, mutations in proptest::collection::vec(mutation(), 1..4)) {
        let corpus = corpus();
        prop_assume!(!corpus.is_empty());
        let (path, original) = &corpus[file % corpus.len()];
        let mut text = original.clone();
        for m in &mutations {
            text = apply(&text, m);
        }
        // The neighbours stay as they are, so imports still resolve.
        let dir = path.parent().expect("in a folder");
        let mut files: Vec<(PathBuf, Vec<u8>)> = corpus
            .iter()
            .filter(|(p, _)| p.parent() == Some(dir))
            .map(|(p, t)| (PathBuf::from(p.file_name().expect("named")), t.clone().into_bytes()))
            .collect();
        let name = PathBuf::from(path.file_name().expect("named"));
        files.retain(|(p, _)| *p != name);
        files.push((name.clone(), text.clone().into_bytes()));
        for sub in ["imports"] {
            if let Ok(entries) = std::fs::read_dir(dir.join(sub)) {
                for entry in entries.flatten() {
                    if let (Some(fname), Ok(t)) = (entry.file_name().to_str().map(str::to_owned), std::fs::read(entry.path())) {
                        files.push((PathBuf::from(sub).join(fname), t));
                    }
                }
            }
        }
        let fs = MemoryFs::new(files.clone());
        let output = compile(&[&name], &fs);
        let _ = output.render_diagnostics();

        if let Ok(formatted) = fmt::format_source(FileId(0), &text) {
            let again = fmt::format_source(FileId(0), &formatted);
            prop_assert_eq!(again.as_ref(), Ok(&formatted), "fmt is not idempotent on:\n{}", text);
            prop_assert_eq!(comments_of(&text), comments_of(&formatted), "fmt changed comments of:\n{}", text);
            if let Some(model) = &output.model {
                files.retain(|(p, _)| *p != name);
                files.push((name.clone(), formatted.clone().into_bytes()));
                let reformatted = compile(&[&name], &MemoryFs::new(files));
                let Some(model2) = reformatted.model.as_ref() else {
                    return Err(TestCaseError::fail(format!("formatted text is invalid:\n{}\n{}", formatted, reformatted.render_diagnostics())));
                };
                prop_assert_eq!(model.to_json_without_spans(), model2.to_json_without_spans());
            }
        }
    }
}
