//! The pipeline, frame by frame: decode → flow table → reassembly → SMTP session → classify.
//!
//! [`Analyzer`] is sans-I/O: it takes [`Frame`]s and hands finished [`SessionReport`]s to a
//! callback as each session ends (FIN/RST, idle timeout, eviction, or [`Analyzer::finish`]).
//! Time is the capture's: the newest timestamp seen so far is "now" for timeouts.
//!
//! Which flows are tracked: any TCP connection with a port in the SMTP port set, and — when
//! content detection is on — a flow on another port whose first payload is a `220` greeting or
//! an `EHLO`/`HELO` (kept only once both a 220 greeting and EHLO/HELO have been seen, as Zeek
//! and Suricata do). Everything else costs one decode and one port lookup. Connections to an
//! SMTP port that never carry a byte are not sessions; they are counted in [`Summary`].

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use serde::Serialize;

use crate::capture::{Frame, LinkType, Timestamp};
use crate::classify::{self, FindingKind, SessionReport};
use crate::decode::{self, Lazy, Skip, TcpSegment};
/// TCP repair counts of [`Summary::tcp`].
pub use crate::reassembly::StreamStats;
use crate::reassembly::{Chunk, Closing, Connection};
use crate::smtp::record::End;
use crate::smtp::{Detection, Session, SessionLimits};
use crate::Direction;

mod flows;
mod offers;
mod ports;
mod split;

use flows::{ByContent, FlowKey, FlowTable};

pub use offers::OfferHistory;
pub use ports::PortSet;
pub(crate) use split::Splitter;

/// What to track and how much memory to allow.
#[derive(Clone, Debug)]
pub struct Config {
    /// TCP ports whose connections are SMTP (25, 465, 587, 2525 and `--port`).
    pub ports: PortSet,
    /// Also find SMTP on other ports by its content.
    pub content_detection: bool,
    /// Memory bounds of each session.
    pub limits: SessionLimits,
    /// Out-of-order bytes held per direction before a hole is declared a gap.
    pub max_out_of_order: usize,
    /// Flows tracked at once; beyond it the least recently active are ended (and reported).
    pub max_flows: usize,
    /// A flow silent for this long (capture time) is ended.
    pub idle_timeout_secs: u64,
    /// This analyzer is one shard of an input split between several (`--threads`): it is
    /// handed the frames of its connections only ([`Shard::owner`]). What concerns the whole
    /// input is left to whoever splits it and merges the shards: counting frames and skipped
    /// frames, and comparing sessions with each other (`inconsistent-offer`, which it then
    /// counts).
    pub shard: Option<Shard>,
}

impl Config {
    /// How often idle flows are looked for, in seconds of capture time.
    fn sweep_interval(&self) -> u64 {
        (self.idle_timeout_secs / 10).clamp(1, 30)
    }

    /// Whether one of the ports is an SMTP port.
    #[inline]
    fn smtp_port(&self, src: u16, dst: u16) -> bool {
        self.ports.contains(src) || self.ports.contains(dst)
    }

    /// Whether a segment on other ports opens like SMTP and content detection is on.
    #[inline]
    fn opens_like_smtp(&self, payload: &[u8]) -> bool {
        self.content_detection && !payload.is_empty() && content_role(payload).is_some()
    }
}

/// One of `count` analyzers of the same input: it takes the connections whose addresses hash
/// to `index`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// This shard's number, `0..count`.
    pub index: usize,
    /// How many shards share the input.
    pub count: usize,
    /// The hash's seed, the same for every shard of an input.
    pub seed: u64,
}

