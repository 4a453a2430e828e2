//! A small in-memory writer of packet captures for mailtap's tests.
//!
//! Real software will not produce the edge cases mailtap must survive (out-of-order and
//! overlapping segments, one-byte segments, gaps, sequence wrap-around, injections, odd link
//! types, nanosecond or big-endian files), so tests make them here. Everything is std only and
//! every frame is valid on the wire: IPv4 header, TCP and UDP checksums are correct, so
//! `tshark -o tcp.check_checksum:TRUE -o ip.check_checksum:TRUE` decodes it cleanly.
//!
//! ```ignore
//! let mut cap = Capture::new(Format::PcapMicro, Link::Ethernet);
//! let mut c = cap.tcp("192.0.2.10:40000".parse()?, "198.51.100.25:25".parse()?);
//! c.handshake();
//! c.server(b"220 mail.example.test ESMTP\r\n");
//! c.client(b"EHLO me\r\n");
//! c.close();
//! let bytes: Vec<u8> = cap.finish();
//! ```
//!
//! A [`Conn`] shares the capture it came from (the capture is reference counted), so a test can
//! hold several connections and still call the capture's own methods between their writes.
//! Every `write`-like method returns the 1-based frame number of the last frame it wrote, which
//! is what mailtap reports as evidence.
#![allow(dead_code)]

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

/// TCP flag FIN.
pub const FIN: u8 = 0x01;
/// TCP flag SYN.
pub const SYN: u8 = 0x02;
/// TCP flag RST.
pub const RST: u8 = 0x04;
/// TCP flag PSH.
pub const PSH: u8 = 0x08;
/// TCP flag ACK.
pub const ACK: u8 = 0x10;
/// TCP flag URG.
pub const URG: u8 = 0x20;

/// IP protocol number of TCP.
pub const IPPROTO_TCP: u8 = 6;
/// IP protocol number of UDP.
pub const IPPROTO_UDP: u8 = 17;

/// MAC address used for the client side of Ethernet / SLL frames.
pub const CLIENT_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01];
/// MAC address used for the server side of Ethernet / SLL frames.
pub const SERVER_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x02];

/// Default start of the capture clock: 2024-01-01T00:00:00Z.
pub const DEFAULT_START: Duration = Duration::from_secs(1_704_067_200);

/// File format (and byte order / timestamp resolution) of the capture.
#[allow(clippy::enum_variant_names)] // `Format::PcapNg` reads better than `Format::Ng`
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// libpcap, little-endian, microsecond timestamps (magic a1b2c3d4).
    PcapMicro,
    /// libpcap, little-endian, nanosecond timestamps (magic a1b23c4d).
    PcapNano,
    /// libpcap, big-endian, microsecond timestamps.
    PcapBigEndian,
    /// libpcap, big-endian, nanosecond timestamps.
    PcapNanoBigEndian,
    /// pcapng, little-endian; interface 0 has `if_tsresol` 6 (microseconds).
    PcapNg,
    /// pcapng, little-endian; interface 0 has `if_tsresol` 9 (nanoseconds).
    PcapNgNano,
    /// pcapng, big-endian section; interface 0 has `if_tsresol` 6 (microseconds).
    PcapNgBigEndian,
}

impl Format {
    fn is_pcapng(self) -> bool {
        matches!(
            self,
            Format::PcapNg | Format::PcapNgNano | Format::PcapNgBigEndian
        )
    }

    fn big_endian(self) -> bool {
        matches!(
            self,
            Format::PcapBigEndian | Format::PcapNanoBigEndian | Format::PcapNgBigEndian
        )
    }

    fn resolution(self) -> Resolution {
        match self {
            Format::PcapNano | Format::PcapNanoBigEndian | Format::PcapNgNano => Resolution::Nano,
            _ => Resolution::Micro,
        }
    }
}

/// Timestamp resolution of a pcapng interface (`if_tsresol` 6 or 9).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// Microseconds (`if_tsresol` = 6).
    Micro,
    /// Nanoseconds (`if_tsresol` = 9).
    Nano,
}

/// Link-layer framing of an interface; decides the link type and the header put before IP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// Ethernet II (link type 1).
    Ethernet,
    /// Ethernet with one 802.1Q tag (TPID 0x8100) carrying this VLAN id (link type 1).
    Vlan(u16),
    /// Ethernet with two tags: 802.1ad outer (TPID 0x88a8) and 802.1Q inner (0x8100).
    QinQ {
        /// Outer (service) VLAN id.
        outer: u16,
        /// Inner (customer) VLAN id.
        inner: u16,
    },
    /// Linux cooked capture v1, 16-byte header (link type 113).
    Sll,
    /// Linux cooked capture v2, 20-byte header, what `tcpdump -i any` writes (link type 276).
    Sll2,
    /// Raw IP, version from the first nibble (link type 101).
    RawIp,
    /// Raw IPv4 only (LINKTYPE_IPV4, 228).
    Ipv4,
    /// Raw IPv6 only (LINKTYPE_IPV6, 229).
    Ipv6,
    /// BSD loopback (link type 0): 4-byte family in the file's byte order; 2 for IPv4, 30
    /// (Darwin) for IPv6.
    Null,
    /// BSD loopback (link type 0) with this IPv6 family value (24 BSD, 28 FreeBSD, 30 Darwin).
    NullAf6(u32),
    /// OpenBSD loopback (link type 108): 4-byte family in network byte order; 2 / 24.
    Loop,
}

