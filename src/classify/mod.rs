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
pub use reason::{reason, thousands, Reason};
pub use verdict::{FindingKind, Severity, Verdict};

use crate::smtp::parse::Verb;
use crate::smtp::record::{Exchange, Reply};
use crate::smtp::SessionRecord;
use crate::text::WireText;

/// One finding: what, how bad, and the evidence.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    pub kind: FindingKind,
    pub severity: Severity,
    /// The frame that shows it (0 when no single frame does).
    pub frame: u64,
    /// The line or fact that proves it, escaped when shown.
    pub evidence: WireText,
}

/// A session with its judgement.
#[derive(Clone, Debug)]
pub struct SessionReport {
    pub record: SessionRecord,
    pub verdict: Verdict,
    pub findings: Vec<Finding>,
    /// The decisive line or event behind the verdict.
    pub reason: Reason,
}

impl SessionReport {
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
    let tampered = has(FindingKind::MaskedKeyword)
        || has(FindingKind::MaskedBanner)
        || has(FindingKind::DeletedLine);
    let torn_down = record.end.is_teardown();

    if record.implicit_tls {
        return tls_outcome(record, torn_down, Verdict::ImplicitTls);
    }
    if record.tls_unannounced {
        // TLS without the STARTTLS exchange in the capture: the decisive part is missing.
        return Verdict::Incomplete;
    }
    let offer = ehlo_offer(record);
    let offered = offer.is_some_and(|r| r.offers("STARTTLS"));

    if let Some(Exchange { reply, .. }) = &record.starttls {
        return match reply.as_ref().map(|r| r.code) {
            Some(220) => tls_outcome(record, torn_down, Verdict::Upgraded),
            Some(_) if has(FindingKind::MaskedCommand) || tampered => Verdict::Stripped,
            Some(_) => Verdict::Rejected,
            // Torn down without an answer, unless the answer may be in a gap.
            None if torn_down && record.gap_bytes == 0 => Verdict::Rejected,
            None => Verdict::Incomplete,
        };
    }
    if has(FindingKind::MaskedCommand) || (tampered && !offered) {
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

/// After `220` (or a ClientHello on an implicit-TLS port): did the handshake go through?
fn tls_outcome(record: &SessionRecord, torn_down: bool, success: Verdict) -> Verdict {
    if record.tls_established {
        success
    } else if record.tls_failed || record.plaintext_after_upgrade.is_some() || torn_down {
        Verdict::HandshakeFailed
    } else {
        Verdict::Incomplete
    }
}
