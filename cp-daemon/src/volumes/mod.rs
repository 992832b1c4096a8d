//! Volume verbs: create, inspect, delete. Through the compat API with
//! lenient reads: bollard's `Volume` model requires fields Podman may leave
//! out, which would turn a good answer into an error.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::containers::check_id;
use crate::labels::{MANAGED_LABEL, NAMESPACE_LABEL};
use crate::podman::{raw, Engine, EngineError, InvalidField};

/// Why a volume verb failed.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error(transparent)]
    Invalid(#[from] InvalidField),
    /// The volume is not the agent's to change.
    #[error("{}", .0.message)]
    Denied(InvalidField),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// `POST /volumes`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateVolume {
    /// Volume name, `[A-Za-z0-9][A-Za-z0-9_.-]*`.
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Tenancy namespace, recorded as the `coolify.namespace` label.
    #[serde(default)]
    pub namespace: Option<String>,
}

/// A volume as the agent reports it.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct VolumeInfo {
    pub name: String,
    pub mountpoint: String,
    pub created_at: String,
    pub labels: BTreeMap<String, String>,
    pub managed: bool,
    pub namespace: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct EngineVolume {
    name: String,
    mountpoint: String,
    created_at: String,
    labels: Option<BTreeMap<String, String>>,
}

impl From<EngineVolume> for VolumeInfo {
    fn from(v: EngineVolume) -> Self {
        let labels = v.labels.unwrap_or_default();
        VolumeInfo {
            name: v.name,
            mountpoint: v.mountpoint,
            created_at: v.created_at,
            managed: labels.get(MANAGED_LABEL).map(String::as_str) == Some("true"),
            namespace: labels.get(NAMESPACE_LABEL).cloned(),
            labels,
        }
    }
}

fn engine_err(name: &str) -> impl Fn(raw::RawError) -> VolumeError + '_ {
    move |e| VolumeError::Engine(EngineError::classify_raw(e, &format!("volume {name}")))
}

pub async fn create(engine: &Engine, req: &CreateVolume) -> Result<VolumeInfo, VolumeError> {
    check_id("name", &req.name)?;
    if let Some(ns) = &req.namespace {
        check_id("namespace", ns)?;
    }
    let mut labels = req.labels.clone();
    for k in labels.keys() {
        if k.is_empty() || k.contains('\0') || k == MANAGED_LABEL || k == NAMESPACE_LABEL {
            return Err(VolumeError::Invalid(InvalidField::new(
                format!("labels.{k}"),
                "label keys must be non-empty and not the agent's own",
            )));
        }
    }
    labels.insert(MANAGED_LABEL.into(), "true".into());
    if let Some(ns) = &req.namespace {
        labels.insert(NAMESPACE_LABEL.into(), ns.clone());
    }
    // Podman's compat create answers 201 for an existing name too; refuse
    // that so two tenants cannot share a volume by accident.
    if read(engine, &req.name).await.is_ok() {
        return Err(VolumeError::Engine(EngineError::Conflict(format!(
            "volume {} already exists",
            req.name
        ))));
    }
    let body = serde_json::json!({ "Name": req.name, "Labels": labels });
    let bytes = raw::call(
        &engine.socket,
        http::Method::POST,
        &format!("{}/volumes/create", raw::COMPAT),
        Some(body.to_string().into_bytes()),
    )
    .await
    .map_err(engine_err(&req.name))?;
    let v: EngineVolume = serde_json::from_slice(&bytes)
        .map_err(|e| EngineError::Failed(format!("volume create answer: {e}")))?;
    Ok(v.into())
}

async fn read(engine: &Engine, name: &str) -> Result<VolumeInfo, VolumeError> {
    check_id("name", name)?;
    let path = format!("{}/volumes/{name}", raw::COMPAT);
    let v: EngineVolume = raw::get_json_at(&engine.socket, &path)
        .await
        .map_err(engine_err(name))?
        .ok_or_else(|| EngineError::NotFound {
            what: format!("volume {name}"),
        })?;
    Ok(v.into())
}

pub async fn inspect(engine: &Engine, name: &str) -> Result<VolumeInfo, VolumeError> {
    read(engine, name).await
}

/// `DELETE /volumes/{name}` (`?force=true` also removes containers using
/// it, as the engine does). Only managed volumes.
pub async fn delete(engine: &Engine, name: &str, force: bool) -> Result<(), VolumeError> {
    let v = read(engine, name).await?;
    if !v.managed {
        return Err(VolumeError::Denied(InvalidField::new(
            "name",
            format!("volume {name} is not managed by coolify"),
        )));
    }
    raw::call(
        &engine.socket,
        http::Method::DELETE,
        &format!("{}/volumes/{name}?force={force}", raw::COMPAT),
        None,
    )
    .await
    .map_err(engine_err(name))?;
    Ok(())
}
