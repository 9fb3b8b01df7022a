//! Arbitrary bytes through the whole IDL front end and the formatter.
//!
//! (a) `compile`, twice: the input alone as `root.svc` (with the example `money.svc` next to
//!     it, so seeds that import it reach lowering and checks), and under a wrapper root that
//!     imports it directly, through a non-normalised path, and through a derived file that
//!     imports it back (`sub/derived.svc`, `money.svc`: the input with an import of
//!     `root.svc` inserted after its first `;`), so the loader meets duplicates, cycles and
//!     self-imports. Diagnostics are rendered (human and JSON) to exercise spans.
//! (b) if the input is UTF-8, `fmt::format_source`; when it succeeds the output must format
//!     to itself, parse, and compile to the same model (compared without spans) and the same
//!     diagnostics (compared by severity, code and message) as the input.

#![no_main]

use libfuzzer_sys::fuzz_target;
use svcgen_idl::{FileId, MemoryFs, Output, compile, fmt};

const MONEY: &str = include_str!("../../examples/shop/money.svc");

const WRAP: &str = "package fuzz.wrap;\n\
                    import \"root.svc\";\n\
                    import \"./sub/../root.svc\";\n\
                    import \"sub/derived.svc\";\n\
                    struct Wrap { x: u32 }\n";

/// `data` with `import "<target>";` inserted after its first `;` (or at the start).
fn derived(data: &[u8], target: &str) -> Vec<u8> {
    let at = data.iter().position(|b| *b == b';').map_or(0, |i| i + 1);
    let mut out = Vec::with_capacity(data.len() + 32);
    out.extend_from_slice(&data[..at]);
    out.extend_from_slice(format!("\nimport \"{target}\";\n").as_bytes());
    out.extend_from_slice(&data[at..]);
    out
}

/// Renders everything and checks the invariants every output has.
fn exercise(output: &Output) {
    let _ = output.render_diagnostics();
    for d in &output.diagnostics {
        let _ = d.to_json(&output.sources);
        let _ = d.location(&output.sources);
    }
    assert_eq!(
        output.model.is_some(),
        !output.has_errors(),
        "a model exactly when there is no error; diagnostics:\n{}",
        output.render_diagnostics()
    );
}

fn compile_alone(text: &[u8]) -> Output {
    let fs = MemoryFs::new([("root.svc", text)]);
    compile(&["root.svc"], &fs)
}

/// What must survive formatting: the model without spans and the diagnostics without places.
fn meaning(output: &Output) -> (Option<serde_json::Value>, Vec<String>) {
    let model = output.model.as_ref().map(svcgen_idl::Model::to_json_without_spans);
    let mut diags: Vec<String> =
        output.diagnostics.iter().map(|d| format!("{:?} {} {}", d.severity, d.code, d.message)).collect();
    diags.sort();
    (model, diags)
}

fuzz_target!(|data: &[u8]| {
    // (a) the loader, parser, lowering and checks.
    let fs = MemoryFs::new([("root.svc", data), ("money.svc", MONEY.as_bytes())]);
    exercise(&compile(&["root.svc"], &fs));

    let fs = MemoryFs::new([
        ("root.svc", data.to_vec()),
        ("wrap.svc", WRAP.as_bytes().to_vec()),
        ("sub/derived.svc", derived(data, "../root.svc")),
        ("money.svc", derived(data, "root.svc")),
    ]);
    exercise(&compile(&["wrap.svc", "root.svc", "sub/derived.svc"], &fs));

    // (b) the formatter.
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(formatted) = fmt::format_source(FileId(0), text) else { return };
    match fmt::format_source(FileId(0), &formatted) {
        Ok(again) => assert!(
            again == formatted,
            "fmt is not idempotent\n--- input ---\n{text}\n--- formatted once ---\n{formatted}\n--- twice ---\n{again}"
        ),
        Err(diags) => panic!(
            "fmt output does not parse: {:?}\n--- input ---\n{text}\n--- formatted ---\n{formatted}",
            diags.iter().map(|d| &d.message).collect::<Vec<_>>()
        ),
    }
    let before = compile_alone(data);
    let after = compile_alone(formatted.as_bytes());
    exercise(&after);
    let (m1, d1) = meaning(&before);
    let (m2, d2) = meaning(&after);
    assert!(
        d1 == d2,
        "fmt changed the diagnostics\n--- input ---\n{text}\n--- formatted ---\n{formatted}\n--- before ---\n{d1:#?}\n--- after ---\n{d2:#?}"
    );
    assert!(m1 == m2, "fmt changed the model\n--- input ---\n{text}\n--- formatted ---\n{formatted}");
});
