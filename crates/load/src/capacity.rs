//! `mcpbench-load capacity`: for each server, the highest per-connection rate at
//! which it answers every call within the SLO, on this machine.
//!
//! - **The rule of one trial** ([`judge`]): nothing lost, and either the whole
//!   trial's p99 is within the SLO or at least `--window-share` of its one-second
//!   windows (those with at least [`MIN_WINDOW_SAMPLES`] calls) have p99 within
//!   it. A long stall of the VM (~100 ms) pushes the whole p99 over but spoils
//!   one second; short ones in several seconds spoil windows while the whole p99
//!   holds; an overloaded server, whose queue builds, fails both.
//! - **The search** ([`Search`]): the rate doubles from `--start` until a trial
//!   fails, then `--steps` bisections between the last pass and the first
//!   failure; one trial accepts or rejects a rate, either way. Both sides of the
//!   edge are then tried again `--repeats` times: the lowest rate rejected
//!   (all passing overturn the rejection and the search goes on above it, at
//!   most [`MAX_RECHECKS`] times), then the rate found (all must pass, or the
//!   figure is withdrawn and the next lower rate that passed is repeated
//!   instead, at most [`MAX_WITHDRAWALS`] times). A search that reaches its
//!   highest rate with every trial passing is a lower bound, never a capacity.
//! - **Interleaved:** every server's search advances one trial per round, in the
//!   order A B C, then C B A, ...: a slow period of the machine falls on all of
//!   them, and their ratio comes from trials run next to each other.
//!
//! Every trial starts the server fresh, loads it and stops it, and is kept in
//! `capacity.json`.

use mcpbench_files::ConnectionsFile;
use mcpbench_files::capacity::{CAPACITY_SCHEMA, CapacityFile, CapacityStatus, Trial};
use mcpbench_files::compare::{CompareEntry, Outcome};

use std::path::Path;

use crate::cli::CapacityPlan;
use crate::cli::check_seconds;
use crate::compare::unserved;
use crate::error::LoadError;
use crate::experiment::{EXIT_NOT_RUN, Experiment};
use crate::peers::{Peer, PeerName};
use crate::runner::{LoadArgs, Setup, one};

mod search;
pub use search::{MAX_RECHECKS, MAX_WITHDRAWALS, Search, next_rate};

/// A window with fewer calls is not judged (its p99 would be its maximum).
pub const MIN_WINDOW_SAMPLES: u64 = 100;

/// The highest total rate a search tries when `--max-rate` is not given: far
/// beyond what any server carries on one machine, so that the search ends at a
/// failure of the server, not at this bound.
pub const MACHINE_BOUND_PER_S: f64 = 1_000_000.0;

/// The rule of one trial, in words, as `capacity.json` records it.
pub fn rule(slo_ms: f64, share: f64) -> String {
    format!(
        "nothing lost, and either the whole trial's p99 ≤ {slo_ms} ms or at least {:.0}% of its one-second windows with {MIN_WINDOW_SAMPLES} calls or more have p99 ≤ {slo_ms} ms",
        share * 100.0
    )
}

/// What one trial found, by the rule ([`rule`]): the two readings of the SLO
/// each forgive what the other cannot. A stall of ~100 ms pushes the whole
/// trial's p99 over 15 ms but spoils one window; short stalls every few seconds
/// spoil several windows by a few ms while the whole trial's p99 stays within.
/// An overloaded server, whose queue grows, fails both.
pub fn judge(rate: f64, e: &CompareEntry, slo_ns: u64, share: f64) -> Trial {
    let r: Option<&ConnectionsFile> = e.result.as_ref();
    let (achieved, p99, lost) = r.map_or((0.0, 0, 0), |r| {
        (r.messages.achieved_per_s, r.latency_ns.p99, r.messages.lost)
    });
    let (within, counted) = r.map_or((0, 0), |r| {
        r.latency_windows.within(slo_ns, MIN_WINDOW_SAMPLES)
    });
    let mut why = e.why.clone();
    let whole_ok = p99 <= slo_ns;
    let windows_ok = counted > 0 && within as f64 >= share * counted as f64;
    if e.result.is_some() && !whole_ok && !windows_ok {
        let ms = |ns: u64| ns as f64 / 1e6;
        why.push(format!(
            "p99 {:.2} ms over the SLO of {:.2} ms, and {within} of {counted} windows within it (at least {:.0}% needed)",
            ms(p99),
            ms(slo_ns),
            share * 100.0
        ));
    }
    Trial {
        order: 0,
        rate_per_connection: rate,
        repeat: false,
        passed: e.outcome == Outcome::Passed && why.is_empty(),
        achieved_per_s: achieved,
        lost,
        p99_ns: p99,
        windows_counted: counted as u64,
        windows_within: within as u64,
        why,
    }
}

