//! Name databases: what `host NAME`, `ether host NAME`, `net NAME`,
//! `port NAME` and `proto NAME` resolve to.
//!
//! Everything is read from files in the usual formats (hosts(5),
//! ethers(5), networks(5), services(5), protocols(5)), never from DNS, so
//! compiling is fast and repeatable. [`NameDb::system`] reads `/etc`, with
//! `VISOR_HOSTS`, `VISOR_ETHERS` and `VISOR_NETWORKS` naming replacements.
//! Services and protocols fall back to a built-in table when the system has
//! no file. The link-layer protocol names (`ether proto \ip`) are libpcap's
//! built-in table.
//!
//! Lookups ignore case, as the resolver does.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

/// Transport protocols a service name may be defined for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    Tcp,
    Udp,
    Sctp,
}

/// Resolved names, loaded once per compilation set-up.
#[derive(Clone, Debug, Default)]
pub struct NameDb {
    hosts: Vec<(String, IpAddr)>,
    ethers: Vec<(String, [u8; 6])>,
    networks: Vec<(String, u32)>,
    services: Vec<(String, u16, Transport)>,
    protocols: Vec<(String, u8)>,
}

/// Which files to read; `None` means the system's.
#[derive(Clone, Debug, Default)]
pub struct NameFiles<'a> {
    pub hosts: Option<&'a Path>,
    pub ethers: Option<&'a Path>,
    pub networks: Option<&'a Path>,
}

impl NameDb {
    /// The system's databases, with the `VISOR_*` variables' replacements.
    pub fn system() -> NameDb {
        let env = |var: &str| std::env::var_os(var).map(std::path::PathBuf::from);
        let (hosts, ethers, networks) = (
            env("VISOR_HOSTS"),
            env("VISOR_ETHERS"),
            env("VISOR_NETWORKS"),
        );
        NameDb::from_files(&NameFiles {
            hosts: hosts.as_deref(),
            ethers: ethers.as_deref(),
            networks: networks.as_deref(),
        })
    }

    /// The databases in `files`, the system's for those not given.
    /// Unreadable files are treated as empty.
    pub fn from_files(files: &NameFiles<'_>) -> NameDb {
        let read = |given: Option<&Path>, default: &str| {
            std::fs::read_to_string(given.unwrap_or(Path::new(default))).unwrap_or_default()
        };
        let mut db = NameDb::default();
        db.add_hosts(&read(files.hosts, "/etc/hosts"));
        db.add_ethers(&read(files.ethers, "/etc/ethers"));
        db.add_networks(&read(files.networks, "/etc/networks"));
        let services = read(None, "/etc/services");
        db.add_services(if services.is_empty() {
            BUILTIN_SERVICES
        } else {
            &services
        });
        let protocols = read(None, "/etc/protocols");
        db.add_protocols(if protocols.is_empty() {
            BUILTIN_PROTOCOLS
        } else {
            &protocols
        });
        db
    }

    /// Adds hosts(5) lines: `address name [aliases...]`.
    pub fn add_hosts(&mut self, text: &str) {
        for fields in lines(text) {
            let Some(Ok(addr)) = fields.first().map(|a| a.parse::<IpAddr>()) else {
                continue;
            };
            for name in &fields[1..] {
                self.hosts.push((name.to_ascii_lowercase(), addr));
            }
        }
    }

    /// Adds ethers(5) lines: `xx:xx:xx:xx:xx:xx name`.
    pub fn add_ethers(&mut self, text: &str) {
        for fields in lines(text) {
            if let [addr, name, ..] = fields.as_slice()
                && let Some(mac) = parse_mac(addr)
            {
                self.ethers.push((name.to_ascii_lowercase(), mac));
            }
        }
    }

    /// Adds networks(5) lines: `name number [aliases...]`.
    pub fn add_networks(&mut self, text: &str) {
        for fields in lines(text) {
            if let [name, number, aliases @ ..] = fields.as_slice()
                && let Some(net) = inet_network(number)
            {
                for n in std::iter::once(name).chain(aliases) {
                    self.networks.push((n.to_ascii_lowercase(), net));
                }
            }
        }
    }

