//! The implementation of the generated `Bench` trait, and the payload every call sends.

use svcgen::{Context, Status};

use crate::bench::{Bench, Payload};

/// The service behind the generated server: `echo` sends the payload back. Every peer's
/// server does exactly the same.
#[derive(Clone, Copy, Debug, Default)]
pub struct BenchImpl;

impl Bench for BenchImpl {
    async fn echo(&self, _ctx: &Context, msg: Payload) -> Result<Payload, Status> {
        Ok(msg)
    }
}

/// The payload of every `echo` call: 16 fields (strings, integers, floats, a bool, two lists),
/// 629 bytes of `MessagePack` with field names, about 1 KiB of JSON.
#[must_use]
pub fn sample_payload() -> Payload {
    Payload {
        id: 1_234_567_890,
        name: "Ergonomic mechanical keyboard".to_owned(),
        email: "procurement@example.com".to_owned(),
        description: "A full-size mechanical keyboard with hot-swappable switches, per-key \
                      lighting, a detachable braided cable and a solid aluminium case. \
                      Ships with a wrist rest, a keycap puller and spare switches. \
                      Compatible with every major operating system."
            .to_owned(),
        category: "peripherals/keyboards".to_owned(),
        sku: "KBD-2048-ERG".to_owned(),
        quantity: 42,
        price: 149.95,
        discount: 0.15,
        in_stock: true,
        created_at_ms: 1_714_564_800_000,
        updated_at_ms: 1_717_243_200_000,
        version: 7,
        warehouse: "eu-west-2 / building C / aisle 14".to_owned(),
        tags: ["mechanical", "ergonomic", "rgb", "hot-swap", "aluminium", "usb-c", "wired", "full-size"]
            .map(str::to_owned)
            .to_vec(),
        scores: vec![98, 87, 91, 76, 88, 93, 79, 85, 90, 82, 95, 71, 84, 89, 92, 80],
    }
}