/// A refused plan, by flag.
pub fn check(plan: &CapacityPlan) -> Result<(), LoadError> {
    let positive = |v: f64| v.is_finite() && v > 0.0;
    if plan.count == 0 {
        return Err(LoadError::Plan("--count must be at least 1".into()));
    }
    for (flag, v) in [("--start", plan.start), ("--slo-p99-ms", plan.slo_p99_ms)] {
        if !positive(v) {
            return Err(LoadError::Plan(format!(
                "{flag} {v}: a positive number is expected"
            )));
        }
    }
    // The search may go down to --start / 64, which must stay a rate a load takes.
    if plan.start / 64.0 < 1e-6 {
        return Err(LoadError::Plan(format!(
            "--start {}: at least 6.4e-5 (the search goes down to --start / 64, and a load's rate is at least 1e-6)",
            plan.start
        )));
    }
    if let Some(max) = plan.max_rate
        && !(positive(max) && max >= plan.start)
    {
        return Err(LoadError::Plan(format!(
            "--max-rate {max}: a number at least --start ({}) is expected",
            plan.start
        )));
    }
    if !(plan.window_share > 0.0 && plan.window_share <= 1.0) {
        return Err(LoadError::Plan(format!(
            "--window-share {}: a share above 0 and at most 1 is expected",
            plan.window_share
        )));
    }
    check_seconds("--duration", plan.shape.duration, 86_400.0, "a day")
}

/// The highest rate per connection the search may try.
pub fn max_rate(plan: &CapacityPlan) -> f64 {
    plan.max_rate
        .unwrap_or(MACHINE_BOUND_PER_S / plan.count as f64)
        .max(plan.start)
}

/// One server's part of the run.
struct Lane {
    name: PeerName,
    peer: Result<Peer, LoadError>,
    description: String,
    search: Search,
    /// Why the server could not be started for a trial: its search stops there
    /// (a server that does not start is not an overloaded one).
    not_started: Option<String>,
    /// Why the server does not serve the generation asked for: never run.
    not_served: Option<&'static str>,
}

