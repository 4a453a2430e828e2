//! Fuzz harnesses for mailtap: one function per entry point that takes bytes.
//!
//! Each harness turns arbitrary bytes into calls of one entry point and checks what must hold
//! whatever the bytes (no panic, plus the invariants written next to each call). The same
//! functions run under cargo-fuzz (`fuzz/fuzz_targets/*.rs`) and in `cargo test`
//! (`tests/mailtap/hostile.rs` replays every file of `fuzz/corpus/<target>/` through
//! [`TARGETS`]), so a crash found by the fuzzer and saved in the corpus stays a regression test.
//!
//! [`seed`] writes inputs in each harness's format from a capture file, so the seed corpora can
//! be regenerated from the repository's captures (`fuzz/seed.sh`).
//!
//! Input formats (all integers little-endian unless said otherwise):
//! - `capture`: `[read size u8]` then a pcap/pcapng file, read `read size` bytes per `read`
//!   call (0: as much as asked for).
//! - `decode`: `[link u8]` then one frame; the link type is `LINKS[link % LINKS.len()]`.
//! - `reassembly`: `[mode u8]`; mode bit 0 clear: arbitrary segments
//!   `[flags u8][seq u32][ack u32][len u16][missing u8][payload]`; bit 0 set: segments cut
//!   from two known streams, `[isn_c u32][isn_s u32]` then `[ctl u8][start u16][len u8]`
//!   (+ `[ack u16]` when ctl bit 2 is set), checked against the streams (see [`reassembly`]).
//! - `smtp_parse`: one or more lines.
//! - `session`: `[config u8]` then `[ctl u8][len u16][bytes]`: ctl bit 0 the direction
//!   (0 to the server), bit 1 a gap of `len + 1` bytes instead of bytes.
//! - `tls`: the format of `tests/data/tls/*.bin`: `[dir u8][len u32 BE][bytes]`; dir bit 0
//!   the direction, bit 1 a gap of `len` bytes instead of bytes.
//! - `analyzer`: `[config u8]` then frames `[link u8][time step i8][len u16][bytes]`.
//! - `pipeline`: a pcap/pcapng file, through `mailtap::analyze` and every report format.
#![forbid(unsafe_code)]
#![allow(dead_code)]

use std::collections::HashSet;
use std::io::Read;
use std::net::SocketAddr;
use std::ops::ControlFlow;

use mailtap::analyzer::{Analyzer, Config, OfferHistory, Summary};
use mailtap::capture::file::{FileReader, MAX_RECORD};
use mailtap::capture::{Frame, LinkType, Timestamp};
use mailtap::classify::{classify, SessionReport};
use mailtap::decode::{decode, TcpFlags, TcpSegment};
use mailtap::reassembly::{Chunk, Connection};
use mailtap::report::{Format, Reporter};
use mailtap::smtp::parse;
use mailtap::smtp::record::End;
use mailtap::smtp::{Session, SessionLimits};
use mailtap::tls::TlsSniffer;
use mailtap::Direction;

/// A harness: takes any bytes, panics only on a bug.
pub type Harness = fn(&[u8]);

/// Every harness, by the name of its fuzz target and corpus folder.
pub const TARGETS: &[(&str, Harness)] = &[
    ("capture", capture),
    ("decode", decode_frame),
    ("reassembly", reassembly),
    ("smtp_parse", smtp_parse),
    ("session", session),
    ("tls", tls),
    ("analyzer", analyzer),
    ("pipeline", pipeline),
];

/// Link types a selector byte maps to: every one mailtap decodes, and one it does not.
pub const LINKS: [LinkType; 11] = [
    LinkType::ETHERNET,
    LinkType::RAW,
    LinkType::LINUX_SLL,
    LinkType::LINUX_SLL2,
    LinkType::NULL,
    LinkType::LOOP,
    LinkType::IPV4,
    LinkType::IPV6,
    LinkType::RAW_OPENBSD,
    LinkType::RAW_BSDOS,
    LinkType(147),
];

/// The selector byte for a link type (the unknown one for link types not in [`LINKS`]).
pub fn link_selector(link: LinkType) -> u8 {
    LINKS
        .iter()
        .position(|l| *l == link)
        .unwrap_or(LINKS.len() - 1) as u8
}

fn client_addr() -> SocketAddr {
    SocketAddr::from(([192, 0, 2, 10], 40_000))
}

