//! Runs the example server for a test.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};

/// The running example server; killed when dropped.
pub struct Server {
    child: Child,
    /// Its REST base URL, `http://127.0.0.1:<port>`.
    pub url: String,
    /// Its RPC address, `127.0.0.1:<port>`.
    #[allow(dead_code)] // not every test binary calls over RPC
    pub rpc: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `shop --serve` on free ports and waits for it to say where it listens.
pub fn serve() -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_shop"))
        .args(["--serve", "127.0.0.1:0", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("the shop example starts");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = |prefix: &str| {
        let mut text = String::new();
        stdout.read_line(&mut text).expect("it prints its addresses");
        text.trim()
            .strip_prefix(prefix)
            .unwrap_or_else(|| panic!("expected `{prefix}<address>`, got {text:?}"))
            .to_owned()
    };
    let url = line("REST: ");
    let rpc = line("RPC: ");
    Server { child, url, rpc }
}