impl Shard {
    /// The shard the connection between `a` and `b` belongs to, whichever way a segment
    /// goes, by its addresses alone: a connection seen on several interfaces stays in one
    /// shard. One word per end, the two combined by XOR, then hashed once: the reader asks
    /// this of every frame.
    pub fn owner(&self, a: SocketAddr, b: SocketAddr) -> usize {
        use std::hash::BuildHasher;
        let word = |end: SocketAddr| {
            let ip = match end.ip() {
                IpAddr::V4(ip) => u64::from(ip.to_bits()),
                IpAddr::V6(ip) => {
                    let bits = ip.to_bits();
                    bits as u64 ^ (bits >> 64) as u64
                }
            };
            ip.rotate_left(16) ^ u64::from(end.port())
        };
        let hash = foldhash::fast::FixedState::with_seed(self.seed).hash_one(word(a) ^ word(b));
        // The high bits: foldhash mixes them best.
        ((u128::from(hash) * self.count as u128) >> 64) as usize
    }
}

/// The capture's time as an analyzer sees it: the newest timestamp so far ("now" for
/// timeouts), and when idle flows were last looked for. An input split between analyzers
/// keeps one clock for all of them ([`Splitter`]), so that every shard sweeps at the frames
/// where one analyzer would.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Clock {
    now: Timestamp,
    last_sweep: Timestamp,
}

impl Clock {
    pub fn now(&self) -> Timestamp {
        self.now
    }

    fn advance(&mut self, ts: Timestamp) {
        if ts > self.now {
            self.now = ts;
        }
    }

    /// Whether idle flows are due to be looked for (every `interval` seconds).
    fn sweep_due(&self, interval: u64) -> bool {
        self.now.seconds_since(self.last_sweep) >= interval
    }

    fn swept(&mut self) {
        self.last_sweep = self.now;
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            ports: PortSet::default(),
            content_detection: true,
            limits: SessionLimits::default(),
            max_out_of_order: 1 << 20,
            max_flows: 200_000,
            idle_timeout_secs: 300,
            shard: None,
        }
    }
}

/// Counts for the whole input.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    /// Frames read.
    pub frames: u64,
    /// Captured bytes of those frames.
    pub bytes: u64,
    /// SMTP sessions reported.
    pub sessions: u64,
    /// Sessions per verdict name.
    pub verdicts: BTreeMap<&'static str, u64>,
    /// Sessions per finding kind (a session with two findings of a kind counts once).
    pub findings: BTreeMap<&'static str, u64>,
    /// Connections to an SMTP port that never carried data.
    pub connections: Attempts,
    /// Frames not analysed, by reason.
    pub skipped: Skipped,
    /// TCP repairs over the SMTP flows: retransmitted, overlapping and out-of-order segments,
    /// and bytes missing from the capture.
    pub tcp: StreamStats,
    /// Flows ended early to keep memory bounded.
    pub evicted_flows: u64,
    /// Connections with data on an SMTP port whose bytes were not SMTP at all: no session.
    pub not_smtp: u64,
}

impl Summary {
    /// Counts a session that ended: its verdict and the kinds of finding it has.
    pub fn count(&mut self, report: &SessionReport) {
        self.sessions += 1;
        *self.verdicts.entry(report.verdict.name()).or_default() += 1;
        let mut kinds: Vec<FindingKind> = report.findings.iter().map(|f| f.kind).collect();
        kinds.dedup();
        for kind in kinds {
            *self.findings.entry(kind.name()).or_default() += 1;
        }
    }

    /// Counts a finding of a kind the session did not have, added after the session was
    /// counted (the merge of shards adds `inconsistent-offer`).
    pub(crate) fn count_added(&mut self, kind: FindingKind) {
        *self.findings.entry(kind.name()).or_default() += 1;
    }

    /// Counts a frame read.
    fn count_frame(&mut self, frame: &Frame<'_>) {
        self.frames += 1;
        self.bytes += frame.data.len() as u64;
    }

