//! Nothing a user can feed svcgen makes it panic: garbage, empty files, huge files, deep
//! nesting, invalid UTF-8. Each case also checks the diagnostic says something sensible.

use std::fmt::Write as _;

use svcgen_idl::{FileId, MemoryFs, Output, compile, fmt};

fn compile_bytes(bytes: &[u8]) -> Output {
    let fs = MemoryFs::new([("input.svc", bytes)]);
    let output = compile(&["input.svc"], &fs);
    // Rendering must not panic either.
    let _ = output.render_diagnostics();
    for d in &output.diagnostics {
        let _ = d.to_json(&output.sources);
    }
    output
}

fn codes(output: &Output) -> Vec<&'static str> {
    output.diagnostics.iter().map(|d| d.code).collect()
}

#[test]
fn empty_file_asks_for_a_package() {
    let output = compile_bytes(b"");
    assert_eq!(codes(&output), ["syntax"]);
    assert!(output.diagnostics[0].message.contains("`package`"), "{}", output.diagnostics[0].message);
}

#[test]
fn binary_garbage_is_a_syntax_error() {
    let mut bytes = Vec::new();
    let mut x: u32 = 0x1234_5678;
    for _ in 0..4096 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        bytes.push((x & 0x7f) as u8);
    }
    let output = compile_bytes(&bytes);
    assert!(output.has_errors());
    assert!(output.model.is_none());
}

#[test]
fn invalid_utf8_is_reported_at_its_byte() {
    let output = compile_bytes(b"package p;\nstruct A { name\xff: string }\n");
    assert_eq!(codes(&output), ["invalid-utf8"]);
    let text = output.render_diagnostics();
    assert!(text.starts_with("input.svc:2:16: error: file is not valid UTF-8"), "{text}");
}

#[test]
fn nul_bytes_and_control_characters_are_named() {
    let output = compile_bytes(b"package p;\nstruct A {\0}\n");
    let text = output.render_diagnostics();
    assert!(text.contains("a control character (U+0000)"), "{text}");
}

#[test]
fn a_ten_megabyte_file_is_checked() {
    let mut text = String::from("package big;\n");
    let mut i = 0;
    while text.len() < 10 << 20 {
        let _ = write!(
            text,
            "/// Struct number {i}.\nstruct S{i} {{\n    id: u64,\n    name: string?,\n    tags: list<string>,\n    next: S{i}?,\n}}\n\n"
        );
        i += 1;
    }
    let output = compile_bytes(text.as_bytes());
    assert!(output.diagnostics.is_empty(), "{}", output.render_diagnostics());
    assert_eq!(output.model.expect("valid").types.len(), i);
}

#[test]
fn a_ten_megabyte_file_of_garbage_is_refused_quickly() {
    let text = "struct { < ( [ ".repeat((10 << 20) / 15);
    let output = compile_bytes(text.as_bytes());
    assert!(output.has_errors());
}

#[test]
fn deeply_nested_generics_are_refused_not_overflowed() {
    let depth = 100_000;
    let text = format!("package p;\nstruct A {{ a: {}u64{} }}\n", "list<".repeat(depth), ">".repeat(depth));
    let output = compile_bytes(text.as_bytes());
    assert_eq!(codes(&output), ["too-deep"]);
    assert!(fmt::format_source(FileId(0), &text).is_err());
}

#[test]
fn nesting_just_under_the_limit_works() {
    // The file's own braces count too: struct { ... } is one level.
    let depth = svcgen_idl::comments::MAX_NESTING - 1;
    let text = format!("package p;\nstruct A {{ a: {}u64{} }}\n", "list<".repeat(depth), ">".repeat(depth));
    let output = compile_bytes(text.as_bytes());
    assert!(output.diagnostics.is_empty(), "{}", output.render_diagnostics());
    let formatted = fmt::format_source(FileId(0), &text).expect("formats");
    assert!(formatted.contains(&"list<".repeat(depth)));
}

#[test]
fn deeply_nested_values_are_refused() {
    let depth = 10_000;
    let text =
        format!("package p;\nstruct A {{ a: list<u64> = {}{} }}\n", "[".repeat(depth), "]".repeat(depth));
    let output = compile_bytes(text.as_bytes());
    assert_eq!(codes(&output), ["too-deep"]);
}

#[test]
fn long_alias_chains_and_recursion_do_not_overflow() {
    let n = 20_000;
    let mut text = String::from("package p;\n");
    for i in 0..n {
        let _ = writeln!(text, "type A{i} = A{};", i + 1);
    }
    let _ = writeln!(text, "type A{n} = string;");
    for i in 0..n {
        let _ = writeln!(text, "struct S{i} {{ next: S{} }}", (i + 1) % n);
    }
    let output = compile_bytes(text.as_bytes());
    // The alias chain is fine; the struct ring has infinite size, reported once.
    assert_eq!(codes(&output), ["infinite-size"], "{}", output.render_diagnostics());
}

#[test]
fn a_file_importing_itself_is_a_cycle() {
    let fs = MemoryFs::new([("a.svc", "package a;\nimport \"a.svc\";\n")]);
    let output = compile(&["a.svc"], &fs);
    assert_eq!(codes(&output), ["import-cycle"]);
}

#[test]
fn unterminated_things_are_named() {
    assert_eq!(codes(&compile_bytes(b"package p; /* open")), ["unterminated-comment"]);
    assert_eq!(codes(&compile_bytes(b"package p; @deprecated(\"open) struct A {}")), ["unterminated-string"]);
    assert_eq!(codes(&compile_bytes(b"package p; @pattern(r\"open")), ["unterminated-string"]);
}

#[test]
fn many_diagnostics_in_a_large_file_render() {
    // 20,000 naming warnings in a ~1 MB file: rendering each must not rescan the file
    // (it used to be quadratic).
    let mut text = String::from("package p;\n");
    for i in 0..20_000 {
        let _ = writeln!(text, "struct lower_case_{i} {{ FieldName: u64 }}");
    }
    let output = compile_bytes(text.as_bytes());
    assert_eq!(output.diagnostics.len(), 40_000);
    assert!(output.model.is_some(), "warnings only");
    let rendered = output.render_diagnostics();
    assert!(
        rendered.contains(
            "input.svc:20001:8: warning: type `lower_case_19999` should be written in UpperCamelCase"
        )
    );
}