impl Link {
    /// The LINKTYPE_ number written in the file.
    pub fn linktype(self) -> u16 {
        match self {
            Link::Ethernet | Link::Vlan(_) | Link::QinQ { .. } => 1,
            Link::Sll => 113,
            Link::Sll2 => 276,
            Link::RawIp => 101,
            Link::Ipv4 => 228,
            Link::Ipv6 => 229,
            Link::Null | Link::NullAf6(_) => 0,
            Link::Loop => 108,
        }
    }

    fn is_ethernet(self) -> bool {
        self.linktype() == 1
    }
}

/// One TCP segment, plain data so tests can mutate anything before writing it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Source address and port.
    pub src: SocketAddr,
    /// Destination address and port.
    pub dst: SocketAddr,
    /// True when the client sent it (decides MAC addresses and SLL packet type).
    pub from_client: bool,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number (written as is, even without the ACK flag).
    pub ack: u32,
    /// TCP flags: an OR of [`FIN`], [`SYN`], [`RST`], [`PSH`], [`ACK`], [`URG`].
    pub flags: u8,
    /// Receive window.
    pub window: u16,
    /// Raw TCP option bytes; padded with EOL (0) to a multiple of 4 when written.
    pub options: Vec<u8>,
    /// TCP payload.
    pub payload: Vec<u8>,
    /// IPv6 only: put a Hop-by-Hop options header (PadN) between IPv6 and TCP.
    pub hop_by_hop: bool,
    /// Interface (pcapng) the segment is written on; 0 for pcap.
    pub iface: usize,
}

impl Segment {
    /// The TCP header plus payload, checksum computed.
    pub fn tcp_bytes(&self) -> Vec<u8> {
        let mut opts = self.options.clone();
        while opts.len() % 4 != 0 {
            opts.push(0);
        }
        assert!(opts.len() <= 40, "TCP options longer than 40 bytes");
        let doff = ((20 + opts.len()) / 4) as u16;
        let mut t = Vec::with_capacity(20 + opts.len() + self.payload.len());
        t.extend_from_slice(&self.src.port().to_be_bytes());
        t.extend_from_slice(&self.dst.port().to_be_bytes());
        t.extend_from_slice(&self.seq.to_be_bytes());
        t.extend_from_slice(&self.ack.to_be_bytes());
        t.extend_from_slice(&((doff << 12) | u16::from(self.flags)).to_be_bytes());
        t.extend_from_slice(&self.window.to_be_bytes());
        t.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
        t.extend_from_slice(&opts);
        t.extend_from_slice(&self.payload);
        let sum = transport_checksum(self.src.ip(), self.dst.ip(), IPPROTO_TCP, &t);
        t[16..18].copy_from_slice(&sum.to_be_bytes());
        t
    }

    /// The whole IP packet (IPv4 with DF set and this IP id, or IPv6).
    pub fn ip_packet(&self, ip_id: u16) -> Vec<u8> {
        let tcp = self.tcp_bytes();
        match (self.src.ip(), self.dst.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => ipv4_packet(
                s,
                d,
                IPPROTO_TCP,
                &tcp,
                Ipv4Options {
                    id: ip_id,
                    ..Ipv4Options::default()
                },
            ),
            (IpAddr::V6(s), IpAddr::V6(d)) => ipv6_packet(s, d, IPPROTO_TCP, &tcp, self.hop_by_hop),
            _ => panic!("segment mixes IPv4 and IPv6 addresses"),
        }
    }
}

/// IPv4 header fields for [`ipv4_packet`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Options {
    /// Identification.
    pub id: u16,
    /// Time to live.
    pub ttl: u8,
    /// Don't-fragment flag.
    pub dont_fragment: bool,
    /// More-fragments flag.
    pub more_fragments: bool,
    /// Fragment offset in 8-byte units.
    pub fragment_offset: u16,
}

impl Default for Ipv4Options {
    /// id 0, TTL 64, DF set, not a fragment.
    fn default() -> Self {
        Ipv4Options {
            id: 0,
            ttl: 64,
            dont_fragment: true,
            more_fragments: false,
            fragment_offset: 0,
        }
    }
}

