//! What the engine runs, as the sync sees it: managed containers only, each
//! with its namespace, address, state and health. Pure.

use std::collections::HashMap;

use crate::config::Namespace;
use crate::labels::MANAGED_LABEL;
use crate::podman::raw::ContainerSummaryView;

use super::endpoint::Observed;

/// Label naming a container's namespace; absent means `default`. The
/// same label the container verbs set.
use crate::labels::NAMESPACE_LABEL;

/// Health from the engine's status line: Docker and Podman append
/// `(healthy)`, `(unhealthy)` or `(starting)`/`(health: starting)`;
/// nothing means the container has no healthcheck.
pub fn health_from_status(status: &str) -> &'static str {
    let s = status.to_ascii_lowercase();
    if s.contains("(unhealthy)") {
        "unhealthy"
    } else if s.contains("(healthy)") {
        "healthy"
    } else if s.contains("starting)") {
        "starting"
    } else {
        "unknown"
    }
}

/// `health`: last known health per container id (the list's status line
/// is only a fallback: Podman 4.3 leaves health out of it).
pub fn observe(
    list: &[ContainerSummaryView],
    namespaces: &[Namespace],
    health: &HashMap<String, String>,
) -> Vec<Observed> {
    list.iter()
        .filter(|c| {
            c.labels
                .as_ref()
                .and_then(|l| l.get(MANAGED_LABEL))
                .is_some_and(|v| v == "true")
        })
        .map(|c| {
            let namespace = c
                .labels
                .as_ref()
                .and_then(|l| l.get(NAMESPACE_LABEL))
                .cloned()
                .unwrap_or_else(|| "default".into());
            Observed {
                container_id: c.id.clone(),
                container_name: c
                    .names
                    .first()
                    .map(|n| n.trim_start_matches('/').to_string())
                    .unwrap_or_default(),
                container_ip: address(c, namespaces, &namespace),
                namespace,
                state: c.state.clone(),
                health: match health.get(&c.id) {
                    Some(h) if c.state == "running" => h.clone(),
                    _ => health_from_status(&c.status).into(),
                },
            }
        })
        .collect()
}

/// The address on the namespace's network when the container has one,
/// else its first address.
fn address(c: &ContainerSummaryView, namespaces: &[Namespace], namespace: &str) -> String {
    let Some(nets) = c
        .network_settings
        .as_ref()
        .and_then(|n| n.networks.as_ref())
    else {
        return String::new();
    };
    let ns_net = namespaces
        .iter()
        .find(|n| n.name == namespace)
        .map(|n| n.network.as_str());
    if let Some(ip) = ns_net
        .and_then(|n| nets.get(n))
        .map(|n| n.ip_address.clone())
        .filter(|ip| !ip.is_empty())
    {
        return ip;
    }
    let mut names: Vec<&String> = nets.keys().collect();
    names.sort();
    names
        .into_iter()
        .filter_map(|n| nets.get(n))
        .map(|n| n.ip_address.clone())
        .find(|ip| !ip.is_empty())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(json: &str) -> ContainerSummaryView {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn only_managed_containers_are_observed() {
        let list = vec![
            summary(
                r#"{"Id":"a","Names":["/web"],"State":"running","Status":"Up 3 seconds (healthy)","Labels":{"coolify.managed":"true","coolify.namespace":"alpha"},"NetworkSettings":{"Networks":{"coolify-alpha-mesh":{"IPAddress":"198.18.1.5"},"podman":{"IPAddress":"10.88.0.5"}}}}"#,
            ),
            summary(r#"{"Id":"b","Names":["/other"],"State":"running","Status":"Up","Labels":{}}"#),
        ];
        let ns = vec![Namespace {
            name: "alpha".into(),
            network: "coolify-alpha-mesh".into(),
            gateway: "198.18.1.1".parse().unwrap(),
        }];
        let got = observe(&list, &ns, &HashMap::new());
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].container_name, "web");
        assert_eq!(got[0].namespace, "alpha");
        assert_eq!(got[0].container_ip, "198.18.1.5");
        assert_eq!(got[0].health, "healthy");
    }

    #[test]
    fn known_health_wins_over_the_status_line_while_running() {
        let list = vec![summary(
            r#"{"Id":"a","Names":["/web"],"State":"running","Status":"Up 3 seconds","Labels":{"coolify.managed":"true"}}"#,
        )];
        let known = HashMap::from([("a".to_string(), "unhealthy".to_string())]);
        assert_eq!(observe(&list, &[], &known)[0].health, "unhealthy");
        assert_eq!(observe(&list, &[], &HashMap::new())[0].health, "unknown");
    }

    #[test]
    fn health_is_read_from_the_status_line() {
        assert_eq!(health_from_status("Up 2 seconds (healthy)"), "healthy");
        assert_eq!(health_from_status("Up 2 seconds (unhealthy)"), "unhealthy");
        assert_eq!(
            health_from_status("Up 1 second (health: starting)"),
            "starting"
        );
        assert_eq!(health_from_status("Up 1 second (starting)"), "starting");
        assert_eq!(health_from_status("Exited (0) 3 seconds ago"), "unknown");
    }
}
