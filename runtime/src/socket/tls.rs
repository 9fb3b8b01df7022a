//! `wss://` for the socket clients, JSON and binary mode (the `tls` feature): TLS by rustls on
//! its ring provider.
//!
//! A client whose [`SocketConfig::tls`](super::SocketConfig::tls) is `None` trusts the system's
//! root certificates (loaded once per process); [`client_config`] makes a configuration that
//! trusts others, such as a private CA's:
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use svcgen::socket::{SocketClient, SocketConfig, tls};
//!
//! let mut roots = tls::RootCertStore::empty();
//! let ca = std::fs::read("ca.der")?;
//! roots.add(tls::CertificateDer::from(ca))?;
//! let config = SocketConfig { tls: Some(tls::client_config(roots)?), ..SocketConfig::default() };
//! let client = SocketClient::with_config("wss://catalog.internal/ws", config)?;
//! # Ok(()) }
//! ```

use std::sync::{Arc, OnceLock};

pub use rustls::pki_types::CertificateDer;
pub use rustls::{ClientConfig, RootCertStore};
use tokio_tungstenite::Connector;

use super::SocketConfig;
use crate::status::Status;

/// A TLS client configuration (TLS 1.2 and 1.3, rustls' safe defaults, the ring provider) that
/// trusts the certificates of `roots`.
///
/// # Errors
/// `internal` when rustls refuses its own defaults (it does not).
pub fn client_config(roots: RootCertStore) -> Result<Arc<ClientConfig>, Status> {
    // The provider is named, not taken from the process: a build that also has rustls' other
    // provider (aws-lc-rs) would otherwise make the default ambiguous.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Status::internal(format!("TLS cannot be set up: {e}")))?;
    Ok(Arc::new(builder.with_root_certificates(roots).with_no_client_auth()))
}

/// How a client connects to `url`: TLS for `wss://`, with `config.tls` or the system's roots.
pub(super) fn connector(url: &str, config: &SocketConfig) -> Result<Option<Connector>, Status> {
    if !url.starts_with("wss://") {
        return Ok(None);
    }
    let tls = match &config.tls {
        Some(tls) => tls.clone(),
        None => system()?,
    };
    Ok(Some(Connector::Rustls(tls)))
}

/// The configuration trusting the system's root certificates, made once.
fn system() -> Result<Arc<ClientConfig>, Status> {
    static SYSTEM: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
    let made = SYSTEM.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        let mut roots = RootCertStore::empty();
        let (added, _) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            let errors: Vec<String> = found.errors.iter().map(ToString::to_string).collect();
            return Err(format!(
                "no trusted root certificates found on this system ({}); install them (Debian: \
                 `ca-certificates`) or give the client its own (`SocketConfig::tls`)",
                if errors.is_empty() { "none in the usual places".to_owned() } else { errors.join("; ") }
            ));
        }
        client_config(roots).map_err(|status| status.to_string())
    });
    made.clone().map_err(Status::unavailable)
}
