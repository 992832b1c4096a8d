//! The appliance's PKI under the config dir: a CA, a server certificate for
//! the agent REST API, and the API bearer token.
//!
//! Invariant: existing material is reused, never overwritten, with two
//! deliberate exceptions: a server certificate with less than 30 days left
//! is renewed ([`expiry`]), and `coolify cp rotate` replaces the token or
//! the server certificate on request ([`rotate_token`], [`issue_server`]).
//! Both replace files atomically (rename), which the running agent picks
//! up. What is missing is created (a server certificate from the existing
//! CA); what is present but unreadable or inconsistent is an error naming
//! the file and saying how to recover.

pub mod expiry;
pub(crate) mod files;
mod verify;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

pub use files::PkiPaths;

use crate::config_layout::ConfigLayout;

/// Errors creating or loading PKI material.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("{path}: {reason}")]
    Io { path: PathBuf, reason: String },
    #[error(
        "{path} is not valid: {reason}; move it aside to have `coolify cp up` create a new one"
    )]
    Invalid { path: PathBuf, reason: String },
    #[error("{cert} does not belong with {other}: {reason}; remove {cert} (and its key) to have it reissued")]
    Mismatch {
        cert: PathBuf,
        other: PathBuf,
        reason: String,
    },
    #[error("cannot generate {what}: {reason}")]
    Generate { what: &'static str, reason: String },
}

/// What `ensure` did, for the progress line.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PkiOutcome {
    pub created: Vec<String>,
    pub reused: Vec<String>,
    /// Replaced because they were close to expiry, e.g.
    /// `server certificate (10 days left)`.
    pub renewed: Vec<String>,
    /// The server certificate in place after `ensure`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_certificate: Option<IssuedCert>,
}

/// A server certificate as clients will see it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IssuedCert {
    /// sha256 of the DER, lowercase hex.
    pub sha256: String,
    /// RFC 3339, UTC.
    pub not_after: String,
    pub days_left: u64,
}

impl IssuedCert {
    fn read(path: &Path, pem: &[u8], now: SystemTime) -> Result<IssuedCert, PkiError> {
        let until = verify::not_after(path, pem)?;
        let days_left = match expiry::Remaining::of(until, now) {
            expiry::Remaining::Fresh { days_left } | expiry::Remaining::RenewDue { days_left } => {
                days_left
            }
        };
        Ok(IssuedCert {
            sha256: verify::fingerprint(path, pem)?,
            not_after: humantime::format_rfc3339_seconds(until).to_string(),
            days_left,
        })
    }
}

/// Names the server certificate must carry.
#[derive(Debug, Clone)]
pub struct ServerIdentity {
    pub ips: Vec<IpAddr>,
    pub dns: Vec<String>,
}

impl ServerIdentity {
    /// mgmt IP, 127.0.0.1, localhost and the host name (issue 2).
    pub fn for_host(mgmt_ip: IpAddr, hostname: &str) -> Self {
        let mut ips = vec![mgmt_ip];
        let loopback: IpAddr = [127, 0, 0, 1].into();
        if !ips.contains(&loopback) {
            ips.push(loopback);
        }
        let mut dns = vec!["localhost".to_string()];
        if !hostname.is_empty() && hostname != "localhost" {
            dns.push(hostname.to_string());
        }
        ServerIdentity { ips, dns }
    }
}

