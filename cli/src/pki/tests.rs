use std::os::unix::fs::PermissionsExt;

use super::*;

fn id() -> ServerIdentity {
    ServerIdentity::for_host("198.18.0.5".parse().unwrap(), "node-a")
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn first_run_creates_everything_with_private_modes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("coolify");
    let out = ensure(&dir, &id()).unwrap();
    assert_eq!(out.created, ["ca", "server certificate", "api token"]);
    let p = PkiPaths::new(&dir);
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&p.ca_key), 0o600);
    assert_eq!(mode(&p.server_key), 0o600);
    assert_eq!(mode(&p.api_token), 0o600);
    assert_eq!(mode(&p.ca_cert), 0o644);
    let token = std::fs::read_to_string(&p.api_token).unwrap();
    assert_eq!(token.len(), 64);
}

#[test]
fn second_run_reuses_and_never_rewrites() {
    let tmp = tempfile::tempdir().unwrap();
    ensure(tmp.path(), &id()).unwrap();
    let p = PkiPaths::new(tmp.path());
    let before: Vec<Vec<u8>> = [
        &p.ca_cert,
        &p.ca_key,
        &p.server_cert,
        &p.server_key,
        &p.api_token,
    ]
    .iter()
    .map(|f| std::fs::read(f).unwrap())
    .collect();
    let out = ensure(tmp.path(), &id()).unwrap();
    assert!(out.created.is_empty());
    assert_eq!(out.reused.len(), 3);
    let after: Vec<Vec<u8>> = [
        &p.ca_cert,
        &p.ca_key,
        &p.server_cert,
        &p.server_key,
        &p.api_token,
    ]
    .iter()
    .map(|f| std::fs::read(f).unwrap())
    .collect();
    assert_eq!(before, after);
}

#[test]
fn loose_directory_mode_is_tightened() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    ensure(tmp.path(), &id()).unwrap();
    assert_eq!(mode(tmp.path()), 0o700);
}

#[test]
fn missing_server_cert_is_issued_from_the_existing_ca() {
    let tmp = tempfile::tempdir().unwrap();
    ensure(tmp.path(), &id()).unwrap();
    let p = PkiPaths::new(tmp.path());
    let ca = std::fs::read(&p.ca_cert).unwrap();
    std::fs::remove_file(&p.server_cert).unwrap();
    std::fs::remove_file(&p.server_key).unwrap();
    let out = ensure(tmp.path(), &id()).unwrap();
    assert_eq!(out.created, ["server certificate"]);
    assert_eq!(std::fs::read(&p.ca_cert).unwrap(), ca);
}

#[test]
fn garbage_key_is_invalid_and_named() {
    let tmp = tempfile::tempdir().unwrap();
    ensure(tmp.path(), &id()).unwrap();
    let p = PkiPaths::new(tmp.path());
    std::fs::write(&p.ca_key, "not a key").unwrap();
    let err = ensure(tmp.path(), &id()).unwrap_err();
    assert!(
        matches!(&err, PkiError::Invalid { path, .. } if path == &p.ca_key),
        "{err}"
    );
    assert!(err.to_string().contains("ca.key"));
}

#[test]
fn unreadable_material_is_an_io_error_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let p = PkiPaths::new(tmp.path());
    // A directory where a file belongs cannot be read, even by root.
    std::fs::create_dir_all(&p.ca_cert).unwrap();
    std::fs::write(&p.ca_key, "x").unwrap();
    let err = ensure(tmp.path(), &id()).unwrap_err();
    assert!(
        matches!(&err, PkiError::Io { path, .. } if path == &p.ca_cert),
        "{err}"
    );
}

#[test]
fn server_cert_from_another_ca_is_a_mismatch() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    ensure(a.path(), &id()).unwrap();
    ensure(b.path(), &id()).unwrap();
    let (pa, pb) = (PkiPaths::new(a.path()), PkiPaths::new(b.path()));
    std::fs::copy(&pb.server_cert, &pa.server_cert).unwrap();
    std::fs::copy(&pb.server_key, &pa.server_key).unwrap();
    let err = ensure(a.path(), &id()).unwrap_err();
    assert!(matches!(err, PkiError::Mismatch { .. }), "{err}");
}

#[test]
fn key_of_another_cert_is_a_mismatch() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    ensure(a.path(), &id()).unwrap();
    ensure(b.path(), &id()).unwrap();
    let (pa, pb) = (PkiPaths::new(a.path()), PkiPaths::new(b.path()));
    std::fs::copy(&pb.server_key, &pa.server_key).unwrap();
    let err = ensure(a.path(), &id()).unwrap_err();
    assert!(matches!(err, PkiError::Mismatch { .. }), "{err}");
}

#[test]
fn changed_mgmt_ip_is_reported_not_silently_reissued() {
    let tmp = tempfile::tempdir().unwrap();
    ensure(tmp.path(), &id()).unwrap();
    let other = ServerIdentity::for_host("198.18.0.9".parse().unwrap(), "node-a");
    let err = ensure(tmp.path(), &other).unwrap_err();
    assert!(err.to_string().contains("198.18.0.9"), "{err}");
}

#[test]
fn half_a_pair_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    ensure(tmp.path(), &id()).unwrap();
    std::fs::remove_file(PkiPaths::new(tmp.path()).server_key).unwrap();
    let err = ensure(tmp.path(), &id()).unwrap_err();
    assert!(err.to_string().contains("server.key"), "{err}");
}

