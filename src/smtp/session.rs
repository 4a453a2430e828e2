//! One SMTP session: the two directions' buffers, the dialogue state, and the facts kept.
//!
//! Bytes arrive per direction in capture order (from reassembly). Client lines become
//! commands queued for a reply; server lines become replies (RFC 5321 §4.2.1 multi-line
//! replies) matched to the oldest unanswered command, which is how PIPELINING interleaves.
//! After `220` to STARTTLS, or when the client opens with a ClientHello, both directions go to
//! the TLS sniffer. Every byte of the plaintext dialogue is looked at once; nothing of the
//! encrypted part is kept.

use std::collections::VecDeque;
use std::net::SocketAddr;

use super::buffer::{ByteQueue, Line};
use super::machine::{self, Awaited, Client, Effect, Event, Stage, State, TlsStart};
use super::parse::{self, Verb};
use super::record::*;
use crate::capture::Timestamp;
use crate::text::WireText;
use crate::tls::TlsSniffer;
use crate::Direction;

/// Limits that keep one session's memory bounded.
#[derive(Clone, Copy, Debug)]
pub struct SessionLimits {
    /// Longest line parsed whole; longer ones are cut (RFC 5321 allows 512 for commands and
    /// replies, 1000 for text lines).
    pub max_line: usize,
    /// Bytes held for one direction while waiting for a reply (a client pipelining after
    /// STARTTLS, say). Beyond it, bytes are dropped and the session is marked.
    pub max_buffered: usize,
    /// Keep the plaintext dialogue for the transcript view.
    pub keep_transcript: bool,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            max_line: 4096,
            max_buffered: 256 * 1024,
            keep_transcript: false,
        }
    }
}

const MAX_PENDING: usize = 256;
const MAX_HELLO: usize = 4;
const MAX_MASKED: usize = 4;
const MAX_GAPS: usize = 8;
const MAX_REPLY_LINES: usize = 64;
const MAX_TRANSCRIPT: usize = 500;
/// After `220`, client bytes without a line ending up to this many may still become a
/// plaintext command line; more are judged as TLS (or not-TLS) at once.
const NOT_TLS_AFTER: usize = 64;
/// The largest line buffer a session keeps between lines.
const KEPT_LINE_BUFFER: usize = 512;

/// Where the reply to a command is to be recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Hello(usize),
    StartTls,
    Masked(usize),
    Other,
}

#[derive(Debug)]
struct PendingCommand {
    slot: Slot,
    awaited: Option<Awaited>,
    command: Command,
}

/// Whether a flow found by content (not by port) really is SMTP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detection {
    /// Not enough seen yet: no greeting or no first client command.
    Undecided,
    /// A `220` greeting and EHLO/HELO/LHLO as the client's first command.
    Smtp,
    /// Something else came first: not a session.
    NotSmtp,
}

/// One SMTP session, sans-I/O: fed the contiguous bytes (and gaps) of each direction in
/// capture order, it parses the plaintext dialogue, hands TLS bytes to a
/// [`TlsSniffer`], and gives its [`SessionRecord`] at [`finish`](Session::finish).
pub struct Session {
    limits: SessionLimits,
    record: SessionRecord,
    client: ByteQueue,
    server: ByteQueue,
    /// Where the dialogue is: the one piece of protocol state ([`machine`]).
    state: State,
    pending: VecDeque<PendingCommand>,
    /// The reply being assembled from its lines.
    partial_reply: Option<Reply>,
    partial_reply_gapped: bool,
    /// How many of the next replies follow a gap in the server's bytes (see [`Session::gap`]).
    unsure_replies: usize,
    /// The verb of the client's first command line (`None` before it, or for a non-command).
    first_verb: Option<Verb>,
    /// Either side said something only SMTP says: a reply line, or a known command.
    spoke_smtp: bool,
    /// The client sent AUTH: a lone base64 word after it is a credential.
    auth_seen: bool,
    sniffer: Option<Box<TlsSniffer>>,
    /// The line being handled, copied out of its queue so the queue can take more; kept to
    /// reuse its allocation from line to line. Handling a reply can handle client lines (a
    /// pipelined group it releases): those find this empty and use a buffer of their own.
    line: Vec<u8>,
}

