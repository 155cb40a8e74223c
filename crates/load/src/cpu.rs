//! CPU time: this process's (getrusage) and another process's (/proc), so a run
//! can say what the generator and the server each spent.

use std::time::Duration;

/// This process's user + system CPU time.
pub fn self_cpu() -> Duration {
    // SAFETY: getrusage fills the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1_000);
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// Process `pid`'s user + system CPU time from `/proc/PID/stat`, or `None` when
/// it cannot be read.
pub fn process_cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after its ')' are
    // fixed: utime and stime are the 12th and 13th of them.
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (hz > 0).then(|| Duration::from_secs_f64(ticks as f64 / hz as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_read_both_ways() {
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let own = self_cpu();
        let proc = process_cpu(std::process::id()).expect("/proc/self/stat");
        assert!(own > Duration::ZERO);
        // /proc counts in clock ticks (10 ms): within a tick or two of getrusage.
        assert!(
            proc <= own + Duration::from_millis(50),
            "{proc:?} vs {own:?}"
        );
        assert!(process_cpu(u32::MAX).is_none());
    }
}
