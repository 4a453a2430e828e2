//! Property tests of reassembly: however TCP cuts, reorders, repeats and overlaps the same two
//! byte streams, the same bytes come out, and the same verdict and findings.
//!
//! - At the library level ([`mailtap::reassembly::Connection`]): any segmentation, order,
//!   duplication and overlap of a stream (from any initial sequence number, across the 2^32
//!   wrap) hands on exactly the stream, without a gap.
//! - Through the whole pipeline (capture writer → `mailtap::analyze`): four dialogues
//!   (upgraded with real TLS bytes, stripped by `250-XXXXXXXA`, rejected with 454, not used with
//!   cleartext mail) written with each turn cut, shuffled, repeated and overlapped give the
//!   verdict and findings of the same dialogue written one segment per turn. Segments are only
//!   reordered within a turn (the peer's next turn acknowledges the whole turn; holding a
//!   segment back past it is a real loss); repeats may come any time later.

use std::net::SocketAddr;

use mailtap::decode::{TcpFlags, TcpSegment};
use mailtap::reassembly::{Chunk, Connection};
use mailtap::Direction;
use proptest::prelude::*;

use crate::common::analyze_bytes;
use crate::common::capture_writer::{Capture, Format, Link, Segment};
use crate::common::rng::Rng;
use crate::hostile::{addresses, dialogues, write_dialogue};

/// How a turn (or a stream) is cut: segment sizes (cycled), how far each segment reaches back
/// into and ahead over its neighbours, how many segments are sent twice, and the shuffle seed.
#[derive(Clone, Debug)]
struct Cutting {
    sizes: Vec<usize>,
    overlaps: Vec<(usize, usize)>,
    repeats: usize,
    seed: u64,
}

fn cutting() -> impl Strategy<Value = Cutting> {
    (
        prop::collection::vec(prop_oneof![Just(1usize), 1usize..8, 8usize..200], 1..12),
        prop::collection::vec((0usize..6, 0usize..6), 1..6),
        0usize..4,
        any::<u64>(),
    )
        .prop_map(|(sizes, overlaps, repeats, seed)| Cutting {
            sizes,
            overlaps,
            repeats,
            seed,
        })
}

/// The byte ranges of `len` bytes cut as said, in the order they are sent.
fn ranges(len: usize, cut: &Cutting, rng: &mut Rng) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    let mut i = 0;
    while at < len {
        let end = (at + cut.sizes[i % cut.sizes.len()]).min(len);
        let (back, ahead) = cut.overlaps[i % cut.overlaps.len()];
        out.push((at.saturating_sub(back), (end + ahead).min(len)));
        at = end;
        i += 1;
    }
    for _ in 0..cut.repeats {
        let again = out[rng.index(out.len())];
        out.push(again);
    }
    rng.shuffle(&mut out);
    out
}

fn isn() -> impl Strategy<Value = u32> {
    prop_oneof![any::<u32>(), (0u32..2048).prop_map(|k| u32::MAX - k)]
}

fn addr(dir: Direction) -> (SocketAddr, SocketAddr) {
    let (client, server) = addresses(0);
    match dir {
        Direction::ToServer => (client, server),
        Direction::ToClient => (server, client),
    }
}

fn tcp(dir: Direction, seq: u32, syn: bool, fin: bool, payload: &[u8]) -> TcpSegment<'_> {
    let (src, dst) = addr(dir);
    TcpSegment {
        src,
        dst,
        seq,
        ack: 0,
        flags: TcpFlags {
            syn,
            ack: false,
            fin,
            rst: false,
        },
        payload,
        missing: 0,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Both directions of one connection, interleaved in any order: each comes out whole.
    #[test]
    fn any_cutting_of_two_streams_reassembles_them(
        to_server in prop::collection::vec(any::<u8>(), 1..1500),
        to_client in prop::collection::vec(any::<u8>(), 1..1500),
        isn_c in isn(),
        isn_s in isn(),
        cut_c in cutting(),
        cut_s in cutting(),
        fin in any::<bool>(),
        max_pending in prop_oneof![Just(1usize << 20), 500_000usize..800_000],
    ) {
        let (client, server) = addresses(0);
        let mut conn = Connection::new(client, server, max_pending);
        let mut out = [Vec::new(), Vec::new()];
        let mut gaps = 0;
        let mut sink = |dir: Direction, chunk: Chunk<'_>| match chunk {
            Chunk::Data { bytes, .. } => out[usize::from(dir == Direction::ToClient)].extend_from_slice(bytes),
            Chunk::Gap { len, .. } => gaps += len,
        };
        conn.segment(Direction::ToServer, &tcp(Direction::ToServer, isn_c, true, false, b""), 1, &mut sink);
        conn.segment(Direction::ToClient, &tcp(Direction::ToClient, isn_s, true, false, b""), 2, &mut sink);
        let mut rng = Rng(cut_c.seed ^ cut_s.seed.rotate_left(17));
        let mut sends = Vec::new();
        for (dir, data, isn, cut) in [
            (Direction::ToServer, &to_server, isn_c, &cut_c),
            (Direction::ToClient, &to_client, isn_s, &cut_s),
        ] {
            for (s, e) in ranges(data.len(), cut, &mut rng) {
                sends.push((dir, isn.wrapping_add(1).wrapping_add(s as u32), &data[s..e], fin && e == data.len()));
            }
        }
        rng.shuffle(&mut sends);
        for (frame, (dir, seq, payload, fin)) in sends.into_iter().enumerate() {
            conn.segment(dir, &tcp(dir, seq, false, fin, payload), frame as u64 + 3, &mut sink);
        }
        // Everything was there: nothing is held back, nothing is left for the flush.
        conn.flush(99_999, &mut sink);
        prop_assert_eq!(gaps, 0);
        prop_assert_eq!(&out[0], &to_server);
        prop_assert_eq!(&out[1], &to_client);
        if fin {
            prop_assert!(conn.is_closed());
        }
    }
}