impl Session {
    /// A session on the connection `client` → `server` whose first frame is `frame` at `ts`;
    /// `handshake_seen`: the capture holds its SYN.
    pub fn new(
        client: SocketAddr,
        server: SocketAddr,
        frame: u64,
        ts: Timestamp,
        handshake_seen: bool,
        limits: SessionLimits,
    ) -> Self {
        Session {
            limits,
            record: SessionRecord {
                client,
                server,
                first_frame: frame,
                last_frame: frame,
                first_time: ts,
                last_time: ts,
                handshake_seen,
                dialogue_start_seen: false,
                greeting: None,
                hello: Vec::new(),
                starttls: None,
                starttls_refused: None,
                starttls_pipelined: None,
                implicit_tls: false,
                tls: None,
                tls_established: false,
                tls_failed: false,
                command_injection: None,
                response_injection: None,
                plaintext_after_upgrade: None,
                plaintext_answered: None,
                tls_without_220: None,
                auth_in_clear: None,
                mail_in_clear: None,
                tls_required: None,
                masked_commands: Vec::new(),
                last_command_frame: None,
                gaps: Vec::new(),
                gap_bytes: 0,
                limits_hit: false,
                tls_unannounced: false,
                one_direction: None,
                end: End::CaptureEnded,
                transcript: Vec::new(),
            },
            client: ByteQueue::new(limits.max_line),
            server: ByteQueue::new(limits.max_line),
            state: State::START,
            pending: VecDeque::new(),
            partial_reply: None,
            partial_reply_gapped: false,
            unsure_replies: 0,
            first_verb: None,
            spoke_smtp: false,
            auth_seen: false,
            sniffer: None,
            line: Vec::new(),
        }
    }

    /// Notes a frame of this session (for first/last frame and time), with or without payload.
    pub fn saw_frame(&mut self, frame: u64, ts: Timestamp) {
        self.record.last_frame = self.record.last_frame.max(frame);
        self.record.last_time = self.record.last_time.max(ts);
    }

    /// Whether a flow found by its content is SMTP: a `220` greeting, and EHLO/HELO first.
    pub fn detection(&self) -> Detection {
        let greeted = !matches!(
            self.state,
            State::Plain {
                stage: Stage::Greeting,
                ..
            }
        );
        let greeting = match &self.record.greeting {
            Some(g) if g.code == 220 => Some(true),
            Some(_) => Some(false),
            None if greeted => Some(false),
            None => None,
        };
        let hello = (self.client_mode() != Some(Client::Opening))
            .then(|| self.first_verb.is_some_and(Verb::is_hello));
        match (greeting, hello) {
            (Some(false), _) | (_, Some(false)) => Detection::NotSmtp,
            (Some(true), Some(true)) => Detection::Smtp,
            _ => Detection::Undecided,
        }
    }

    /// Whether anything in the connection was SMTP: a reply line, a known command, or TLS
    /// where SMTP has it. A connection on an SMTP port that never was (an HTTP request to
    /// port 25) is no session.
    pub fn spoke_smtp(&self) -> bool {
        self.spoke_smtp || self.record.implicit_tls || self.record.tls_unannounced
    }

    /// Once TLS is up and nothing more is to be learned, payload can be dropped unread.
    pub fn wants_payload(&self) -> bool {
        self.sniffer.as_ref().is_none_or(|s| s.wants_more())
    }

    fn client_mode(&self) -> Option<Client> {
        match self.state {
            State::Plain { client, .. } => Some(client),
            _ => None,
        }
    }

    /// Applies one event to the state; returns the effect to carry out.
    fn step(&mut self, event: Event) -> Effect {
        let (state, effect) = machine::next(self.state, event);
        self.state = state;
        effect
    }

    /// Whether the part of the dialogue that would explain TLS bytes here is missing. Before
    /// the client's first command, a ClientHello is implicit TLS when the connection's start
    /// is in the capture (its SYN, or the greeting) or on port 465: a STARTTLS client sends
    /// commands first, so only a capture missing the start could show its ClientHello first.
    /// Later, what is missing is a gap, or the start of the dialogue.
    fn context_lost(&self) -> bool {
        let r = &self.record;
        match self.client_mode() {
            Some(Client::Opening) => {
                r.has_gap(Direction::ToServer)
                    || !(r.handshake_seen || r.greeting.is_some() || r.server.port() == 465)
            }
            _ => !r.gaps.is_empty() || !(r.dialogue_start_seen || r.handshake_seen),
        }
    }

