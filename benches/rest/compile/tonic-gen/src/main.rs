//! `tonic-gen PROTO OUT_DIR`: what a `build.rs` with `tonic_prost_build::compile_protos` does,
//! written to a folder so that the generated code can be compiled on its own.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, proto, out_dir] = args.as_slice() else {
        eprintln!("usage: tonic-gen PROTO OUT_DIR");
        std::process::exit(2);
    };
    let include = std::path::Path::new(proto).parent().unwrap_or(std::path::Path::new("."));
    if let Err(e) = tonic_prost_build::configure()
        .out_dir(out_dir)
        .compile_protos(&[std::path::Path::new(proto)], &[include])
    {
        eprintln!("tonic-prost-build failed: {e}");
        std::process::exit(1);
    }
}
