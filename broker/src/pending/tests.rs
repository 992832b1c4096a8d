use super::*;

fn ok(status: u16) -> Outcome {
    Outcome {
        status,
        body: Bytes::from_static(b"{}"),
        error: String::new(),
        by_broker: false,
    }
}

#[test]
fn cap_counts_waiting_and_landed() {
    let p = PendingMap::new(2);
    let t = Instant::now();
    let _a = p
        .insert_waiting("a", "h", 1, Lane::Coold, None, t)
        .expect("a");
    let _b = p
        .insert_waiting("b", "h", 1, Lane::Coold, None, t)
        .expect("b");
    assert_eq!(
        p.insert_waiting("c", "h", 1, Lane::Coold, None, t).err(),
        Some(PendingError::Full(2))
    );
    assert_eq!(p.land("a", "h", ok(200), t), Landing::Landed);
    // Landed still counts until its TTL passes.
    assert!(p.insert_waiting("c", "h", 1, Lane::Coold, None, t).is_err());
    p.sweep(t + LANDED_TTL, Duration::from_secs(3600), LANDED_TTL);
    assert!(p.insert_waiting("c", "h", 1, Lane::Coold, None, t).is_ok());
    assert_eq!(p.len(), 2);
}

#[test]
fn duplicate_ids_are_refused_and_do_not_leak_slots() {
    let p = PendingMap::new(10);
    let t = Instant::now();
    let _a = p
        .insert_waiting("a", "h", 1, Lane::Coold, None, t)
        .expect("a");
    assert_eq!(
        p.insert_waiting("a", "h", 1, Lane::Coold, None, t).err(),
        Some(PendingError::Duplicate("a".into()))
    );
    assert_eq!(p.len(), 1);
}

#[tokio::test]
async fn landing_fires_the_waiter_once_and_never_overwrites() {
    let p = PendingMap::new(10);
    let t = Instant::now();
    let rx = p
        .insert_waiting("a", "h", 1, Lane::Coold, None, t)
        .expect("a");
    assert_eq!(p.land("a", "other", ok(200), t), Landing::NotOwner);
    assert_eq!(p.land("a", "h", ok(201), t), Landing::Landed);
    assert_eq!(rx.await.expect("fired").status, 201);
    assert_eq!(p.land("a", "h", ok(500), t), Landing::AlreadyLanded);
    match p.poll("a") {
        Poll::Landed(o) => assert_eq!(o.status, 201),
        other => panic!("expected landed, got {other:?}"),
    }
    assert!(matches!(p.poll("zzz"), Poll::Unknown));
}

#[tokio::test]
async fn sweeper_answers_504_after_ten_seconds_but_not_before() {
    let p = PendingMap::new(10);
    let t = Instant::now();
    let rx = p
        .insert_waiting("a", "h", 1, Lane::Coold, None, t)
        .expect("a");
    let r = p.sweep(t + Duration::from_secs(9), SWEEP_AFTER, LANDED_TTL);
    assert_eq!(r.timed_out, 0);
    let r = p.sweep(t + SWEEP_AFTER, SWEEP_AFTER, LANDED_TTL);
    assert_eq!(r.timed_out, 1);
    assert_eq!(rx.await.expect("fired").status, 504);
}

#[test]
fn builds_are_never_swept_while_waiting() {
    let p = PendingMap::new(10);
    let t = Instant::now();
    let running = Arc::new(AtomicU32::new(0));
    let _rx = p
        .insert_waiting("b", "h", 1, Lane::Build, Some(running.clone()), t)
        .expect("b");
    assert_eq!(running.load(Ordering::Relaxed), 1);
    let r = p.sweep(t + Duration::from_secs(3600), SWEEP_AFTER, LANDED_TTL);
    assert_eq!(r.timed_out, 0);
    assert!(matches!(p.poll("b"), Poll::Waiting(_)));
    // The agent's answer releases the host's build slot.
    assert_eq!(p.land("b", "h", ok(200), t), Landing::Landed);
    assert_eq!(running.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn dropped_stream_fails_only_its_own_generation() {
    let p = PendingMap::new(10);
    let t = Instant::now();
    let old = p
        .insert_waiting("a", "h", 1, Lane::Coold, None, t)
        .expect("a");
    let new = p
        .insert_waiting("b", "h", 2, Lane::Coold, None, t)
        .expect("b");
    let n = p.fail_stream("h", 1, &Outcome::broker(503, "dropped"), t);
    assert_eq!(n, 1);
    assert_eq!(old.await.expect("fired").status, 503);
    assert!(matches!(p.poll("b"), Poll::Waiting(_)));
    drop(new);
}

#[test]
fn request_ids_are_validated() {
    assert!(validate_request_id("abc-DEF_123").is_ok());
    for bad in ["", "a/b", "a b", "ä", &"x".repeat(65)] {
        assert!(validate_request_id(bad).is_err(), "{bad:?}");
    }
    assert_eq!(new_request_id().len(), 32);
}

#[test]
fn a_reconnected_stream_counts_the_builds_still_running() {
    let p = PendingMap::new(10);
    let old = Arc::new(AtomicU32::new(0));
    let now = Instant::now();
    let _rx = p
        .insert_waiting("b1", "h", 1, Lane::Build, Some(old.clone()), now)
        .expect("insert");
    let _c = p
        .insert_waiting("c1", "h", 1, Lane::Coold, None, now)
        .expect("insert");
    assert_eq!(old.load(Ordering::Acquire), 1);
    let new = Arc::new(AtomicU32::new(0));
    assert_eq!(p.rebind_builds("h", 2, &new), 1);
    assert_eq!(
        (old.load(Ordering::Acquire), new.load(Ordering::Acquire)),
        (0, 1)
    );
    // Rebinding again for the same stream moves nothing.
    assert_eq!(p.rebind_builds("h", 2, &new), 0);
    assert_eq!(
        p.land("b1", "h", Outcome::broker(200, ""), now),
        Landing::Landed
    );
    assert_eq!(new.load(Ordering::Acquire), 0);
}