    /// Contiguous bytes of one direction.
    pub fn data(&mut self, dir: Direction, bytes: &[u8], frame: u64) {
        match (self.state, dir) {
            (State::Tls(_), _) => self.feed_tls(dir, bytes, frame),
            (State::TlsDue, Direction::ToClient) if looks_like_tls_record(bytes) => {
                let context_lost = self.context_lost();
                if let Effect::BeginTls(start) = self.step(Event::ServerTls { context_lost }) {
                    self.begin_tls(start);
                    self.feed_tls(dir, bytes, frame);
                }
            }
            (State::TlsDue, Direction::ToClient) => {
                if self.step(Event::ServerBytes) == Effect::ResponseInjection
                    && self.record.response_injection.is_none()
                {
                    self.record.response_injection = Some(Evidence {
                        direction: Direction::ToClient,
                        frame,
                        bytes: WireText::new(bytes),
                    });
                }
            }
            (State::Plain { .. } | State::TlsDue, Direction::ToServer) => {
                if self.client_mode() == Some(Client::TlsWithout220) {
                    return;
                }
                self.push(Direction::ToServer, bytes, frame);
                self.process_client();
            }
            (State::Plain { .. }, Direction::ToClient) => {
                self.push(Direction::ToClient, bytes, frame);
                self.process_server();
            }
        }
    }

    /// `len` bytes of one direction that the capture does not hold.
    pub fn gap(&mut self, dir: Direction, len: u64, frame: u64) {
        self.record.gap_bytes += len;
        if self.record.gaps.len() < MAX_GAPS {
            self.record.gaps.push(Gap {
                direction: dir,
                frame,
                bytes: len,
            });
        }
        let to_server = dir == Direction::ToServer;
        match self.step(Event::Gap { to_server, len }) {
            Effect::BeginTls(start) => {
                self.begin_tls(start);
                self.feed_gap(dir, len, frame);
            }
            Effect::TlsGap => self.feed_gap(dir, len, frame),
            Effect::SkipChunk => {}
            Effect::Resync if to_server => self.client.clear_and_resync(),
            Effect::Resync => {
                self.server.clear_and_resync();
                if self.partial_reply.is_some() {
                    self.partial_reply_gapped = true;
                }
                // The lost bytes may have held whole replies: which of the commands waiting
                // now were answered there is unknown, so the replies matched to them next are
                // not trusted (kept, marked partial).
                self.unsure_replies = self.pending.len();
            }
            _ => {}
        }
    }

    fn push(&mut self, dir: Direction, bytes: &[u8], frame: u64) {
        let held_tls = dir == Direction::ToServer
            && self.client_mode() == Some(Client::Awaiting(Awaited::StartTls));
        let queue = match dir {
            Direction::ToServer => &mut self.client,
            Direction::ToClient => &mut self.server,
        };
        if queue.is_resyncing() && queue.is_empty() && looks_like_tls_record(bytes) {
            // After a gap, TLS records are not the tail of a lost line: keep them.
            queue.stop_resync();
        }
        if queue.len() + bytes.len() > self.limits.max_buffered {
            if held_tls && looks_like_tls_record(queue.peek()) {
                // A client gone to TLS behind a STARTTLS whose reply the capture does not
                // show (yet): what it sent is TLS, kept as such rather than dropped.
                let held = queue.peek().to_vec();
                let at = queue.front_frame();
                queue.consume(held.len());
                let sniffer = self.sniffer.get_or_insert_with(Box::default);
                sniffer.feed(Direction::ToServer, &held, at);
                sniffer.feed(Direction::ToServer, bytes, frame);
                return;
            }
            // Whoever sends this much without a line ending or a reply is not speaking SMTP
            // we can follow: drop, remember, resynchronise on the next line.
            self.record.limits_hit = true;
            queue.clear_and_resync();
            return;
        }
        queue.push(bytes, frame);
    }

    // ---- client side -------------------------------------------------------------------