    /// Adds another input's counts to these.
    pub fn merge(&mut self, other: &Summary) {
        self.frames += other.frames;
        self.bytes += other.bytes;
        self.sessions += other.sessions;
        for (k, v) in &other.verdicts {
            *self.verdicts.entry(k).or_default() += v;
        }
        for (k, v) in &other.findings {
            *self.findings.entry(k).or_default() += v;
        }
        let (a, b) = (&mut self.connections, &other.connections);
        a.attempted += b.attempted;
        a.refused += b.refused;
        a.unanswered += b.unanswered;
        let (a, b) = (&mut self.skipped, &other.skipped);
        a.not_tcp += b.not_tcp;
        a.ip_fragments += b.ip_fragments;
        a.truncated += b.truncated;
        a.unsupported_link += b.unsupported_link;
        self.tcp.add(&other.tcp);
        self.evicted_flows += other.evicted_flows;
        self.not_smtp += other.not_smtp;
    }
}

#[derive(Clone, Debug, Default, Serialize)]
/// Connections to an SMTP port that never carried a byte: not sessions, only counted.
pub struct Attempts {
    /// SYN seen, no data ever exchanged.
    pub attempted: u64,
    /// ...and the server answered with a reset.
    pub refused: u64,
    /// ...and the server never answered.
    pub unanswered: u64,
}

#[derive(Clone, Debug, Default, Serialize)]
/// Frames that could not be analysed, by reason.
pub struct Skipped {
    /// Not TCP (UDP, ARP, ICMP...).
    pub not_tcp: u64,
    /// IP fragments (not reassembled).
    pub ip_fragments: u64,
    /// Cut by the capture's snapshot length before the TCP header ended.
    pub truncated: u64,
    /// Of a link type mailtap does not decode.
    pub unsupported_link: u64,
}

impl Skipped {
    fn count(&mut self, skip: Skip) {
        match skip {
            Skip::NotTcp => self.not_tcp += 1,
            Skip::Fragment => self.ip_fragments += 1,
            Skip::Truncated => self.truncated += 1,
            Skip::UnsupportedLink => self.unsupported_link += 1,
        }
    }
}

/// Why a flow is tracked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Found {
    /// On an SMTP port: every connection with data is a session.
    ByPort,
    /// Its content looked like SMTP; not reported unless confirmed.
    ByContent { confirmed: bool },
}

struct OpenFlow {
    conn: Connection,
    /// Boxed: most flows of a busy port (SYN floods, refused connections) never carry data,
    /// and an inline session would cost them a kilobyte and a half each.
    session: Option<Box<Session>>,
    found: Found,
    last_seen: Timestamp,
    first_frame: u64,
    first_time: Timestamp,
    syn: bool,
    syn_ack: bool,
    server_reset: bool,
    /// The client's SYN sequence number, once seen: another SYN at another number on the same
    /// addresses is a new connection, the same number a retransmission.
    client_isn: Option<u32>,
    /// Packets of each direction (`ToServer`, `ToClient`) were seen.
    seen: [bool; 2],
}

enum Entry {
    Open(Box<OpenFlow>),
    /// The other direction of the flow open on interface `target`, seen on this interface
    /// (asymmetric routing: out on one interface, back on another).
    Alias {
        target: u64,
        last_seen: Timestamp,
    },
    /// Ended; kept a while so stragglers (the last ACK, a retransmission) start no new flow.
    Ended {
        since: Timestamp,
        by_content: bool,
    },
}

impl ByContent for Entry {
    fn by_content(&self) -> bool {
        match self {
            Entry::Open(flow) => matches!(flow.found, Found::ByContent { .. }),
            Entry::Ended { by_content, .. } => *by_content,
            Entry::Alias { .. } => false,
        }
    }
}

/// How long an ended flow's tombstone is kept, in capture seconds.
const TOMBSTONE_SECS: u64 = 120;

/// The pipeline for one input, frame by frame; see the [module docs](self).
pub struct Analyzer {
    config: Config,
    flows: FlowTable<Entry>,
    summary: Summary,
    offers: OfferHistory,
    clock: Clock,
    last_frame: u64,
    /// The capture interfaces seen so far (see [`capture_interface`]); nearly always one.
    interfaces: Vec<u64>,
}

