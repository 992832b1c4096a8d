//! Reading the credentials file for https clones, and the scrubber that keeps them out of every
//! event, result file and error message.

use std::path::Path;

use coolify_build_contract::Credentials;

use crate::error::BuildError;

/// Reads the credentials file. It must not be readable by group or others:
/// a world-readable secret is refused rather than used.
pub fn read_credentials(path: &Path) -> Result<Credentials, BuildError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| {
        BuildError::bad_spec(format!(
            "credentials file {}: cannot read it: {e}",
            path.display()
        ))
    })?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(BuildError::bad_spec(format!(
            "credentials file {} is readable by group or others (mode {:o}); chmod 600 it",
            path.display(),
            meta.permissions().mode() & 0o777
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| {
        BuildError::bad_spec(format!(
            "credentials file {}: cannot read it: {e}",
            path.display()
        ))
    })?;
    // serde's message may quote the input; name the fields only.
    serde_json::from_str(&text).map_err(|_| {
        BuildError::bad_spec(format!(
            "credentials file {}: expected JSON {{\"username\": \"…\", \"password\": \"…\"}} and nothing else",
            path.display()
        ))
    })
}

/// Replaces every known secret in a text with `***`.
#[derive(Debug, Default, Clone)]
pub struct Scrubber {
    secrets: Vec<String>,
}

impl Scrubber {
    /// Remembers a secret. Short secrets are kept too: a leaked one-letter
    /// password is still a leak, and over-scrubbing a log costs little.
    pub fn add(&mut self, secret: &str) {
        if !secret.is_empty() && !self.secrets.iter().any(|s| s == secret) {
            self.secrets.push(secret.to_owned());
            // Longest first, so a secret containing another is replaced whole.
            self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), "***");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubber_replaces_every_secret() {
        let mut s = Scrubber::default();
        s.add("hunter2");
        s.add("alice:hunter2");
        assert_eq!(
            s.scrub("https://alice:hunter2@h/x and hunter2"),
            "https://***@h/x and ***"
        );
    }
}
