//! The human table (comfy-table): one row per session, the evidence that matters most.

use std::io::{self, Write};

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, Color, ContentArrangement, Table};

use crate::classify::{SessionReport, Severity, Verdict};

fn verdict_color(verdict: Verdict) -> Color {
    match verdict {
        Verdict::Upgraded | Verdict::ImplicitTls => Color::Green,
        Verdict::Stripped | Verdict::HandshakeFailed | Verdict::Rejected => Color::Red,
        Verdict::NotUsed | Verdict::NotOffered | Verdict::NoEhlo => Color::Yellow,
        Verdict::Incomplete => Color::Grey,
    }
}

/// The line that best explains the verdict: the most severe finding's evidence, else the
/// STARTTLS reply, else the TLS version.
fn evidence(report: &SessionReport) -> String {
    // The first of the most severe (findings are ordered by kind: tampering comes first).
    let worst = report
        .findings
        .iter()
        .filter(|f| f.severity != Severity::Info)
        .rev()
        .max_by_key(|f| f.severity);
    if let Some(f) = worst {
        return format!("#{} {}", f.frame, f.evidence.escaped());
    }
    let r = &report.record;
    if let Some(reply) = r.starttls.as_ref().and_then(|s| s.reply.as_ref()) {
        return format!("#{} {}", reply.frame, reply.first_line().escaped());
    }
    report
        .findings
        .first()
        .map(|f| format!("#{} {}", f.frame, f.evidence.escaped()))
        .unwrap_or_default()
}

fn tls_cell(report: &SessionReport) -> String {
    report
        .record
        .tls
        .as_ref()
        .and_then(|t| t.server_hello.as_ref())
        .map(|h| h.version.name().into_owned())
        .unwrap_or_default()
}

pub fn write(
    out: &mut impl Write,
    inputs: &[String],
    collected: &[Vec<SessionReport>],
    color: bool,
) -> io::Result<()> {
    let many = inputs.len() > 1;
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    if !color {
        table.force_no_tty();
    }
    let mut header = vec![
        "frames", "client", "server", "verdict", "tls", "findings", "evidence",
    ];
    if many {
        header.insert(0, "capture");
    }
    table.set_header(header);
    let mut rows = 0;
    for (name, reports) in inputs.iter().zip(collected) {
        for report in reports {
            let r = &report.record;
            let mut kinds: Vec<&str> = report.findings.iter().map(|f| f.kind.name()).collect();
            kinds.dedup();
            let mut verdict = Cell::new(report.verdict.name());
            if color {
                verdict = verdict.fg(verdict_color(report.verdict));
            }
            let mut row = vec![
                Cell::new(format!("{}-{}", r.first_frame, r.last_frame)),
                Cell::new(r.client),
                Cell::new(r.server),
                verdict,
                Cell::new(tls_cell(report)),
                Cell::new(kinds.join(", ")),
                Cell::new(evidence(report)),
            ];
            if many {
                row.insert(0, Cell::new(crate::text::escape_str(name)));
            }
            table.add_row(row);
            rows += 1;
        }
    }
    if rows > 0 {
        writeln!(out, "{table}")?;
    }
    Ok(())
}