/// An IPv4 packet (IHL 5, header checksum computed) carrying `payload` as protocol `proto`.
pub fn ipv4_packet(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    payload: &[u8],
    opts: Ipv4Options,
) -> Vec<u8> {
    let total = 20 + payload.len();
    assert!(total <= 0xffff, "IPv4 packet too long");
    let mut flags_frag = opts.fragment_offset & 0x1fff;
    if opts.dont_fragment {
        flags_frag |= 0x4000;
    }
    if opts.more_fragments {
        flags_frag |= 0x2000;
    }
    let mut p = Vec::with_capacity(total);
    p.push(0x45);
    p.push(0);
    p.extend_from_slice(&(total as u16).to_be_bytes());
    p.extend_from_slice(&opts.id.to_be_bytes());
    p.extend_from_slice(&flags_frag.to_be_bytes());
    p.push(opts.ttl);
    p.push(proto);
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let sum = finish_checksum(ones_sum(0, &p));
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// An IPv6 packet (hop limit 64) carrying `payload` as `next_header`; with `hop_by_hop` an
/// 8-byte Hop-by-Hop options header (one PadN option) comes first.
pub fn ipv6_packet(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    next_header: u8,
    payload: &[u8],
    hop_by_hop: bool,
) -> Vec<u8> {
    let ext: Vec<u8> = if hop_by_hop {
        vec![next_header, 0, 1, 4, 0, 0, 0, 0]
    } else {
        Vec::new()
    };
    let plen = ext.len() + payload.len();
    assert!(plen <= 0xffff, "IPv6 payload too long");
    let mut p = Vec::with_capacity(40 + plen);
    p.extend_from_slice(&[0x60, 0, 0, 0]);
    p.extend_from_slice(&(plen as u16).to_be_bytes());
    p.push(if hop_by_hop { 0 } else { next_header });
    p.push(64);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(&ext);
    p.extend_from_slice(payload);
    p
}

/// A UDP datagram inside its IP packet (IPv4 with DF, or IPv6), checksum computed.
pub fn udp_packet(src: SocketAddr, dst: SocketAddr, payload: &[u8]) -> Vec<u8> {
    let len = 8 + payload.len();
    let mut u = Vec::with_capacity(len);
    u.extend_from_slice(&src.port().to_be_bytes());
    u.extend_from_slice(&dst.port().to_be_bytes());
    u.extend_from_slice(&(len as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    let mut sum = transport_checksum(src.ip(), dst.ip(), IPPROTO_UDP, &u);
    if sum == 0 {
        sum = 0xffff;
    }
    u[6..8].copy_from_slice(&sum.to_be_bytes());
    match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            ipv4_packet(s, d, IPPROTO_UDP, &u, Ipv4Options::default())
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => ipv6_packet(s, d, IPPROTO_UDP, &u, false),
        _ => panic!("UDP datagram mixes IPv4 and IPv6 addresses"),
    }
}

/// A complete Ethernet frame holding an ARP who-has request (for non-IP junk on link type 1).
pub fn arp_request_frame(sender: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
    let mut f = Vec::with_capacity(42);
    f.extend_from_slice(&[0xff; 6]);
    f.extend_from_slice(&CLIENT_MAC);
    f.extend_from_slice(&[0x08, 0x06]);
    f.extend_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, 1]);
    f.extend_from_slice(&CLIENT_MAC);
    f.extend_from_slice(&sender.octets());
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&target.octets());
    f
}

fn ones_sum(mut acc: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [b] = chunks.remainder() {
        acc += u32::from(*b) << 8;
    }
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc
}

fn finish_checksum(acc: u32) -> u16 {
    !(acc as u16)
}

fn transport_checksum(src: IpAddr, dst: IpAddr, proto: u8, segment: &[u8]) -> u16 {
    let mut pseudo = Vec::with_capacity(40);
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            pseudo.extend_from_slice(&s.octets());
            pseudo.extend_from_slice(&d.octets());
            pseudo.extend_from_slice(&[0, proto]);
            pseudo.extend_from_slice(&(segment.len() as u16).to_be_bytes());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            pseudo.extend_from_slice(&s.octets());
            pseudo.extend_from_slice(&d.octets());
            pseudo.extend_from_slice(&(segment.len() as u32).to_be_bytes());
            pseudo.extend_from_slice(&[0, 0, 0, proto]);
        }
        _ => panic!("mixed IPv4 / IPv6 addresses"),
    }
    finish_checksum(ones_sum(ones_sum(0, &pseudo), segment))
}

struct Iface {
    link: Link,
    res: Resolution,
}

struct Frame {
    iface: usize,
    ts_ns: u64,
    data: Vec<u8>,
    orig_len: usize,
}

struct Inner {
    format: Format,
    ifaces: Vec<Iface>,
    frames: Vec<Frame>,
    now_ns: u64,
    step_ns: u64,
    snaplen: u32,
    ip_id: u16,
    ethernet_padding: bool,
    conns: u32,
}

fn dur_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).expect("duration too large")
}

impl Inner {
    fn next_ip_id(&mut self) -> u16 {
        self.ip_id = self.ip_id.wrapping_add(1);
        self.ip_id
    }

