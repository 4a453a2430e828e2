//! The one place a direction's not-yet-parsed bytes are held.
//!
//! A line may arrive one byte per segment (telnet) or many lines may share a segment
//! (PIPELINING): bytes are appended as TCP hands them on and lines are taken off the front.
//! Each appended chunk remembers its frame, so every line can name the frame its first byte
//! came in. Memory is bounded: a "line" longer than the limit is handed out cut, and the rest
//! of it is skipped up to the next line ending, without rescanning (no quadratic work on a
//! megabyte-long EHLO line).

use std::collections::VecDeque;

use memchr::memchr;

/// A line taken off the queue: its content without the line ending, and where it started.
#[derive(Debug, PartialEq, Eq)]
pub struct Line<'a> {
    pub bytes: &'a [u8],
    pub frame: u64,
    /// The line was longer than the limit and has been cut.
    pub cut: bool,
}

#[derive(Debug)]
pub struct ByteQueue {
    buf: Vec<u8>,
    /// Bytes before `start` are consumed.
    start: usize,
    /// How far from `start` a line ending has already been searched for.
    scanned: usize,
    /// Stream offset of `buf[0]`.
    base: u64,
    /// (stream offset, frame) where each appended chunk began.
    marks: VecDeque<(u64, u64)>,
    max_line: usize,
    /// Dropping bytes up to the next line ending (the tail of an over-long line).
    skipping: bool,
    /// Markers looked at to find frames (tests check the work is linear).
    #[cfg(test)]
    marker_steps: std::cell::Cell<u64>,
}

