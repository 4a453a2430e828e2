//! What a session leaves behind: the facts classification and reporting need, and nothing
//! that could grow without bound (every list here is capped) or leak a credential (AUTH
//! arguments and SASL responses are never stored).

use std::fmt;
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
    /// The reply code of its first line (RFC 5321 §4.2); only codes are judged, never texts.
    pub code: u16,
    /// The frame carrying the first line.
    pub frame: u64,
    /// The lines without their CRLF, as sent (capped); the first one always exists.
    pub lines: Vec<WireText>,
    /// Lines beyond the cap that were not kept.
    #[serde(skip_serializing_if = "is_zero")]
    pub lines_dropped: u32,
    /// Part of the reply is missing from the capture (a gap inside it, or the capture ended).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
    /// A line after the first lists the EHLO keyword STARTTLS: found as the reply is read,
    /// asked by many (classification, the offer history, the server view).
    #[serde(skip)]
    pub(crate) lists_starttls: bool,
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

    /// Whether the EHLO reply lists STARTTLS (keywords are case-insensitive).
    pub fn offers_starttls(&self) -> bool {
        debug_assert_eq!(
            self.lists_starttls,
            self.ehlo_keywords().any(|(_, k)| is_starttls(k)),
            "{self:?}"
        );
        self.lists_starttls
    }
}

/// Whether an EHLO keyword is STARTTLS.
pub(super) fn is_starttls(keyword: &[u8]) -> bool {
    keyword.eq_ignore_ascii_case(b"STARTTLS")
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A client command as recorded: AUTH keeps only its mechanism.
#[derive(Clone, Debug, Serialize)]
pub struct Command {
    /// What the command is.
    pub verb: Verb,
    /// The frame carrying the end of the line.
    pub frame: u64,
    /// The line as sent, except for AUTH, where it is `AUTH <mechanism> [redacted]`.
    pub line: WireText,
}

/// A command and the reply it got (none if the capture holds none).
#[derive(Clone, Debug, Serialize)]
pub struct Exchange {
    /// The client's command.
    pub command: Command,
    /// The server's reply to it, if the capture holds one.
    pub reply: Option<Reply>,
}

/// Bytes that should not be where they are (injections, plaintext after the upgrade).
#[derive(Clone, Debug, Serialize)]
pub struct Evidence {
    /// Who sent them.
    pub direction: Direction,
    /// The frame carrying the first of them.
    pub frame: u64,
    /// The first of the bytes (capped), as sent.
    pub bytes: WireText,
}

/// AUTH seen in cleartext.
#[derive(Clone, Debug, Serialize)]
pub struct AuthUse {
    /// The frame of the `AUTH` command.
    pub frame: u64,
    /// The SASL mechanism (`PLAIN`, `LOGIN`, `XOAUTH2`...), never the credential.
    pub mechanism: String,
}

/// Bytes the capture does not hold.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Gap {
    /// The direction missing bytes.
    pub direction: Direction,
    /// The frame where the loss was noticed.
    pub frame: u64,
    /// How many bytes are missing.
    pub bytes: u64,
}