    /// Puts the link-layer header of interface `iface` before an IP packet.
    fn link_frame(&self, iface: usize, ip: &[u8], from_client: bool) -> Vec<u8> {
        let link = self.iface(iface).link;
        let v6 = match ip.first().map(|b| b >> 4) {
            Some(4) => false,
            Some(6) => true,
            _ => panic!("not an IP packet; use write_raw for other frames"),
        };
        let ethertype: u16 = if v6 { 0x86dd } else { 0x0800 };
        let (src_mac, dst_mac) = if from_client {
            (CLIENT_MAC, SERVER_MAC)
        } else {
            (SERVER_MAC, CLIENT_MAC)
        };
        // SLL packet type: 4 = sent by us (the capture runs on the client), 0 = to us.
        let pkttype: u8 = if from_client { 4 } else { 0 };
        let mut f = Vec::with_capacity(ip.len() + 24);
        match link {
            Link::Ethernet | Link::Vlan(_) | Link::QinQ { .. } => {
                f.extend_from_slice(&dst_mac);
                f.extend_from_slice(&src_mac);
                match link {
                    Link::Vlan(id) => {
                        f.extend_from_slice(&0x8100u16.to_be_bytes());
                        f.extend_from_slice(&(id & 0x0fff).to_be_bytes());
                    }
                    Link::QinQ { outer, inner } => {
                        f.extend_from_slice(&0x88a8u16.to_be_bytes());
                        f.extend_from_slice(&(outer & 0x0fff).to_be_bytes());
                        f.extend_from_slice(&0x8100u16.to_be_bytes());
                        f.extend_from_slice(&(inner & 0x0fff).to_be_bytes());
                    }
                    _ => {}
                }
                f.extend_from_slice(&ethertype.to_be_bytes());
            }
            Link::Sll => {
                f.extend_from_slice(&u16::from(pkttype).to_be_bytes());
                f.extend_from_slice(&1u16.to_be_bytes()); // ARPHRD_ETHER
                f.extend_from_slice(&6u16.to_be_bytes());
                f.extend_from_slice(&src_mac);
                f.extend_from_slice(&[0, 0]);
                f.extend_from_slice(&ethertype.to_be_bytes());
            }
            Link::Sll2 => {
                f.extend_from_slice(&ethertype.to_be_bytes());
                f.extend_from_slice(&[0, 0]); // reserved
                f.extend_from_slice(&2u32.to_be_bytes()); // interface index
                f.extend_from_slice(&1u16.to_be_bytes()); // ARPHRD_ETHER
                f.push(pkttype);
                f.push(6);
                f.extend_from_slice(&src_mac);
                f.extend_from_slice(&[0, 0]);
            }
            Link::RawIp => {}
            Link::Ipv4 => assert!(!v6, "IPv6 packet on a LINKTYPE_IPV4 interface"),
            Link::Ipv6 => assert!(v6, "IPv4 packet on a LINKTYPE_IPV6 interface"),
            Link::Null | Link::NullAf6(_) => {
                let af6 = if let Link::NullAf6(af) = link { af } else { 30 };
                let af = if v6 { af6 } else { 2 };
                if self.format.big_endian() {
                    f.extend_from_slice(&af.to_be_bytes());
                } else {
                    f.extend_from_slice(&af.to_le_bytes());
                }
            }
            Link::Loop => {
                let af: u32 = if v6 { 24 } else { 2 };
                f.extend_from_slice(&af.to_be_bytes());
            }
        }
        f.extend_from_slice(ip);
        if self.ethernet_padding && link.is_ethernet() && f.len() < 60 {
            f.resize(60, 0);
        }
        f
    }

    fn iface(&self, iface: usize) -> &Iface {
        self.ifaces
            .get(iface)
            .unwrap_or_else(|| panic!("no interface {iface} in this capture"))
    }

    /// Records a frame (cut to `caplen` and the snaplen) and returns its 1-based number.
    fn push(&mut self, iface: usize, data: Vec<u8>, caplen: Option<usize>) -> usize {
        self.iface(iface);
        let orig_len = data.len();
        let mut keep = orig_len.min(self.snaplen as usize);
        if let Some(c) = caplen {
            keep = keep.min(c);
        }
        let mut data = data;
        data.truncate(keep);
        self.frames.push(Frame {
            iface,
            ts_ns: self.now_ns,
            data,
            orig_len,
        });
        self.now_ns += self.step_ns;
        self.frames.len()
    }

    fn push_segment(&mut self, seg: &Segment, caplen: Option<usize>) -> usize {
        let id = self.next_ip_id();
        let ip = seg.ip_packet(id);
        let frame = self.link_frame(seg.iface, &ip, seg.from_client);
        self.push(seg.iface, frame, caplen)
    }

    fn serialize(&self) -> Vec<u8> {
        let mut w = W {
            be: self.format.big_endian(),
            buf: Vec::new(),
        };
        if self.format.is_pcapng() {
            self.write_pcapng(&mut w);
        } else {
            self.write_pcap(&mut w);
        }
        w.buf
    }

    fn write_pcap(&self, w: &mut W) {
        let nano = self.format.resolution() == Resolution::Nano;
        w.u32(if nano { 0xa1b2_3c4d } else { 0xa1b2_c3d4 });
        w.u16(2);
        w.u16(4);
        w.u32(0); // thiszone
        w.u32(0); // sigfigs
        w.u32(self.snaplen);
        w.u32(u32::from(self.ifaces[0].link.linktype()));
        for f in &self.frames {
            assert_eq!(f.iface, 0, "a pcap file has a single interface");
            let secs = f.ts_ns / 1_000_000_000;
            let sub = f.ts_ns % 1_000_000_000;
            w.u32(u32::try_from(secs).expect("timestamp beyond 2106"));
            w.u32((if nano { sub } else { sub / 1000 }) as u32);
            w.u32(f.data.len() as u32);
            w.u32(f.orig_len as u32);
            w.bytes(&f.data);
        }
    }

