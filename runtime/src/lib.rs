//! The svcgen runtime: what generated services and clients call.
//!
//! Generated code depends on this crate only (never on the IDL parser or the code
//! generator). It will hold `Context`, `Status`, the codecs, the `Envelope`, and one module
//! per binding — REST, RPC, queue (in-memory, NATS, `RabbitMQ`) and socket — each behind a
//! cargo feature. Today the IDL front end and the `svcgen` CLI (`check`, `fmt`, `model`) are
//! in place; the runtime grows with the bindings (see `ARCHITECTURE.md` and the issues).
