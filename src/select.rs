//! Choosing what to analyse in capture files: a capture filter after the files (pcap-filter
//! syntax, compiled by libpcap in the `live` build) and the built-in selectors `--server` and
//! `--client`, which every build has. Both become one [`FrameFilter`].

use std::ffi::OsString;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use mailtap::capture::Frame;
use mailtap::parallel::FrameFilter;

/// Addresses in a network: `ADDR` or `ADDR/PREFIX`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Net {
    addr: IpAddr,
    prefix: u8,
}

impl Net {
    fn parse(text: &str) -> Result<Net, String> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("'{addr}' is not an IPv4 or IPv6 address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|&p| p <= max)
                .ok_or_else(|| format!("prefix '/{p}' is not in 0..={max}"))?,
        };
        Ok(Net { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match (self.addr, ip) {
            (IpAddr::V6(_), IpAddr::V4(v4)) => IpAddr::V6(v4.to_ipv6_mapped()),
            (IpAddr::V4(_), IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => return false,
            },
            _ => ip,
        };
        let bits = |ip: IpAddr| -> u128 {
            match ip {
                IpAddr::V4(v4) => u128::from(u32::from(v4)) << 96,
                IpAddr::V6(v6) => u128::from(v6),
            }
        };
        // An IPv4 address sits in the top 32 bits: its prefix counts from the top as well.
        let prefix = u32::from(self.prefix);
        let mask = if prefix == 0 {
            0
        } else {
            u128::MAX << (128 - prefix.min(128))
        };
        (bits(ip) ^ bits(self.addr)) & mask == 0
    }
}

/// `--server ADDR[/PREFIX][:PORT]` (IPv6 with a port in brackets: `[2001:db8::25]:25`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoint {
    net: Net,
    port: Option<u16>,
}

impl Endpoint {
    pub fn parse(text: &str) -> Result<Endpoint, String> {
        let text = text.trim();
        let (net, port) = if let Some(rest) = text.strip_prefix('[') {
            let (inside, after) = rest
                .split_once(']')
                .ok_or_else(|| format!("'{text}': missing ']'"))?;
            let port = match after {
                "" => None,
                _ => Some(
                    after
                        .strip_prefix(':')
                        .ok_or_else(|| format!("'{text}': expected :PORT after ']'"))?,
                ),
            };
            (inside, port)
        } else if text.matches(':').count() == 1 {
            let (net, port) = text.split_once(':').unwrap_or((text, ""));
            (net, Some(port))
        } else {
            (text, None)
        };
        let port = match port {
            None => None,
            Some(p) => Some(
                p.parse::<u16>()
                    .ok()
                    .filter(|&p| p > 0)
                    .ok_or_else(|| format!("port '{p}' is not in 1..=65535"))?,
            ),
        };
        Ok(Endpoint {
            net: Net::parse(net)?,
            port,
        })
    }

    pub fn matches(&self, addr: SocketAddr) -> bool {
        self.port.is_none_or(|p| p == addr.port()) && self.net.contains(addr.ip())
    }
}

/// `--client ADDR[/PREFIX]`.
pub fn parse_client(text: &str) -> Result<Net, String> {
    Net::parse(text.trim())
}

/// The words pcap-filter expressions start with (tcpdump's primitives and operators).
const FILTER_WORDS: &[&str] = &[
    "host",
    "net",
    "port",
    "portrange",
    "src",
    "dst",
    "tcp",
    "udp",
    "icmp",
    "icmp6",
    "ip",
    "ip6",
    "arp",
    "rarp",
    "ether",
    "vlan",
    "mpls",
    "not",
    "and",
    "or",
    "less",
    "greater",
    "proto",
    "gateway",
    "broadcast",
    "multicast",
    "inbound",
    "outbound",
    "len",
];

/// Splits the words after the options into capture files and a capture filter: the filter
/// starts at the first word that is not an existing file (nor `-`) and begins as a
/// pcap-filter expression does (`host`, `port`, `tcp`, `not`, `(`...), as in
/// `mailtap -r f.pcap host 192.0.2.25`.
pub fn split_filter(words: Vec<OsString>) -> (Vec<OsString>, Option<String>) {
    let starts_filter = |word: &OsString| {
        if word == "-" || Path::new(word).exists() {
            return false;
        }
        let text = word.to_string_lossy();
        let first = text.split_whitespace().next().unwrap_or("");
        first.starts_with('(')
            || first.starts_with('!')
            || FILTER_WORDS.contains(&first.to_ascii_lowercase().as_str())
    };
    match words.iter().position(starts_filter) {
        Some(at) => {
            let mut files = words;
            let filter: Vec<String> = files
                .split_off(at)
                .iter()
                .map(|w| w.to_string_lossy().into_owned())
                .collect();
            (files, Some(filter.join(" ")))
        }
        None => (words, None),
    }
}

/// What to keep of the frames of capture files.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// A pcap-filter expression (the `live` build compiles it).
    pub filter: Option<String>,
    pub servers: Vec<Endpoint>,
    pub clients: Vec<Net>,
}

/// The one-line answer of a build without libpcap to a capture filter on files.
#[cfg_attr(feature = "live", allow(dead_code))]
pub fn no_filter_here(filter: &str) -> String {
    format!(
        "a capture filter on files ('{filter}') needs the live build, where libpcap compiles it: apt-get install libpcap-dev, then cargo build --release --features live. Every build has --server ADDR[/PREFIX][:PORT] and --client ADDR[/PREFIX]"
    )
}

impl Selection {
    pub fn is_empty(&self) -> bool {
        self.filter.is_none() && self.servers.is_empty() && self.clients.is_empty()
    }

