//! Image verbs: pull, list, delete. Pull goes through bollard's create-image
//! stream; a registry the engine cannot reach is a 502 carrying the
//! registry's error. Reads are lenient (Podman's image JSON differs from
//! Docker's in places).

pub mod reference;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use bollard::auth::DockerCredentials;
use bollard::query_parameters::{CreateImageOptions, RemoveImageOptions};
use futures_util::StreamExt;

use crate::podman::{raw, Engine, EngineError, InvalidField};

/// Why an image verb failed.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(transparent)]
    Invalid(#[from] InvalidField),
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The registry the engine pulled from failed: its message.
    #[error("{0}")]
    Registry(String),
}

/// `POST /images/pull`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PullRequest {
    /// Image reference, e.g. `registry.example/tenant/web:v2`.
    #[serde(rename = "ref")]
    pub reference: String,
    /// Registry credentials; used for this pull only, never stored or logged.
    #[serde(default)]
    pub auth: Option<RegistryAuth>,
}

#[derive(Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistryAuth {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RegistryAuth({}, <redacted>)", self.username)
    }
}

/// Answer of a pull.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct Pulled {
    #[serde(rename = "ref")]
    pub reference: String,
    /// `sha256:…` repo digest when the registry gave one, else the image id.
    pub digest: String,
    pub id: String,
}

/// One local image.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct ImageInfo {
    pub id: String,
    pub tags: Vec<String>,
    pub digests: Vec<String>,
    pub size: i64,
    pub created: i64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct EngineImage {
    id: String,
    repo_tags: Option<Vec<String>>,
    repo_digests: Option<Vec<String>>,
    size: i64,
    created: serde_json::Value,
}

/// Checks an image reference: what may appear in one, nothing else.
pub fn check_ref(field: &str, r: &str) -> Result<(), InvalidField> {
    let ok = !r.is_empty()
        && r.len() <= 255
        && r.starts_with(|c: char| c.is_ascii_alphanumeric())
        && !r.contains("..")
        && r.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/:@".contains(c))
        // The grammar too (lowercase repository paths, tag and digest
        // shapes): Podman answers a 500 for what it cannot normalise
        // (found by the create fuzz: "SYS_ADMIN").
        && reference::is_valid(r);
    if ok {
        Ok(())
    } else {
        Err(InvalidField::new(
            field,
            format!("{field} must be an image reference such as localhost/tenant/web:v2"),
        ))
    }
}

pub async fn pull(engine: &Engine, req: &PullRequest) -> Result<Pulled, ImageError> {
    check_ref("ref", &req.reference)?;
    let creds = req.auth.as_ref().map(|a| DockerCredentials {
        username: Some(a.username.clone()),
        password: Some(a.password.clone()),
        ..Default::default()
    });
    let mut stream = engine.docker.create_image(
        Some(CreateImageOptions {
            from_image: Some(req.reference.clone()),
            ..Default::default()
        }),
        None,
        creds,
    );
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                if let Some(err) = info.error_detail.and_then(|d| d.message) {
                    return Err(ImageError::Registry(format!(
                        "pull {}: {err}",
                        req.reference
                    )));
                }
            }
            Err(e) => {
                return Err(
                    match EngineError::classify(e, &format!("image {}", req.reference)) {
                        EngineError::Unavailable(m) => {
                            ImageError::Engine(EngineError::Unavailable(m))
                        }
                        // The engine answers a registry failure as an error in
                        // or instead of the stream: the registry's message.
                        other => ImageError::Registry(format!("pull {}: {other}", req.reference)),
                    },
                );
            }
        }
    }
    let img = read(engine, &req.reference).await?;
    let digest = img
        .repo_digests
        .as_ref()
        .and_then(|d| d.first())
        .and_then(|d| d.split_once('@').map(|(_, dg)| dg.to_string()))
        .unwrap_or_else(|| img.id.clone());
    Ok(Pulled {
        reference: req.reference.clone(),
        digest,
        id: img.id,
    })
}

async fn read(engine: &Engine, reference: &str) -> Result<EngineImage, EngineError> {
    raw::get_json_at::<EngineImage>(
        &engine.socket,
        &format!("{}/images/{reference}/json", raw::COMPAT),
    )
    .await
    .map_err(|e| EngineError::classify_raw(e, &format!("image {reference}")))?
    .ok_or_else(|| EngineError::NotFound {
        what: format!("image {reference}"),
    })
}

/// `GET /images`: every local image. Images carry no ownership label (a
/// pull cannot add one), so unlike other lists this one is not filtered.
pub async fn list(engine: &Engine) -> Result<Vec<ImageInfo>, EngineError> {
    let all: Vec<EngineImage> =
        raw::get_json_at(&engine.socket, &format!("{}/images/json", raw::COMPAT))
            .await
            .map_err(|e| EngineError::classify_raw(e, "images"))?
            .unwrap_or_default();
    Ok(all
        .into_iter()
        .map(|i| ImageInfo {
            id: i.id,
            tags: i.repo_tags.unwrap_or_default(),
            digests: i.repo_digests.unwrap_or_default(),
            size: i.size,
            created: i.created.as_i64().unwrap_or_default(),
        })
        .collect())
}

/// `DELETE /images/{ref}` (`?force=true` removes it even when tagged
/// elsewhere or used by stopped containers).
pub async fn delete(engine: &Engine, reference: &str, force: bool) -> Result<(), ImageError> {
    check_ref("ref", reference)?;
    engine
        .docker
        .remove_image(
            reference,
            Some(RemoveImageOptions {
                force,
                noprune: false,
                platforms: None,
            }),
            None,
        )
        .await
        .map_err(|e| EngineError::classify(e, &format!("image {reference}")))?;
    Ok(())
}

#[cfg(test)]
mod check_ref_tests {
    use super::check_ref;

    #[test]
    fn uppercase_repositories_are_a_400_not_the_engines_500() {
        assert!(check_ref("image", "SYS_ADMIN").is_err());
        assert!(check_ref("image", "localhost/Web:v2").is_err());
        assert!(
            check_ref("image", "localhost/web:V2").is_ok(),
            "tags may hold capitals"
        );
        assert!(check_ref("image", "localhost/coolify-test-busybox:latest").is_ok());
        assert!(
            check_ref("image", "3af5a0666aef").is_ok(),
            "an image id prefix"
        );
    }
}
