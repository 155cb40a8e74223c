use super::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A manager of numbered fake connections whose health the test controls.
#[derive(Debug, Default)]
struct Counted {
    made: AtomicUsize,
    fail_create: AtomicBool,
    /// Ids of connections the test declared broken.
    broken: std::sync::Mutex<Vec<usize>>,
    create_delay: Option<Duration>,
}

#[derive(Debug, PartialEq)]
struct Refused;

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("refused")
    }
}

impl Manager for Counted {
    type Type = usize;
    type Error = Refused;

    async fn create(&self) -> Result<usize, Refused> {
        if let Some(d) = self.create_delay {
            tokio::time::sleep(d).await;
        }
        if self.fail_create.load(Ordering::SeqCst) {
            return Err(Refused);
        }
        Ok(self.made.fetch_add(1, Ordering::SeqCst))
    }

    async fn recycle(&self, conn: &mut usize, _: &Metrics) -> RecycleResult<Refused> {
        if self.broken.lock().unwrap().contains(conn) {
            Err(RecycleError::message("broken"))
        } else {
            Ok(())
        }
    }
}

fn config(max_size: usize) -> PoolConfig {
    PoolConfig {
        max_size,
        wait_timeout: Some(Duration::from_millis(50)),
        ..PoolConfig::default()
    }
}

#[tokio::test]
async fn returned_connections_are_reused() {
    let pool = Pool::new(Counted::default(), &config(2)).unwrap();
    let a = pool.checkout().await.unwrap();
    assert_eq!(*a, 0);
    drop(a);
    let again = pool.checkout().await.unwrap();
    assert_eq!(
        *again, 0,
        "an idle healthy connection is reused, not remade"
    );
    assert_eq!(pool.status().size, 1);
}

#[tokio::test]
async fn broken_connection_is_replaced_not_handed_out() {
    let pool = Pool::new(Counted::default(), &config(1)).unwrap();
    drop(pool.checkout().await.unwrap());
    pool.inner.manager().broken.lock().unwrap().push(0);
    let c = pool.checkout().await.unwrap();
    assert_eq!(*c, 1, "connection 0 was broken and must not come back");
}

#[tokio::test]
async fn taken_connection_leaves_the_pool() {
    let pool = Pool::new(Counted::default(), &config(1)).unwrap();
    let c = pool.checkout().await.unwrap();
    assert_eq!(Checkout::take(c), 0);
    assert_eq!(pool.status().size, 0);
    assert_eq!(*pool.checkout().await.unwrap(), 1);
}

#[tokio::test]
async fn full_pool_times_out_waiting() {
    let pool = Pool::new(Counted::default(), &config(1)).unwrap();
    let _held = pool.checkout().await.unwrap();
    let err = pool.checkout().await.unwrap_err();
    assert!(
        matches!(err, CheckoutError::Timeout(TimeoutType::Wait)),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "checkout timed out while waiting for a free connection"
    );
}

#[tokio::test]
async fn slow_connect_times_out_and_failed_connect_is_reported() {
    let slow = Counted {
        create_delay: Some(Duration::from_millis(200)),
        ..Counted::default()
    };
    let cfg = PoolConfig {
        create_timeout: Some(Duration::from_millis(20)),
        ..config(1)
    };
    let pool = Pool::new(slow, &cfg).unwrap();
    assert!(matches!(
        pool.checkout().await,
        Err(CheckoutError::Timeout(TimeoutType::Create))
    ));
    let failing = Counted::default();
    failing.fail_create.store(true, Ordering::SeqCst);
    let pool = Pool::new(failing, &config(1)).unwrap();
    assert!(matches!(
        pool.checkout().await,
        Err(CheckoutError::Connect(Refused))
    ));
    assert_eq!(pool.status().size, 0, "a failed connect takes no slot");
}

