//! Generates Rust for every valid fixture, so that building this crate proves the generated
//! code compiles, and linting it proves it is clean under `clippy::pedantic` and `missing_docs`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let mut fixtures: Vec<PathBuf> = std::fs::read_dir(root.join("fixtures/valid"))
        .expect("tests/fixtures/valid exists")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "svc"))
        .collect();
    fixtures.sort();
    fixtures.push(root.join("../examples/shop/shop.svc"));
    fixtures.push(root.join("conformance.svc"));
    // The next version of the conformance service, for old/new peer tests: one more method
    // and one more optional field, nothing else.
    let v1 = std::fs::read_to_string(root.join("conformance.svc")).expect("tests/conformance.svc exists");
    let v2 = v1.replace("    note: string?,\n}", "    note: string?,\n    color: string?,\n}").replace(
        "    fn explode() -> string;\n",
        "    fn explode() -> string;\n\n    /// New in v2.\n    fn added() -> string;\n",
    );
    assert!(v2.contains("color: string?") && v2.contains("fn added"), "conformance.svc changed shape");
    std::fs::write(out_dir.join("conformance_v2.svc"), v2).expect("OUT_DIR is writable");
    fixtures.push(out_dir.join("conformance_v2.svc"));
    fixtures.push(root.join("compat.svc"));
    let v1 = std::fs::read_to_string(root.join("compat.svc")).expect("tests/compat.svc exists");
    let v2 = v1
        .replace("enum Shape { CIRCLE, SQUARE }", "enum Shape { CIRCLE, SQUARE, TRIANGLE }")
        .replace("    shape: Shape,\n}", "    shape: Shape,\n    color: string?,\n}")
        .replace("    fn newest() -> Thing;\n", "    fn newest() -> Thing;\n\n    fn added() -> string;\n");
    assert!(
        v2.contains("TRIANGLE") && v2.contains("color") && v2.contains("fn added"),
        "compat.svc changed shape"
    );
    std::fs::write(out_dir.join("compat_v2.svc"), v2).expect("OUT_DIR is writable");
    fixtures.push(out_dir.join("compat_v2.svc"));
    println!("cargo:rerun-if-changed={}", root.join("fixtures/valid").display());
    println!("cargo:rerun-if-changed={}", root.join("compat.svc").display());

    let mut index = String::new();
    for fixture in fixtures {
        let mut stem = fixture.file_stem().and_then(|s| s.to_str()).unwrap_or("fixture").to_owned();
        if fixture.starts_with(root.join("..").join("examples")) {
            stem = format!("example_{stem}");
        }
        println!("cargo:rerun-if-changed={}", fixture.display());
        let dir = out_dir.join(&stem);
        let files = svcgen_codegen::Builder::new()
            .file(&fixture)
            .out_dir(&dir)
            .compile()
            .unwrap_or_else(|e| panic!("generating {} failed:\n{e}", fixture.display()));
        let _ = writeln!(index, "/// Generated from `{}`.\npub mod fixture_{stem} {{", fixture.display());
        for file in files {
            let _ = writeln!(
                index,
                "    /// The `{}` package.\n    pub mod {} {{\n        include!(concat!(env!(\"OUT_DIR\"), \"/{stem}/{}\"));\n    }}",
                file.package,
                file.module,
                file.file_name()
            );
        }
        index.push_str("}\n");
    }
    std::fs::write(out_dir.join("fixtures.rs"), index).expect("OUT_DIR is writable");
}
