//! A client we did not write: `client.py` (Python standard library only) calls the example
//! server exactly as the README documents.

mod common;

use std::process::Command;

#[test]
fn python_calls_the_example_server() {
    let server = common::serve();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/client.py");
    let output = Command::new("python3").arg(script).arg(&server.url).output().expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.trim_end().ends_with("OK"), "{stdout}");
    assert!(stdout.contains("not found urn:svcgen:error:shop.catalog.NotFound"), "{stdout}");
    drop(server);
}

/// The same server over the socket binding, from Python's `websockets` (installed with pip on
/// first use): a call, a typed error, live prices pushed as notifications.
#[test]
fn python_calls_the_example_server_over_the_socket() {
    let server = common::serve();
    let socket_url = format!("ws://{}/ws", server.url.trim_start_matches("http://"));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/socket_client.py");
    let run = || Command::new("python3").arg(script).arg(&socket_url).output().expect("python3 runs");
    let mut output = run();
    if output.status.code() == Some(2) {
        let installed = Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "websockets"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(installed, "`websockets` is not installed and pip could not install it");
        output = run();
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.trim_end().ends_with("OK"), "{stdout}");
    assert!(stdout.contains("not found urn:svcgen:error:shop.catalog.NotFound"), "{stdout}");
    assert_eq!(stdout.lines().filter(|l| l.starts_with("tick ")).count(), 3, "{stdout}");
    drop(server);
}

#[test]
fn the_tour_calls_every_method_over_every_binding() {
    let output = Command::new(env!("CARGO_BIN_EXE_shop")).output().expect("the shop example runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    for (binding, suffix) in [("REST", ""), ("RPC", " (rpc)"), ("the socket", " (socket)")] {
        let header = format!("== Catalog over {binding} ==");
        let section =
            stdout.split(&header).nth(1).unwrap_or_else(|| panic!("no {binding} section:\n{stdout}"));
        let section = section.split("\n== ").next().unwrap_or(section);
        for method in [
            "create_product",
            "get_product",
            "list_products",
            "delete_product",
            "pay",
            "watch_prices",
            "reindex",
            "all_products",
        ] {
            assert!(
                section.lines().any(|l| l.starts_with(method)),
                "{method} was not called over {binding}:\n{section}"
            );
        }
        assert!(section.contains(&format!("AlreadyExists {{ name: \"Ink{suffix}\" }} (typed)")), "{section}");
        assert!(
            section.contains("fields [\"product.name\", \"product.tags\", \"product.sku\"]"),
            "{section}"
        );
        assert!(section.contains("NotFound { id: 999 } (typed)"), "{section}");
    }
    // Each created product was announced, and the indexer hydrated each event over RPC.
    let events = stdout.split("== Events:").nth(1).unwrap_or_else(|| panic!("no events section:\n{stdout}"));
    for line in ["#1 hydrated: Fountain pen", "#4 hydrated: Ink (rpc)", "8 events hydrated"] {
        assert!(events.contains(line), "missing `{line}`:\n{events}");
    }
}
