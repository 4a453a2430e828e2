//! JSON output: the `mailtap/1` schema. This module is the contract; change it only by adding
//! fields.
//!
//! `--format json` writes one document:
//!
//! ```json
//! { "schema": "mailtap/1", "sessions": [SESSION, ...], "summary": SUMMARY }
//! ```
//!
//! `--format jsonl` writes one SESSION object per line as each session ends (flushed at once
//! in a live capture, in 64 KiB blocks from files), then nothing else (the summary goes to
//! standard error in the table format's words).
//!
//! SESSION:
//! - `capture`: the input it came from (path, or `-` for standard input)
//! - `client`, `server`: `ip:port`, or `[v6]:port`
//! - `verdict`: one of `upgraded`, `implicit-tls`, `not-offered`, `stripped`, `not-used`,
//!   `rejected`, `handshake-failed`, `no-ehlo`, `refused`, `incomplete`
//! - `findings`: `[{ "kind", "severity" ("info"|"warning"|"high"), "frame", "evidence" }]`,
//!   kinds as in the README glossary
//! - `tls_rpt`: RFC 8460 result types this session maps to (`starttls-not-supported`,
//!   `certificate-expired`, `certificate-host-mismatch`, `certificate-not-trusted`,
//!   `validation-failure`)
//! - `first_frame`, `last_frame`: frame numbers as Wireshark shows them;
//!   `first_time`, `last_time`: RFC 3339 UTC
//! - `handshake_seen`: the TCP SYN is in the capture; `end`: `{ "how": "closed" | "half-closed"
//!   | "reset" | "capture-ended" | "idle-timeout" | "evicted", "by"?: "to-server"|"to-client" }`
//! - `banner`: the greeting `{ "code", "frame", "lines": [...] }` or null
//! - `hello`: `[{ "command": { "verb", "frame", "line" }, "reply": REPLY|null }]` (EHLO/HELO)
//! - `ehlo_keywords`: the keywords of the first EHLO reply that was accepted, as sent
//! - `starttls`: `{ "command": {...}, "reply": REPLY|null }` or null
//! - `implicit_tls`: TLS from the first byte
//! - `tls_unannounced`: TLS records appeared but the STARTTLS exchange that announced them is
//!   not in the capture (gap, or capture started mid-way): the verdict is then `incomplete`
//! - `tls`: null, or `{ "established", "failed", "client_hello": { "frame", "legacy_version",
//!   "supported_versions", "sni" }, "server_hello": { "frame", "version", "cipher",
//!   "downgrade_sentinel" }, "certificate": { "subject", "issuer", "dns_names", "not_before",
//!   "not_after", "self_signed", ... } (TLS ≤ 1.2 only: in TLS 1.3 it is encrypted and `null`),
//!   "certificate_visibility": "visible" | "not visible (TLS 1.3)" | "not visible (resumed)" |
//!   "not seen" (why `certificate` is null: never read a null certificate as "fine"),
//!   "alerts": [{ "dir", "frame", "level", "description" }], "not_tls": {...} }`
//! - `auth`: `{ "frame", "mechanism" }` when AUTH was used in cleartext (never the credential)
//! - `gap_bytes`: bytes missing from the capture in this session
//! - `limits_hit`: a memory bound was reached and some plaintext was not parsed
//!
//!
//! SUMMARY: `{ "frames", "bytes", "sessions", "verdicts": {name: count}, "findings": {name:
//! sessions with it}, "connections": { "attempted", "refused", "unanswered" }, "skipped": {
//! "not_tcp", "ip_fragments", "truncated", "unsupported_link" }, "tcp": {
//! "retransmitted_segments", "overlapping_segments", "out_of_order_segments", "gap_bytes" },
//! "evicted_flows", "not_smtp" (connections with data on an SMTP port whose bytes were not
//! SMTP: no session), "errors":
//! ["FILE: at byte offset N: ..."], "capture"?: { "received", "dropped", "if_dropped" } }`;
//! `capture` is there only for a live capture (`-i`): packets that passed the filter, dropped by
//! the kernel (no room in the buffer) and dropped by the interface, as libpcap counts them.
//!
//! Text from the wire is kept recoverable: invalid UTF-8 bytes appear as `\xNN` and a literal
//! backslash as `\\` (after JSON's own escaping).