    fn process_client(&mut self) {
        loop {
            match self.state {
                State::Tls(_) => {
                    let rest = self.client.peek().to_vec();
                    let frame = self.client.front_frame();
                    self.client.consume(rest.len());
                    if !rest.is_empty() {
                        self.feed_tls(Direction::ToServer, &rest, frame);
                    }
                    return;
                }
                State::TlsDue => {
                    let bytes = self.client.peek();
                    let Some(&first) = bytes.first() else {
                        return;
                    };
                    let has_line = bytes.contains(&b'\n');
                    let record_start = (20..=23).contains(&first) || first & 0x80 != 0;
                    if !record_start && !has_line && bytes.len() < NOT_TLS_AFTER {
                        // Perhaps a plaintext command still arriving (a decrypted capture).
                        return;
                    }
                    if !record_start && self.client_plaintext_command() {
                        self.step(Event::ClientPlaintext);
                        let bytes = redact_credentials(self.client.peek());
                        self.record.plaintext_after_upgrade = Some(Evidence {
                            direction: Direction::ToServer,
                            frame: self.client.front_frame(),
                            bytes: WireText::new(&bytes),
                        });
                        continue;
                    }
                    // TLS, or bytes that are neither TLS nor a command: the sniffer judges.
                    let effect = self.step(Event::ClientTls {
                        hello: self.opens_with_hello(),
                        context_lost: false,
                    });
                    if let Effect::BeginTls(start) = effect {
                        self.begin_tls(start);
                    }
                }
                State::Plain { client, .. } => match client {
                    Client::Awaiting(_) | Client::TlsWithout220 => return,
                    Client::Chunk { remaining } => {
                        let taken = self
                            .client
                            .consume(remaining.min(usize::MAX as u64) as usize)
                            as u64;
                        if taken == 0 {
                            return;
                        }
                        self.step(Event::ChunkBytes(taken));
                    }
                    Client::Opening if self.maybe_tls_prefix() => return,
                    Client::Opening | Client::Commands
                        if looks_like_tls_record(self.client.peek()) || self.opens_with_hello() =>
                    {
                        self.tls_where_plaintext_was_due();
                        if self.client_mode() == Some(Client::TlsWithout220) {
                            return;
                        }
                    }
                    Client::Opening | Client::Commands => {
                        let Some(Line { bytes, frame, .. }) = self.client.next_line() else {
                            return;
                        };
                        // Taken, not borrowed: handling it may handle more lines (see `line`).
                        let mut line = std::mem::take(&mut self.line);
                        line.clear();
                        line.extend_from_slice(bytes);
                        self.command(&line, frame);
                        self.keep_line_buffer(line);
                    }
                    Client::SaslResponse => {
                        let Some(line) = self.client.next_line() else {
                            return;
                        };
                        let frame = line.frame;
                        self.step(Event::SaslLine);
                        self.sasl_response(frame);
                    }
                    Client::MessageBody => {
                        // Message content is only scanned for its end, never kept.
                        let Some(line) = self.client.next_line() else {
                            return;
                        };
                        let end = line.bytes == b".";
                        self.step(Event::BodyLine { end });
                    }
                },
            }
        }
    }

    /// TLS records from the client where plaintext was due.
    fn tls_where_plaintext_was_due(&mut self) {
        let frame = self.client.front_frame();
        let event = Event::ClientTls {
            hello: self.opens_with_hello(),
            context_lost: self.context_lost(),
        };
        match self.step(event) {
            Effect::BeginTls(start) => self.begin_tls(start),
            Effect::TlsWithout220 => {
                self.record.tls_without_220 = Some(frame);
                // Its bytes are not SMTP any more; the server's replies still are.
                self.client.consume(self.client.len());
            }
            _ => {}
        }
    }

    /// After `220`: the client's bytes open with a plaintext command, not a TLS record.
    fn client_plaintext_command(&self) -> bool {
        let bytes = self.client.peek();
        let Some(end) = bytes.iter().position(|&b| b == b'\n') else {
            return false;
        };
        let line = bytes[..end].strip_suffix(b"\r").unwrap_or(&bytes[..end]);
        parse::command_line(line).is_some_and(|c| c.verb != Verb::Other)
    }

    /// A response to a `334` challenge: a credential. Only its place in the dialogue is kept;
    /// the server's next reply says whether another challenge follows.
    fn sasl_response(&mut self, frame: u64) {
        const REDACTED: &[u8] = b"[SASL response redacted]";
        self.transcript(Direction::ToServer, frame, REDACTED);
        let command = Command {
            verb: Verb::Auth,
            frame,
            line: WireText::new(REDACTED),
        };
        self.expect_reply(Slot::Other, Some(Awaited::Auth), command);
    }

    /// The client's bytes open with a TLS ClientHello (record type 22, handshake type 1) or
    /// an SSLv2-style hello.
    fn opens_with_hello(&self) -> bool {
        let b = self.client.peek();
        let tls = b.len() >= 6 && b[0] == 0x16 && b[1] == 3 && b[5] == 1;
        let sslv2 = b.len() >= 3 && b[0] & 0x80 != 0 && b[2] == 1;
        tls || sslv2
    }

