//! `coolify broker init`: the broker's CA, TLS certificate and token key
//! pair. Existing files are reused, never overwritten (like `cp up`'s PKI),
//! except a [`CertLife::Renewed`] certificate close to expiry.

use std::net::IpAddr;
use std::path::Path;

use rcgen::{CertificateParams, Issuer, KeyPair};

use crate::args::broker::InitArgs;
use crate::pki::files;

fn gen(what: &str) -> impl Fn(rcgen::Error) -> String + '_ {
    move |e| format!("cannot generate {what}: {e}")
}

/// How long the broker's TLS certificate lives, and who renews it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertLife {
    /// Until 2040: `broker init` for a broker elsewhere, where the
    /// operator copies the certificate and nothing would renew it.
    LongLived,
    /// 90 days, renewed with under 30 left (pki/expiry.rs): the
    /// `--with-broker` broker, whose `cp up` runs on the same host and
    /// replaces the broker's container when its certificate changes.
    Renewed,
}

/// Creates what is missing (and renews a [`CertLife::Renewed`] certificate
/// that is due); returns one line per file.
pub fn init(config_dir: &Path, a: &InitArgs, life: CertLife) -> Result<Vec<String>, String> {
    let dir = config_dir.join("broker");
    files::ensure_private_dir(config_dir).map_err(|e| e.to_string())?;
    files::ensure_private_dir(&dir).map_err(|e| e.to_string())?;
    let p = |n: &str| dir.join(n);
    let mut report = Vec::new();
    let mut note = |path: &Path, created: bool| {
        report.push(format!(
            "{} {}",
            if created { "created" } else { "kept   " },
            path.display()
        ))
    };
    let mut renewed = None;
    let exists = |path: &Path| path.exists();

    // CA: reused when present so existing host CAs stay valid.
    let (ca_cert, ca_key) = (p("ca.crt"), p("ca.key"));
    let ca_created = !exists(&ca_cert) || !exists(&ca_key);
    let (ca_params, ca_kp) = if ca_created {
        if exists(&ca_cert) || exists(&ca_key) {
            return Err(format!(
                "{} and {} must exist together; move the lone one aside",
                ca_cert.display(),
                ca_key.display()
            ));
        }
        let key = KeyPair::generate().map_err(gen("CA key"))?;
        let params = ca_params()?;
        let cert = params.self_signed(&key).map_err(gen("CA"))?;
        files::write_new(&ca_key, key.serialize_pem().as_bytes(), 0o600)
            .map_err(|e| e.to_string())?;
        files::write_new(&ca_cert, cert.pem().as_bytes(), 0o600).map_err(|e| e.to_string())?;
        (params, key)
    } else {
        let pem =
            std::fs::read_to_string(&ca_key).map_err(|e| format!("{}: {e}", ca_key.display()))?;
        let key = KeyPair::from_pem(&pem).map_err(|e| format!("{}: {e}", ca_key.display()))?;
        (ca_params()?, key)
    };
    note(&ca_cert, ca_created);

    let (cert_path, key_path) = (p("broker.crt"), p("broker.key"));
    let due = match life {
        CertLife::Renewed if exists(&cert_path) => crate::pki::renewal_due(&cert_path)?,
        _ => None,
    };
    if !exists(&cert_path) || !exists(&key_path) || due.is_some() {
        let issuer = Issuer::new(ca_params, ca_kp);
        let key = KeyPair::generate().map_err(gen("broker key"))?;
        let mut dns = vec!["localhost".to_string()];
        let mut ips: Vec<IpAddr> = vec![[127, 0, 0, 1].into()];
        if let Ok(h) = nix::unistd::gethostname() {
            let h = h.to_string_lossy().into_owned();
            if !h.is_empty() && h != "localhost" {
                dns.push(h);
            }
        }
        for n in &a.names {
            match n.parse::<IpAddr>() {
                Ok(ip) => ips.push(ip),
                Err(_) => dns.push(n.clone()),
            }
        }
        let mut params =
            crate::pki::server_params("coolify broker", &dns, &ips, std::time::SystemTime::now())
                .map_err(gen("broker certificate"))?;
        if life == CertLife::LongLived {
            params.not_before = rcgen::date_time_ymd(2024, 1, 1);
            params.not_after = rcgen::date_time_ymd(2040, 1, 1);
        }
        let cert = params
            .signed_by(&key, &issuer)
            .map_err(gen("broker certificate"))?;
        let _ = std::fs::remove_file(&cert_path);
        let _ = std::fs::remove_file(&key_path);
        files::write_new(&key_path, key.serialize_pem().as_bytes(), 0o600)
            .map_err(|e| e.to_string())?;
        files::write_new(&cert_path, cert.pem().as_bytes(), 0o600).map_err(|e| e.to_string())?;
        match due {
            Some(days_left) => {
                renewed = Some(format!(
                    "renewed {} ({days_left} days left)",
                    cert_path.display()
                ))
            }
            None => note(&cert_path, true),
        }
    } else {
        note(&cert_path, false);
    }

    // Token key pair: the private half signs host tokens (enroll), the
    // public half is what the broker verifies with.
    let (jwt_key, jwt_pub) = (p("jwt.key"), config_dir.join("jwt.pub"));
    if !exists(&jwt_key) {
        let kp = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(gen("ES256 key"))?;
        files::write_new(&jwt_key, kp.serialize_pem().as_bytes(), 0o600)
            .map_err(|e| e.to_string())?;
        let _ = std::fs::remove_file(&jwt_pub);
        files::write_new(&jwt_pub, kp.public_key_pem().as_bytes(), 0o600)
            .map_err(|e| e.to_string())?;
        note(&jwt_key, true);
        note(&jwt_pub, true);
    } else {
        if !exists(&jwt_pub) {
            let pem = std::fs::read_to_string(&jwt_key)
                .map_err(|e| format!("{}: {e}", jwt_key.display()))?;
            let kp = KeyPair::from_pem(&pem).map_err(|e| format!("{}: {e}", jwt_key.display()))?;
            files::write_new(&jwt_pub, kp.public_key_pem().as_bytes(), 0o600)
                .map_err(|e| e.to_string())?;
        }
        note(&jwt_key, false);
    }
    report.extend(renewed);
    Ok(report)
}

