//! The appliance image: built on the spot from the embedded context through
//! the engine's build API, labelled with coold's sha256. Same label: reuse;
//! different or absent: rebuild.

use std::collections::HashMap;

use bollard::query_parameters::{
    BuildImageOptionsBuilder, ListImagesOptionsBuilder, RemoveImageOptionsBuilder,
};
use futures_util::StreamExt;

use super::embedded::{EmbeddedCoold, CONTAINERFILE};
use super::labels;
use super::ApplianceError;
use crate::engine::{is_conflict, is_not_found, Engine};

/// What happened to the image.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageAction {
    Reused,
    Built,
    /// Present with another coold hash; built anew.
    Rebuilt,
}

/// `localhost/coolify-cp:0.1.0` → `localhost/coolify-cp`.
pub fn repo_of(image: &str) -> &str {
    match image.rfind(':') {
        Some(i) if !image[i..].contains('/') => &image[..i],
        _ => image,
    }
}

/// Ensures `image` exists with coold's hash; returns its id and the action.
pub async fn ensure(
    engine: &Engine,
    image: &str,
    coold: &EmbeddedCoold,
) -> Result<(String, ImageAction), ApplianceError> {
    let action = match engine.docker.inspect_image(image).await {
        Ok(found) => {
            let hash = found
                .config
                .as_ref()
                .and_then(|c| c.labels.as_ref())
                .and_then(|l| l.get(labels::COOLD_SHA256));
            if hash.map(String::as_str) == Some(coold.sha256) {
                return Ok((found.id.unwrap_or_default(), ImageAction::Reused));
            }
            ImageAction::Rebuilt
        }
        Err(e) if is_not_found(&e) => ImageAction::Built,
        Err(e) => return Err(e.into()),
    };
    build(engine, image, coold).await?;
    let id = engine
        .docker
        .inspect_image(image)
        .await?
        .id
        .unwrap_or_default();
    Ok((id, action))
}

fn context_tar(coold: &EmbeddedCoold) -> Result<Vec<u8>, ApplianceError> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8], mode: u32| {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_mtime(0);
        header.set_cksum();
        tar.append_data(&mut header, name, data)
    };
    add("Containerfile", CONTAINERFILE.as_bytes(), 0o644)
        .and_then(|_| add("coold", coold.bytes, 0o755))
        .map_err(|e| ApplianceError::Build(format!("packing the build context: {e}")))?;
    tar.into_inner()
        .map_err(|e| ApplianceError::Build(format!("packing the build context: {e}")))
}

async fn build(engine: &Engine, image: &str, coold: &EmbeddedCoold) -> Result<(), ApplianceError> {
    let context = context_tar(coold)?;
    let labels: HashMap<&str, &str> = HashMap::from([
        (labels::COMPONENT, labels::COMPONENT_CP),
        (labels::COOLD_SHA256, coold.sha256),
        (labels::IMAGE_REPO, repo_of(image)),
        (labels::VERSION, env!("CARGO_PKG_VERSION")),
    ]);
    let options = BuildImageOptionsBuilder::new()
        .dockerfile("Containerfile")
        .t(image)
        .labels(&labels)
        .rm(true)
        .forcerm(true)
        .build();
    let mut stream =
        engine
            .docker
            .build_image(options, None, Some(bollard::body_full(context.into())));
    let mut log = String::new();
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| ApplianceError::Build(format!("{e}\n{log}")))?;
        if let Some(err) = info.error_detail.and_then(|d| d.message) {
            return Err(ApplianceError::Build(format!("{err}\n{log}")));
        }
        if let Some(s) = info.stream {
            log.push_str(&s);
        }
    }
    Ok(())
}

/// Removes appliance images of the same repository built for another coold.
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
    let list = engine
        .docker
        .list_images(Some(
            ListImagesOptionsBuilder::new().filters(&filters).build(),
        ))
        .await?;
    let mut removed = Vec::new();
    for img in list {
        if img.labels.get(labels::COOLD_SHA256).map(String::as_str) == Some(keep_sha256) {
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