    /// Too few client bytes yet to tell a ClientHello from a command.
    fn maybe_tls_prefix(&self) -> bool {
        let b = self.client.peek();
        b.len() < 6 && b.first().is_some_and(|&x| x == 0x16 || x & 0x80 != 0)
    }

    /// Starts the TLS sniffer; both directions' bytes go to it from now on.
    fn begin_tls(&mut self, start: TlsStart) {
        let mut sniffer = self.sniffer.take().unwrap_or_default();
        match start {
            TlsStart::Implicit => {
                self.record.implicit_tls = true;
                self.record.dialogue_start_seen = true;
                if let Some(greeting) = &self.record.greeting {
                    // The server greeted in plaintext where TLS was due: that is what the
                    // server's side of this TLS connection holds.
                    let mut line = greeting.first_line().as_bytes().to_vec();
                    line.extend_from_slice(b"\r\n");
                    sniffer.feed(Direction::ToClient, &line, greeting.frame);
                }
            }
            TlsStart::Unannounced => self.record.tls_unannounced = true,
            TlsStart::StartTls => {}
        }
        self.sniffer = Some(sniffer);
        self.pending.clear();
        self.process_client();
        let rest = self.server.peek().to_vec();
        let frame = self.server.front_frame();
        self.server.consume(rest.len());
        if !rest.is_empty() {
            self.feed_tls(Direction::ToClient, &rest, frame);
        }
    }

    fn feed_tls(&mut self, dir: Direction, bytes: &[u8], frame: u64) {
        if let Some(sniffer) = self.sniffer.as_mut() {
            sniffer.feed(dir, bytes, frame);
        }
    }

    fn feed_gap(&mut self, dir: Direction, len: u64, frame: u64) {
        if let Some(sniffer) = self.sniffer.as_mut() {
            sniffer.gap(dir, len, frame);
        }
    }

    fn command(&mut self, line: &[u8], frame: u64) {
        let after_upgrade = matches!(
            self.state,
            State::Plain {
                stage: Stage::AfterUpgrade,
                ..
            }
        );
        self.record.last_command_frame = Some(frame);
        if self.client_mode() == Some(Client::Opening) {
            self.first_verb = parse::command_line(line).map(|c| c.verb);
        }
        if parse::is_masked_command(line) {
            let command = Command {
                verb: Verb::Other,
                frame,
                line: WireText::new(line),
            };
            self.transcript(Direction::ToServer, frame, line);
            self.step(Event::Command {
                verb: Verb::Other,
                bdat: None,
            });
            let slot = self.keep_capped_masked(command.clone());
            self.expect_reply(slot, None, command);
            return;
        }
        let parsed = parse::command_line(line);
        let verb = parsed.map_or(Verb::Other, |c| c.verb);
        self.spoke_smtp |= verb != Verb::Other;
        let shown = match (verb, parsed) {
            (Verb::Auth, Some(c)) => {
                let mechanism = auth_mechanism(c.args);
                self.auth_seen = true;
                if self.record.auth_in_clear.is_none() && !after_upgrade {
                    self.record.auth_in_clear = Some(AuthUse {
                        frame,
                        mechanism: mechanism.clone(),
                    });
                }
                // An initial response (RFC 4954) is a credential: only say it was there.
                let has_initial_response = c
                    .args
                    .split(|&b| b == b' ')
                    .filter(|w| !w.is_empty())
                    .count()
                    > 1;
                let shown = if has_initial_response {
                    format!("AUTH {mechanism} [redacted]")
                } else {
                    format!("AUTH {mechanism}")
                };
                WireText::new(shown.as_bytes())
            }
            // After AUTH, a lone base64 word is a SASL response whose challenge the capture
            // did not show us (lost in a gap): a credential.
            (Verb::Other, _) if self.auth_seen && is_sasl_response(line) => {
                WireText::new(b"[SASL response redacted]")
            }
            _ => WireText::new(line),
        };
        self.transcript(Direction::ToServer, frame, shown.as_bytes());
        let command = Command {
            verb,
            frame,
            line: shown,
        };
        if verb.carries_mail() && self.record.mail_in_clear.is_none() && !after_upgrade {
            self.record.mail_in_clear = Some(command.clone());
        }
        let slot = match verb {
            v if v.is_hello() && !after_upgrade => {
                if self.record.hello.len() < MAX_HELLO {
                    // Almost always one: not the four slots a first push would make room for.
                    self.record.hello.reserve_exact(1);
                    self.record.hello.push(Exchange {
                        command: command.clone(),
                        reply: None,
                    });
                    Slot::Hello(self.record.hello.len() - 1)
                } else {
                    Slot::Other
                }
            }
            // The latest STARTTLS is the one that decides; a refused one before it is kept
            // in `starttls_refused` when its reply comes.
            Verb::StartTls => {
                self.record.starttls = Some(Exchange {
                    command: command.clone(),
                    reply: None,
                });
                Slot::StartTls
            }
            _ => Slot::Other,
        };
        let bdat = match verb {
            Verb::Bdat => parsed
                .and_then(|c| parse::bdat_args(c.args))
                .map(|(size, _last)| size),
            _ => None,
        };
        self.step(Event::Command { verb, bdat });
        self.expect_reply(slot, machine::awaited(verb), command);
    }

