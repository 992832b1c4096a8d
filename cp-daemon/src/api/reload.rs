//! Picks up a rotated API token or server certificate without a restart.
//!
//! `coolify cp rotate` (and a renewing `cp up`) replace the files by
//! rename inside the bind-mounted `agent/` directory. Every
//! [`RELOAD_POLL`] the agent compares each file's identity (device, inode,
//! size, change time): a rename gives a new inode, so a replaced file is
//! seen even when its size and times happen to match. Polling three
//! `stat`s a second is cheaper to reason about than inotify on a bind
//! mount, and the delay it adds to a rotation is at most one poll.
//!
//! Invariant: a reload that fails (unreadable file, a key that does not
//! match its certificate while the two are being replaced one after the
//! other) keeps the material in use and says why in `/healthz`; the agent
//! never serves without a token or a certificate. The next change of the
//! files is tried again.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::auth::{BearerToken, SharedToken};
use super::tls::{load_certified_key, SwappableCert};
use crate::config::TlsFiles;
use crate::health::{Health, Status};

/// How often the files are compared with what was loaded.
pub const RELOAD_POLL: Duration = Duration::from_secs(1);

/// The `/healthz` component that reports reloads.
pub const COMPONENT: &str = "api-credentials";

/// What one look at the files did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadOutcome {
    TokenReloaded,
    TokenKept { error: String },
    CertReloaded,
    CertKept { error: String },
}

/// Which version of a file was last looked at; `None` when it was absent.
type Stamp = Option<(u64, u64, u64, i64, i64)>;

fn stamp(path: &Path) -> Stamp {
    let m = std::fs::metadata(path).ok()?;
    Some((m.dev(), m.ino(), m.len(), m.ctime(), m.ctime_nsec()))
}

#[derive(Debug, Default)]
struct Seen {
    token: Stamp,
    cert: (Stamp, Stamp),
    token_error: Option<String>,
    cert_error: Option<String>,
}

/// The API's token and certificate, and the files they came from.
#[derive(Debug)]
pub struct ApiCredentials {
    token_file: PathBuf,
    token: SharedToken,
    tls: Option<(TlsFiles, Arc<SwappableCert>)>,
    seen: Mutex<Seen>,
}

impl ApiCredentials {
    /// Material already loaded from these files at start: only later
    /// changes of the files are reloaded.
    pub fn new(
        token_file: PathBuf,
        token: SharedToken,
        tls: Option<(TlsFiles, Arc<SwappableCert>)>,
    ) -> Arc<Self> {
        let seen = Seen {
            token: stamp(&token_file),
            cert: tls
                .as_ref()
                .map(|(f, _)| (stamp(&f.cert), stamp(&f.key)))
                .unwrap_or_default(),
            ..Seen::default()
        };
        Arc::new(ApiCredentials {
            token_file,
            token,
            tls,
            seen: Mutex::new(seen),
        })
    }

    pub fn token(&self) -> SharedToken {
        self.token.clone()
    }

