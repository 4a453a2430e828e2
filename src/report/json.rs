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
//! Every field below is written from the wire-only types of this module, and only those: a
//! field is in the contract when this list names it. Optional members marked `?` are left out
//! when they do not apply. `DIR` is `"to-server"` (sent by the client) or `"to-client"` (sent
//! by the server); `VERSION` is `{ "code": 771, "name": "TLS 1.2" }`; `CIPHER` is `{ "code",
//! "name" }` (IANA name, or hex when unknown); `FRAME` a frame number as Wireshark shows it.
//!
//! SESSION:
//! - `capture`: the input it came from (path, or `-` for standard input)
//! - `client`, `server`: `ip:port`, or `[v6]:port`
//! - `verdict`: one of `upgraded`, `implicit-tls`, `not-offered`, `stripped`, `not-used`,
//!   `rejected`, `handshake-failed`, `no-ehlo`, `refused`, `incomplete`
//! - `findings`: `[{ "kind", "severity" ("info"|"warning"|"high"), "frame", "evidence" }]`,
//!   kinds as in the README glossary; `frame` is 0 when no single frame shows it
//! - `reason`: `{ "frame", "text", "line"? }` — why the session got its verdict: the frame of
//!   the decisive line or event, a short sentence in mailtap's words (`STARTTLS refused (454)`,
//!   `protocol_version (70) from the server`, `capture ends after EHLO`, `TLS 1.3,
//!   TLS_AES_256_GCM_SHA384`...), and `line`, the decisive line as sent, when there is one (the
//!   454 reply, the masked keyword, the HELO command, the bytes that are not TLS). The table
//!   shows it as its `reason` column and the transcript ends each session with it. `frame` is 0
//!   when no single frame shows it
//! - `tls_rpt`: RFC 8460 result types this session maps to (`starttls-not-supported`,
//!   `certificate-expired`, `certificate-host-mismatch`, `certificate-not-trusted`,
//!   `validation-failure`)
//! - `first_frame`, `last_frame`: frame numbers as Wireshark shows them;
//!   `first_time`, `last_time`: RFC 3339 UTC with microseconds
//! - `handshake_seen`: the TCP SYN is in the capture
//! - `end`: `{ "how": "closed" | "half-closed" | "reset" | "capture-ended" | "idle-timeout" |
//!   "evicted", "by"?: DIR }` (`by` for `half-closed` and `reset`: who sent the FIN or RST)
//! - `banner`: the greeting, a REPLY, or null
//! - `hello`: `[{ "command": COMMAND, "reply": REPLY|null }]` (EHLO/HELO/LHLO, in order)
//! - `ehlo_keywords`: the keywords of the first EHLO reply that was accepted, as sent
//! - `starttls`: `{ "command": COMMAND, "reply": REPLY|null }` or null
//! - `implicit_tls`: TLS from the first byte
//! - `tls_unannounced`: TLS records appeared but the STARTTLS exchange that announced them is
//!   not in the capture (gap, or capture started mid-way): the verdict is then `incomplete`
//! - `tls`: null, or TLS
//! - `auth`: `{ "frame", "mechanism" }` when AUTH was used in cleartext (never the credential)
//! - `gap_bytes`: bytes missing from the capture in this session
//! - `limits_hit`: a memory bound was reached and some plaintext was not parsed
//!
//! COMMAND: `{ "verb", "frame", "line" }` — `verb` one of `EHLO`, `HELO`, `LHLO`, `STARTTLS`,
//! `AUTH`, `MAIL`, `RCPT`, `DATA`, `BDAT`, `RSET`, `NOOP`, `QUIT`, `OTHER`; `line` as sent
//! (AUTH: `AUTH <mechanism> [redacted]`).
//!
//! REPLY: `{ "code", "frame", "lines": [...], "lines_dropped"?, "partial"? }` — `frame` of its
//! first line, `lines` as sent (at most 64), `lines_dropped` how many more were not kept,
//! `partial: true` when part of the reply is missing from the capture.
//!
//! TLS: `{ "established", "failed", "client_hello", "server_hello", "hello_retry_request",
//! "certificate", "certificate_visibility", "alerts", "encrypted_alert", "not_tls",
//! "malformed" }`:
//! - `established`: ServerHello seen, then encrypted records from both sides; `failed`: an
//!   alert, a reset or bytes that are not TLS ended the handshake
//! - `client_hello`: null or `{ "frame", "legacy_version": VERSION, "supported_versions":
//!   [VERSION], "sni": string|null, "sslv2_format", "offers_tls13" }`
//! - `server_hello`: null or `{ "frame", "version": VERSION (the negotiated one),
//!   "legacy_version": VERSION, "cipher": CIPHER, "downgrade_sentinel": null | "tls12" |
//!   "tls11-or-below" }`
//! - `hello_retry_request`: the frame of a HelloRetryRequest, or null
//! - `certificate`: null (TLS 1.3: encrypted, not visible) or `{ "frame", "subject",
//!   "issuer", "subject_cn": string|null, "dns_names": [...], "not_before", "not_after" (Unix
//!   seconds), "self_issued", "self_signed", "chain_len" }`
//! - `certificate_visibility`: `"visible"` | `"not visible (TLS 1.3)"` | `"not visible
//!   (resumed)"` | `"not seen"` — why `certificate` is null: never read a null certificate as
//!   "fine"
//! - `alerts`: cleartext alerts in order (at most 8), `[{ "dir": DIR, "frame", "level" (1
//!   warning, 2 fatal), "description" (the code), "name" ("protocol_version",
//!   "unknown(N)"...) }]`
//! - `encrypted_alert`: TLS 1.3, a first encrypted record of exactly an alert's size: null or
//!   `{ "dir": DIR, "frame", "len" }`
//! - `not_tls`: null or `{ "dir": DIR, "frame", "bytes" (escaped as on a terminal),
//!   "tls_seen_before" }`: the first bytes where TLS was due that are not a TLS record
//! - `malformed`: messages that could not be parsed (at most 8), `[{ "dir": DIR, "frame",
//!   "what" }]`
//!
//! SUMMARY: `{ "frames", "bytes", "sessions", "verdicts": {name: count}, "findings": {name:
//! sessions with it}, "connections": { "attempted", "refused", "unanswered" }, "skipped": {
//! "not_tcp", "ip_fragments", "truncated", "unsupported_link" }, "tcp": {
//! "retransmitted_segments", "overlapping_segments", "out_of_order_segments", "gap_bytes" },
//! "evicted_flows", "not_smtp", "errors": ["FILE: at byte offset N: ..."], "capture"?: {
//! "received",
//! "dropped", "if_dropped" } }`; `capture` is there only for a live capture (`-i`): packets
//! that passed the filter, dropped by the kernel (no room in the buffer) and dropped by the
//! interface, as libpcap counts them; `not_smtp`: connections with data on an SMTP port whose
//! bytes were not SMTP at all (no session). The summary counts every session, whatever
//! `--only` lists.
//!
//! The JSON Schema of this document is `schema/mailtap-1.schema.json` (draft 2020-12); the
//! tests validate real output against it.
//!
//! Text from the wire is kept recoverable: invalid UTF-8 bytes appear as `\xNN` and a literal
//! backslash as `\\` (after JSON's own escaping).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Display;
use std::net::SocketAddr;

