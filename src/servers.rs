//! Who is affected: the per-server view of a normal analysis (`mailtap --by server`).
//!
//! For each server (address and the name it gives in its greeting): its sessions by verdict,
//! and which client networks were offered STARTTLS and which were not (IPv4 /24, IPv6 /64, or
//! exact client addresses), with the time range of each. A server that offers STARTTLS to some
//! clients and not to others shows the signature of a firewall policy that strips STARTTLS for
//! some clients only; the view names such servers first (the `inconsistent-offer` finding of
//! each of their sessions points here).
//!
//! JSON (`mailtap --by server --format json`), schema `mailtap-servers/1`:
//!
//! ```json
//! { "schema": "mailtap-servers/1", "split": ["10.25.2.10:25", ...], "servers": [SERVER, ...] }
//! ```
//!
//! - `split`: the servers that offered STARTTLS to some client networks and not to others
//! - SERVER: `{ "server": "ip:port", "name": greeting name or null, "sessions": N,
//!   "verdicts": { verdict: count }, "split": bool, "starttls": { "offered": [GROUP, ...],
//!   "not_offered": [GROUP, ...], "unknown": N (sessions without a complete EHLO reply) } }`
//! - GROUP: `{ "clients": "10.25.1.0/24" | "2001:db8:1:2::/64" | exact address, "sessions": N,
//!   "first_time", "last_time" (RFC 3339 UTC, the first and last session's start) }`
//!
//! A session counts as "not offered" when the EHLO reply its client got lists no STARTTLS —
//! masked (`250-XXXXXXXA`) or deleted lines included: what the client saw is what matters.

use std::collections::BTreeMap;
use std::fmt::{self, Display};
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use serde::{Serialize, Serializer};

use crate::capture::Timestamp;
use crate::classify::{ehlo_offer, SessionReport};
use crate::text::WireText;

/// The `schema` of the JSON document.
pub const SCHEMA: &str = "mailtap-servers/1";

/// Client addresses grouped together: a /24 or /64 network, or one address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Clients {
    /// A network: its first address and prefix length (`10.25.1.0/24`, `2001:db8::/64`).
    Network(IpAddr, u8),
    /// One client address (`--by server --exact`).
    Address(IpAddr),
}

impl Clients {
    /// The group of a client address: its /24 (IPv4) or /64 (IPv6), or the address itself.
    pub fn of(ip: IpAddr, exact: bool) -> Self {
        if exact {
            return Clients::Address(ip);
        }
        match ip {
            IpAddr::V4(v4) => {
                Clients::Network(IpAddr::V4(Ipv4Addr::from_bits(v4.to_bits() & !0xff)), 24)
            }
            IpAddr::V6(v6) => Clients::Network(
                IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & !((1u128 << 64) - 1))),
                64,
            ),
        }
    }
}

impl Display for Clients {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Clients::Network(ip, len) => write!(f, "{ip}/{len}"),
            Clients::Address(ip) => write!(f, "{ip}"),
        }
    }
}

impl Serialize for Clients {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Sessions of one client group, and when they started.
#[derive(Clone, Debug, Serialize)]
pub struct Group {
    /// Which clients.
    pub clients: Clients,
    /// How many sessions they had with the server.
    pub sessions: usize,
    /// Start of the earliest of those sessions (RFC 3339 in JSON).
    #[serde(serialize_with = "as_text")]
    pub first_time: Timestamp,
    /// Start of the latest of them.
    #[serde(serialize_with = "as_text")]
    pub last_time: Timestamp,
}

fn as_text<T: Display, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(value)
}

/// What one server's EHLO replies said about STARTTLS, by client group.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Offers {
    /// Groups whose EHLO reply listed STARTTLS.
    pub offered: Vec<Group>,
    /// Groups whose complete EHLO reply did not (masked or deleted lines included).
    pub not_offered: Vec<Group>,
    /// Sessions without a complete EHLO reply.
    pub unknown: usize,
}

/// One server's sessions.
#[derive(Clone, Debug, Serialize)]
pub struct Server {
    /// The server's address and port.
    #[serde(serialize_with = "as_text")]
    pub server: SocketAddr,
    /// The name in its first greeting (the first word after `220`), as sent.
    pub name: Option<WireText>,
    /// How many sessions it had.
    pub sessions: usize,
    /// Sessions per verdict name.
    pub verdicts: BTreeMap<&'static str, usize>,
    /// Offered STARTTLS to some client groups and not to others.
    pub split: bool,
    /// Who was offered STARTTLS.
    pub starttls: Offers,
}

/// The name a server gives in its greeting: the first word after the code.
fn greeting_name(report: &SessionReport) -> Option<WireText> {
    let g = report.record.greeting.as_ref()?;
    let line = g.first_line().as_bytes();
    let text = line.get(4..)?;
    let word = text.split(|&b| b == b' ').next()?;
    (!word.is_empty()).then(|| WireText::new(word))
}

fn add(groups: &mut Vec<Group>, clients: Clients, time: Timestamp) {
    match groups.iter_mut().find(|g| g.clients == clients) {
        Some(g) => {
            g.sessions += 1;
            g.first_time = g.first_time.min(time);
            g.last_time = g.last_time.max(time);
        }
        None => groups.push(Group {
            clients,
            sessions: 1,
            first_time: time,
            last_time: time,
        }),
    }
}

