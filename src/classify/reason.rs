//! The reason behind a verdict: the one line or event that decided it, its frame, and a short
//! sentence. A pure function of the record, the verdict and the findings; shown as the table's
//! evidence column, as `reason` in JSON, and at the end of each transcript.
//!
//! `text` is mailtap's own words (names of alerts, versions, frame numbers); whatever came off
//! the wire is in `line`, kept as [`WireText`] and escaped wherever it is shown.

use serde::Serialize;

use super::{ehlo_offer, Finding, FindingKind, Verdict};
use crate::smtp::parse::Verb;
use crate::smtp::record::{End, Reply};
use crate::smtp::SessionRecord;
use crate::text::WireText;
use crate::tls::TlsFacts;
use crate::Direction;

/// Why a session got its verdict.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Reason {
    /// The frame of the decisive line or event (0 when no frame shows it).
    pub frame: u64,
    /// A short sentence in mailtap's words.
    pub text: String,
    /// The decisive line as sent, when there is one (escaped when shown).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<WireText>,
}

impl Reason {
    fn new(frame: u64, text: impl Into<String>) -> Self {
        Reason {
            frame,
            text: text.into(),
            line: None,
        }
    }

    fn with_line(mut self, line: &WireText) -> Self {
        self.line = Some(line.clone());
        self
    }
}

/// `1448` → `1,448`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn side(dir: Direction) -> &'static str {
    match dir {
        Direction::ToServer => "the client",
        Direction::ToClient => "the server",
    }
}

/// The reason for `verdict`. The match is exhaustive: a new verdict needs its reason here.
pub fn reason(record: &SessionRecord, verdict: Verdict, findings: &[Finding]) -> Reason {
    match verdict {
        Verdict::Upgraded => negotiated(record, "TLS established"),
        Verdict::ImplicitTls => negotiated(record, "TLS from the first byte"),
        Verdict::HandshakeFailed => handshake_failed(record),
        Verdict::Stripped => stripped(record, findings),
        Verdict::Rejected => rejected(record),
        Verdict::NotUsed => not_used(record),
        Verdict::NotOffered => match ehlo_offer(record) {
            Some(reply) => Reason::new(reply.frame, "EHLO reply lists no STARTTLS")
                .with_line(reply.first_line()),
            None => Reason::new(record.first_frame, "no EHLO reply lists STARTTLS"),
        },
        Verdict::NoEhlo => no_ehlo(record),
        Verdict::Refused => match &record.greeting {
            Some(greeting) => Reason::new(
                greeting.frame,
                format!(
                    "server refused the connection at the greeting ({})",
                    greeting.code
                ),
            )
            .with_line(greeting.first_line()),
            None => Reason::new(record.first_frame, "server refused the connection"),
        },
        Verdict::Incomplete => incomplete(record),
    }
}

/// `TLS 1.3, TLS_AES_256_GCM_SHA384` from the ServerHello.
fn negotiated(record: &SessionRecord, fallback: &str) -> Reason {
    match record.tls.as_deref().and_then(|t| t.server_hello.as_ref()) {
        Some(sh) => Reason::new(
            sh.frame,
            format!("{}, {}", sh.version.name(), sh.cipher.name()),
        ),
        None => Reason::new(
            record
                .starttls
                .as_ref()
                .and_then(|s| s.reply.as_ref())
                .map_or(record.first_frame, |r| r.frame),
            fallback,
        ),
    }
}

/// How far the handshake went: "after ClientHello", "after ServerHello", "before ClientHello".
fn stage(tls: Option<&TlsFacts>) -> &'static str {
    match tls {
        Some(t) if t.server_hello.is_some() => "after ServerHello",
        Some(t) if t.client_hello.is_some() => "after ClientHello",
        _ => "before any ClientHello",
    }
}

