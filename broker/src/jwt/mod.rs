//! Per-host JWT verification on stream open (seed 000, "Broker"; issue 4).
//!
//! Only asymmetric algorithms are accepted, and only the one that matches
//! the configured public key (ES256 for a P-256 key, RS256 for an RSA key):
//! the algorithm is taken from the key, never from the token, so the classic
//! confusion attacks (`alg: none`, HS256 signed with the public key as the
//! HMAC secret) fail before any signature check. `aud` must be `coold`,
//! `exp` and `sub` are required, `caps` must be present (may be empty).
//!
//! Pure apart from [`JwtVerifier::load`], which reads the key file.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// The audience every host token carries.
pub const AUDIENCE: &str = "coold";
/// Clock skew tolerated on `exp` (and `nbf`), in seconds.
pub const LEEWAY_SECS: u64 = 30;

/// The claims of a host token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The host id; the Hello must name the same host.
    pub sub: String,
    pub aud: String,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// The token's own id: logged when its stream opens, so a stream in the
    /// logs leads back to the enrollment that minted its token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// Capabilities the host may advertise (e.g. `builder`). Required, so a
    /// token minted without thinking about capabilities is refused.
    pub caps: Vec<String>,
    /// The host's slice of the cluster's namespace subnet pool (a CIDR such
    /// as `10.208.16.0/20`), assigned at enrollment: `cp up` takes each
    /// namespace's /24 from it, so no two hosts share one. The broker does
    /// not judge it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net: Option<String>,
}

impl Claims {
    /// Ok when every advertised capability is granted by the token.
    pub fn grants(&self, advertised: &[String]) -> Result<(), JwtError> {
        match advertised.iter().find(|c| !self.caps.contains(c)) {
            None => Ok(()),
            Some(c) => Err(JwtError::CapabilityNotGranted(c.clone())),
        }
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("{path}: {reason}")]
    Key { path: String, reason: String },
    #[error("no bearer token (metadata `authorization: Bearer <jwt>`)")]
    Missing,
    #[error("token is malformed or uses an unsupported algorithm: {0}")]
    Malformed(String),
    #[error("token algorithm {got} refused: this broker accepts only {want}")]
    WrongAlgorithm { got: String, want: &'static str },
    #[error("token refused: {0}")]
    Invalid(String),
    #[error("token `sub` is not a valid host id: {0}")]
    BadSubject(String),
    #[error("capability {0:?} advertised in Hello is not granted by the token")]
    CapabilityNotGranted(String),
    #[error("token for host {host:?} was revoked (issued at or before {revoked_before}); enroll the host again: `coolify broker enroll --host-id {host}`")]
    Revoked { host: String, revoked_before: u64 },
}

/// Verifies host tokens against one public key.
#[derive(Clone)]
pub struct JwtVerifier {
    key: DecodingKey,
    alg: Algorithm,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("alg", &self.alg)
            .finish()
    }
}

fn alg_name(a: Algorithm) -> &'static str {
    match a {
        Algorithm::ES256 => "ES256",
        Algorithm::RS256 => "RS256",
        _ => "other",
    }
}

impl JwtVerifier {
    /// Reads a PEM public key (SPKI `PUBLIC KEY`, or PKCS#1 `RSA PUBLIC KEY`).
    pub fn load(path: &Path) -> Result<Self, JwtError> {
        let pem = std::fs::read(path).map_err(|e| JwtError::Key {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::from_pem(&pem).map_err(|reason| JwtError::Key {
            path: path.display().to_string(),
            reason,
        })
    }

    /// The algorithm follows the key type: EC (P-256) → ES256, RSA → RS256.
    pub fn from_pem(pem: &[u8]) -> Result<Self, String> {
        if let Ok(key) = DecodingKey::from_ec_pem(pem) {
            return Ok(JwtVerifier {
                key,
                alg: Algorithm::ES256,
            });
        }
        match DecodingKey::from_rsa_pem(pem) {
            Ok(key) => Ok(JwtVerifier {
                key,
                alg: Algorithm::RS256,
            }),
            Err(e) => Err(format!(
                "not an EC P-256 or RSA public key in PEM form ({e}); `coolify broker init` writes jwt.pub"
            )),
        }
    }

    /// Verifies `token` at the current time.
    pub fn verify(&self, token: &str) -> Result<Claims, JwtError> {
        // The header is checked first so a wrong algorithm gets its own
        // message; `none` does not even parse as an algorithm.
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| JwtError::Malformed(e.to_string()))?;
        if header.alg != self.alg {
            return Err(JwtError::WrongAlgorithm {
                got: format!("{:?}", header.alg),
                want: alg_name(self.alg),
            });
        }
        let mut v = Validation::new(self.alg);
        v.algorithms = vec![self.alg];
        v.set_audience(&[AUDIENCE]);
        v.set_required_spec_claims(&["exp", "sub", "aud"]);
        v.validate_exp = true;
        v.leeway = LEEWAY_SECS;
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &v)
            .map_err(|e| JwtError::Invalid(e.to_string()))?;
        validate_host_id(&data.claims.sub).map_err(JwtError::BadSubject)?;
        Ok(data.claims)
    }
}

/// A host id: 1–128 characters of `[A-Za-z0-9._-]`, so it is safe in logs,
/// metrics labels and URLs.
pub fn validate_host_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > 128 {
        return Err(format!("{id:?} must be 1-128 characters"));
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return Err(format!("{id:?} may hold only A-Z a-z 0-9 . _ -"));
    }
    Ok(())
}

/// Mints a host token with an ES256 private key (PKCS#8 PEM), as
/// `coolify broker enroll` does.
pub fn mint_es256(
    private_key_pem: &[u8],
    host_id: &str,
    caps: &[String],
    ttl: Duration,
) -> Result<String, JwtError> {
    mint_es256_with_net(private_key_pem, host_id, caps, ttl, None)
}

/// [`mint_es256`] with the host's namespace subnet slice (`net`).
pub fn mint_es256_with_net(
    private_key_pem: &[u8],
    host_id: &str,
    caps: &[String],
    ttl: Duration,
    net: Option<&str>,
) -> Result<String, JwtError> {
    validate_host_id(host_id).map_err(JwtError::BadSubject)?;
    let key = EncodingKey::from_ec_pem(private_key_pem).map_err(|e| JwtError::Key {
        path: "signing key".into(),
        reason: e.to_string(),
    })?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let claims = Claims {
        sub: host_id.to_string(),
        aud: AUDIENCE.to_string(),
        exp: now + ttl.as_secs(),
        iat: Some(now),
        jti: Some(format!("{:032x}", rand::random::<u128>())),
        caps: caps.to_vec(),
        net: net.map(str::to_string),
    };
    jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &key)
        .map_err(|e| JwtError::Invalid(e.to_string()))
}

#[cfg(test)]
mod tests;
