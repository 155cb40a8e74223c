use super::*;
use proptest::prelude::*;
use std::collections::HashMap;
use std::time::Duration;

fn mailbox<M: Send>(cap: usize) -> Arc<Mailbox<M>> {
    Arc::new(Mailbox::bounded(cap))
}

#[test]
fn duplicate_registration_is_refused_and_first_kept() {
    let r = Registry::new();
    let k = RouteKey::new("tools/echo");
    let first = mailbox(4);
    r.register(k.clone(), first.clone()).unwrap();
    let err = r
        .register(RouteKey::new("tools/echo"), mailbox(4))
        .unwrap_err();
    assert_eq!(err.to_string(), "route tools/echo is already registered");
    r.route(&k, 1u8).unwrap();
    assert_eq!(first.try_pop(), Some(1));
    assert_eq!(r.len(), 1);
}

#[test]
fn unregister_and_lookup() {
    let r = Registry::<u8>::new();
    let k = RouteKey::from("servers/upstream");
    assert!(r.lookup(&k).is_none());
    let m = mailbox(1);
    r.register(k.clone(), m.clone()).unwrap();
    assert!(Arc::ptr_eq(&r.lookup(&k).unwrap(), &m));
    assert!(Arc::ptr_eq(&r.unregister(&k).unwrap(), &m));
    assert!(r.unregister(&k).is_none());
    assert!(r.is_empty());
    assert_eq!(r.route(&k, 3), Err(RouteError::NoRoute(3)));
}

#[test]
fn route_hands_back_on_full_and_closed() {
    let r = Registry::new();
    let k = RouteKey::new("a");
    let m = mailbox(1);
    r.register(k.clone(), m.clone()).unwrap();
    r.route(&k, "one").unwrap();
    assert_eq!(r.route(&k, "two"), Err(RouteError::Full("two")));
    m.close();
    assert_eq!(r.route(&k, "three").unwrap_err().into_inner(), "three");
    assert_eq!(r.route(&k, "four"), Err(RouteError::Closed("four")));
}

#[tokio::test]
async fn route_wait_waits_for_room_and_hands_back_on_closed() {
    let r = Arc::new(Registry::new());
    let k = RouteKey::new("a");
    let m = mailbox(1);
    r.register(k.clone(), m.clone()).unwrap();
    assert_eq!(
        r.route_wait(&RouteKey::new("b"), 0).await,
        Err(RouteError::NoRoute(0))
    );
    // Delivers `msg` from a task of its own; `settle` lets that task park.
    let waiting = |msg| {
        let (r, k) = (r.clone(), k.clone());
        tokio::spawn(async move { r.route_wait(&k, msg).await })
    };
    let settle = || async {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    };
    r.route_wait(&k, 1).await.unwrap();
    // Full: the second delivery waits until the first message is taken.
    let second = waiting(2);
    settle().await;
    assert!(!second.is_finished(), "delivered into a full mailbox");
    assert_eq!(m.try_pop(), Some(1));
    assert_eq!(second.await.unwrap(), Ok(()));
    assert_eq!(m.try_pop(), Some(2));
    // Closed while waiting: the message comes back.
    r.route_wait(&k, 3).await.unwrap();
    let fourth = waiting(4);
    settle().await;
    m.close();
    assert_eq!(fourth.await.unwrap(), Err(RouteError::Closed(4)));
    assert_eq!(m.try_pop(), Some(3), "close keeps what was delivered");
}

#[test]
fn keys_with_the_same_name_are_equal_and_distinct_names_are_not() {
    assert_eq!(RouteKey::new("x"), RouteKey::new("x"));
    assert_ne!(RouteKey::new("x"), RouteKey::new("y"));
    assert_eq!(RouteKey::new("x").as_str(), "x");
    let r = Registry::<u8>::new();
    r.register(RouteKey::new("x"), mailbox(1)).unwrap();
    r.register(RouteKey::new("y"), mailbox(1)).unwrap();
    let mut names = Vec::new();
    r.for_each(|k, _| names.push(k.to_string()));
    names.sort();
    assert_eq!(names, ["x", "y"]);
}

proptest! {
    /// The registry used from one thread behaves like a HashMap of VecDeques.
    #[test]
    fn registry_matches_sequential_model(ops in proptest::collection::vec((0u8..4, 0u8..4, any::<u16>()), 0..80)) {
        let r = Registry::new();
        let mut model: HashMap<u8, (Arc<Mailbox<u16>>, Vec<u16>)> = HashMap::new();
        for (op, key, msg) in ops {
            let k = RouteKey::new(&format!("k{key}"));
            match op {
                0 => {
                    let m = mailbox(2);
                    let got = r.register(k, m.clone());
                    if let std::collections::hash_map::Entry::Vacant(e) = model.entry(key) {
                        prop_assert!(got.is_ok());
                        e.insert((m, Vec::new()));
                    } else {
                        prop_assert!(got.is_err());
                    }
                }
                1 => {
                    let got = r.unregister(&k);
                    prop_assert_eq!(got.is_some(), model.remove(&key).is_some());
                }
                2 => {
                    let got = r.route(&k, msg);
                    match model.get_mut(&key) {
                        None => prop_assert_eq!(got, Err(RouteError::NoRoute(msg))),
                        Some((_, queued)) if queued.len() == 2 => prop_assert_eq!(got, Err(RouteError::Full(msg))),
                        Some((_, queued)) => { prop_assert_eq!(got, Ok(())); queued.push(msg); }
                    }
                }
                _ => {
                    if let Some((m, queued)) = model.get_mut(&key) {
                        let expect = if queued.is_empty() { None } else { Some(queued.remove(0)) };
                        prop_assert_eq!(m.try_pop(), expect);
                    }
                }
            }
            prop_assert_eq!(r.len(), model.len());
        }
    }
}

