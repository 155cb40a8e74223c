//! Where the load goes: `http://HOST:PORT/PATH` (MCP Streamable HTTP) or
//! `tcp://HOST:PORT` (newline-delimited JSON-RPC), resolved once.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::str::FromStr;

/// A server to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Newline-delimited JSON-RPC over TCP.
    Tcp {
        /// Resolved address.
        addr: SocketAddr,
    },
    /// MCP Streamable HTTP.
    Http {
        /// Resolved address.
        addr: SocketAddr,
        /// `HOST:PORT` as given, for the `Host` header.
        authority: String,
        /// The endpoint's path (`/mcp`).
        path: String,
    },
}

impl Target {
    /// The address to connect to.
    pub fn addr(&self) -> SocketAddr {
        match self {
            Target::Tcp { addr } | Target::Http { addr, .. } => *addr,
        }
    }

    /// True for HTTP.
    pub fn is_http(&self) -> bool {
        matches!(self, Target::Http { .. })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Tcp { addr } => write!(f, "tcp://{addr}"),
            Target::Http {
                authority, path, ..
            } => write!(f, "http://{authority}{path}"),
        }
    }
}

/// A `--target` that is not a URL this tool can load, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{url:?}: {why}")]
pub struct BadTarget {
    /// The URL given.
    pub url: String,
    /// What is wrong with it.
    pub why: String,
}

impl FromStr for Target {
    type Err = BadTarget;

    fn from_str(url: &str) -> Result<Target, BadTarget> {
        let bad = |why: String| BadTarget {
            url: url.to_string(),
            why,
        };
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("expected http://HOST:PORT/PATH or tcp://HOST:PORT".into()))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let resolve = |default_port: Option<u16>| -> Result<SocketAddr, BadTarget> {
            let with_port = match (authority.rsplit_once(':'), default_port) {
                (Some((_, port)), _) if !port.contains(']') => authority.to_string(),
                (_, Some(p)) => format!("{authority}:{p}"),
                (_, None) => return Err(bad("a port is needed (tcp://HOST:PORT)".into())),
            };
            let mut addrs = with_port
                .to_socket_addrs()
                .map_err(|e| bad(format!("cannot resolve {with_port}: {e}")))?
                .collect::<Vec<_>>();
            // IPv4 first: the client processes bind IPv4 source addresses.
            addrs.sort_by_key(|a| !a.is_ipv4());
            addrs
                .first()
                .copied()
                .ok_or_else(|| bad(format!("{with_port} resolved to nothing")))
        };
        if authority.is_empty() {
            return Err(bad("no host".into()));
        }
        match scheme {
            "tcp" => {
                if !path.is_empty() && path != "/" {
                    return Err(bad("a tcp:// target has no path".into()));
                }
                Ok(Target::Tcp {
                    addr: resolve(None)?,
                })
            }
            "http" => Ok(Target::Http {
                addr: resolve(Some(80))?,
                authority: authority.to_string(),
                path: if path.is_empty() {
                    "/".into()
                } else {
                    path.into()
                },
            }),
            "https" => Err(bad(
                "https is not supported (load a plain-HTTP endpoint, e.g. behind the TLS terminator)"
                    .into(),
            )),
            other => Err(bad(format!("unknown scheme {other:?} (http or tcp)"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_into_address_host_and_path() {
        let t: Target = "http://127.0.0.1:8000/mcp".parse().unwrap();
        assert_eq!(
            t,
            Target::Http {
                addr: "127.0.0.1:8000".parse().unwrap(),
                authority: "127.0.0.1:8000".into(),
                path: "/mcp".into()
            }
        );
        assert_eq!(t.to_string(), "http://127.0.0.1:8000/mcp");
        let t: Target = "http://localhost:9/".parse().unwrap();
        assert_eq!(t.addr().port(), 9);
        let t: Target = "tcp://127.0.0.1:7400".parse().unwrap();
        assert_eq!(
            t,
            Target::Tcp {
                addr: "127.0.0.1:7400".parse().unwrap()
            }
        );
        assert_eq!(
            "http://127.0.0.1/x"
                .parse::<Target>()
                .unwrap()
                .addr()
                .port(),
            80
        );
    }

    #[test]
    fn bad_urls_are_refused_with_the_url_named() {
        for bad in [
            "127.0.0.1:8000",
            "ftp://127.0.0.1:1/",
            "https://127.0.0.1:443/mcp",
            "tcp://127.0.0.1",
            "tcp://127.0.0.1:1/mcp",
            "http:///mcp",
            "http://no-such-host.invalid:80/mcp",
        ] {
            let e = bad.parse::<Target>().unwrap_err();
            assert!(e.to_string().contains(bad), "{bad}: {e}");
        }
    }
}
