//! Consistency checks of existing PKI material, with x509-parser.

use std::path::Path;

use rcgen::KeyPair;
use x509_parser::extensions::GeneralName;
use x509_parser::pem::parse_x509_pem;

use super::{PkiError, ServerIdentity};

fn with_cert<T>(
    path: &Path,
    pem: &[u8],
    f: impl FnOnce(&x509_parser::certificate::X509Certificate<'_>) -> Result<T, PkiError>,
) -> Result<T, PkiError> {
    let invalid = |reason: String| PkiError::Invalid {
        path: path.to_path_buf(),
        reason,
    };
    let (_, pem) =
        parse_x509_pem(pem).map_err(|e| invalid(format!("not a PEM certificate ({e})")))?;
    let cert = pem
        .parse_x509()
        .map_err(|e| invalid(format!("not an X.509 certificate ({e})")))?;
    f(&cert)
}

/// The private key belongs to the certificate.
pub fn key_matches_cert(
    cert_path: &Path,
    cert_pem: &[u8],
    key_path: &Path,
    key: &KeyPair,
) -> Result<(), PkiError> {
    with_cert(cert_path, cert_pem, |cert| {
        if cert.public_key().subject_public_key.data.as_ref() == key.public_key_raw() {
            Ok(())
        } else {
            Err(PkiError::Mismatch {
                cert: cert_path.to_path_buf(),
                other: key_path.to_path_buf(),
                reason: "the private key does not match the certificate".into(),
            })
        }
    })
}

/// `cert` was issued by the CA.
pub fn signed_by(
    cert_path: &Path,
    cert_pem: &[u8],
    ca_path: &Path,
    ca_pem: &[u8],
) -> Result<(), PkiError> {
    with_cert(ca_path, ca_pem, |ca| {
        with_cert(cert_path, cert_pem, |cert| {
            cert.verify_signature(Some(ca.public_key()))
                .map_err(|_| PkiError::Mismatch {
                    cert: cert_path.to_path_buf(),
                    other: ca_path.to_path_buf(),
                    reason: "it was not signed by this CA".into(),
                })
        })
    })
}

/// The server certificate names every address and name the agent is reached by.
pub fn covers_identity(
    cert_path: &Path,
    cert_pem: &[u8],
    id: &ServerIdentity,
) -> Result<(), PkiError> {
    with_cert(cert_path, cert_pem, |cert| {
        let sans: Vec<GeneralName<'_>> = cert
            .subject_alternative_name()
            .ok()
            .flatten()
            .map(|ext| ext.value.general_names.clone())
            .unwrap_or_default();
        let has_ip = |ip: &std::net::IpAddr| {
            let want: Vec<u8> = match ip {
                std::net::IpAddr::V4(v) => v.octets().to_vec(),
                std::net::IpAddr::V6(v) => v.octets().to_vec(),
            };
            sans.iter()
                .any(|n| matches!(n, GeneralName::IPAddress(b) if *b == want.as_slice()))
        };
        let has_dns = |d: &str| {
            sans.iter()
                .any(|n| matches!(n, GeneralName::DNSName(s) if s.eq_ignore_ascii_case(d)))
        };
        let missing: Vec<String> = id
            .ips
            .iter()
            .filter(|ip| !has_ip(ip))
            .map(|ip| ip.to_string())
            .chain(id.dns.iter().filter(|d| !has_dns(d)).cloned())
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(PkiError::Mismatch {
                cert: cert_path.to_path_buf(),
                other: cert_path.to_path_buf(),
                reason: format!(
                    "it lacks the subject alternative names {}",
                    missing.join(", ")
                ),
            })
        }
    })
}

/// When the certificate stops being valid.
pub fn not_after(cert_path: &Path, cert_pem: &[u8]) -> Result<std::time::SystemTime, PkiError> {
    with_cert(cert_path, cert_pem, |cert| {
        let secs = cert.validity().not_after.timestamp();
        Ok(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs.max(0) as u64))
    })
}

/// sha256 of the certificate's DER, lowercase hex: what a TLS handshake
/// compares against.
pub fn fingerprint(cert_path: &Path, cert_pem: &[u8]) -> Result<String, PkiError> {
    use sha2::{Digest, Sha256};
    let (_, pem) = parse_x509_pem(cert_pem).map_err(|e| PkiError::Invalid {
        path: cert_path.to_path_buf(),
        reason: format!("not a PEM certificate ({e})"),
    })?;
    Ok(hex::encode(Sha256::digest(&pem.contents)))
}
