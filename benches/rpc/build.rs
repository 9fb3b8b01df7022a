//! Generates the benchmark service from `bench.svc`, as a user's build script would, and the
//! tonic service glue from a manual description (no `.proto`, so no `protoc` is needed; the
//! prost messages are written by hand in `src/peers.rs`).

fn main() {
    if let Err(error) = svcgen_codegen::Builder::new().file("bench.svc").compile() {
        panic!("generating bench.svc failed:\n{error}");
    }
    // Writes `OUT_DIR/bench.Echo.rs`: `echo_client::EchoClient` and `echo_server::{Echo, EchoServer}`.
    let echo = tonic_build::manual::Method::builder()
        .name("echo")
        .route_name("Echo")
        .input_type("crate::peers::PbPayload")
        .output_type("crate::peers::PbPayload")
        .codec_path("tonic_prost::ProstCodec")
        .build();
    let service = tonic_build::manual::Service::builder().name("Echo").package("bench").method(echo).build();
    tonic_build::manual::Builder::new().compile(&[service]);
    println!("cargo::rerun-if-changed=build.rs");
}
