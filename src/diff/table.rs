//! The side-by-side view of `mailtap diff` for people, in the style of `diff -y`: per pair, a
//! header naming both sessions, the middlebox effects, then only the lines that differ, each
//! with its frame in its own capture (`|` changed, `<` only on side A, `>` only on side B).

use std::io::{self, Write};

use super::{Change, Diff, LineRef};
use crate::classify::SessionReport;
use crate::text::escape_str;
use crate::Direction;

/// Width of one side's column (frame, arrow, text).
const COLUMN: usize = 46;

fn cell(r: &Option<LineRef>, direction: Direction) -> String {
    let Some(r) = r else {
        return String::new();
    };
    let arrow = match direction {
        Direction::ToServer => "->",
        Direction::ToClient => "<-",
    };
    let text = format!("#{:<5} {arrow} {}", r.frame, r.line.escaped());
    fit(&text)
}

/// Cuts `text` to the column, marking the cut with `…`.
fn fit(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= COLUMN {
        return text.to_string();
    }
    let mut s: String = chars[..COLUMN - 1].iter().collect();
    s.push('…');
    s
}

fn pad(text: &str) -> String {
    let n = text.chars().count();
    format!("{text}{}", " ".repeat(COLUMN.saturating_sub(n)))
}

fn marker(c: &Change) -> char {
    match (&c.a, &c.b) {
        (Some(_), Some(_)) => '|',
        (Some(_), None) => '<',
        _ => '>',
    }
}

fn side(r: &SessionReport) -> String {
    format!(
        "{} -> {} #{} {}",
        r.record.client,
        r.record.server,
        r.record.first_frame,
        r.verdict.name()
    )
}

/// Writes the view. `names` are the two captures' names (the same twice for one capture).
pub fn write_table(
    out: &mut impl Write,
    names: [&str; 2],
    diff: &Diff,
    a: &[SessionReport],
    b: &[SessionReport],
) -> io::Result<()> {
    let offset = match diff.clock_offset {
        Some(o) if names[0] != names[1] => format!("clock offset B-A {o:+.6} s"),
        Some(_) => "both legs in one capture".to_string(),
        None => "clock offset unknown (no pair)".to_string(),
    };
    writeln!(
        out,
        "A: {}   B: {}   {offset}",
        escape_str(names[0]),
        escape_str(names[1])
    )?;
    for (n, p) in diff.pairs.iter().enumerate() {
        writeln!(out)?;
        writeln!(out, "pair {}", n + 1)?;
        writeln!(out, "  A {}", side(&a[p.a]))?;
        writeln!(out, "  B {}", side(&b[p.b]))?;
        if p.changes.is_empty() {
            writeln!(out, "  no change")?;
            continue;
        }
        let effects: Vec<&str> = p.effects.iter().map(|e| e.name()).collect();
        writeln!(out, "  middlebox: {}", effects.join(", "))?;
        for c in &p.changes {
            let mut kind = c.kind.name().to_string();
            if let Some(mask) = &c.mask {
                kind.push_str(&format!(" (mask {})", mask.escaped()));
            }
            writeln!(
                out,
                "  {} {} {}  {kind}",
                pad(&cell(&c.a, c.direction)),
                marker(c),
                pad(&cell(&c.b, c.direction)),
            )?;
        }
    }
    let unpaired = |list: &[usize], reports: &[SessionReport], label: &str| -> Vec<String> {
        list.iter()
            .map(|&i| format!("  {label} {}", side(&reports[i])))
            .collect()
    };
    let mut lines = unpaired(&diff.unpaired_a, a, "A");
    lines.extend(unpaired(&diff.unpaired_b, b, "B"));
    if !lines.is_empty() {
        writeln!(out)?;
        writeln!(out, "unpaired")?;
        for l in lines {
            writeln!(out, "{l}")?;
        }
    }
    writeln!(out)?;
    writeln!(out, "{}", summary_line(diff))
}

/// One line: pairs, those a middlebox changed and how, sessions left unpaired.
pub fn summary_line(diff: &Diff) -> String {
    let changed = diff.pairs.iter().filter(|p| !p.effects.is_empty()).count();
    let mut counts = std::collections::BTreeMap::new();
    for p in &diff.pairs {
        for e in &p.effects {
            *counts.entry(e.name()).or_insert(0) += 1;
        }
    }
    let effects: Vec<String> = counts.iter().map(|(e, n)| format!("{n} {e}")).collect();
    let mut line = format!(
        "{} pair{}, {changed} changed by a middlebox",
        diff.pairs.len(),
        if diff.pairs.len() == 1 { "" } else { "s" }
    );
    if !effects.is_empty() {
        line.push_str(&format!(" ({})", effects.join(", ")));
    }
    line.push_str(&format!(
        "; unpaired: {} in A, {} in B",
        diff.unpaired_a.len(),
        diff.unpaired_b.len()
    ));
    line
}