use serde::ser::SerializeSeq;
use serde::{Serialize, Serializer};

use crate::analyzer::Summary;
use crate::capture::{CaptureStats, Timestamp};
use crate::classify::{Finding, Reason, SessionReport};
use crate::smtp::record::{AuthUse, Command, End, Exchange, Reply};
use crate::text::WireText;
use crate::tls::{Alert, Certificate, ClientHello, ServerHello, TlsFacts, TlsVersion};
use crate::Direction;

/// The `schema` of the JSON document.
pub const SCHEMA: &str = "mailtap/1";

/// One session as the contract above lays it out (a JSON Lines line, or an element of
/// `sessions`).
#[derive(Serialize)]
pub(crate) struct SessionJson<'a> {
    capture: &'a str,
    #[serde(serialize_with = "address")]
    client: SocketAddr,
    #[serde(serialize_with = "address")]
    server: SocketAddr,
    verdict: &'static str,
    #[serde(serialize_with = "findings")]
    findings: &'a [Finding],
    // Right after `findings`: `report::JsonLines` adds a finding to a rendered line there.
    reason: ReasonJson<'a>,
    tls_rpt: Vec<&'static str>,
    first_frame: u64,
    last_frame: u64,
    #[serde(serialize_with = "as_text")]
    first_time: Timestamp,
    #[serde(serialize_with = "as_text")]
    last_time: Timestamp,
    handshake_seen: bool,
    end: EndJson,
    banner: Option<ReplyJson<'a>>,
    #[serde(serialize_with = "exchanges")]
    hello: &'a [Exchange],
    ehlo_keywords: EhloKeywords<'a>,
    starttls: Option<ExchangeJson<'a>>,
    implicit_tls: bool,
    tls_unannounced: bool,
    tls: Option<TlsJson<'a>>,
    auth: Option<AuthJson<'a>>,
    gap_bytes: u64,
    limits_hit: bool,
}

