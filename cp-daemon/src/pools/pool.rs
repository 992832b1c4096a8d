//! The pools' bookkeeping: which containers are idle, claimed, or being
//! made or released, per workload, and the decisions taken on it (which
//! container a claim gets, what the refill makes and retires).
//!
//! Pure: no I/O. The service applies the decisions.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// One pool container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub id: String,
    /// Hash of the spec it was made from.
    pub hash: String,
    /// When it last became idle.
    pub since: Instant,
}

/// A claimed member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub member: Member,
    pub claimed_at: u64,
}

/// One workload's pool.
#[derive(Debug, Default)]
pub struct PoolBook {
    pub idle: Vec<Member>,
    /// Tenant → its container.
    pub claimed: BTreeMap<String, Held>,
    /// Background warm-ups in flight (they become idle).
    pub making: u32,
    /// Cold claims and releases in flight: slots taken, not idle.
    pub busy: u32,
}

impl PoolBook {
    /// Every container counted against `max_size`.
    pub fn total(&self) -> u32 {
        self.idle.len() as u32 + self.claimed.len() as u32 + self.making + self.busy
    }
}

/// What a claim gets.
#[derive(Debug, PartialEq, Eq)]
pub enum Take {
    /// The tenant already holds this one.
    Existing(Held),
    /// An idle container, now reserved for the tenant (counted in `busy`).
    Warm(Member),
    /// None idle but room under `max_size`: a slot is reserved in `busy`.
    Cold,
    /// At `max_size` with nothing idle.
    Full { max: u32 },
    /// Another claim or release of this tenant is in progress.
    InFlight,
}

/// What a refill pass does for one workload.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Refill {
    /// Idle containers to remove (old spec, past idle timeout above min).
    pub retire: Vec<Member>,
    /// Containers to start making (already counted in `making`).
    pub make: u32,
}

/// Limits of one workload, from its spec.
#[derive(Debug, Clone, Copy)]
pub struct Limits<'a> {
    pub min: u32,
    pub max: u32,
    pub idle_timeout: Duration,
    pub hash: &'a str,
}

#[derive(Debug, Default)]
pub struct Book {
    pub pools: BTreeMap<String, PoolBook>,
    /// (workload, tenant) with a claim or release in progress.
    in_flight: BTreeSet<(String, String)>,
}

impl Book {
    pub fn pool(&mut self, workload: &str) -> &mut PoolBook {
        self.pools.entry(workload.to_string()).or_default()
    }

    /// Decides what a claim of `tenant` gets, reserving it.
    pub fn take(&mut self, workload: &str, tenant: &str, limits: Limits) -> Take {
        let key = (workload.to_string(), tenant.to_string());
        if self.in_flight.contains(&key) {
            return Take::InFlight;
        }
        let pool = self.pools.entry(workload.to_string()).or_default();
        if let Some(held) = pool.claimed.get(tenant) {
            return Take::Existing(held.clone());
        }
        // Newest first: the longest-idle ones are the ones to retire.
        let pick = pool
            .idle
            .iter()
            .enumerate()
            .filter(|(_, m)| m.hash == limits.hash)
            .max_by_key(|(_, m)| m.since)
            .map(|(i, _)| i);
        let take = match pick {
            Some(i) => Take::Warm(pool.idle.remove(i)),
            None if pool.total() < limits.max => Take::Cold,
            None => return Take::Full { max: limits.max },
        };
        pool.busy += 1;
        self.in_flight.insert(key);
        take
    }

    /// A claim finished: the member is the tenant's.
    pub fn claimed(&mut self, workload: &str, tenant: &str, held: Held) {
        self.done(workload, tenant);
        self.pool(workload).claimed.insert(tenant.to_string(), held);
    }

    /// A claim or release ended (either way): frees its slot.
    pub fn done(&mut self, workload: &str, tenant: &str) {
        self.in_flight
            .remove(&(workload.to_string(), tenant.to_string()));
        let pool = self.pool(workload);
        pool.busy = pool.busy.saturating_sub(1);
    }

    /// Starts a release: the tenant's container leaves `claimed` and holds
    /// a busy slot until [`Book::done`]. `None` when the tenant holds none.
    pub fn start_release(&mut self, workload: &str, tenant: &str) -> Option<Held> {
        let key = (workload.to_string(), tenant.to_string());
        if self.in_flight.contains(&key) {
            return None;
        }
        let pool = self.pools.get_mut(workload)?;
        let held = pool.claimed.remove(tenant)?;
        pool.busy += 1;
        self.in_flight.insert(key);
        Some(held)
    }

    pub fn in_flight(&self, workload: &str, tenant: &str) -> bool {
        self.in_flight
            .contains(&(workload.to_string(), tenant.to_string()))
    }

    /// The refill decision for one workload (`None` limits: the workload
    /// was deleted, so every idle container goes and none is made).
    pub fn refill(&mut self, workload: &str, limits: Option<Limits>, now: Instant) -> Refill {
        let pool = self.pools.entry(workload.to_string()).or_default();
        let Some(limits) = limits else {
            return Refill {
                retire: std::mem::take(&mut pool.idle),
                make: 0,
            };
        };
        let (keep, mut retire): (Vec<Member>, Vec<Member>) = std::mem::take(&mut pool.idle)
            .into_iter()
            .partition(|m| m.hash == limits.hash);
        pool.idle = keep;
        // Oldest first, while above min.
        pool.idle.sort_by_key(|m| m.since);
        while pool.idle.len() as u32 > limits.min
            && pool
                .idle
                .first()
                .is_some_and(|m| now.duration_since(m.since) >= limits.idle_timeout)
        {
            retire.push(pool.idle.remove(0));
        }
        let have = pool.idle.len() as u32 + pool.making;
        let room = limits.max.saturating_sub(pool.total());
        let make = limits.min.saturating_sub(have).min(room);
        pool.making += make;
        Refill { retire, make }
    }

