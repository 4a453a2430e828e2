//! Load generator for `benches/compare.sh`: writes large, realistic captures whose SMTP
//! verdicts are known in advance, so the benchmark can check that a fast answer is also right.
//!
//! ```text
//! cargo run --release --example gen_captures -- mixed OUT.pcap [MEGABYTES]    (default 1000)
//! cargo run --release --example gen_captures -- smtp OUT.pcapng [SESSIONS]    (default 120000)
//! cargo run --release --example gen_captures -- dense OUT.pcap [MEGABYTES]    (default 200)
//! ```
//!
//! - `mixed`: classic pcap (µs, Ethernet, some 802.1Q and IPv6). About 97% of the bytes are bulk
//!   TCP (downloads and uploads on 443, 80, 22, 445, ...) and UDP (DNS, QUIC-like, RTP-like),
//!   plus FTP control connections (a `220` greeting on a port that is not SMTP's: content
//!   detection must look and let go); 3% are SMTP sessions of every verdict.
//! - `smtp`: pcapng, nothing but SMTP: sessions of every verdict interleaved, plus connection
//!   attempts without data (refused and unanswered).
//! - `dense`: a mail gateway's capture: classic pcap where SMTP sessions of every verdict are
//!   about two thirds of the packets and a quarter of the bytes; the rest is bulk TCP
//!   (full-size frames and their ACKs).
//!
//! SMTP sessions are real-looking dialogues: greeting, EHLO (with or without STARTTLS, or with
//! the Cisco `250-XXXXXXXA` mask), STARTTLS answered `220` and followed by the real TLS
//! conversations recorded in `tests/data/tls/` plus encrypted application data, `454`
//! rejections, HELO-only clients, MAIL/RCPT/DATA in clear (sometimes pipelined), port 465
//! implicit TLS, SMTP on a port found only by content, captures starting mid-session.
//!
//! Beside OUT it writes `OUT.expected.json`: the frame and byte counts, the number of sessions
//! per verdict, and the connection attempts without data, as `mailtap --format json` reports
//! them in its `summary`.

#[path = "../tests/common/rng.rs"]
mod rng;
use rng::Rng;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

macro_rules! vector {
    ($name:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/tls/",
            $name
        ))
        .as_slice()
    };
}

/// TLS conversations that end in an established session (after a `220` or on port 465).
const TLS_OK: [&[u8]; 5] = [
    vector!("tls13-ok.bin"),
    vector!("tls12-ok.bin"),
    vector!("tls13-hrr.bin"),
    vector!("tls12-expired.bin"),
    vector!("tls10-ok.bin"),
];
/// TLS conversations that end in a cleartext alert.
const TLS_FAIL: [&[u8]; 3] = [
    vector!("tls12-unknown-ca.bin"),
    vector!("tls13-unknown-ca.bin"),
    vector!("version-mismatch.bin"),
];

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;

/// TCP payload per segment (1500-byte MTU, IPv4, TCP timestamps option).
const MSS: usize = 1448;