#[test]
fn server_certificate_verifies_against_the_ca_with_rustls_names() {
    let tmp = tempfile::tempdir().unwrap();
    ensure(tmp.path(), &id()).unwrap();
    let p = PkiPaths::new(tmp.path());
    let cert = std::fs::read(&p.server_cert).unwrap();
    verify::covers_identity(&p.server_cert, &cert, &id()).unwrap();
    verify::signed_by(
        &p.server_cert,
        &cert,
        &p.ca_cert,
        &std::fs::read(&p.ca_cert).unwrap(),
    )
    .unwrap();
}

/// Replaces the server pair under `dir` with one from its CA issued as if
/// `age` ago, so that it has 90 days minus `age` left.
fn age_server_cert(dir: &Path, age: std::time::Duration) {
    let p = PkiPaths::new(dir);
    let ca_pem = std::fs::read_to_string(&p.ca_cert).unwrap();
    let ca_key = KeyPair::from_pem(&std::fs::read_to_string(&p.ca_key).unwrap()).unwrap();
    let issuer = Issuer::from_ca_cert_pem(&ca_pem, ca_key).unwrap();
    let (cert, key) = generate_server(&issuer, &id(), SystemTime::now() - age).unwrap();
    std::fs::write(&p.server_key, key.serialize_pem()).unwrap();
    std::fs::write(&p.server_cert, cert).unwrap();
}

const DAY: std::time::Duration = std::time::Duration::from_secs(24 * 60 * 60);

#[test]
fn a_new_server_certificate_lasts_ninety_days() {
    let tmp = tempfile::tempdir().unwrap();
    let out = ensure(tmp.path(), &id()).unwrap();
    let cert = out.server_certificate.unwrap();
    assert!((89..=90).contains(&cert.days_left), "{cert:?}");
}

#[test]
fn a_server_certificate_with_ten_days_left_is_renewed_from_the_same_ca() {
    let tmp = tempfile::tempdir().unwrap();
    ensure(tmp.path(), &id()).unwrap();
    let p = PkiPaths::new(tmp.path());
    age_server_cert(tmp.path(), 80 * DAY);
    let (ca, token) = (
        std::fs::read(&p.ca_cert).unwrap(),
        std::fs::read(&p.api_token).unwrap(),
    );
    let old = std::fs::read(&p.server_cert).unwrap();

    let out = ensure(tmp.path(), &id()).unwrap();

    // Issued 80 days ago: ten days less the test's milliseconds, floored.
    assert_eq!(out.renewed, ["server certificate (9 days left)"]);
    assert!(out.created.is_empty());
    assert!(!out.reused.contains(&"server certificate".to_string()));
    let new = std::fs::read(&p.server_cert).unwrap();
    assert_ne!(new, old);
    assert!((89..=90).contains(&out.server_certificate.unwrap().days_left));
    verify::signed_by(&p.server_cert, &new, &p.ca_cert, &ca).unwrap();
    assert_eq!(std::fs::read(&p.api_token).unwrap(), token);
    assert_eq!(mode(&p.server_key), 0o600);
    let again = ensure(tmp.path(), &id()).unwrap();
    assert!(again.renewed.is_empty(), "renewed once, then kept");
}

#[test]
fn a_server_certificate_with_forty_days_left_is_kept() {
    let tmp = tempfile::tempdir().unwrap();
    ensure(tmp.path(), &id()).unwrap();
    age_server_cert(tmp.path(), 50 * DAY);
    let p = PkiPaths::new(tmp.path());
    let before = std::fs::read(&p.server_cert).unwrap();
    let out = ensure(tmp.path(), &id()).unwrap();
    assert!(out.renewed.is_empty());
    assert_eq!(std::fs::read(&p.server_cert).unwrap(), before);
}

#[test]
fn rotate_token_replaces_the_token_with_a_new_private_one() {
    let tmp = tempfile::tempdir().unwrap();
    ensure(tmp.path(), &id()).unwrap();
    let p = PkiPaths::new(tmp.path());
    let old = std::fs::read_to_string(&p.api_token).unwrap();
    let new = rotate_token(tmp.path()).unwrap();
    assert_ne!(new, old);
    assert_eq!(std::fs::read_to_string(&p.api_token).unwrap(), new);
    assert_eq!(mode(&p.api_token), 0o600);
    let leftovers: Vec<_> = std::fs::read_dir(p.api_token.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn rotate_without_a_pki_says_to_run_cp_up() {
    let tmp = tempfile::tempdir().unwrap();
    let err = rotate_token(tmp.path()).unwrap_err();
    assert!(err.to_string().contains("coolify cp up"), "{err}");
    let err = issue_server(tmp.path(), &id()).unwrap_err();
    assert!(
        err.to_string().contains("ca.crt") && err.to_string().contains("coolify cp up"),
        "{err}"
    );
}

#[test]
fn issue_server_replaces_the_pair_with_one_the_next_ensure_reuses() {
    let tmp = tempfile::tempdir().unwrap();
    let first = ensure(tmp.path(), &id())
        .unwrap()
        .server_certificate
        .unwrap();
    let issued = issue_server(tmp.path(), &id()).unwrap();
    assert_ne!(issued.sha256, first.sha256);
    let out = ensure(tmp.path(), &id()).unwrap();
    assert!(out.reused.contains(&"server certificate".to_string()));
    assert_eq!(out.server_certificate.unwrap().sha256, issued.sha256);
}
