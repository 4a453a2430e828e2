//! A regression test of a mail setup, as a program: every SMTP session in the captures must
//! have gone through TLS 1.2 or newer (STARTTLS or implicit TLS). It prints each session that
//! did not, with mailtap's reason, and exits 1 if there is one (2 when a capture cannot be
//! read) — ready for a CI job that records the test mail traffic of a mail setup.
//!
//! ```text
//! cargo run --example require_tls -- capture.pcapng [more.pcap ...]
//! ```

use std::process::ExitCode;

use mailtap::analyzer::Config;
use mailtap::classify::{SessionReport, Verdict};
use mailtap::tls::TlsVersion;

/// Why a session fails the requirement, if it does.
fn failure(session: &SessionReport) -> Option<String> {
    if !matches!(session.verdict, Verdict::Upgraded | Verdict::ImplicitTls) {
        return Some(format!(
            "{} (#{} {})",
            session.verdict, session.reason.frame, session.reason.text
        ));
    }
    let version = session.record.tls.as_ref()?.negotiated_version()?;
    let modern = version >= TlsVersion::TLS12 || version.is_tls13();
    (!modern).then(|| format!("negotiated {version}, below TLS 1.2"))
}

fn main() -> ExitCode {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    if paths.is_empty() {
        eprintln!("usage: require_tls CAPTURE...");
        return ExitCode::from(2);
    }
    let mut failed = 0;
    for path in &paths {
        let analysis = match std::fs::File::open(path)
            .map_err(|e| e.to_string())
            .and_then(|file| mailtap::analyze(file, &Config::default()).map_err(|e| e.to_string()))
        {
            Ok(analysis) => analysis,
            Err(e) => {
                eprintln!("{path}: {e}");
                return ExitCode::from(2);
            }
        };
        for session in &analysis.sessions {
            let (client, server) = (session.record.client, session.record.server);
            match failure(session) {
                Some(why) => {
                    failed += 1;
                    println!("FAIL {path}: {client} -> {server}: {why}");
                }
                None => println!("ok   {path}: {client} -> {server}: {}", session.verdict),
            }
        }
    }
    if failed > 0 {
        eprintln!("{failed} session(s) without TLS 1.2 or newer");
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