/// Ensures the full PKI exists under `dir` and is consistent.
pub fn ensure(dir: &Path, id: &ServerIdentity) -> Result<PkiOutcome, PkiError> {
    let paths = PkiPaths::new(dir);
    files::ensure_private_dir(dir)?;
    files::ensure_private_dir(&ConfigLayout::new(dir).agent_dir())?;
    let mut out = PkiOutcome::default();

    let (ca_cert_pem, ca_key) = match (
        files::read_opt(&paths.ca_cert)?,
        files::read_opt(&paths.ca_key)?,
    ) {
        (Some(cert), Some(key)) => {
            let key = load_key(&paths.ca_key, &key)?;
            verify::key_matches_cert(&paths.ca_cert, &cert, &paths.ca_key, &key)?;
            out.reused.push("ca".into());
            (String::from_utf8_lossy(&cert).into_owned(), key)
        }
        (None, None) => {
            let (cert, key) = generate_ca()?;
            files::write_new(&paths.ca_key, key.serialize_pem().as_bytes(), 0o600)?;
            files::write_new(&paths.ca_cert, cert.as_bytes(), 0o644)?;
            out.created.push("ca".into());
            (cert, key)
        }
        (Some(_), None) => return Err(missing_pair(&paths.ca_key, &paths.ca_cert)),
        (None, Some(_)) => return Err(missing_pair(&paths.ca_cert, &paths.ca_key)),
    };

    let now = SystemTime::now();
    let issuer = || {
        Issuer::from_ca_cert_pem(&ca_cert_pem, &ca_key).map_err(|e| PkiError::Invalid {
            path: paths.ca_cert.clone(),
            reason: e.to_string(),
        })
    };
    let served = match (
        files::read_opt(&paths.server_cert)?,
        files::read_opt(&paths.server_key)?,
    ) {
        (Some(cert), Some(key)) => {
            let key = load_key(&paths.server_key, &key)?;
            verify::key_matches_cert(&paths.server_cert, &cert, &paths.server_key, &key)?;
            verify::signed_by(
                &paths.server_cert,
                &cert,
                &paths.ca_cert,
                ca_cert_pem.as_bytes(),
            )?;
            verify::covers_identity(&paths.server_cert, &cert, id)?;
            let until = verify::not_after(&paths.server_cert, &cert)?;
            match expiry::Remaining::of(until, now) {
                expiry::Remaining::Fresh { .. } => {
                    out.reused.push("server certificate".into());
                    IssuedCert::read(&paths.server_cert, &cert, now)?
                }
                expiry::Remaining::RenewDue { days_left } => {
                    let issued = write_server(&paths, &issuer()?, id, now)?;
                    out.renewed
                        .push(format!("server certificate ({days_left} days left)"));
                    issued
                }
            }
        }
        (None, None) => {
            let issued = write_server(&paths, &issuer()?, id, now)?;
            out.created.push("server certificate".into());
            issued
        }
        (Some(_), None) => return Err(missing_pair(&paths.server_key, &paths.server_cert)),
        (None, Some(_)) => return Err(missing_pair(&paths.server_cert, &paths.server_key)),
    };
    out.server_certificate = Some(served);

    match files::read_opt(&paths.api_token)? {
        Some(raw) => {
            let token = String::from_utf8_lossy(&raw);
            let token = token.trim();
            if token.len() < 32 || !token.chars().all(|c| c.is_ascii_graphic()) {
                return Err(PkiError::Invalid {
                    path: paths.api_token.clone(),
                    reason: "expected at least 32 printable characters".into(),
                });
            }
            out.reused.push("api token".into());
        }
        None => {
            files::write_new(&paths.api_token, new_token().as_bytes(), 0o600)?;
            out.created.push("api token".into());
        }
    }
    Ok(out)
}

/// Issues a new server certificate for `id` from the CA under `dir` and
/// puts it in place of the current one (`coolify cp rotate --server-cert`).
pub fn issue_server(dir: &Path, id: &ServerIdentity) -> Result<IssuedCert, PkiError> {
    let paths = PkiPaths::new(dir);
    let missing_ca = |path: &Path| PkiError::Io {
        path: path.to_path_buf(),
        reason: "missing; run `coolify cp up` to create the appliance's PKI".into(),
    };
    let ca_cert = files::read_opt(&paths.ca_cert)?.ok_or_else(|| missing_ca(&paths.ca_cert))?;
    let ca_key = files::read_opt(&paths.ca_key)?.ok_or_else(|| missing_ca(&paths.ca_key))?;
    let ca_key = load_key(&paths.ca_key, &ca_key)?;
    verify::key_matches_cert(&paths.ca_cert, &ca_cert, &paths.ca_key, &ca_key)?;
    let ca_pem = String::from_utf8_lossy(&ca_cert);
    let issuer = Issuer::from_ca_cert_pem(&ca_pem, ca_key).map_err(|e| PkiError::Invalid {
        path: paths.ca_cert.clone(),
        reason: e.to_string(),
    })?;
    write_server(&paths, &issuer, id, SystemTime::now())
}