impl Analyzer {
    /// An analyzer that has seen nothing yet.
    pub fn new(config: Config) -> Self {
        Analyzer {
            config,
            flows: FlowTable::new(),
            summary: Summary::default(),
            offers: OfferHistory::default(),
            clock: Clock::default(),
            last_frame: 0,
            interfaces: Vec::new(),
        }
    }

    /// The counts so far.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// Connections being followed now (open sessions), for a live capture's statistics.
    pub fn open_flows(&self) -> usize {
        self.flows
            .iter()
            .filter(|(_, entry)| matches!(entry, Entry::Open(_)))
            .count()
    }

    /// Takes one frame; `out` receives every session that ends because of it.
    pub fn frame(&mut self, frame: &Frame<'_>, out: &mut dyn FnMut(SessionReport)) {
        self.take(frame, out);
        self.sweep_if_due(out);
    }

    /// The frame's own work: sessions it ends (FIN, RST, or room made for its flow).
    pub(crate) fn take(&mut self, frame: &Frame<'_>, out: &mut dyn FnMut(SessionReport)) {
        let whole_input = self.config.shard.is_none();
        if whole_input {
            self.summary.count_frame(frame);
        }
        self.last_frame = frame.number;
        self.clock.advance(frame.ts);
        match decode::decode_lazy(frame) {
            // Most segments of a big capture end here, after a look at ports and payload.
            Lazy::Tcp(raw) => {
                if self.may_concern(raw.src_port(), raw.dst_port(), raw.payload()) {
                    self.segment(&raw.segment(), frame, out);
                }
            }
            Lazy::Decoded(Ok(segment)) => {
                let (src, dst) = (segment.src.port(), segment.dst.port());
                if self.may_concern(src, dst, segment.payload) {
                    self.segment(&segment, frame, out);
                }
            }
            Lazy::Decoded(Err(skip)) if whole_input => self.summary.skipped.count(skip),
            Lazy::Decoded(Err(_)) => {}
        }
    }

    /// Brings the analyzer to frame `number` at capture time `now`, as if it had taken every
    /// frame up to there (a shard is handed only its own frames).
    pub(crate) fn catch_up(&mut self, number: u64, now: Timestamp) {
        self.last_frame = number;
        self.clock.advance(now);
    }

    /// Ends idle flows when a sweep is due (every few seconds of capture time).
    pub(crate) fn sweep_if_due(&mut self, out: &mut dyn FnMut(SessionReport)) {
        if self.clock.sweep_due(self.config.sweep_interval()) {
            self.tick(self.clock.now, out);
        }
    }

    /// Ends flows idle for longer than the timeout at capture time `now` (live capture calls
    /// this on a timer when no packets arrive).
    pub fn tick(&mut self, now: Timestamp, out: &mut dyn FnMut(SessionReport)) {
        self.clock.advance(now);
        self.clock.swept();
        let now = self.clock.now;
        let timeout = self.config.idle_timeout_secs;
        // In order of first frame, whatever the table's order: the same on every run, and
        // the same whether one analyzer or several shards hold the flows.
        let mut expired: Vec<(u64, FlowKey)> = self
            .flows
            .iter()
            .filter_map(|(key, entry)| match entry {
                Entry::Open(flow) => (now.seconds_since(flow.last_seen) >= timeout)
                    .then_some((flow.first_frame, *key)),
                Entry::Alias { last_seen, .. } => {
                    (now.seconds_since(*last_seen) >= timeout).then_some((0, *key))
                }
                Entry::Ended { since, .. } => {
                    (now.seconds_since(*since) >= TOMBSTONE_SECS).then_some((0, *key))
                }
            })
            .collect();
        expired.sort_unstable();
        for (_, key) in expired {
            self.end_flow(key, End::IdleTimeout, out);
            self.flows.remove(&key);
        }
    }

