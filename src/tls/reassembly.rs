//! Reassembly of the handshake byte stream of one direction into handshake messages.
//!
//! Handshake messages (4-byte header: type, 24-bit length) can span several records and
//! several can sit in one record. Record bodies are appended as they arrive and every
//! complete message is handed out at once, so the buffer only ever holds the beginning of
//! one incomplete message plus the chunk just appended: memory is bounded by
//! [`MAX_HANDSHAKE_MESSAGE`] and the work is linear in the bytes.

/// Largest handshake message (header included) that is reassembled. A message announcing
/// more makes the direction give up message parsing (records are still counted).
pub const MAX_HANDSHAKE_MESSAGE: usize = 64 * 1024;

/// Size of a handshake message header.
const HEADER: usize = 4;

#[derive(Debug, Default)]
pub(crate) struct Reassembler {
    buf: Vec<u8>,
    /// Start of the first unconsumed byte in `buf`.
    start: usize,
    /// Frame of the capture that carried the first byte of the message at `start`.
    front_frame: u64,
    /// Frame of the last `push`.
    last_frame: u64,
    /// A message was too large: nothing more is reassembled.
    overflow: bool,
}

impl Reassembler {
    /// Appends bytes of a handshake record body.
    pub fn push(&mut self, bytes: &[u8], frame: u64) {
        if self.overflow || bytes.is_empty() {
            return;
        }
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
            self.front_frame = frame;
        }
        self.last_frame = frame;
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete message (header included) and the frame its first byte came in,
    /// or `None` if it is not complete yet. A message announcing more than
    /// [`MAX_HANDSHAKE_MESSAGE`] bytes sets the overflow flag and frees the buffer.
    pub fn next_message(&mut self) -> Option<(&[u8], u64)> {
        if self.overflow {
            return None;
        }
        let avail = &self.buf[self.start..];
        if avail.len() < HEADER {
            return None;
        }
        let body =
            (usize::from(avail[1]) << 16) | (usize::from(avail[2]) << 8) | usize::from(avail[3]);
        let len = HEADER + body;
        if len > MAX_HANDSHAKE_MESSAGE {
            self.overflow = true;
            self.clear();
            return None;
        }
        if avail.len() < len {
            return None;
        }
        let frame = self.front_frame;
        // Every message after this one started in the chunk of the last push: before that
        // push the buffer held at most the beginning of one incomplete message.
        self.front_frame = self.last_frame;
        let start = self.start;
        self.start += len;
        Some((&self.buf[start..start + len], frame))
    }

    /// Drops the consumed bytes (call after taking all complete messages).
    pub fn compact(&mut self) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
    }

    /// Forgets everything buffered (the direction is now encrypted).
    pub fn clear(&mut self) {
        self.buf = Vec::new();
        self.start = 0;
    }

    /// True once a message was too large to be reassembled.
    pub fn overflowed(&self) -> bool {
        self.overflow
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(r: &mut Reassembler) -> Vec<(Vec<u8>, u64)> {
        let mut out = Vec::new();
        while let Some((m, f)) = r.next_message() {
            out.push((m.to_vec(), f));
        }
        r.compact();
        out
    }

    #[test]
    fn messages_across_pushes() {
        let mut r = Reassembler::default();
        r.push(&[1, 0, 0, 2, 0xaa], 1);
        assert!(drain(&mut r).is_empty());
        r.push(&[0xbb, 14, 0, 0], 2);
        assert_eq!(drain(&mut r), vec![(vec![1, 0, 0, 2, 0xaa, 0xbb], 1)]);
        r.push(&[0, 11, 0, 0, 1, 9], 3);
        assert_eq!(
            drain(&mut r),
            vec![(vec![14, 0, 0, 0], 2), (vec![11, 0, 0, 1, 9], 3)]
        );
        assert!(r.buf.is_empty());
    }

    #[test]
    fn overflow_stops() {
        let mut r = Reassembler::default();
        r.push(&[11, 0x01, 0x00, 0x00], 1);
        assert!(r.next_message().is_none());
        assert!(r.overflowed());
        r.push(&[0; 100], 2);
        assert!(r.next_message().is_none());
        assert!(r.buf.is_empty());
    }
}
