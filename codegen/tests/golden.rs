//! Golden snapshots of the generated Rust, one per valid fixture and package: a change to the
//! generator shows up as a reviewed diff. (That the output compiles, warning-free under
//! clippy pedantic, is proven by building the `svcgen-tests` crate.)
//!
//! Bless with `INSTA_UPDATE=always cargo test -p svcgen-codegen --test golden`, then review.

use std::fmt::Write as _;
use std::path::Path;

#[test]
fn generated_code_matches_the_snapshots() {
    insta::glob!("../../tests/fixtures/valid", "*.svc", |path| {
        let output = svcgen_idl::compile(&[path], &svcgen_idl::RealFs);
        let files = svcgen_codegen::rust::generate_from(&output).expect("a valid fixture");
        let mut text = String::new();
        for file in files {
            let _ = writeln!(text, "// ===== {} =====", file.file_name());
            text.push_str(&file.source);
        }
        insta::assert_snapshot!(text);
    });
}

#[test]
fn the_example_matches_its_snapshot() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/shop/shop.svc");
    let output = svcgen_idl::compile(&[&path], &svcgen_idl::RealFs);
    let files = svcgen_codegen::rust::generate_from(&output).expect("the example is valid");
    let catalog = files.iter().find(|f| f.module == "shop_catalog").expect("the catalog package");
    assert!(catalog.source.starts_with(svcgen_codegen::rust::HEADER));
    insta::assert_snapshot!("example_shop_catalog", catalog.source);
}
