//! The appliance image: imported on the spot from the embedded context,
//! labelled with the bundle's sha256 (every embedded binary). Same label:
//! reuse; different or absent: rebuild.

use std::collections::HashMap;

use bollard::query_parameters::{
    ListImagesOptionsBuilder, RemoveImageOptionsBuilder, TagImageOptionsBuilder,
};
use coolify_engine_raw as raw;

use super::embedded::{Bundle, CONTAINERFILE, COOLD, KNOWN_BINARIES};
use super::labels;
use super::ApplianceError;
use crate::engine::{is_conflict, is_not_found, Engine};

/// What happened to the image.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageAction {
    Reused,
    Built,
    /// Present with other binaries; built anew.
    Rebuilt,
}

/// `localhost/coolify-cp:0.1.0` → `localhost/coolify-cp`.
pub fn repo_of(image: &str) -> &str {
    match image.rfind(':') {
        Some(i) if !image[i..].contains('/') => &image[..i],
        _ => image,
    }
}

/// Ensures `image` exists with the bundle's hash; returns its id and the
/// action.
pub async fn ensure(
    engine: &Engine,
    image: &str,
    bundle: &Bundle,
) -> Result<(String, ImageAction), ApplianceError> {
    let action = match engine.docker.inspect_image(image).await {
        Ok(found) => {
            let hash = found
                .config
                .as_ref()
                .and_then(|c| c.labels.as_ref())
                .and_then(|l| l.get(labels::BUNDLE_SHA256));
            if hash.map(String::as_str) == Some(bundle.sha256) {
                return Ok((found.id.unwrap_or_default(), ImageAction::Reused));
            }
            ImageAction::Rebuilt
        }
        Err(e) if is_not_found(&e) => ImageAction::Built,
        Err(e) => return Err(e.into()),
    };
    build(engine, image, bundle).await?;
    let id = engine
        .docker
        .inspect_image(image)
        .await?
        .id
        .unwrap_or_default();
    Ok((id, action))
}

/// How the embedded Containerfile becomes an import: `FROM scratch`, then
/// `COPY <binary> <target>` lines, then instructions the engine's import
/// applies as `changes`.
#[derive(Debug, PartialEq, Eq)]
pub struct ImportSpec {
    /// `(binary name, path in the image without the leading /)`.
    pub copies: Vec<(String, String)>,
    pub changes: Vec<String>,
}

/// Instructions an import can apply (Docker's `changes` list, plus
/// STOPSIGNAL which Podman honours).
const IMPORTABLE: [&str; 9] = [
    "CMD",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "LABEL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// Reads the appliance Containerfile. Anything an import cannot express
/// (RUN, another base, files other than single binaries) is an error, so
/// the file and the image can never silently differ.
pub fn import_spec(containerfile: &str) -> Result<ImportSpec, String> {
    let mut lines = containerfile
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'));
    if !lines
        .next()
        .is_some_and(|l| l.eq_ignore_ascii_case("FROM scratch"))
    {
        return Err("the appliance Containerfile must start with FROM scratch".into());
    }
    let mut copies: Vec<(String, String)> = Vec::new();
    let mut changes = Vec::new();
    for line in lines {
        let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let word = word.to_ascii_uppercase();
        match word.as_str() {
            "COPY" => match rest.split_whitespace().collect::<Vec<_>>().as_slice() {
                [name, target]
                    if KNOWN_BINARIES.contains(name) && !copies.iter().any(|(n, _)| n == name) =>
                {
                    copies.push((
                        name.to_string(),
                        target.trim_start_matches('/').to_string(),
                    ))
                }
                _ => {
                    return Err(format!(
                        "unsupported COPY {rest:?}: only `COPY <binary> <path>`, once per binary of {KNOWN_BINARIES:?}"
                    ))
                }
            },
            w if IMPORTABLE.contains(&w) => changes.push(format!("{word} {}", rest.trim())),
            _ => {
                return Err(format!(
                    "unsupported instruction {word} in the appliance Containerfile"
                ))
            }
        }
    }
    if !copies.iter().any(|(n, _)| n == COOLD) {
        return Err(format!(
            "the appliance Containerfile has no `COPY {COOLD} <path>`"
        ));
    }
    Ok(ImportSpec { copies, changes })
}

/// File in the image naming the image reference it was made for.
const IMAGE_REF_FILE: &str = ".coolify-image";

/// A root filesystem holding each embedded binary at its target path and
/// the image reference (a binary this CLI lacks is left out). The reference makes each instance's layer its own: Podman 4.3
/// deduplicates identical layers, and removing one instance's image while
/// another imports the same layer fails that import ("layer not known").
fn rootfs_tar(spec: &ImportSpec, bundle: &Bundle, image: &str) -> Result<Vec<u8>, ApplianceError> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut add = |path: &str, data: &[u8], mode: u32| {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_mtime(0);
        header.set_cksum();
        tar.append_data(&mut header, path, data)
    };
    let packed = spec
        .copies
        .iter()
        .filter_map(|(name, target)| bundle.get(name).map(|b| (target, b)))
        .try_for_each(|(target, b)| add(target, b.bytes, 0o755))
        .and_then(|_| add(IMAGE_REF_FILE, image.as_bytes(), 0o644));
    packed
        .and_then(|_| tar.into_inner())
        .map_err(|e| ApplianceError::Build(format!("packing the root filesystem: {e}")))
}