    fn keep_capped_masked(&mut self, command: Command) -> Slot {
        if self.record.masked_commands.len() < MAX_MASKED {
            self.record.masked_commands.push(Exchange {
                command,
                reply: None,
            });
            Slot::Masked(self.record.masked_commands.len() - 1)
        } else {
            Slot::Other
        }
    }

    fn expect_reply(&mut self, slot: Slot, awaited: Option<Awaited>, command: Command) {
        if self.pending.len() < MAX_PENDING {
            self.pending.push_back(PendingCommand {
                slot,
                awaited,
                command,
            });
        } else {
            self.record.limits_hit = true;
        }
    }

    // ---- server side -------------------------------------------------------------------

    fn process_server(&mut self) {
        while let State::Plain { .. } = self.state {
            if looks_like_tls_record(self.server.peek()) {
                let context_lost = self.context_lost();
                if let Effect::BeginTls(start) = self.step(Event::ServerTls { context_lost }) {
                    self.begin_tls(start);
                    return;
                }
            }
            let Some(Line { bytes, frame, .. }) = self.server.next_line() else {
                return;
            };
            // Taken, not borrowed: a reply may release pipelined client lines (see `line`).
            let mut line = std::mem::take(&mut self.line);
            line.clear();
            line.extend_from_slice(bytes);
            self.transcript(Direction::ToClient, frame, &line);
            self.reply_line(&line, frame);
            self.keep_line_buffer(line);
        }
        if self.state == State::TlsDue && !self.server.is_empty() {
            // What followed the 220 in the same bytes was sent before the client began TLS.
            let rest = self.server.peek().to_vec();
            let frame = self.server.front_frame();
            self.server.consume(rest.len());
            self.data(Direction::ToClient, &rest, frame);
        }
    }

    /// Keeps a line buffer for the next line, unless a long line made it big: an open session
    /// should not hold kilobytes for nothing.
    fn keep_line_buffer(&mut self, line: Vec<u8>) {
        if line.capacity() <= KEPT_LINE_BUFFER {
            self.line = line;
        }
    }

    fn reply_line(&mut self, line: &[u8], frame: u64) {
        let Some(parsed) = parse::reply_line(line) else {
            match self.partial_reply.as_mut() {
                // A line without a code inside a multi-line reply (S7: a middlebox deleted it).
                Some(reply) => push_capped(reply, line),
                // A stray line outside any reply: nothing to match it to. Before the greeting
                // it means the server does not speak SMTP (an IMAP `* OK`, say).
                None => {
                    self.step(Event::StrayLine);
                }
            }
            return;
        };
        self.spoke_smtp = true;
        let reply = self.partial_reply.get_or_insert_with(|| Reply {
            code: parsed.code,
            frame,
            lines: Vec::new(),
            lines_dropped: 0,
            partial: false,
            lists_starttls: false,
        });
        // As `Reply::ehlo_keywords` reads the lines kept, the first aside.
        let kept = (1..MAX_REPLY_LINES).contains(&reply.lines.len());
        reply.lists_starttls |=
            kept && parse::ehlo_keyword(parsed.text).is_some_and(|(k, _)| is_starttls(k));
        push_capped(reply, line);
        if !parsed.more {
            let mut reply = self
                .partial_reply
                .take()
                .expect("a reply is being assembled");
            reply.partial = std::mem::take(&mut self.partial_reply_gapped);
            self.reply(reply);
        }
    }

