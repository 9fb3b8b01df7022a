//! Which binary codec for RPC: size and speed of the candidates on the benchmark's ~1 KiB
//! struct (16 fields: strings, numbers, a list), all measured in one run.
//!
//! `cargo bench -p svcgen --bench codec`. The verdict and figures are in `docs/benchmarks.md`.
//! Only self-describing encodings with field names (`MessagePack` named, JSON) survive a new
//! optional field between an old and a new peer in both directions; postcard and positional
//! `MessagePack` do not (checked below), which decides the choice before speed does.

use std::hint::black_box;
use std::time::Instant;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Payload {
    id: u64,
    sku: String,
    name: String,
    description: String,
    category: String,
    brand: String,
    price_cents: i64,
    currency: String,
    stock: u32,
    weight_grams: u32,
    rating: f64,
    active: bool,
    created_at: String,
    updated_at: String,
    tags: Vec<String>,
    dimensions: Vec<u32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct PayloadV2 {
    id: u64,
    sku: String,
    name: String,
    description: String,
    category: String,
    brand: String,
    price_cents: i64,
    currency: String,
    stock: u32,
    weight_grams: u32,
    rating: f64,
    active: bool,
    created_at: String,
    updated_at: String,
    tags: Vec<String>,
    dimensions: Vec<u32>,
    #[serde(default)]
    color: Option<String>,
}

fn payload() -> Payload {
    Payload {
        id: 4_711,
        sku: "PEN-0001-BLK".into(),
        name: "Fountain pen, black, medium nib".into(),
        description: "A piston-filled fountain pen with a gold medium nib and a resin body. ".repeat(6),
        category: "office/writing/fountain-pens".into(),
        brand: "Example Pen Company".into(),
        price_cents: 14_900,
        currency: "EUR".into(),
        stock: 128,
        weight_grams: 24,
        rating: 4.7,
        active: true,
        created_at: "2024-05-01T12:00:00Z".into(),
        updated_at: "2024-06-01T08:30:00Z".into(),
        tags: ["pen", "fountain", "gold-nib", "piston", "black", "medium", "gift", "premium"]
            .map(Into::into)
            .to_vec(),
        dimensions: vec![140, 14, 14],
    }
}

struct Codec {
    name: &'static str,
    encode: fn(&Payload) -> Vec<u8>,
    decode: fn(&[u8]) -> Option<Payload>,
    /// Can a newer reader (one more optional field) read what this codec wrote?
    compatible: fn(&[u8]) -> bool,
    /// Can an older reader read what a newer writer wrote (the new field set)?
    backward: fn(&PayloadV2) -> bool,
}

fn codecs() -> Vec<Codec> {
    vec![
        Codec {
            name: "MessagePack, named fields (rmp-serde, ours)",
            encode: |p| rmp_serde::to_vec_named(p).unwrap_or_default(),
            decode: |b| rmp_serde::from_slice(b).ok(),
            compatible: |b| rmp_serde::from_slice::<PayloadV2>(b).is_ok(),
            backward: |p| {
                rmp_serde::from_slice::<Payload>(&rmp_serde::to_vec_named(p).unwrap_or_default()).is_ok()
            },
        },
        Codec {
            name: "MessagePack, positional (rmp-serde)",
            encode: |p| rmp_serde::to_vec(p).unwrap_or_default(),
            decode: |b| rmp_serde::from_slice(b).ok(),
            compatible: |b| rmp_serde::from_slice::<PayloadV2>(b).is_ok(),
            backward: |p| rmp_serde::from_slice::<Payload>(&rmp_serde::to_vec(p).unwrap_or_default()).is_ok(),
        },
        Codec {
            name: "postcard",
            encode: |p| postcard::to_stdvec(p).unwrap_or_default(),
            decode: |b| postcard::from_bytes(b).ok(),
            compatible: |b| postcard::from_bytes::<PayloadV2>(b).is_ok(),
            // postcard reads a prefix and ignores the rest: "ok", but only by luck of order.
            backward: |p| {
                postcard::from_bytes::<Payload>(&postcard::to_stdvec(p).unwrap_or_default()).is_ok()
            },
        },
        Codec {
            name: "JSON (serde_json)",
            encode: |p| serde_json::to_vec(p).unwrap_or_default(),
            decode: |b| serde_json::from_slice(b).ok(),
            compatible: |b| serde_json::from_slice::<PayloadV2>(b).is_ok(),
            backward: |p| {
                serde_json::from_slice::<Payload>(&serde_json::to_vec(p).unwrap_or_default()).is_ok()
            },
        },
    ]
}

/// Median nanoseconds per call of `f` over `rounds` rounds of `n` calls.
fn time(rounds: usize, n: u32, mut f: impl FnMut()) -> f64 {
    let mut samples: Vec<f64> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..n {
                f();
            }
            start.elapsed().as_secs_f64() * 1e9 / f64::from(n)
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn main() {
    let value = payload();
    let newer = PayloadV2 {
        id: value.id,
        sku: value.sku.clone(),
        name: value.name.clone(),
        description: value.description.clone(),
        category: value.category.clone(),
        brand: value.brand.clone(),
        price_cents: value.price_cents,
        currency: value.currency.clone(),
        stock: value.stock,
        weight_grams: value.weight_grams,
        rating: value.rating,
        active: value.active,
        created_at: value.created_at.clone(),
        updated_at: value.updated_at.clone(),
        tags: value.tags.clone(),
        dimensions: value.dimensions.clone(),
        color: Some("black".into()),
    };
    println!(
        "{:<46} {:>7} {:>11} {:>11} {:>12} {:>12}",
        "codec", "bytes", "encode ns", "decode ns", "new reads old", "old reads new"
    );
    for codec in codecs() {
        let bytes = (codec.encode)(&value);
        assert_eq!((codec.decode)(&bytes).as_ref(), Some(&value), "{} round trip", codec.name);
        let encode = time(15, 20_000, || {
            black_box((codec.encode)(black_box(&value)));
        });
        let decode = time(15, 20_000, || {
            black_box((codec.decode)(black_box(&bytes)));
        });
        let yes = |ok: bool| if ok { "yes" } else { "NO" };
        println!(
            "{:<46} {:>7} {:>11.0} {:>11.0} {:>12} {:>12}",
            codec.name,
            bytes.len(),
            encode,
            decode,
            yes((codec.compatible)(&bytes)),
            yes((codec.backward)(&newer))
        );
    }
}
