//! Classify layer: a pure function from a [`SessionRecord`] to one [`Verdict`] and the
//! [`Finding`]s, each with the frame and the line that prove it.
//!
//! Precedence when several verdicts could apply (DESIGN.md): what finally happened to TLS
//! wins, the findings carry the rest — `upgraded`/`implicit-tls` › `handshake-failed` ›
//! `stripped` › `rejected` › `not-used`/`not-offered`/`no-ehlo` › `incomplete`.
//!
//! `inconsistent-offer` compares sessions with each other and is added by the analyzer.

mod findings;
mod reason;
mod verdict;

use serde::Serialize;

pub use findings::findings;
pub use reason::{reason, Reason};
pub use verdict::{FindingKind, Severity, Verdict};

use crate::smtp::parse::Verb;
use crate::smtp::record::{Exchange, Reply};
use crate::smtp::SessionRecord;
use crate::text::WireText;
use crate::Direction;

/// One finding: what, how bad, and the evidence.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// What was seen; serialized as its kebab-case name.
    pub kind: FindingKind,
    /// How much it matters.
    pub severity: Severity,
    /// The frame that shows it (0 when no single frame does).
    pub frame: u64,
    /// The line or fact that proves it, escaped when shown.
    pub evidence: WireText,
}

/// A session with its judgement.
#[derive(Clone, Debug)]
pub struct SessionReport {
    /// Everything the session showed on the wire: addresses, frames, the dialogue, TLS facts.
    pub record: SessionRecord,
    /// What finally happened to TLS.
    pub verdict: Verdict,
    /// Everything else worth saying, in the order found (`inconsistent-offer` last, added
    /// across sessions).
    pub findings: Vec<Finding>,
    /// The decisive line or event behind the verdict.
    pub reason: Reason,
}

impl SessionReport {
    /// Whether any finding is of this kind.
    pub fn has(&self, kind: FindingKind) -> bool {
        self.findings.iter().any(|f| f.kind == kind)
    }

    /// RFC 8460 (TLS-RPT) result types this session would be reported under.
    pub fn tls_rpt(&self) -> Vec<&'static str> {
        let mut types = Vec::new();
        if matches!(
            self.verdict,
            Verdict::NotOffered | Verdict::Stripped | Verdict::Rejected
        ) {
            types.push("starttls-not-supported");
        }
        for (kind, name) in [
            (FindingKind::CertExpired, "certificate-expired"),
            (FindingKind::CertNotYetValid, "certificate-not-trusted"),
            (FindingKind::CertSelfSigned, "certificate-not-trusted"),
            (FindingKind::CertHostMismatch, "certificate-host-mismatch"),
        ] {
            if self.has(kind) && !types.contains(&name) {
                types.push(name);
            }
        }
        let injected = [
            FindingKind::CommandInjection,
            FindingKind::ResponseInjection,
            FindingKind::PlaintextAfterUpgrade,
        ]
        .into_iter()
        .any(|k| self.has(k));
        if self.verdict == Verdict::HandshakeFailed || injected {
            types.push("validation-failure");
        }
        types
    }
}

/// Judges one session.
pub fn classify(record: SessionRecord) -> SessionReport {
    let findings = findings(&record);
    let verdict = verdict(&record, &findings);
    let reason = reason(&record, verdict, &findings);
    SessionReport {
        record,
        verdict,
        findings,
        reason,
    }
}

/// The EHLO exchange that decides what was offered: the first EHLO answered 250.
pub fn ehlo_offer(record: &SessionRecord) -> Option<&Reply> {
    record
        .hello
        .iter()
        .filter(|h| matches!(h.command.verb, Verb::Ehlo | Verb::Lhlo))
        .filter_map(|h| h.reply.as_ref())
        .find(|r| r.code == 250)
}