    fn reply(&mut self, reply: Reply) {
        let code = reply.code;
        // With the connection's start in the capture (and no server bytes lost before), the
        // first reply is the greeting whatever it says. Without it, only a greeting code
        // (RFC 5321 §4.2: 220, or 554 / 421 refusing service) answering no command we saw can
        // be one; a `250` there answers a command from before the capture began.
        let greeting = (self.record.handshake_seen && !self.record.has_gap(Direction::ToClient))
            || (self.pending.is_empty() && matches!(code, 220 | 554 | 421));
        self.realign_after_gap(code);
        let answers = self.pending.front().and_then(|p| p.awaited);
        let effect = self.step(Event::Reply {
            code,
            greeting,
            answers,
        });
        if effect == Effect::Greeting {
            self.record.dialogue_start_seen = true;
            self.record.greeting = Some(reply);
            return;
        }
        let Some(pending) = self.pending.pop_front() else {
            return;
        };
        let mut reply = reply;
        if self.unsure_replies > 0 {
            self.unsure_replies -= 1;
            reply.partial = true;
        }
        if effect == Effect::AnswerAfterUpgrade
            && code < 400
            && self.record.plaintext_answered.is_none()
        {
            self.record.plaintext_answered = Some(reply.frame);
        }
        if code == 530 && self.record.tls_required.is_none() {
            self.record.tls_required = Some(Exchange {
                command: pending.command.clone(),
                reply: Some(reply.clone()),
            });
        }
        match pending.slot {
            Slot::Hello(i) => self.record.hello[i].reply = Some(reply),
            Slot::Masked(i) => self.record.masked_commands[i].reply = Some(reply),
            Slot::StartTls => {
                if let Some(starttls) = self.record.starttls.as_mut() {
                    starttls.reply = Some(reply);
                    if code != 220 && self.record.starttls_refused.is_none() {
                        self.record.starttls_refused = Some(starttls.clone());
                    }
                }
            }
            Slot::Other => {}
        }
        match effect {
            Effect::Upgrade => {
                self.check_command_injection();
                self.process_client();
            }
            Effect::StartTlsRefused => {
                self.check_pipelined_after_starttls();
                self.process_client();
            }
            _ if pending.awaited.is_some() => self.process_client(),
            _ => {}
        }
    }

    /// After a gap in the server's bytes, replies to the commands then waiting may have been
    /// lost. The client, held behind DATA, AUTH or STARTTLS, waits for that command's reply:
    /// a reply that can be one for it ([`machine::may_answer`]) is taken as it, the commands
    /// before it counted as answered in the gap. (It stays marked partial: unsure.)
    fn realign_after_gap(&mut self, code: u16) {
        if self.unsure_replies == 0 {
            return;
        }
        let Some(Client::Awaiting(awaited)) = self.client_mode() else {
            return;
        };
        if !machine::may_answer(awaited, code) {
            return;
        }
        while self.pending.len() > 1
            && self.unsure_replies > 1
            && self.pending.front().is_some_and(|p| p.awaited.is_none())
        {
            self.pending.pop_front();
            self.unsure_replies -= 1;
        }
    }

    /// S8: client bytes that followed `STARTTLS` before the server had answered it `220`.
    fn check_command_injection(&mut self) {
        let held = self.client.peek();
        let is_client_hello = held.len() >= 2 && held[0] == 0x16 && held[1] == 3;
        if !held.is_empty() && !is_client_hello && self.record.command_injection.is_none() {
            self.record.command_injection = Some(Evidence {
                direction: Direction::ToServer,
                frame: self.client.front_frame(),
                bytes: WireText::new(&redact_credentials(held)),
            });
            // Injected commands are never TLS: do not let them count as the handshake.
            self.client.consume(self.client.len());
        }
    }

    /// Client commands pipelined behind a STARTTLS that was refused: read in plaintext, as
    /// they should be, and noted (RFC 2920 §3.1: STARTTLS ends a group).
    fn check_pipelined_after_starttls(&mut self) {
        let held = self.client.peek();
        if !held.is_empty()
            && !looks_like_tls_record(held)
            && self.record.starttls_pipelined.is_none()
        {
            self.record.starttls_pipelined = Some(Evidence {
                direction: Direction::ToServer,
                frame: self.client.front_frame(),
                bytes: WireText::new(&redact_credentials(held)),
            });
        }
    }

    fn transcript(&mut self, direction: Direction, frame: u64, line: &[u8]) {
        if self.limits.keep_transcript && self.record.transcript.len() < MAX_TRANSCRIPT {
            self.record.transcript.push(TranscriptLine {
                direction,
                frame,
                text: WireText::new(line),
            });
        }
    }

