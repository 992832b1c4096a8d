//! Lenient reads of libpod's container inspect (the compat one has no
//! `OCIRuntime`, and bollard's models reject Podman-only states), turned
//! into our [`ContainerInfo`].

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

use super::types::{ContainerInfo, ContainerState};
use super::{check_id, ContainerError};
use crate::labels::{MANAGED_LABEL, NAMESPACE_LABEL};
use crate::podman::{raw, Engine, EngineError};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct LibpodContainer {
    pub id: String,
    pub name: String,
    pub image_name: String,
    pub created: String,
    pub restart_count: i64,
    #[serde(rename = "OCIRuntime")]
    pub oci_runtime: String,
    pub state: LibpodState,
    pub config: LibpodConfig,
    pub network_settings: LibpodNetworkSettings,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct LibpodState {
    pub status: String,
    pub running: bool,
    pub exit_code: i64,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
    pub health: Option<LibpodHealth>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct LibpodHealth {
    pub status: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct LibpodConfig {
    pub labels: Option<HashMap<String, String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct LibpodNetworkSettings {
    pub networks: Option<HashMap<String, LibpodEndpoint>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct LibpodEndpoint {
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
}

impl LibpodContainer {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.config.labels.as_ref()?.get(key).map(String::as_str)
    }

    pub fn into_info(self) -> ContainerInfo {
        let labels: BTreeMap<String, String> =
            self.config.labels.unwrap_or_default().into_iter().collect();
        ContainerInfo {
            id: self.id,
            name: self.name.trim_start_matches('/').to_string(),
            image: self.image_name,
            state: ContainerState {
                status: self.state.status,
                running: self.state.running,
                exit_code: self.state.exit_code,
                started_at: self.state.started_at,
                finished_at: self.state.finished_at,
                health: self
                    .state
                    .health
                    .map(|h| h.status)
                    .filter(|s| !s.is_empty()),
                error: self.state.error,
            },
            runtime: self.oci_runtime,
            created: self.created,
            restart_count: self.restart_count,
            managed: labels.get(MANAGED_LABEL).map(String::as_str) == Some("true"),
            namespace: labels.get(NAMESPACE_LABEL).cloned(),
            labels,
            networks: self
                .network_settings
                .networks
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.ip_address))
                .collect(),
        }
    }
}

/// Reads a container by id or name; 404 when absent.
pub(crate) async fn read(engine: &Engine, id: &str) -> Result<LibpodContainer, EngineError> {
    // `id` passed check_id: it cannot change the URL.
    let path = format!("{}/containers/{id}/json", raw::LIBPOD);
    let what = format!("container {id}");
    raw::get_json_at::<LibpodContainer>(&engine.socket, &path)
        .await
        .map_err(|e| EngineError::classify_raw(e, &what))?
        .ok_or(EngineError::NotFound { what })
}

/// `GET /containers/{id}`: any container, managed or not.
pub async fn inspect(engine: &Engine, id: &str) -> Result<ContainerInfo, ContainerError> {
    check_id("id", id)?;
    Ok(read(engine, id).await?.into_info())
}
