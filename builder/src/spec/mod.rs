//! spec.json: parsed, then validated into a [`BuildSpec`] the pipeline can
//! trust. Pure: no I/O besides the caller handing in the text. Every error
//! names the field.

mod image_ref;
mod repo_path;
mod repo_url;

use std::collections::BTreeMap;

use serde::Deserialize;

pub use image_ref::check_image_ref;
pub use repo_path::RepoPath;
pub use repo_url::{parse_repo, ParsedRepo, RepoUrl};

/// Where nginx serves from; the default copy target of a STATIC build.
pub const NGINX_HTML_ROOT: &str = "/usr/share/nginx/html";
/// Built-in STATIC base image when neither the spec nor config names one.
pub const DEFAULT_STATIC_BASE_IMAGE: &str = "nginx:alpine";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    repo: String,
    #[serde(rename = "ref")]
    git_ref: String,
    stack: String,
    tags: Vec<String>,
    publish_dir: Option<String>,
    base_image: Option<String>,
    static_root: Option<String>,
    dockerfile: Option<String>,
    context: Option<String>,
    build_args: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildSpec {
    pub repo: ParsedRepo,
    pub git_ref: String,
    /// At least one; the first is the `registry_ref` of the result.
    pub tags: Vec<String>,
    pub stack: StackSpec,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StackSpec {
    Static {
        publish_dir: RepoPath,
        /// `None`: the configured default applies.
        base_image: Option<String>,
        static_root: String,
    },
    Dockerfile {
        /// `None`: `Containerfile`, then `Dockerfile`, in the context dir.
        dockerfile: Option<RepoPath>,
        context: RepoPath,
        build_args: BTreeMap<String, String>,
    },
}

/// Parses and validates spec.json. The error is the message for `bad_spec`.
pub fn parse_spec(text: &str) -> Result<BuildSpec, String> {
    let de = &mut serde_json::Deserializer::from_str(text);
    let raw: RawSpec = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            format!("spec.json: {}", e.inner())
        } else {
            format!("spec.json field {path}: {}", e.inner())
        }
    })?;
    validate(raw)
}

fn validate(raw: RawSpec) -> Result<BuildSpec, String> {
    let repo = parse_repo(&raw.repo)?;
    check_git_ref(&raw.git_ref)?;
    if raw.tags.is_empty() {
        return Err("tags must name at least one image tag (e.g. localhost/app:1)".into());
    }
    for (i, tag) in raw.tags.iter().enumerate() {
        check_image_ref(tag, false).map_err(|e| format!("tags[{i}] {tag:?} {e}"))?;
    }
    let stack = match raw.stack.as_str() {
        "STATIC" => {
            refuse_field("dockerfile", raw.dockerfile.is_some(), "DOCKERFILE")?;
            refuse_field("context", raw.context.is_some(), "DOCKERFILE")?;
            refuse_field("build_args", raw.build_args.is_some(), "DOCKERFILE")?;
            if let Some(base) = &raw.base_image {
                check_image_ref(base, true).map_err(|e| format!("base_image {base:?} {e}"))?;
            }
            let static_root = raw.static_root.unwrap_or_else(|| NGINX_HTML_ROOT.into());
            check_static_root(&static_root)?;
            StackSpec::Static {
                publish_dir: RepoPath::parse(
                    "publish_dir",
                    raw.publish_dir.as_deref().unwrap_or("."),
                )?,
                base_image: raw.base_image,
                static_root,
            }
        }
        "DOCKERFILE" => {
            refuse_field("publish_dir", raw.publish_dir.is_some(), "STATIC")?;
            refuse_field("base_image", raw.base_image.is_some(), "STATIC")?;
            refuse_field("static_root", raw.static_root.is_some(), "STATIC")?;
            let build_args = raw.build_args.unwrap_or_default();
            for key in build_args.keys() {
                check_build_arg_name(key)?;
            }
            StackSpec::Dockerfile {
                dockerfile: raw
                    .dockerfile
                    .as_deref()
                    .map(|d| RepoPath::parse("dockerfile", d))
                    .transpose()?,
                context: RepoPath::parse("context", raw.context.as_deref().unwrap_or("."))?,
                build_args,
            }
        }
        other => {
            return Err(format!(
                "stack {other:?} is not supported: use \"STATIC\" or \"DOCKERFILE\""
            ))
        }
    };
    Ok(BuildSpec {
        repo,
        git_ref: raw.git_ref,
        tags: raw.tags,
        stack,
    })
}

fn refuse_field(field: &str, present: bool, owner: &str) -> Result<(), String> {
    if present {
        Err(format!("{field} applies to the {owner} stack only"))
    } else {
        Ok(())
    }
}

