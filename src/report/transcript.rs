//! The transcript view: the plaintext dialogue as swaks shows it (` -> ` client, `<-  `
//! server), credentials already redacted by the session, every line escaped; then the TLS
//! exchange as far as it went (ClientHello version and SNI, ServerHello version and cipher,
//! alerts, bytes that are not TLS, where it stopped), the findings, and the reason for the
//! verdict.

use std::io::{self, Write};

use super::view::View;
use crate::classify::SessionReport;
use crate::Direction;

fn arrow(direction: Direction) -> &'static str {
    match direction {
        Direction::ToServer => " -> ",
        Direction::ToClient => "<-  ",
    }
}

pub fn write(
    out: &mut impl Write,
    input: &str,
    report: &SessionReport,
    view: &View,
) -> io::Result<()> {
    let r = &report.record;
    writeln!(
        out,
        "=== {} {} {} -> {} frames {}-{}: {}",
        crate::text::escape_str(input),
        view.time(r.first_time),
        r.client,
        r.server,
        r.first_frame,
        r.last_frame,
        report.verdict
    )?;
    for line in &r.transcript {
        writeln!(
            out,
            "{:>7} {}{}",
            format!("#{}", line.frame),
            arrow(line.direction),
            line.text.escaped()
        )?;
    }
    // The TLS exchange, in frame order.
    let mut events: Vec<(u64, Direction, String)> = Vec::new();
    if let Some(tls) = r.tls.as_deref() {
        if let Some(ch) = &tls.client_hello {
            let mut text = format!("TLS ClientHello, up to {}", ch.max_version().name());
            match &ch.sni {
                Some(sni) => text.push_str(&format!(", SNI {}", crate::text::escape_str(sni))),
                None => text.push_str(", no SNI"),
            }
            events.push((ch.frame, Direction::ToServer, text));
        }
        if let Some(sh) = &tls.server_hello {
            events.push((
                sh.frame,
                Direction::ToClient,
                format!(
                    "TLS ServerHello, {}, {}",
                    sh.version.name(),
                    sh.cipher.name()
                ),
            ));
        }
        for alert in &tls.alerts {
            let level = if alert.is_fatal() { "fatal" } else { "warning" };
            events.push((
                alert.frame,
                alert.dir,
                format!(
                    "TLS alert, {level} {} ({})",
                    alert.description.name(),
                    alert.description.0
                ),
            ));
        }
        if let Some(not_tls) = &tls.not_tls {
            events.push((
                not_tls.frame,
                not_tls.dir,
                format!("not TLS: {}", not_tls.escaped()),
            ));
        }
        if let Some(alert) = &tls.encrypted_alert {
            events.push((
                alert.frame,
                alert.dir,
                format!(
                    "encrypted record of alert size ({} bytes): likely an alert",
                    alert.len
                ),
            ));
        }
        for (i, from) in tls.encrypted_from.iter().enumerate() {
            if let Some(frame) = from {
                let dir = crate::tls::dir_of_index(i);
                events.push((*frame, dir, "encrypted from here on".to_string()));
            }
        }
    }
    events.sort_by_key(|(frame, _, _)| *frame);
    for (frame, dir, text) in &events {
        writeln!(out, "{:>7} {}{text}", format!("#{frame}"), arrow(*dir))?;
    }
    if r.tls_established {
        writeln!(out, "        === TLS established ===")?;
    } else if r.tls.is_some()
        || r.implicit_tls
        || r.starttls
            .as_ref()
            .and_then(|s| s.reply.as_ref())
            .is_some_and(|reply| reply.code == 220)
    {
        let stage = match r.tls.as_deref() {
            Some(t) if t.server_hello.is_some() => "after ServerHello",
            Some(t) if t.client_hello.is_some() => "after ClientHello",
            _ => "before any ClientHello",
        };
        writeln!(out, "        === TLS not established: stopped {stage} ===")?;
    }
    for f in &report.findings {
        writeln!(
            out,
            "  [{}] {} (frame {}): {}",
            f.severity,
            f.kind,
            f.frame,
            f.evidence.escaped()
        )?;
    }
    writeln!(
        out,
        "  reason: {}: {}",
        report.verdict,
        super::view::reason_line(report)
    )?;
    writeln!(out)
}
