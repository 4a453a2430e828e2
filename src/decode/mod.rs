//! Decode layer: from a captured frame to a TCP segment, or a reason why not.
//!
//! The link layer is peeled by hand in `link` (Linux SLL2 and BSD NULL/LOOP are not covered
//! by etherparse); IPv4, IPv6 with extension headers, 802.1Q/QinQ and TCP are sliced by
//! etherparse's lax parser, which keeps what it could read of a truncated packet. No byte is
//! copied: a [`TcpSegment`] borrows the frame.

mod fast;
mod link;

use std::net::{IpAddr, SocketAddr};

use etherparse::{LaxNetSlice, LaxSlicedPacket, TransportSlice};

use crate::capture::Frame;

/// The TCP flags mailtap acts on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpFlags {
    /// SYN: the segment opens the connection (its sequence number precedes the first byte).
    pub syn: bool,
    /// ACK: the acknowledgement number is valid.
    pub ack: bool,
    /// FIN: the sender has no more bytes after this segment's.
    pub fin: bool,
    /// RST: the connection is reset.
    pub rst: bool,
}

/// One TCP segment, borrowed from its frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpSegment<'a> {
    /// Source address and port.
    pub src: SocketAddr,
    /// Destination address and port.
    pub dst: SocketAddr,
    /// Sequence number (RFC 9293 §3.1).
    pub seq: u32,
    /// Acknowledgement number (meaningful when [`TcpFlags::ack`] is set).
    pub ack: u32,
    /// The flags mailtap acts on.
    pub flags: TcpFlags,
    /// The TCP payload as captured.
    pub payload: &'a [u8],
    /// Payload bytes that were on the wire but not captured (snaplen): the segment covers
    /// `payload.len() + missing` sequence numbers.
    pub missing: u32,
}

/// Why a frame yields no TCP segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skip {
    /// A link type mailtap does not decode.
    UnsupportedLink,
    /// Not IP, or IP carrying something other than TCP.
    NotTcp,
    /// An IP fragment (fragments are counted, not reassembled).
    Fragment,
    /// The frame was cut before the end of the TCP header.
    Truncated,
}

/// Decodes one frame down to TCP.
///
/// The common case (complete, unfragmented IPv4/IPv6 over Ethernet, cooked or raw links) is
/// read by hand; everything else goes through etherparse. Both give the same answer.
#[inline]
pub fn decode<'a>(frame: &Frame<'a>) -> Result<TcpSegment<'a>, Skip> {
    match decode_lazy(frame) {
        Lazy::Tcp(raw) => Ok(raw.segment()),
        Lazy::Decoded(decoded) => decoded,
    }
}

pub(crate) use fast::Raw;

/// A frame decoded as far as deciding whether it matters needs.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Lazy<'a> {
    /// A TCP segment read by the fast path: ports and payload at hand, the rest on demand
    /// ([`Raw::segment`] gives what [`decode`] gives).
    Tcp(Raw<'a>),
    /// Decoded whole (the fast path's answer was a skip, or it did not know the frame).
    Decoded(Result<TcpSegment<'a>, Skip>),
}

/// Like [`decode`], but a common TCP segment is only located: most segments of a big capture
/// are dropped after a look at their ports and first payload bytes.
#[inline]
pub(crate) fn decode_lazy<'a>(frame: &Frame<'a>) -> Lazy<'a> {
    match fast::decode(frame.link, frame.data) {
        Some(Ok(raw)) => Lazy::Tcp(raw),
        Some(Err(skip)) => Lazy::Decoded(Err(skip)),
        None => Lazy::Decoded(decode_full(frame)),
    }
}

/// Decodes one frame with etherparse's full slicing (the reference for [`decode`]).
fn decode_full<'a>(frame: &Frame<'a>) -> Result<TcpSegment<'a>, Skip> {
    let sliced = link::slice(frame.link, frame.data)?;
    tcp_segment(&sliced)
}

