use super::*;
use proptest::prelude::*;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

#[test]
fn full_hands_the_message_back() {
    let q = Mailbox::bounded(1);
    q.try_push(1).unwrap();
    assert_eq!(q.try_push(2), Err(PushError::Full(2)));
    assert_eq!(q.try_pop(), Some(1));
    assert_eq!(q.try_pop(), None);
}

#[test]
fn closed_refuses_pushes_and_drains() {
    let q = Mailbox::unbounded();
    q.try_push(1).unwrap();
    q.close();
    q.close();
    assert!(q.is_closed());
    assert_eq!(q.try_push(2), Err(PushError::Closed(2)));
    assert!(!q.is_drained());
    assert_eq!(q.try_pop(), Some(1));
    assert!(q.is_drained());
}

#[test]
fn batch_push_returns_the_rest_in_order() {
    let q = Mailbox::bounded(3);
    let err = q.try_push_batch(0..6).unwrap_err();
    assert_eq!(
        err,
        BatchError {
            pushed: 3,
            closed: false,
            rest: vec![3, 4, 5]
        }
    );
    let mut out = Vec::new();
    assert_eq!(q.try_pop_batch(2, &mut out), 2);
    assert_eq!(out, vec![0, 1]);
    q.close();
    let err = q.try_push_batch([9, 10]).unwrap_err();
    assert_eq!(
        err,
        BatchError {
            pushed: 0,
            closed: true,
            rest: vec![9, 10]
        }
    );
    assert_eq!(q.try_pop_batch(10, &mut out), 1);
    assert_eq!(out, vec![0, 1, 2]);
}

#[test]
fn capacity_and_len() {
    let q: Mailbox<u8> = Mailbox::bounded(4);
    assert_eq!(q.capacity(), Some(4));
    assert!(q.is_empty());
    let u: UnboundedMailbox<u8> = Mailbox::unbounded();
    assert_eq!(u.capacity(), None);
    u.try_push(1).unwrap();
    assert_eq!(u.len(), 1);
}

#[derive(Debug, Clone)]
enum Op {
    Push(u32),
    Pop,
    PushBatch(Vec<u32>),
    PopBatch(usize),
    Close,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => any::<u32>().prop_map(Op::Push),
        4 => Just(Op::Pop),
        2 => proptest::collection::vec(any::<u32>(), 0..6).prop_map(Op::PushBatch),
        2 => (0usize..6).prop_map(Op::PopBatch),
        1 => Just(Op::Close),
    ]
}

proptest! {
    /// A bounded mailbox used from one thread behaves exactly like a VecDeque
    /// with a capacity and a closed flag.
    #[test]
    fn matches_sequential_model(cap in 1usize..6, ops in proptest::collection::vec(op(), 0..60)) {
        let q = Mailbox::bounded(cap);
        let mut model = VecDeque::new();
        let mut closed = false;
        for op in ops {
            match op {
                Op::Push(v) => {
                    let expect = if closed { Err(PushError::Closed(v)) }
                        else if model.len() == cap { Err(PushError::Full(v)) }
                        else { model.push_back(v); Ok(()) };
                    prop_assert_eq!(q.try_push(v), expect);
                }
                Op::Pop => prop_assert_eq!(q.try_pop(), model.pop_front()),
                Op::PushBatch(vs) => {
                    let got = q.try_push_batch(vs.clone());
                    if closed {
                        prop_assert_eq!(got, Err(BatchError { pushed: 0, closed: true, rest: vs }));
                    } else {
                        let room = cap - model.len();
                        model.extend(vs.iter().copied().take(room));
                        if vs.len() > room {
                            prop_assert_eq!(got, Err(BatchError { pushed: room, closed: false, rest: vs[room..].to_vec() }));
                        } else {
                            prop_assert_eq!(got, Ok(()));
                        }
                    }
                }
                Op::PopBatch(max) => {
                    let mut out = Vec::new();
                    let n = q.try_pop_batch(max, &mut out);
                    let expect: Vec<u32> = (0..max.min(model.len())).filter_map(|_| model.pop_front()).collect();
                    prop_assert_eq!(n, expect.len());
                    prop_assert_eq!(out, expect);
                }
                Op::Close => { q.close(); closed = true; }
            }
            prop_assert_eq!(q.len(), model.len());
            prop_assert_eq!(q.is_drained(), closed && model.is_empty());
        }
    }
}

