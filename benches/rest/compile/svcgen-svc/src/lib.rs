//! The code `svcgen generate` wrote for `big.svc` (by `run.sh`), and nothing else.
#![allow(missing_docs, clippy::all)]

#[path = "gen/big.rs"]
pub mod big;
