//! The human table (comfy-table): one row per session, the evidence that matters most.

use std::io::{self, Write};

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, Color, ContentArrangement, Table};

use crate::classify::{SessionReport, Severity, Verdict};

fn verdict_color(verdict: Verdict) -> Color {
    match verdict {
        Verdict::Upgraded | Verdict::ImplicitTls => Color::Green,
        Verdict::Stripped | Verdict::HandshakeFailed | Verdict::Rejected => Color::Red,
        Verdict::NotUsed | Verdict::NotOffered | Verdict::NoEhlo | Verdict::Refused => {
            Color::Yellow
        }
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

/// Column widths of the streaming table; a longer value pushes the rest of its line right.
const STREAM_COLUMNS: [(&str, usize); 7] = [
    ("ended", 8),
    ("frames", 11),
    ("client", 21),
    ("server", 21),
    ("verdict", 16),
    ("tls", 7),
    ("findings", 24),
];

/// The header line of the streaming table (live capture). Times are UTC, as the capture's.
pub fn stream_header() -> String {
    let mut line = String::new();
    for (name, width) in STREAM_COLUMNS {
        line.push_str(&format!("{name:<width$}  "));
    }
    line.push_str("evidence");
    line
}

/// One session as a line of the streaming table: written as soon as the session ends.
pub fn stream_row(report: &SessionReport, color: bool) -> String {
    let r = &report.record;
    let mut kinds: Vec<&str> = report.findings.iter().map(|f| f.kind.name()).collect();
    kinds.dedup();
    // `HH:MM:SS` of the session's last packet, from `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
    let ended = r.last_time.to_rfc3339();
    let cells = [
        ended.get(11..19).unwrap_or_default().to_string(),
        format!("{}-{}", r.first_frame, r.last_frame),
        r.client.to_string(),
        r.server.to_string(),
        report.verdict.name().to_string(),
        tls_cell(report),
        kinds.join(","),
    ];
    let mut line = String::new();
    for (i, (cell, (_, width))) in cells.iter().zip(STREAM_COLUMNS).enumerate() {
        let padded = format!("{cell:<width$}  ");
        if color && i == 4 {
            // Pad first, so that the escape codes do not count towards the width.
            let code = match verdict_color(report.verdict) {
                Color::Green => "32",
                Color::Red => "31",
                Color::Yellow => "33",
                _ => "90",
            };
            line.push_str(&format!("\x1b[{code}m{cell}\x1b[0m"));
            line.push_str(&padded[cell.len()..]);
        } else {
            line.push_str(&padded);
        }
    }
    line.push_str(&evidence(report));
    line.trim_end().to_string()
}