fn server_addr() -> SocketAddr {
    SocketAddr::from(([198, 51, 100, 25], 25))
}

/// Reads numbers and slices off the front of the input; short reads give what is left.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let head = self.0.get(..N)?.try_into().ok()?;
        self.0 = &self.0[N..];
        Some(head)
    }

    fn u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_le_bytes)
    }

    fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_le_bytes)
    }

    fn u32_be(&mut self) -> Option<u32> {
        self.array().map(u32::from_be_bytes)
    }

    /// Up to `n` bytes.
    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        head
    }
}

/// A reader that hands out at most `max` bytes per call (a pipe), or everything asked for.
struct Trickle<'a> {
    data: &'a [u8],
    max: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut n = buf.len().min(self.data.len());
        if self.max > 0 {
            n = n.min(self.max);
        }
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// The capture reader: frames numbered 1, 2, 3... with at most [`MAX_RECORD`] bytes each; an
/// error names an offset inside the input.
pub fn capture(data: &[u8]) {
    let mut input = Input(data);
    let Some(read_size) = input.u8() else { return };
    let file = input.0;
    let source = Trickle {
        data: file,
        max: usize::from(read_size),
    };
    let mut reader = match FileReader::new(source) {
        Ok(reader) => reader,
        Err(e) => {
            assert!(e.offset <= file.len() as u64, "{e}");
            assert!(!e.what.is_empty());
            return;
        }
    };
    let mut next = 1;
    let result = reader.for_each_frame(|frame| {
        assert_eq!(frame.number, next);
        next += 1;
        assert!(frame.data.len() <= MAX_RECORD);
        let _ = decode(frame);
        ControlFlow::Continue(())
    });
    if let Err(e) = result {
        assert!(e.offset <= file.len() as u64, "{e} (input {})", file.len());
        assert!(!e.what.is_empty());
    }
    assert_eq!(reader.stats().frames, next - 1);
}

/// Frame decoding: a segment, if any, borrows its payload from inside the frame.
pub fn decode_frame(data: &[u8]) {
    let mut input = Input(data);
    let Some(selector) = input.u8() else { return };
    let bytes = input.0;
    let frame = Frame {
        number: 1,
        ts: Timestamp::default(),
        link: LINKS[usize::from(selector) % LINKS.len()],
        data: bytes,
        orig_len: bytes.len() as u32,
        interface: 0,
    };
    if let Ok(segment) = decode(&frame) {
        let (inside, payload) = (bytes.as_ptr_range(), segment.payload.as_ptr_range());
        assert!(
            segment.payload.is_empty()
                || (payload.start >= inside.start && payload.end <= inside.end)
        );
    }
}

/// What one direction handed on: stream position reached, gap bytes.
#[derive(Default, Clone, Copy)]
struct Handed {
    pos: u64,
    gaps: u64,
}

/// The TCP reassembler (see the module docs for both input modes).
pub fn reassembly(data: &[u8]) {
    let mut input = Input(data);
    let Some(mode) = input.u8() else { return };
    if mode & 1 == 0 {
        reassembly_arbitrary(mode, input);
    } else {
        reassembly_oracle(mode, input);
    }
}

fn dir_of(bit: u8) -> Direction {
    if bit & 1 == 0 {
        Direction::ToServer
    } else {
        Direction::ToClient
    }
}

fn ends(dir: Direction) -> (SocketAddr, SocketAddr) {
    match dir {
        Direction::ToServer => (client_addr(), server_addr()),
        Direction::ToClient => (server_addr(), client_addr()),
    }
}

fn index(dir: Direction) -> usize {
    match dir {
        Direction::ToServer => 0,
        Direction::ToClient => 1,
    }
}