fn ca_params() -> Result<CertificateParams, String> {
    crate::pki::ca_params("coolify broker CA").map_err(gen("CA"))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn init_creates_0600_files_and_is_idempotent() {
        let dir = tempfile::tempdir().expect("dir");
        let args = InitArgs {
            names: vec!["broker.example".into(), "10.0.0.1".into()],
        };
        let first = init(dir.path(), &args, CertLife::LongLived).expect("init");
        assert!(first.iter().all(|l| l.starts_with("created")), "{first:?}");
        for f in [
            "broker/ca.crt",
            "broker/ca.key",
            "broker/broker.crt",
            "broker/broker.key",
            "broker/jwt.key",
            "jwt.pub",
        ] {
            let mode = std::fs::metadata(dir.path().join(f))
                .expect(f)
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
        let key = std::fs::read(dir.path().join("broker/jwt.key")).expect("key");
        let before = std::fs::read(dir.path().join("broker/broker.crt")).expect("crt");
        let second = init(dir.path(), &args, CertLife::LongLived).expect("again");
        assert!(second.iter().all(|l| l.starts_with("kept")), "{second:?}");
        assert_eq!(
            std::fs::read(dir.path().join("broker/broker.crt")).expect("crt"),
            before
        );
        // The key pair verifies what enroll mints.
        let token =
            coolify_broker::jwt::mint_es256(&key, "h1", &[], std::time::Duration::from_secs(60))
                .expect("mint");
        let v = coolify_broker::jwt::JwtVerifier::load(&dir.path().join("jwt.pub")).expect("pub");
        assert_eq!(v.verify(&token).expect("verify").sub, "h1");
    }

    /// Puts a broker certificate from the broker CA that was issued `age`
    /// ago (so it has 90 days less `age` left) in place.
    fn age_broker_cert(config_dir: &Path, age: std::time::Duration) {
        let dir = config_dir.join("broker");
        let ca_pem = std::fs::read_to_string(dir.join("ca.crt")).expect("ca");
        let ca_key = KeyPair::from_pem(&std::fs::read_to_string(dir.join("ca.key")).expect("key"))
            .expect("ca key");
        let issuer = Issuer::from_ca_cert_pem(&ca_pem, ca_key).expect("issuer");
        let key = KeyPair::generate().expect("key");
        let names = ["localhost".to_string()];
        let cert = crate::pki::server_params(
            "coolify broker",
            &names,
            &[[127, 0, 0, 1].into()],
            std::time::SystemTime::now() - age,
        )
        .expect("params")
        .signed_by(&key, &issuer)
        .expect("sign");
        std::fs::write(dir.join("broker.key"), key.serialize_pem()).expect("write key");
        std::fs::write(dir.join("broker.crt"), cert.pem()).expect("write cert");
    }

    const DAY: std::time::Duration = std::time::Duration::from_secs(24 * 60 * 60);

    #[test]
    fn a_renewed_life_certificate_lasts_ninety_days_and_is_reissued_with_ten_left() {
        let dir = tempfile::tempdir().expect("dir");
        let args = InitArgs { names: vec![] };
        init(dir.path(), &args, CertLife::Renewed).expect("init");
        let cert = dir.path().join("broker/broker.crt");
        assert_eq!(crate::pki::renewal_due(&cert), Ok(None), "fresh: 90 days");

        age_broker_cert(dir.path(), 80 * DAY);
        let aged = std::fs::read(&cert).expect("crt");
        let jwt_key = std::fs::read(dir.path().join("broker/jwt.key")).expect("jwt key");
        let report = init(dir.path(), &args, CertLife::Renewed).expect("renew");

        let renewed: Vec<&String> = report.iter().filter(|l| l.starts_with("renewed")).collect();
        assert_eq!(renewed.len(), 1, "{report:?}");
        assert!(
            renewed[0].contains("broker.crt (9 days left)"),
            "{report:?}"
        );
        assert_ne!(std::fs::read(&cert).expect("crt"), aged);
        assert_eq!(crate::pki::renewal_due(&cert), Ok(None));
        assert_eq!(
            std::fs::read(dir.path().join("broker/jwt.key")).expect("jwt key"),
            jwt_key,
            "only the TLS pair is renewed"
        );
    }

    #[test]
    fn a_long_lived_certificate_is_never_renewed_by_broker_init() {
        let dir = tempfile::tempdir().expect("dir");
        let args = InitArgs { names: vec![] };
        init(dir.path(), &args, CertLife::LongLived).expect("init");
        age_broker_cert(dir.path(), 80 * DAY);
        let cert = dir.path().join("broker/broker.crt");
        let aged = std::fs::read(&cert).expect("crt");
        let report = init(dir.path(), &args, CertLife::LongLived).expect("again");
        assert!(report.iter().all(|l| l.starts_with("kept")), "{report:?}");
        assert_eq!(std::fs::read(&cert).expect("crt"), aged);
    }
}
