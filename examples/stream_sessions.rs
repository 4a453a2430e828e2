//! Sessions from a live source as they end: reads a capture streamed on standard input (what
//! `tcpdump -w -` writes while it captures) and prints one line per SMTP session the moment
//! it ends, with its verdict and reason — the library's streaming entry point,
//! `mailtap::analyze_with`, which never holds more than the open connections.
//!
//! ```text
//! tcpdump -i eth0 --immediate-mode -U -w - 'tcp port 25' | cargo run --example stream_sessions
//! ```

use std::io::Write;

use mailtap::analyzer::Config;

fn main() -> std::process::ExitCode {
    let mut out = std::io::stdout();
    let result = mailtap::analyze_with(std::io::stdin(), &Config::default(), |session| {
        // One line per session, flushed at once: the output follows the capture.
        let _ = writeln!(
            out,
            "{} -> {} {} (#{} {})",
            session.record.client,
            session.record.server,
            session.verdict,
            session.reason.frame,
            session.reason.text
        );
        let _ = out.flush();
    });
    match result {
        Ok(outcome) => {
            eprintln!(
                "{} sessions, {} frames",
                outcome.summary.sessions, outcome.summary.frames
            );
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("not a capture: {e}");
            std::process::ExitCode::from(2)
        }
    }
}
