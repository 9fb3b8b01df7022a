//! Runs the example server for a test.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};

/// The running example server; killed when dropped.
pub struct Server {
    child: Child,
    /// Its base URL, `http://127.0.0.1:<port>`.
    pub url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `shop --serve` on a free port and waits for it to say where it listens.
pub fn serve() -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_shop"))
        .args(["--serve", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("the shop example starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut first = String::new();
    BufReader::new(stdout).read_line(&mut first).expect("it prints its address");
    let url = first.trim().strip_prefix("REST: ").expect("`REST: <url>`").to_owned();
    Server { child, url }
}
