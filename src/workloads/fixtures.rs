//! Fixtures shared by more than one workload or bench: the routes of
//! `registry/route_and_drain`, the do-nothing pool manager, the seed's integrated mix.

use std::sync::Arc;

use mcpbench_queue::Mailbox;
use mcpbench_registry::{Registry, RouteKey};

/// A route key and the mailbox it leads to.
pub type Route = (RouteKey, Arc<Mailbox<u64>>);

/// 1,000 routes (`servers/upstream_K`), each to its own mailbox of 100 slots, and a
/// registry holding them: the fixture of `registry/route_and_drain`.
pub fn upstream_routes() -> (Registry<u64>, Vec<Route>) {
    let routes: Vec<Route> = (0..1000)
        .map(|i| {
            (
                RouteKey::new(&format!("servers/upstream_{i}")),
                Arc::new(Mailbox::bounded(100)),
            )
        })
        .collect();
    let router = Registry::new();
    for (k, m) in &routes {
        router.register(k.clone(), m.clone()).expect("fresh key");
    }
    (router, routes)
}

/// A pool manager that does nothing: what deadpool-managed itself costs, without
/// the TCP manager's health check (a ceiling, and the pool's in-memory path).
pub struct NoopManager;

impl mcpbench_pool::Manager for NoopManager {
    type Type = u64;
    type Error = std::convert::Infallible;
    async fn create(&self) -> Result<u64, Self::Error> {
        Ok(0)
    }
    async fn recycle(
        &self,
        _: &mut u64,
        _: &mcpbench_pool::Metrics,
    ) -> mcpbench_pool::RecycleResult<Self::Error> {
        Ok(())
    }
}

/// Route registrations each task cycles through.
const SLOTS: u64 = 100;

/// The seed's integrated mix, on components shared by every task (the seed's
/// tasks shared nothing): op `i` of a task is, by `i % 4`, a route registration
/// (or, on alternate rounds through the task's 100 slots, its unregistration, so
/// a long run does not grow the table without bound), a route lookup, an iteration
/// over one server's 100 tool routes, or a mailbox push + pop.
pub struct SeedMix {
    routes: Registry<u64>,
    known: Vec<RouteKey>,
    slots: Vec<Vec<RouteKey>>,
    tools: Registry<u64>,
    mailbox: Arc<Mailbox<u64>>,
}

impl SeedMix {
    /// Shared components for `tasks` tasks: 10,000 known routes, 100 tool routes.
    pub fn new(tasks: usize) -> SeedMix {
        let mailbox = Arc::new(Mailbox::bounded(4096));
        let routes = Registry::new();
        let known: Vec<RouteKey> = (0..10_000)
            .map(|i| RouteKey::new(&format!("servers/upstream_{i}")))
            .collect();
        for k in &known {
            routes
                .register(k.clone(), mailbox.clone())
                .expect("fresh key");
        }
        let tools = Registry::new();
        for i in 0..100 {
            tools
                .register(RouteKey::new(&format!("tools/tool_{i}")), mailbox.clone())
                .expect("fresh key");
        }
        let slots = (0..tasks)
            .map(|t| {
                (0..SLOTS)
                    .map(|i| RouteKey::new(&format!("sessions/task_{t}/route_{i}")))
                    .collect()
            })
            .collect();
        SeedMix {
            routes,
            known,
            slots,
            tools,
            mailbox,
        }
    }

    /// Runs op `i` of task `task`. Panics if a component misbehaves (a lost
    /// registration, a missing route): a bench must not time a broken run.
    #[inline]
    pub fn op(&self, task: usize, i: u64) {
        match i % 4 {
            0 => {
                let n = i / 4;
                let key = &self.slots[task][(n % SLOTS) as usize];
                if (n / SLOTS) % 2 == 0 {
                    self.routes
                        .register(key.clone(), self.mailbox.clone())
                        .expect("slot is free this round");
                } else {
                    self.routes
                        .unregister(key)
                        .expect("slot was registered last round");
                }
            }
            1 => assert!(
                self.routes
                    .lookup(&self.known[(task * 37 + i as usize) % self.known.len()])
                    .is_some()
            ),
            2 => {
                let mut n = 0;
                self.tools.for_each(|_, _| n += 1);
                assert_eq!(n, 100);
            }
            _ => {
                self.mailbox.try_push(i).expect("room");
                std::hint::black_box(self.mailbox.try_pop());
            }
        }
    }

    /// Removes every slot registration and empties the mailbox, so the next run
    /// starts as the first did.
    pub fn reset(&self) {
        for k in self.slots.iter().flatten() {
            self.routes.unregister(k);
        }
        while self.mailbox.try_pop().is_some() {}
    }

    /// Routes registered now (the 10,000 known ones plus live slots).
    pub fn routes(&self) -> usize {
        self.routes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_run_does_not_grow_the_table_and_reset_restores_it() {
        let mix = SeedMix::new(2);
        for i in 0..(4 * SLOTS * 2) {
            mix.op(0, i);
        }
        assert_eq!(
            mix.routes(),
            10_000,
            "two rounds: every slot registered then unregistered"
        );
        for i in 0..4 * 10 {
            mix.op(1, i);
        }
        assert_eq!(mix.routes(), 10_010);
        mix.reset();
        assert_eq!(mix.routes(), 10_000);
    }
}