/// Arbitrary segments: nothing panics, chunks are never empty, a second flush hands on nothing.
fn reassembly_arbitrary(mode: u8, mut input: Input<'_>) {
    let max_pending = [16, 256, 4096, 1 << 20][usize::from(mode >> 1) & 3];
    let mut conn = Connection::new(client_addr(), server_addr(), max_pending);
    let mut check = |_: Direction, chunk: Chunk<'_>| match chunk {
        Chunk::Data { bytes, .. } => assert!(!bytes.is_empty()),
        Chunk::Gap { len, .. } => assert!(len > 0),
    };
    let mut frame = 0;
    while let Some(flags) = input.u8() {
        let (Some(seq), Some(ack), Some(len), Some(missing)) =
            (input.u32(), input.u32(), input.u16(), input.u8())
        else {
            break;
        };
        let payload = input.bytes(usize::from(len));
        frame += 1;
        let dir = dir_of(flags);
        let (src, dst) = ends(dir);
        let segment = TcpSegment {
            src,
            dst,
            seq,
            ack,
            flags: TcpFlags {
                syn: flags & 2 != 0,
                ack: flags & 4 != 0,
                fin: flags & 8 != 0,
                rst: flags & 16 != 0,
            },
            payload,
            missing: u32::from(missing),
        };
        assert_eq!(conn.direction_of(&segment), Some(dir));
        if flags & 0x20 != 0 {
            conn.discard_payload();
        }
        conn.segment(dir, &segment, frame, &mut check);
        if flags & 0x40 != 0 {
            conn.flush(frame, &mut check);
        }
        let _ = conn.is_closed();
    }
    conn.flush(frame, &mut check);
    conn.flush(frame, &mut |_, chunk| {
        panic!("second flush handed on {chunk:?}")
    });
}

/// The byte at stream offset `pos` of the known stream of a direction.
pub fn truth(dir: Direction, pos: u64) -> u8 {
    (pos.wrapping_mul(7) ^ (pos >> 8).wrapping_mul(13) ^ (index(dir) as u64 * 101)) as u8
}

/// Segments cut from two known streams, in any order, duplicated, overlapping, with FINs and
/// ACKs anywhere: every byte handed on is the stream's byte at that position; after the flush
/// every byte sent has been handed on or declared a gap; without ACKs (which may declare
/// bytes lost that arrive later) and with room enough in the out-of-order store, exactly the
/// holes are gaps.
fn reassembly_oracle(mode: u8, mut input: Input<'_>) {
    let (Some(isn_c), Some(isn_s)) = (input.u32(), input.u32()) else {
        return;
    };
    let max_pending = [64, 1024, 1 << 20, 1 << 20][usize::from(mode >> 1) & 3];
    let isn = [isn_c, isn_s];
    let mut conn = Connection::new(client_addr(), server_addr(), max_pending);
    let mut handed = [Handed::default(); 2];
    let mut check = |dir: Direction, chunk: Chunk<'_>| {
        let h = &mut handed[index(dir)];
        match chunk {
            Chunk::Data { bytes, .. } => {
                for (i, &b) in bytes.iter().enumerate() {
                    assert_eq!(
                        b,
                        truth(dir, h.pos + i as u64),
                        "{dir:?} byte at offset {}",
                        h.pos + i as u64
                    );
                }
                h.pos += bytes.len() as u64;
            }
            Chunk::Gap { len, .. } => {
                h.pos += len;
                h.gaps += len;
            }
        }
    };
    // SYN, SYN-ACK.
    for (dir, ack) in [
        (Direction::ToServer, None),
        (Direction::ToClient, Some(isn_c.wrapping_add(1))),
    ] {
        let (src, dst) = ends(dir);
        let segment = TcpSegment {
            src,
            dst,
            seq: isn[index(dir)],
            ack: ack.unwrap_or(0),
            flags: TcpFlags {
                syn: true,
                ack: ack.is_some(),
                fin: false,
                rst: false,
            },
            payload: &[],
            missing: 0,
        };
        conn.segment(dir, &segment, index(dir) as u64 + 1, &mut check);
    }
    const SPAN: usize = (1 << 16) + 256;
    let mut covered = [vec![false; SPAN], vec![false; SPAN]];
    let mut coverage_end = [0u64; 2];
    // Bytes sent, and segments (a held segment costs more than its bytes: allow 512 each).
    let mut sent = [0usize; 2];
    let mut segments = [0usize; 2];
    let mut acks_used = false;
    let mut frame = 2;
    let mut payload = Vec::new();
    while let Some(ctl) = input.u8() {
        let (Some(start), Some(len)) = (input.u16(), input.u8()) else {
            break;
        };
        let ack = if ctl & 4 != 0 { input.u16() } else { None };
        frame += 1;
        let dir = dir_of(ctl);
        let i = index(dir);
        let (start, len) = (u64::from(start), usize::from(len));
        payload.clear();
        payload.extend((0..len as u64).map(|k| truth(dir, start + k)));
        let (src, dst) = ends(dir);
        let peer = 1 - i;
        let segment = TcpSegment {
            src,
            dst,
            seq: isn[i].wrapping_add(1).wrapping_add(start as u32),
            ack: ack.map_or(0, |a| isn[peer].wrapping_add(1).wrapping_add(u32::from(a))),
            flags: TcpFlags {
                syn: false,
                ack: ack.is_some(),
                fin: ctl & 2 != 0,
                rst: false,
            },
            payload: &payload,
            missing: 0,
        };
        acks_used |= ack.is_some();
        if len > 0 {
            covered[i][start as usize..start as usize + len].fill(true);
            coverage_end[i] = coverage_end[i].max(start + len as u64);
            sent[i] += len;
            segments[i] += 1;
        }
        conn.segment(dir, &segment, frame, &mut check);
    }
    conn.flush(frame, &mut check);
    for i in 0..2 {
        assert!(
            handed[i].pos >= coverage_end[i],
            "direction {i}: handed on {} of {} bytes",
            handed[i].pos,
            coverage_end[i]
        );
        if !acks_used && max_pending >= sent[i] + 512 * segments[i] {
            let holes = covered[i][..coverage_end[i] as usize]
                .iter()
                .filter(|c| !**c)
                .count() as u64;
            assert_eq!(handed[i].pos, coverage_end[i], "direction {i}");
            assert_eq!(handed[i].gaps, holes, "direction {i}: gap bytes");
        }
    }
}

