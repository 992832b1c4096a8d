//! Image reference grammar (a strict subset of the distribution reference
//! grammar): `[domain[:port]/]path[:tag][@sha256:<64 hex>]`. Pure, no I/O.

/// Checks an image reference. `allow_digest` is true for base images (a
/// pinned `FROM`) and false for the tags a build writes.
pub fn check_image_ref(reference: &str, allow_digest: bool) -> Result<(), String> {
    if reference.is_empty() {
        return Err("is empty".into());
    }
    if reference.len() > 255 {
        return Err("is longer than 255 characters".into());
    }
    let (name_tag, digest) = match reference.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (reference, None),
    };
    if let Some(digest) = digest {
        if !allow_digest {
            return Err("must not carry a digest (@sha256:…): a build writes tags".into());
        }
        let hex = digest
            .strip_prefix("sha256:")
            .ok_or("digest must start with sha256:")?;
        if hex.len() != 64
            || !hex
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        {
            return Err("digest must be sha256: followed by 64 lowercase hex digits".into());
        }
    }
    // The tag is after the last ':' that follows the last '/'.
    let last_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match name_tag[last_slash..].rfind(':') {
        Some(i) => (
            &name_tag[..last_slash + i],
            Some(&name_tag[last_slash + i + 1..]),
        ),
        None => (name_tag, None),
    };
    if let Some(tag) = tag {
        check_tag(tag)?;
    }
    let mut components: Vec<&str> = name.split('/').collect();
    let first = components[0];
    if components.len() > 1 && (first.contains('.') || first.contains(':') || first == "localhost")
    {
        check_domain(first)?;
        components.remove(0);
    }
    for component in components {
        check_path_component(component)?;
    }
    Ok(())
}

fn check_tag(tag: &str) -> Result<(), String> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && tag
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "tag {tag:?} must be 1-128 of [A-Za-z0-9_.-], not starting with . or -"
        ))
    }
}

fn check_domain(domain: &str) -> Result<(), String> {
    let (host, port) = match domain.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (domain, None),
    };
    if let Some(port) = port {
        if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("registry port in {domain:?} must be digits"));
        }
    }
    let ok = !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if ok {
        Ok(())
    } else {
        Err(format!("registry host {domain:?} is not a valid host name"))
    }
}

/// Lowercase alphanumerics separated by `.`, `_`, `__` or runs of `-`.
fn check_path_component(component: &str) -> Result<(), String> {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let mut ok = !bytes.is_empty() && alnum(bytes[0]) && alnum(bytes[bytes.len() - 1]);
    let mut i = 0;
    while ok && i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &component[start..i];
        ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
    }
    if ok {
        Ok(())
    } else {
        Err(format!(
            "name component {component:?} must be lowercase letters and digits separated by '.', '_', '__' or '-'"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_common_references() {
        for r in [
            "app",
            "app:1",
            "localhost/app:1",
            "localhost:5000/team/app:v1.2-rc_3",
            "nginx:alpine",
            "docker.io/library/nginx:1.27",
            "my__app/x-y.z:latest",
        ] {
            assert_eq!(check_image_ref(r, false), Ok(()), "{r}");
        }
        let pinned = format!("nginx@sha256:{}", "a".repeat(64));
        assert_eq!(check_image_ref(&pinned, true), Ok(()));
    }

    #[test]
    fn refuses_bad_references() {
        let pinned = format!("nginx@sha256:{}", "a".repeat(64));
        for (r, digest) in [
            ("", false),
            ("App:1", false),
            ("app:", false),
            ("app:-x", false),
            ("/app", false),
            ("app//x", false),
            ("app:1 ; rm -rf /", false),
            ("-app", false),
            ("bad_host.example:port/app", false),
            (pinned.as_str(), false),
            ("nginx@sha256:abc", true),
        ] {
            assert!(check_image_ref(r, digest).is_err(), "{r:?} accepted");
        }
    }
}
