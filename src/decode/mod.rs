//! Decode layer: from a captured frame to a TCP segment, or a reason why not.
//!
//! The link layer is peeled by hand in [`link`] (Linux SLL2 and BSD NULL/LOOP are not covered
//! by etherparse); IPv4, IPv6 with extension headers, 802.1Q/QinQ and TCP are sliced by
//! etherparse's lax parser, which keeps what it could read of a truncated packet. No byte is
//! copied: a [`TcpSegment`] borrows the frame.

mod link;

use std::net::{IpAddr, SocketAddr};

use etherparse::{LaxNetSlice, LaxSlicedPacket, TransportSlice};

use crate::capture::Frame;

/// The TCP flags mailtap acts on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpFlags {
    pub syn: bool,
    pub ack: bool,
    pub fin: bool,
    pub rst: bool,
}

/// One TCP segment, borrowed from its frame.
#[derive(Clone, Copy, Debug)]
pub struct TcpSegment<'a> {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
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
pub fn decode<'a>(frame: &Frame<'a>) -> Result<TcpSegment<'a>, Skip> {
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