    fn write_pcapng(&self, w: &mut W) {
        // Section Header Block.
        let mut body = W {
            be: w.be,
            buf: Vec::new(),
        };
        body.u32(0x1a2b_3c4d);
        body.u16(1);
        body.u16(0);
        body.u64(u64::MAX); // section length unknown
        body.option(4, b"mailtap capture_writer"); // shb_userappl
        body.end_of_options();
        w.block(0x0a0d_0d0a, &body.buf);
        for (i, iface) in self.ifaces.iter().enumerate() {
            let mut body = W {
                be: w.be,
                buf: Vec::new(),
            };
            body.u16(iface.link.linktype());
            body.u16(0);
            body.u32(self.snaplen);
            body.option(2, format!("if{i}").as_bytes()); // if_name
            let res = if iface.res == Resolution::Nano { 9 } else { 6 };
            body.option(9, &[res]); // if_tsresol
            body.end_of_options();
            w.block(1, &body.buf);
        }
        for f in &self.frames {
            let ts = match self.ifaces[f.iface].res {
                Resolution::Nano => f.ts_ns,
                Resolution::Micro => f.ts_ns / 1000,
            };
            let mut body = W {
                be: w.be,
                buf: Vec::new(),
            };
            body.u32(f.iface as u32);
            body.u32((ts >> 32) as u32);
            body.u32(ts as u32);
            body.u32(f.data.len() as u32);
            body.u32(f.orig_len as u32);
            body.bytes(&f.data);
            body.pad32();
            w.block(6, &body.buf);
        }
    }
}

/// Byte writer in the file's byte order.
struct W {
    be: bool,
    buf: Vec<u8>,
}

