//! The whole pipeline on captures held in memory: reading records, decoding, and
//! `mailtap::analyze_with` (decode, flow table, reassembly, SMTP, TLS, classify) — on mixed
//! traffic (bulk TCP and UDP with 3% SMTP, where the cost of ignoring frames decides) and on
//! SMTP alone (where the cost per session decides).
//!
//! `cargo bench --bench pipeline`. `benches/compare.sh` measures the binary on 1 GB files.

use std::hint::black_box;
use std::net::SocketAddr;
use std::ops::ControlFlow;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mailtap::analyzer::Config;
use mailtap::capture::file::FileReader;

const TLS13: &[u8] = include_bytes!("../tests/data/tls/tls13-ok.bin");

/// A classic pcap (µs, Ethernet) written in memory.
struct Pcap {
    bytes: Vec<u8>,
    time: u32,
}

impl Pcap {
    fn new() -> Self {
        let mut bytes = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
        bytes.extend_from_slice(&[0; 8]);
        bytes.extend_from_slice(&262_144u32.to_le_bytes());
        bytes.extend_from_slice(&1u32.to_le_bytes());
        Pcap {
            bytes,
            time: 1_700_000_000,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn packet(
        &mut self,
        src: SocketAddr,
        dst: SocketAddr,
        proto: u8,
        seq: u32,
        ack: u32,
        flags: u8,
        payload: &[u8],
    ) {
        let (SocketAddr::V4(s), SocketAddr::V4(d)) = (src, dst) else {
            unreachable!()
        };
        let l4 = if proto == 6 { 20 } else { 8 };
        let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0, 0x45, 0];
        f.extend_from_slice(&((20 + l4 + payload.len()) as u16).to_be_bytes());
        f.extend_from_slice(&[0, 0, 0x40, 0, 64, proto, 0, 0]);
        f.extend_from_slice(&s.ip().octets());
        f.extend_from_slice(&d.ip().octets());
        f.extend_from_slice(&s.port().to_be_bytes());
        f.extend_from_slice(&d.port().to_be_bytes());
        if proto == 6 {
            f.extend_from_slice(&seq.to_be_bytes());
            f.extend_from_slice(&ack.to_be_bytes());
            f.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        } else {
            f.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
            f.extend_from_slice(&[0, 0]);
        }
        f.extend_from_slice(payload);
        self.time += 1;
        for word in [
            self.time / 1000,
            self.time % 1000 * 1000,
            f.len() as u32,
            f.len() as u32,
        ] {
            self.bytes.extend_from_slice(&word.to_le_bytes());
        }
        self.bytes.extend_from_slice(&f);
    }
}

/// A TCP connection being written.
struct Tcp {
    client: SocketAddr,
    server: SocketAddr,
    seq: [u32; 2],
}

impl Tcp {
    fn open(pcap: &mut Pcap, client: SocketAddr, server: SocketAddr) -> Self {
        let mut t = Tcp {
            client,
            server,
            seq: [1000, 9000],
        };
        t.send(pcap, true, 0x02, b"");
        t.send(pcap, false, 0x12, b"");
        t.send(pcap, true, 0x10, b"");
        t
    }

    fn send(&mut self, pcap: &mut Pcap, from_client: bool, flags: u8, payload: &[u8]) {
        let (me, peer) = if from_client { (0, 1) } else { (1, 0) };
        let (src, dst) = if from_client {
            (self.client, self.server)
        } else {
            (self.server, self.client)
        };
        let ack = if flags & 0x10 != 0 { self.seq[peer] } else { 0 };
        pcap.packet(src, dst, 6, self.seq[me], ack, flags, payload);
        let used = payload.len() as u32 + u32::from(flags & 0x03 != 0);
        self.seq[me] = self.seq[me].wrapping_add(used);
    }

    fn data(&mut self, pcap: &mut Pcap, from_client: bool, bytes: &[u8]) {
        for piece in bytes.chunks(1448) {
            self.send(pcap, from_client, 0x18, piece);
        }
    }

