//! Reconcile planning: what the engine runs now vs the host's rows → the
//! writes that make the rows true. Pure: no I/O; the sync applies the plan.
//!
//! Invariant: when nothing changed, the plan is empty (nothing is written).

use std::collections::HashMap;

use super::endpoint::{Change, Endpoint, Observed};

/// The changes that turn `rows` (this host's rows in the store) into
/// `observed` (what the engine reports now).
pub fn plan(observed: &[Observed], rows: &[Endpoint]) -> Vec<Change> {
    let by_id: HashMap<&str, &Endpoint> =
        rows.iter().map(|r| (r.container_id.as_str(), r)).collect();
    let mut changes: Vec<Change> = observed
        .iter()
        .filter(|o| {
            by_id
                .get(o.container_id.as_str())
                .is_none_or(|r| r.observed() != **o)
        })
        .cloned()
        .map(Change::Upsert)
        .collect();
    let seen: std::collections::HashSet<&str> =
        observed.iter().map(|o| o.container_id.as_str()).collect();
    changes.extend(
        rows.iter()
            .filter(|r| !seen.contains(r.container_id.as_str()))
            .map(|r| Change::Delete {
                container_id: r.container_id.clone(),
            }),
    );
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(id: &str, state: &str, health: &str) -> Observed {
        Observed {
            container_id: id.into(),
            container_name: format!("c-{id}"),
            namespace: "default".into(),
            container_ip: "198.18.0.2".into(),
            state: state.into(),
            health: health.into(),
        }
    }

    fn row(o: &Observed) -> Endpoint {
        Endpoint {
            container_id: o.container_id.clone(),
            container_name: o.container_name.clone(),
            namespace: o.namespace.clone(),
            host_mgmt_ip: "100.64.0.5".into(),
            container_ip: o.container_ip.clone(),
            state: o.state.clone(),
            health: o.health.clone(),
            updated_at: 1,
            service_id: "web".into(),
            ports: vec![80],
        }
    }

    #[test]
    fn nothing_changed_plans_nothing() {
        let observed: Vec<Observed> = (0..500)
            .map(|i| obs(&i.to_string(), "running", "healthy"))
            .collect();
        let rows: Vec<Endpoint> = observed.iter().map(row).collect();
        assert!(plan(&observed, &rows).is_empty());
    }

    #[test]
    fn new_container_is_upserted() {
        let o = obs("a", "running", "unknown");
        assert_eq!(plan(std::slice::from_ref(&o), &[]), vec![Change::Upsert(o)]);
    }

    #[test]
    fn stopped_container_is_marked_not_deleted() {
        let before = obs("a", "running", "healthy");
        let after = obs("a", "exited", "healthy");
        assert_eq!(
            plan(std::slice::from_ref(&after), &[row(&before)]),
            vec![Change::Upsert(after)]
        );
    }

    #[test]
    fn health_change_is_written() {
        let before = obs("a", "running", "healthy");
        let after = obs("a", "running", "unhealthy");
        assert_eq!(
            plan(std::slice::from_ref(&after), &[row(&before)]),
            vec![Change::Upsert(after)]
        );
    }

    #[test]
    fn gone_container_is_deleted() {
        let before = obs("a", "running", "healthy");
        assert_eq!(
            plan(&[], &[row(&before)]),
            vec![Change::Delete {
                container_id: "a".into()
            }]
        );
    }
}
