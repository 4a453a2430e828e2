//! The reassembler (`mailtap::reassembly`): in-order segments (the common case), reordered
//! segments (held, then drained), one-byte segments (telnet), and a whole connection with
//! acknowledgements both ways.
//!
//! `cargo bench --bench reassembly`

use std::hint::black_box;
use std::net::SocketAddr;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use mailtap::decode::{TcpFlags, TcpSegment};
use mailtap::reassembly::{Chunk, Connection, Stream};
use mailtap::Direction;

const MSS: usize = 1448;
const TOTAL: usize = 64 * MSS;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn segment(seq: u32, syn: bool, payload: &[u8]) -> TcpSegment<'_> {
    // Addresses as the decoder makes them (no parsing inside the measured loop).
    let src = SocketAddr::from(([192, 0, 2, 10], 40000));
    let dst = SocketAddr::from(([198, 51, 100, 25], 25));
    TcpSegment {
        src,
        dst,
        seq,
        ack: 0,
        flags: TcpFlags {
            syn,
            ..TcpFlags::default()
        },
        payload,
        missing: 0,
    }
}

/// Feeds `(offset, len)` pieces of `data` after a SYN; returns the bytes handed on.
fn feed(data: &[u8], pieces: &[(usize, usize)]) -> u64 {
    let isn = u32::MAX - 1000; // wraps around on the way
    let mut stream = Stream::new(1 << 20);
    let mut handed = 0u64;
    let mut sink = |c: Chunk<'_>| {
        if let Chunk::Data { bytes, .. } = c {
            handed += bytes.len() as u64;
        }
    };
    stream.segment(&segment(isn, true, b""), 1, &mut sink);
    for (i, &(at, len)) in pieces.iter().enumerate() {
        let seq = isn.wrapping_add(1).wrapping_add(at as u32);
        stream.segment(
            &segment(seq, false, &data[at..at + len]),
            i as u64 + 2,
            &mut sink,
        );
    }
    handed
}

fn streams(c: &mut Criterion) {
    let data: Vec<u8> = (0..TOTAL).map(|i| (i * 7) as u8).collect();
    let in_order: Vec<(usize, usize)> = (0..TOTAL).step_by(MSS).map(|at| (at, MSS)).collect();
    // pairs swapped: every other segment arrives early and is held
    let mut swapped = in_order.clone();
    for pair in swapped.chunks_mut(2) {
        pair.reverse();
    }
    let bytewise: Vec<(usize, usize)> = (0..4096).map(|at| (at, 1)).collect();

    let mut g = c.benchmark_group("reassembly::Stream");
    g.throughput(Throughput::Bytes(TOTAL as u64));
    g.bench_function("in order, 64 full segments", |b| {
        b.iter(|| assert_eq!(feed(black_box(&data), &in_order), TOTAL as u64))
    });
    g.bench_function("pairs swapped, 64 full segments", |b| {
        b.iter(|| assert_eq!(feed(black_box(&data), &swapped), TOTAL as u64))
    });
    g.throughput(Throughput::Bytes(4096));
    g.bench_function("one-byte segments, 4096", |b| {
        b.iter(|| assert_eq!(feed(black_box(&data), &bytewise), 4096))
    });
    g.finish();
}

/// A connection: handshake, then 32 request/response exchanges of 100 and 400 bytes, each
/// segment acknowledging the other side.
fn connection(c: &mut Criterion) {
    let client = addr("192.0.2.10:40000");
    let server = addr("198.51.100.25:25");
    let request = [b'C'; 100];
    let response = [b'S'; 400];
    let mut g = c.benchmark_group("reassembly::Connection");
    g.throughput(Throughput::Elements(2 + 2 * 32));
    g.bench_function("32 exchanges with ACKs (segments/s)", |b| {
        b.iter_batched(
            || Connection::new(client, server, 1 << 20),
            |mut conn| {
                let (mut cs, mut ss) = (1000u32, 9000u32);
                let mut handed = 0usize;
                let mut sink = |_: Direction, c: Chunk<'_>| {
                    if let Chunk::Data { bytes, .. } = c {
                        handed += bytes.len();
                    }
                };
                let mut seg = |conn: &mut Connection,
                               to_server: bool,
                               seq: u32,
                               ack: u32,
                               syn: bool,
                               payload: &[u8],
                               frame: u64| {
                    let (src, dst, dir) = if to_server {
                        (client, server, Direction::ToServer)
                    } else {
                        (server, client, Direction::ToClient)
                    };
                    let s = TcpSegment {
                        src,
                        dst,
                        seq,
                        ack,
                        flags: TcpFlags {
                            syn,
                            ack: ack != 0,
                            ..TcpFlags::default()
                        },
                        payload,
                        missing: 0,
                    };
                    conn.segment(dir, &s, frame, &mut sink);
                };
                seg(&mut conn, true, cs, 0, true, b"", 1);
                seg(&mut conn, false, ss, cs + 1, true, b"", 2);
                cs += 1;
                ss += 1;
                for i in 0..32u64 {
                    seg(&mut conn, true, cs, ss, false, &request, 3 + 2 * i);
                    cs += request.len() as u32;
                    seg(&mut conn, false, ss, cs, false, &response, 4 + 2 * i);
                    ss += response.len() as u32;
                }
                black_box(conn);
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, streams, connection);
criterion_main!(benches);