fn handshake_failed(record: &SessionRecord) -> Reason {
    let tls = record.tls.as_deref();
    if let Some(alert) = tls.and_then(|t| t.first_failing_alert()) {
        return Reason::new(
            alert.frame,
            format!(
                "{} ({}) from {}",
                alert.description.name(),
                alert.description.0,
                side(alert.dir)
            ),
        );
    }
    if let Some(not_tls) = tls.and_then(|t| t.not_tls.as_ref()) {
        let line = WireText::new(&not_tls.bytes);
        return Reason::new(not_tls.frame, format!("not TLS from {}", side(not_tls.dir)))
            .with_line(&line);
    }
    if let Some(evidence) = &record.plaintext_after_upgrade {
        return Reason::new(
            evidence.frame,
            format!(
                "cleartext from {} where TLS was due",
                side(evidence.direction)
            ),
        )
        .with_line(&evidence.bytes);
    }
    if let Some(alert) = tls.and_then(|t| t.encrypted_alert.as_ref()) {
        return Reason::new(
            alert.frame,
            format!(
                "encrypted record of alert size from {} {}",
                side(alert.dir),
                stage(tls)
            ),
        );
    }
    let stage = stage(tls);
    match record.end {
        End::Reset { by } => Reason::new(
            record.last_frame,
            format!("connection reset by {} {stage}", side(by)),
        ),
        End::Closed => Reason::new(record.last_frame, format!("connection closed {stage}")),
        End::HalfClosed { by } => Reason::new(
            record.last_frame,
            format!("connection closed by {} {stage}", side(by)),
        ),
        _ => Reason::new(record.last_frame, format!("handshake stopped {stage}")),
    }
}

fn stripped(record: &SessionRecord, findings: &[Finding]) -> Reason {
    let texts = [
        (
            FindingKind::MaskedKeyword,
            "STARTTLS masked in the EHLO reply",
        ),
        (
            FindingKind::MaskedCommand,
            "command masked or refused as unknown",
        ),
        (FindingKind::MaskedBanner, "greeting masked"),
        (FindingKind::DeletedLine, "line deleted from the EHLO reply"),
        (
            FindingKind::TlsRequired,
            "530 demands STARTTLS, which was not offered",
        ),
    ];
    // The masked STARTTLS: the line as sent (the finding's evidence adds a note to it).
    let masked = findings.iter().find(|f| {
        f.kind == FindingKind::MaskedKeyword && super::findings::could_be_starttls_mask(f)
    });
    if let Some(f) = masked {
        let line = record
            .hello
            .iter()
            .filter_map(|h| h.reply.as_ref())
            .filter(|reply| reply.frame == f.frame)
            .find_map(|reply| {
                reply
                    .ehlo_keywords()
                    .find(|(_, k)| super::findings::could_be_starttls(k))
                    .map(|(i, _)| &reply.lines[i])
            });
        let reason = Reason::new(f.frame, "STARTTLS masked in the EHLO reply");
        return match line {
            Some(line) => reason.with_line(line),
            None => reason.with_line(&f.evidence),
        };
    }
    for (kind, text) in texts {
        if let Some(f) = findings.iter().find(|f| f.kind == kind) {
            // S4 has two faces: a command of X's (the line is the command), or STARTTLS
            // refused as unknown although offered (the line is the reply).
            let reply = f
                .evidence
                .as_bytes()
                .first()
                .is_some_and(u8::is_ascii_digit);
            let text = match kind {
                FindingKind::MaskedCommand if reply => {
                    "STARTTLS refused as unknown although offered"
                }
                FindingKind::MaskedCommand => "command masked",
                _ => text,
            };
            return Reason::new(f.frame, text).with_line(&f.evidence);
        }
    }
    if let Some(ex) = &record.tls_required {
        let frame = ex.reply.as_ref().map_or(ex.command.frame, |r| r.frame);
        let reason = Reason::new(frame, "530 demands STARTTLS, which was not offered");
        return match &ex.reply {
            Some(reply) => reason.with_line(reply.first_line()),
            None => reason,
        };
    }
    Reason::new(record.first_frame, "STARTTLS tampered with")
}

fn rejected(record: &SessionRecord) -> Reason {
    let Some(starttls) = &record.starttls else {
        return Reason::new(record.first_frame, "STARTTLS refused");
    };
    match &starttls.reply {
        Some(reply) => reply_reason(reply, "STARTTLS refused"),
        None => {
            let how = match record.end {
                End::Reset { by } => format!("reset by {}", side(by)),
                _ => "closed".to_string(),
            };
            Reason::new(
                starttls.command.frame,
                format!("no reply to STARTTLS; connection {how}"),
            )
            .with_line(&starttls.command.line)
        }
    }
}

fn reply_reason(reply: &Reply, what: &str) -> Reason {
    Reason::new(reply.frame, format!("{what} ({})", reply.code)).with_line(reply.first_line())
}

