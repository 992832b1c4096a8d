//! The REST API's TLS: a certificate that can be swapped while the
//! listener runs.
//!
//! The acceptor's configuration is built once; its certificate comes from
//! a [`SwappableCert`] asked on every handshake. A rotation replaces the
//! certificate for new handshakes only: connections already open keep the
//! session they negotiated, so requests in flight finish untouched.

use std::path::Path;
use std::sync::{Arc, RwLock};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;

use super::serve::ServeError;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads a PEM certificate chain and its private key; the key must belong
/// to the first certificate.
pub fn load_certified_key(cert: &Path, key: &Path) -> Result<CertifiedKey, ServeError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let tls_err = |path: &Path, reason: String| ServeError::Tls {
        path: path.display().to_string(),
        reason,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| tls_err(cert, e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| tls_err(cert, e.to_string()))?;
    if certs.is_empty() {
        return Err(tls_err(cert, "no certificate in file".into()));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| tls_err(key, e.to_string()))?;
    CertifiedKey::from_der(certs, key_der, &provider())
        .map_err(|e| tls_err(key, format!("does not match the certificate: {e}")))
}

/// The certificate the listener presents, replaceable while it runs.
#[derive(Debug)]
pub struct SwappableCert(RwLock<Arc<CertifiedKey>>);

impl SwappableCert {
    pub fn new(key: CertifiedKey) -> Arc<Self> {
        Arc::new(SwappableCert(RwLock::new(Arc::new(key))))
    }

    /// New handshakes present `key` from now on.
    pub fn replace(&self, key: CertifiedKey) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(key);
    }

    pub(super) fn current(&self) -> Arc<CertifiedKey> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl ResolvesServerCert for SwappableCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// An acceptor (TLS 1.2 and 1.3, ring) presenting whatever `cert` holds.
pub fn acceptor(cert: Arc<SwappableCert>) -> Result<TlsAcceptor, ServeError> {
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| ServeError::Tls {
            path: "(protocol versions)".into(),
            reason: e.to_string(),
        })?
        .with_no_client_auth()
        .with_cert_resolver(cert);
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Loads a PEM certificate chain and private key into a TLS acceptor whose
/// certificate can be swapped later through the returned handle.
pub fn load_tls(cert: &Path, key: &Path) -> Result<(TlsAcceptor, Arc<SwappableCert>), ServeError> {
    let swappable = SwappableCert::new(load_certified_key(cert, key)?);
    Ok((acceptor(swappable.clone())?, swappable))
}