    /// Adds services(5) lines: `name port/proto [aliases...]`.
    pub fn add_services(&mut self, text: &str) {
        for fields in lines(text) {
            let [name, port_proto, aliases @ ..] = fields.as_slice() else {
                continue;
            };
            let Some((port, proto)) = port_proto.split_once('/') else {
                continue;
            };
            let transport = match proto {
                "tcp" => Transport::Tcp,
                "udp" => Transport::Udp,
                "sctp" => Transport::Sctp,
                _ => continue,
            };
            let Ok(port) = port.parse::<u16>() else {
                continue;
            };
            for n in std::iter::once(name).chain(aliases) {
                self.services
                    .push((n.to_ascii_lowercase(), port, transport));
            }
        }
    }

    /// Adds protocols(5) lines: `name number [aliases...]`.
    pub fn add_protocols(&mut self, text: &str) {
        for fields in lines(text) {
            if let [name, number, aliases @ ..] = fields.as_slice()
                && let Ok(n) = number.parse::<u8>()
            {
                for a in std::iter::once(name).chain(aliases) {
                    self.protocols.push((a.to_ascii_lowercase(), n));
                }
            }
        }
    }

    /// Addresses of `name`, each once, in ascending order (the order
    /// glibc's resolver gives for hosts-file entries of equal preference).
    pub fn host(&self, name: &str) -> Vec<IpAddr> {
        let name = name.to_ascii_lowercase();
        let mut out: Vec<IpAddr> = Vec::new();
        for (n, a) in &self.hosts {
            if *n == name && !out.contains(a) {
                out.push(*a);
            }
        }
        out.sort();
        out
    }

    pub fn ether(&self, name: &str) -> Option<[u8; 6]> {
        let name = name.to_ascii_lowercase();
        self.ethers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, m)| *m)
    }

    /// The network number of `name`, as `getnetbyname` gives it.
    pub fn network(&self, name: &str) -> Option<u32> {
        let name = name.to_ascii_lowercase();
        self.networks
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, a)| *a)
    }

    /// The port of service `name` for `transport`.
    pub fn port(&self, name: &str, transport: Transport) -> Option<u16> {
        let name = name.to_ascii_lowercase();
        self.services
            .iter()
            .find(|(n, _, t)| *n == name && *t == transport)
            .map(|(_, p, _)| *p)
    }

    pub fn protocol(&self, name: &str) -> Option<u8> {
        let name = name.to_ascii_lowercase();
        self.protocols
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, p)| *p)
    }
}

/// Link-layer protocol names (libpcap's `eproto_db`).
pub fn ether_proto(name: &str) -> Option<u32> {
    const TABLE: [(&str, u32); 13] = [
        ("aarp", 0x80f3),
        ("arp", 0x0806),
        ("atalk", 0x809b),
        ("decnet", 0x6003),
        ("ip", 0x0800),
        ("ip6", 0x86dd),
        ("lat", 0x6004),
        ("loopback", 0x9000),
        ("mopdl", 0x6001),
        ("moprc", 0x6002),
        ("rarp", 0x8035),
        ("sca", 0x6007),
        ("lldp", 0x88cc),
    ];
    TABLE.iter().find(|(n, _)| *n == name).map(|&(_, v)| v)
}

/// 802.2 SAP names (libpcap's `llc_db`).
pub fn llc_sap(name: &str) -> Option<u32> {
    const TABLE: [(&str, u32); 4] = [
        ("iso", 0xfe),
        ("stp", 0x42),
        ("ipx", 0xe0),
        ("netbeui", 0xf0),
    ];
    TABLE.iter().find(|(n, _)| *n == name).map(|&(_, v)| v)
}

/// Non-empty lines split into fields, comments removed.
fn lines(text: &str) -> impl Iterator<Item = Vec<&str>> {
    text.lines().filter_map(|line| {
        let line = line.split('#').next().unwrap_or("");
        let fields: Vec<&str> = line.split_whitespace().collect();
        (!fields.is_empty()).then_some(fields)
    })
}