fn not_used(record: &SessionRecord) -> Reason {
    let offer = ehlo_offer(record);
    let offer_frame = offer.map_or(record.first_frame, |r| r.frame);
    // The first cleartext command after the offer that we kept.
    let mut candidates: Vec<(u64, &str, WireText)> = Vec::new();
    if let Some(mail) = &record.mail_in_clear {
        candidates.push((mail.frame, verb_name(mail.verb), mail.line.clone()));
    }
    if let Some(auth) = &record.auth_in_clear {
        let line = WireText::from(format!("AUTH {} [redacted]", auth.mechanism));
        candidates.push((auth.frame, "AUTH", line));
    }
    for h in &record.hello {
        if h.command.frame > offer_frame {
            candidates.push((
                h.command.frame,
                verb_name(h.command.verb),
                h.command.line.clone(),
            ));
        }
    }
    candidates.retain(|(frame, _, _)| *frame > offer_frame);
    match candidates.into_iter().min_by_key(|(frame, _, _)| *frame) {
        Some((frame, verb, line)) => Reason::new(
            frame,
            format!("STARTTLS offered at #{offer_frame}; client sent {verb} in cleartext"),
        )
        .with_line(&line),
        None => match record.last_command_frame.filter(|&f| f > offer_frame) {
            Some(frame) => Reason::new(
                frame,
                format!("STARTTLS offered at #{offer_frame}; client went on in cleartext"),
            ),
            None => Reason::new(
                record.last_frame,
                format!("STARTTLS offered at #{offer_frame}; client left without it"),
            ),
        },
    }
}

fn verb_name(verb: Verb) -> &'static str {
    match verb {
        Verb::Ehlo => "EHLO",
        Verb::Helo => "HELO",
        Verb::Lhlo => "LHLO",
        Verb::Mail => "MAIL FROM",
        Verb::Rcpt => "RCPT TO",
        Verb::Data => "DATA",
        Verb::Bdat => "BDAT",
        Verb::Auth => "AUTH",
        _ => "a command",
    }
}

fn no_ehlo(record: &SessionRecord) -> Reason {
    for h in &record.hello {
        match (h.command.verb, &h.reply) {
            (Verb::Helo, _) => {
                return Reason::new(h.command.frame, "client used HELO, not EHLO")
                    .with_line(&h.command.line)
            }
            (_, Some(reply)) if reply.code >= 400 => {
                return reply_reason(reply, "EHLO refused");
            }
            _ => {}
        }
    }
    Reason::new(record.first_frame, "no EHLO accepted")
}

fn incomplete(record: &SessionRecord) -> Reason {
    if let Some(gap) = record.gaps.first() {
        return Reason::new(
            gap.frame,
            format!(
                "gap of {} bytes at #{} ({})",
                thousands(gap.bytes),
                gap.frame,
                side(gap.direction).trim_start_matches("the ")
            ),
        );
    }
    if record.tls_unannounced {
        return Reason::new(
            record.first_frame,
            "TLS without the STARTTLS exchange that announced it (capture starts mid-session)",
        );
    }
    if !record.dialogue_start_seen {
        return Reason::new(record.first_frame, "capture starts mid-session");
    }
    let ends = match record.end {
        End::IdleTimeout => "session idle past the timeout",
        End::Evicted => "session dropped to bound memory",
        _ => "capture ends",
    };
    let frame = record.last_frame;
    if let Some(starttls) = &record.starttls {
        let text = match starttls.reply.as_ref().map(|r| r.code) {
            None => format!("{ends} after STARTTLS, before its reply"),
            Some(_) => format!(
                "{ends} during the TLS handshake, {}",
                stage(record.tls.as_deref())
            ),
        };
        return Reason::new(frame, text);
    }
    if record.implicit_tls {
        return Reason::new(
            frame,
            format!(
                "{ends} during the TLS handshake, {}",
                stage(record.tls.as_deref())
            ),
        );
    }
    if let Some(offer) = ehlo_offer(record) {
        let what = if offer.partial {
            format!("{ends} inside the EHLO reply")
        } else {
            format!("{ends} after EHLO")
        };
        return Reason::new(frame, what);
    }
    if let Some(h) = record.hello.last() {
        return Reason::new(
            frame,
            match h.reply {
                None => format!(
                    "{ends} after {}, before its reply",
                    verb_name(h.command.verb)
                ),
                Some(_) => format!("{ends} after {}", verb_name(h.command.verb)),
            },
        );
    }
    match &record.greeting {
        Some(_) => Reason::new(frame, format!("{ends} after the greeting")),
        None => Reason::new(frame, format!("{ends} before the greeting")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1448), "1,448");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
