//! A counting global allocator: live bytes and allocation counts, for leak checks
//! and per-entry costs (docs/method.md: leaks are measured by counting allocations, not
//! by RSS). Install it in a bench or binary with
//! `#[global_allocator] static ALLOC: mcpbench_alloc::Counting = mcpbench_alloc::Counting;`
//! (the benches reach it as `mcpbench::alloc`).
//! Without it installed, the counters stay at zero.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

static LIVE: AtomicI64 = AtomicI64::new(0);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static ALLOCATED: AtomicU64 = AtomicU64::new(0);

/// The system allocator, counting. Three relaxed atomic adds per call.
pub struct Counting;

// SAFETY: every call is forwarded unchanged to `System`; the counters only observe.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as ours.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as i64, Ordering::Relaxed);
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            ALLOCATED.fetch_add(layout.size() as u64, Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as ours.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as i64, Ordering::Relaxed);
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            ALLOCATED.fetch_add(layout.size() as u64, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size() as i64, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as ours.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            ALLOCATED.fetch_add(new_size as u64, Ordering::Relaxed);
        }
        p
    }
}

/// Bytes currently allocated through [`Counting`] (user-space heap, as requested
/// by the program: allocator overhead and fragmentation are not in it).
pub fn live_bytes() -> i64 {
    LIVE.load(Ordering::Relaxed)
}

/// Allocations (and reallocations) made so far.
pub fn allocations() -> u64 {
    ALLOCATIONS.load(Ordering::Relaxed)
}

/// Bytes requested by every allocation and reallocation so far (a reallocation
/// counts its new size): what a workload allocates, freed or not.
pub fn allocated_bytes() -> u64 {
    ALLOCATED.load(Ordering::Relaxed)
}

/// True when [`Counting`] is the global allocator of this process.
pub fn installed() -> bool {
    let before = allocations();
    std::hint::black_box(Box::new(0u64));
    allocations() != before
}

/// Resident set size of this process in bytes, from `/proc/self/status` (kernel
/// view: includes freed memory the allocator kept, code, stacks).
pub fn rss_bytes() -> Option<u64> {
    rss_from(&std::fs::read_to_string("/proc/self/status").ok()?)
}

/// Resident set size of process `pid` (Linux `/proc/PID/status`), `None` where the
/// kernel does not say or the process is gone: how a harness reads a server it
/// cannot ask (one that is not ours).
pub fn rss_bytes_of(pid: u32) -> Option<u64> {
    rss_from(&std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
}

fn rss_from(status: &str) -> Option<u64> {
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    #[test]
    fn not_installed_in_tests_so_counters_stay_still() {
        assert!(!super::installed());
        assert_eq!(super::live_bytes(), 0);
        assert!(super::rss_bytes().is_some_and(|r| r > 0));
        assert_eq!(
            super::rss_bytes_of(std::process::id()).map(|r| r > 0),
            Some(true)
        );
        assert_eq!(super::rss_bytes_of(u32::MAX), None, "no such process");
    }
}
