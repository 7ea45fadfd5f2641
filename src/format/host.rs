//! Born and store hosts: 4 or 16 address bytes plus an int32 port, printed as Java prints them.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// A host as stored in a record. The port is kept as the raw int32 from disk: Java's recovery
/// does not validate it, so neither do we (it is only interpreted when printed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Host {
    /// The address.
    pub ip: IpAddr,
    /// The port.
    pub port: i32,
}

impl Host {
    /// A host of `ip` and `port`.
    pub fn new(ip: IpAddr, port: i32) -> Self {
        Host { ip, port }
    }

    /// An IPv4 host.
    pub fn v4(a: [u8; 4], port: i32) -> Self {
        Host {
            ip: IpAddr::V4(Ipv4Addr::from(a)),
            port,
        }
    }

    /// True when the record must carry this host in the 16-byte IPv6 form (sysFlag bit 4 or 5).
    /// An IPv4-mapped IPv6 address is an `Inet4Address` in Java, hence IPv4.
    pub fn is_v6(&self) -> bool {
        match self.ip {
            IpAddr::V4(_) => false,
            IpAddr::V6(v6) => v6.to_ipv4_mapped().is_none(),
        }
    }

    /// The address bytes as written into a record (4 or 16 bytes).
    pub fn addr_bytes(&self) -> AddrBytes {
        match self.ip {
            IpAddr::V4(v4) => AddrBytes::V4(v4.octets()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => AddrBytes::V4(v4.octets()),
                None => AddrBytes::V6(v6.octets()),
            },
        }
    }

    /// Builds a host from the bytes of a record, as `InetAddress.getByAddress` would.
    pub fn from_bytes(addr: &[u8], port: i32) -> Self {
        let ip = match addr.len() {
            4 => IpAddr::V4(Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3])),
            _ => {
                let mut a = [0u8; 16];
                a.copy_from_slice(&addr[..16]);
                let v6 = Ipv6Addr::from(a);
                match v6.to_ipv4_mapped() {
                    Some(v4) => IpAddr::V4(v4),
                    None => IpAddr::V6(v6),
                }
            }
        };
        Host { ip, port }
    }

    /// Parses `1.2.3.4:10911` or `[fe80:0:0:0:0:0:0:c2]:34182` (any IPv6 spelling).
    pub fn parse(s: &str) -> Option<Host> {
        let sa: SocketAddr = s.parse().ok()?;
        Some(Host {
            ip: sa.ip(),
            port: sa.port() as i32,
        })
    }
}

/// The address bytes of a host, without allocation.
#[derive(Debug, Clone, Copy)]
pub enum AddrBytes {
    /// 4 bytes.
    V4([u8; 4]),
    /// 16 bytes.
    V6([u8; 16]),
}

impl AddrBytes {
    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        match self {
            AddrBytes::V4(a) => a,
            AddrBytes::V6(a) => a,
        }
    }
}

impl From<SocketAddr> for Host {
    fn from(sa: SocketAddr) -> Self {
        Host {
            ip: sa.ip(),
            port: sa.port() as i32,
        }
    }
}

/// Prints as Java's `RemotingHelper`/`InetSocketAddress` do in `reader.json`: `127.0.0.1:10911`
/// and, for IPv6, the full uncompressed lowercase form in brackets: `[fe80:0:0:0:0:0:0:c2]:34182`.
impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ip {
            IpAddr::V4(v4) => write!(f, "{}:{}", v4, self.port),
            IpAddr::V6(v6) => {
                if let Some(v4) = v6.to_ipv4_mapped() {
                    return write!(f, "{}:{}", v4, self.port);
                }
                f.write_str("[")?;
                for (i, seg) in v6.segments().iter().enumerate() {
                    if i > 0 {
                        f.write_str(":")?;
                    }
                    write!(f, "{:x}", seg)?;
                }
                write!(f, "]:{}", self.port)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_like_java() {
        let h = Host::parse("[fe80::c2]:34182").unwrap();
        assert_eq!(h.to_string(), "[fe80:0:0:0:0:0:0:c2]:34182");
        assert!(h.is_v6());
        let h = Host::parse("127.0.0.1:10911").unwrap();
        assert_eq!(h.to_string(), "127.0.0.1:10911");
        assert!(!h.is_v6());
        let mapped = Host::parse("[::ffff:10.0.0.1]:1").unwrap();
        assert!(!mapped.is_v6());
        assert_eq!(mapped.to_string(), "10.0.0.1:1");
        assert_eq!(mapped.addr_bytes().as_slice(), &[10, 0, 0, 1]);
    }

    #[test]
    fn bytes_round_trip() {
        let h = Host::parse("[2001:db8::10]:10911").unwrap();
        let b = h.addr_bytes();
        assert_eq!(Host::from_bytes(b.as_slice(), 10911), h);
    }
}