/// A new server pair in place of the old one. The key goes first: until the
/// certificate follows, the agent sees a pair that does not match and keeps
/// serving the old one (its reload refuses mismatched pairs).
fn write_server(
    paths: &PkiPaths,
    issuer: &Issuer<'_, impl rcgen::SigningKey>,
    id: &ServerIdentity,
    now: SystemTime,
) -> Result<IssuedCert, PkiError> {
    let (cert, key) = generate_server(issuer, id, now)?;
    files::replace(&paths.server_key, key.serialize_pem().as_bytes(), 0o600)?;
    files::replace(&paths.server_cert, cert.as_bytes(), 0o644)?;
    IssuedCert::read(&paths.server_cert, cert.as_bytes(), now)
}

/// Puts a new API token in place of the current one (`coolify cp rotate
/// --api-token`); returns it.
pub fn rotate_token(dir: &Path) -> Result<String, PkiError> {
    let path = PkiPaths::new(dir).api_token;
    if files::read_opt(&path)?.is_none() {
        return Err(PkiError::Io {
            path,
            reason: "missing; run `coolify cp up` to create the appliance's PKI".into(),
        });
    }
    let token = new_token();
    files::replace(&path, token.as_bytes(), 0o600)?;
    Ok(token)
}

/// `Some(days left)` when the certificate at `path` is due for renewal
/// ([`expiry`]), `None` while it has enough life.
pub(crate) fn renewal_due(path: &Path) -> Result<Option<u64>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let until = verify::not_after(path, &pem).map_err(|e| e.to_string())?;
    Ok(match expiry::Remaining::of(until, SystemTime::now()) {
        expiry::Remaining::RenewDue { days_left } => Some(days_left),
        expiry::Remaining::Fresh { .. } => None,
    })
}

fn missing_pair(missing: &Path, present: &Path) -> PkiError {
    PkiError::Invalid {
        path: present.to_path_buf(),
        reason: format!("its partner {} is missing", missing.display()),
    }
}

fn load_key(path: &Path, pem: &[u8]) -> Result<KeyPair, PkiError> {
    let text = std::str::from_utf8(pem).map_err(|_| PkiError::Invalid {
        path: path.to_path_buf(),
        reason: "not a PEM text file".into(),
    })?;
    KeyPair::from_pem(text).map_err(|e| PkiError::Invalid {
        path: path.to_path_buf(),
        reason: format!("not a PEM private key ({e})"),
    })
}

fn gen_err(what: &'static str) -> impl Fn(rcgen::Error) -> PkiError {
    move |e| PkiError::Generate {
        what,
        reason: e.to_string(),
    }
}

/// Parameters of a coolify CA (the appliance's, the broker's): it signs
/// leaf certificates only (path length 0).
pub(crate) fn ca_params(common_name: &str) -> Result<CertificateParams, rcgen::Error> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2050, 1, 1);
    Ok(params)
}

fn generate_ca() -> Result<(String, KeyPair), PkiError> {
    let key = KeyPair::generate().map_err(gen_err("CA key"))?;
    let params = ca_params("coolify appliance CA").map_err(gen_err("CA"))?;
    let cert = params
        .self_signed(&key)
        .map_err(gen_err("CA certificate"))?;
    Ok((cert.pem(), key))
}

/// Parameters of a TLS server certificate (the agent API's, the broker's)
/// naming `dns` and `ips`, valid for [`expiry::SERVER_CERT_DAYS`] from `now`.
pub(crate) fn server_params(
    common_name: &str,
    dns: &[String],
    ips: &[IpAddr],
    now: SystemTime,
) -> Result<CertificateParams, rcgen::Error> {
    let mut params = CertificateParams::new(dns.to_vec())?;
    params
        .subject_alt_names
        .extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let (from, until) = expiry::new_server_validity(now);
    params.not_before = time::OffsetDateTime::from(from);
    params.not_after = time::OffsetDateTime::from(until);
    Ok(params)
}

fn generate_server(
    issuer: &Issuer<'_, impl rcgen::SigningKey>,
    id: &ServerIdentity,
    now: SystemTime,
) -> Result<(String, KeyPair), PkiError> {
    let key = KeyPair::generate().map_err(gen_err("server key"))?;
    let params = server_params("coolify agent API", &id.dns, &id.ips, now)
        .map_err(gen_err("server certificate"))?;
    let cert = params
        .signed_by(&key, issuer)
        .map_err(gen_err("server certificate"))?;
    Ok((cert.pem(), key))
}

/// 32 random bytes as 64 lowercase hex characters.
fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

#[cfg(test)]
mod tests;