    /// Checks the filter (compiles it once) and makes the frame filter; `None` when nothing is
    /// selected.
    pub fn frame_filter(self) -> Result<Option<FrameFilter>, String> {
        if self.is_empty() {
            return Ok(None);
        }
        if let Some(filter) = &self.filter {
            bpf::check(filter)?;
        }
        Ok(Some(FrameFilter::new(move || {
            let selection = self.clone();
            let mut bpf = selection.filter.as_deref().map(bpf::Programs::new);
            Box::new(move |frame: &Frame<'_>| {
                selection.keeps_addresses(frame)
                    && bpf.as_mut().is_none_or(|programs| programs.keeps(frame))
            })
        })))
    }

    /// `--server` and `--client`: the packet is to or from a server, and to or from a client.
    fn keeps_addresses(&self, frame: &Frame<'_>) -> bool {
        if self.servers.is_empty() && self.clients.is_empty() {
            return true;
        }
        let Ok(segment) = mailtap::decode::decode(frame) else {
            return false;
        };
        let ends = [segment.src, segment.dst];
        let server_end = |s: &SocketAddr| self.servers.iter().any(|e| e.matches(*s));
        let client_end = |s: &SocketAddr| self.clients.iter().any(|n| n.contains(s.ip()));
        match (self.servers.is_empty(), self.clients.is_empty()) {
            (false, true) => ends.iter().any(server_end),
            (true, false) => ends.iter().any(client_end),
            _ => {
                (server_end(&ends[0]) && client_end(&ends[1]))
                    || (server_end(&ends[1]) && client_end(&ends[0]))
            }
        }
    }
}

#[cfg(feature = "live")]
mod bpf {
    use std::collections::HashMap;

    use mailtap::capture::{Frame, LinkType};
    use pcap::{BpfProgram, Capture, Linktype};

    fn compile(link: LinkType, filter: &str) -> Result<BpfProgram, String> {
        let dead = Capture::dead(Linktype(link.0 as i32)).map_err(|e| e.to_string())?;
        dead.compile(filter, true)
            .map_err(|e| format!("capture filter '{filter}': {e}"))
    }

    /// Compiles the filter once for Ethernet: a syntax error is a usage error, before any file
    /// is read.
    pub fn check(filter: &str) -> Result<(), String> {
        compile(LinkType::ETHERNET, filter).map(drop)
    }

    /// The filter compiled for each link type met (pcapng files may hold several). A link type
    /// the filter cannot be compiled for keeps no frame.
    pub struct Programs {
        filter: String,
        compiled: HashMap<u32, Option<BpfProgram>>,
    }

    impl Programs {
        pub fn new(filter: &str) -> Self {
            Programs {
                filter: filter.to_string(),
                compiled: HashMap::new(),
            }
        }

        pub fn keeps(&mut self, frame: &Frame<'_>) -> bool {
            let filter = &self.filter;
            self.compiled
                .entry(frame.link.0)
                .or_insert_with(|| compile(frame.link, filter).ok())
                .as_ref()
                .is_some_and(|program| program.filter(frame.data))
        }
    }
}

#[cfg(not(feature = "live"))]
mod bpf {
    use mailtap::capture::Frame;

    pub fn check(filter: &str) -> Result<(), String> {
        Err(super::no_filter_here(filter))
    }

    pub struct Programs;

    impl Programs {
        pub fn new(_: &str) -> Self {
            Programs
        }

        pub fn keeps(&mut self, _: &Frame<'_>) -> bool {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sock(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn endpoints_and_networks() {
        let e = Endpoint::parse("192.0.2.0/24:25").unwrap();
        assert!(e.matches(sock("192.0.2.77:25")));
        assert!(!e.matches(sock("192.0.2.77:587")));
        assert!(!e.matches(sock("192.0.3.1:25")));
        let e = Endpoint::parse("198.51.100.25").unwrap();
        assert!(e.matches(sock("198.51.100.25:2525")));
        assert!(!e.matches(sock("198.51.100.26:2525")));
        let e = Endpoint::parse("[2001:db8::/32]:25").unwrap();
        assert!(e.matches(sock("[2001:db8:1::25]:25")));
        assert!(!e.matches(sock("[2001:db9::25]:25")));
        let e = Endpoint::parse("2001:db8::25").unwrap();
        assert!(e.matches(sock("[2001:db8::25]:40000")));
        assert!(Endpoint::parse("0.0.0.0/0")
            .unwrap()
            .matches(sock("1.2.3.4:5")));
        for bad in [
            "192.0.2.1/33",
            "192.0.2.1:0",
            "192.0.2.1:70000",
            "mx.example",
            "[::1",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
        let n = parse_client("10.0.0.0/8").unwrap();
        assert!(n.contains("10.1.2.3".parse().unwrap()));
        assert!(n.contains("::ffff:10.1.2.3".parse().unwrap()));
        assert!(!n.contains("11.0.0.1".parse().unwrap()));
    }

    #[test]
    fn filter_words_follow_the_files() {
        let words = |w: &[&str]| w.iter().map(OsString::from).collect::<Vec<_>>();
        let (files, filter) =
            split_filter(words(&["-", "host", "192.0.2.25", "and", "port", "25"]));
        assert_eq!(files, words(&["-"]));
        assert_eq!(filter.as_deref(), Some("host 192.0.2.25 and port 25"));
        let (files, filter) = split_filter(words(&["a.pcap", "b.pcap"]));
        assert_eq!((files.len(), filter), (2, None));
        let (files, filter) = split_filter(words(&["tcp port 25"]));
        assert_eq!((files.len(), filter.as_deref()), (0, Some("tcp port 25")));
    }
}
