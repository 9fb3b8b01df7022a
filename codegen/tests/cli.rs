//! The `svcgen` binary, run as a user runs it: exit codes, output formats, files rewritten.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn svcgen(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_svcgen")).args(args).output().expect("svcgen runs")
}

fn repo(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path).display().to_string()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("writable");
    path
}

#[test]
fn check_accepts_the_example() {
    let out = svcgen(&["check", &repo("examples/shop/shop.svc")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
}

#[test]
fn check_reports_errors_with_location_caret_and_help() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = write(
        dir.path(),
        "typo.svc",
        "package p;\nstruct Product { id: u64 }\nstruct Order { item: Prodcut }\n",
    );
    let out = svcgen(&["check", &file.display().to_string()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    let header = format!("{}:3:22: error: unknown type `Prodcut`", file.display());
    assert!(stderr.starts_with(&header), "{stderr}");
    assert!(stderr.contains("3 | struct Order { item: Prodcut }"), "{stderr}");
    assert!(stderr.contains("                     ^^^^^^^ not found"), "{stderr}");
    assert!(stderr.contains("= help: did you mean `Product`?"), "{stderr}");
    assert!(stderr.trim_end().ends_with("1 error in 1 file"), "{stderr}");
}

#[test]
fn check_a_missing_file_fails_cleanly() {
    let out = svcgen(&["check", "/nonexistent/x.svc"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).starts_with("error: cannot read `/nonexistent/x.svc`"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(svcgen(&[]).status.code(), Some(2));
    assert_eq!(svcgen(&["check"]).status.code(), Some(2));
    assert_eq!(svcgen(&["check", "--frobnicate", "x.svc"]).status.code(), Some(2));
    assert_eq!(svcgen(&["explode"]).status.code(), Some(2));
}

#[test]
fn help_shows_examples() {
    let out = svcgen(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("Examples:"), "{stdout}");
    for command in ["check", "fmt", "model"] {
        assert!(stdout.contains(command), "{stdout}");
    }
}

#[test]
fn json_diagnostics_are_one_object_per_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = write(dir.path(), "two.svc", "package p;\nstruct A { a: Foo, b: Bar }\n");
    let out = svcgen(&["check", "--message-format", "json", &file.display().to_string()]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    let objects: Vec<serde_json::Value> =
        stdout.lines().map(|l| serde_json::from_str(l).expect("each line is JSON")).collect();
    assert_eq!(objects.len(), 2);
    assert_eq!(objects[0]["severity"], "error");
    assert_eq!(objects[0]["code"], "unknown-type");
    assert_eq!(objects[0]["primary"]["line"], 2);
    assert_eq!(objects[0]["primary"]["column"], 15);
    assert_eq!(objects[1]["primary"]["column"], 23);
    assert!(objects[0]["rendered"].as_str().expect("text").contains("^^^"));
}

#[test]
fn warnings_pass_unless_denied() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = write(dir.path(), "style.svc", "package p;\nstruct product { id: u64 }\n");
    let path = file.display().to_string();
    let out = svcgen(&["check", &path]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stderr).contains("warning: type `product` should be written in UpperCamelCase"));
    assert_eq!(svcgen(&["check", "--deny-warnings", &path]).status.code(), Some(1));
}

#[test]
fn fmt_check_reports_a_diff_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let messy = "package   p ;\nstruct A{a:u32 // the a\n}\n";
    let file = write(dir.path(), "messy.svc", messy);
    let path = file.display().to_string();
    let out = svcgen(&["fmt", "--check", &path]);
    assert_eq!(out.status.code(), Some(1));
    let diff = text(&out.stdout);
    assert!(diff.contains("-package   p ;") && diff.contains("+package p;"), "{diff}");
    assert_eq!(std::fs::read_to_string(&file).expect("readable"), messy);
}

#[test]
fn fmt_rewrites_in_place_and_then_checks_clean() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = write(dir.path(), "messy.svc", "package   p ;\nstruct A{a:u32 // the a\n}\n");
    let path = file.display().to_string();
    assert_eq!(svcgen(&["fmt", &path]).status.code(), Some(0));
    assert_eq!(
        std::fs::read_to_string(&file).expect("readable"),
        "package p;\n\nstruct A {\n    a: u32, // the a\n}\n"
    );
    assert_eq!(svcgen(&["fmt", "--check", &path]).status.code(), Some(0));
}

#[test]
fn fmt_refuses_syntax_errors_and_keeps_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let broken = "package p;\nstruct A { a: }\n";
    let file = write(dir.path(), "broken.svc", broken);
    let out = svcgen(&["fmt", &file.display().to_string()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains(":2:15: error: expected a type, found `}`"), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_to_string(&file).expect("readable"), broken);
}

#[test]
fn fmt_reads_stdin_with_a_dash() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_svcgen"))
        .args(["fmt", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("svcgen runs");
    child.stdin.take().expect("stdin").write_all(b"package p;enum E{A,B}").expect("written");
    let out = child.wait_with_output().expect("finishes");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "package p;\n\nenum E { A, B }\n");
}

#[test]
fn model_prints_the_resolved_model() {
    let out = svcgen(&["model", &repo("examples/shop/shop.svc")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let model: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let packages: Vec<&str> =
        model["packages"].as_array().expect("list").iter().filter_map(|p| p["name"].as_str()).collect();
    assert_eq!(packages, ["shop.catalog", "shop.money"]);
    let catalog = &model["services"][0];
    assert_eq!(catalog["name"], "Catalog");
    let get = &catalog["methods"][0];
    assert_eq!(get["http"]["method"], "GET");
    assert_eq!(get["http"]["path"], "/products/{id}");
    // `id: ProductId` resolves to the alias's id in `types`.
    let id_type =
        get["params"][0]["ty"]["of"].as_u64().and_then(|i| usize::try_from(i).ok()).expect("a type id");
    assert_eq!(model["types"][id_type]["name"], "ProductId");
}