/// How the session ended, as far as the capture tells. Serialized as `{"how": "reset",
/// "by": "to-client"}`; `Display` gives a few words (`reset by the server`). More cases may
/// be added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "how")]
#[non_exhaustive]
pub enum End {
    /// Both sides sent FIN.
    Closed,
    /// One side sent FIN and the capture ended (or the flow went idle) before the other did.
    HalfClosed {
        /// The direction whose sender sent the FIN.
        by: Direction,
    },
    /// A TCP RST.
    Reset {
        /// The direction whose sender sent the RST.
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

/// `closed`, `half-closed by the client`, `reset by the server`, `capture ended`,
/// `idle timeout`, `evicted`.
impl fmt::Display for End {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let by = |dir: Direction| match dir {
            Direction::ToServer => "the client",
            Direction::ToClient => "the server",
        };
        match *self {
            End::Closed => f.write_str("closed"),
            End::HalfClosed { by: dir } => write!(f, "half-closed by {}", by(dir)),
            End::Reset { by: dir } => write!(f, "reset by {}", by(dir)),
            End::CaptureEnded => f.write_str("capture ended"),
            End::IdleTimeout => f.write_str("idle timeout"),
            End::Evicted => f.write_str("evicted"),
        }
    }
}

/// One line of the dialogue for the transcript view (only kept when asked for).
#[derive(Clone, Debug, Serialize)]
pub struct TranscriptLine {
    /// Who sent it.
    pub direction: Direction,
    /// The frame carrying the end of the line.
    pub frame: u64,
    /// The line without its CRLF, as sent, except AUTH arguments and SASL responses, which are
    /// redacted.
    pub text: WireText,
}

/// Everything known about one SMTP session when it ends.
#[derive(Clone, Debug, Serialize)]
pub struct SessionRecord {
    /// The side that opened the connection (sent the SYN, or spoke as a client).
    pub client: SocketAddr,
    /// The side that accepted it (the SMTP server).
    pub server: SocketAddr,
    /// Number (from 1, as in Wireshark) of the connection's first frame in the capture.
    pub first_frame: u64,
    /// Number of its last frame.
    pub last_frame: u64,
    /// Capture time of the first frame.
    #[serde(skip)]
    pub first_time: Timestamp,
    /// Capture time of the last frame.
    #[serde(skip)]
    pub last_time: Timestamp,
    /// The connection's SYN is in the capture.
    pub handshake_seen: bool,
    /// The dialogue's start is in the capture: a server greeting, or a ClientHello first.
    pub dialogue_start_seen: bool,
    /// The server's greeting (`220 …`, or a refusal `554`/`421`).
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
    /// The TLS handshake went through: ServerHello, then encrypted records from both sides
    /// (in TLS 1.3, application data, the first not alert-sized), with no cleartext alert and
    /// no non-TLS bytes before.
    pub tls_established: bool,
    /// The TLS handshake failed: a cleartext alert that ends it, bytes that are not TLS, or
    /// (TLS 1.3) an alert-sized first encrypted record, before it was established.
    pub tls_failed: bool,
    /// Client bytes after `STARTTLS\r\n` and before the server's reply (S8, CVE-2011-0411).
    pub command_injection: Option<Evidence>,
    /// Server bytes after its `220` to STARTTLS and before its first TLS record (S9).
    pub response_injection: Option<Evidence>,
    /// Cleartext where TLS was due, from either side.
    pub plaintext_after_upgrade: Option<Evidence>,
    /// After the client went on in plaintext past `220`, the frame of the first server reply
    /// that accepted one of its commands: a plaintext dialogue on both sides.
    pub plaintext_answered: Option<u64>,
    /// Frame where the client began TLS although STARTTLS was not answered `220`.
    pub tls_without_220: Option<u64>,
    /// The first AUTH sent in cleartext (its mechanism only).
    pub auth_in_clear: Option<AuthUse>,
    /// The first MAIL/RCPT/DATA/BDAT sent in cleartext.
    pub mail_in_clear: Option<Command>,
    /// The first 530 reply in cleartext (RFC 3207: must issue STARTTLS first).
    pub tls_required: Option<Exchange>,
    /// Client lines of X's, or STARTTLS, answered 500/502 (capped).
    pub masked_commands: Vec<Exchange>,
    /// Frame of the client's latest command line.
    pub last_command_frame: Option<u64>,
    /// Holes in the capture, in order (capped).
    pub gaps: Vec<Gap>,
    /// Bytes missing in all holes, including those beyond the cap of `gaps`.
    pub gap_bytes: u64,
    /// A memory bound was reached (a backlog over `--max-buffer`, too many unanswered
    /// commands): some bytes of the plaintext dialogue were not parsed.
    pub limits_hit: bool,
    /// The capture holds packets of this direction only (set by the analyzer at the end).
    pub one_direction: Option<Direction>,
    /// How the connection ended.
    pub end: End,
    /// Lines of the plaintext dialogue (empty unless a transcript was asked for).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub transcript: Vec<TranscriptLine>,
}

impl SessionRecord {
    /// Whether bytes of this direction are missing from the capture.
    pub fn has_gap(&self, dir: Direction) -> bool {
        self.gaps.iter().any(|g| g.direction == dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_print_in_words() {
        assert_eq!(End::Closed.to_string(), "closed");
        let by = Direction::ToServer;
        assert_eq!(
            End::HalfClosed { by }.to_string(),
            "half-closed by the client"
        );
        let by = Direction::ToClient;
        assert_eq!(End::Reset { by }.to_string(), "reset by the server");
        assert_eq!(End::CaptureEnded.to_string(), "capture ended");
        assert_eq!(End::IdleTimeout.to_string(), "idle timeout");
        assert_eq!(End::Evicted.to_string(), "evicted");
    }
}