    /// The input ended: every open session is reported.
    pub fn finish(&mut self, out: &mut dyn FnMut(SessionReport)) {
        let mut keys: Vec<(u64, FlowKey)> = self
            .flows
            .iter()
            .filter_map(|(key, entry)| match entry {
                Entry::Open(flow) => Some((flow.first_frame, *key)),
                Entry::Ended { .. } | Entry::Alias { .. } => None,
            })
            .collect();
        keys.sort_unstable_by_key(|(first, _)| *first);
        for (_, key) in keys {
            self.end_flow(key, End::CaptureEnded, out);
        }
        self.flows.clear();
    }

    /// A TCP segment that [`Analyzer::may_concern`] let through.
    fn segment(
        &mut self,
        segment: &TcpSegment<'_>,
        frame: &Frame<'_>,
        out: &mut dyn FnMut(SessionReport),
    ) {
        let interface = capture_interface(frame);
        // Kept sorted: which other interface an alias goes to must not depend on which
        // interfaces this analyzer happened to see first (a shard sees only its flows').
        if let Err(at) = self.interfaces.binary_search(&interface) {
            if self.interfaces.len() < MAX_INTERFACES {
                self.interfaces.insert(at, interface);
            }
        }
        let mut key = FlowKey::of(segment, interface);
        debug_assert!(
            self.config
                .shard
                .is_none_or(|s| s.owner(segment.src, segment.dst) == s.index),
            "a shard is handed the frames of its own connections only"
        );
        let limits = self.config.limits;
        // One lookup in the common case: a segment of a flow already open.
        let after = match self.flows.get_mut(&key) {
            Some(Entry::Open(flow)) if new_connection(flow, segment) => {
                // The same addresses and ports again, while the earlier connection is still
                // open here (its end was not captured: dropped, or the capture of it ended):
                // that one is over, and this SYN starts a session of its own.
                self.end_flow(key, End::Evicted, out);
                self.flows.remove(&key);
                self.start_and_advance(key, segment, frame, out)
            }
            Some(Entry::Open(flow)) => advance(flow, segment, frame, limits),
            Some(Entry::Alias { target, last_seen }) => {
                *last_seen = frame.ts;
                key = key.on(*target);
                match self.flows.get_mut(&key) {
                    Some(Entry::Open(flow)) => advance(flow, segment, frame, limits),
                    // the flow it stood for has ended: a straggler
                    _ => return,
                }
            }
            Some(Entry::Ended { .. }) => {
                // A new connection on the same addresses starts with a SYN; anything else
                // belongs to the one that ended.
                if !segment.flags.syn || segment.flags.ack {
                    return;
                }
                self.flows.remove(&key);
                self.start_and_advance(key, segment, frame, out)
            }
            None if self.interfaces.len() > 1 => {
                let other = self.other_interface(key, segment);
                if other == key {
                    self.start_and_advance(key, segment, frame, out)
                } else {
                    key = other;
                    match self.flows.get_mut(&key) {
                        Some(Entry::Open(flow)) => advance(flow, segment, frame, limits),
                        _ => return,
                    }
                }
            }
            None => self.start_and_advance(key, segment, frame, out),
        };
        match after {
            After::Open => {}
            After::NotSmtp => {
                // Not SMTP after all (an FTP greeting, say): forget it without a report.
                self.flows.insert(
                    key,
                    Entry::Ended {
                        since: self.clock.now,
                        by_content: true,
                    },
                );
            }
            After::End(end) => self.end_flow(key, end, out),
        }
    }

