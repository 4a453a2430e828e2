//! Finding detection: each wire signature of DESIGN.md (S2–S13) as a check over the record.

use super::{Finding, FindingKind as Kind, Severity};
use crate::smtp::parse::{self, Verb};
use crate::smtp::SessionRecord;
use crate::text::WireText;
use crate::tls::DowngradeSentinel;

/// Masked keywords are listed one finding each, up to this many.
const MAX_MASKED_KEYWORDS: usize = 8;

/// Every finding the record shows, in a stable order (by kind, then frame).
pub fn findings(r: &SessionRecord) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut add = |kind: Kind, severity: Severity, frame: u64, evidence: WireText| {
        out.push(Finding {
            kind,
            severity,
            frame,
            evidence,
        });
    };

    // S3: PIX MailGuard banner.
    if let Some(greeting) = &r.greeting {
        if let Some(Some(text)) = greeting.texts().next() {
            if parse::is_masked_banner(text) {
                add(
                    Kind::MaskedBanner,
                    Severity::High,
                    greeting.frame,
                    greeting.first_line().clone(),
                );
            }
        }
    }

    for hello in &r.hello {
        let Some(reply) = &hello.reply else { continue };
        if hello.command.verb == Verb::Ehlo || hello.command.verb == Verb::Lhlo {
            // S2: masked EHLO keywords.
            for (i, _) in reply
                .ehlo_keywords()
                .filter(|(_, k)| parse::is_masked_keyword(k))
                .take(MAX_MASKED_KEYWORDS)
            {
                add(
                    Kind::MaskedKeyword,
                    Severity::High,
                    reply.frame,
                    reply.lines[i].clone(),
                );
            }
            // S7: a line deleted (emptied, or its code removed) inside a multi-line reply.
            // Not in a reply with a capture gap: its lines are not all what was sent.
            if reply.lines.len() > 1 && !reply.partial {
                if let Some(i) = reply.texts().position(|t| t.is_none()) {
                    add(
                        Kind::DeletedLine,
                        Severity::High,
                        reply.frame,
                        reply.lines[i].clone(),
                    );
                }
            }
        }
    }

    // S5: EHLO refused, then HELO accepted.
    let ehlo_refused = r
        .hello
        .iter()
        .find(|h| h.command.verb == Verb::Ehlo && h.reply.as_ref().is_some_and(|x| x.code >= 500));
    if let Some(refused) = ehlo_refused {
        let helo_ok = r.hello.iter().any(|h| {
            h.command.verb == Verb::Helo
                && h.command.frame >= refused.command.frame
                && h.reply.as_ref().is_some_and(|x| x.code == 250)
        });
        if helo_ok {
            let reply = refused.reply.as_ref().expect("filtered on a reply");
            add(
                Kind::EhloRejected,
                Severity::Warning,
                reply.frame,
                reply.first_line().clone(),
            );
        }
    }

    // S4: a command overwritten with X's, refused as unknown; or STARTTLS refused as unknown
    // although it was advertised.
    for masked in &r.masked_commands {
        if masked
            .reply
            .as_ref()
            .is_some_and(|x| matches!(x.code, 500 | 502))
        {
            add(
                Kind::MaskedCommand,
                Severity::High,
                masked.command.frame,
                masked.command.line.clone(),
            );
        }
    }
    if let Some(starttls) = &r.starttls {
        let advertised = super::ehlo_offer(r).is_some_and(|o| o.offers("STARTTLS"));
        if let Some(reply) = starttls
            .reply
            .as_ref()
            .filter(|x| matches!(x.code, 500 | 502))
        {
            // Not when the client broke the pipelining rules: that explains the 500.
            if advertised && r.starttls_pipelined.is_none() {
                add(
                    Kind::MaskedCommand,
                    Severity::High,
                    reply.frame,
                    reply.first_line().clone(),
                );
            }
        }
    }

    // S8, S9, S10.
    if let Some(e) = &r.command_injection {
        add(
            Kind::CommandInjection,
            Severity::High,
            e.frame,
            e.bytes.clone(),
        );
    }
    if let Some(e) = &r.response_injection {
        add(
            Kind::ResponseInjection,
            Severity::High,
            e.frame,
            e.bytes.clone(),
        );
    }
    if let Some(e) = &r.plaintext_after_upgrade {
        add(
            Kind::PlaintextAfterUpgrade,
            Severity::High,
            e.frame,
            e.bytes.clone(),
        );
    }

    // S11: never the credential, only the mechanism.
    if let Some(auth) = &r.auth_in_clear {
        add(
            Kind::AuthBeforeTls,
            Severity::High,
            auth.frame,
            format!("AUTH {} in cleartext", auth.mechanism).into(),
        );
    }
    // S12, and a 530 demanding a STARTTLS the EHLO reply did not offer.
    if let Some(required) = &r.tls_required {
        if let Some(reply) = required.reply.as_ref().filter(|x| demands_tls(x)) {
            add(
                Kind::TlsRequired,
                Severity::Info,
                reply.frame,
                reply.first_line().clone(),
            );
            if let Some(offer) =
                super::ehlo_offer(r).filter(|o| !o.partial && !o.offers("STARTTLS"))
            {
                let mut evidence = reply.first_line().as_bytes().to_vec();
                evidence.extend_from_slice(
                    format!(
                        " (#{}), though the EHLO reply (#{}) offered no STARTTLS",
                        reply.frame, offer.frame
                    )
                    .as_bytes(),
                );
                add(
                    Kind::RequiredNotOffered,
                    Severity::High,
                    reply.frame,
                    WireText::new(&evidence),
                );
            }
        }
    }
    dialogue_findings(r, &mut add);
    if let Some(mail) = &r.mail_in_clear {
        add(
            Kind::CleartextMail,
            Severity::Warning,
            mail.frame,
            mail.line.clone(),
        );
    }

    tls_findings(r, &mut add);

    if let Some(first) = r.gaps.first() {
        add(
            Kind::CaptureGap,
            Severity::Info,
            first.frame,
            format!(
                "{} bytes missing from the capture in {} place(s)",
                r.gap_bytes,
                r.gaps.len()
            )
            .into(),
        );
    }
    if !r.handshake_seen && !r.dialogue_start_seen {
        add(
            Kind::Midstream,
            Severity::Info,
            r.first_frame,
            WireText::new(b"the capture starts after the connection began"),
        );
    }
    out.sort_by_key(|f| (f.kind, f.frame));
    out
}