fn usage() -> ! {
    eprintln!("usage: gen_captures mixed OUT.pcap [MEGABYTES] | smtp OUT.pcapng [SESSIONS]");
    std::process::exit(2)
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();

    if args.len() < 2 {
        usage();
    }
    let path = &args[1];
    let n: Option<u64> = args.get(2).map(|a| a.parse().unwrap_or_else(|_| usage()));
    let expected = match args[0].as_str() {
        "mixed" => mixed(path, n.unwrap_or(1000) << 20, &MIXED)?,
        "smtp" => all_smtp(path, n.unwrap_or(120_000))?,
        "dense" => mixed(path, n.unwrap_or(200) << 20, &DENSE)?,
        _ => usage(),
    };
    std::fs::write(format!("{path}.expected.json"), expected.to_json())?;
    eprintln!(
        "{path}: {} frames, {} MB, {} SMTP sessions",
        expected.frames,
        expected.bytes >> 20,
        expected.sessions()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// What mailtap should report.

#[derive(Default)]
struct Expected {
    frames: u64,
    bytes: u64,
    verdicts: BTreeMap<&'static str, u64>,
    attempted: u64,
    refused: u64,
    unanswered: u64,
}

impl Expected {
    fn sessions(&self) -> u64 {
        self.verdicts.values().sum()
    }

    fn to_json(&self) -> String {
        let verdicts: Vec<String> = self
            .verdicts
            .iter()
            .map(|(k, v)| format!("\"{k}\": {v}"))
            .collect();
        format!(
            "{{\"frames\": {}, \"bytes\": {}, \"sessions\": {}, \"verdicts\": {{{}}}, \"connections\": {{\"attempted\": {}, \"refused\": {}, \"unanswered\": {}}}}}\n",
            self.frames,
            self.bytes,
            self.sessions(),
            verdicts.join(", "),
            self.attempted,
            self.refused,
            self.unanswered
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Writing frames.

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Pcap,
    PcapNg,
}

struct Writer {
    out: BufWriter<File>,
    format: Format,
    /// The frame being built, and whether it is IPv4.
    frame: Vec<u8>,
    v4: bool,
    /// Capture clock, nanoseconds since the epoch.
    now: u64,
    /// Nanoseconds the clock advances per byte written (the link's speed).
    ns_per_byte: u64,
    /// ...and per frame, whatever its size.
    ns_per_frame: u64,
    expected: Expected,
}

impl Writer {
    fn new(path: &str, format: Format, ns_per_byte: u64, ns_per_frame: u64) -> io::Result<Self> {
        let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
        match format {
            Format::Pcap => {
                out.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
                out.write_all(&2u16.to_le_bytes())?;
                out.write_all(&4u16.to_le_bytes())?;
                out.write_all(&[0; 8])?;
                out.write_all(&262_144u32.to_le_bytes())?;
                out.write_all(&1u32.to_le_bytes())?; // Ethernet
            }
            Format::PcapNg => {
                // Section Header Block, no options.
                out.write_all(&0x0a0d_0d0au32.to_le_bytes())?;
                out.write_all(&28u32.to_le_bytes())?;
                out.write_all(&0x1a2b_3c4du32.to_le_bytes())?;
                out.write_all(&1u16.to_le_bytes())?;
                out.write_all(&0u16.to_le_bytes())?;
                out.write_all(&u64::MAX.to_le_bytes())?;
                out.write_all(&28u32.to_le_bytes())?;
                // Interface Description Block: Ethernet, µs (the default if_tsresol).
                out.write_all(&1u32.to_le_bytes())?;
                out.write_all(&20u32.to_le_bytes())?;
                out.write_all(&1u16.to_le_bytes())?;
                out.write_all(&0u16.to_le_bytes())?;
                out.write_all(&262_144u32.to_le_bytes())?;
                out.write_all(&20u32.to_le_bytes())?;
            }
        }
        Ok(Writer {
            out,
            format,
            frame: Vec::with_capacity(2048),
            v4: true,
            now: 1_735_689_600_000_000_000, // 2025-01-01T00:00:00Z
            ns_per_byte,
            ns_per_frame,
            expected: Expected::default(),
        })
    }

    /// Writes `self.frame` as the next record.
    fn emit(&mut self) -> io::Result<()> {
        let len = self.frame.len() as u32;
        self.now += self.ns_per_frame + self.ns_per_byte * u64::from(len);
        let micros = self.now / 1000;
        match self.format {
            Format::Pcap => {
                let mut h = [0u8; 16];
                h[0..4].copy_from_slice(&((micros / 1_000_000) as u32).to_le_bytes());
                h[4..8].copy_from_slice(&((micros % 1_000_000) as u32).to_le_bytes());
                h[8..12].copy_from_slice(&len.to_le_bytes());
                h[12..16].copy_from_slice(&len.to_le_bytes());
                self.out.write_all(&h)?;
                self.out.write_all(&self.frame)?;
            }
            Format::PcapNg => {
                let padded = (len + 3) & !3;
                let total = 32 + padded;
                let mut h = [0u8; 28];
                h[0..4].copy_from_slice(&6u32.to_le_bytes());
                h[4..8].copy_from_slice(&total.to_le_bytes());
                h[8..12].copy_from_slice(&0u32.to_le_bytes());
                h[12..16].copy_from_slice(&((micros >> 32) as u32).to_le_bytes());
                h[16..20].copy_from_slice(&(micros as u32).to_le_bytes());
                h[20..24].copy_from_slice(&len.to_le_bytes());
                h[24..28].copy_from_slice(&len.to_le_bytes());
                self.out.write_all(&h)?;
                self.out.write_all(&self.frame)?;
                self.out.write_all(&[0; 3][..(padded - len) as usize])?;
                self.out.write_all(&total.to_le_bytes())?;
            }
        }
        self.expected.frames += 1;
        self.expected.bytes += u64::from(len);
        Ok(())
    }

    /// Ethernet (optionally 802.1Q-tagged) and IP headers for `proto`; returns where the
    /// transport header starts.
    fn ip_header(
        &mut self,
        from: SocketAddr,
        to: SocketAddr,
        vlan: Option<u16>,
        proto: u8,
    ) -> usize {
        let f = &mut self.frame;
        f.clear();
        f.extend_from_slice(&[0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1]);
        if let Some(id) = vlan {
            f.extend_from_slice(&[0x81, 0x00]);
            f.extend_from_slice(&id.to_be_bytes());
        }
        match (from.ip(), to.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                self.v4 = true;
                f.extend_from_slice(&[0x08, 0x00]);
                f.extend_from_slice(&[0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, proto, 0, 0]);
                f.extend_from_slice(&s.octets());
                f.extend_from_slice(&d.octets());
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                self.v4 = false;
                f.extend_from_slice(&[0x86, 0xdd]);
                f.extend_from_slice(&[0x60, 0, 0, 0, 0, 0, proto, 64]);
                f.extend_from_slice(&s.octets());
                f.extend_from_slice(&d.octets());
            }
            _ => unreachable!("mixed address families"),
        }
        f.len()
    }

    /// Fills in the IP lengths and checksums once the transport header and payload are written.
    fn finish_ip(&mut self, l4: usize, proto: u8, checksum_at: usize) {
        let f = &mut self.frame;
        let l4_len = f.len() - l4;
        let v4 = self.v4;
        let mut sum = 0u64;
        if v4 {
            let ip = l4 - 20;
            let total = (20 + l4_len) as u16;
            f[ip + 2..ip + 4].copy_from_slice(&total.to_be_bytes());
            let c = fold(ones_sum(0, &f[ip..l4]));
            f[ip + 10..ip + 12].copy_from_slice(&c.to_be_bytes());
            sum = ones_sum(sum, &f[ip + 12..ip + 20]);
        } else {
            let ip = l4 - 40;
            f[ip + 4..ip + 6].copy_from_slice(&(l4_len as u16).to_be_bytes());
            sum = ones_sum(sum, &f[ip + 8..ip + 40]);
        }
        sum += u64::from(proto) + l4_len as u64;
        let c = fold(ones_sum(sum, &f[l4..]));
        let c = if c == 0 && proto == 17 { 0xffff } else { c };
        f[l4 + checksum_at..l4 + checksum_at + 2].copy_from_slice(&c.to_be_bytes());
    }

    #[allow(clippy::too_many_arguments)]
    fn tcp(
        &mut self,
        from: SocketAddr,
        to: SocketAddr,
        vlan: Option<u16>,
        seq: u32,
        ack: u32,
        flags: u8,
        payload: &[u8],
    ) -> io::Result<()> {
        let l4 = self.ip_header(from, to, vlan, 6);
        let tsval = (self.now / 1_000_000) as u32;
        let f = &mut self.frame;
        f.extend_from_slice(&from.port().to_be_bytes());
        f.extend_from_slice(&to.port().to_be_bytes());
        f.extend_from_slice(&seq.to_be_bytes());
        f.extend_from_slice(&if flags & ACK != 0 { ack } else { 0 }.to_be_bytes());
        f.extend_from_slice(&[8 << 4, flags, 0x01, 0xf5, 0, 0, 0, 0]);
        // NOP NOP Timestamps
        f.extend_from_slice(&[1, 1, 8, 10]);
        f.extend_from_slice(&tsval.to_be_bytes());
        f.extend_from_slice(&tsval.wrapping_sub(7).to_be_bytes());
        f.extend_from_slice(payload);
        self.finish_ip(l4, 6, 16);
        self.emit()
    }

    fn udp(&mut self, from: SocketAddr, to: SocketAddr, payload: &[u8]) -> io::Result<()> {
        let l4 = self.ip_header(from, to, None, 17);
        let f = &mut self.frame;
        f.extend_from_slice(&from.port().to_be_bytes());
        f.extend_from_slice(&to.port().to_be_bytes());
        f.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        f.extend_from_slice(&[0, 0]);
        f.extend_from_slice(payload);
        self.finish_ip(l4, 17, 6);
        self.emit()
    }
}

/// One's-complement sum of big-endian 16-bit words, 32 bits at a time.
fn ones_sum(mut acc: u64, data: &[u8]) -> u64 {
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        acc += u64::from(u32::from_be_bytes([w[0], w[1], w[2], w[3]]));
    }
    let rest = words.remainder();
    let mut tail = [0u8; 4];
    tail[..rest.len()].copy_from_slice(rest);
    acc + u64::from(u32::from_be_bytes(tail))
}

fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

// ---------------------------------------------------------------------------------------------
// Connections as scripts of packets, played one packet at a time so they interleave.

#[derive(Clone, Copy)]
enum Data {
    None,
    /// A range of the script's own bytes.
    Own(u32, u32),
    /// A range of the shared random buffer.
    Shared(u32, u32),
}

#[derive(Clone, Copy)]
struct Packet {
    from_client: bool,
    flags: u8,
    seq: u32,
    ack: u32,
    data: Data,
}

/// A TCP connection written in advance, packet by packet.
struct TcpScript {
    client: SocketAddr,
    server: SocketAddr,
    vlan: Option<u16>,
    packets: Vec<Packet>,
    bytes: Vec<u8>,
    /// Next sequence number of client, server.
    seq: [u32; 2],
    /// Who sent the last data segment, and whether the peer owes an ACK for it.
    last_sender: Option<bool>,
    next: usize,
}

impl TcpScript {
    fn new(client: SocketAddr, server: SocketAddr, vlan: Option<u16>, rng: &mut Rng) -> Self {
        TcpScript {
            client,
            server,
            vlan,
            packets: Vec::new(),
            bytes: Vec::new(),
            seq: [rng.next() as u32, rng.next() as u32],
            last_sender: None,
            next: 0,
        }
    }

    fn side(from_client: bool) -> usize {
        usize::from(!from_client)
    }

    fn push(&mut self, from_client: bool, flags: u8, data: Data, len: usize) {
        let me = Self::side(from_client);
        let seq = self.seq[me];
        let ack = self.seq[1 - me];
        self.packets.push(Packet {
            from_client,
            flags,
            seq,
            ack,
            data,
        });
        let consumed = len + usize::from(flags & (SYN | FIN) != 0);
        self.seq[me] = seq.wrapping_add(consumed as u32);
    }

    fn handshake(&mut self) {
        self.push(true, SYN, Data::None, 0);
        self.push(false, SYN | ACK, Data::None, 0);
        self.push(true, ACK, Data::None, 0);
    }

    fn pure_ack(&mut self, from_client: bool) {
        self.push(from_client, ACK, Data::None, 0);
    }

    /// One application message, cut into segments; the peer ACKs every second segment, and
    /// the previous message if this side speaks twice in a row.
    fn send(&mut self, from_client: bool, message: &[u8]) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(message);
        self.send_data(from_client, message.len(), |off, len| {
            Data::Own((start + off) as u32, len as u32)
        });
    }

    /// `len` bytes of the shared random buffer, from a random place.
    fn send_shared(&mut self, from_client: bool, len: usize, rng: &mut Rng) {
        let base = rng.below((SHARED - MSS) as u64) as usize;
        self.send_data(from_client, len, |off, n| {
            Data::Shared(((base + off) % (SHARED - MSS)) as u32, n as u32)
        });
    }

    fn send_data(&mut self, from_client: bool, len: usize, data: impl Fn(usize, usize) -> Data) {
        if self.last_sender == Some(from_client) {
            self.pure_ack(!from_client);
        }
        let mut off = 0;
        let mut n = 0;
        while off < len {
            let take = (len - off).min(MSS);
            let flags = if off + take == len { PSH | ACK } else { ACK };
            self.push(from_client, flags, data(off, take), take);
            off += take;
            n += 1;
            if n % 2 == 0 && off < len {
                self.pure_ack(!from_client);
            }
        }
        self.last_sender = Some(from_client);
    }

    /// FIN from one side, FIN from the other, last ACK.
    fn close(&mut self, client_first: bool) {
        self.push(client_first, FIN | ACK, Data::None, 0);
        self.push(!client_first, FIN | ACK, Data::None, 0);
        self.push(client_first, ACK, Data::None, 0);
    }

    fn reset(&mut self, from_client: bool) {
        self.push(from_client, RST | ACK, Data::None, 0);
    }

    /// Writes the next packet; false once the script is played.
    fn play(&mut self, w: &mut Writer, shared: &[u8]) -> io::Result<bool> {
        let Some(p) = self.packets.get(self.next).copied() else {
            return Ok(false);
        };
        self.next += 1;
        let payload = match p.data {
            Data::None => &[][..],
            Data::Own(at, len) => &self.bytes[at as usize..(at + len) as usize],
            Data::Shared(at, len) => &shared[at as usize..(at + len) as usize],
        };
        let (from, to) = if p.from_client {
            (self.client, self.server)
        } else {
            (self.server, self.client)
        };
        w.tcp(from, to, self.vlan, p.seq, p.ack, p.flags, payload)?;
        Ok(self.next < self.packets.len())
    }
}

/// Size of the shared buffer bulk payload comes from.
const SHARED: usize = 4 << 20;

/// Random bytes that never begin an SMTP line: no `2`, `E`, `e`, `H`, `h` (so no payload cut
/// from it starts with `220` or `EHLO`/`HELO`).
fn shared_buffer(rng: &mut Rng) -> Vec<u8> {
    let mut b = Vec::with_capacity(SHARED);
    while b.len() < SHARED {
        for byte in rng.next().to_le_bytes() {
            b.push(match byte {
                b'2' | b'E' | b'e' | b'H' | b'h' => byte + 1,
                other => other,
            });
        }
    }
    b
}

// ---------------------------------------------------------------------------------------------
// Addresses.

struct Addresses {
    next: u32,
}

impl Addresses {
    /// A fresh client address and port (never reused within a file).
    fn client(&mut self, v6: bool) -> IpAddr {
        self.next += 1;
        let n = self.next;
        if v6 {
            IpAddr::V6(Ipv6Addr::new(
                0x2001,
                0xdb8,
                0x10,
                0,
                0,
                0,
                (n >> 16) as u16,
                n as u16,
            ))
        } else {
            IpAddr::V4(Ipv4Addr::new(10, (n >> 16) as u8, (n >> 8) as u8, n as u8))
        }
    }

    fn client_port(&self) -> u16 {
        32768 + (self.next % 28000) as u16
    }

    fn server(rng: &mut Rng, v6: bool) -> IpAddr {
        let n = rng.range(1, 250) as u16;
        if v6 {
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0x25, 0, 0, 0, 0, n))
        } else {
            IpAddr::V4(Ipv4Addr::new(198, 51, 100, n as u8))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// SMTP sessions.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Upgraded,
    ImplicitTls,
    NotOffered,
    Stripped,
    NotUsed,
    Rejected,
    HandshakeFailed,
    NoEhlo,
    Incomplete,
}

impl Kind {
    const ALL: [Kind; 9] = [
        Kind::Upgraded,
        Kind::ImplicitTls,
        Kind::NotOffered,
        Kind::Stripped,
        Kind::NotUsed,
        Kind::Rejected,
        Kind::HandshakeFailed,
        Kind::NoEhlo,
        Kind::Incomplete,
    ];

    fn name(self) -> &'static str {
        match self {
            Kind::Upgraded => "upgraded",
            Kind::ImplicitTls => "implicit-tls",
            Kind::NotOffered => "not-offered",
            Kind::Stripped => "stripped",
            Kind::NotUsed => "not-used",
            Kind::Rejected => "rejected",
            Kind::HandshakeFailed => "handshake-failed",
            Kind::NoEhlo => "no-ehlo",
            Kind::Incomplete => "incomplete",
        }
    }

    /// A kind, weighted roughly as on a real mail gateway (most sessions upgrade).
    fn pick(rng: &mut Rng) -> Kind {
        const WEIGHTS: [u64; 9] = [40, 6, 12, 6, 8, 6, 6, 8, 8];
        let mut r = rng.below(WEIGHTS.iter().sum());
        for (kind, w) in Kind::ALL.iter().zip(WEIGHTS) {
            if r < w {
                return *kind;
            }
            r -= w;
        }
        Kind::Upgraded
    }
}

