//! The conformance service implemented on the trait `#[svcgen::service]` generated
//! (`conformance_macro`), for the interop tests: a client generated from `conformance.svc`
//! calls this server, and the macro's client calls the `.svc` server, on every binding.
#![allow(clippy::missing_panics_doc)] // a test service

crate::conformance::item_store!(
    /// The same in-memory item store as `conformance::ConformanceImpl`, on the macro's trait.
    MacroConformanceImpl, crate::conformance_macro::conformance
);