/// What the verdict depends on: verdict, and each finding's kind, severity and evidence.
fn outcome(file: &[u8]) -> Vec<String> {
    let analysis = analyze_bytes(file);
    analysis
        .sessions
        .iter()
        .map(|s| {
            let findings: Vec<String> = s
                .findings
                .iter()
                .map(|f| format!("{}/{}/{}", f.kind, f.severity, f.evidence))
                .collect();
            format!(
                "{} {} -> {}: {} {findings:?}",
                s.record.client, s.record.server, s.record.first_frame, s.verdict
            )
        })
        .collect()
}

/// The dialogue with each turn cut as said (one cutting per turn, cycled), segments shuffled
/// within the turn, repeats of earlier segments sent again after later turns.
fn cut_capture(
    turns: &[(bool, Vec<u8>)],
    cuts: &[Cutting],
    isns: (u32, u32),
    late: u64,
) -> Vec<u8> {
    let mut cap = Capture::new(Format::PcapMicro, Link::Ethernet);
    let (client, server) = addresses(0);
    let mut c = cap.tcp(client, server);
    c.with_isn(isns.0, isns.1);
    c.handshake();
    let mut sent: Vec<Segment> = Vec::new();
    let mut rng = Rng(late);
    for (i, (from_client, bytes)) in turns.iter().enumerate() {
        let cut = &cuts[i % cuts.len()];
        let mut turn_rng = Rng(cut.seed);
        let whole = if *from_client {
            c.client_segments(bytes, &[])
        } else {
            c.server_segments(bytes, &[])
        };
        let template = &whole[0];
        for (s, e) in ranges(bytes.len(), cut, &mut turn_rng) {
            let segment = Segment {
                seq: template.seq.wrapping_add(s as u32),
                payload: bytes[s..e].to_vec(),
                ..template.clone()
            };
            c.write(&segment);
            sent.push(segment);
        }
        // Now and then, a segment of an earlier turn comes again (a late retransmission).
        if rng.index(3) == 0 {
            let again = sent[rng.index(sent.len())].clone();
            c.write(&again);
        }
    }
    c.close();
    cap.finish()
}

fn in_order(turns: &[(bool, Vec<u8>)]) -> Vec<u8> {
    let mut cap = Capture::new(Format::PcapMicro, Link::Ethernet);
    write_dialogue(&mut cap, 0, turns);
    cap.finish()
}

fn check_dialogue(
    index: usize,
    cuts: &[Cutting],
    isns: (u32, u32),
    late: u64,
) -> Result<(), TestCaseError> {
    let dialogue = &dialogues()[index];
    let want = outcome(&in_order(&dialogue.turns));
    prop_assert_eq!(want.len(), 1);
    prop_assert!(
        want[0].contains(&format!(": {} ", dialogue.verdict)),
        "{:?}",
        want
    );
    let got = outcome(&cut_capture(&dialogue.turns, cuts, isns, late));
    prop_assert_eq!(got, want);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn upgraded_whatever_the_cutting(cuts in prop::collection::vec(cutting(), 1..6), c in isn(), s in isn(), late in any::<u64>()) {
        check_dialogue(0, &cuts, (c, s), late)?;
    }

    #[test]
    fn stripped_whatever_the_cutting(cuts in prop::collection::vec(cutting(), 1..6), c in isn(), s in isn(), late in any::<u64>()) {
        check_dialogue(1, &cuts, (c, s), late)?;
    }

    #[test]
    fn rejected_whatever_the_cutting(cuts in prop::collection::vec(cutting(), 1..6), c in isn(), s in isn(), late in any::<u64>()) {
        check_dialogue(2, &cuts, (c, s), late)?;
    }

    #[test]
    fn not_used_whatever_the_cutting(cuts in prop::collection::vec(cutting(), 1..6), c in isn(), s in isn(), late in any::<u64>()) {
        check_dialogue(3, &cuts, (c, s), late)?;
    }
}
