//! The transcript view: the plaintext dialogue as swaks shows it (` -> ` client, `<-  `
//! server), credentials already redacted by the session, every line escaped.

use std::io::{self, Write};

use crate::classify::SessionReport;
use crate::Direction;

pub fn write(out: &mut impl Write, input: &str, report: &SessionReport) -> io::Result<()> {
    let r = &report.record;
    writeln!(
        out,
        "=== {} {} -> {} frames {}-{}: {}",
        crate::text::escape_str(input),
        r.client,
        r.server,
        r.first_frame,
        r.last_frame,
        report.verdict
    )?;
    for line in &r.transcript {
        let arrow = match line.direction {
            Direction::ToServer => " -> ",
            Direction::ToClient => "<-  ",
        };
        writeln!(
            out,
            "{:>7} {arrow}{}",
            format!("#{}", line.frame),
            line.text.escaped()
        )?;
    }
    if r.tls_established {
        writeln!(out, "        === TLS established ===")?;
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
    writeln!(out)
}
