//! Capacity routing for builds: which connected `builder` host gets the next
//! build. Pure: no I/O, no clocks; callers map the decision to side effects
//! (pushing the frame, answering 503).

/// One connected host as the router sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate<'a> {
    pub host_id: &'a str,
    pub has_builder: bool,
    /// Builds the host runs at once (from its Hello).
    pub capacity: u32,
    /// Builds the broker has routed to it that have not landed yet.
    pub running: u32,
}

impl Candidate<'_> {
    fn free(&self) -> u32 {
        self.capacity.saturating_sub(self.running)
    }
}

/// The builder host with the most free capacity; ties go to the smallest
/// host id so the choice is deterministic. `None` when no builder has a
/// free slot (the caller answers 503).
pub fn pick_builder<'a>(candidates: &[Candidate<'a>]) -> Option<&'a str> {
    candidates
        .iter()
        .filter(|c| c.has_builder && c.free() > 0)
        .max_by(|a, b| a.free().cmp(&b.free()).then(b.host_id.cmp(a.host_id)))
        .map(|c| c.host_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(host_id: &str, has_builder: bool, capacity: u32, running: u32) -> Candidate<'_> {
        Candidate {
            host_id,
            has_builder,
            capacity,
            running,
        }
    }

    #[test]
    fn most_free_capacity_wins_not_the_first() {
        let hosts = [c("a", true, 2, 1), c("b", true, 4, 1), c("c", true, 3, 0)];
        assert_eq!(pick_builder(&hosts), Some("b"));
    }

    #[test]
    fn hosts_without_the_capability_are_never_chosen() {
        let hosts = [c("a", false, 8, 0), c("b", true, 1, 0)];
        assert_eq!(pick_builder(&hosts), Some("b"));
    }

    #[test]
    fn full_or_absent_builders_yield_none() {
        assert_eq!(pick_builder(&[]), None);
        assert_eq!(
            pick_builder(&[c("a", true, 2, 2), c("b", false, 4, 0)]),
            None
        );
        assert_eq!(pick_builder(&[c("a", true, 0, 0)]), None);
    }

    #[test]
    fn ties_go_to_the_smallest_host_id() {
        let hosts = [c("z", true, 2, 0), c("m", true, 2, 0), c("q", true, 2, 0)];
        assert_eq!(pick_builder(&hosts), Some("m"));
    }

    #[test]
    fn over_committed_host_counts_as_full() {
        assert_eq!(pick_builder(&[c("a", true, 1, 5)]), None);
    }
}