/// The SMTP line parsers: what they return is part of the line and well-formed.
pub fn smtp_parse(data: &[u8]) {
    let is_suffix = |part: &[u8], whole: &[u8]| whole.ends_with(part);
    for line in std::iter::once(data).chain(data.split(|&b| b == b'\n')) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(reply) = parse::reply_line(line) {
            assert!(reply.code < 1000);
            assert!(is_suffix(reply.text, line));
            let _ = parse::enhanced_code(reply.text);
            if let Some((keyword, params)) = parse::ehlo_keyword(reply.text) {
                assert!(!keyword.is_empty());
                assert!(is_suffix(params, reply.text));
                let _ = parse::is_masked_keyword(keyword);
            }
            let _ = parse::is_masked_banner(reply.text);
        }
        if let Some(command) = parse::command_line(line) {
            assert!(!command.word.is_empty());
            assert!(command.word.iter().all(u8::is_ascii_alphanumeric));
            assert!(is_suffix(command.args, line));
            let _ = parse::bdat_args(command.args);
        }
        if let Some(code) = parse::enhanced_code(line) {
            assert!(matches!(code.class, 2 | 4 | 5));
        }
        let _ = parse::ehlo_keyword(line);
        let _ = parse::bdat_args(line);
        let _ = parse::is_masked_keyword(line);
        let _ = parse::is_masked_command(line);
        let _ = parse::is_masked_banner(line);
    }
}

fn end_of(selector: u8) -> End {
    match selector & 7 {
        0 => End::Closed,
        1 => End::HalfClosed {
            by: Direction::ToServer,
        },
        2 => End::HalfClosed {
            by: Direction::ToClient,
        },
        3 => End::Reset {
            by: Direction::ToServer,
        },
        4 => End::Reset {
            by: Direction::ToClient,
        },
        5 => End::CaptureEnded,
        6 => End::IdleTimeout,
        _ => End::Evicted,
    }
}

/// The SMTP session state machine fed any chunks and gaps of both directions, then finished,
/// classified and reported in every format.
pub fn session(data: &[u8]) {
    let mut input = Input(data);
    let Some(config) = input.u8() else { return };
    let limits = SessionLimits {
        max_line: [16, 64, 512, 4096][usize::from(config >> 1) & 3],
        max_buffered: [64, 1024, 65_536, 256 * 1024][usize::from(config >> 3) & 3],
        keep_transcript: true,
    };
    let ts = Timestamp::new(1_700_000_000, 0);
    let mut s = Session::new(client_addr(), server_addr(), 1, ts, config & 1 != 0, limits);
    let mut frame = 1;
    while let Some(ctl) = input.u8() {
        let Some(len) = input.u16() else { break };
        frame += 1;
        let dir = dir_of(ctl);
        if ctl & 2 != 0 {
            s.gap(dir, u64::from(len) + 1, frame);
        } else {
            let bytes = input.bytes(usize::from(len));
            if bytes.is_empty() {
                break;
            }
            s.data(dir, bytes, frame);
        }
        s.saw_frame(frame, ts);
        let _ = s.detection();
        let _ = s.wants_payload();
    }
    let report = classify(s.finish(end_of(config >> 5)));
    check_reports(vec![report], &Summary::default());
}