impl<'a> SessionJson<'a> {
    /// The session `report` of the input named `capture`.
    pub(crate) fn new(capture: &'a str, report: &'a SessionReport) -> Self {
        let r = &report.record;
        SessionJson {
            capture,
            client: r.client,
            server: r.server,
            verdict: report.verdict.name(),
            findings: &report.findings,
            reason: ReasonJson::new(&report.reason),
            tls_rpt: report.tls_rpt(),
            first_frame: r.first_frame,
            last_frame: r.last_frame,
            first_time: r.first_time,
            last_time: r.last_time,
            handshake_seen: r.handshake_seen,
            end: EndJson::new(r.end),
            banner: r.greeting.as_ref().map(ReplyJson::new),
            hello: &r.hello,
            ehlo_keywords: EhloKeywords(crate::classify::ehlo_offer(r)),
            starttls: r.starttls.as_ref().map(ExchangeJson::new),
            implicit_tls: r.implicit_tls,
            tls_unannounced: r.tls_unannounced,
            tls: r
                .tls
                .as_deref()
                .map(|facts| TlsJson::new(facts, r.tls_established, r.tls_failed)),
            auth: r.auth_in_clear.as_ref().map(AuthJson::new),
            gap_bytes: r.gap_bytes,
            limits_hit: r.limits_hit,
        }
    }
}

/// A value written as its `Display` text, without building a `String` first.
fn as_text<T: Display, S: Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

/// `ip:port` or `[v6]:port`, as `SocketAddr` shows it; IPv4 without the formatting machinery,
/// which took a twentieth of writing a session.
fn address<S: Serializer>(address: &SocketAddr, serializer: S) -> Result<S::Ok, S::Error> {
    let SocketAddr::V4(v4) = address else {
        return serializer.collect_str(address);
    };
    let mut text = [0u8; 21]; // 255.255.255.255:65535
    let mut len = 0;
    let mut put = |piece: &str| {
        text[len..len + piece.len()].copy_from_slice(piece.as_bytes());
        len += piece.len();
    };
    for (i, octet) in v4.ip().octets().into_iter().enumerate() {
        if i > 0 {
            put(".");
        }
        put(itoa::Buffer::new().format(octet));
    }
    put(":");
    put(itoa::Buffer::new().format(v4.port()));
    serializer.serialize_str(std::str::from_utf8(&text[..len]).expect("digits, dots, a colon"))
}

fn dir(d: Direction) -> &'static str {
    match d {
        Direction::ToServer => "to-server",
        Direction::ToClient => "to-client",
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// One element of `findings`.
#[derive(Serialize)]
pub(crate) struct FindingJson<'a> {
    kind: &'static str,
    severity: &'static str,
    frame: u64,
    evidence: &'a WireText,
}

impl<'a> FindingJson<'a> {
    pub(crate) fn new(f: &'a Finding) -> Self {
        FindingJson {
            kind: f.kind.name(),
            severity: f.severity.name(),
            frame: f.frame,
            evidence: &f.evidence,
        }
    }
}