/// Lines of plain text for message bodies; no line starts with a dot.
fn lorem() -> Vec<u8> {
    const WORDS: [&str; 24] = [
        "the",
        "invoice",
        "for",
        "march",
        "is",
        "attached",
        "please",
        "find",
        "meeting",
        "tomorrow",
        "at",
        "ten",
        "regards",
        "report",
        "quarterly",
        "numbers",
        "and",
        "a",
        "summary",
        "of",
        "changes",
        "shipping",
        "order",
        "confirmed",
    ];
    let mut rng = Rng(0x5eed_1234);
    let mut text = Vec::with_capacity(1 << 17);
    while text.len() < 1 << 17 {
        let mut line = String::new();
        while line.len() < 64 {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(WORDS[rng.below(WORDS.len() as u64) as usize]);
        }
        text.extend_from_slice(line.as_bytes());
        text.extend_from_slice(b"\r\n");
    }
    text
}

struct SmtpFactory {
    rng: Rng,
    addresses: Addresses,
    lorem: Vec<u8>,
    /// Message sizes in clear, and of encrypted application data.
    body: (u64, u64),
    id: u64,
}

impl SmtpFactory {
    fn greeting(&self, c: &mut TcpScript, host: &str) {
        c.send(
            false,
            format!("220 {host} ESMTP Postfix (Debian/GNU)\r\n").as_bytes(),
        );
    }

