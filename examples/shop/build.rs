//! Generates the Rust for `shop.svc` (and `money.svc`, which it imports) into `OUT_DIR`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    svcgen_codegen::Builder::new().file("shop.svc").compile()?;
    Ok(())
}
