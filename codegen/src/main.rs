//! The `svcgen` command.

fn main() -> std::process::ExitCode {
    svcgen_codegen::cli::main()
}
