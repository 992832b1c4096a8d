//! Image reference grammar (the distribution spec's, as Podman applies it):
//! `[domain[:port]/]path[/path…][:tag][@algo:hex]`, path components
//! lowercase. Checked here so that a bad reference is a 400 naming the
//! field, not the engine's 500 "invalid reference format".
//!
//! Pure: no I/O here.

fn alnum_lower(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// `alpha-numeric (separator alpha-numeric)*`, separator `.`, `_`, `__`
/// or one or more `-`.
fn path_component(s: &str) -> bool {
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut expect_alnum = true;
    while i < bytes.len() {
        if expect_alnum {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_lowercase() || bytes[i].is_ascii_digit()) {
                i += 1;
            }
            if i == start {
                return false;
            }
            expect_alnum = false;
        } else {
            let start = i;
            while i < bytes.len() && matches!(bytes[i], b'.' | b'_' | b'-') {
                i += 1;
            }
            let sep = &s[start..i];
            let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
            if !ok {
                return false;
            }
            expect_alnum = true;
        }
    }
    !expect_alnum
}

fn domain_component(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn domain(s: &str) -> bool {
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    };
    if let Some(p) = port {
        if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    !host.is_empty() && host.split('.').all(domain_component)
}

fn tag(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric() || c == '_')
        && s.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

fn digest(s: &str) -> bool {
    match s.split_once(':') {
        Some((algo, hex)) => {
            alnum_lower(algo)
                && hex.len() >= 32
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        }
        None => false,
    }
}

/// Whether `r` is a well-formed image reference.
pub fn is_valid(r: &str) -> bool {
    if r.is_empty() || r.len() > 255 {
        return false;
    }
    let (rest, dig) = match r.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (r, None),
    };
    if dig.is_some_and(|d| !digest(d)) {
        return false;
    }
    // A tag is after the last `:` that follows the last `/`.
    let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
    let (name, tg) = match rest[last_slash..].rfind(':') {
        Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
        None => (rest, None),
    };
    if tg.is_some_and(|t| !tag(t)) {
        return false;
    }
    let parts: Vec<&str> = name.split('/').collect();
    let (first, paths) = match parts.as_slice() {
        [] => return false,
        [only] => return path_component(only),
        [first, rest @ ..] => (*first, rest),
    };
    // The first part is a domain when it looks like one (as Docker decides).
    let first_ok = if first.contains('.') || first.contains(':') || first == "localhost" {
        domain(first)
    } else {
        path_component(first)
    };
    first_ok && paths.iter().all(|p| path_component(p))
}

#[cfg(test)]
mod tests {
    use super::is_valid;

    #[test]
    fn references_parse_like_the_engine_does() {
        for ok in [
            "busybox",
            "localhost/coolify-test-busybox:latest",
            "localhost/tenant/web:v2",
            "registry.example:5000/a/b_c__d--e.f:1.0-rc_1",
            "127.0.0.1:5000/coolify/none:v1",
            "docker.io/library/nginx:alpine",
            "nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert!(is_valid(ok), "{ok}");
        }
        for bad in [
            "",
            "a_-",
            "UPPER",
            "a//b",
            "/a",
            "a/",
            "a:",
            "a:-tag",
            "a@sha256:xyz",
            "a..b",
            "-a",
            "a b",
            "localhost:port/a",
            "a/B",
            "a:tag:tag",
        ] {
            assert!(!is_valid(bad), "{bad}");
        }
    }
}