fn tcp_segment<'a>(packet: &LaxSlicedPacket<'a>) -> Result<TcpSegment<'a>, Skip> {
    let truncated_or_not_tcp = || {
        if packet.stop_err.is_some() {
            Skip::Truncated
        } else {
            Skip::NotTcp
        }
    };
    let (src_ip, dst_ip, ip_payload) = match &packet.net {
        Some(LaxNetSlice::Ipv4(v4)) => {
            let header = v4.header();
            (
                IpAddr::V4(header.source_addr()),
                IpAddr::V4(header.destination_addr()),
                v4.payload(),
            )
        }
        Some(LaxNetSlice::Ipv6(v6)) => {
            let header = v6.header();
            (
                IpAddr::V6(header.source_addr()),
                IpAddr::V6(header.destination_addr()),
                v6.payload(),
            )
        }
        Some(LaxNetSlice::Arp(_)) => return Err(Skip::NotTcp),
        None => return Err(truncated_or_not_tcp()),
    };
    if ip_payload.fragmented {
        return Err(Skip::Fragment);
    }
    if ip_payload.ip_number != etherparse::IpNumber::TCP {
        return Err(Skip::NotTcp);
    }
    let Some(TransportSlice::Tcp(tcp)) = &packet.transport else {
        return Err(Skip::Truncated);
    };
    let payload = tcp.payload();
    let missing = if ip_payload.incomplete {
        claimed_tcp_len(packet)
            .map(|len| len.saturating_sub(tcp.header_slice().len() + payload.len()))
            .unwrap_or(0) as u32
    } else {
        0
    };
    Ok(TcpSegment {
        src: SocketAddr::new(src_ip, tcp.source_port()),
        dst: SocketAddr::new(dst_ip, tcp.destination_port()),
        seq: tcp.sequence_number(),
        ack: tcp.acknowledgment_number(),
        flags: TcpFlags {
            syn: tcp.syn(),
            ack: tcp.ack(),
            fin: tcp.fin(),
            rst: tcp.rst(),
        },
        payload,
        missing,
    })
}

