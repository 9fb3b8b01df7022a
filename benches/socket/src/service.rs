//! The implementation of the generated `Bench` trait, and the payload of each size.

use svcgen::{Context, Status};

use crate::sbench::{Bench, Blob};

/// The service behind the generated servers: `echo` sends the blob back. The raw server does
/// exactly the same.
#[derive(Clone, Copy, Debug, Default)]
pub struct BenchImpl;

impl Bench for BenchImpl {
    async fn echo(&self, _ctx: &Context, msg: Blob) -> Result<Blob, Status> {
        Ok(msg)
    }
}

/// A blob whose JSON (`{"data":"…"}`) is `json_bytes` long (at least 11 bytes: the empty
/// string), in printable ASCII so that no character is escaped.
#[must_use]
pub fn blob_of_json_size(json_bytes: usize) -> Blob {
    let len = json_bytes.saturating_sub(r#"{"data":""}"#.len());
    let data = (0..len).map(|i| char::from(b'a' + u8::try_from(i % 26).unwrap_or(0))).collect();
    Blob { data }
}