/// What the dialogue around STARTTLS shows besides the verdict: a refusal, a client that went
/// to TLS anyway or pipelined behind STARTTLS, a capture with one side only or decrypted.
fn dialogue_findings(r: &SessionRecord, add: &mut impl FnMut(Kind, Severity, u64, WireText)) {
    if let Some(reply) = r.starttls_refused.as_ref().and_then(|x| x.reply.as_ref()) {
        add(
            Kind::StarttlsRejected,
            Severity::Warning,
            reply.frame,
            reply.first_line().clone(),
        );
    }
    if let Some(frame) = r.tls_without_220 {
        let why = match r.starttls.as_ref().and_then(|x| x.reply.as_ref()) {
            Some(reply) => format!(
                "the client began TLS although STARTTLS was answered {} (#{})",
                reply.code, reply.frame
            ),
            None => "the client began TLS without a 220 to STARTTLS".to_string(),
        };
        add(Kind::TlsWithout220, Severity::Warning, frame, why.into());
    }
    if let Some(e) = &r.starttls_pipelined {
        add(
            Kind::StarttlsPipelined,
            Severity::Warning,
            e.frame,
            e.bytes.clone(),
        );
    }
    if let Some(only) = r.one_direction {
        let side = match only {
            crate::Direction::ToServer => "client to server",
            crate::Direction::ToClient => "server to client",
        };
        add(
            Kind::OneDirection,
            Severity::Info,
            r.first_frame,
            format!("the capture holds one direction only ({side})").into(),
        );
    }
    let client_plaintext = r
        .plaintext_after_upgrade
        .as_ref()
        .filter(|e| e.direction == crate::Direction::ToServer);
    if let (Some(e), Some(answered)) = (client_plaintext, r.plaintext_answered) {
        add(
            Kind::DecryptedCapture,
            Severity::Info,
            e.frame,
            format!(
                "plaintext dialogue on both sides after 220 (server answered at #{answered}): \
                 most likely a capture decrypted by an inspecting device"
            )
            .into(),
        );
    }
}