/// Runs every server's search, interleaved; returns the file (not yet written).
pub async fn run_capacity(plan: &CapacityPlan, setup: &Setup) -> Result<CapacityFile, LoadError> {
    check(plan)?;
    let slo_ns = (plan.slo_p99_ms * 1e6) as u64;
    let max = max_rate(plan);
    let mut lanes: Vec<Lane> = setup
        .names
        .iter()
        .map(|&name| Lane {
            name,
            peer: setup.peer(name, plan.shape.size),
            description: String::new(),
            search: Search::new(plan.start, max, plan.steps, plan.repeats),
            not_started: None,
            not_served: unserved(name, plan.shape.protocol),
        })
        .collect();
    for lane in lanes.iter().filter(|l| l.not_served.is_some()) {
        println!(
            "capacity: {}: not run in {}: {}",
            lane.name,
            plan.shape.protocol.name(),
            lane.not_served.unwrap_or_default()
        );
    }
    let mut order = 0u64;
    for round in 0.. {
        let mut ran = false;
        let indices: Vec<usize> = if round % 2 == 0 {
            (0..lanes.len()).collect()
        } else {
            (0..lanes.len()).rev().collect()
        };
        for i in indices {
            let lane = &mut lanes[i];
            let Ok(peer) = &lane.peer else { continue };
            if lane.not_started.is_some() || lane.not_served.is_some() {
                continue;
            }
            let Some((rate, repeat)) = lane.search.next_trial() else {
                continue;
            };
            ran = true;
            let args = LoadArgs {
                count: plan.count,
                rate,
                shape: &plan.shape,
                abandon: false,
                give_up_after: None,
            };
            let out = setup.dir.join(format!("{}.json", lane.name));
            let e = one(peer, &args, &setup.bins, &out).await;
            lane.description.clone_from(&e.description);
            if e.outcome == Outcome::NotRun {
                let why = e.why.join("; ");
                println!(
                    "capacity: {}: could not be started: {why}; its search stops",
                    lane.name
                );
                lane.not_started = Some(why);
                continue;
            }
            let mut t = judge(rate, &e, slo_ns, plan.window_share);
            t.order = order;
            t.repeat = repeat;
            order += 1;
            println!(
                "capacity: [{order}] {} at {rate:.4} calls/s per connection{}: {} ({:.0} calls/s answered, p99 {:.2} ms, {}/{} windows within){}",
                lane.name,
                if repeat { " (repeat)" } else { "" },
                if t.passed { "passed" } else { "failed" },
                t.achieved_per_s,
                t.p99_ns as f64 / 1e6,
                t.windows_within,
                t.windows_counted,
                if t.why.is_empty() {
                    String::new()
                } else {
                    format!(": {}", t.why.join("; "))
                }
            );
            lane.search.record(t);
        }
        if !ran {
            break;
        }
    }
    let servers = lanes
        .into_iter()
        .map(|lane| match (lane.not_served, lane.peer) {
            (Some(why), peer) => {
                let description = peer.map(|p| p.description).unwrap_or_default();
                let mut e =
                    Search::new(plan.start, max, 0, 0).conclude(lane.name.name(), description);
                e.status = CapacityStatus::NotServed;
                e.why = vec![why.into()];
                e
            }
            (None, Ok(_)) => {
                let mut e = lane.search.conclude(lane.name.name(), lane.description);
                if let Some(why) = lane.not_started {
                    e.status = CapacityStatus::NotRun;
                    e.capacity_per_connection = None;
                    e.lower_bound_per_connection = None;
                    e.rejected_per_connection = None;
                    e.why = vec![format!("could not be started for a trial: {why}")];
                }
                e
            }
            (None, Err(why)) => {
                let mut e =
                    Search::new(plan.start, max, 0, 0).conclude(lane.name.name(), String::new());
                e.why = vec![why.to_string()];
                e
            }
        })
        .collect();
    Ok(CapacityFile {
        schema: CAPACITY_SCHEMA.into(),
        connections: plan.count,
        duration_s: plan.shape.duration,
        slo_p99_ns: slo_ns,
        window_share: plan.window_share,
        min_window_samples: MIN_WINDOW_SAMPLES,
        max_rate_per_connection: max,
        rule: rule(plan.slo_p99_ms, plan.window_share),
        protocol: plan.shape.protocol.name().into(),
        servers,
    })
}

impl Experiment for CapacityPlan {
    type File = CapacityFile;
    const NAME: &'static str = "capacity";

    fn check(&self) -> Result<(), LoadError> {
        check(self)
    }

    fn servers(&self) -> &[PeerName] {
        &self.servers
    }

    fn out(&self) -> Option<&Path> {
        self.out.as_deref()
    }

    async fn run(&self, setup: &Setup) -> Result<CapacityFile, LoadError> {
        run_capacity(self, setup).await
    }

    fn table(file: &CapacityFile) -> String {
        mcpbench_tables::capacity(file)
    }

    fn verdict(file: &CapacityFile) -> (u8, Vec<String>) {
        let why = file
            .servers
            .iter()
            .filter(|s| !s.why.is_empty())
            .map(|s| format!("{}: {}", s.name, s.why.join("; ")))
            .collect();
        (exit_code(file), why)
    }
}

/// The exit code of a capacity run: 0 when every server has a confirmed
/// capacity; otherwise, the first that applies: 3 when a server could not be
/// started or does not serve the generation asked for, 1 when one has no
/// capacity (no rate passed, or none repeated), 4 when one was capped (a lower
/// bound only).
pub fn exit_code(file: &CapacityFile) -> u8 {
    let any = |s: CapacityStatus| file.servers.iter().any(|e| e.status == s);
    if any(CapacityStatus::NotRun) || any(CapacityStatus::NotServed) {
        EXIT_NOT_RUN
    } else if any(CapacityStatus::NoPass) || any(CapacityStatus::Withdrawn) {
        1
    } else if any(CapacityStatus::Capped) {
        4
    } else {
        0
    }
}

#[cfg(test)]
mod tests;