/// The TLS sniffer fed any chunks and gaps of both directions.
pub fn tls(data: &[u8]) {
    let mut input = Input(data);
    let mut sniffer = TlsSniffer::new();
    let mut frame = 0;
    while let Some(ctl) = input.u8() {
        let Some(len) = input.u32_be() else { break };
        frame += 1;
        let dir = dir_of(ctl);
        if ctl & 2 != 0 {
            sniffer.gap(dir, u64::from(len), frame);
        } else {
            sniffer.feed(dir, input.bytes(len as usize), frame);
        }
        let _ = (
            sniffer.wants_more(),
            sniffer.is_established(),
            sniffer.has_failed(),
        );
    }
    let facts = sniffer.facts();
    if let Some(not_tls) = &facts.not_tls {
        assert_no_controls(&not_tls.escaped(), "NotTls::escaped");
    }
    let json = serde_json::to_string(facts).expect("TLS facts serialize");
    serde_json::from_str::<serde_json::Value>(&json).expect("TLS facts are valid JSON");
}

/// The analyzer fed frames directly (no file format in the way), with small limits so that
/// eviction and idle timeouts happen; then every report format.
pub fn analyzer(data: &[u8]) {
    let mut input = Input(data);
    let Some(c) = input.u8() else { return };
    let config = config_of(c);
    let mut analyzer = Analyzer::new(config);
    let mut reports = Vec::new();
    let mut ts = Timestamp::new(1_700_000_000, 0);
    let mut number = 0;
    while let Some(selector) = input.u8() {
        let (Some(step), Some(len)) = (input.u8(), input.u16()) else {
            break;
        };
        let bytes = input.bytes(usize::from(len));
        number += 1;
        // -128..=127 tenths of a second: time may go backwards.
        let step = i64::from(step as i8) * 100_000_000;
        let nanos = i64::from(ts.nanos) + step.rem_euclid(1_000_000_000);
        ts = Timestamp::new(
            ts.secs + step.div_euclid(1_000_000_000) + nanos / 1_000_000_000,
            (nanos % 1_000_000_000) as u32,
        );
        let frame = Frame {
            number,
            ts,
            link: LINKS[usize::from(selector) % LINKS.len()],
            data: bytes,
            orig_len: len.into(),
            interface: 0,
        };
        analyzer.frame(&frame, &mut |r| reports.push(r));
    }
    analyzer.finish(&mut |r| reports.push(r));
    let summary = analyzer.summary().clone();
    assert_eq!(summary.sessions, reports.len() as u64);
    let mut starts = HashSet::new();
    for r in &reports {
        assert!(
            starts.insert((r.record.client, r.record.server, r.record.first_frame)),
            "session {} -> {} from frame {} reported twice",
            r.record.client,
            r.record.server,
            r.record.first_frame
        );
    }
    reports.sort_by_key(|r| r.record.first_frame);
    OfferHistory::mark_all(&mut reports);
    check_reports(reports, &summary);
}

/// The analyzer configuration a selector byte stands for.
pub fn config_of(c: u8) -> Config {
    Config {
        content_detection: c & 1 != 0,
        max_flows: [4, 16, 256, 200_000][usize::from(c >> 1) & 3],
        idle_timeout_secs: [1, 10, 60, 300][usize::from(c >> 3) & 3],
        max_out_of_order: [64, 4096, 1 << 20, 1 << 20][usize::from(c >> 5) & 3],
        limits: SessionLimits {
            max_line: if c & 0x80 != 0 { 64 } else { 4096 },
            max_buffered: if c & 0x80 != 0 { 1024 } else { 256 * 1024 },
            keep_transcript: true,
        },
        ..Config::default()
    }
}

/// The whole pipeline from file bytes: `mailtap::analyze`, then every report format.
pub fn pipeline(data: &[u8]) {
    let mut config = Config::default();
    config.limits.keep_transcript = true;
    match mailtap::analyze(data, &config) {
        Ok(analysis) => {
            if let Some(e) = &analysis.damage {
                assert!(e.offset <= data.len() as u64, "{e}");
            }
            check_reports(analysis.sessions, &analysis.summary);
        }
        Err(e) => assert!(e.offset <= data.len() as u64, "{e}"),
    }
}

