//! One direction of a TCP connection, put back in sequence order.
//!
//! Bytes are handed on as soon as they are contiguous, never held until acknowledged: the last
//! reply or alert before a connection dies is often exactly what decides a verdict. What can
//! never be filled is handed on as a [`Chunk::Gap`] so the layers above can say "capture-gap"
//! instead of guessing across it. A gap is declared when the peer acknowledges bytes the capture
//! does not hold and they do not follow within a bounded window, when the out-of-order store is
//! full, or when the stream ends.
//!
//! An ACK can be captured before the data it acknowledges (SPAN ports, mirror sessions,
//! multi-queue NICs: Wireshark's "ACKed unseen segment"); the data then follows microseconds
//! later. So acknowledged-but-unseen bytes are only noted, and become a gap once
//! [`ACK_WAIT_SEGMENTS`] segments of the connection went by without this direction moving
//! forward, when either side sends FIN or RST, or at the end of the stream.
//!
//! Sequence numbers are 32-bit and wrap (RFC 9293 §3.4); every segment is placed relative to
//! the next expected sequence number, which gives a 64-bit stream offset that never wraps.

use std::collections::BTreeMap;

use crate::decode::TcpSegment;

/// What the stream hands on, in stream order.
#[derive(Debug, PartialEq, Eq)]
pub enum Chunk<'a> {
    /// Contiguous bytes, next in the stream.
    Data {
        /// The bytes, borrowed from the segment or the out-of-order store.
        bytes: &'a [u8],
        /// The frame that carried them (for bytes released from the store, the frame of their
        /// segment).
        frame: u64,
    },
    /// `len` bytes that the capture does not hold; `frame` is where the loss was noticed.
    Gap {
        /// How many bytes are missing.
        len: u64,
        /// Where the loss was noticed: an ACK beyond the bytes, a full out-of-order store, a
        /// FIN or RST, the end of input, or a frame cut short by the snaplen.
        frame: u64,
    },
}

/// Counters worth reporting about one direction (summed over the capture in the summary).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct StreamStats {
    /// Segments that brought nothing new (every byte already handed on or held).
    pub retransmitted_segments: u64,
    /// Segments that began before the next expected byte but brought new bytes too.
    pub overlapping_segments: u64,
    /// Segments that arrived ahead of the next expected sequence number.
    pub out_of_order_segments: u64,
    /// Bytes handed on as [`Chunk::Gap`].
    pub gap_bytes: u64,
}

impl StreamStats {
    /// Adds another direction's (or connection's) counters to these.
    pub fn add(&mut self, other: &StreamStats) {
        self.retransmitted_segments += other.retransmitted_segments;
        self.overlapping_segments += other.overlapping_segments;
        self.out_of_order_segments += other.out_of_order_segments;
        self.gap_bytes += other.gap_bytes;
    }
}

#[derive(Debug)]
struct Pending {
    data: Vec<u8>,
    /// Bytes beyond `data` that were on the wire but not captured (snaplen).
    missing: u64,
    frame: u64,
}

/// Bytes the peer acknowledged that the capture has not shown yet.
#[derive(Debug, Clone, Copy)]
struct AckedAhead {
    /// Stream offset acknowledged.
    until: u64,
    /// Frame of the first ACK that showed it (where a loss is reported).
    frame: u64,
    /// `offset` when last looked at: moving forward restarts the wait.
    seen_offset: u64,
    /// Segments of the connection since, without this direction moving forward.
    waited: u32,
}

/// How many segments of the connection (either direction) acknowledged-but-unseen bytes are
/// waited for, while this direction does not move forward, before they are declared a gap.
/// Reordering by capture equipment is a frame or two; a real loss is still reported a few
/// segments after the ACK that revealed it, at that ACK's frame.
pub const ACK_WAIT_SEGMENTS: u32 = 8;

/// One direction's reassembly state.
#[derive(Debug)]
pub struct Stream {
    /// Sequence number of the next byte to hand on; `None` until the first segment.
    next_seq: Option<u32>,
    /// Stream offset of the next byte to hand on (bytes and gaps handed on so far).
    offset: u64,
    /// Segments ahead of `offset`, by stream offset.
    pending: BTreeMap<u64, Pending>,
    /// What the held segments cost: their bytes plus [`SEGMENT_OVERHEAD`] each.
    pending_bytes: usize,
    max_pending: usize,
    fin_at: Option<u64>,
    syn_seen: bool,
    discarding: bool,
    acked_ahead: Option<AckedAhead>,
    stats: StreamStats,
}

