//! The implementation of the generated `Bench` trait, and the values every call and event
//! carries.

use std::sync::atomic::{AtomicU64, Ordering};

use svcgen::{Context, Status};

use crate::qbench::{Bench, OrderPlaced, Payload};

/// Calls the generated server answered (the benchmark checks that no other server answered
/// while a peer ran: each peer's server listens only during its own runs).
pub static SVCGEN_SERVED: AtomicU64 = AtomicU64::new(0);

/// The service behind the generated server: `echo` sends the payload back. Every raw server
/// does the same (decodes the arguments, encodes the value back).
#[derive(Clone, Copy, Debug, Default)]
pub struct BenchImpl;

impl Bench for BenchImpl {
    async fn echo(&self, _ctx: &Context, msg: Payload) -> Result<Payload, Status> {
        SVCGEN_SERVED.fetch_add(1, Ordering::Relaxed);
        Ok(msg)
    }
}

/// The arguments of `echo` as the generated client sends them: one object of named
/// parameters, `{"msg": {...}}`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct EchoArgs {
    /// The payload.
    pub msg: Payload,
}

/// The payload of every `echo` call: the RPC benchmark's (16 fields), about 1 KiB of JSON.
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

/// The data of event number `n`.
#[must_use]
pub fn order(n: u64) -> OrderPlaced {
    OrderPlaced { order: n, customer: "customer-4711".to_owned(), amount: 129.5, currency: "EUR".to_owned() }
}
