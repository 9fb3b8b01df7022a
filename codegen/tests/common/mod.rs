//! Helpers shared by the test binaries of this crate (each uses a subset of them).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use svcgen_idl::{MemoryFs, Model, RealFs, compile};

/// A path in the repository.
pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// The model of a file on disk, or a panic with its diagnostics.
pub fn model_of(path: &Path) -> Model {
    let output = compile(&[path], &RealFs);
    match output.model {
        Some(model) => model,
        None => panic!("{} is invalid:\n{}", path.display(), output.render_diagnostics()),
    }
}

/// The model of in-memory files (the first is the root), or a panic with its diagnostics.
pub fn model_from_text(files: &[(&str, &str)]) -> Model {
    let fs = MemoryFs::new(files.iter().copied());
    let output = compile(&[files[0].0], &fs);
    match output.model {
        Some(model) => model,
        None => panic!("invalid test model:\n{}", output.render_diagnostics()),
    }
}

/// The example and every valid fixture, in a stable order.
pub fn inputs() -> Vec<PathBuf> {
    let mut fixtures: Vec<PathBuf> = std::fs::read_dir(repo("tests/fixtures/valid"))
        .expect("the fixtures folder")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "svc"))
        .collect();
    fixtures.sort();
    assert!(fixtures.len() >= 30, "expected the valid fixtures, found {}", fixtures.len());
    let mut all = vec![repo("examples/shop/shop.svc")];
    all.extend(fixtures);
    all
}