#[tokio::test]
async fn dropped_waiting_checkout_leaks_nothing() {
    let cfg = PoolConfig {
        wait_timeout: None,
        ..config(1)
    };
    let pool = Pool::new(Counted::default(), &cfg).unwrap();
    let held = pool.checkout().await.unwrap();
    let waiting = tokio::time::timeout(Duration::from_millis(20), pool.checkout()).await;
    assert!(
        waiting.is_err(),
        "the checkout should still have been waiting"
    );
    assert_eq!(pool.status().waiting, 0);
    drop(held);
    let status = pool.status();
    assert_eq!((status.size, status.available), (1, 1));
    assert_eq!(*pool.checkout().await.unwrap(), 0);
}

#[tokio::test]
async fn closed_pool_refuses_checkouts() {
    let pool = Pool::new(Counted::default(), &config(1)).unwrap();
    pool.close();
    assert!(matches!(pool.checkout().await, Err(CheckoutError::Closed)));
}

#[test]
fn zero_size_is_refused() {
    let err = Pool::new(Counted::default(), &config(0)).err().unwrap();
    assert!(err.to_string().contains("max_size"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tasks_share_a_small_pool_without_exceeding_it() {
    let cfg = PoolConfig {
        wait_timeout: Some(Duration::from_secs(10)),
        ..config(4)
    };
    let pool = Pool::new(Counted::default(), &cfg).unwrap();
    let in_use = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let (pool, in_use, peak) = (pool.clone(), in_use.clone(), peak.clone());
            tokio::spawn(async move {
                for _ in 0..50 {
                    let _c = pool.checkout().await.unwrap();
                    let now = in_use.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    tokio::task::yield_now().await;
                    in_use.fetch_sub(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert!(peak.load(Ordering::SeqCst) <= 4);
    assert_eq!(
        pool.status().size,
        pool.inner.manager().made.load(Ordering::SeqCst)
    );
}

#[tokio::test]
async fn pool_set_routes_by_upstream() {
    let set = PoolSet::new(
        [("a", Counted::default()), ("b", Counted::default())],
        &config(1),
    )
    .unwrap();
    assert_eq!(set.len(), 2);
    let a = set.checkout(&"a").await.unwrap();
    let b = set.checkout(&"b").await.unwrap();
    assert_eq!((*a, *b), (0, 0), "each upstream has its own pool");
    assert!(matches!(
        set.checkout(&"c").await,
        Err(CheckoutError::UnknownUpstream)
    ));
    set.close();
    drop((a, b));
    assert!(matches!(
        set.checkout(&"a").await,
        Err(CheckoutError::Closed)
    ));
}

#[tokio::test]
async fn tcp_manager_connects_reuses_and_drops_closed_connections() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let server = {
        let accepted = accepted.clone();
        tokio::spawn(async move {
            // Echo one message per connection, then close it from this side.
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                accepted.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = [0u8; 5];
                    s.read_exact(&mut buf).await.unwrap();
                    s.write_all(&buf).await.unwrap();
                    // Keep the connection until the client asks to close.
                    let mut rest = [0u8; 1];
                    let _ = s.read(&mut rest).await;
                });
            }
        })
    };
    let pool = Pool::new(TcpManager::new(addr), &PoolConfig::default()).unwrap();
    assert_eq!(pool.inner.manager().addr(), addr);
    {
        let mut c = pool.checkout().await.unwrap();
        c.write_all(b"hello").await.unwrap();
        let mut buf = [0u8; 5];
        c.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hello");
        // Ask the server to close, so the pooled connection is dead when it returns.
        c.write_all(b"x").await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut c = pool.checkout().await.unwrap();
    c.write_all(b"again").await.unwrap();
    let mut buf = [0u8; 5];
    c.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"again");
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        2,
        "the closed connection was replaced"
    );
    server.abort();
}

#[tokio::test]
async fn tcp_connect_failure_is_reported() {
    // Bind then drop: the port is (almost certainly) closed now.
    let addr = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let pool = Pool::new(TcpManager::new(addr), &PoolConfig::default()).unwrap();
    match pool.checkout().await {
        Err(CheckoutError::Connect(e)) => assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused),
        other => panic!("expected a refused connection, got {:?}", other.map(|_| ())),
    }
}
