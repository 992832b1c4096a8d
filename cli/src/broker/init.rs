//! `coolify broker init`: the broker's CA, TLS certificate and token key
//! pair. Existing files are reused, never overwritten (like `cp up`'s PKI).

use std::net::IpAddr;
use std::path::Path;

use rcgen::{CertificateParams, Issuer, KeyPair};

use crate::args::broker::InitArgs;
use crate::pki::files;

fn gen(what: &str) -> impl Fn(rcgen::Error) -> String + '_ {
    move |e| format!("cannot generate {what}: {e}")
}

/// Creates what is missing; returns one line per file.
pub fn init(config_dir: &Path, a: &InitArgs) -> Result<Vec<String>, String> {
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
    if !exists(&cert_path) || !exists(&key_path) {
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
        // The broker's certificate keeps its long life: nothing renews or
        // reloads it yet (only the agent API's is rotated, docs/appliance.md).
        params.not_before = rcgen::date_time_ymd(2024, 1, 1);
        params.not_after = rcgen::date_time_ymd(2040, 1, 1);
        let cert = params
            .signed_by(&key, &issuer)
            .map_err(gen("broker certificate"))?;
        let _ = std::fs::remove_file(&cert_path);
        let _ = std::fs::remove_file(&key_path);
        files::write_new(&key_path, key.serialize_pem().as_bytes(), 0o600)
            .map_err(|e| e.to_string())?;
        files::write_new(&cert_path, cert.pem().as_bytes(), 0o600).map_err(|e| e.to_string())?;
        note(&cert_path, true);
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
        let first = init(dir.path(), &args).expect("init");
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
        let second = init(dir.path(), &args).expect("again");
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
}