use std::fmt::Display;
use std::net::SocketAddr;

use serde::{Serialize, Serializer};

use crate::analyzer::Summary;
use crate::capture::{CaptureStats, Timestamp};
use crate::classify::{Finding, SessionReport};
use crate::smtp::record::{AuthUse, End, Exchange, Reply};
use crate::tls::TlsFacts;

pub const SCHEMA: &str = "mailtap/1";

#[derive(Serialize)]
pub struct SessionJson<'a> {
    capture: &'a str,
    #[serde(serialize_with = "as_text")]
    client: SocketAddr,
    #[serde(serialize_with = "as_text")]
    server: SocketAddr,
    verdict: &'static str,
    findings: &'a [Finding],
    tls_rpt: Vec<&'static str>,
    first_frame: u64,
    last_frame: u64,
    #[serde(serialize_with = "as_text")]
    first_time: Timestamp,
    #[serde(serialize_with = "as_text")]
    last_time: Timestamp,
    handshake_seen: bool,
    end: End,
    banner: Option<&'a Reply>,
    hello: &'a [Exchange],
    ehlo_keywords: EhloKeywords<'a>,
    starttls: Option<&'a Exchange>,
    implicit_tls: bool,
    tls_unannounced: bool,
    tls: Option<TlsJson<'a>>,
    auth: Option<&'a AuthUse>,
    gap_bytes: u64,
    limits_hit: bool,
}

#[derive(Serialize)]
struct TlsJson<'a> {
    established: bool,
    failed: bool,
    #[serde(flatten)]
    facts: &'a TlsFacts,
}

impl<'a> SessionJson<'a> {
    pub fn new(capture: &'a str, report: &'a SessionReport) -> Self {
        let r = &report.record;
        SessionJson {
            capture,
            client: r.client,
            server: r.server,
            verdict: report.verdict.name(),
            findings: &report.findings,
            tls_rpt: report.tls_rpt(),
            first_frame: r.first_frame,
            last_frame: r.last_frame,
            first_time: r.first_time,
            last_time: r.last_time,
            handshake_seen: r.handshake_seen,
            end: r.end,
            banner: r.greeting.as_ref(),
            hello: &r.hello,
            ehlo_keywords: EhloKeywords(crate::classify::ehlo_offer(r)),
            starttls: r.starttls.as_ref(),
            implicit_tls: r.implicit_tls,
            tls_unannounced: r.tls_unannounced,
            tls: r.tls.as_deref().map(|facts| TlsJson {
                established: r.tls_established,
                failed: r.tls_failed,
                facts,
            }),
            auth: r.auth_in_clear.as_ref(),
            gap_bytes: r.gap_bytes,
            limits_hit: r.limits_hit,
        }
    }
}

/// A value written as its `Display` text, without building a `String` first.
fn as_text<T: Display, S: Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

/// The keywords of the EHLO reply that counts, as sent (invalid UTF-8 replaced).
struct EhloKeywords<'a>(Option<&'a Reply>);

impl Serialize for EhloKeywords<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let keywords = self.0.into_iter().flat_map(|reply| reply.ehlo_keywords());
        serializer.collect_seq(keywords.map(|(_, k)| String::from_utf8_lossy(k)))
    }
}

/// The summary with the input errors met on the way.
#[derive(Serialize)]
pub struct SummaryJson<'a> {
    #[serde(flatten)]
    pub summary: &'a Summary,
    pub errors: &'a [String],
    /// Packet counts of a live capture; absent for files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture: Option<&'a CaptureStats>,
}

#[derive(Serialize)]
pub struct Document<'a> {
    pub schema: &'static str,
    pub sessions: Vec<SessionJson<'a>>,
    pub summary: SummaryJson<'a>,
}
