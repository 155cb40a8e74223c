use super::*;
use proptest::prelude::*;
use std::sync::Arc;

fn new_session() -> NewSession {
    NewSession {
        protocol_version: "2025-11-25".into(),
        client: ClientInfo {
            name: "test".into(),
            version: "0".into(),
        },
        capabilities: "{}".into(),
    }
}

#[test]
fn ids_render_as_32_hex_digits_and_round_trip() {
    for _ in 0..100 {
        let id = SessionId::random();
        let text = id.to_string();
        assert_eq!(text.len(), 32);
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_eq!(text.parse::<SessionId>(), Ok(id));
    }
    assert_ne!(SessionId::random(), SessionId::random());
}

#[test]
fn parse_refuses_everything_else_with_a_reason() {
    assert_eq!(SessionId::parse(""), Err(ParseIdError::Empty));
    assert_eq!(
        SessionId::parse("abc def"),
        Err(ParseIdError::NotVisibleAscii {
            position: 3,
            byte: b' '
        })
    );
    assert_eq!(
        SessionId::parse("0123456789abcdef0123456789abcde\u{e9}"),
        Err(ParseIdError::NotVisibleAscii {
            position: 31,
            byte: 0xc3
        })
    );
    assert_eq!(
        SessionId::parse("abc"),
        Err(ParseIdError::WrongLength { len: 3 })
    );
    assert_eq!(
        SessionId::parse("0123456789ABCDEF0123456789abcdef"),
        Err(ParseIdError::NotHex {
            position: 10,
            byte: b'A'
        })
    );
    let msg = SessionId::parse("x\n").unwrap_err().to_string();
    assert!(
        msg.contains("0x0a") && msg.contains("visible ASCII"),
        "{msg}"
    );
}

proptest! {
    #[test]
    fn parse_never_panics_and_accepts_only_what_display_makes(text in ".{0,40}") {
        if let Ok(id) = SessionId::parse(&text) {
            prop_assert_eq!(id.to_string(), text);
        }
    }

    #[test]
    fn any_bits_round_trip(bits in any::<u128>()) {
        let id = SessionId(bits);
        prop_assert_eq!(SessionId::parse(&id.to_string()), Ok(id));
    }
}

#[test]
fn create_read_update_touch_remove() {
    let store = SessionStore::new(10);
    let t0 = Instant::now();
    let id = store.create(new_session(), t0).unwrap();
    assert_eq!(store.len(), 1);
    let s = store.read(&id, Session::clone).unwrap();
    assert_eq!(
        (s.initialized, s.created, s.last_seen, s.requests),
        (false, t0, t0, 0)
    );
    assert_eq!(s.protocol_version, "2025-11-25");
    assert_eq!(
        store.update(&id, |s| {
            s.requests += 1;
            s.requests
        }),
        Some(1)
    );
    let t1 = t0 + Duration::from_secs(5);
    assert!(store.touch(&id, t1));
    // An older timestamp never moves last_seen backwards.
    assert!(store.touch(&id, t0));
    assert_eq!(store.read(&id, |s| s.last_seen), Some(t1));
    let removed = store.remove(&id).unwrap();
    assert_eq!(removed.requests, 1);
    assert!(store.is_empty());
    assert!(store.remove(&id).is_none());
    assert!(!store.touch(&id, t1));
    assert_eq!(store.update(&id, |_| ()), None);
}

#[test]
fn full_store_refuses_then_accepts_after_removal() {
    let store = SessionStore::with_shards(2, 4);
    let now = Instant::now();
    let a = store.create(new_session(), now).unwrap();
    store.create(new_session(), now).unwrap();
    let err = store.create(new_session(), now).unwrap_err();
    assert_eq!(err, StoreFull { max: 2 });
    assert!(err.to_string().contains("2 sessions"));
    store.remove(&a).unwrap();
    store.create(new_session(), now).unwrap();
    assert_eq!(store.len(), 2);
}

#[test]
fn evict_idle_removes_only_idle_sessions() {
    let store = SessionStore::new(100);
    let t0 = Instant::now();
    let ttl = Duration::from_secs(300);
    let ids: Vec<_> = (0..20)
        .map(|_| store.create(new_session(), t0).unwrap())
        .collect();
    let later = t0 + Duration::from_secs(200);
    for id in &ids[..5] {
        store.touch(id, later);
    }
    assert_eq!(
        store.evict_idle(t0 + ttl, ttl),
        0,
        "exactly at the TTL is not idle yet"
    );
    assert_eq!(store.evict_idle(t0 + ttl + Duration::from_secs(1), ttl), 15);
    assert_eq!(store.len(), 5);
    for id in &ids[..5] {
        assert!(store.read(id, |_| ()).is_some());
    }
    for id in &ids[5..] {
        assert!(store.read(id, |_| ()).is_none());
    }
}

/// Many threads increment counters of shared sessions: no update is lost.
#[test]
fn concurrent_updates_are_never_lost() {
    const THREADS: u64 = 4;
    const PER: u64 = 10_000;
    let store = Arc::new(SessionStore::new(100));
    let now = Instant::now();
    let ids: Arc<Vec<_>> = Arc::new(
        (0..8)
            .map(|_| store.create(new_session(), now).unwrap())
            .collect(),
    );
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (store, ids) = (store.clone(), ids.clone());
            std::thread::spawn(move || {
                for n in 0..PER {
                    let id = &ids[((n + t) % ids.len() as u64) as usize];
                    store.update(id, |s| s.requests += 1).unwrap();
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let total: u64 = ids
        .iter()
        .map(|id| store.read(id, |s| s.requests).unwrap())
        .sum();
    assert_eq!(total, THREADS * PER);
}

/// Concurrent creators never exceed the maximum, and the count stays exact.
#[test]
fn concurrent_creates_respect_the_maximum() {
    let store = Arc::new(SessionStore::new(1000));
    let now = Instant::now();
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            std::thread::spawn(move || {
                (0..400)
                    .filter(|_| store.create(new_session(), now).is_ok())
                    .count()
            })
        })
        .collect();
    let created: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
    assert_eq!(created, 1000);
    assert_eq!(store.len(), 1000);
    assert_eq!(
        store.evict_idle(now + Duration::from_secs(2), Duration::from_secs(1)),
        1000
    );
    assert!(store.is_empty());
}
