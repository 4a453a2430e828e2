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
use super::machine::{self, Awaited, ClientMode};
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
    Undecided,
    Smtp,
    NotSmtp,
}

pub struct Session {
    limits: SessionLimits,
    record: SessionRecord,
    client: ByteQueue,
    server: ByteQueue,
    client_mode: ClientMode,
    /// The client waits for the reply to this command before its next bytes mean anything.
    awaiting: Option<Awaited>,
    server_tls: bool,
    pending: VecDeque<PendingCommand>,
    /// The reply being assembled from its lines.
    partial_reply: Option<Reply>,
    partial_reply_gapped: bool,
    greeting_expected: bool,
    /// The verb of the client's first command line (`None` before it, or for a non-command).
    first_verb: Option<Verb>,
    first_command_seen: bool,
    sniffer: Option<Box<TlsSniffer>>,
    client_tls_started: bool,
    /// The line being handled, copied out of its queue so the queue can take more; kept to
    /// reuse its allocation from line to line. Handling a reply can handle client lines (a
    /// pipelined group it releases): those find this empty and use a buffer of their own.
    line: Vec<u8>,
}

impl Session {
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
                implicit_tls: false,
                tls: None,
                tls_established: false,
                tls_failed: false,
                command_injection: None,
                response_injection: None,
                plaintext_after_upgrade: None,
                auth_in_clear: None,
                mail_in_clear: None,
                tls_required: None,
                masked_commands: Vec::new(),
                last_command_frame: None,
                gaps: Vec::new(),
                gap_bytes: 0,
                limits_hit: false,
                tls_unannounced: false,
                end: End::CaptureEnded,
                transcript: Vec::new(),
            },
            client: ByteQueue::new(limits.max_line),
            server: ByteQueue::new(limits.max_line),
            client_mode: ClientMode::Commands,
            awaiting: None,
            server_tls: false,
            pending: VecDeque::new(),
            partial_reply: None,
            partial_reply_gapped: false,
            greeting_expected: true,
            first_verb: None,
            first_command_seen: false,
            sniffer: None,
            client_tls_started: false,
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
        let greeting = match &self.record.greeting {
            Some(g) if g.code == 220 => Some(true),
            Some(_) => Some(false),
            None if !self.greeting_expected => Some(false),
            None => None,
        };
        let hello = self
            .first_command_seen
            .then(|| self.first_verb.is_some_and(Verb::is_hello));
        match (greeting, hello) {
            (Some(false), _) | (_, Some(false)) => Detection::NotSmtp,
            (Some(true), Some(true)) => Detection::Smtp,
            _ => Detection::Undecided,
        }
    }

    /// Once TLS is up and nothing more is to be learned, payload can be dropped unread.
    pub fn wants_payload(&self) -> bool {
        self.sniffer.as_ref().is_none_or(|s| s.wants_more())
    }

    /// Contiguous bytes of one direction.
    pub fn data(&mut self, dir: Direction, bytes: &[u8], frame: u64) {
        match dir {
            Direction::ToServer => {
                if self.client_mode == ClientMode::Tls {
                    self.client_tls(bytes, frame);
                } else {
                    self.push(Direction::ToServer, bytes, frame);
                    self.process_client();
                }
            }
            Direction::ToClient => {
                if self.server_tls {
                    self.server_tls_bytes(bytes, frame);
                } else {
                    self.push(Direction::ToClient, bytes, frame);
                    self.process_server();
                }
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
        let tls = match dir {
            Direction::ToServer => self.client_mode == ClientMode::Tls,
            Direction::ToClient => self.server_tls,
        };
        if tls {
            if let Some(sniffer) = self.sniffer.as_mut() {
                sniffer.gap(dir, len, frame);
            }
            return;
        }
        match dir {
            Direction::ToServer => match self.client_mode {
                ClientMode::Chunk { remaining } if len <= remaining => {
                    self.client_mode = match remaining - len {
                        0 => ClientMode::Commands,
                        left => ClientMode::Chunk { remaining: left },
                    };
                }
                ClientMode::Chunk { .. } => {
                    self.client_mode = ClientMode::Commands;
                    self.client.clear_and_resync();
                }
                _ => self.client.clear_and_resync(),
            },
            Direction::ToClient => {
                self.server.clear_and_resync();
                if self.partial_reply.is_some() {
                    self.partial_reply_gapped = true;
                }
            }
        }
    }

    fn push(&mut self, dir: Direction, bytes: &[u8], frame: u64) {
        let queue = match dir {
            Direction::ToServer => &mut self.client,
            Direction::ToClient => &mut self.server,
        };
        if queue.is_resyncing() && queue.is_empty() && looks_like_tls_record(bytes) {
            // After a gap, TLS records are not the tail of a lost line: keep them.
            queue.stop_resync();
        }
        if queue.len() + bytes.len() > self.limits.max_buffered {
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
            match self.client_mode {
                ClientMode::Tls => {
                    let rest = self.client.peek().to_vec();
                    let frame = self.client.front_frame();
                    self.client.consume(rest.len());
                    if !rest.is_empty() {
                        self.client_tls(&rest, frame);
                    }
                    return;
                }
                ClientMode::Chunk { remaining } => {
                    let taken = self
                        .client
                        .consume(remaining.min(usize::MAX as u64) as usize)
                        as u64;
                    if taken == 0 {
                        return;
                    }
                    self.client_mode = match remaining - taken {
                        0 => ClientMode::Commands,
                        left => ClientMode::Chunk { remaining: left },
                    };
                }
                ClientMode::Commands if self.awaiting.is_some() => return,
                ClientMode::Commands if !self.first_command_seen && self.opens_with_tls() => {
                    self.start_implicit_tls();
                }
                ClientMode::Commands if !self.first_command_seen && self.maybe_tls_prefix() => {
                    return
                }
                ClientMode::Commands if looks_like_tls_record(self.client.peek()) => {
                    self.tls_unannounced();
                }
                ClientMode::Commands => {
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
                ClientMode::SaslResponse => {
                    let Some(line) = self.client.next_line() else {
                        return;
                    };
                    let frame = line.frame;
                    self.sasl_response(frame);
                }
                ClientMode::MessageBody => {
                    // Message content is only scanned for its end, never kept.
                    let Some(line) = self.client.next_line() else {
                        return;
                    };
                    self.client_mode = machine::after_line(ClientMode::MessageBody, line.bytes);
                }
            }
        }
    }

    /// A response to a `334` challenge: a credential. Only its place in the dialogue is kept;
    /// the server's next reply says whether another challenge follows.
    fn sasl_response(&mut self, frame: u64) {
        const REDACTED: &[u8] = b"[SASL response redacted]";
        self.transcript(Direction::ToServer, frame, REDACTED);
        self.client_mode = ClientMode::Commands;
        self.awaiting = Some(Awaited::Auth);
        let command = Command {
            verb: Verb::Auth,
            frame,
            line: WireText::new(REDACTED),
        };
        self.expect_reply(Slot::Other, Some(Awaited::Auth), command);
    }

    /// The client's first bytes are a TLS ClientHello (record type 22, handshake type 1) or an
    /// SSLv2-style hello: implicit TLS — even when the server's plaintext greeting came first
    /// (a client speaking TLS to a plaintext port). A STARTTLS client sends commands first, so
    /// only a capture missing the start could show its ClientHello first: without the TCP
    /// handshake or a greeting, it counts as implicit only on port 465.
    fn opens_with_tls(&self) -> bool {
        let b = self.client.peek();
        let tls = b.len() >= 6 && b[0] == 0x16 && b[1] == 3 && b[5] == 1;
        let sslv2 = b.len() >= 3 && b[0] & 0x80 != 0 && b[2] == 1;
        let start_known = self.record.handshake_seen || self.record.greeting.is_some();
        (tls || sslv2) && (start_known || self.record.server.port() == 465)
    }

    /// Too few client bytes yet to tell a ClientHello from a command.
    fn maybe_tls_prefix(&self) -> bool {
        let b = self.client.peek();
        b.len() < 6 && b.first().is_some_and(|&x| x == 0x16 || x & 0x80 != 0)
    }

    /// TLS records where plaintext was expected: the upgrade happened in a part of the
    /// dialogue the capture does not hold (a gap, or a capture that starts mid-way). Both
    /// directions go to the sniffer; classification will not guess what the upgrade was.
    fn tls_unannounced(&mut self) {
        self.record.tls_unannounced = true;
        self.awaiting = None;
        self.client_mode = ClientMode::Tls;
        self.server_tls = true;
        self.client_tls_started = true;
        self.sniffer.get_or_insert_with(Box::default);
        self.process_client();
        self.process_server();
    }

    fn start_implicit_tls(&mut self) {
        self.record.implicit_tls = true;
        self.record.dialogue_start_seen = true;
        self.first_command_seen = true;
        self.greeting_expected = false;
        self.client_mode = ClientMode::Tls;
        self.server_tls = true;
        let mut sniffer = Box::<TlsSniffer>::default();
        if let Some(greeting) = &self.record.greeting {
            // The server greeted in plaintext where TLS was due: that is what the server's
            // side of this TLS connection holds.
            let mut line = greeting.first_line().as_bytes().to_vec();
            line.extend_from_slice(b"\r\n");
            sniffer.feed(Direction::ToClient, &line, greeting.frame);
        }
        self.sniffer = Some(sniffer);
    }

    fn command(&mut self, line: &[u8], frame: u64) {
        self.record.last_command_frame = Some(frame);
        if !self.first_command_seen {
            self.first_command_seen = true;
            self.first_verb = parse::command_line(line).map(|c| c.verb);
        }
        if parse::is_masked_command(line) {
            let command = Command {
                verb: Verb::Other,
                frame,
                line: WireText::new(line),
            };
            self.transcript(Direction::ToServer, frame, line);
            let slot = self.keep_capped_masked(command.clone());
            self.expect_reply(slot, None, command);
            return;
        }
        let parsed = parse::command_line(line);
        let verb = parsed.map_or(Verb::Other, |c| c.verb);
        let shown = match (verb, parsed) {
            (Verb::Auth, Some(c)) => {
                let mechanism = auth_mechanism(c.args);
                if self.record.auth_in_clear.is_none() {
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
            (Verb::Other, _) if self.record.auth_in_clear.is_some() && is_sasl_response(line) => {
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
        if verb.carries_mail() && self.record.mail_in_clear.is_none() {
            self.record.mail_in_clear = Some(command.clone());
        }
        let slot = match verb {
            v if v.is_hello() => {
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
            Verb::StartTls if self.record.starttls.is_none() => {
                self.record.starttls = Some(Exchange {
                    command: command.clone(),
                    reply: None,
                });
                Slot::StartTls
            }
            Verb::Bdat => {
                if let Some((size, _last)) = parsed.and_then(|c| parse::bdat_args(c.args)) {
                    self.client_mode = ClientMode::Chunk { remaining: size };
                }
                Slot::Other
            }
            _ => Slot::Other,
        };
        let awaited = machine::awaits_reply(verb);
        self.awaiting = awaited;
        self.expect_reply(slot, awaited, command);
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

    fn client_tls(&mut self, bytes: &[u8], frame: u64) {
        self.client_tls_started = true;
        if let Some(sniffer) = self.sniffer.as_mut() {
            sniffer.feed(Direction::ToServer, bytes, frame);
        }
    }

    // ---- server side -------------------------------------------------------------------

    fn process_server(&mut self) {
        while !self.server_tls {
            if looks_like_tls_record(self.server.peek()) {
                self.tls_unannounced();
                return;
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
        // The reply to STARTTLS switched the server to TLS: what follows it in the buffer
        // was sent after the 220.
        let rest = self.server.peek().to_vec();
        let frame = self.server.front_frame();
        self.server.consume(rest.len());
        if !rest.is_empty() {
            self.server_tls_bytes(&rest, frame);
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
                None => self.greeting_expected = false,
            }
            return;
        };
        let reply = self.partial_reply.get_or_insert_with(|| Reply {
            code: parsed.code,
            frame,
            lines: Vec::new(),
            lines_dropped: 0,
            partial: false,
        });
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
        if reply.code == 334 && self.awaiting.is_none() && self.client_mode == ClientMode::Commands
        {
            // A challenge to an AUTH the capture did not show (it starts mid-exchange): the
            // client's next line is a credential all the same (RFC 4954 §4).
            self.client_mode = ClientMode::SaslResponse;
        }
        if self.greeting_expected {
            self.greeting_expected = false;
            // With the connection's start in the capture, the first reply is the greeting
            // whatever it says. Without it, only a greeting code (RFC 5321 §4.2: 220, or 554
            // refusing service) answering no command we saw can be one; a `250` there answers
            // a command from before the capture began.
            let greeting_code = matches!(reply.code, 220 | 554);
            if self.record.handshake_seen || (self.pending.is_empty() && greeting_code) {
                self.record.dialogue_start_seen = true;
                self.record.greeting = Some(reply);
                return;
            }
        }
        let Some(pending) = self.pending.pop_front() else {
            return;
        };
        let code = reply.code;
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
                }
            }
            Slot::Other => {}
        }
        if let Some(awaited) = pending.awaited {
            if self.awaiting == Some(awaited) {
                self.awaiting = None;
                self.client_mode = machine::after_reply(awaited, code);
                if awaited == Awaited::StartTls {
                    self.check_command_injection();
                    if self.client_mode == ClientMode::Tls {
                        self.server_tls = true;
                        self.sniffer = Some(Box::default());
                    }
                }
                self.process_client();
            }
        }
    }

    /// S8: client bytes that followed `STARTTLS` before the server had answered it.
    fn check_command_injection(&mut self) {
        let held = self.client.peek();
        let is_client_hello = held.len() >= 2 && held[0] == 0x16 && held[1] == 3;
        if !held.is_empty() && !is_client_hello && self.record.command_injection.is_none() {
            self.record.command_injection = Some(Evidence {
                direction: Direction::ToServer,
                frame: self.client.front_frame(),
                bytes: WireText::new(&redact_credentials(held)),
            });
        }
        if self.client_mode == ClientMode::Tls && !is_client_hello {
            // Injected commands are never TLS: do not let them count as the handshake.
            self.client.consume(self.client.len());
        }
    }

    fn server_tls_bytes(&mut self, bytes: &[u8], frame: u64) {
        if !self.client_tls_started && !self.record.implicit_tls {
            // S9: the server spoke after its 220 before the client began TLS.
            if self.record.response_injection.is_none() {
                self.record.response_injection = Some(Evidence {
                    direction: Direction::ToClient,
                    frame,
                    bytes: WireText::new(bytes),
                });
            }
            return;
        }
        if let Some(sniffer) = self.sniffer.as_mut() {
            sniffer.feed(Direction::ToClient, bytes, frame);
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
            if self.greeting_expected && self.record.greeting.is_none() {
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