fn findings<S: Serializer>(findings: &&[Finding], serializer: S) -> Result<S::Ok, S::Error> {
    let mut seq = serializer.serialize_seq(Some(findings.len()))?;
    for f in findings.iter() {
        seq.serialize_element(&FindingJson::new(f))?;
    }
    seq.end()
}

#[derive(Serialize)]
struct ReasonJson<'a> {
    frame: u64,
    text: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<&'a WireText>,
}

impl<'a> ReasonJson<'a> {
    fn new(r: &'a Reason) -> Self {
        ReasonJson {
            frame: r.frame,
            text: &r.text,
            line: r.line.as_ref(),
        }
    }
}

#[derive(Serialize)]
struct EndJson {
    how: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    by: Option<&'static str>,
}

impl EndJson {
    fn new(end: End) -> Self {
        let (how, by) = match end {
            End::Closed => ("closed", None),
            End::HalfClosed { by } => ("half-closed", Some(dir(by))),
            End::Reset { by } => ("reset", Some(dir(by))),
            End::CaptureEnded => ("capture-ended", None),
            End::IdleTimeout => ("idle-timeout", None),
            End::Evicted => ("evicted", None),
        };
        EndJson { how, by }
    }
}

#[derive(Serialize)]
struct ReplyJson<'a> {
    code: u16,
    frame: u64,
    lines: &'a [WireText],
    #[serde(skip_serializing_if = "is_zero")]
    lines_dropped: u32,
    #[serde(skip_serializing_if = "is_false")]
    partial: bool,
}

impl<'a> ReplyJson<'a> {
    fn new(r: &'a Reply) -> Self {
        ReplyJson {
            code: r.code,
            frame: r.frame,
            lines: &r.lines,
            lines_dropped: r.lines_dropped,
            partial: r.partial,
        }
    }
}

#[derive(Serialize)]
struct CommandJson<'a> {
    verb: crate::smtp::parse::Verb,
    frame: u64,
    line: &'a WireText,
}

impl<'a> CommandJson<'a> {
    fn new(c: &'a Command) -> Self {
        CommandJson {
            verb: c.verb,
            frame: c.frame,
            line: &c.line,
        }
    }
}

#[derive(Serialize)]
struct ExchangeJson<'a> {
    command: CommandJson<'a>,
    reply: Option<ReplyJson<'a>>,
}

impl<'a> ExchangeJson<'a> {
    fn new(e: &'a Exchange) -> Self {
        ExchangeJson {
            command: CommandJson::new(&e.command),
            reply: e.reply.as_ref().map(ReplyJson::new),
        }
    }
}

fn exchanges<S: Serializer>(list: &&[Exchange], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(list.iter().map(ExchangeJson::new))
}

#[derive(Serialize)]
struct AuthJson<'a> {
    frame: u64,
    mechanism: &'a str,
}

impl<'a> AuthJson<'a> {
    fn new(a: &'a AuthUse) -> Self {
        AuthJson {
            frame: a.frame,
            mechanism: &a.mechanism,
        }
    }
}

#[derive(Serialize)]
struct CodeName {
    code: u16,
    name: Cow<'static, str>,
}

fn version(v: TlsVersion) -> CodeName {
    CodeName {
        code: v.0,
        name: v.name(),
    }
}

fn versions<S: Serializer>(list: &&[TlsVersion], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(list.iter().map(|v| version(*v)))
}

#[derive(Serialize)]
struct ClientHelloJson<'a> {
    frame: u64,
    legacy_version: CodeName,
    #[serde(serialize_with = "versions")]
    supported_versions: &'a [TlsVersion],
    sni: Option<&'a str>,
    sslv2_format: bool,
    offers_tls13: bool,
}

impl<'a> ClientHelloJson<'a> {
    fn new(ch: &'a ClientHello) -> Self {
        ClientHelloJson {
            frame: ch.frame,
            legacy_version: version(ch.legacy_version),
            supported_versions: &ch.supported_versions,
            sni: ch.sni.as_deref(),
            sslv2_format: ch.sslv2_format,
            offers_tls13: ch.offers_tls13(),
        }
    }
}