    /// Reloads whatever changed since the last look.
    pub fn check_once(&self) -> Vec<ReloadOutcome> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        let now = stamp(&self.token_file);
        if now != seen.token {
            seen.token = now;
            match BearerToken::load(&self.token_file) {
                Ok(t) => {
                    self.token.replace(t);
                    seen.token_error = None;
                    out.push(ReloadOutcome::TokenReloaded);
                }
                Err(error) => {
                    seen.token_error = Some(error.clone());
                    out.push(ReloadOutcome::TokenKept { error });
                }
            }
        }
        if let Some((files, cert)) = &self.tls {
            let now = (stamp(&files.cert), stamp(&files.key));
            if now != seen.cert {
                seen.cert = now;
                match load_certified_key(&files.cert, &files.key) {
                    Ok(k) => {
                        cert.replace(k);
                        seen.cert_error = None;
                        out.push(ReloadOutcome::CertReloaded);
                    }
                    Err(e) => {
                        let error = e.to_string();
                        seen.cert_error = Some(error.clone());
                        out.push(ReloadOutcome::CertKept { error });
                    }
                }
            }
        }
        out
    }

    /// `/healthz` detail: in use, or which reload failed and why.
    fn health(&self) -> (Status, String) {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let errors: Vec<String> = [
            seen.token_error.as_ref().map(|e| format!("token: {e}")),
            seen.cert_error
                .as_ref()
                .map(|e| format!("certificate: {e}")),
        ]
        .into_iter()
        .flatten()
        .collect();
        if errors.is_empty() {
            let what = if self.tls.is_some() {
                "token and certificate follow their files"
            } else {
                "token follows its file (no TLS)"
            };
            (Status::Healthy, what.into())
        } else {
            (
                Status::Degraded,
                format!(
                    "reload failed, still serving the previous material: {}",
                    errors.join("; ")
                ),
            )
        }
    }

    /// Looks at the files every `interval` until `stop`.
    pub async fn watch(
        self: Arc<Self>,
        health: Health,
        interval: Duration,
        stop: CancellationToken,
    ) {
        health.register(COMPONENT, false);
        let (status, detail) = self.health();
        health.set(COMPONENT, status, detail);
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let outcomes = self.check_once();
            if outcomes.is_empty() {
                continue;
            }
            for o in &outcomes {
                match o {
                    ReloadOutcome::TokenReloaded => {
                        tracing::info!(file = %self.token_file.display(), "API token reloaded; the previous one is refused from now on")
                    }
                    ReloadOutcome::CertReloaded => {
                        tracing::info!("API server certificate reloaded; new connections get it")
                    }
                    ReloadOutcome::TokenKept { error } => {
                        tracing::warn!(%error, "API token file changed but cannot be used; keeping the previous token")
                    }
                    ReloadOutcome::CertKept { error } => {
                        tracing::warn!(%error, "API certificate files changed but cannot be used; keeping the previous certificate")
                    }
                }
            }
            let (status, detail) = self.health();
            health.set(COMPONENT, status, detail);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, HeaderValue};

    const OLD: &str = "0123456789abcdef0123456789abcdef";
    const NEW: &str = "fedcba9876543210fedcba9876543210";

    fn bearer(t: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {t}")).unwrap(),
        );
        h
    }

    /// Replaces `path` the way the CLI does: a new file renamed over it.
    fn replace(path: &Path, data: &[u8]) {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, data).unwrap();
        std::fs::rename(&tmp, path).unwrap();
    }

    fn pair(name: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn served_cert(cert: &SwappableCert) -> Vec<u8> {
        cert.current().end_entity_cert().unwrap().to_vec()
    }

    fn with_token(dir: &Path) -> Arc<ApiCredentials> {
        let file = dir.join("api-token");
        std::fs::write(&file, OLD).unwrap();
        let token = SharedToken::new(BearerToken::load(&file).unwrap());
        ApiCredentials::new(file, token, None)
    }

    #[test]
    fn unchanged_files_reload_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let creds = with_token(tmp.path());
        assert!(creds.check_once().is_empty());
    }

    #[test]
    fn a_replaced_token_file_swaps_the_token() {
        let tmp = tempfile::tempdir().unwrap();
        let creds = with_token(tmp.path());
        replace(&tmp.path().join("api-token"), NEW.as_bytes());

        assert_eq!(creds.check_once(), vec![ReloadOutcome::TokenReloaded]);
        assert!(creds.token().check(&bearer(OLD)).is_err());
        assert!(creds.token().check(&bearer(NEW)).is_ok());
        assert!(creds.check_once().is_empty(), "loaded once per change");
    }

    #[test]
    fn an_unusable_token_file_keeps_the_old_token_and_degrades_health() {
        let tmp = tempfile::tempdir().unwrap();
        let creds = with_token(tmp.path());
        replace(&tmp.path().join("api-token"), b"short");

        assert!(matches!(
            creds.check_once().as_slice(),
            [ReloadOutcome::TokenKept { .. }]
        ));
        assert!(creds.token().check(&bearer(OLD)).is_ok());
        assert_eq!(creds.health().0, Status::Degraded);

        replace(&tmp.path().join("api-token"), NEW.as_bytes());
        assert_eq!(creds.check_once(), vec![ReloadOutcome::TokenReloaded]);
        assert_eq!(creds.health().0, Status::Healthy);
    }

    #[test]
    fn a_removed_token_file_keeps_the_old_token() {
        let tmp = tempfile::tempdir().unwrap();
        let creds = with_token(tmp.path());
        std::fs::remove_file(tmp.path().join("api-token")).unwrap();

        assert!(matches!(
            creds.check_once().as_slice(),
            [ReloadOutcome::TokenKept { .. }]
        ));
        assert!(creds.token().check(&bearer(OLD)).is_ok());
    }

    #[test]
    fn a_new_certificate_is_served_and_a_half_replaced_pair_keeps_the_old_one() {
        let tmp = tempfile::tempdir().unwrap();
        let files = TlsFiles {
            cert: tmp.path().join("server.crt"),
            key: tmp.path().join("server.key"),
        };
        let (c1, k1) = pair("one");
        std::fs::write(&files.cert, &c1).unwrap();
        std::fs::write(&files.key, &k1).unwrap();
        let cert = SwappableCert::new(load_certified_key(&files.cert, &files.key).unwrap());
        let first = served_cert(&cert);
        let token_file = tmp.path().join("api-token");
        std::fs::write(&token_file, OLD).unwrap();
        let creds = ApiCredentials::new(
            token_file.clone(),
            SharedToken::new(BearerToken::load(&token_file).unwrap()),
            Some((files.clone(), cert.clone())),
        );

        // The key is replaced first: it no longer matches the old
        // certificate, so the old pair stays in use.
        let (c2, k2) = pair("two");
        replace(&files.key, k2.as_bytes());
        assert!(matches!(
            creds.check_once().as_slice(),
            [ReloadOutcome::CertKept { .. }]
        ));
        assert_eq!(served_cert(&cert), first);

        replace(&files.cert, c2.as_bytes());
        assert_eq!(creds.check_once(), vec![ReloadOutcome::CertReloaded]);
        assert_ne!(served_cert(&cert), first);
        assert_eq!(creds.health().0, Status::Healthy);
    }
}