    /// Ends the session: what is still half-read is kept as it is.
    pub fn finish(mut self, end: End) -> SessionRecord {
        if let Some(mut reply) = self.partial_reply.take() {
            // A reply cut by the end of the capture: keep what arrived.
            reply.partial = true;
            let greeting_due = matches!(
                self.state,
                State::Plain {
                    stage: Stage::Greeting,
                    ..
                }
            );
            if greeting_due && self.record.greeting.is_none() {
                self.record.greeting = Some(reply);
            } else if let Some(pending) = self.pending.front() {
                match pending.slot {
                    Slot::Hello(i) => self.record.hello[i].reply = Some(reply),
                    Slot::StartTls => {
                        if let Some(s) = self.record.starttls.as_mut() {
                            s.reply = Some(reply)
                        }
                    }
                    _ => {}
                }
            }
        }
        if self.client_mode() == Some(Client::Awaiting(Awaited::StartTls))
            && (self.sniffer.is_some() || looks_like_tls_record(self.client.peek()))
        {
            // The client went to TLS behind a STARTTLS whose reply the capture does not hold:
            // what it sent tells how far its side of the handshake got.
            let held = self.client.peek().to_vec();
            let frame = self.client.front_frame();
            self.sniffer
                .get_or_insert_with(Box::default)
                .feed(Direction::ToServer, &held, frame);
        }
        if let Some(sniffer) = self.sniffer.take() {
            self.record.tls_established = sniffer.is_established();
            self.record.tls_failed = sniffer.has_failed();
            let mut facts = sniffer.facts().clone();
            if let Some(not_tls) = facts.not_tls.as_mut() {
                not_tls.bytes = redact_credentials(&not_tls.bytes);
                if !self.record.implicit_tls && self.record.plaintext_after_upgrade.is_none() {
                    self.record.plaintext_after_upgrade = Some(Evidence {
                        direction: not_tls.dir,
                        frame: not_tls.frame,
                        bytes: WireText::new(&not_tls.bytes),
                    });
                }
            }
            self.record.tls = Some(Box::new(facts));
        }
        self.record.end = end;
        self.record
    }
}

/// A TLS record header (RFC 8446 §5.1: content type 20–23, version 3.x): never the start of
/// an SMTP line.
fn looks_like_tls_record(bytes: &[u8]) -> bool {
    bytes.len() >= 3 && (20..=23).contains(&bytes[0]) && bytes[1] == 3 && bytes[2] <= 4
}

fn push_capped(reply: &mut Reply, line: &[u8]) {
    if reply.lines.len() < MAX_REPLY_LINES {
        reply.lines.push(WireText::new(line));
    } else {
        reply.lines_dropped = reply.lines_dropped.saturating_add(1);
    }
}

/// Bytes kept as evidence (injected commands, cleartext where TLS was due) with every AUTH
/// command's credential, and whatever follows it (SASL responses), replaced.
fn redact_credentials(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut lines = bytes.split_inclusive(|&b| b == b'\n');
    for line in lines.by_ref() {
        let content = line.strip_suffix(b"\n").unwrap_or(line);
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        match parse::command_line(content).filter(|c| c.verb == Verb::Auth) {
            Some(auth) => {
                out.extend_from_slice(b"AUTH ");
                out.extend_from_slice(auth_mechanism(auth.args).as_bytes());
                out.extend_from_slice(b" [redacted]");
                break;
            }
            None => out.extend_from_slice(line),
        }
    }
    if lines.next().is_some() {
        out.extend_from_slice(b"\r\n[rest redacted]");
    }
    out
}

/// A client line that can only be a SASL response (RFC 4954: base64, or `*` to cancel).
fn is_sasl_response(line: &[u8]) -> bool {
    line == b"*"
        || (!line.is_empty()
            && line
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')))
}

/// The SASL mechanism name from AUTH's arguments, cleaned to what a mechanism name may hold
/// (RFC 4422 §3.1: upper-case letters, digits, `-` and `_`, at most 20 characters).
fn auth_mechanism(args: &[u8]) -> String {
    let word = args.split(|&b| b == b' ').next().unwrap_or_default();
    word.iter()
        .take(20)
        .take_while(|b| b.is_ascii_alphanumeric() || **b == b'-' || **b == b'_')
        .map(|b| b.to_ascii_uppercase() as char)
        .collect()
}
