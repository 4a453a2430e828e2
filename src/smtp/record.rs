//! What a session leaves behind: the facts classification and reporting need, and nothing
//! that could grow without bound (every list here is capped) or leak a credential (AUTH
//! arguments and SASL responses are never stored).

use std::net::SocketAddr;

use serde::Serialize;

use super::parse::{self, Verb};
use crate::capture::Timestamp;
use crate::text::WireText;
use crate::tls::TlsFacts;
use crate::Direction;

/// A complete reply: its code, the frame of its first line, and its lines as sent.
#[derive(Clone, Debug, Serialize)]
pub struct Reply {
    pub code: u16,
    pub frame: u64,
    pub lines: Vec<WireText>,
    /// Lines beyond the cap that were not kept.
    #[serde(skip_serializing_if = "is_zero")]
    pub lines_dropped: u32,
    /// Part of the reply is missing from the capture (a gap inside it, or the capture ended).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
}

impl Reply {
    /// The first line as sent, e.g. `454 4.7.0 TLS not available due to local problem`.
    pub fn first_line(&self) -> &WireText {
        &self.lines[0]
    }

    /// The text of each line after its code and separator; `None` for a line without a code.
    pub fn texts(&self) -> impl Iterator<Item = Option<&[u8]>> {
        self.lines
            .iter()
            .map(|l| parse::reply_line(l.as_bytes()).map(|r| r.text))
    }

    /// The EHLO keywords as sent, with their line index (every line but the first, which is
    /// the greeting).
    pub fn ehlo_keywords(&self) -> impl Iterator<Item = (usize, &[u8])> {
        self.texts()
            .enumerate()
            .skip(1)
            .filter_map(|(i, text)| Some((i, parse::ehlo_keyword(text?)?.0)))
    }

    /// Whether the EHLO reply lists `keyword` (keywords are case-insensitive).
    pub fn offers(&self, keyword: &str) -> bool {
        self.ehlo_keywords()
            .any(|(_, k)| k.eq_ignore_ascii_case(keyword.as_bytes()))
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A client command as recorded: AUTH keeps only its mechanism.
#[derive(Clone, Debug, Serialize)]
pub struct Command {
    pub verb: Verb,
    pub frame: u64,
    /// The line as sent, except for AUTH, where it is `AUTH <mechanism> [redacted]`.
    pub line: WireText,
}

/// A command and the reply it got (none if the capture holds none).
#[derive(Clone, Debug, Serialize)]
pub struct Exchange {
    pub command: Command,
    pub reply: Option<Reply>,
}

/// Bytes that should not be where they are (injections, plaintext after the upgrade).
#[derive(Clone, Debug, Serialize)]
pub struct Evidence {
    pub direction: Direction,
    pub frame: u64,
    pub bytes: WireText,
}

/// AUTH seen in cleartext.
#[derive(Clone, Debug, Serialize)]
pub struct AuthUse {
    pub frame: u64,
    /// The SASL mechanism (`PLAIN`, `LOGIN`, `XOAUTH2`...), never the credential.
    pub mechanism: String,
}

/// Bytes the capture does not hold.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Gap {
    pub direction: Direction,
    pub frame: u64,
    pub bytes: u64,
}

/// How the session ended, as far as the capture tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "how")]
pub enum End {
    /// Both sides sent FIN.
    Closed,
    /// One side sent FIN and the capture ended (or the flow went idle) before the other did.
    HalfClosed {
        by: Direction,
    },
    Reset {
        by: Direction,
    },
    /// The input ended with the connection open.
    CaptureEnded,
    /// No packet for longer than the idle timeout.
    IdleTimeout,
    /// Pushed out of the flow table to keep memory bounded.
    Evicted,
}

impl End {
    /// The connection was torn down (FIN or RST), rather than lost from sight.
    pub fn is_teardown(self) -> bool {
        matches!(
            self,
            End::Closed | End::HalfClosed { .. } | End::Reset { .. }
        )
    }
}

/// One line of the dialogue for the transcript view (only kept when asked for).
#[derive(Clone, Debug, Serialize)]
pub struct TranscriptLine {
    pub direction: Direction,
    pub frame: u64,
    pub text: WireText,
}

/// Everything known about one SMTP session when it ends.
#[derive(Clone, Debug, Serialize)]
pub struct SessionRecord {
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub first_frame: u64,
    pub last_frame: u64,
    #[serde(skip)]
    pub first_time: Timestamp,
    #[serde(skip)]
    pub last_time: Timestamp,
    /// The connection's SYN is in the capture.
    pub handshake_seen: bool,
    /// The dialogue's start is in the capture: a server greeting, or a ClientHello first.
    pub dialogue_start_seen: bool,
    pub greeting: Option<Reply>,
    /// EHLO/HELO/LHLO commands and their replies, in order (capped).
    pub hello: Vec<Exchange>,
    /// The latest STARTTLS and its reply: the one that decides.
    pub starttls: Option<Exchange>,
    /// The first STARTTLS answered with anything but `220` (the same as `starttls` when that
    /// one was refused; an earlier one when a later STARTTLS was accepted).
    pub starttls_refused: Option<Exchange>,
    /// Client commands pipelined behind a STARTTLS that was refused (read in plaintext).
    pub starttls_pipelined: Option<Evidence>,
    /// TLS from the first byte (port 465 style).
    pub implicit_tls: bool,
    /// TLS records appeared without the STARTTLS exchange that announces them being in the
    /// capture (lost in a gap, or before the capture began).
    pub tls_unannounced: bool,
    /// What the TLS sniffer saw, set when the session ends (boxed: over 400 bytes that a
    /// session still open, or one without TLS, would carry for nothing).
    pub tls: Option<Box<TlsFacts>>,
    pub tls_established: bool,
    pub tls_failed: bool,
    pub command_injection: Option<Evidence>,
    pub response_injection: Option<Evidence>,
    /// Cleartext where TLS was due, from either side.
    pub plaintext_after_upgrade: Option<Evidence>,
    /// After the client went on in plaintext past `220`, the frame of the first server reply
    /// that accepted one of its commands: a plaintext dialogue on both sides.
    pub plaintext_answered: Option<u64>,
    /// Frame where the client began TLS although STARTTLS was not answered `220`.
    pub tls_without_220: Option<u64>,
    pub auth_in_clear: Option<AuthUse>,
    /// The first MAIL/RCPT/DATA/BDAT sent in cleartext.
    pub mail_in_clear: Option<Command>,
    /// The first 530 reply in cleartext (RFC 3207: must issue STARTTLS first).
    pub tls_required: Option<Exchange>,
    /// Client lines of X's, or STARTTLS, answered 500/502 (capped).
    pub masked_commands: Vec<Exchange>,
    /// Frame of the client's latest command line.
    pub last_command_frame: Option<u64>,
    pub gaps: Vec<Gap>,
    pub gap_bytes: u64,
    /// A memory bound was reached (a backlog over `--max-buffer`, too many unanswered
    /// commands): some bytes of the plaintext dialogue were not parsed.
    pub limits_hit: bool,
    /// The capture holds packets of this direction only (set by the analyzer at the end).
    pub one_direction: Option<Direction>,
    pub end: End,
    /// Lines of the plaintext dialogue (empty unless a transcript was asked for).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub transcript: Vec<TranscriptLine>,
}
