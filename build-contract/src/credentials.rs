//! `credentials.json`: git credentials for a private repository. They reach
//! the builder only through this 0600 file, never its argv, the spec file or
//! a log line.

use serde::{Deserialize, Serialize};

/// Username and password for an https clone. `Debug` prints neither: some
/// hosts take the token as the username.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials { <redacted> }")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_both_fields() {
        let c = Credentials {
            username: "x-token-user".into(),
            password: "p4ss".into(),
        };
        let shown = format!("{c:?}");
        assert!(!shown.contains("p4ss") && !shown.contains("x-token-user"));
    }

    #[test]
    fn only_username_and_password_are_accepted() {
        let ok: Credentials =
            serde_json::from_str(r#"{"username":"u","password":"p"}"#).expect("parse");
        assert_eq!(ok.username, "u");
        assert!(
            serde_json::from_str::<Credentials>(r#"{"username":"u","password":"p","x":1}"#)
                .is_err()
        );
        assert!(serde_json::from_str::<Credentials>(r#"{"username":"u"}"#).is_err());
    }
}