    /// A segment of a connection not (yet) tracked on its interface, in a capture of several
    /// interfaces: if the connection is open on another interface and has never carried this
    /// direction there, this is its way back (asymmetric routing), and an alias makes this
    /// interface's segments go to that flow. Otherwise (the flow already carries this
    /// direction, as when a router forwards the connection and both of its interfaces are
    /// captured) it is a flow of its own on this interface.
    fn other_interface(&mut self, key: FlowKey, segment: &TcpSegment<'_>) -> FlowKey {
        for &other in &self.interfaces {
            if other == key.2 {
                continue;
            }
            let Some(Entry::Open(flow)) = self.flows.get(&key.on(other)) else {
                continue;
            };
            let Some(dir) = flow.conn.direction_of(segment) else {
                continue;
            };
            if flow.seen[usize::from(dir == Direction::ToClient)] {
                return key;
            }
            self.flows.insert(
                key,
                Entry::Alias {
                    target: other,
                    last_seen: self.clock.now,
                },
            );
            return key.on(other);
        }
        key
    }

    /// Starts a flow with this segment if it is SMTP's, and takes the segment.
    fn start_and_advance(
        &mut self,
        key: FlowKey,
        segment: &TcpSegment<'_>,
        frame: &Frame<'_>,
        out: &mut dyn FnMut(SessionReport),
    ) -> After {
        if !self.start_flow(key, segment, frame, out) {
            return After::Open;
        }
        match self.flows.get_mut(&key) {
            Some(Entry::Open(flow)) => advance(flow, segment, frame, self.config.limits),
            _ => After::Open,
        }
    }

    /// Whether a segment can belong to a tracked flow or start one: on an SMTP port, opening
    /// like SMTP, or on the two ports of a flow found by content. Exact: `false` means
    /// [`Analyzer::segment`] would do nothing with it; it costs no hashing of the addresses.
    #[inline]
    fn may_concern(&self, src: u16, dst: u16, payload: &[u8]) -> bool {
        self.config.smtp_port(src, dst)
            || self.flows.may_hold_content(src, dst)
            || self.config.opens_like_smtp(payload)
    }

    /// Starts tracking a flow if this segment belongs to SMTP (by port or by content).
    fn start_flow(
        &mut self,
        key: FlowKey,
        segment: &TcpSegment<'_>,
        frame: &Frame<'_>,
        out: &mut dyn FnMut(SessionReport),
    ) -> bool {
        let ports = &self.config.ports;
        let (src_port, dst_port) = (segment.src.port(), segment.dst.port());
        let flags = segment.flags;
        let by_port = ports.contains(dst_port) || ports.contains(src_port);
        let (client, server, found) = if by_port {
            let server_is_dst = if flags.syn {
                !flags.ack
            } else {
                ports.contains(dst_port)
            };
            if segment.payload.is_empty() && !flags.syn {
                return false;
            }
            let (c, s) = if server_is_dst {
                (segment.src, segment.dst)
            } else {
                (segment.dst, segment.src)
            };
            (c, s, Found::ByPort)
        } else if self.config.content_detection && !segment.payload.is_empty() {
            match content_role(segment.payload) {
                Some(Direction::ToClient) => (
                    segment.dst,
                    segment.src,
                    Found::ByContent { confirmed: false },
                ),
                Some(Direction::ToServer) => (
                    segment.src,
                    segment.dst,
                    Found::ByContent { confirmed: false },
                ),
                None => return false,
            }
        } else {
            return false;
        };
        if self.flows.len() >= self.config.max_flows {
            self.evict(out);
        }
        let flow = OpenFlow {
            conn: Connection::new(client, server, self.config.max_out_of_order),
            session: None,
            found,
            last_seen: frame.ts,
            first_frame: frame.number,
            first_time: frame.ts,
            syn: false,
            syn_ack: false,
            server_reset: false,
            client_isn: None,
            seen: [false; 2],
        };
        self.flows.insert(key, Entry::Open(Box::new(flow)));
        true
    }