#[derive(Serialize)]
struct ServerHelloJson {
    frame: u64,
    version: CodeName,
    legacy_version: CodeName,
    cipher: CodeName,
    downgrade_sentinel: Option<&'static str>,
}

impl ServerHelloJson {
    fn new(sh: &ServerHello) -> Self {
        ServerHelloJson {
            frame: sh.frame,
            version: version(sh.version),
            legacy_version: version(sh.legacy_version),
            cipher: CodeName {
                code: sh.cipher.0,
                name: sh.cipher.name(),
            },
            downgrade_sentinel: sh.downgrade_sentinel.map(|d| match d {
                crate::tls::DowngradeSentinel::Tls12 => "tls12",
                crate::tls::DowngradeSentinel::Tls11OrBelow => "tls11-or-below",
            }),
        }
    }
}

#[derive(Serialize)]
struct CertificateJson<'a> {
    frame: u64,
    subject: &'a str,
    issuer: &'a str,
    subject_cn: Option<&'a str>,
    dns_names: &'a [String],
    not_before: i64,
    not_after: i64,
    self_issued: bool,
    self_signed: bool,
    chain_len: usize,
}

impl<'a> CertificateJson<'a> {
    fn new(c: &'a Certificate) -> Self {
        CertificateJson {
            frame: c.frame,
            subject: &c.subject,
            issuer: &c.issuer,
            subject_cn: c.subject_cn.as_deref(),
            dns_names: &c.dns_names,
            not_before: c.not_before,
            not_after: c.not_after,
            self_issued: c.self_issued,
            self_signed: c.self_signed,
            chain_len: c.chain_len,
        }
    }
}

#[derive(Serialize)]
struct AlertJson {
    dir: &'static str,
    frame: u64,
    level: u8,
    description: u8,
    name: Cow<'static, str>,
}

impl AlertJson {
    fn new(a: &Alert) -> Self {
        AlertJson {
            dir: dir(a.dir),
            frame: a.frame,
            level: a.level,
            description: a.description.0,
            name: a.description.name(),
        }
    }
}

#[derive(Serialize)]
struct EncryptedAlertJson {
    dir: &'static str,
    frame: u64,
    len: u16,
}

#[derive(Serialize)]
struct NotTlsJson {
    dir: &'static str,
    frame: u64,
    bytes: String,
    tls_seen_before: bool,
}

#[derive(Serialize)]
struct MalformedJson<'a> {
    dir: &'static str,
    frame: u64,
    what: &'a str,
}

#[derive(Serialize)]
struct TlsJson<'a> {
    established: bool,
    failed: bool,
    client_hello: Option<ClientHelloJson<'a>>,
    server_hello: Option<ServerHelloJson>,
    hello_retry_request: Option<u64>,
    certificate: Option<CertificateJson<'a>>,
    certificate_visibility: &'static str,
    #[serde(serialize_with = "alerts")]
    alerts: &'a [Alert],
    encrypted_alert: Option<EncryptedAlertJson>,
    not_tls: Option<NotTlsJson>,
    #[serde(serialize_with = "malformed")]
    malformed: &'a [crate::tls::Malformed],
}

fn alerts<S: Serializer>(list: &&[Alert], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(list.iter().map(AlertJson::new))
}

fn malformed<S: Serializer>(
    list: &&[crate::tls::Malformed],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(list.iter().map(|m| MalformedJson {
        dir: dir(m.dir),
        frame: m.frame,
        what: &m.what,
    }))
}

