//! The common case by hand: a well-formed Ethernet (up to three VLAN tags), Linux cooked,
//! BSD loopback or raw IP frame carrying an unfragmented IPv4 or IPv6 packet (no IPv6
//! extension header, no IPv4 AH) that is complete in the capture, then TCP or anything else.
//!
//! Most frames of a big capture are exactly that, and most are not SMTP: this path reads a
//! few header fields with bounds-checked indexing and builds the [`TcpSegment`] directly, about
//! five times cheaper than etherparse's full slicing. Anything unusual — truncated headers,
//! fragments, extension headers, lengths that disagree with the capture, unknown EtherTypes —
//! returns `None` and goes to etherparse, so the answer is always the one etherparse gives
//! (a test in the parent module checks both paths agree on many generated and damaged frames).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::{Skip, TcpFlags, TcpSegment};
use crate::capture::LinkType;

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
/// 802.1Q, 802.1ad and the old double-tag type: what etherparse peels (up to three).
const VLAN_TYPES: [u16; 3] = [0x8100, 0x88a8, 0x9100];

/// A TCP segment found by the fast path, not yet turned into a [`TcpSegment`]: its ports and
/// payload can be looked at first, without building socket addresses.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Raw<'a> {
    ips: Ips<'a>,
    tcp: &'a [u8; 20],
    payload: &'a [u8],
}

#[derive(Clone, Copy, Debug)]
enum Ips<'a> {
    /// Source then destination, as in the IPv4 header.
    V4(&'a [u8; 8]),
    V6(&'a [u8; 32]),
}

impl<'a> Raw<'a> {
    #[inline]
    pub fn src_port(&self) -> u16 {
        u16::from_be_bytes([self.tcp[0], self.tcp[1]])
    }

    #[inline]
    pub fn dst_port(&self) -> u16 {
        u16::from_be_bytes([self.tcp[2], self.tcp[3]])
    }

    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// The segment, as etherparse's path would give it.
    #[inline]
    pub fn segment(&self) -> TcpSegment<'a> {
        let (src, dst) = match self.ips {
            Ips::V4(a) => (
                IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3])),
                IpAddr::V4(Ipv4Addr::new(a[4], a[5], a[6], a[7])),
            ),
            Ips::V6(a) => {
                let half = |at: usize| {
                    let bytes: [u8; 16] = a[at..at + 16].try_into().unwrap_or_default();
                    IpAddr::V6(Ipv6Addr::from(bytes))
                };
                (half(0), half(16))
            }
        };
        let h = self.tcp;
        let word = |at: usize| u32::from_be_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]]);
        let flags = h[13];
        TcpSegment {
            src: SocketAddr::new(src, self.src_port()),
            dst: SocketAddr::new(dst, self.dst_port()),
            seq: word(4),
            ack: word(8),
            flags: TcpFlags {
                syn: flags & 0x02 != 0,
                ack: flags & 0x10 != 0,
                fin: flags & 0x01 != 0,
                rst: flags & 0x04 != 0,
            },
            payload: self.payload,
            missing: 0,
        }
    }
}

/// `None`: not the common case, ask etherparse.
#[inline]
pub(super) fn decode(link: LinkType, data: &[u8]) -> Option<Result<Raw<'_>, Skip>> {
    match link {
        LinkType::ETHERNET => {
            let ether_type = u16::from_be_bytes([*data.get(12)?, *data.get(13)?]);
            ether(ether_type, data.get(14..)?)
        }
        LinkType::RAW
        | LinkType::RAW_OPENBSD
        | LinkType::RAW_BSDOS
        | LinkType::IPV4
        | LinkType::IPV6 => ip(data),
        LinkType::LINUX_SLL => {
            let ether_type = u16::from_be_bytes([*data.get(14)?, *data.get(15)?]);
            ether(ether_type, data.get(16..)?)
        }
        LinkType::LINUX_SLL2 => {
            let ether_type = u16::from_be_bytes([*data.first()?, *data.get(1)?]);
            ether(ether_type, data.get(20..)?)
        }
        // BSD loopback: the family check is cheap enough in the full path.
        _ => None,
    }
}

/// After the link header: VLAN tags, then IP.
#[inline]
fn ether(mut ether_type: u16, mut rest: &[u8]) -> Option<Result<Raw<'_>, Skip>> {
    for _ in 0..=3 {
        match ether_type {
            ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => return ip(rest),
            t if VLAN_TYPES.contains(&t) => {
                ether_type = u16::from_be_bytes([*rest.get(2)?, *rest.get(3)?]);
                rest = rest.get(4..)?;
            }
            _ => return None,
        }
    }
    None
}

/// An IP packet, its version from its first nibble (as etherparse decides).
#[inline]
pub(super) fn ip(packet: &[u8]) -> Option<Result<Raw<'_>, Skip>> {
    match packet.first()? >> 4 {
        4 => ipv4(packet),
        6 => ipv6(packet),
        _ => None,
    }
}

#[inline]
fn ipv4(packet: &[u8]) -> Option<Result<Raw<'_>, Skip>> {
    let header_len = usize::from(packet[0] & 0x0f) * 4;
    let total_len = usize::from(u16::from_be_bytes([*packet.get(2)?, *packet.get(3)?]));
    if header_len < 20 || total_len < header_len || total_len > packet.len() {
        return None;
    }
    let flags_offset = u16::from_be_bytes([packet[6], packet[7]]);
    if flags_offset & 0x3fff != 0 {
        // more fragments, or a fragment offset
        return Some(Err(Skip::Fragment));
    }
    match packet[9] {
        6 => {}
        51 => return None, // IPsec AH: an extension header etherparse walks
        _ => return Some(Err(Skip::NotTcp)),
    }
    let ips = Ips::V4(packet.get(12..20)?.try_into().ok()?);
    tcp(ips, packet.get(header_len..total_len)?)
}

#[inline]
fn ipv6(packet: &[u8]) -> Option<Result<Raw<'_>, Skip>> {
    let header: &[u8; 40] = packet.get(..40)?.try_into().ok()?;
    let payload_len = usize::from(u16::from_be_bytes([header[4], header[5]]));
    if payload_len == 0 || 40 + payload_len > packet.len() {
        return None;
    }
    match header[6] {
        6 => {}
        // extension headers etherparse walks
        0 | 43 | 44 | 51 | 60 => return None,
        _ => return Some(Err(Skip::NotTcp)),
    }
    let ips = Ips::V6(header[8..40].try_into().ok()?);
    tcp(ips, packet.get(40..40 + payload_len)?)
}

#[inline]
fn tcp<'a>(ips: Ips<'a>, segment: &'a [u8]) -> Option<Result<Raw<'a>, Skip>> {
    let tcp: &[u8; 20] = segment.get(..20)?.try_into().ok()?;
    let header_len = usize::from(tcp[12] >> 4) * 4;
    if header_len < 20 {
        return None;
    }
    Some(Ok(Raw {
        ips,
        tcp,
        payload: segment.get(header_len..)?,
    }))
}
