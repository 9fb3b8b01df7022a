//! Compile tests of the macros (trybuild): `ui/pass` must build warning-free and run, each
//! `ui/fail/<area>/*.rs` must fail with exactly its reviewed `.stderr`.
//! Bless new output with `TRYBUILD=overwrite cargo test -p svcgen-macros --test ui`, then read
//! every changed `.stderr`: does it point at the right token and read well?

use std::path::Path;

#[test]
fn ui() {
    // `include_svc!` reads paths relative to `CARGO_MANIFEST_DIR`, which for trybuild is its own
    // project folder, `<target>/tests/trybuild/<crate>`: the `.svc` files the cases name go there.
    let target =
        Path::new(env!("CARGO_TARGET_TMPDIR")).parent().expect("CARGO_TARGET_TMPDIR is <target>/tmp");
    let svc = target.join("tests/trybuild/svcgen-macros/svc");
    std::fs::create_dir_all(&svc).expect("the trybuild folder is writable");
    for entry in
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui/svc")).expect("tests/ui/svc")
    {
        let path = entry.expect("a directory entry").path();
        let name = path.file_name().expect("a file name");
        std::fs::copy(&path, svc.join(name)).expect("the .svc file is copied");
    }
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*/*.rs");
}