impl ByteQueue {
    pub fn new(max_line: usize) -> Self {
        ByteQueue {
            buf: Vec::new(),
            start: 0,
            scanned: 0,
            base: 0,
            marks: VecDeque::new(),
            max_line,
            skipping: false,
            #[cfg(test)]
            marker_steps: std::cell::Cell::new(0),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.buf.len()
    }

    pub fn len(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The unconsumed bytes.
    pub fn peek(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Frame in which the first unconsumed byte arrived: the first marker, since markers
    /// wholly before the front are dropped as bytes are consumed or appended (constant time;
    /// a walk through the markers per line was quadratic with one-byte segments queued).
    pub fn front_frame(&self) -> u64 {
        #[cfg(test)]
        self.marker_steps.set(self.marker_steps.get() + 1);
        self.marks.front().map_or(0, |&(_, f)| f)
    }

    pub fn push(&mut self, bytes: &[u8], frame: u64) {
        if bytes.is_empty() {
            return;
        }
        if self.skipping {
            match memchr(b'\n', bytes) {
                None => return,
                Some(end) => {
                    self.skipping = false;
                    self.push(&bytes[end + 1..], frame);
                    return;
                }
            }
        }
        self.compact();
        let offset = self.base + self.buf.len() as u64;
        if self.marks.back().is_none_or(|&(_, f)| f != frame) {
            self.marks.push_back((offset, frame));
        }
        self.buf.extend_from_slice(bytes);
        self.drop_consumed_marks();
    }

    /// Drops everything held, e.g. when a gap makes the partial line meaningless; the bytes up
    /// to the next line ending that follows are dropped too (resynchronisation).
    pub fn clear_and_resync(&mut self) {
        self.consume(self.len());
        self.skipping = true;
    }

    /// Whether bytes are being dropped up to the next line ending.
    pub fn is_resyncing(&self) -> bool {
        self.skipping
    }

    /// Stops dropping: what follows a gap is recognisably not the rest of a line.
    pub fn stop_resync(&mut self) {
        self.skipping = false;
    }

    /// Takes the next complete line (ending in LF, with or without CR), or a cut line when the
    /// limit is reached without a line ending.
    pub fn next_line(&mut self) -> Option<Line<'_>> {
        let pending = &self.buf[self.start..];
        let found = memchr(b'\n', &pending[self.scanned..]).map(|i| i + self.scanned);
        let (content_len, total, cut) = match found {
            Some(nl) => {
                let content = if nl > 0 && pending[nl - 1] == b'\r' {
                    nl - 1
                } else {
                    nl
                };
                (content, nl + 1, false)
            }
            None if pending.len() >= self.max_line => (self.max_line, pending.len(), true),
            None => {
                self.scanned = pending.len();
                return None;
            }
        };
        let frame = self.front_frame();
        let begin = self.start;
        self.consume(total);
        if cut {
            self.skipping = true;
        }
        Some(Line {
            bytes: &self.buf[begin..begin + content_len.min(self.max_line)],
            frame,
            cut: cut || content_len > self.max_line,
        })
    }

    /// Consumes up to `n` bytes (message content, BDAT chunks); returns how many.
    pub fn consume(&mut self, n: usize) -> usize {
        let n = n.min(self.len());
        self.start += n;
        self.scanned = 0;
        self.drop_consumed_marks();
        n
    }

    /// Drops the markers of chunks wholly consumed, so that the first marker is the chunk
    /// holding the first unconsumed byte (amortised O(1): each marker is dropped once).
    fn drop_consumed_marks(&mut self) {
        let front = self.base + self.start as u64;
        while self.marks.len() > 1 && self.marks[1].0 <= front {
            self.marks.pop_front();
        }
    }

    /// Reclaims consumed space once it is at least half the buffer (amortised O(1) per byte).
    fn compact(&mut self) {
        if self.start > 0 && self.start * 2 >= self.buf.len() {
            self.buf.drain(..self.start);
            self.base += self.start as u64;
            self.start = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(q: &mut ByteQueue) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        while let Some(l) = q.next_line() {
            out.push((String::from_utf8_lossy(l.bytes).into_owned(), l.frame));
        }
        out
    }

    #[test]
    fn bytewise_lines_name_their_first_frame() {
        let mut q = ByteQueue::new(512);
        for (i, b) in b"ehlo x\r\nQUIT\n".iter().enumerate() {
            q.push(std::slice::from_ref(b), 10 + i as u64);
        }
        assert_eq!(
            lines(&mut q),
            vec![("ehlo x".into(), 10), ("QUIT".into(), 18)]
        );
        assert!(q.is_empty());
    }

    #[test]
    fn pipelined_lines_share_a_frame() {
        let mut q = ByteQueue::new(512);
        q.push(b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDA", 3);
        q.push(b"TA\r\n", 4);
        assert_eq!(
            lines(&mut q),
            vec![
                ("MAIL FROM:<a@b>".into(), 3),
                ("RCPT TO:<c@d>".into(), 3),
                ("DATA".into(), 3)
            ]
        );
    }

    #[test]
    fn overlong_lines_are_cut_and_their_tail_skipped() {
        let mut q = ByteQueue::new(8);
        q.push(b"0123456789abcdef", 1);
        q.push(b"ghij\r\nNEXT\r\n", 2);
        let first = q.next_line().unwrap();
        assert_eq!((first.bytes, first.cut), (&b"01234567"[..], true));
        assert_eq!(lines(&mut q), vec![("NEXT".into(), 2)]);
    }

    #[test]
    fn a_megabyte_line_one_byte_at_a_time_is_linear() {
        let mut q = ByteQueue::new(4096);
        for _ in 0..1_000_000 {
            q.push(b"A", 1);
            while q.next_line().is_some() {}
        }
        q.push(b"\r\nQUIT\r\n", 2);
        assert_eq!(lines(&mut q), vec![("QUIT".into(), 2)]);
        assert!(q.buf.capacity() < 64 * 1024);
    }

    /// Issue 13 case 1: DATA, then 250,000 one-byte segments queued before the `354` is
    /// read. Every line must find its frame without walking the markers of every byte still
    /// queued (that walk made one 17 MB session take 8 s).
    #[test]
    fn case_01_one_byte_segments_are_linear() {
        const N: u64 = 250_000;
        let mut q = ByteQueue::new(4096);
        let body = b"Hi\r\n".repeat(N as usize / 4);
        for (i, b) in body.iter().enumerate() {
            q.push(std::slice::from_ref(b), 100 + i as u64);
        }
        let mut taken = 0u64;
        while let Some(line) = q.next_line() {
            assert_eq!((line.bytes, line.frame), (&b"Hi"[..], 100 + 4 * taken));
            taken += 1;
        }
        assert_eq!(taken, N / 4);
        assert!(
            q.marker_steps.get() <= 4 * N,
            "{} marker steps for {N} bytes",
            q.marker_steps.get()
        );
    }

    #[test]
    fn resync_after_gap_drops_the_partial_line() {
        let mut q = ByteQueue::new(512);
        q.push(b"MAIL FR", 1);
        q.clear_and_resync();
        q.push(b"OM:<a@b>\r\nRCPT TO:<c@d>\r\n", 3);
        assert_eq!(lines(&mut q), vec![("RCPT TO:<c@d>".into(), 3)]);
    }
}
