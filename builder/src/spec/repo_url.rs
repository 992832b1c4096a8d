//! The repository URL: which transport, and any `user:pass@` split off so it
//! travels only through the credentials callback, never in a URL we print.

use std::path::PathBuf;

use coolify_build_contract::Credentials;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepoUrl {
    /// A repository on this machine, read in-process (no git binary needed).
    File(PathBuf),
    /// `git://` or `https://` with the userinfo removed.
    Remote(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedRepo {
    pub url: RepoUrl,
    /// Credentials that were embedded in the URL.
    pub embedded: Option<Credentials>,
    /// The raw userinfo, kept so the scrubber can hide it in any spelling.
    pub raw_userinfo: Option<String>,
}

impl RepoUrl {
    /// The URL as it may be shown: never carries credentials.
    pub fn shown(&self) -> String {
        match self {
            RepoUrl::File(path) => format!("file://{}", path.display()),
            RepoUrl::Remote(url) => url.clone(),
        }
    }
}

pub fn parse_repo(raw: &str) -> Result<ParsedRepo, String> {
    let (scheme, rest) = raw
        .split_once("://")
        .ok_or("repo must be a URL: https://…, git://… or file:///…")?;
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("repo must not contain spaces or control characters".into());
    }
    match scheme {
        "file" => {
            if !rest.starts_with('/') {
                return Err(
                    "repo file:// URL must name an absolute path (file:///srv/repo)".into(),
                );
            }
            Ok(ParsedRepo {
                url: RepoUrl::File(PathBuf::from(percent_decode(rest))),
                embedded: None,
                raw_userinfo: None,
            })
        }
        "git" | "https" => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            let authority = &rest[..authority_end];
            let (userinfo, host) = match authority.rsplit_once('@') {
                Some((u, h)) => (Some(u), h),
                None => (None, authority),
            };
            if host.is_empty() {
                return Err(format!("repo {scheme}:// URL has no host"));
            }
            let embedded = match userinfo {
                Some(_) if scheme == "git" => {
                    return Err(
                        "repo git:// URLs carry no credentials; drop the user:pass@ part".into(),
                    )
                }
                Some(u) => {
                    let (user, pass) = u.split_once(':').unwrap_or((u, ""));
                    Some(Credentials {
                        username: percent_decode(user),
                        password: percent_decode(pass),
                    })
                }
                None => None,
            };
            Ok(ParsedRepo {
                url: RepoUrl::Remote(format!("{scheme}://{host}{}", &rest[authority_end..])),
                embedded,
                raw_userinfo: userinfo.map(str::to_owned),
            })
        }
        other => Err(format!(
            "repo scheme {other:?} is not supported: use https://, git:// or file://"
        )),
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_userinfo_is_split_off() {
        let p = parse_repo("https://al%40ce:s3cr%3At@example.test/x.git").unwrap();
        assert_eq!(p.url, RepoUrl::Remote("https://example.test/x.git".into()));
        let c = p.embedded.unwrap();
        assert_eq!(
            (c.username.as_str(), c.password.as_str()),
            ("al@ce", "s3cr:t")
        );
        assert!(!p.url.shown().contains("s3cr"));
    }

    #[test]
    fn file_url_is_a_local_path() {
        let p = parse_repo("file:///srv/my%20repo").unwrap();
        assert_eq!(p.url, RepoUrl::File("/srv/my repo".into()));
    }

    #[test]
    fn unsupported_urls_are_refused_naming_repo() {
        for raw in [
            "ssh://h/x",
            "/srv/repo",
            "file://relative",
            "git://u:p@h/x",
            "https:///x",
        ] {
            let err = parse_repo(raw).unwrap_err();
            assert!(err.contains("repo"), "{raw}: {err}");
        }
    }
}
