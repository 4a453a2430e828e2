//! Finding detection: each wire signature of DESIGN.md (S2–S13) as a check over the record.

use super::{Finding, FindingKind as Kind, Severity};
use crate::smtp::parse::{self, Verb};
use crate::smtp::SessionRecord;
use crate::text::WireText;
use crate::tls::{DowngradeSentinel, TlsVersion};

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
            // S2: masked EHLO keywords, every one; only a mask of STARTTLS' length can hide
            // a STARTTLS offer (the ASA keeps each keyword's length: AUTH -> XXXA).
            for (i, keyword) in reply
                .ehlo_keywords()
                .filter(|(_, k)| parse::is_masked_keyword(k))
                .take(MAX_MASKED_KEYWORDS)
            {
                let (severity, note) = if could_be_starttls(keyword) {
                    (Severity::High, "could be STARTTLS")
                } else {
                    (Severity::Warning, "cannot be STARTTLS")
                };
                add(
                    Kind::MaskedKeyword,
                    severity,
                    reply.frame,
                    annotated(
                        &reply.lines[i],
                        &format!(" ({} characters: {note})", keyword.len()),
                    ),
                );
            }
            // S7: a line deleted inside a multi-line reply: emptied, its code removed, or a
            // keyword line blanked (`250-` with nothing but spaces after it, which the EHLO
            // grammar of RFC 5321 §4.1.1.1 does not allow). Not in a reply with a capture gap:
            // its lines are not all what was sent.
            if reply.lines.len() > 1 && !reply.partial {
                let deleted = reply.texts().enumerate().position(|(i, t)| match t {
                    None => true,
                    Some(text) => i > 0 && text.iter().all(|&b| b == b' '),
                });
                if let Some(i) = deleted {
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

    // S5: EHLO refused, with any 4xx or 5xx reply. The HELO fallback is not required:
    // - 5xx (500/502 "not recognised", 501, 550: RFC 5321 §4.1.1.1) is a permanent refusal of
    //   ESMTP; RFC 5321 §3.2 has the client fall back to HELO, but whether it does or gives up,
    //   the server refused EHLO, and no STARTTLS can be offered on this connection.
    // - 4xx is transient (§4.2.1): 421 closes the channel (§3.8), 450/451 ask to retry later.
    //   A client does not fall back to HELO on a 4xx, so waiting for one would hide every such
    //   refusal behind a plain `no-ehlo`.
    let ehlo_refused = r.hello.iter().find(|h| {
        matches!(h.command.verb, Verb::Ehlo | Verb::Lhlo)
            && h.reply
                .as_ref()
                .is_some_and(|x| (400..600).contains(&x.code))
    });
    if let Some(reply) = ehlo_refused.and_then(|h| h.reply.as_ref()) {
        add(
            Kind::EhloRejected,
            Severity::Warning,
            reply.frame,
            reply.first_line().clone(),
        );
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
        let advertised = super::ehlo_offer(r).is_some_and(|o| o.offers_starttls());
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
            if let Some(offer) = super::ehlo_offer(r).filter(|o| !o.partial && !o.offers_starttls())
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

/// Whether a `masked-keyword` finding's keyword could be STARTTLS ([`could_be_starttls`]).
pub fn could_be_starttls_mask(finding: &super::Finding) -> bool {
    parse::reply_line(finding.evidence.as_bytes())
        .and_then(|line| parse::ehlo_keyword(line.text))
        .is_some_and(|(keyword, _)| could_be_starttls(keyword))
}

/// S13, weak versions and the certificate (TLS <= 1.2 only; in TLS 1.3 it is encrypted).
fn tls_findings(r: &SessionRecord, add: &mut impl FnMut(Kind, Severity, u64, WireText)) {
    let Some(tls) = &r.tls else { return };
    if let Some(hello) = &tls.server_hello {
        // S13: the sentinel alone is no finding. A server that supports a newer version
        // than the client offered sets it on every such handshake (a TLS 1.2-only client
        // talking to a TLS 1.3 server gets `…01`): that is expected, and the raw fact stays in
        // `tls.server_hello.downgrade_sentinel`. A downgrade is a sentinel in a handshake
        // where the client offered more than was negotiated: something in between rewrote the
        // hello (a TLS 1.2-only client getting `…00` with TLS 1.1 or below is one too). No
        // ClientHello in the capture: nothing to compare, no claim.
        let offered = tls.client_hello.as_ref().map(|c| c.max_version());
        if let (Some(sentinel), Some(offered)) = (hello.downgrade_sentinel, offered) {
            if is_downgrade(offered, hello.version) {
                let which = match sentinel {
                    DowngradeSentinel::Tls12 => "TLS 1.2 negotiated by a TLS 1.3 server",
                    DowngradeSentinel::Tls11OrBelow => "TLS 1.1 or below negotiated",
                };
                add(
                    Kind::DowngradeSentinel,
                    Severity::High,
                    hello.frame,
                    format!(
                        "ServerHello.random ends with {sentinel} ({which}); the client offered \
                         up to {offered}, {} was negotiated",
                        hello.version
                    )
                    .into(),
                );
            }
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

/// The name the certificate is judged against: the SNI the client sent, and only that.
/// Verifying SMTP clients check the MX host name (RFC 7672 DANE, RFC 8461 MTA-STS), which a
/// capture shows only as SNI; the greeting's or EHLO reply's name is often an internal one
/// (`exch01.corp.example.local`) that no client checks. Without SNI (Postfix's default as a
/// client) no mismatch is claimed: the certificate's names stay in the TLS facts.
fn expected_host(r: &SessionRecord) -> Option<String> {
    r.tls
        .as_ref()
        .and_then(|t| t.client_hello.as_ref())
        .and_then(|c| c.sni.clone())
}

/// Whether a masked EHLO keyword could be STARTTLS: masked (S2) and of STARTTLS' length,
/// since Cisco's ESMTP inspection keeps each keyword's length (`AUTH` becomes `XXXA`,
/// `CHUNKING` `XXXXXXXB`). Only such a mask is evidence of a stripped offer.
pub fn could_be_starttls(keyword: &[u8]) -> bool {
    parse::is_masked_keyword(keyword) && keyword.len() == b"STARTTLS".len()
}

/// The client offered a version above the negotiated one (TLS 1.3 drafts count as 1.3).
fn is_downgrade(offered: TlsVersion, negotiated: TlsVersion) -> bool {
    let rank = |v: TlsVersion| if v.is_tls13() { TlsVersion::TLS13 } else { v };
    rank(offered) > rank(negotiated)
}

/// A wire line with a note after it (the line stays as sent, the note is mailtap's).
fn annotated(line: &WireText, note: &str) -> WireText {
    let mut bytes = line.as_bytes().to_vec();
    bytes.extend_from_slice(note.as_bytes());
    WireText::new(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 13 case 6: the helper the verdict uses to tell a stripped offer.
    #[test]
    fn case_06_could_be_starttls_is_a_mask_of_eight() {
        assert!(could_be_starttls(b"XXXXXXXA") && could_be_starttls(b"XXXXXXXX"));
        assert!(could_be_starttls(b"XXXXXXXB")); // CHUNKING: same length, cannot be told apart
        assert!(!could_be_starttls(b"XXXA") && !could_be_starttls(b"XXXXXXXXA"));
        assert!(!could_be_starttls(b"STARTTLS") && !could_be_starttls(b"xxxxxxxa"));
    }

    #[test]
    fn downgrade_is_offered_above_negotiated() {
        use TlsVersion as T;
        assert!(is_downgrade(T::TLS13, T::TLS12));
        assert!(is_downgrade(T::TLS12, T::TLS11));
        assert!(is_downgrade(T(0x7f1c), T::TLS12));
        assert!(!is_downgrade(T::TLS12, T::TLS12));
        assert!(!is_downgrade(T::TLS10, T::TLS10));
        assert!(!is_downgrade(T(0x7f1c), T::TLS13));
    }
}