/// The length of the TCP header plus payload as the IP header announces it.
fn claimed_tcp_len(packet: &LaxSlicedPacket<'_>) -> Option<usize> {
    match packet.net.as_ref()? {
        LaxNetSlice::Ipv4(v4) => {
            let header = v4.header();
            let ext = v4.extensions().auth.map_or(0, |a| a.slice().len());
            (header.total_len() as usize).checked_sub(header.slice().len() + ext)
        }
        LaxNetSlice::Ipv6(v6) => {
            (v6.header().payload_length() as usize).checked_sub(v6.extensions().slice().len())
        }
        LaxNetSlice::Arp(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{LinkType, Timestamp};
    use crate::test_rng::Rng;

    fn tcp_header(payload: &[u8], options: usize) -> Vec<u8> {
        let mut t = vec![0x9c, 0x40, 0, 25, 1, 2, 3, 4, 5, 6, 7, 8];
        t.push((((20 + options) / 4) << 4) as u8);
        t.extend_from_slice(&[0x18, 0xff, 0xff, 0, 0, 0, 0]);
        t.extend(std::iter::repeat_n(1, options));
        t.extend_from_slice(payload);
        t
    }

    fn ipv4(proto: u8, l4: &[u8], options: usize, fragment: u16) -> Vec<u8> {
        let total = (20 + options + l4.len()) as u16;
        let mut p = vec![0x45 + (options / 4) as u8, 0];
        p.extend_from_slice(&total.to_be_bytes());
        p.extend_from_slice(&[0, 1]);
        p.extend_from_slice(&fragment.to_be_bytes());
        p.extend_from_slice(&[64, proto, 0, 0, 192, 0, 2, 10, 198, 51, 100, 25]);
        p.extend(std::iter::repeat_n(1, options));
        p.extend_from_slice(l4);
        p
    }

    fn ipv6(next: u8, l4: &[u8], hop_by_hop: bool) -> Vec<u8> {
        let ext: &[u8] = if hop_by_hop {
            &[6, 0, 1, 4, 0, 0, 0, 0]
        } else {
            &[]
        };
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&((ext.len() + l4.len()) as u16).to_be_bytes());
        p.push(if hop_by_hop { 0 } else { next });
        p.push(64);
        p.extend_from_slice(&[0x20, 1, 0xd, 0xb8]);
        p.extend_from_slice(&[0; 11]);
        p.push(0x10);
        p.extend_from_slice(&[0x20, 1, 0xd, 0xb8]);
        p.extend_from_slice(&[0; 11]);
        p.push(0x25);
        p.extend_from_slice(ext);
        p.extend_from_slice(l4);
        p
    }

    /// Frames of every link type around IP packets of every kind.
    fn frames() -> Vec<(LinkType, Vec<u8>)> {
        let payload = b"EHLO client.example.test\r\n";
        let tcp = tcp_header(payload, 0);
        let tcp_opts = tcp_header(payload, 12);
        let udp = [0x9c, 0x40, 0, 53, 0, 12, 0, 0, 1, 2, 3, 4];
        let packets = vec![
            ipv4(6, &tcp, 0, 0x4000),
            ipv4(6, &tcp_opts, 8, 0),
            ipv4(6, &tcp_header(b"", 0), 0, 0),
            ipv4(17, &udp, 0, 0),
            ipv4(1, &[8, 0, 0, 0, 0, 0, 0, 0], 0, 0),
            ipv4(6, &tcp, 0, 0x2000),
            ipv4(6, &tcp, 0, 0x0010),
            ipv4(51, &[6, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 0, 0),
            ipv6(6, &tcp, false),
            ipv6(6, &tcp_opts, true),
            ipv6(17, &udp, false),
            ipv6(58, &[128, 0, 0, 0], false),
            ipv6(44, &[6, 0, 0, 1, 0, 0, 0, 1], false),
        ];
        let mut frames = Vec::new();
        for packet in &packets {
            let ether_type: &[u8] = if packet[0] >> 4 == 4 {
                &[8, 0]
            } else {
                &[0x86, 0xdd]
            };
            for tags in 0..=4 {
                let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
                for t in 0..tags {
                    f.extend_from_slice(&[[0x81, 0], [0x88, 0xa8], [0x91, 0]][t % 3]);
                    f.extend_from_slice(&[0, 100]);
                }
                f.extend_from_slice(ether_type);
                f.extend_from_slice(packet);
                frames.push((LinkType::ETHERNET, f.clone()));
                f.extend_from_slice(&[0; 6]); // Ethernet padding after the IP packet
                frames.push((LinkType::ETHERNET, f));
            }
            let mut sll = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0];
            sll.extend_from_slice(ether_type);
            sll.extend_from_slice(packet);
            frames.push((LinkType::LINUX_SLL, sll));
            let mut sll2 = ether_type.to_vec();
            sll2.extend_from_slice(&[0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0]);
            sll2.extend_from_slice(packet);
            frames.push((LinkType::LINUX_SLL2, sll2));
            for link in [LinkType::RAW, LinkType::IPV4, LinkType::IPV6] {
                frames.push((link, packet.clone()));
            }
            let mut null = vec![2, 0, 0, 0];
            null.extend_from_slice(packet);
            frames.push((LinkType::NULL, null));
        }
        frames
    }

    fn both(
        link: LinkType,
        data: &[u8],
    ) -> (Result<TcpSegment<'_>, Skip>, Result<TcpSegment<'_>, Skip>) {
        let frame = Frame {
            number: 1,
            ts: Timestamp::default(),
            link,
            data,
            orig_len: data.len() as u32,
            interface: 0,
        };
        (decode(&frame), decode_full(&frame))
    }

    #[test]
    fn the_fast_path_takes_the_common_frames() {
        let frames = frames();
        let fast = frames
            .iter()
            .filter(|(link, data)| fast::decode(*link, data).is_some())
            .count();
        assert!(fast * 2 > frames.len(), "{fast} of {}", frames.len());
        for (link, data) in &frames {
            let (a, b) = both(*link, data);
            assert_eq!(a, b, "{link:?} {data:02x?}");
        }
    }

    #[test]
    fn fast_and_full_decoding_agree_on_truncated_and_damaged_frames() {
        let mut rng = Rng(0x0123_4567_89ab_cdef);
        for (link, frame) in frames() {
            for len in 0..frame.len() {
                let (a, b) = both(link, &frame[..len]);
                assert_eq!(a, b, "{link:?} cut at {len}: {:02x?}", &frame[..len]);
            }
            for _ in 0..2000 {
                let mut damaged = frame.clone();
                for _ in 0..1 + rng.index(3) {
                    let at = rng.index(damaged.len().min(90));
                    damaged[at] = match rng.index(4) {
                        0 => rng.next() as u8,
                        1 => damaged[at] ^ (1 << rng.index(8)),
                        2 => 0,
                        _ => 0xff,
                    };
                }
                let cut = damaged.len() - rng.index(8).min(damaged.len());
                let (a, b) = both(link, &damaged[..cut]);
                assert_eq!(a, b, "{link:?}: {:02x?}", &damaged[..cut]);
            }
        }
    }
}