    /// Makes room: drops tombstones, then ends the least recently active eighth of the flows.
    fn evict(&mut self, out: &mut dyn FnMut(SessionReport)) {
        self.flows.retain(|_, e| matches!(e, Entry::Open(_)));
        if self.flows.len() < self.config.max_flows {
            return;
        }
        let mut ages: Vec<(Timestamp, FlowKey)> = self
            .flows
            .iter()
            .filter_map(|(k, e)| match e {
                Entry::Open(f) => Some((f.last_seen, *k)),
                Entry::Ended { .. } | Entry::Alias { .. } => None,
            })
            .collect();
        let n = (ages.len() / 8).max(1);
        ages.select_nth_unstable(n - 1);
        for (_, key) in &ages[..n] {
            self.end_flow(*key, End::Evicted, out);
            self.flows.remove(key);
        }
        self.summary.evicted_flows += n as u64;
    }

    /// Ends a flow: reports its session (if it is one) and leaves a tombstone.
    fn end_flow(&mut self, key: FlowKey, end: End, out: &mut dyn FnMut(SessionReport)) {
        let by_content = self.flows.get(&key).is_some_and(Entry::by_content);
        let tombstone = Entry::Ended {
            since: self.clock.now,
            by_content,
        };
        let Some(Entry::Open(flow)) = self.flows.insert(key, tombstone) else {
            return;
        };
        let mut flow = *flow;
        let last_frame = self.last_frame;
        let end = match end {
            End::CaptureEnded | End::IdleTimeout | End::Evicted => {
                let fin = |d| flow.conn.stream(d).is_finished();
                match (fin(Direction::ToServer), fin(Direction::ToClient)) {
                    (true, true) => End::Closed,
                    (true, false) => End::HalfClosed {
                        by: Direction::ToServer,
                    },
                    (false, true) => End::HalfClosed {
                        by: Direction::ToClient,
                    },
                    _ => end,
                }
            }
            other => other,
        };
        let OpenFlow { conn, session, .. } = &mut flow;
        conn.flush(last_frame, &mut |d, chunk| {
            if let Some(s) = session.as_mut() {
                match chunk {
                    Chunk::Data { bytes, frame } => s.data(d, bytes, frame),
                    Chunk::Gap { len, frame } => s.gap(d, len, frame),
                }
            }
        });
        let reportable = match flow.found {
            Found::ByPort => true,
            Found::ByContent { confirmed } => confirmed,
        };
        if reportable {
            for dir in [Direction::ToServer, Direction::ToClient] {
                self.summary.tcp.add(&flow.conn.stream(dir).stats());
            }
        }
        match flow.session {
            Some(session) if reportable && !session.spoke_smtp() => {
                // On an SMTP port, but nothing in it was SMTP (an HTTP request to port 25).
                self.summary.not_smtp += 1;
            }
            Some(session) if reportable => {
                let mut record = session.finish(end);
                record.handshake_seen |= flow.conn.handshake_seen();
                record.one_direction = match flow.seen {
                    [true, false] => Some(Direction::ToServer),
                    [false, true] => Some(Direction::ToClient),
                    _ => None,
                };
                let mut report = classify::classify(record);
                if self.config.shard.is_none() {
                    self.offers.observe(&mut report);
                }
                self.summary.count(&report);
                out(report);
            }
            Some(_) => {}
            None => {
                if flow.found == Found::ByPort && flow.syn {
                    let a = &mut self.summary.connections;
                    a.attempted += 1;
                    if flow.server_reset {
                        a.refused += 1;
                    } else if !flow.syn_ack {
                        a.unanswered += 1;
                    }
                }
            }
        }
    }
}

/// What became of a flow after one of its segments.
enum After {
    /// Still open (or the segment was not the flow's).
    Open,
    /// Found by content, and its content says it is not SMTP.
    NotSmtp,
    /// Closed or reset: report it.
    End(End),
}

/// Whether `segment` opens a new connection on an open flow's addresses: a client SYN (no
/// ACK) at another sequence number than the flow's own SYN, or any client SYN once the flow
/// has carried data (TCP sends no SYN after data: the same SYN again is a capture replayed in
/// a loop, as `tcpreplay --loop` does). A SYN repeated before any data is a retransmission.
fn new_connection(flow: &OpenFlow, segment: &TcpSegment<'_>) -> bool {
    if !segment.flags.syn || segment.flags.ack || segment.dst != flow.conn.server {
        return false;
    }
    flow.session.is_some() || flow.client_isn.is_some_and(|isn| isn != segment.seq)
}