/// Every message pushed by any producer is popped exactly once, by threads.
#[test]
fn threads_lose_and_duplicate_nothing() {
    const PRODUCERS: u64 = 4;
    const PER: u64 = 50_000;
    let q = Arc::new(Mailbox::bounded(64));
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let q = q.clone();
            std::thread::spawn(move || {
                for i in 0..PER {
                    let mut msg = p * PER + i;
                    loop {
                        match q.try_push(msg) {
                            Ok(()) => break,
                            Err(e) => {
                                msg = e.into_inner();
                                std::thread::yield_now();
                            }
                        }
                    }
                }
            })
        })
        .collect();
    let consumers: Vec<_> = (0..3)
        .map(|_| {
            let q = q.clone();
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                loop {
                    match q.try_pop() {
                        Some(v) => seen.push(v),
                        None if q.is_drained() => return seen,
                        None => std::thread::yield_now(),
                    }
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    q.close();
    let mut all: Vec<u64> = consumers
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    all.sort_unstable();
    assert_eq!(all, (0..PRODUCERS * PER).collect::<Vec<_>>());
}

/// Async producers wait for room, async consumers wait for messages, close ends
/// every consumer after the last message, and nothing is lost or duplicated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_waiters_lose_and_duplicate_nothing() {
    const PRODUCERS: u64 = 8;
    const PER: u64 = 5_000;
    let q = Arc::new(Mailbox::bounded(4));
    let mut producers = Vec::new();
    for p in 0..PRODUCERS {
        let q = q.clone();
        producers.push(tokio::spawn(async move {
            for i in 0..PER {
                if i % 2 == 0 {
                    q.push(p * PER + i).await.unwrap();
                } else {
                    q.push_batch([p * PER + i]).await.unwrap();
                }
            }
        }));
    }
    let mut consumers = Vec::new();
    for c in 0..4 {
        let q = q.clone();
        consumers.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            loop {
                if c % 2 == 0 {
                    match q.pop().await {
                        Some(v) => seen.push(v),
                        None => return seen,
                    }
                } else {
                    let batch = q.pop_batch(3).await;
                    if batch.is_empty() {
                        return seen;
                    }
                    seen.extend(batch);
                }
            }
        }));
    }
    for p in producers {
        p.await.unwrap();
    }
    q.close();
    let mut all = Vec::new();
    for c in consumers {
        all.extend(
            tokio::time::timeout(Duration::from_secs(20), c)
                .await
                .unwrap()
                .unwrap(),
        );
    }
    all.sort_unstable();
    assert_eq!(all, (0..PRODUCERS * PER).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_batch_waits_for_room_and_keeps_order() {
    let q = Arc::new(Mailbox::bounded(3));
    let consumer = {
        let q = q.clone();
        tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(v) = q.pop().await {
                got.push(v);
            }
            got
        })
    };
    q.push_batch(0..100u32).await.unwrap();
    q.close();
    assert_eq!(consumer.await.unwrap(), (0..100).collect::<Vec<_>>());
    let err = q.push_batch([7, 8]).await.unwrap_err();
    assert_eq!(
        err,
        BatchError {
            pushed: 0,
            closed: true,
            rest: vec![7, 8]
        }
    );
}

#[tokio::test]
async fn push_batch_hands_back_the_rest_when_closed_while_waiting() {
    let q = Arc::new(Mailbox::bounded(2));
    let pusher = {
        let q = q.clone();
        tokio::spawn(async move { q.push_batch([1u32, 2, 3, 4]).await })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    q.close();
    let err = pusher.await.unwrap().unwrap_err();
    assert_eq!(
        err,
        BatchError {
            pushed: 2,
            closed: true,
            rest: vec![3, 4]
        }
    );
    assert_eq!(
        (q.try_pop(), q.try_pop(), q.try_pop()),
        (Some(1), Some(2), None)
    );
}

#[tokio::test]
async fn close_wakes_waiting_consumers_and_producers() {
    let q = Arc::new(Mailbox::bounded(1));
    q.try_push(0u32).unwrap();
    let pusher = {
        let q = q.clone();
        tokio::spawn(async move { q.push(1).await })
    };
    let empty = Arc::new(Mailbox::<u32>::bounded(1));
    let popper = {
        let empty = empty.clone();
        tokio::spawn(async move { empty.pop().await })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    q.close();
    empty.close();
    assert_eq!(pusher.await.unwrap(), Err(Closed(1)));
    assert_eq!(popper.await.unwrap(), None);
    assert_eq!(q.pop().await, Some(0));
    assert_eq!(q.pop().await, None);
}

#[tokio::test]
async fn dropped_waiters_leave_no_registration() {
    let q = Mailbox::bounded(1);
    // A pop that gives up while waiting.
    assert!(
        tokio::time::timeout(Duration::from_millis(5), q.pop())
            .await
            .is_err()
    );
    q.try_push(1u32).unwrap();
    // A push that gives up while waiting for room; its message is dropped with it.
    assert!(
        tokio::time::timeout(Duration::from_millis(5), q.push(2))
            .await
            .is_err()
    );
    assert_eq!(q.state.load(Ordering::SeqCst) & (POP_WAITERS | PUSHERS), 0);
    assert_eq!(q.push_waiters.load(Ordering::SeqCst), 0);
    assert_eq!(q.try_pop(), Some(1));
    assert_eq!(q.try_pop(), None);
}

#[tokio::test]
async fn a_push_wakes_a_waiting_pop() {
    let q = Arc::new(Mailbox::bounded(2));
    let popper = {
        let q = q.clone();
        tokio::spawn(async move { q.pop().await })
    };
    tokio::time::sleep(Duration::from_millis(10)).await;
    q.try_push(7u32).unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), popper)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, Some(7));
}