impl<'a> TlsJson<'a> {
    fn new(t: &'a TlsFacts, established: bool, failed: bool) -> Self {
        TlsJson {
            established,
            failed,
            client_hello: t.client_hello.as_ref().map(ClientHelloJson::new),
            server_hello: t.server_hello.as_ref().map(ServerHelloJson::new),
            hello_retry_request: t.hello_retry_request,
            certificate: t.certificate.as_ref().map(CertificateJson::new),
            certificate_visibility: t.certificate_visibility.as_str(),
            alerts: &t.alerts,
            encrypted_alert: t.encrypted_alert.as_ref().map(|a| EncryptedAlertJson {
                dir: dir(a.dir),
                frame: a.frame,
                len: a.len,
            }),
            not_tls: t.not_tls.as_ref().map(|n| NotTlsJson {
                dir: dir(n.dir),
                frame: n.frame,
                bytes: n.escaped(),
                tls_seen_before: n.tls_seen_before,
            }),
            malformed: &t.malformed,
        }
    }
}

/// The keywords of the EHLO reply that counts, as sent.
struct EhloKeywords<'a>(Option<&'a Reply>);

impl Serialize for EhloKeywords<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let keywords = self.0.into_iter().flat_map(|reply| reply.ehlo_keywords());
        // A keyword is letters, digits and `-` (RFC 5321 §4.1.1.1; `parse::ehlo_keyword`):
        // ASCII, so always UTF-8.
        serializer.collect_seq(keywords.map(|(_, k)| std::str::from_utf8(k).unwrap_or("")))
    }
}

/// The summary with the input errors met on the way.
pub(crate) struct SummaryJson<'a> {
    pub summary: &'a Summary,
    pub errors: &'a [String],
    /// Packet counts of a live capture; absent for files.
    pub capture: Option<&'a CaptureStats>,
}

#[derive(Serialize)]
struct SummaryWire<'a> {
    frames: u64,
    bytes: u64,
    sessions: u64,
    verdicts: &'a BTreeMap<&'static str, u64>,
    findings: &'a BTreeMap<&'static str, u64>,
    connections: Counts<3>,
    skipped: Counts<4>,
    tcp: Counts<4>,
    evicted_flows: u64,
    not_smtp: u64,
    errors: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    capture: Option<Counts<3>>,
}

/// A small object of named counts.
struct Counts<const N: usize>([(&'static str, u64); N]);

impl<const N: usize> Serialize for Counts<N> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(k, v)| (*k, *v)))
    }
}

impl Serialize for SummaryJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let s = self.summary;
        let (a, k, t) = (&s.connections, &s.skipped, &s.tcp);
        SummaryWire {
            frames: s.frames,
            bytes: s.bytes,
            sessions: s.sessions,
            verdicts: &s.verdicts,
            findings: &s.findings,
            connections: Counts([
                ("attempted", a.attempted),
                ("refused", a.refused),
                ("unanswered", a.unanswered),
            ]),
            skipped: Counts([
                ("not_tcp", k.not_tcp),
                ("ip_fragments", k.ip_fragments),
                ("truncated", k.truncated),
                ("unsupported_link", k.unsupported_link),
            ]),
            tcp: Counts([
                ("retransmitted_segments", t.retransmitted_segments),
                ("overlapping_segments", t.overlapping_segments),
                ("out_of_order_segments", t.out_of_order_segments),
                ("gap_bytes", t.gap_bytes),
            ]),
            evicted_flows: s.evicted_flows,
            not_smtp: s.not_smtp,
            errors: self.errors,
            capture: self.capture.map(|c| {
                Counts([
                    ("received", c.received),
                    ("dropped", c.dropped),
                    ("if_dropped", c.if_dropped),
                ])
            }),
        }
        .serialize(serializer)
    }
}

/// The whole `mailtap/1` document.
#[derive(Serialize)]
pub(crate) struct Document<'a> {
    pub schema: &'static str,
    pub sessions: Vec<SessionJson<'a>>,
    pub summary: SummaryJson<'a>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_written_as_socket_addr_shows_them() {
        for text in [
            "0.0.0.0:0",
            "255.255.255.255:65535",
            "10.0.0.28:25",
            "192.168.100.7:587",
            "[::1]:25",
            "[2001:db8::25]:465",
            "[::ffff:10.0.0.1]:25",
        ] {
            let a: SocketAddr = text.parse().unwrap();
            let written = address(&a, serde_json::value::Serializer).unwrap();
            assert_eq!(written, serde_json::Value::String(a.to_string()), "{text}");
        }
    }
}