/// `xx:xx:xx:xx:xx:xx` (1 or 2 hex digits per byte; `-` or `.` also).
pub fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let parts: Vec<&str> = text.split([':', '-', '.']).collect();
    let mut mac = [0u8; 6];
    match parts.len() {
        6 => {
            for (byte, part) in mac.iter_mut().zip(&parts) {
                if part.is_empty() || part.len() > 2 {
                    return None;
                }
                *byte = u8::from_str_radix(part, 16).ok()?;
            }
        }
        3 => {
            for (i, part) in parts.iter().enumerate() {
                if part.len() != 4 {
                    return None;
                }
                let v = u16::from_str_radix(part, 16).ok()?;
                mac[2 * i..2 * i + 2].copy_from_slice(&v.to_be_bytes());
            }
        }
        1 if text.len() == 12 => {
            for (i, byte) in mac.iter_mut().enumerate() {
                *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
            }
        }
        _ => return None,
    }
    Some(mac)
}

/// `inet_network(3)`: dotted parts, right-aligned (`10.20` is `0x0a14`).
pub fn inet_network(text: &str) -> Option<u32> {
    let mut value: u32 = 0;
    let parts: Vec<&str> = text.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    for part in parts {
        let n = super::lex::number(part).ok()?;
        if n > 255 {
            return None;
        }
        value = (value << 8) | n;
    }
    Some(value)
}

/// An IPv4 address as `inet_aton` reads it with up to four parts; returns
/// the value and how many bits the parts covered (8 per part, 32 for one).
pub fn atoin(text: &str) -> Option<(u32, u32)> {
    let parts: Vec<&str> = text.split('.').collect();
    if parts.len() > 4 {
        return None;
    }
    let mut value: u32 = 0;
    for part in &parts {
        let n = super::lex::number(part).ok()?;
        if n > 255 {
            return None;
        }
        value = (value << 8) | n;
    }
    Some((value, 8 * parts.len() as u32))
}

/// IPv4 as a `u32` in host order.
pub fn ipv4_u32(addr: Ipv4Addr) -> u32 {
    u32::from(addr)
}

const BUILTIN_SERVICES: &str = "\
ftp-data 20/tcp\nftp 21/tcp\nssh 22/tcp\ntelnet 23/tcp\nsmtp 25/tcp\n\
domain 53/tcp\ndomain 53/udp\nbootps 67/udp\nbootpc 68/udp\ntftp 69/udp\n\
http 80/tcp\npop3 110/tcp\nntp 123/udp\nimap 143/tcp\nsnmp 161/udp\n\
https 443/tcp\nsyslog 514/udp\n";

const BUILTIN_PROTOCOLS: &str = "\
ip 0\nicmp 1\nigmp 2\nipip 4\ntcp 6\negp 8\nigrp 9\npup 12\nudp 17\nidp 22\n\
ipv6 41\nipv6-route 43\nipv6-frag 44\nrsvp 46\ngre 47\nesp 50\nah 51\n\
ipv6-icmp 58\nipv6-nonxt 59\nipv6-opts 60\npim 103\nvrrp 112\nsctp 132\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_file_formats() {
        let mut db = NameDb::default();
        db.add_hosts("10.0.0.1 a.example A2 # c\n::1 a.example\n");
        db.add_ethers("aa:00:04:00:14:0e host.e\n");
        db.add_networks("net10 10.20\n");
        db.add_services("smtp 25/tcp mail\n");
        assert_eq!(db.host("A.EXAMPLE").len(), 2);
        assert_eq!(db.ether("HOST.E"), Some([0xaa, 0, 4, 0, 0x14, 0x0e]));
        assert_eq!(db.network("net10"), Some(0x0a14));
        assert_eq!(db.port("mail", Transport::Tcp), Some(25));
        assert_eq!(db.port("mail", Transport::Udp), None);
    }

    #[test]
    fn mac_forms() {
        let want = Some([0xab, 0xcd, 0xef, 0, 0, 3]);
        assert_eq!(parse_mac("ab:cd:ef:0:0:3"), want);
        assert_eq!(parse_mac("abcd.ef00.0003"), want);
        assert_eq!(parse_mac("abcdef000003"), want);
        assert_eq!(parse_mac("ab:cd:ef:0g:00:00"), None);
    }
}