/// A branch, tag or full commit id. Git's own ref rules are applied by the
/// clone; here we refuse what could be mistaken for an option or a range.
fn check_git_ref(r: &str) -> Result<(), String> {
    if r.is_empty() {
        return Err("ref is empty: name a branch, tag or commit id".into());
    }
    if r.starts_with('-')
        || r.contains("..")
        || r.contains("@{")
        || r.len() > 255
        || r.chars()
            .any(|c| c.is_whitespace() || c.is_control() || "~^:?*[\\".contains(c))
    {
        return Err(format!("ref {r:?} is not a valid branch, tag or commit id"));
    }
    Ok(())
}

fn check_static_root(root: &str) -> Result<(), String> {
    let ok = root.starts_with('/')
        && !root.split('/').any(|c| c == "..")
        && root
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "static_root {root:?} must be an absolute path of [A-Za-z0-9/_.-] without .."
        ))
    }
}

fn check_build_arg_name(key: &str) -> Result<(), String> {
    let ok = key
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "build_args key {key:?} must match [A-Za-z_][A-Za-z0-9_]*"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(extra: &str) -> String {
        format!(r#"{{"repo":"file:///srv/r","ref":"main","tags":["localhost/app:1"]{extra}}}"#)
    }

    #[test]
    fn static_spec_defaults_publish_dir_and_root() {
        let s = parse_spec(&spec(r#","stack":"STATIC""#)).unwrap();
        assert_eq!(
            s.stack,
            StackSpec::Static {
                publish_dir: RepoPath::parse("publish_dir", ".").unwrap(),
                base_image: None,
                static_root: NGINX_HTML_ROOT.into(),
            }
        );
    }

    #[test]
    fn dockerfile_spec_keeps_build_args() {
        let s = parse_spec(&spec(
            r#","stack":"DOCKERFILE","dockerfile":"ops/Containerfile","context":"app","build_args":{"GREETING":"hi"}"#,
        ))
        .unwrap();
        let StackSpec::Dockerfile {
            dockerfile,
            context,
            build_args,
        } = s.stack
        else {
            panic!("wrong stack")
        };
        assert_eq!(dockerfile.unwrap().display(), "ops/Containerfile");
        assert_eq!(context.display(), "app");
        assert_eq!(build_args["GREETING"], "hi");
    }

    /// Table of bad specs: each must be refused with a message naming the field.
    #[test]
    fn bad_specs_name_the_field() {
        let cases: &[(&str, &str)] = &[
            (
                r#"{"repo":"file:///r","ref":"main","stack":"STATIC"}"#,
                "tags",
            ),
            (&spec(r#","stack":"RAILPACK""#), "stack"),
            (&spec(r#","stack":"STATIC","surprise":1"#), "surprise"),
            (
                &spec(r#","stack":"STATIC","publish_dir":"../x""#),
                "publish_dir",
            ),
            (
                &spec(r#","stack":"STATIC","publish_dir":"/etc""#),
                "publish_dir",
            ),
            (&spec(r#","stack":"STATIC","publish_dir":7"#), "publish_dir"),
            (&spec(r#","stack":"STATIC","dockerfile":"x""#), "dockerfile"),
            (
                &spec(r#","stack":"STATIC","base_image":"Bad Image""#),
                "base_image",
            ),
            (
                &spec(r#","stack":"STATIC","static_root":"html""#),
                "static_root",
            ),
            (
                &spec(r#","stack":"DOCKERFILE","dockerfile":"../../etc/passwd""#),
                "dockerfile",
            ),
            (&spec(r#","stack":"DOCKERFILE","context":"/""#), "context"),
            (
                &spec(r#","stack":"DOCKERFILE","build_args":{"1X":"v"}"#),
                "build_args",
            ),
            (
                &spec(r#","stack":"DOCKERFILE","publish_dir":"d""#),
                "publish_dir",
            ),
            (
                r#"{"repo":"file:///r","ref":"main","stack":"STATIC","tags":[]}"#,
                "tags",
            ),
            (
                r#"{"repo":"file:///r","ref":"main","stack":"STATIC","tags":["UPPER"]}"#,
                "tags[0]",
            ),
            (
                r#"{"repo":"file:///r","ref":"--upload-pack=x","stack":"STATIC","tags":["a"]}"#,
                "ref",
            ),
            (
                r#"{"repo":"ssh://h/r","ref":"main","stack":"STATIC","tags":["a"]}"#,
                "repo",
            ),
        ];
        for (text, field) in cases {
            let err = parse_spec(text).unwrap_err();
            assert!(err.contains(field), "{text}: {err:?} does not name {field}");
        }
    }

    #[test]
    fn spec_parser_never_panics_on_truncated_input() {
        let full = spec(r#","stack":"DOCKERFILE","build_args":{"A":"b"}"#);
        for end in 0..full.len() {
            let _ = parse_spec(&full[..end]);
        }
    }
}