    fn close(&mut self, pcap: &mut Pcap) {
        self.send(pcap, true, 0x11, b"");
        self.send(pcap, false, 0x11, b"");
        self.send(pcap, true, 0x10, b"");
    }
}

/// One upgraded SMTP session with a real TLS 1.3 handshake.
fn smtp_session(pcap: &mut Pcap, n: u32) {
    let client = SocketAddr::from((
        [10, (n >> 16) as u8, (n >> 8) as u8, n as u8],
        40000 + (n % 20000) as u16,
    ));
    let mut c = Tcp::open(pcap, client, SocketAddr::from(([198, 51, 100, 25], 25)));
    for (from_client, line) in [
        (false, &b"220 mx.example.net ESMTP Postfix\r\n"[..]),
        (true, b"EHLO client.example.org\r\n"),
        (false, b"250-mx.example.net\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-STARTTLS\r\n250 8BITMIME\r\n"),
        (true, b"STARTTLS\r\n"),
        (false, b"220 2.0.0 Ready to start TLS\r\n"),
    ] {
        c.data(pcap, from_client, line);
    }
    let mut rest = TLS13;
    while rest.len() >= 5 {
        let len = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        c.data(pcap, rest[0] == 0, &rest[5..5 + len]);
        rest = &rest[5 + len..];
    }
    let mut record = vec![0x17, 0x03, 0x03, 0x10, 0x11];
    record.resize(5 + 0x1011, 0xa5);
    c.data(pcap, true, &record);
    c.close(pcap);
}

/// About `megabytes` of bulk TCP (HTTPS-like downloads) and UDP, with SMTP sessions making 3%
/// of the bytes.
fn mixed(megabytes: usize) -> Vec<u8> {
    let mut pcap = Pcap::new();
    let bulk: Vec<u8> = (0..1448u32).map(|i| (i * 31 + 7) as u8 | 0x80).collect();
    let mut n = 0;
    while pcap.bytes.len() < megabytes << 20 {
        n += 1;
        let client =
            SocketAddr::from(([10, 1, (n >> 8) as u8, n as u8], 50000 + (n % 10000) as u16));
        let mut download = Tcp::open(&mut pcap, client, SocketAddr::from(([203, 0, 113, 5], 443)));
        for i in 0..100 {
            download.send(&mut pcap, false, 0x18, &bulk);
            if i % 2 == 1 {
                download.send(&mut pcap, true, 0x10, b"");
            }
            if i % 10 == 0 {
                let dns = SocketAddr::from(([10, 1, 0, 53], 53));
                pcap.packet(client, dns, 17, 0, 0, 0, &bulk[..60]);
                pcap.packet(dns, client, 17, 0, 0, 0, &bulk[..200]);
            }
        }
        download.close(&mut pcap);
        smtp_session(&mut pcap, n);
    }
    pcap.bytes
}

fn all_smtp(sessions: u32) -> Vec<u8> {
    let mut pcap = Pcap::new();
    for n in 0..sessions {
        smtp_session(&mut pcap, n);
    }
    pcap.bytes
}

fn pipeline(c: &mut Criterion) {
    let config = Config::default();
    for (name, capture) in [
        ("mixed traffic, 3% SMTP", mixed(16)),
        ("SMTP only", all_smtp(2000)),
    ] {
        let mut g = c.benchmark_group(format!("pipeline: {name}"));
        g.sample_size(20);
        g.throughput(Throughput::Bytes(capture.len() as u64));
        g.bench_function("read records (FileReader)", |b| {
            b.iter(|| {
                let mut reader = FileReader::new(&capture[..]).unwrap();
                let mut frames = 0u64;
                reader
                    .for_each_frame(|f| {
                        frames += f.data.len() as u64;
                        ControlFlow::Continue(())
                    })
                    .unwrap();
                black_box(frames)
            })
        });
        g.bench_function("read and decode", |b| {
            b.iter(|| {
                let mut reader = FileReader::new(&capture[..]).unwrap();
                let mut tcp = 0u64;
                reader
                    .for_each_frame(|f| {
                        tcp += u64::from(mailtap::decode::decode(f).is_ok());
                        ControlFlow::Continue(())
                    })
                    .unwrap();
                black_box(tcp)
            })
        });
        g.bench_function("analyze_with", |b| {
            b.iter(|| {
                let mut sessions = 0u64;
                let outcome =
                    mailtap::analyze_with(&capture[..], &config, |_| sessions += 1).unwrap();
                assert!(sessions > 0 && outcome.damage.is_none());
                black_box(sessions)
            })
        });
        g.finish();
    }
}

/// Issue 13 case 1: a client that sends DATA and then 250,000 one-byte segments of message
/// content before the server's `354` arrives (all of it waits in the client's queue, one
/// segment marker per byte). Linear work: milliseconds, where the quadratic marker walk took
/// seconds.
fn one_byte_segments_before_354() -> Vec<u8> {
    const BODY_BYTES: usize = 250_000;
    let mut pcap = Pcap::new();
    let client = SocketAddr::from(([10, 0, 0, 1], 40000));
    let mut c = Tcp::open(
        &mut pcap,
        client,
        SocketAddr::from(([198, 51, 100, 25], 25)),
    );
    for (from_client, line) in [
        (false, &b"220 mx.example.net ESMTP Postfix\r\n"[..]),
        (true, b"EHLO client.example.org\r\n"),
        (false, b"250-mx.example.net\r\n250 8BITMIME\r\n"),
        (true, b"MAIL FROM:<a@example.org>\r\n"),
        (false, b"250 2.1.0 Ok\r\n"),
        (true, b"RCPT TO:<b@example.net>\r\n"),
        (false, b"250 2.1.5 Ok\r\n"),
        (true, b"DATA\r\n"),
    ] {
        c.data(&mut pcap, from_client, line);
    }
    let mut body: Vec<u8> = b"Hi\r\n".repeat((BODY_BYTES - 3) / 4);
    body.extend_from_slice(b".\r\n");
    for byte in body.chunks(1) {
        c.send(&mut pcap, true, 0x18, byte);
    }
    c.data(&mut pcap, false, b"354 End data with <CR><LF>.<CR><LF>\r\n");
    c.data(&mut pcap, false, b"250 2.0.0 Ok: queued\r\n");
    c.data(&mut pcap, true, b"QUIT\r\n");
    c.close(&mut pcap);
    pcap.bytes
}

fn adversarial(c: &mut Criterion) {
    let config = Config::default();
    let capture = one_byte_segments_before_354();
    let mut g = c.benchmark_group("pipeline: adversarial");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(capture.len() as u64));
    g.bench_function("DATA then 250,000 one-byte segments before 354", |b| {
        b.iter(|| {
            let mut sessions = 0u64;
            let outcome = mailtap::analyze_with(&capture[..], &config, |_| sessions += 1).unwrap();
            assert!(sessions == 1 && outcome.damage.is_none());
            black_box(sessions)
        })
    });
    g.finish();
}

criterion_group!(benches, pipeline, adversarial);
criterion_main!(benches);