/// The per-server view of these sessions, split servers first, then by address.
pub fn by_server(reports: &[SessionReport], exact: bool) -> Vec<Server> {
    let mut servers: BTreeMap<SocketAddr, Server> = BTreeMap::new();
    for r in reports {
        let s = servers.entry(r.record.server).or_insert_with(|| Server {
            server: r.record.server,
            name: None,
            sessions: 0,
            verdicts: BTreeMap::new(),
            split: false,
            starttls: Offers::default(),
        });
        s.sessions += 1;
        *s.verdicts.entry(r.verdict.name()).or_default() += 1;
        if s.name.is_none() {
            s.name = greeting_name(r);
        }
        let clients = Clients::of(r.record.client.ip(), exact);
        match ehlo_offer(&r.record) {
            Some(reply) if reply.offers_starttls() => {
                add(&mut s.starttls.offered, clients, r.record.first_time)
            }
            Some(reply) if !reply.partial => {
                add(&mut s.starttls.not_offered, clients, r.record.first_time)
            }
            _ => s.starttls.unknown += 1,
        }
    }
    let mut list: Vec<Server> = servers.into_values().collect();
    for s in &mut list {
        s.starttls.offered.sort_by_key(|g| g.clients);
        s.starttls.not_offered.sort_by_key(|g| g.clients);
        s.split = !s.starttls.offered.is_empty() && !s.starttls.not_offered.is_empty();
    }
    list.sort_by_key(|s| (!s.split, s.server));
    list
}

#[derive(Serialize)]
struct Document<'a> {
    schema: &'static str,
    split: Vec<String>,
    servers: &'a [Server],
}

/// The `mailtap-servers/1` document.
pub fn write_json(out: &mut impl Write, servers: &[Server]) -> io::Result<()> {
    let doc = Document {
        schema: SCHEMA,
        split: servers
            .iter()
            .filter(|s| s.split)
            .map(|s| s.server.to_string())
            .collect(),
        servers,
    };
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    out.write_all(b"\n")
}

fn groups(list: &[Group]) -> String {
    // `YYYY-MM-DD HH:MM:SS`, and only the time of the end when it is the same day.
    let range = |a: Timestamp, b: Timestamp| {
        let (a, b) = (a.to_rfc3339(), b.to_rfc3339());
        let (day_a, day_b) = (
            a.get(..10).unwrap_or_default(),
            b.get(..10).unwrap_or_default(),
        );
        let time = |t: &str| t.get(11..19).unwrap_or_default().to_string();
        if day_a == day_b {
            format!("{day_a} {}..{}", time(&a), time(&b))
        } else {
            format!("{day_a} {}..{day_b} {}", time(&a), time(&b))
        }
    };
    list.iter()
        .map(|g| {
            format!(
                "{} ({} session{}, {})",
                g.clients,
                g.sessions,
                if g.sessions == 1 { "" } else { "s" },
                range(g.first_time, g.last_time)
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn names(list: &[Group]) -> String {
    list.iter()
        .map(|g| g.clients.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The view for people: split servers called out at the top, then one block per server.
pub fn write_table(out: &mut impl Write, servers: &[Server]) -> io::Result<()> {
    for s in servers.iter().filter(|s| s.split) {
        writeln!(
            out,
            "POLICY SPLIT: {} offers STARTTLS to {} but not to {}",
            s.server,
            names(&s.starttls.offered),
            names(&s.starttls.not_offered)
        )?;
    }
    if servers.iter().any(|s| s.split) {
        writeln!(out)?;
    }
    for s in servers {
        let name = s
            .name
            .as_ref()
            .map(|n| format!(" ({})", n.escaped()))
            .unwrap_or_default();
        let verdicts: Vec<String> = s.verdicts.iter().map(|(v, n)| format!("{n} {v}")).collect();
        writeln!(
            out,
            "{}{name}: {} session{} ({})",
            s.server,
            s.sessions,
            if s.sessions == 1 { "" } else { "s" },
            verdicts.join(", ")
        )?;
        if !s.starttls.offered.is_empty() {
            writeln!(
                out,
                "  STARTTLS offered to:     {}",
                groups(&s.starttls.offered)
            )?;
        }
        if !s.starttls.not_offered.is_empty() {
            writeln!(
                out,
                "  STARTTLS not offered to: {}",
                groups(&s.starttls.not_offered)
            )?;
        }
        if s.starttls.unknown > 0 {
            writeln!(
                out,
                "  no complete EHLO reply:  {} session(s)",
                s.starttls.unknown
            )?;
        }
    }
    let split = servers.iter().filter(|s| s.split).count();
    writeln!(
        out,
        "{} server{}, {split} offering STARTTLS to some client networks only",
        servers.len(),
        if servers.len() == 1 { "" } else { "s" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_groups() {
        let g = |ip: &str, exact| Clients::of(ip.parse().unwrap(), exact).to_string();
        assert_eq!(g("10.25.3.77", false), "10.25.3.0/24");
        assert_eq!(g("10.25.3.77", true), "10.25.3.77");
        assert_eq!(g("2001:db8:1:2:3:4:5:6", false), "2001:db8:1:2::/64");
        assert_eq!(g("2001:db8::6", true), "2001:db8::6");
    }
}
