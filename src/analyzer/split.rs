//! Which shard a frame goes to, when one input is split between analyzers (`--threads`).
//!
//! One reader looks at every frame once and hands each shard only the frames it may need:
//! the segments of its own connections (see [`Shard`]) that [`Analyzer::may_concern`] could
//! say yes to. What concerns the whole input is done here, once: counting frames and skipped
//! frames, and keeping the capture's clock, so that every shard is told to sweep its idle
//! flows at exactly the frames where one analyzer would.
//!
//! [`Analyzer::may_concern`] also lets through the segments of flows found by content, which
//! only the shard that holds them knows. The splitter keeps a superset: the ports of every
//! segment it handed on because its payload opened like SMTP, never forgotten. It costs a
//! few frames handed on for nothing, never a frame missing.

use super::{Clock, Config, Shard, Summary};
use crate::capture::{Frame, Timestamp};
use crate::decode::{self, Lazy, TcpSegment};

/// The reader's half of an analyzer for an input split into shards.
pub(crate) struct Splitter {
    config: Config,
    shards: Shard,
    clock: Clock,
    /// The number of the last frame routed.
    last_frame: u64,
    summary: Summary,
    /// Ports of segments handed on for their content, one bit each (see the module docs).
    content_ports: Box<[u64; 1 << 10]>,
}

impl Splitter {
    /// For `config` (its `shard` is ignored) and `count` shards hashed with `seed`.
    pub fn new(config: &Config, count: usize, seed: u64) -> Self {
        Splitter {
            config: Config {
                shard: None,
                ..config.clone()
            },
            shards: Shard {
                index: 0,
                count,
                seed,
            },
            clock: Clock::default(),
            last_frame: 0,
            summary: Summary::default(),
            content_ports: Box::new([0; 1 << 10]),
        }
    }

    /// Counts the frame and says which shard needs it, if any.
    pub fn route(&mut self, frame: &Frame<'_>) -> Option<usize> {
        self.summary.count_frame(frame);
        self.last_frame = frame.number;
        self.clock.advance(frame.ts);
        match decode::decode_lazy(frame) {
            Lazy::Tcp(raw) => self
                .needed(raw.src_port(), raw.dst_port(), raw.payload())
                .then(|| self.owner(&raw.segment())),
            Lazy::Decoded(Ok(segment)) => self
                .needed(segment.src.port(), segment.dst.port(), segment.payload)
                .then(|| self.owner(&segment)),
            Lazy::Decoded(Err(skip)) => {
                self.summary.skipped.count(skip);
                None
            }
        }
    }

    /// After a frame: the time to sweep idle flows at, when a sweep is due.
    pub fn sweep(&mut self) -> Option<Timestamp> {
        self.clock.sweep_due(self.config.sweep_interval()).then(|| {
            self.clock.swept();
            self.clock.now()
        })
    }

    /// The capture's time so far.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The number of the last frame routed (frames a capture filter skips are not).
    pub fn last_frame(&self) -> u64 {
        self.last_frame
    }

    /// What was counted: frames, bytes and skipped frames.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// Whether a shard's analyzer may do anything with a segment of these ports and payload.
    fn needed(&mut self, src: u16, dst: u16, payload: &[u8]) -> bool {
        if self.config.smtp_port(src, dst) || self.content_ports_seen(src, dst) {
            return true;
        }
        if self.config.opens_like_smtp(payload) {
            for port in [src, dst] {
                self.content_ports[usize::from(port >> 6)] |= 1 << (port & 63);
            }
            return true;
        }
        false
    }

    fn content_ports_seen(&self, a: u16, b: u16) -> bool {
        let seen = |port: u16| self.content_ports[usize::from(port >> 6)] & (1 << (port & 63)) != 0;
        seen(a) && seen(b)
    }

    fn owner(&self, segment: &TcpSegment<'_>) -> usize {
        self.shards.owner(segment.src, segment.dst)
    }
}
