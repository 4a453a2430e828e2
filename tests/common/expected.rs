//! Expectation tables (`EXPECTED.tsv`, the format of shared/corpus/MANIFEST.md) and the check
//! of a folder of captures against one.

use std::path::Path;

use mailtap::analyzer::Config;
use mailtap::classify::SessionReport;

/// One row: the session a human analyst identified and what it must show.
#[derive(Debug)]
pub struct Row {
    pub file: String,
    /// `None` for `*` (the file holds one session).
    pub client: Option<String>,
    pub server: Option<String>,
    /// Acceptable verdicts; empty for `none` (no SMTP session may be reported).
    pub verdicts: Vec<String>,
    pub required: Vec<String>,
    pub forbidden: Vec<String>,
    pub note: String,
}

fn list(field: &str) -> Vec<String> {
    field
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

pub fn load(path: &Path) -> Vec<Row> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            let get = |i: usize| f.get(i).copied().unwrap_or("").trim();
            let star = |s: &str| (s != "*" && !s.is_empty()).then(|| s.to_string());
            Row {
                file: get(0).to_string(),
                client: star(get(1)),
                server: star(get(2)),
                verdicts: if get(3) == "none" {
                    Vec::new()
                } else {
                    get(3).split('|').map(String::from).collect()
                },
                required: list(get(4)),
                forbidden: list(get(5)),
                note: get(6).to_string(),
            }
        })
        .collect()
}

pub fn analyze(path: &Path) -> Vec<SessionReport> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    mailtap::analyze(file, &Config::default())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .sessions
}

fn describe(s: &SessionReport) -> String {
    let kinds: Vec<&str> = s.findings.iter().map(|f| f.kind.name()).collect();
    format!(
        "{} -> {} {} [{}]",
        s.record.client,
        s.record.server,
        s.verdict,
        kinds.join(",")
    )
}

/// Checks every row of `table` against the captures in `dir`; returns what did not hold.
pub fn check(dir: &Path, table: &[Row]) -> Vec<String> {
    let mut failures = Vec::new();
    let mut files: Vec<&str> = table.iter().map(|r| r.file.as_str()).collect();
    files.dedup();
    for file in files {
        let rows: Vec<&Row> = table.iter().filter(|r| r.file == file).collect();
        let sessions = analyze(&dir.join(file));
        let expected_sessions = rows.iter().filter(|r| !r.verdicts.is_empty()).count();
        if sessions.len() != expected_sessions {
            failures.push(format!(
                "{file}: {} sessions reported, {expected_sessions} expected: {:?}",
                sessions.len(),
                sessions.iter().map(describe).collect::<Vec<_>>()
            ));
        }
        for row in rows.iter().filter(|r| !r.verdicts.is_empty()) {
            let found = sessions.iter().find(|s| {
                row.client
                    .as_ref()
                    .is_none_or(|c| *c == s.record.client.to_string())
                    && row
                        .server
                        .as_ref()
                        .is_none_or(|c| *c == s.record.server.to_string())
            });
            let Some(session) = found else {
                failures.push(format!(
                    "{file}: no session {:?} -> {:?} ({})",
                    row.client, row.server, row.note
                ));
                continue;
            };
            if !row.verdicts.iter().any(|v| v == session.verdict.name()) {
                failures.push(format!(
                    "{file}: expected {} got {} ({})",
                    row.verdicts.join("|"),
                    describe(session),
                    row.note
                ));
            }
            for kind in &row.required {
                if !session.findings.iter().any(|f| f.kind.name() == kind) {
                    failures.push(format!(
                        "{file}: missing finding {kind}: {} ({})",
                        describe(session),
                        row.note
                    ));
                }
            }
            for kind in &row.forbidden {
                if session.findings.iter().any(|f| f.kind.name() == kind) {
                    failures.push(format!(
                        "{file}: forbidden finding {kind}: {} ({})",
                        describe(session),
                        row.note
                    ));
                }
            }
        }
    }
    failures
}

/// Loads `dir/EXPECTED.tsv` and checks every capture in `dir` against it.
pub fn assert_folder(dir: &Path) {
    let table = load(&dir.join("EXPECTED.tsv"));
    assert!(!table.is_empty(), "{}: no rows", dir.display());
    let failures = check(dir, &table);
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