/// Imports the image (one layer, no parent, no intermediate images: nothing
/// another build or prune can share or remove from under it), then tags it.
///
/// An import rather than a build because Podman 4.3 builds leave parent
/// images that a concurrent prune removes while another inspect reads them
/// ("image not known"), and an import is faster. The raw call is needed
/// because Podman wants one `changes` parameter per instruction, which
/// bollard joins into one.
async fn build(engine: &Engine, image: &str, bundle: &Bundle) -> Result<(), ApplianceError> {
    let spec = import_spec(CONTAINERFILE).map_err(ApplianceError::Build)?;
    let mut changes = spec.changes.clone();
    for (k, v) in [
        (labels::COMPONENT, labels::COMPONENT_CP),
        (labels::COOLD_SHA256, bundle.coold_sha256()),
        (labels::BUNDLE_SHA256, bundle.sha256),
        (labels::IMAGE_REPO, repo_of(image)),
        (labels::VERSION, env!("CARGO_PKG_VERSION")),
    ] {
        changes.push(format!("LABEL {k}=\"{v}\""));
    }
    // `repo` with the tag names the image in the import itself (Docker's
    // API allows a tag in it; Podman 4.3 honours that, not `tag`), so it is
    // never an untagged image that a concurrent `image prune` could remove
    // before the tag call below.
    let mut query = format!("fromSrc=-&repo={}", raw::percent_encode(image));
    for c in &changes {
        query.push_str("&changes=");
        query.push_str(&raw::percent_encode(c));
    }
    let path = raw::compat_path(&format!("/images/create?{query}"));
    let body = rootfs_tar(&spec, bundle, image)?;
    let (status, answer) =
        raw::post(&engine.socket, &path, "application/x-tar", body.into()).await?;
    let text = String::from_utf8_lossy(&answer);
    if status != 200 {
        return Err(ApplianceError::Build(format!(
            "import answered {status}: {text}"
        )));
    }
    // The answer is a JSON progress stream; the last object carries the id
    // or an error.
    let mut id = None;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| ApplianceError::Build(format!("import answered {line:?}: {e}")))?;
        if let Some(err) = v.get("error").and_then(|e| e.as_str()) {
            return Err(ApplianceError::Build(err.to_string()));
        }
        if let Some(i) = v.get("id").and_then(|i| i.as_str()) {
            id = Some(i.to_string());
        }
    }
    let id =
        id.ok_or_else(|| ApplianceError::Build(format!("import answered no image id: {text}")))?;
    let (repo, tag) = image.rsplit_once(':').unwrap_or((image, "latest"));
    engine
        .docker
        .tag_image(
            &id,
            Some(TagImageOptionsBuilder::new().repo(repo).tag(tag).build()),
        )
        .await?;
    Ok(())
}

/// How often `prune_stale` lists again when an image vanished mid-list.
const LIST_ATTEMPTS: u32 = 5;

/// Removes appliance images of the same repository built from other
/// binaries.
/// Images still used by a container are left (the engine refuses, 409).
pub async fn prune_stale(
    engine: &Engine,
    image: &str,
    keep_sha256: &str,
) -> Result<Vec<String>, ApplianceError> {
    let filters = HashMap::from([(
        "label",
        vec![format!("{}={}", labels::IMAGE_REPO, repo_of(image))],
    )]);
    let options = ListImagesOptionsBuilder::new().filters(&filters).build();
    // Podman 4.3 reads every image while listing, and fails the whole list
    // (500 "image not known") when another process removes one meanwhile;
    // a new list no longer sees it.
    let mut attempts = 0;
    let list = loop {
        attempts += 1;
        match engine.docker.list_images(Some(options.clone())).await {
            Err(e) if attempts < LIST_ATTEMPTS && e.to_string().contains("image not known") => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            other => break other?,
        }
    };
    let mut removed = Vec::new();
    for img in list {
        if img.labels.get(labels::BUNDLE_SHA256).map(String::as_str) == Some(keep_sha256) {
            continue;
        }
        match engine
            .docker
            .remove_image(
                &img.id,
                Some(RemoveImageOptionsBuilder::new().build()),
                None,
            )
            .await
        {
            Ok(_) => removed.push(img.id),
            Err(e) if is_conflict(&e) || is_not_found(&e) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(removed)
}

/// Removes every appliance image of this repository (`cp down --purge`).
pub async fn remove_all(engine: &Engine, image: &str) -> Result<Vec<String>, ApplianceError> {
    prune_stale(engine, image, "").await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_containerfile_is_importable() {
        let spec = import_spec(CONTAINERFILE).unwrap();
        let names: Vec<&str> = spec.copies.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["coold", "coolify-broker", "coolify-builder"]);
        assert_eq!(spec.copies[0].1, "coold");
        assert!(
            spec.changes
                .contains(&"ENTRYPOINT [\"/coold\"]".to_string()),
            "{spec:?}"
        );
    }

    #[test]
    fn instructions_an_import_cannot_apply_are_refused() {
        assert!(import_spec("FROM alpine\nCOPY coold /coold").is_err());
        assert!(import_spec("FROM scratch\nCOPY coold /coold\nRUN true").is_err());
        assert!(
            import_spec("FROM scratch\nCOPY other /x").is_err(),
            "no coold"
        );
        assert!(import_spec("FROM scratch\nCOPY coold /a\nCOPY coold /b").is_err());
        assert!(import_spec("FROM scratch\nCOPY dir/coold /coold").is_err());
        assert!(import_spec("FROM scratch\nCOPY coold a b").is_err());
        assert!(import_spec("FROM scratch\nUSER 0").is_err());
    }

    #[test]
    fn repo_strips_only_the_tag() {
        assert_eq!(
            repo_of("localhost/coolify-cp:0.1.0"),
            "localhost/coolify-cp"
        );
        assert_eq!(
            repo_of("localhost:5000/coolify-cp"),
            "localhost:5000/coolify-cp"
        );
        assert_eq!(
            repo_of("localhost:5000/coolify-cp:1"),
            "localhost:5000/coolify-cp"
        );
    }
}