/// What holding one segment costs beyond its bytes (map entry, allocation), counted against
/// the store's bound: a million one-byte segments out of order would otherwise hold about
/// 128 MiB under a 1 MiB bound.
const SEGMENT_OVERHEAD: usize = 128;

/// Segments further than this from the expected sequence number are not of this stream
/// (a reused port, a corrupt header): they are ignored rather than creating a huge gap.
const MAX_JUMP: i64 = 1 << 30;

impl Stream {
    /// `max_pending` bounds the bytes held out of order.
    pub fn new(max_pending: usize) -> Self {
        Stream {
            next_seq: None,
            offset: 0,
            pending: BTreeMap::new(),
            pending_bytes: 0,
            max_pending,
            fin_at: None,
            syn_seen: false,
            discarding: false,
            acked_ahead: None,
            stats: StreamStats::default(),
        }
    }

    /// This direction's counters so far.
    pub fn stats(&self) -> StreamStats {
        self.stats
    }

    /// Whether this direction's SYN was seen (the stream start is known).
    pub fn syn_seen(&self) -> bool {
        self.syn_seen
    }

    /// Whether every byte up to this direction's FIN has been handed on.
    pub fn is_finished(&self) -> bool {
        self.fin_at.is_some_and(|fin| self.offset >= fin)
    }

    /// Stops holding payload: from now on segments only move the stream position and FIN.
    /// Used once a session is decided and encrypted.
    pub fn discard_payload(&mut self) {
        self.discarding = true;
        self.pending.clear();
        self.pending_bytes = 0;
        self.acked_ahead = None;
    }

    fn place(&self, seq: u32) -> Option<u64> {
        let next = self.next_seq?;
        let delta = i64::from(seq.wrapping_sub(next) as i32);
        if delta.abs() > MAX_JUMP {
            return None;
        }
        u64::try_from(self.offset as i64 + delta).ok()
    }