/// Panics on a control character other than a line feed (after the text was made a `str`).
pub fn assert_no_controls(text: &str, what: &str) {
    if let Some(c) = text.chars().find(|&c| c != '\n' && c.is_control()) {
        panic!("{what}: control character {c:?} in output:\n{text}");
    }
}

/// Writes the reports in every format: table and transcript are UTF-8 without control
/// characters (no terminal escape gets through), JSON and JSON Lines parse.
pub fn check_reports(reports: Vec<SessionReport>, summary: &Summary) {
    let errors = ["capture: at byte offset 1: \u{1b}[31mdamaged".to_string()];
    for format in [
        Format::Table,
        Format::Transcript,
        Format::Json,
        Format::Jsonl,
        Format::Csv,
    ] {
        let mut out = Vec::new();
        let mut reporter = Reporter::new(format, &mut out, false);
        let input = reporter.input("capture\u{1b}]0;title\u{7}.pcap");
        for r in &reports {
            reporter.session(input, r.clone()).expect("write to a Vec");
        }
        reporter.finish(summary, &errors).expect("write to a Vec");
        match format {
            Format::Table | Format::Transcript => {
                let text = std::str::from_utf8(&out).expect("text output is UTF-8");
                assert_no_controls(text, &format!("{format:?}"));
            }
            Format::Json => {
                serde_json::from_slice::<serde_json::Value>(&out).expect("JSON document parses");
            }
            Format::Jsonl => {
                for line in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                    serde_json::from_slice::<serde_json::Value>(line).expect("JSON line parses");
                }
            }
            Format::Csv => {
                let text = std::str::from_utf8(&out).expect("CSV is UTF-8");
                assert_no_controls(&text.replace("\r\n", "\n"), "Csv");
            }
        }
    }
    // The table laid out for terminals, narrow (sessions over several lines) and wide: no
    // line wider than the terminal except for pieces that are never cut (addresses).
    for columns in [60, 200] {
        let mut out = Vec::new();
        let view = mailtap::report::View {
            width: Some(columns),
            verbose: true,
            ..Default::default()
        };
        let mut reporter = Reporter::new(Format::Table, &mut out, false).with_view(view);
        let input = reporter.input("capture\u{1b}]0;title\u{7}.pcap");
        for r in &reports {
            reporter.session(input, r.clone()).expect("write to a Vec");
        }
        reporter.finish(summary, &errors).expect("write to a Vec");
        let text = std::str::from_utf8(&out).expect("text output is UTF-8");
        assert_no_controls(text, "terminal table");
    }
}

/// Inputs in each harness's format, made from captures (for the seed corpora).
pub mod seed {
    use super::*;

    /// `capture`: the file, read as a whole.
    pub fn capture(file: &[u8]) -> Vec<u8> {
        let mut out = vec![0];
        out.extend_from_slice(file);
        out
    }

    /// The frames of a capture, with their link types.
    pub fn frames(file: &[u8]) -> Vec<(LinkType, Timestamp, Vec<u8>)> {
        let mut frames = Vec::new();
        if let Ok(mut reader) = FileReader::new(file) {
            let _ = reader.for_each_frame(|f| {
                frames.push((f.link, f.ts, f.data.to_vec()));
                ControlFlow::Continue(())
            });
        }
        frames
    }

    /// `decode`: up to `max` frames of the capture, one input each.
    pub fn decode(file: &[u8], max: usize) -> Vec<Vec<u8>> {
        frames(file)
            .into_iter()
            .take(max)
            .map(|(link, _, data)| {
                let mut out = vec![link_selector(link)];
                out.extend_from_slice(&data);
                out
            })
            .collect()
    }