    /// Takes out the idle members that were idle before `listed` yet are
    /// not among the running containers listed then (they crashed or were
    /// removed behind the agent's back): a claim must never get one.
    pub fn prune_idle(&mut self, running: &BTreeSet<String>, listed: Instant) -> Vec<Member> {
        let mut gone = Vec::new();
        for pool in self.pools.values_mut() {
            let (keep, dead): (Vec<Member>, Vec<Member>) = std::mem::take(&mut pool.idle)
                .into_iter()
                .partition(|m| m.since >= listed || running.contains(&m.id));
            pool.idle = keep;
            gone.extend(dead);
        }
        gone
    }

    /// A background warm-up finished.
    pub fn made(&mut self, workload: &str, member: Option<Member>) {
        let pool = self.pool(workload);
        pool.making = pool.making.saturating_sub(1);
        if let Some(m) = member {
            pool.idle.push(m);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str, hash: &str, since: Instant) -> Member {
        Member {
            name: name.into(),
            id: name.into(),
            hash: hash.into(),
            since,
        }
    }

    fn limits(min: u32, max: u32) -> Limits<'static> {
        Limits {
            min,
            max,
            idle_timeout: Duration::from_secs(60),
            hash: "h1",
        }
    }

    #[test]
    fn refill_makes_up_to_min_and_counts_what_is_in_flight() {
        let mut b = Book::default();
        let now = Instant::now();
        assert_eq!(b.refill("w", Some(limits(2, 5)), now).make, 2);
        // The two in flight count: nothing more to make.
        assert_eq!(b.refill("w", Some(limits(2, 5)), now).make, 0);
        b.made("w", Some(member("a", "h1", now)));
        b.made("w", None);
        assert_eq!(b.refill("w", Some(limits(2, 5)), now).make, 1);
    }

    #[test]
    fn claim_takes_warm_then_cold_then_is_full_at_max() {
        let mut b = Book::default();
        let now = Instant::now();
        b.pool("w").idle.push(member("a", "h1", now));
        assert_eq!(
            b.take("w", "t1", limits(1, 2)),
            Take::Warm(member("a", "h1", now))
        );
        b.claimed(
            "w",
            "t1",
            Held {
                member: member("a", "h1", now),
                claimed_at: 1,
            },
        );
        assert_eq!(b.take("w", "t2", limits(1, 2)), Take::Cold);
        // t2's cold claim holds the second slot: t3 is refused.
        assert_eq!(b.take("w", "t3", limits(1, 2)), Take::Full { max: 2 });
        // The same tenant again while its claim is in flight.
        assert_eq!(b.take("w", "t2", limits(1, 2)), Take::InFlight);
        // t1 again: the same container.
        assert!(
            matches!(b.take("w", "t1", limits(1, 2)), Take::Existing(h) if h.member.name == "a")
        );
    }

    #[test]
    fn refill_never_exceeds_max() {
        let mut b = Book::default();
        let now = Instant::now();
        for t in ["t1", "t2"] {
            b.pool("w").claimed.insert(
                t.into(),
                Held {
                    member: member(t, "h1", now),
                    claimed_at: 1,
                },
            );
        }
        assert_eq!(b.refill("w", Some(limits(2, 3)), now).make, 1);
    }

    #[test]
    fn idle_past_timeout_retires_down_to_min_oldest_first() {
        let mut b = Book::default();
        let start = Instant::now();
        let later = start + Duration::from_secs(120);
        b.pool("w").idle.extend([
            member("old", "h1", start),
            member("older", "h1", start - Duration::from_secs(1)),
            member("fresh", "h1", later),
        ]);
        let r = b.refill("w", Some(limits(1, 5)), later);
        let names: Vec<_> = r.retire.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["older", "old"]);
        assert_eq!(r.make, 0);
    }

    #[test]
    fn a_replaced_spec_retires_idle_containers_of_the_old_one() {
        let mut b = Book::default();
        let now = Instant::now();
        b.pool("w").idle.push(member("a", "h0", now));
        let r = b.refill("w", Some(limits(1, 5)), now);
        assert_eq!(r.retire.len(), 1);
        assert_eq!(r.make, 1);
    }

    #[test]
    fn idle_members_that_stopped_running_are_pruned_but_new_ones_are_kept() {
        let mut b = Book::default();
        let listed = Instant::now();
        let before = listed - Duration::from_secs(1);
        b.pool("w").idle.extend([
            member("alive", "h1", before),
            member("dead", "h1", before),
            member("new", "h1", listed + Duration::from_millis(1)),
        ]);
        let running = BTreeSet::from(["alive".to_string()]);
        let gone = b.prune_idle(&running, listed);
        assert_eq!(
            gone.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
            ["dead"]
        );
        assert_eq!(b.pool("w").idle.len(), 2);
    }

    #[test]
    fn a_deleted_workload_retires_every_idle_container() {
        let mut b = Book::default();
        let now = Instant::now();
        b.pool("w").idle.push(member("a", "h1", now));
        let r = b.refill("w", None, now);
        assert_eq!((r.retire.len(), r.make), (1, 0));
    }
}
