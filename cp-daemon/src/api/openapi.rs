//! The OpenAPI document of the whole REST surface, generated with utoipa:
//! the paths come from the verb table (`api/verbs.rs`, each entry's own
//! attributes), the schemas and the security scheme from here. A test checks
//! that every documented path routes to a verb and that the checked-in
//! `docs/openapi.json` is current.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::error::ErrorBody;
use super::verbs::stubs::VerbPaths;
use crate::containers::types::{
    ContainerInfo, ContainerState, CreateContainer, Created, DeleteRequest, ExecOutput,
    ExecRequest, Healthcheck, HealthcheckResult, LogLine, Mount, MountKind, PortMapping, Protocol,
    RestartPolicy, StopRequest,
};
use crate::discovery::verbs::RegisterRequest;
use crate::discovery::Endpoint;
use crate::firewall::{
    BulkOutcome, BulkRequest, PortValue, ReconcileOutcome, ReconcileRequest, RuleList, RuleRequest,
    RuleView,
};
use crate::images::{ImageInfo, PullRequest, Pulled, RegistryAuth};
use crate::networks::{CreateNetwork, NetworkInfo, Subnet};
use crate::pools::verbs::{
    ClaimRequest, ClaimView, MappingView, PoolView, ReleaseRequest, ReleaseView, SyncRequest,
    SyncView, TenantStatus,
};
use crate::pools::workloads::{WorkloadList, WorkloadView};
use crate::volumes::{CreateVolume, VolumeInfo};
use crate::workloads::spec::{
    Deploy, Limits, OnRelease, PoolSpec, Resources, SpecHealthcheck, SpecPort, VolumeTarget,
    Volumes, WorkloadSpec,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "coold agent API",
        description = "The closed verb set of the per-host coolify agent. Every path needs `Authorization: Bearer <token>`; anything outside this document is 404. Errors are `{error, field?}`.",
        license(name = "Apache-2.0")
    ),
    components(schemas(
        ErrorBody, CreateContainer, PortMapping, Protocol, Mount, MountKind, RestartPolicy,
        Healthcheck, Created, StopRequest, DeleteRequest, ContainerInfo, ContainerState,
        ExecRequest, ExecOutput, LogLine, HealthcheckResult, PullRequest, RegistryAuth, Pulled,
        ImageInfo, CreateVolume, VolumeInfo, CreateNetwork, NetworkInfo, Subnet,
        RuleRequest, PortValue, RuleView, RuleList, BulkRequest, BulkOutcome, ReconcileRequest,
        ReconcileOutcome, RegisterRequest, Endpoint,
        WorkloadSpec, Volumes, VolumeTarget, SpecHealthcheck, SpecPort, Deploy, Resources, Limits,
        PoolSpec, OnRelease, WorkloadView, WorkloadList, PoolView, ClaimRequest, ClaimView,
        ReleaseRequest, ReleaseView, TenantStatus, SyncRequest, SyncView, MappingView
    )),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The whole document: the schemas and security here, every path from the
/// verb table's own entries.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi().merge_from(VerbPaths::openapi())
}

/// The document as served at `GET /api/v1/openapi.json`.
pub fn document_json() -> serde_json::Value {
    serde_json::to_value(document()).unwrap_or_default()
}

/// The document as checked in under `docs/openapi.json`.
pub fn document_pretty() -> String {
    let mut s = serde_json::to_string_pretty(&document_json()).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::super::verbs::Verb;
    use super::*;

    #[test]
    fn every_documented_path_is_a_verb_and_every_verb_is_documented() {
        let doc = document();
        let mut names = std::collections::BTreeSet::new();
        for (path, item) in doc.paths.paths.iter() {
            let concrete = path
                .replace("{id}", "web-1")
                .replace("{name}", "web-data")
                .replace("{ref}", "localhost/web:v2")
                .replace("{container_id}", "web-1")
                .replace("{tenant}", "t-1");
            let ops = [
                (http::Method::GET, item.get.is_some()),
                (http::Method::POST, item.post.is_some()),
                (http::Method::DELETE, item.delete.is_some()),
                (http::Method::PUT, item.put.is_some()),
            ];
            for (m, present) in ops {
                if present {
                    let verb = Verb::route(&m, &concrete)
                        .unwrap_or_else(|e| panic!("{m} {path} is documented but {e}"));
                    names.insert(verb.name());
                }
            }
        }
        // Every variant of the verb enum, counted by the compiler: a new
        // verb fails here until it is documented.
        assert_eq!(
            names.len(),
            <Verb as strum::EnumCount>::COUNT,
            "documented: {names:?}"
        );
    }

    #[test]
    fn checked_in_document_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json");
        let want = document_pretty();
        if std::env::var_os("COOLD_WRITE_OPENAPI").is_some() {
            std::fs::write(&path, &want).expect("write docs/openapi.json");
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "docs/openapi.json is stale: run `COOLD_WRITE_OPENAPI=1 cargo test -p coold openapi` and commit it"
        );
    }
}
