//! Generates the benchmark service from `bench.svc`, as a user's build script would.

fn main() {
    if let Err(error) = svcgen_codegen::Builder::new().file("bench.svc").compile() {
        panic!("generating bench.svc failed:\n{error}");
    }
    println!("cargo::rerun-if-changed=build.rs");
}