/// Several threads route counted messages to several destinations while others
/// drain them: every message arrives exactly once, at the right destination.
#[test]
fn concurrent_routing_loses_and_duplicates_nothing() {
    const ROUTES: usize = 8;
    const SENDERS: u32 = 3;
    const PER: u32 = 20_000;
    let r = Arc::new(Registry::new());
    let boxes: Vec<_> = (0..ROUTES)
        .map(|i| {
            let m = mailbox::<(usize, u32)>(16);
            r.register(RouteKey::new(&format!("route{i}")), m.clone())
                .unwrap();
            m
        })
        .collect();
    let senders: Vec<_> = (0..SENDERS)
        .map(|s| {
            let r = r.clone();
            std::thread::spawn(move || {
                let keys: Vec<_> = (0..ROUTES)
                    .map(|i| RouteKey::new(&format!("route{i}")))
                    .collect();
                for n in 0..PER {
                    let dest = (n as usize + s as usize) % ROUTES;
                    let mut msg = (dest, s * PER + n);
                    while let Err(e) = r.route(&keys[dest], msg) {
                        assert!(matches!(e, RouteError::Full(_)));
                        msg = e.into_inner();
                        std::thread::yield_now();
                    }
                }
            })
        })
        .collect();
    let drainers: Vec<_> = (0..2)
        .map(|d| {
            let boxes = boxes.clone();
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                loop {
                    let mut idle = true;
                    for (i, m) in boxes.iter().enumerate().skip(d).step_by(2) {
                        while let Some((dest, n)) = m.try_pop() {
                            assert_eq!(dest, i, "message delivered to the wrong route");
                            seen.push(n);
                            idle = false;
                        }
                    }
                    if idle && boxes.iter().skip(d).step_by(2).all(|m| m.is_drained()) {
                        return seen;
                    }
                    if idle {
                        std::thread::yield_now();
                    }
                }
            })
        })
        .collect();
    for s in senders {
        s.join().unwrap();
    }
    boxes.iter().for_each(|m| m.close());
    let mut all: Vec<u32> = drainers
        .into_iter()
        .flat_map(|d| d.join().unwrap())
        .collect();
    all.sort_unstable();
    assert_eq!(all, (0..SENDERS * PER).collect::<Vec<_>>());
}

fn later() -> Instant {
    Instant::now() + Duration::from_secs(3600)
}

#[tokio::test]
async fn complete_delivers_to_the_waiter_once() {
    let t = InFlight::<u64, &str>::new();
    let answer = t.begin(7, later()).unwrap();
    assert_eq!(t.len(), 1);
    t.complete(&7, "sunny").unwrap();
    assert_eq!(answer.await.unwrap(), Ok("sunny"));
    assert_eq!(
        t.complete(&7, "again"),
        Err(CompleteError::Unknown("again"))
    );
    assert!(t.is_empty());
}

#[test]
fn duplicate_id_is_refused_and_first_kept() {
    let t = InFlight::<String, u8>::new();
    let mut first = t.begin("req-1".to_string(), later()).unwrap();
    let err = t.begin("req-1".to_string(), later()).unwrap_err();
    assert_eq!(err, DuplicateRequest("req-1".to_string()));
    t.complete("req-1", 5).unwrap();
    assert_eq!(first.try_recv().unwrap(), Ok(5));
}

#[test]
fn abandoned_request_hands_the_response_back() {
    let t = InFlight::<u64, u8>::new();
    drop(t.begin(1, later()).unwrap());
    assert_eq!(t.complete(&1, 9), Err(CompleteError::Abandoned(9)));
    assert!(t.is_empty());
}

#[test]
fn cancel_tells_the_waiter() {
    let t = InFlight::<u64, u8>::new();
    let mut a = t.begin(1, later()).unwrap();
    assert!(t.cancel(&1));
    assert!(!t.cancel(&1));
    assert_eq!(a.try_recv().unwrap(), Err(Unanswered::Cancelled));
}

#[test]
fn expire_ends_only_overdue_and_abandoned_requests() {
    let t = InFlight::<u64, u8>::new();
    let now = Instant::now();
    let mut overdue = t.begin(1, now).unwrap();
    let mut alive = t.begin(2, now + Duration::from_secs(60)).unwrap();
    drop(t.begin(3, now + Duration::from_secs(60)).unwrap());
    let mut ended = t.expire(now);
    ended.sort_unstable();
    assert_eq!(ended, vec![1, 3]);
    assert_eq!(overdue.try_recv().unwrap(), Err(Unanswered::Expired));
    assert!(alive.try_recv().is_err(), "a live request got an answer");
    assert_eq!(t.len(), 1);
    t.complete(&2, 4).unwrap();
    assert_eq!(alive.try_recv().unwrap(), Ok(4));
}

/// Requests begun on some threads and completed on others: every waiter gets
/// exactly its own response.
#[test]
fn concurrent_complete_matches_ids_to_waiters() {
    const N: u64 = 20_000;
    let t = Arc::new(InFlight::<u64, u64>::new());
    let answers: Vec<_> = (0..N).map(|id| t.begin(id, later()).unwrap()).collect();
    let completers: Vec<_> = (0..2)
        .map(|c| {
            let t = t.clone();
            std::thread::spawn(move || {
                for id in (c..N).step_by(2) {
                    t.complete(&id, id * 10).unwrap();
                }
            })
        })
        .collect();
    for c in completers {
        c.join().unwrap();
    }
    for (id, mut a) in answers.into_iter().enumerate() {
        assert_eq!(a.try_recv().unwrap(), Ok(id as u64 * 10));
    }
    assert!(t.is_empty());
}
