//! Workspace-level tests.
//!
//! `tests/fixtures/` holds the data-driven `.svc` corpus (`valid/`, `invalid/`) that the
//! `svcgen-idl` tests read; the conformance suite (one scenario list, every binding) will
//! live in this crate once the first binding exists.