impl W {
    fn u16(&mut self, v: u16) {
        let b = if self.be {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.buf.extend_from_slice(&b);
    }
    fn u32(&mut self, v: u32) {
        let b = if self.be {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.buf.extend_from_slice(&b);
    }
    fn u64(&mut self, v: u64) {
        let b = if self.be {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.buf.extend_from_slice(&b);
    }
    fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }
    fn pad32(&mut self) {
        while self.buf.len() % 4 != 0 {
            self.buf.push(0);
        }
    }
    fn option(&mut self, code: u16, value: &[u8]) {
        self.u16(code);
        self.u16(value.len() as u16);
        self.bytes(value);
        self.pad32();
    }
    fn end_of_options(&mut self) {
        self.u16(0);
        self.u16(0);
    }
    /// A pcapng block: type, total length, body (already padded), total length again.
    fn block(&mut self, block_type: u32, body: &[u8]) {
        assert!(body.len() % 4 == 0);
        let total = (body.len() + 12) as u32;
        self.u32(block_type);
        self.u32(total);
        self.bytes(body);
        self.u32(total);
    }
}

/// A capture being written in memory. Serialize it with [`Capture::finish`].
pub struct Capture {
    inner: Rc<RefCell<Inner>>,
}

impl Capture {
    /// A new capture in `format` whose interface 0 has link type `link`; the clock starts at
    /// [`DEFAULT_START`] and steps 1 ms per frame; snaplen 262144.
    pub fn new(format: Format, link: Link) -> Capture {
        Capture {
            inner: Rc::new(RefCell::new(Inner {
                format,
                ifaces: vec![Iface {
                    link,
                    res: format.resolution(),
                }],
                frames: Vec::new(),
                now_ns: dur_ns(DEFAULT_START),
                step_ns: 1_000_000,
                snaplen: 262_144,
                ip_id: 0,
                ethernet_padding: false,
                conns: 0,
            })),
        }
    }

    /// Adds a pcapng interface (Interface Description Block) and returns its id.
    /// Panics on pcap formats, which have one link type per file.
    pub fn add_interface(&mut self, link: Link, res: Resolution) -> usize {
        let mut inner = self.inner.borrow_mut();
        assert!(
            inner.format.is_pcapng(),
            "only pcapng holds several interfaces"
        );
        inner.ifaces.push(Iface { link, res });
        inner.ifaces.len() - 1
    }

    /// A TCP connection on interface 0 between `client` and `server` (both IPv4 or both IPv6).
    /// Nothing is written until its methods are called.
    pub fn tcp(&mut self, client: SocketAddr, server: SocketAddr) -> Conn {
        assert_eq!(
            client.is_ipv4(),
            server.is_ipv4(),
            "client and server must both be IPv4 or both IPv6"
        );
        let n = {
            let mut inner = self.inner.borrow_mut();
            inner.conns += 1;
            inner.conns
        };
        let client_isn = 0x1000_0000u32.wrapping_mul(n).wrapping_add(1000);
        let server_isn = 0x8000_0000u32.wrapping_add(0x0100_0000u32.wrapping_mul(n));
        Conn {
            cap: Rc::clone(&self.inner),
            client,
            server,
            iface: 0,
            window: 64240,
            hop_by_hop: false,
            c: Side::new(client_isn),
            s: Side::new(server_isn),
        }
    }

    /// Writes one TCP segment; returns its frame number.
    pub fn write_segment(&mut self, seg: &Segment) -> usize {
        self.inner.borrow_mut().push_segment(seg, None)
    }

    /// Writes one TCP segment with only its first `caplen` bytes captured (caplen < origlen).
    pub fn write_segment_truncated(&mut self, seg: &Segment, caplen: usize) -> usize {
        self.inner.borrow_mut().push_segment(seg, Some(caplen))
    }

    /// Writes an IPv4 segment as two IP fragments (same IP id, DF clear): the first carries
    /// the first `first_len` bytes (rounded down to a multiple of 8, at least 8) of the TCP
    /// header + payload with MF set, the second the rest. Returns the second frame's number.
    pub fn write_segment_fragmented(&mut self, seg: &Segment, first_len: usize) -> usize {
        let (IpAddr::V4(s), IpAddr::V4(d)) = (seg.src.ip(), seg.dst.ip()) else {
            panic!("only IPv4 segments can be fragmented here");
        };
        let tcp = seg.tcp_bytes();
        let cut = (first_len / 8 * 8).max(8);
        assert!(cut < tcp.len(), "fragment cut beyond the segment's end");
        let mut inner = self.inner.borrow_mut();
        let id = inner.next_ip_id();
        let first = ipv4_packet(
            s,
            d,
            IPPROTO_TCP,
            &tcp[..cut],
            Ipv4Options {
                id,
                dont_fragment: false,
                more_fragments: true,
                ..Ipv4Options::default()
            },
        );
        let second = ipv4_packet(
            s,
            d,
            IPPROTO_TCP,
            &tcp[cut..],
            Ipv4Options {
                id,
                dont_fragment: false,
                fragment_offset: (cut / 8) as u16,
                ..Ipv4Options::default()
            },
        );
        for p in [first, second] {
            let frame = inner.link_frame(seg.iface, &p, seg.from_client);
            inner.push(seg.iface, frame, None);
        }
        inner.frames.len()
    }

    /// Writes an IP packet (from [`ipv4_packet`], [`ipv6_packet`], [`udp_packet`],
    /// [`Segment::ip_packet`]) behind interface `iface`'s link-layer header, as if the client
    /// sent it. Returns its frame number.
    pub fn write_ip(&mut self, iface: usize, packet: &[u8]) -> usize {
        let mut inner = self.inner.borrow_mut();
        let frame = inner.link_frame(iface, packet, true);
        inner.push(iface, frame, None)
    }

    /// Writes `frame` as is (link-layer header included, e.g. [`arp_request_frame`] or junk)
    /// on interface `iface`. Returns its frame number.
    pub fn write_raw(&mut self, iface: usize, frame: &[u8]) -> usize {
        self.inner.borrow_mut().push(iface, frame.to_vec(), None)
    }

    /// Like [`Capture::write_raw`] but only `caplen` bytes are captured (origlen is the full
    /// length).
    pub fn write_raw_truncated(&mut self, iface: usize, frame: &[u8], caplen: usize) -> usize {
        self.inner
            .borrow_mut()
            .push(iface, frame.to_vec(), Some(caplen))
    }

    /// Sets the snaplen written in the header(s) and cuts every later frame to it.
    pub fn set_snaplen(&mut self, snaplen: u32) {
        self.inner.borrow_mut().snaplen = snaplen;
    }

    /// Pads later Ethernet frames shorter than 60 bytes with zeros (as a NIC does on the
    /// wire), so the frame is longer than the IP packet it carries.
    pub fn set_ethernet_padding(&mut self, on: bool) {
        self.inner.borrow_mut().ethernet_padding = on;
    }

    /// Sets the clock (time since the Unix epoch) of the next frame; may go backwards.
    pub fn set_time(&mut self, since_epoch: Duration) {
        self.inner.borrow_mut().now_ns = dur_ns(since_epoch);
    }

    /// Moves the clock forward by `d` (on top of the per-frame step).
    pub fn advance_time(&mut self, d: Duration) {
        self.inner.borrow_mut().now_ns += dur_ns(d);
    }

    /// Moves the clock backwards by `d`, so the next frame is older than the previous one.
    pub fn rewind_time(&mut self, d: Duration) {
        self.inner.borrow_mut().now_ns -= dur_ns(d);
    }

    /// Sets how far the clock moves after each frame (default 1 ms; zero is allowed).
    pub fn set_time_step(&mut self, step: Duration) {
        self.inner.borrow_mut().step_ns = dur_ns(step);
    }

    /// The timestamp the next frame will get, since the Unix epoch.
    pub fn now(&self) -> Duration {
        Duration::from_nanos(self.inner.borrow().now_ns)
    }

    /// How many frames were written so far (= number of the last frame).
    pub fn frame_count(&self) -> usize {
        self.inner.borrow().frames.len()
    }

    /// The capture file's bytes.
    pub fn finish(self) -> Vec<u8> {
        self.inner.borrow().serialize()
    }

    /// Serializes and writes the capture to `path`.
    pub fn save(self, path: &std::path::Path) -> std::io::Result<()> {
        std::fs::write(path, self.finish())
    }
}

struct Side {
    isn: u32,
    next: u32,
    /// This side has sent its SYN (or SYN-ACK).
    syn_sent: bool,
    /// Stream bytes sent so far, from isn + 1 (skipped bytes are zeros).
    sent: Vec<u8>,
}

impl Side {
    fn new(isn: u32) -> Side {
        Side {
            isn,
            next: isn.wrapping_add(1),
            syn_sent: false,
            sent: Vec::new(),
        }
    }
}

/// One TCP connection being written into its capture. ACK numbers always acknowledge
/// everything the peer has sent so far (including bytes skipped as a capture gap).
pub struct Conn {
    cap: Rc<RefCell<Inner>>,
    client: SocketAddr,
    server: SocketAddr,
    iface: usize,
    window: u16,
    hop_by_hop: bool,
    c: Side,
    s: Side,
}

impl Conn {
    /// Sets the initial sequence numbers (call before anything is sent), e.g. near `u32::MAX`
    /// to test wrap-around.
    pub fn with_isn(&mut self, client_isn: u32, server_isn: u32) -> &mut Self {
        self.c = Side::new(client_isn);
        self.s = Side::new(server_isn);
        self
    }

    /// Writes later segments on pcapng interface `iface`.
    pub fn on_interface(&mut self, iface: usize) -> &mut Self {
        self.iface = iface;
        self
    }

    /// Sets the window advertised by both sides (default 64240).
    pub fn with_window(&mut self, window: u16) -> &mut Self {
        self.window = window;
        self
    }

    /// IPv6 only: later segments carry a Hop-by-Hop extension header before TCP.
    pub fn with_hop_by_hop(&mut self) -> &mut Self {
        assert!(self.client.is_ipv6(), "Hop-by-Hop is an IPv6 header");
        self.hop_by_hop = true;
        self
    }

    /// Client address.
    pub fn client_addr(&self) -> SocketAddr {
        self.client
    }

    /// Server address.
    pub fn server_addr(&self) -> SocketAddr {
        self.server
    }

    /// Sequence number of the client's next byte.
    pub fn client_next_seq(&self) -> u32 {
        self.c.next
    }

    /// Sequence number of the server's next byte.
    pub fn server_next_seq(&self) -> u32 {
        self.s.next
    }

    /// Moves the whole capture's clock forward by `d`.
    pub fn advance_time(&mut self, d: Duration) {
        self.cap.borrow_mut().now_ns += dur_ns(d);
    }

    /// A segment from the client (`from_client`) or the server, at that side's next sequence
    /// number, acknowledging everything of the peer; nothing advanced, nothing written.
    pub fn segment(&self, from_client: bool, flags: u8, payload: &[u8]) -> Segment {
        let (me, peer, src, dst) = if from_client {
            (&self.c, &self.s, self.client, self.server)
        } else {
            (&self.s, &self.c, self.server, self.client)
        };
        Segment {
            src,
            dst,
            from_client,
            seq: me.next,
            ack: if flags & ACK != 0 { peer.next } else { 0 },
            flags,
            window: self.window,
            options: Vec::new(),
            payload: payload.to_vec(),
            hop_by_hop: self.hop_by_hop,
            iface: self.iface,
        }
    }

    fn side(&mut self, from_client: bool) -> &mut Side {
        if from_client {
            &mut self.c
        } else {
            &mut self.s
        }
    }

    /// Writes a segment (or writes it again: a retransmission). Returns its frame number.
    pub fn write(&mut self, seg: &Segment) -> usize {
        self.cap.borrow_mut().push_segment(seg, None)
    }

    /// Same as [`Conn::write`]; reads better for a segment written before.
    pub fn retransmit(&mut self, seg: &Segment) -> usize {
        self.write(seg)
    }

    /// Client SYN (with an MSS option) at the client ISN.
    pub fn syn(&mut self) -> usize {
        let mut seg = self.segment(true, SYN, b"");
        seg.seq = self.c.isn;
        seg.options = vec![2, 4, 0x05, 0xb4];
        self.c.syn_sent = true;
        self.write(&seg)
    }

    /// Server SYN-ACK (with an MSS option) at the server ISN.
    pub fn syn_ack(&mut self) -> usize {
        let mut seg = self.segment(false, SYN | ACK, b"");
        seg.seq = self.s.isn;
        seg.options = vec![2, 4, 0x05, 0xb4];
        self.s.syn_sent = true;
        self.write(&seg)
    }

    /// SYN, SYN-ACK, ACK. Returns the last frame number.
    pub fn handshake(&mut self) -> usize {
        self.syn();
        self.syn_ack();
        self.client_ack()
    }

    /// A pure ACK from the client.
    pub fn client_ack(&mut self) -> usize {
        let seg = self.segment(true, ACK, b"");
        self.write(&seg)
    }

    /// A pure ACK from the server.
    pub fn server_ack(&mut self) -> usize {
        let seg = self.segment(false, ACK, b"");
        self.write(&seg)
    }

    /// Builds segments of `data` cut at `sizes` (any rest goes in one more segment), assigns
    /// sequence numbers and advances the stream, but writes nothing.
    fn segments(&mut self, from_client: bool, data: &[u8], sizes: &[usize]) -> Vec<Segment> {
        let mut out = Vec::new();
        let mut rest = data;
        let mut sizes = sizes.iter();
        while !rest.is_empty() {
            let n = sizes.next().copied().unwrap_or(rest.len());
            assert!(
                n > 0,
                "segment size 0: use client_ack/server_ack for empty segments"
            );
            assert!(
                n <= rest.len(),
                "segment sizes add up to more than the data"
            );
            let (chunk, tail) = rest.split_at(n);
            let seg = self.segment(from_client, PSH | ACK, chunk);
            let side = self.side(from_client);
            side.next = side.next.wrapping_add(n as u32);
            side.sent.extend_from_slice(chunk);
            out.push(seg);
            rest = tail;
        }
        assert!(
            sizes.next().is_none(),
            "segment sizes add up to more than the data"
        );
        out
    }

    fn send(&mut self, from_client: bool, data: &[u8], sizes: &[usize]) -> usize {
        let segs = self.segments(from_client, data, sizes);
        let mut last = 0;
        for s in &segs {
            last = self.write(s);
        }
        last
    }

    /// The plainest SMTP dialogue after the handshake: greeting, EHLO answered without
    /// STARTTLS, QUIT and its 221 (the connection is left open).
    pub fn dialogue_without_starttls(&mut self) -> usize {
        self.server(b"220 mx.example.test ESMTP\r\n");
        self.client(b"EHLO client.example.test\r\n");
        self.server(b"250-mx.example.test\r\n250 8BITMIME\r\n");
        self.client(b"QUIT\r\n");
        self.server(b"221 2.0.0 Bye\r\n")
    }

    /// Client data in one segment (PSH, ACK).
    pub fn client(&mut self, data: &[u8]) -> usize {
        self.send(true, data, &[])
    }

    /// Server data in one segment (PSH, ACK).
    pub fn server(&mut self, data: &[u8]) -> usize {
        self.send(false, data, &[])
    }

    /// Client data cut into segments of `sizes` bytes (any rest in one more segment).
    pub fn client_split(&mut self, data: &[u8], sizes: &[usize]) -> usize {
        self.send(true, data, sizes)
    }

    /// Server data cut into segments of `sizes` bytes (any rest in one more segment).
    pub fn server_split(&mut self, data: &[u8], sizes: &[usize]) -> usize {
        self.send(false, data, sizes)
    }

    /// Client data one byte per segment (telnet).
    pub fn client_bytewise(&mut self, data: &[u8]) -> usize {
        self.send(true, data, &vec![1; data.len()])
    }

    /// Server data one byte per segment.
    pub fn server_bytewise(&mut self, data: &[u8]) -> usize {
        self.send(false, data, &vec![1; data.len()])
    }

    /// Client segments of `data` cut at `sizes`, sequence numbers assigned and the stream
    /// advanced, not written: write them in any order, twice, or not at all.
    pub fn client_segments(&mut self, data: &[u8], sizes: &[usize]) -> Vec<Segment> {
        self.segments(true, data, sizes)
    }

    /// Server segments of `data` cut at `sizes`, not written (see [`Conn::client_segments`]).
    pub fn server_segments(&mut self, data: &[u8], sizes: &[usize]) -> Vec<Segment> {
        self.segments(false, data, sizes)
    }

    fn overlapping(&mut self, from_client: bool, overlap: usize, new: &[u8]) -> usize {
        let side = self.side(from_client);
        assert!(
            overlap <= side.sent.len(),
            "overlap reaches before the stream start"
        );
        let mut payload = side.sent[side.sent.len() - overlap..].to_vec();
        payload.extend_from_slice(new);
        let seq = side.next.wrapping_sub(overlap as u32);
        side.next = side.next.wrapping_add(new.len() as u32);
        side.sent.extend_from_slice(new);
        let mut seg = self.segment(from_client, PSH | ACK, &payload);
        seg.seq = seq;
        self.write(&seg)
    }

    /// One client segment starting `overlap` bytes back: those already-sent bytes again
    /// (same content), then `new`. Advances the stream by `new.len()`.
    pub fn client_overlapping(&mut self, overlap: usize, new: &[u8]) -> usize {
        self.overlapping(true, overlap, new)
    }

    /// One server segment starting `overlap` bytes back, then `new` (see
    /// [`Conn::client_overlapping`]).
    pub fn server_overlapping(&mut self, overlap: usize, new: &[u8]) -> usize {
        self.overlapping(false, overlap, new)
    }

    /// Advances the client's sequence number by `n` bytes that are never written (a capture
    /// gap); the server's ACKs still cover them.
    pub fn skip_client(&mut self, n: usize) {
        self.c.next = self.c.next.wrapping_add(n as u32);
        self.c.sent.resize(self.c.sent.len() + n, 0);
    }

    /// Advances the server's sequence number by `n` bytes never written (a capture gap).
    pub fn skip_server(&mut self, n: usize) {
        self.s.next = self.s.next.wrapping_add(n as u32);
        self.s.sent.resize(self.s.sent.len() + n, 0);
    }

    fn fin(&mut self, from_client: bool) -> usize {
        let seg = self.segment(from_client, FIN | ACK, b"");
        let side = self.side(from_client);
        side.next = side.next.wrapping_add(1);
        self.write(&seg)
    }

    /// Client FIN (FIN, ACK); takes one sequence number.
    pub fn fin_client(&mut self) -> usize {
        self.fin(true)
    }

    /// Server FIN (FIN, ACK); takes one sequence number.
    pub fn fin_server(&mut self) -> usize {
        self.fin(false)
    }

    fn rst(&mut self, from_client: bool) -> usize {
        let mut seg = self.segment(from_client, RST | ACK, b"");
        let (me, peer) = if from_client {
            (&self.c, &self.s)
        } else {
            (&self.s, &self.c)
        };
        if peer.syn_sent && !me.syn_sent {
            seg.seq = 0; // refusing a SYN: seq 0, ACK of the SYN
        }
        self.write(&seg)
    }

    /// Client reset (RST, ACK).
    pub fn rst_client(&mut self) -> usize {
        self.rst(true)
    }

    /// Server reset (RST, ACK). Right after [`Conn::syn`] it refuses the connection the way
    /// a closed port does: seq 0, acknowledging the SYN.
    pub fn rst_server(&mut self) -> usize {
        self.rst(false)
    }

    /// Orderly close: client FIN, server FIN, client ACK. Returns the last frame number.
    pub fn close(&mut self) -> usize {
        self.fin_client();
        self.fin_server();
        self.client_ack()
    }
}
