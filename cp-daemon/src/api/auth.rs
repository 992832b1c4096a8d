//! Bearer-token authentication of the REST API (seed 000: static token in
//! `/etc/coolify/api-token`, mode 0600), with the token swappable in place
//! so a rotation (`coolify cp rotate --api-token`) takes effect without a
//! restart.

use std::path::Path;
use std::sync::{Arc, RwLock};

use http::HeaderMap;
use subtle::ConstantTimeEq;

use super::error::ApiError;

/// One API token value.
#[derive(Clone)]
pub struct BearerToken(String);

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

/// Shortest token accepted; the CLI writes 64 hex characters.
const MIN_TOKEN_LEN: usize = 16;

impl BearerToken {
    pub fn load(path: &Path) -> Result<Self, String> {
        let raw = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read API token file {}: {e}", path.display()))?;
        Self::new(raw.trim()).map_err(|e| format!("API token file {}: {e}", path.display()))
    }

    pub fn new(token: &str) -> Result<Self, String> {
        if token.len() < MIN_TOKEN_LEN {
            return Err(format!("token is shorter than {MIN_TOKEN_LEN} characters"));
        }
        if !token.chars().all(|c| c.is_ascii_graphic()) {
            return Err("token must be printable ASCII without spaces".into());
        }
        Ok(BearerToken(token.to_string()))
    }

    /// Checks `Authorization: Bearer <token>` in constant time.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let value = headers
            .get(http::header::AUTHORIZATION)
            .ok_or(ApiError::Unauthorized(
                "missing bearer token (Authorization: Bearer <token>)",
            ))?;
        let presented = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(ApiError::Unauthorized(
                "Authorization header must be `Bearer <token>`",
            ))?;
        if bool::from(presented.trim().as_bytes().ct_eq(self.0.as_bytes())) {
            Ok(())
        } else {
            Err(ApiError::Unauthorized("invalid bearer token"))
        }
    }
}

/// The token the API checks against, shared by every request and replaced
/// whole by a reload.
///
/// Invariant: a request is judged against exactly one token, the one
/// current when its headers are checked; after [`SharedToken::replace`]
/// returns, no new request passes with the old one.
#[derive(Clone, Debug)]
pub struct SharedToken(Arc<RwLock<BearerToken>>);

impl SharedToken {
    pub fn new(token: BearerToken) -> Self {
        SharedToken(Arc::new(RwLock::new(token)))
    }

    /// Swaps in `token` for every later check.
    pub fn replace(&self, token: BearerToken) {
        // A poisoned lock only means a checker panicked; the value is whole.
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = token;
    }

    pub fn check(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        self.0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .check(headers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(auth: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(a) = auth {
            h.insert(
                http::header::AUTHORIZATION,
                HeaderValue::from_str(a).unwrap(),
            );
        }
        h
    }

    const TOKEN: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn right_token_passes() {
        let t = BearerToken::new(TOKEN).unwrap();
        assert!(t.check(&headers(Some(&format!("Bearer {TOKEN}")))).is_ok());
    }

    #[test]
    fn missing_wrong_or_malformed_token_is_unauthorized() {
        let t = BearerToken::new(TOKEN).unwrap();
        for h in [
            None,
            Some("Bearer wrong-token-wrong-token"),
            Some("Basic Zm9vOmJhcg=="),
            Some(TOKEN),
            Some("Bearer "),
            Some(&format!("Bearer {TOKEN}x")),
        ] {
            let err = t.check(&headers(h)).unwrap_err();
            assert_eq!(err.status(), http::StatusCode::UNAUTHORIZED, "{h:?}");
        }
    }

    #[test]
    fn short_tokens_are_refused_at_load() {
        assert!(BearerToken::new("short").is_err());
        assert!(BearerToken::new("has space in the middle of it").is_err());
    }

    #[test]
    fn after_replace_the_old_token_is_refused_and_the_new_one_passes() {
        const NEW: &str = "fedcba9876543210fedcba9876543210";
        let shared = SharedToken::new(BearerToken::new(TOKEN).unwrap());
        let clone = shared.clone();
        shared.replace(BearerToken::new(NEW).unwrap());
        let old = clone
            .check(&headers(Some(&format!("Bearer {TOKEN}"))))
            .unwrap_err();
        assert_eq!(old.status(), http::StatusCode::UNAUTHORIZED);
        assert!(clone
            .check(&headers(Some(&format!("Bearer {NEW}"))))
            .is_ok());
    }

    #[test]
    fn debug_never_prints_the_token() {
        let t = BearerToken::new(TOKEN).unwrap();
        assert!(!format!("{t:?}").contains(TOKEN));
    }
}
