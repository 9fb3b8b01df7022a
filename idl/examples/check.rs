//! Scratch: prints diagnostics of the files given.
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = svcgen_idl::compile(&args, &svcgen_idl::RealFs);
    print!("{}", out.render_diagnostics());
    println!("model: {}", out.model.is_some());
}