/// A `530` that demands TLS (RFC 3207 §4: "Must issue a STARTTLS command first"), not the
/// `530 5.7.0 Authentication required` of RFC 4954 §6, which shares its codes: told apart
/// by the text, the one place where the code alone cannot say.
fn demands_tls(reply: &crate::smtp::record::Reply) -> bool {
    let text = reply.first_line().as_bytes().to_ascii_lowercase();
    let has = |word: &[u8]| text.windows(word.len()).any(|w| w == word);
    has(b"tls") || has(b"ssl") || !has(b"auth")
}

/// Whether a `masked-keyword` finding's keyword has STARTTLS's length: only such a mask can
/// have been STARTTLS (an ASA masks each keyword with as many characters as it had).
pub fn could_be_starttls_mask(finding: &super::Finding) -> bool {
    parse::reply_line(finding.evidence.as_bytes())
        .and_then(|line| parse::ehlo_keyword(line.text))
        .is_some_and(|(keyword, _)| keyword.len() == "STARTTLS".len())
}

/// S13, weak versions and the certificate (TLS <= 1.2 only; in TLS 1.3 it is encrypted).
fn tls_findings(r: &SessionRecord, add: &mut impl FnMut(Kind, Severity, u64, WireText)) {
    let Some(tls) = &r.tls else { return };
    if let Some(hello) = &tls.server_hello {
        if let Some(sentinel) = hello.downgrade_sentinel {
            // The sentinel is expected when the client itself offered no TLS 1.3; when it did,
            // something in between rewrote the ClientHello.
            let client_offered_13 = tls.client_hello.as_ref().is_some_and(|c| c.offers_tls13());
            let severity = if client_offered_13 {
                Severity::High
            } else {
                Severity::Info
            };
            let which = match sentinel {
                DowngradeSentinel::Tls12 => {
                    "44 4F 57 4E 47 52 44 01 (TLS 1.2 negotiated by a TLS 1.3 server)"
                }
                DowngradeSentinel::Tls11OrBelow => {
                    "44 4F 57 4E 47 52 44 00 (TLS 1.1 or below negotiated)"
                }
            };
            add(
                Kind::DowngradeSentinel,
                severity,
                hello.frame,
                format!("ServerHello.random ends with {which}").into(),
            );
        }
        if hello.version.is_weak() {
            add(
                Kind::WeakTlsVersion,
                Severity::Warning,
                hello.frame,
                format!("negotiated {}", hello.version).into(),
            );
        }
    }
    let Some(cert) = &tls.certificate else { return };
    let now = r.first_time.secs;
    if now > cert.not_after {
        add(
            Kind::CertExpired,
            Severity::Warning,
            cert.frame,
            format!(
                "certificate of {} expired (notAfter {})",
                cert.subject,
                crate::capture::Timestamp::new(cert.not_after, 0)
            )
            .into(),
        );
    }
    if now < cert.not_before {
        add(
            Kind::CertNotYetValid,
            Severity::Warning,
            cert.frame,
            format!(
                "certificate of {} not valid before {}",
                cert.subject,
                crate::capture::Timestamp::new(cert.not_before, 0)
            )
            .into(),
        );
    }
    if cert.self_signed {
        add(
            Kind::CertSelfSigned,
            Severity::Warning,
            cert.frame,
            format!("self-signed certificate {}", cert.subject).into(),
        );
    }
    if let Some(host) = expected_host(r) {
        if !cert.matches_host(&host) {
            add(
                Kind::CertHostMismatch,
                Severity::Warning,
                cert.frame,
                format!("certificate {} does not name {host}", cert.subject).into(),
            );
        }
    }
}

/// The name the certificate should carry: the client's SNI, else the host name the server
/// gave in its greeting or EHLO reply.
fn expected_host(r: &SessionRecord) -> Option<String> {
    if let Some(sni) = r
        .tls
        .as_ref()
        .and_then(|t| t.client_hello.as_ref())
        .and_then(|c| c.sni.clone())
    {
        return Some(sni);
    }
    let from_reply = |reply: &crate::smtp::record::Reply| -> Option<String> {
        let text = reply.texts().next()??;
        let word = text.split(|&b| b == b' ').next()?;
        let name = std::str::from_utf8(word).ok()?;
        let looks_like_host = name.contains('.')
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
            && !name.bytes().all(|b| b.is_ascii_digit() || b == b'.');
        looks_like_host.then(|| name.to_ascii_lowercase())
    };
    r.greeting
        .as_ref()
        .and_then(from_reply)
        .or_else(|| super::ehlo_offer(r).and_then(from_reply))
}
