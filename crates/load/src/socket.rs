//! Sockets and system limits: client sockets bound to a source address without
//! reserving a port, and the limits N connections need, checked before starting.

use crate::error::LoadError;
use std::net::{IpAddr, SocketAddr};

/// Connections per process: leaves room under the 20,000-file limit.
pub const PER_PROCESS: u64 = 15_000;

/// Checks the machine-wide limits N connections need: two descriptors each (client
/// and server side) under `fs.file-max`, and `per_address` ephemeral ports per
/// source address (one client process's share). A limit that cannot be read is not checked.
pub fn system_limits_allow(count: u64, per_address: u64) -> Result<(), LoadError> {
    let read = |path: &str| std::fs::read_to_string(path).ok();
    limits_allow(
        count,
        per_address,
        read("/proc/sys/fs/file-max").as_deref(),
        read("/proc/sys/net/ipv4/ip_local_port_range").as_deref(),
    )
}

/// [`system_limits_allow`] on the two files' contents.
fn limits_allow(
    count: u64,
    per_address: u64,
    file_max: Option<&str>,
    port_range: Option<&str>,
) -> Result<(), LoadError> {
    if let Some(max) = file_max.and_then(|s| s.trim().parse::<u64>().ok())
        && 2 * count + 10_000 > max
    {
        return Err(LoadError::Plan(format!(
            "{} descriptors needed (client and server side of each connection, plus slack), fs.file-max is {max}",
            2 * count + 10_000
        )));
    }
    if let Some(range) = port_range {
        let ends: Vec<u64> = range
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
        if let [low, high] = ends[..]
            && high.saturating_sub(low) + 1 < per_address
        {
            return Err(LoadError::Plan(format!(
                "{per_address} connections per source address need as many ephemeral ports; net.ipv4.ip_local_port_range {low}-{high} has {}",
                high.saturating_sub(low) + 1
            )));
        }
    }
    Ok(())
}

/// Soft limit on open files of this process.
pub fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// An unconnected TCP socket bound to `source` with `IP_BIND_ADDRESS_NO_PORT`: the
/// kernel picks the port at `connect`, by the whole 4-tuple. A plain `bind(source:0)`
/// reserves a port at bind time and checks it against every socket bound to that
/// address, TIME_WAIT ones included: measured here, 95% of the CPU during the connect
/// phase and ~300 connects/s once a previous run's 46,000 TIME_WAIT sockets linger
/// (`perf record -a`: `inet_bhash2_conflict`, `inet_bind2_bucket_match_addr_any`).
pub fn bind_source(source: IpAddr) -> std::io::Result<tokio::net::TcpSocket> {
    use std::os::fd::AsRawFd;
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(SocketAddr::new(source, 0)),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    let on: libc::c_int = 1;
    // SAFETY: a valid socket descriptor, a pointer to a c_int and its size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    socket.set_nonblocking(true)?;
    socket.bind(&SocketAddr::new(source, 0).into())?;
    Ok(tokio::net::TcpSocket::from_std_stream(socket.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_say_which_one_is_short() {
        assert_eq!(
            limits_allow(100_000, 14_286, Some("2466170\n"), Some("32768\t60999\n")).ok(),
            Some(())
        );
        let files = limits_allow(100_000, 14_286, Some("150000\n"), None).unwrap_err();
        assert!(
            files.to_string().contains("fs.file-max is 150000"),
            "{files}"
        );
        let ports = limits_allow(100_000, 14_286, None, Some("50000 60000")).unwrap_err();
        assert!(ports.to_string().contains("has 10001"), "{ports}");
        assert_eq!(
            limits_allow(100_000, 14_286, Some("garbage"), Some("")).ok(),
            Some(()),
            "unreadable limits are not checked"
        );
    }
}