    fn ehlo_reply(host: &str, starttls: &str) -> Vec<u8> {
        let mut r = format!(
            "250-{host}\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n"
        );
        if !starttls.is_empty() {
            r.push_str(&format!("250-{starttls}\r\n"));
        }
        r.push_str("250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250 CHUNKING\r\n");
        r.into_bytes()
    }

    /// MAIL, RCPT, DATA and a message, in clear (pipelined or not), then QUIT.
    fn mail_in_clear(&mut self, c: &mut TcpScript, pipelined: bool) {
        let id = self.id;
        let from = format!("MAIL FROM:<sender{id}@example.org> SIZE=2048\r\n");
        let rcpt = format!("RCPT TO:<user{}@example.net>\r\n", id % 977);
        if pipelined {
            c.send(true, format!("{from}{rcpt}DATA\r\n").as_bytes());
            c.send(
                false,
                b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n",
            );
        } else {
            c.send(true, from.as_bytes());
            c.send(false, b"250 2.1.0 Ok\r\n");
            c.send(true, rcpt.as_bytes());
            c.send(false, b"250 2.1.5 Ok\r\n");
            c.send(true, b"DATA\r\n");
            c.send(false, b"354 End data with <CR><LF>.<CR><LF>\r\n");
        }
        let size = self.rng.log_range(self.body.0, self.body.1) as usize;
        let pos = self.rng.below(self.lorem.len() as u64 / 2) as usize;
        let start = self.lorem[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(0, |i| pos + i + 1);
        let text = &self.lorem[start..(start + size).min(self.lorem.len())];
        let cut = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let mut message = format!(
            "From: <sender{id}@example.org>\r\nTo: <user{}@example.net>\r\nSubject: report {id}\r\nMessage-ID: <{id}@example.org>\r\n\r\n",
            id % 977
        )
        .into_bytes();
        message.extend_from_slice(&text[..cut]);
        message.extend_from_slice(b".\r\n");
        c.send(true, &message);
        c.send(
            false,
            format!("250 2.0.0 Ok: queued as {id:X}\r\n").as_bytes(),
        );
        c.send(true, b"QUIT\r\n");
        c.send(false, b"221 2.0.0 Bye\r\n");
    }

    /// A recorded TLS conversation, then encrypted application data both ways.
    fn tls(&mut self, c: &mut TcpScript, vector: &[u8], app_data: bool) {
        let mut rest = vector;
        while rest.len() >= 5 {
            let len = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
            c.send(rest[0] == 0, &rest[5..5 + len]);
            rest = &rest[5 + len..];
        }
        if app_data {
            let size = self.rng.log_range(self.body.0, self.body.1) as usize;
            for (from_client, size) in [(true, size), (false, 64), (true, 40), (false, 48)] {
                let mut record = Vec::with_capacity(size + 5);
                let mut left = size;
                while left > 0 {
                    let n = left.min(16_384);
                    record.extend_from_slice(&[0x17, 0x03, 0x03]);
                    record.extend_from_slice(&(n as u16 + 17).to_be_bytes());
                    for _ in 0..n + 17 {
                        record.push(self.rng.next() as u8);
                    }
                    left -= n;
                }
                c.send(from_client, &record);
            }
        }
    }

    /// A whole session of this kind.
    fn session(&mut self, kind: Kind, vlan: Option<u16>) -> TcpScript {
        self.id += 1;
        let rng = &mut self.rng;
        let v6 = rng.chance(10);
        let by_content = kind != Kind::ImplicitTls && kind != Kind::Incomplete && rng.chance(4);
        let port = match kind {
            Kind::ImplicitTls => 465,
            _ if by_content => 10025,
            _ => [25, 25, 25, 587, 2525][rng.below(5) as usize],
        };
        let client = SocketAddr::new(self.addresses.client(v6), self.addresses.client_port());
        let server = SocketAddr::new(Addresses::server(rng, v6), port);
        let mut c = TcpScript::new(client, server, vlan, rng);
        let host = format!("mx{}.example.net", server.port() % 7);
        let pipelined = rng.chance(30);
        let client_closes = rng.chance(50);
        if kind == Kind::Incomplete {
            // The capture starts in the middle of the dialogue.
            self.mail_in_clear(&mut c, pipelined);
            c.close(client_closes);
            return c;
        }
        c.handshake();
        if kind == Kind::ImplicitTls {
            let v = TLS_OK[self.rng.below(TLS_OK.len() as u64) as usize];
            self.tls(&mut c, v, true);
            c.close(client_closes);
            return c;
        }
        self.greeting(&mut c, &host);
        if kind == Kind::NoEhlo {
            c.send(
                true,
                format!("HELO client{}.example.org\r\n", self.id).as_bytes(),
            );
            c.send(false, format!("250 {host}\r\n").as_bytes());
            self.mail_in_clear(&mut c, false);
            c.close(client_closes);
            return c;
        }
        c.send(
            true,
            format!("EHLO client{}.example.org\r\n", self.id).as_bytes(),
        );
        let offer = match kind {
            Kind::NotOffered => "",
            Kind::Stripped => "XXXXXXXA",
            _ => "STARTTLS",
        };
        c.send(false, &Self::ehlo_reply(&host, offer));
        match kind {
            Kind::NotOffered | Kind::Stripped | Kind::NotUsed => {
                self.mail_in_clear(&mut c, pipelined);
                c.close(client_closes);
            }
            Kind::Rejected => {
                c.send(true, b"STARTTLS\r\n");
                c.send(
                    false,
                    b"454 4.7.0 TLS not available due to local problem\r\n",
                );
                if self.rng.chance(50) {
                    self.mail_in_clear(&mut c, pipelined);
                } else {
                    c.send(true, b"QUIT\r\n");
                    c.send(false, b"221 2.0.0 Bye\r\n");
                }
                c.close(client_closes);
            }
            Kind::Upgraded | Kind::HandshakeFailed => {
                c.send(true, b"STARTTLS\r\n");
                c.send(false, b"220 2.0.0 Ready to start TLS\r\n");
                if kind == Kind::Upgraded {
                    let v = TLS_OK[self.rng.below(TLS_OK.len() as u64) as usize];
                    self.tls(&mut c, v, true);
                    c.close(client_closes);
                } else {
                    let v = TLS_FAIL[self.rng.below(TLS_FAIL.len() as u64) as usize];
                    self.tls(&mut c, v, false);
                    if self.rng.chance(50) {
                        c.close(true);
                    } else {
                        c.reset(true);
                    }
                }
            }
            Kind::ImplicitTls | Kind::NoEhlo | Kind::Incomplete => unreachable!(),
        }
        c
    }

    /// A connection to an SMTP port that never carries data: refused or unanswered.
    fn attempt(&mut self, refused: bool) -> TcpScript {
        let client = SocketAddr::new(self.addresses.client(false), self.addresses.client_port());
        let server = SocketAddr::new(Addresses::server(&mut self.rng, false), 25);
        let mut c = TcpScript::new(client, server, None, &mut self.rng);
        c.push(true, SYN, Data::None, 0);
        if refused {
            c.push(false, RST | ACK, Data::None, 0);
        } else {
            for _ in 0..2 {
                c.seq[0] = c.seq[0].wrapping_sub(1);
                c.push(true, SYN, Data::None, 0); // retransmissions
            }
        }
        c
    }
}

// ---------------------------------------------------------------------------------------------
// The all-SMTP capture.

fn all_smtp(path: &str, sessions: u64) -> io::Result<Expected> {
    // A busy gateway: about 30 new connections a second.
    let mut w = Writer::new(path, Format::PcapNg, 2, 500_000)?;
    let mut f = SmtpFactory {
        rng: Rng(0x00c0_ffee_1234_5678),
        addresses: Addresses { next: 0 },
        lorem: lorem(),
        body: (200, 8_000),
        id: 0,
    };
    let mut rng = Rng(0x0bad_cafe_9876_5432);
    let mut active: Vec<TcpScript> = Vec::new();
    let mut started = 0;
    const CONCURRENT: usize = 48;
    while started < sessions || !active.is_empty() {
        while active.len() < CONCURRENT && started < sessions {
            started += 1;
            if rng.chance(3) {
                let refused = rng.chance(60);
                w.expected.attempted += 1;
                if refused {
                    w.expected.refused += 1;
                } else {
                    w.expected.unanswered += 1;
                }
                active.push(f.attempt(refused));
                continue;
            }
            let kind = Kind::pick(&mut rng);
            *w.expected.verdicts.entry(kind.name()).or_default() += 1;
            active.push(f.session(kind, None));
        }
        let i = rng.below(active.len() as u64) as usize;
        if !active[i].play(&mut w, &[])? {
            active.swap_remove(i);
        }
    }
    w.out.flush()?;
    Ok(w.expected)
}

// ---------------------------------------------------------------------------------------------
// The mixed capture.

/// A UDP stream: DNS query/response pairs, QUIC-like or RTP-like datagrams.
struct UdpStream {
    client: SocketAddr,
    server: SocketAddr,
    left: u64,
    kind: u8,
    sent: u64,
}

impl UdpStream {
    fn play(&mut self, w: &mut Writer, shared: &[u8], rng: &mut Rng) -> io::Result<bool> {
        self.sent += 1;
        let at = rng.below((SHARED - 1400) as u64) as usize;
        let (to_server, len) = match self.kind {
            0 => (
                self.sent % 2 == 1,
                if self.sent % 2 == 1 {
                    rng.range(30, 60)
                } else {
                    rng.range(80, 480)
                },
            ),
            1 => (rng.chance(20), rng.range(1200, 1350)),
            _ => (true, 172),
        };
        let payload = &shared[at..at + len as usize];
        if to_server {
            w.udp(self.client, self.server, payload)?;
        } else {
            w.udp(self.server, self.client, payload)?;
        }
        self.left = self.left.saturating_sub(1);
        Ok(self.left > 0)
    }
}

enum Flow {
    Tcp(TcpScript),
    Udp(UdpStream),
}

/// What a `mixed`-style capture is made of.
struct Mix {
    /// Byte shares per class: bulk TCP, UDP (and FTP control), SMTP.
    shares: [f64; 3],
    /// Flows of each class under way at once.
    active: [usize; 3],
    /// SMTP message sizes, smallest and largest.
    body: (u64, u64),
}

/// Internet traffic with a little mail in it.
const MIXED: Mix = Mix {
    shares: [0.80, 0.17, 0.03],
    active: [48, 12, 12],
    body: (300, 60_000),
};

/// A mail gateway: SMTP is most of the packets (short messages), bulk TCP most of the bytes.
const DENSE: Mix = Mix {
    shares: [0.77, 0.0, 0.23],
    active: [16, 0, 48],
    body: (100, 1_500),
};

fn mixed(path: &str, target: u64, mix: &Mix) -> io::Result<Expected> {
    // About 200 Mbit/s: 1 GB is some 40 seconds of traffic.
    let mut w = Writer::new(path, Format::Pcap, 40, 0)?;
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let shared = shared_buffer(&mut rng);
    let mut f = SmtpFactory {
        rng: Rng(0x0dd_ba11_f00d_cafe),
        addresses: Addresses { next: 1 << 20 },
        lorem: lorem(),
        body: mix.body,
        id: 0,
    };
    let mut sent = [0u64; 3];
    let mut classes: [Vec<Flow>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    let mut addresses = Addresses { next: 0 };
    while w.expected.bytes < target {
        // The class furthest behind its share (classes without a share never play).
        let class = (0..3)
            .filter(|&c| mix.shares[c] > 0.0)
            .min_by(|&a, &b| {
                (sent[a] as f64 / mix.shares[a]).total_cmp(&(sent[b] as f64 / mix.shares[b]))
            })
            .unwrap_or(0);
        while classes[class].len() < mix.active[class] {
            let flow = new_flow(class, &mut rng, &mut addresses, &mut f, &mut w.expected);
            classes[class].push(flow);
        }
        let i = rng.below(classes[class].len() as u64) as usize;
        let before = w.expected.bytes;
        let more = match &mut classes[class][i] {
            Flow::Tcp(c) => c.play(&mut w, &shared)?,
            Flow::Udp(u) => u.play(&mut w, &shared, &mut rng)?,
        };
        sent[class] += w.expected.bytes - before;
        if !more {
            classes[class].swap_remove(i);
        }
    }
    // Finish the SMTP sessions under way so that every verdict is the planned one; the
    // other flows are simply cut by the end of the capture.
    while let Some(Flow::Tcp(mut c)) = classes[2].pop() {
        while c.play(&mut w, &shared)? {}
    }
    w.out.flush()?;
    Ok(w.expected)
}

fn new_flow(
    class: usize,
    rng: &mut Rng,
    addresses: &mut Addresses,
    smtp: &mut SmtpFactory,
    expected: &mut Expected,
) -> Flow {
    let vlan = rng.chance(10).then_some(100 + rng.below(4) as u16);
    match class {
        0 => {
            let v6 = rng.chance(15);
            let port = [443, 443, 443, 80, 22, 445, 8080, 3306, 873][rng.below(9) as usize];
            let client = SocketAddr::new(addresses.client(v6), addresses.client_port());
            let server = SocketAddr::new(Addresses::server(rng, v6), port);
            let mut c = TcpScript::new(client, server, vlan, rng);
            c.handshake();
            let request: Vec<u8> = match port {
                80 | 8080 => format!(
                    "GET /files/{}.bin HTTP/1.1\r\nHost: files.example.net\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n",
                    rng.next() % 100_000
                )
                .into_bytes(),
                22 => b"SSH-2.0-OpenSSH_9.6p1 Debian-4\r\n".to_vec(),
                _ => {
                    let mut hello = vec![0x16, 0x03, 0x01, 0x00, 0xf0];
                    hello.extend((0..240).map(|_| rng.next() as u8));
                    hello
                }
            };
            c.send(true, &request);
            let size = rng.log_range(64 << 10, 24 << 20) as usize;
            let upload = rng.chance(20);
            c.send_shared(upload, size, rng);
            c.send(!upload, b"ok");
            c.close(rng.chance(50));
            Flow::Tcp(c)
        }
        1 => {
            if rng.chance(2) {
                // FTP control: a 220 greeting on port 21, found by content, then let go.
                let client = SocketAddr::new(addresses.client(false), addresses.client_port());
                let server = SocketAddr::new(Addresses::server(rng, false), 21);
                let mut c = TcpScript::new(client, server, vlan, rng);
                c.handshake();
                for (from_client, line) in [
                    (
                        false,
                        &b"220 ProFTPD Server (files.example.net) ready.\r\n"[..],
                    ),
                    (true, b"USER anonymous\r\n"),
                    (
                        false,
                        b"331 Anonymous login ok, send your email as password.\r\n",
                    ),
                    (true, b"PASS guest@\r\n"),
                    (false, b"230 Anonymous access granted.\r\n"),
                    (true, b"QUIT\r\n"),
                    (false, b"221 Goodbye.\r\n"),
                ] {
                    c.send(from_client, line);
                }
                c.close(true);
                return Flow::Tcp(c);
            }
            let v6 = rng.chance(15);
            let kind = rng.below(3) as u8;
            let port = [53, 443, 5004][kind as usize];
            let client = SocketAddr::new(addresses.client(v6), addresses.client_port());
            let server = SocketAddr::new(Addresses::server(rng, v6), port);
            let left = match kind {
                0 => 2,
                1 => rng.log_range(20, 3000),
                _ => rng.log_range(200, 5000),
            };
            Flow::Udp(UdpStream {
                client,
                server,
                left,
                kind,
                sent: 0,
            })
        }
        _ => {
            let kind = Kind::pick(rng);
            *expected.verdicts.entry(kind.name()).or_default() += 1;
            Flow::Tcp(smtp.session(kind, vlan))
        }
    }
}