    /// The TCP segments of the capture's first connection (the client is the side that sent
    /// the first SYN, or the side not on port 25/465/587/2525), with the payloads owned.
    fn first_connection(file: &[u8]) -> Vec<(Direction, u32, u32, TcpFlags, Vec<u8>)> {
        let mut out = Vec::new();
        let mut client: Option<SocketAddr> = None;
        let mut server: Option<SocketAddr> = None;
        for (link, ts, data) in frames(file) {
            let frame = Frame {
                number: 0,
                ts,
                link,
                data: &data,
                orig_len: data.len() as u32,
                interface: 0,
            };
            let Ok(s) = mailtap::decode::decode(&frame) else {
                continue;
            };
            if client.is_none() {
                let smtp = |p: u16| matches!(p, 25 | 465 | 587 | 2525);
                let from_client = (s.flags.syn && !s.flags.ack) || smtp(s.dst.port());
                let (c, v) = if from_client {
                    (s.src, s.dst)
                } else {
                    (s.dst, s.src)
                };
                client = Some(c);
                server = Some(v);
            }
            let dir = if Some(s.src) == client && Some(s.dst) == server {
                Direction::ToServer
            } else if Some(s.src) == server && Some(s.dst) == client {
                Direction::ToClient
            } else {
                continue;
            };
            out.push((dir, s.seq, s.ack, s.flags, s.payload.to_vec()));
        }
        out
    }

    /// `reassembly` (arbitrary mode): the segments of the capture's first connection.
    pub fn reassembly(file: &[u8]) -> Vec<u8> {
        let mut out = vec![6]; // arbitrary segments, large store
        for (dir, seq, ack, flags, payload) in first_connection(file) {
            let bits = u8::from(dir == Direction::ToClient)
                | u8::from(flags.syn) << 1
                | u8::from(flags.ack) << 2
                | u8::from(flags.fin) << 3
                | u8::from(flags.rst) << 4;
            out.push(bits);
            out.extend_from_slice(&seq.to_le_bytes());
            out.extend_from_slice(&ack.to_le_bytes());
            let len = payload.len().min(usize::from(u16::MAX));
            out.extend_from_slice(&(len as u16).to_le_bytes());
            out.push(0);
            out.extend_from_slice(&payload[..len]);
        }
        out
    }

    /// `reassembly` (oracle mode): each direction's 300 bytes in segments of 50, written
    /// backwards, every third one twice, then FINs; initial sequence numbers near the wrap.
    pub fn reassembly_oracle() -> Vec<u8> {
        let mut out = vec![1 | 4];
        out.extend_from_slice(&(u32::MAX - 100).to_le_bytes());
        out.extend_from_slice(&7u32.to_le_bytes());
        for k in (0..6u16).rev() {
            for dir in 0..2u8 {
                for _ in 0..(1 + usize::from(k % 3 == 0)) {
                    out.push(dir);
                    out.extend_from_slice(&(k * 50).to_le_bytes());
                    out.push(50);
                }
            }
        }
        for dir in 0..2u8 {
            out.push(dir | 2);
            out.extend_from_slice(&300u16.to_le_bytes());
            out.push(0);
        }
        out
    }

    /// `session`: the reassembled bytes of the capture's first connection, chunk by chunk.
    pub fn session(file: &[u8]) -> Vec<u8> {
        let mut conn = Connection::new(client_addr(), server_addr(), 1 << 20);
        let mut out = vec![1 | 3 << 1 | 3 << 3 | 5 << 5];
        let mut push = |dir: Direction, chunk: Chunk<'_>| match chunk {
            Chunk::Data { bytes, .. } => {
                for piece in bytes.chunks(usize::from(u16::MAX)) {
                    out.push(u8::from(dir == Direction::ToClient));
                    out.extend_from_slice(&(piece.len() as u16).to_le_bytes());
                    out.extend_from_slice(piece);
                }
            }
            Chunk::Gap { len, .. } => {
                out.push(u8::from(dir == Direction::ToClient) | 2);
                out.extend_from_slice(&(len.clamp(1, 65_536) as u16 - 1).to_le_bytes());
            }
        };
        for (frame, (dir, seq, ack, flags, payload)) in
            first_connection(file).into_iter().enumerate()
        {
            let (src, dst) = ends(dir);
            let segment = TcpSegment {
                src,
                dst,
                seq,
                ack,
                flags,
                payload: &payload,
                missing: 0,
            };
            conn.segment(dir, &segment, frame as u64, &mut push);
        }
        conn.flush(0, &mut push);
        out
    }

    /// `analyzer`: the capture's frames (first `max`), with a configuration byte.
    pub fn analyzer(file: &[u8], config: u8, max: usize) -> Vec<u8> {
        let mut out = vec![config];
        for (link, _, data) in frames(file).into_iter().take(max) {
            let len = data.len().min(usize::from(u16::MAX));
            out.push(link_selector(link));
            out.push(1);
            out.extend_from_slice(&(len as u16).to_le_bytes());
            out.extend_from_slice(&data[..len]);
        }
        out
    }
}
