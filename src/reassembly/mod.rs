//! Reassembly layer: per connection and direction, the bytes in sequence order.
//!
//! A [`Connection`] knows which side is the client and owns one [`Stream`] per direction. It
//! notes a segment's acknowledgement on the opposite direction before the segment's own
//! payload. Acknowledged bytes the capture has not shown are waited for a few segments (an ACK
//! can be captured before its data), then reported as a gap at the ACK's frame; a FIN or RST
//! ends the wait, so a loss is reported before the connection is seen closed.

mod stream;

use std::net::SocketAddr;

pub use stream::{Chunk, Stream, StreamStats};

use crate::decode::TcpSegment;
use crate::Direction;

/// How a direction or the whole connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closing {
    /// Every byte up to this direction's FIN has been handed on.
    Fin(Direction),
    /// A segment of this direction reset the connection.
    Rst(Direction),
}

/// A TCP connection between a client and a server, reassembled per direction.
#[derive(Debug)]
pub struct Connection {
    /// The side that opened the connection.
    pub client: SocketAddr,
    /// The side that accepted it.
    pub server: SocketAddr,
    to_server: Stream,
    to_client: Stream,
    reset: Option<Direction>,
}

impl Connection {
    /// A connection with nothing seen yet; `max_pending` bounds the bytes each direction holds
    /// out of order.
    pub fn new(client: SocketAddr, server: SocketAddr, max_pending: usize) -> Self {
        Connection {
            client,
            server,
            to_server: Stream::new(max_pending),
            to_client: Stream::new(max_pending),
            reset: None,
        }
    }

    /// The direction a segment travels, or `None` if it is not of this connection.
    pub fn direction_of(&self, segment: &TcpSegment<'_>) -> Option<Direction> {
        if segment.src == self.client && segment.dst == self.server {
            Some(Direction::ToServer)
        } else if segment.src == self.server && segment.dst == self.client {
            Some(Direction::ToClient)
        } else {
            None
        }
    }

    /// The reassembly state of one direction.
    pub fn stream(&self, dir: Direction) -> &Stream {
        match dir {
            Direction::ToServer => &self.to_server,
            Direction::ToClient => &self.to_client,
        }
    }

    fn stream_mut(&mut self, dir: Direction) -> &mut Stream {
        match dir {
            Direction::ToServer => &mut self.to_server,
            Direction::ToClient => &mut self.to_client,
        }
    }

    /// Takes one segment; `out` receives what becomes contiguous, per direction, in order.
    /// Returns a closing event when this segment resets the connection or completes a FIN.
    pub fn segment(
        &mut self,
        dir: Direction,
        segment: &TcpSegment<'_>,
        frame: u64,
        out: &mut impl FnMut(Direction, Chunk<'_>),
    ) -> Option<Closing> {
        let flags = segment.flags;
        let peer = dir.reverse();
        let was_finished = [dir, peer].map(|d| self.stream(d).is_finished());
        let closing = flags.fin || flags.rst;
        for d in [peer, dir] {
            self.stream_mut(d).tick(closing, &mut |c| out(d, c));
        }
        if flags.ack && !flags.rst {
            self.stream_mut(peer).acknowledged(segment.ack, frame);
        }
        self.stream_mut(dir)
            .segment(segment, frame, &mut |c| out(dir, c));
        if flags.rst && self.reset.is_none() {
            self.reset = Some(dir);
            return Some(Closing::Rst(dir));
        }
        // The wait for acknowledged bytes can end in either direction's FIN.
        [dir, peer]
            .into_iter()
            .zip(was_finished)
            .find(|&(d, was)| !was && self.stream(d).is_finished())
            .map(|(d, _)| Closing::Fin(d))
    }

    /// Both directions have been closed with FIN, or the connection was reset.
    pub fn is_closed(&self) -> bool {
        self.reset.is_some() || (self.to_server.is_finished() && self.to_client.is_finished())
    }

    /// Hands on everything still held (end of input or eviction), holes as gaps.
    pub fn flush(&mut self, frame: u64, out: &mut impl FnMut(Direction, Chunk<'_>)) {
        for dir in [Direction::ToServer, Direction::ToClient] {
            self.stream_mut(dir).flush(frame, &mut |c| out(dir, c));
        }
    }

    /// Stops holding payload in both directions (the session is decided and encrypted).
    pub fn discard_payload(&mut self) {
        self.to_server.discard_payload();
        self.to_client.discard_payload();
    }

    /// Whether the client's SYN was seen, i.e. the capture holds the connection's start.
    pub fn handshake_seen(&self) -> bool {
        self.to_server.syn_seen() || self.to_client.syn_seen()
    }
}