fn verdict(record: &SessionRecord, findings: &[Finding]) -> Verdict {
    let has = |kind: FindingKind| findings.iter().any(|f| f.kind == kind);
    let torn_down = record.end.is_teardown();

    if let Some(only) = record.one_direction {
        return one_direction(record, only);
    }
    if record.implicit_tls {
        return tls_outcome(record, torn_down, Verdict::ImplicitTls);
    }
    if record.tls_unannounced {
        // TLS without the STARTTLS exchange in the capture: the decisive part is missing.
        return Verdict::Incomplete;
    }
    if refused_at_greeting(record) {
        return Verdict::Refused;
    }
    let offer = ehlo_offer(record);
    let offered = offer.is_some_and(|r| r.offers_starttls());
    // Signs that the offer was taken away on the way: a masked keyword that could have been
    // STARTTLS (only when STARTTLS is not there unmasked), a masked banner or a deleted line
    // in an offer without STARTTLS, a masked command, or a 530 demanding the STARTTLS that
    // the EHLO reply did not offer.
    let tampered_offer = !offered
        && (findings
            .iter()
            .any(|f| f.kind == FindingKind::MaskedKeyword && findings::could_be_starttls_mask(f))
            || has(FindingKind::MaskedBanner)
            || has(FindingKind::DeletedLine));
    let stripped =
        tampered_offer || has(FindingKind::MaskedCommand) || has(FindingKind::RequiredNotOffered);

    if let Some(Exchange { reply, .. }) = &record.starttls {
        return match reply.as_ref().map(|r| (r.code, r.partial)) {
            Some((220, _)) => tls_outcome(record, torn_down, Verdict::Upgraded),
            // A refusal read after a gap may answer another command: not decisive.
            Some((_, true)) => Verdict::Incomplete,
            Some(_) if stripped => Verdict::Stripped,
            Some(_) => Verdict::Rejected,
            // Torn down without an answer, unless the answer may be in a gap.
            None if torn_down && record.gap_bytes == 0 => Verdict::Rejected,
            None => Verdict::Incomplete,
        };
    }
    if stripped {
        return Verdict::Stripped;
    }
    if let Some(reply) = offer {
        if offered {
            // Offered and not taken: "not used" once the client went on without it (another
            // command, or the end of the connection); a capture that stops right after the
            // offer cannot say what the client would have done.
            let went_on = torn_down || record.last_command_frame.is_some_and(|f| f > reply.frame);
            return if went_on {
                Verdict::NotUsed
            } else {
                Verdict::Incomplete
            };
        }
        if reply.partial {
            return Verdict::Incomplete;
        }
        return Verdict::NotOffered;
    }
    let hello_refused_or_helo = record.hello.iter().any(|h| match h.command.verb {
        Verb::Helo => true,
        _ => h.reply.as_ref().is_some_and(|r| r.code >= 400),
    });
    if hello_refused_or_helo {
        return Verdict::NoEhlo;
    }
    Verdict::Incomplete
}

/// The server refused the client with its greeting (RFC 5321 §3.1: `554`, or `421`) and
/// accepted no EHLO/HELO after it.
fn refused_at_greeting(record: &SessionRecord) -> bool {
    let refused = record
        .greeting
        .as_ref()
        .is_some_and(|g| (400..600).contains(&g.code));
    let accepted_hello = record
        .hello
        .iter()
        .any(|h| h.reply.as_ref().is_some_and(|r| r.code == 250));
    refused && !accepted_hello
}

/// With one direction in the capture, only what that side's bytes prove: never a verdict
/// the other side could contradict.
fn one_direction(record: &SessionRecord, only: Direction) -> Verdict {
    match only {
        Direction::ToServer => {
            // The client's side: it used HELO, or it completed its part of a TLS handshake
            // (its records after the ClientHello show it had the server's answer and went on).
            let ehlo = record.hello.iter().any(|h| h.command.verb != Verb::Helo);
            if !ehlo && !record.hello.is_empty() {
                return Verdict::NoEhlo;
            }
            let client_went_through = record.tls.as_ref().is_some_and(|t| {
                t.client_hello.is_some()
                    && t.records[0] >= CLIENT_RECORDS_AFTER_HANDSHAKE
                    && t.not_tls.is_none()
                    && t.alerts.is_empty()
            });
            match (client_went_through, record.implicit_tls) {
                (true, true) => Verdict::ImplicitTls,
                (true, false) if record.starttls.is_some() => Verdict::Upgraded,
                _ => Verdict::Incomplete,
            }
        }
        Direction::ToClient if refused_at_greeting(record) => Verdict::Refused,
        Direction::ToClient => Verdict::Incomplete,
    }
}

/// Client records that show its side of the handshake went through: the ClientHello, then
/// (after the server's flight) its Finished and at least one more record (TLS 1.3: the
/// ChangeCipherSpec dummy or application data; TLS 1.2: ClientKeyExchange and
/// ChangeCipherSpec before its Finished).
const CLIENT_RECORDS_AFTER_HANDSHAKE: u64 = 3;

/// After `220` (or a ClientHello on an implicit-TLS port): did the handshake go through?
/// Without an alert or plaintext to show a failure, a gap leaves it open — in the TLS bytes,
/// or anywhere: bytes held back behind a hole reach the sniffer late, out of step with the
/// other direction, so a handshake that went through can look unfinished.
fn tls_outcome(record: &SessionRecord, torn_down: bool, success: Verdict) -> Verdict {
    if record.tls_established {
        success
    } else if record.tls_failed || record.plaintext_after_upgrade.is_some() {
        Verdict::HandshakeFailed
    } else if record.gap_bytes > 0 {
        Verdict::Incomplete
    } else if torn_down {
        Verdict::HandshakeFailed
    } else {
        Verdict::Incomplete
    }
}
