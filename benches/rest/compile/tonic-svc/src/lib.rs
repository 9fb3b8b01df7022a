//! The code `tonic-prost-build` wrote for `big.proto` (by `run.sh`), and nothing else.
#![allow(missing_docs, clippy::all)]

pub mod big {
    include!("gen/big.rs");
}