    /// Takes one segment of this direction.
    pub fn segment(
        &mut self,
        segment: &TcpSegment<'_>,
        frame: u64,
        out: &mut impl FnMut(Chunk<'_>),
    ) {
        let TcpSegment {
            seq,
            payload,
            missing,
            flags,
            ..
        } = *segment;
        let (syn, fin) = (flags.syn, flags.fin);
        if self.next_seq.is_none() {
            self.syn_seen = syn;
            self.next_seq = Some(if syn { seq.wrapping_add(1) } else { seq });
        } else if syn && !self.syn_seen && self.offset == 0 && self.pending.is_empty() {
            // The SYN arrived after an early segment in capture order: restart from it.
            self.syn_seen = true;
            self.next_seq = Some(seq.wrapping_add(1));
        }
        let data_seq = if syn { seq.wrapping_add(1) } else { seq };
        let Some(start) = self.place(data_seq) else {
            return;
        };
        let len = payload.len() as u64 + u64::from(missing);
        let end = start + len;
        if fin {
            self.fin_at.get_or_insert(end);
        }
        if len == 0 {
            return;
        }
        if end <= self.offset {
            self.stats.retransmitted_segments += 1;
            return;
        }
        if self.discarding {
            self.advance_to(end);
            return;
        }
        if start > self.offset {
            self.stats.out_of_order_segments += 1;
            self.hold(start, payload, u64::from(missing), frame, out);
            return;
        }
        let skip = (self.offset - start) as usize;
        if skip > 0 {
            self.stats.overlapping_segments += 1;
        }
        self.hand_on(
            &payload[skip.min(payload.len())..],
            u64::from(missing),
            frame,
            out,
        );
        self.drain(out);
    }

    /// The peer acknowledged everything before `ack`: bytes before it that the capture does
    /// not hold are lost, unless they follow within the wait (see [`Stream::tick`]).
    pub fn acknowledged(&mut self, ack: u32, frame: u64) {
        let Some(acked) = self.place(ack) else { return };
        // A FIN takes a sequence number of its own; acknowledging it is not data.
        let acked = self.fin_at.map_or(acked, |fin| acked.min(fin));
        if acked <= self.offset || self.discarding {
            return;
        }
        match &mut self.acked_ahead {
            Some(ahead) => ahead.until = ahead.until.max(acked),
            None => {
                self.acked_ahead = Some(AckedAhead {
                    until: acked,
                    frame,
                    seen_offset: self.offset,
                    waited: 0,
                })
            }
        }
    }

    /// Called for every segment of the connection (either direction) before it is applied:
    /// acknowledged-but-unseen bytes become a gap once the wait is over, or at once when the
    /// segment closes the connection (`closing`: FIN or RST), so no loss outlives the end.
    pub fn tick(&mut self, closing: bool, out: &mut impl FnMut(Chunk<'_>)) {
        self.settle();
        let Some(ahead) = &mut self.acked_ahead else {
            return;
        };
        if self.offset > ahead.seen_offset {
            ahead.seen_offset = self.offset;
            ahead.waited = 0;
        } else {
            ahead.waited += 1;
        }
        if closing || ahead.waited > ACK_WAIT_SEGMENTS {
            self.give_up_acked(out);
        }
    }

    /// Forgets acknowledged-but-unseen bytes once they have all been seen.
    fn settle(&mut self) {
        if self
            .acked_ahead
            .is_some_and(|ahead| ahead.until <= self.offset)
        {
            self.acked_ahead = None;
        }
    }

    /// The acknowledged bytes the capture does not hold are lost for good: gaps up to the
    /// acknowledged point, with what is held beyond each hole handed on.
    fn give_up_acked(&mut self, out: &mut impl FnMut(Chunk<'_>)) {
        let Some(AckedAhead {
            until: acked,
            frame,
            ..
        }) = self.acked_ahead.take()
        else {
            return;
        };
        while self.offset < acked {
            let until = self
                .pending
                .keys()
                .next()
                .copied()
                .unwrap_or(acked)
                .min(acked);
            if until > self.offset {
                self.gap(until - self.offset, frame, out);
            }
            self.drain(out);
        }
    }

    /// The input ended: whatever is held is handed on, with the holes before it as gaps.
    pub fn flush(&mut self, frame: u64, out: &mut impl FnMut(Chunk<'_>)) {
        self.settle();
        self.give_up_acked(out);
        while let Some(&first) = self.pending.keys().next() {
            if first > self.offset {
                self.gap(first - self.offset, frame, out);
            }
            self.drain(out);
        }
    }

    fn hold(
        &mut self,
        start: u64,
        payload: &[u8],
        missing: u64,
        frame: u64,
        out: &mut impl FnMut(Chunk<'_>),
    ) {
        if self
            .pending
            .get(&start)
            .is_some_and(|p| p.data.len() >= payload.len())
        {
            self.stats.retransmitted_segments += 1;
            return;
        }
        // The store is full: give up on the oldest hole rather than on new data.
        while self.pending_bytes + payload.len() + SEGMENT_OVERHEAD > self.max_pending
            && !self.pending.is_empty()
        {
            let first = *self.pending.keys().next().unwrap_or(&start);
            let until = first.min(start);
            if until > self.offset {
                self.gap(until - self.offset, frame, out);
            }
            self.drain(out);
            if start <= self.offset {
                // The new segment is now (partly) in order.
                let skip = (self.offset - start) as usize;
                if skip < payload.len() || missing > 0 {
                    self.hand_on(&payload[skip.min(payload.len())..], missing, frame, out);
                    self.drain(out);
                }
                return;
            }
        }
        if payload.len() > self.max_pending {
            // A single segment larger than the whole store: hand on the hole, then the segment.
            self.gap(start - self.offset, frame, out);
            self.hand_on(payload, missing, frame, out);
            self.drain(out);
            return;
        }
        if let Some(old) = self.pending.insert(
            start,
            Pending {
                data: payload.to_vec(),
                missing,
                frame,
            },
        ) {
            self.pending_bytes -= old.data.len() + SEGMENT_OVERHEAD;
        }
        self.pending_bytes += payload.len() + SEGMENT_OVERHEAD;
    }

    /// Hands on held segments that have become contiguous.
    fn drain(&mut self, out: &mut impl FnMut(Chunk<'_>)) {
        while let Some(entry) = self.pending.first_entry() {
            let start = *entry.key();
            if start > self.offset {
                return;
            }
            let held = entry.remove();
            self.pending_bytes -= held.data.len() + SEGMENT_OVERHEAD;
            let end = start + held.data.len() as u64 + held.missing;
            if end <= self.offset {
                self.stats.retransmitted_segments += 1;
                continue;
            }
            let skip = (self.offset - start) as usize;
            if skip > 0 {
                self.stats.overlapping_segments += 1;
            }
            self.hand_on(
                &held.data[skip.min(held.data.len())..],
                held.missing,
                held.frame,
                out,
            );
        }
    }

    fn hand_on(&mut self, bytes: &[u8], missing: u64, frame: u64, out: &mut impl FnMut(Chunk<'_>)) {
        if !bytes.is_empty() {
            self.offset += bytes.len() as u64;
            self.next_seq = self.next_seq.map(|s| s.wrapping_add(bytes.len() as u32));
            out(Chunk::Data { bytes, frame });
        }
        if missing > 0 {
            self.gap(missing, frame, out);
        }
    }

    fn gap(&mut self, len: u64, frame: u64, out: &mut impl FnMut(Chunk<'_>)) {
        self.stats.gap_bytes += len;
        self.advance_by(len);
        out(Chunk::Gap { len, frame });
    }

    fn advance_to(&mut self, end: u64) {
        if end > self.offset {
            self.advance_by(end - self.offset);
        }
    }

    fn advance_by(&mut self, len: u64) {
        self.offset += len;
        self.next_seq = self.next_seq.map(|s| s.wrapping_add(len as u32));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::TcpFlags;

    fn seg(seq: u32, syn: bool, fin: bool, payload: &[u8], missing: u32) -> TcpSegment<'_> {
        let addr = "192.0.2.1:25".parse().unwrap();
        let flags = TcpFlags {
            syn,
            fin,
            ack: false,
            rst: false,
        };
        TcpSegment {
            src: addr,
            dst: addr,
            seq,
            ack: 0,
            flags,
            payload,
            missing,
        }
    }

    /// Feeds (seq, bytes) segments and returns what was handed on, gaps as `#len#`.
    fn run(isn: u32, segments: &[(u32, &[u8])], acks: &[(usize, u32)], flush: bool) -> String {
        let mut stream = Stream::new(1 << 16);
        let mut out = String::new();
        let mut sink = |chunk: Chunk<'_>| match chunk {
            Chunk::Data { bytes, .. } => out.push_str(std::str::from_utf8(bytes).unwrap()),
            Chunk::Gap { len, .. } => out.push_str(&format!("#{len}#")),
        };
        stream.segment(&seg(isn, true, false, b"", 0), 1, &mut sink);
        for (i, (seq, bytes)) in segments.iter().enumerate() {
            stream.segment(&seg(*seq, false, false, bytes, 0), i as u64 + 2, &mut sink);
            for (after, ack) in acks {
                if *after == i {
                    stream.acknowledged(*ack, 99);
                    // the peer's ACK segment itself, then the wait running out
                    for _ in 0..=ACK_WAIT_SEGMENTS + 1 {
                        stream.tick(false, &mut sink);
                    }
                }
            }
        }
        if flush {
            stream.flush(100, &mut sink);
        }
        out
    }

    #[test]
    fn in_order_and_one_byte_segments() {
        let s: Vec<(u32, &[u8])> = b"ehlo x\r\n"
            .iter()
            .enumerate()
            .map(|(i, b)| (101 + i as u32, std::slice::from_ref(b)))
            .collect();
        assert_eq!(run(100, &s, &[], false), "ehlo x\r\n");
    }

    #[test]
    fn out_of_order_is_reordered() {
        assert_eq!(
            run(100, &[(106, b"world"), (101, b"hello")], &[], false),
            "helloworld"
        );
    }

    #[test]
    fn retransmission_and_overlap_are_trimmed() {
        assert_eq!(
            run(
                100,
                &[(101, b"hello"), (101, b"hello"), (104, b"loWORLD")],
                &[],
                false
            ),
            "helloWORLD"
        );
        // an overlapping held segment
        assert_eq!(
            run(
                100,
                &[(108, b"CDEF"), (106, b"ABCD"), (101, b"01234")],
                &[],
                false
            ),
            "01234ABCDEF"
        );
    }

    #[test]
    fn sequence_wraps_around() {
        let isn = u32::MAX - 2;
        assert_eq!(
            run(
                isn,
                &[(isn.wrapping_add(1), b"abc"), (isn.wrapping_add(4), b"def")],
                &[],
                false
            ),
            "abcdef"
        );
    }

    #[test]
    fn hole_becomes_a_gap_when_acknowledged_or_flushed() {
        assert_eq!(
            run(100, &[(101, b"abc"), (110, b"xyz")], &[], true),
            "abc#6#xyz"
        );
        assert_eq!(
            run(100, &[(101, b"abc"), (110, b"xyz")], &[(1, 113)], false),
            "abc#6#xyz"
        );
        // acknowledged bytes never seen at all
        assert_eq!(run(100, &[(101, b"abc")], &[(0, 110)], false), "abc#6#");
        // a hole that is still open is not papered over
        assert_eq!(run(100, &[(101, b"abc"), (110, b"xyz")], &[], false), "abc");
    }

    /// Issue 13 case 5: an ACK captured before the data it acknowledges is waited out; data
    /// that does not come within the wait, or before a FIN, is a gap at the ACK's frame.
    #[test]
    fn case_05_ack_before_data_waits_a_bounded_window() {
        let feed = |late: Option<usize>, closing_at: Option<usize>| {
            let mut stream = Stream::new(1024);
            let mut out = String::new();
            let mut sink = |chunk: Chunk<'_>| match chunk {
                Chunk::Data { bytes, .. } => out.push_str(std::str::from_utf8(bytes).unwrap()),
                Chunk::Gap { len, frame } => out.push_str(&format!("#{len}@{frame}#")),
            };
            stream.segment(&seg(100, true, false, b"", 0), 1, &mut sink);
            stream.acknowledged(106, 7);
            for i in 0..=ACK_WAIT_SEGMENTS as usize + 2 {
                stream.tick(closing_at == Some(i), &mut sink);
                if late == Some(i) {
                    stream.segment(&seg(101, false, false, b"hello", 0), 8, &mut sink);
                }
            }
            stream.flush(99, &mut sink);
            out
        };
        assert_eq!(feed(Some(0), None), "hello");
        assert_eq!(feed(Some(ACK_WAIT_SEGMENTS as usize - 1), None), "hello");
        // too late: the gap was declared, the data is a retransmission of lost bytes
        assert_eq!(feed(Some(ACK_WAIT_SEGMENTS as usize + 2), None), "#5@7#");
        assert_eq!(feed(None, None), "#5@7#");
        assert_eq!(feed(Some(3), Some(2)), "#5@7#");
    }

    #[test]
    fn midstream_start_and_fin() {
        let mut stream = Stream::new(1024);
        let mut got = Vec::new();
        stream.segment(
            &seg(5000, false, false, b"250 ok\r\n", 0),
            1,
            &mut |c: Chunk<'_>| got.push(format!("{c:?}")),
        );
        stream.segment(&seg(5008, false, true, b"", 0), 2, &mut |_| {});
        assert!(!stream.syn_seen());
        assert!(stream.is_finished());
        assert_eq!(got.len(), 1);
    }

    #[test]
    fn full_store_gives_up_the_oldest_hole() {
        let mut stream = Stream::new(8);
        let mut out = String::new();
        let mut sink = |chunk: Chunk<'_>| match chunk {
            Chunk::Data { bytes, .. } => out.push_str(std::str::from_utf8(bytes).unwrap()),
            Chunk::Gap { len, .. } => out.push_str(&format!("#{len}#")),
        };
        stream.segment(&seg(0, true, false, b"", 0), 1, &mut sink);
        stream.segment(&seg(11, false, false, b"abcdef", 0), 2, &mut sink);
        stream.segment(&seg(21, false, false, b"ghijkl", 0), 3, &mut sink);
        assert_eq!(out, "#10#abcdef");
    }

    /// Regression: the bound counts what a held segment costs, not only its bytes; one-byte
    /// segments out of order used to hold 128 bytes of memory per byte allowed.
    #[test]
    fn one_byte_segments_out_of_order_are_bounded_by_their_cost() {
        let max = 64 * 1024;
        let mut stream = Stream::new(max);
        let mut gaps = 0;
        stream.segment(&seg(0, true, false, b"", 0), 1, &mut |_| {});
        for i in (2..100_000u32).rev() {
            stream.segment(&seg(i, false, false, b"x", 0), 2, &mut |c| {
                if matches!(c, Chunk::Gap { .. }) {
                    gaps += 1
                }
            });
            assert!(stream.pending.len() * (1 + SEGMENT_OVERHEAD) <= max);
        }
        assert!(gaps > 0);
    }

    #[test]
    fn snaplen_cut_is_a_gap() {
        let mut stream = Stream::new(64);
        let mut gaps = 0;
        stream.segment(&seg(0, true, false, b"", 0), 1, &mut |_| {});
        stream.segment(&seg(1, false, false, b"abc", 5), 2, &mut |c| {
            if matches!(c, Chunk::Gap { len: 5, .. }) {
                gaps += 1
            }
        });
        assert_eq!(gaps, 1);
    }
}