/// One segment of an open flow: reassembly, the SMTP session, and what follows.
fn advance(
    flow: &mut OpenFlow,
    segment: &TcpSegment<'_>,
    frame: &Frame<'_>,
    limits: SessionLimits,
) -> After {
    let Some(dir) = flow.conn.direction_of(segment) else {
        return After::Open;
    };
    flow.last_seen = frame.ts;
    flow.seen[usize::from(dir == Direction::ToClient)] = true;
    let flags = segment.flags;
    if flags.syn && !flags.ack && dir == Direction::ToServer {
        flow.syn = true;
        flow.client_isn.get_or_insert(segment.seq);
    }
    if flags.syn && flags.ack && dir == Direction::ToClient {
        flow.syn_ack = true;
    }
    if flags.rst && dir == Direction::ToClient {
        flow.server_reset = true;
    }
    let (client, server) = (flow.conn.client, flow.conn.server);
    let handshake_seen = flow.conn.handshake_seen() || flags.syn;
    let OpenFlow {
        conn,
        session,
        first_frame,
        first_time,
        found,
        ..
    } = flow;
    if let Some(s) = session.as_mut() {
        s.saw_frame(frame.number, frame.ts);
    }
    let closing = conn.segment(dir, segment, frame.number, &mut |d, chunk| {
        let s = session.get_or_insert_with(|| {
            let mut s = Box::new(Session::new(
                client,
                server,
                *first_frame,
                *first_time,
                handshake_seen,
                limits,
            ));
            s.saw_frame(frame.number, frame.ts);
            s
        });
        match chunk {
            Chunk::Data { bytes, frame } => s.data(d, bytes, frame),
            Chunk::Gap { len, frame } => s.gap(d, len, frame),
        }
    });
    let mut not_smtp = false;
    if let Some(s) = session.as_ref() {
        if !s.wants_payload() {
            conn.discard_payload();
        }
        if let Found::ByContent { confirmed } = found {
            match s.detection() {
                Detection::Smtp => *confirmed = true,
                Detection::NotSmtp => not_smtp = true,
                Detection::Undecided => {}
            }
        }
    }
    if not_smtp {
        return After::NotSmtp;
    }
    match closing {
        Some(Closing::Rst(by)) => After::End(End::Reset { by }),
        Some(Closing::Fin(_)) if conn.is_closed() => After::End(End::Closed),
        _ => After::Open,
    }
}

/// Interfaces told apart at most (a hostile `-i any` capture can name billions).
const MAX_INTERFACES: usize = 64;

/// The interface a frame was captured on: pcapng's interface id, and for Linux cooked
/// capture v2 (`tcpdump -i any`) the interface index its header carries.
fn capture_interface(frame: &Frame<'_>) -> u64 {
    let mut interface = u64::from(frame.interface) << 32;
    if frame.link == LinkType::LINUX_SLL2 {
        if let Some(&[a, b, c, d]) = frame.data.get(4..8) {
            interface |= u64::from(u32::from_be_bytes([a, b, c, d]));
        }
    }
    interface
}

/// Which side a first payload on a non-SMTP port comes from, if it looks like SMTP: a reply
/// `220` followed by a space or `-` (server), or `EHLO `/`HELO ` (client).
fn content_role(payload: &[u8]) -> Option<Direction> {
    let starts = |prefix: &[u8]| {
        payload.len() > prefix.len() && payload[..prefix.len()].eq_ignore_ascii_case(prefix)
    };
    if payload.len() >= 4 && &payload[..3] == b"220" && matches!(payload[3], b' ' | b'-') {
        Some(Direction::ToClient)
    } else if starts(b"EHLO ") || starts(b"HELO ") {
        Some(Direction::ToServer)
    } else {
        None
    }
}
