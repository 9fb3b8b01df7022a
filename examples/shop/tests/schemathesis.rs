//! An external tool calls the server from its `OpenAPI` document: schemathesis (from `PyPI`) generates
//! requests from `svcgen openapi`'s output and checks every response against it — status
//! codes, content types, bodies (JSON and server-sent events), headers.
//!
//! Its `negative_data_rejection` check is left out: it expects unknown *headers* to be
//! refused, which no HTTP server should do. Invalid bodies and parameters are covered by the
//! REST tests in `tests/tests/rest_http.rs`.

mod common;

use std::process::Command;

fn schemathesis() -> Command {
    let mut command = Command::new("python3");
    command.args(["-c", "from schemathesis.cli import schemathesis; schemathesis()"]);
    command
}

#[test]
fn schemathesis_finds_the_server_true_to_its_document() {
    let shop = concat!(env!("CARGO_MANIFEST_DIR"), "/shop.svc");
    let output = svcgen_idl::compile(&[shop], &svcgen_idl::RealFs);
    let model = output.model.expect("the example is valid");
    let dir = tempfile::tempdir().expect("a temporary folder");
    let document = dir.path().join("openapi.json");
    std::fs::write(&document, svcgen_codegen::openapi::openapi(&model).to_json()).expect("writable");

    let installed = schemathesis().arg("--version").output().is_ok_and(|o| o.status.success());
    if !installed {
        let ok = Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "schemathesis"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "schemathesis is not installed and pip could not install it: pip install schemathesis");
    }

    let server = common::serve();

    let run = schemathesis()
        .arg("run")
        .arg(&document)
        .args([
            "--url",
            &server.url,
            "--max-examples",
            "25",
            "--seed",
            "20261121",
            "--exclude-checks",
            "negative_data_rejection",
        ])
        .env("NO_COLOR", "1")
        .output()
        .expect("schemathesis runs");
    let report = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "schemathesis found the server unlike its document:\n{report}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(report.contains("passed"), "{report}");
    drop(server);
}
