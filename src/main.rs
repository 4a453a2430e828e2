//! The `mailtap` command: arguments → inputs → analyzer → reporter → exit status.

mod cli;

use std::fs::File;
use std::io::{self, IsTerminal, Read};
use std::process::ExitCode;

use mailtap::analyzer::Summary;
use mailtap::classify::SessionReport;
use mailtap::report::{Format, Reporter};

use cli::{Config, FailOn};

fn main() -> ExitCode {
    let config = match Config::from_args() {
        Ok(config) => config,
        Err(message) => {
            eprintln!("mailtap: {message}");
            return ExitCode::from(2);
        }
    };
    match run(config) {
        Ok(code) => code,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mailtap: {e}");
            ExitCode::from(2)
        }
    }
}

fn matches(fail_on: &[FailOn], report: &SessionReport) -> bool {
    fail_on.iter().any(|f| match f {
        FailOn::Verdict(v) => report.verdict == *v,
        FailOn::Finding(k) => report.has(*k),
    })
}

fn run(mut config: Config) -> io::Result<ExitCode> {
    let stdout = io::stdout();
    let terminal = stdout.is_terminal();
    let format = config.format.unwrap_or(Format::Table);
    let color = terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    config.analysis.limits.keep_transcript = format.needs_transcript();
    let mut reporter = Reporter::new(format, stdout.lock(), color);
    let mut summary = Summary::default();
    let mut errors = Vec::new();
    let mut input_failed = false;
    let mut matched = false;

    for path in &config.inputs {
        let name = path.to_string_lossy().into_owned();
        let input: Box<dyn Read + Send> = if name == "-" {
            Box::new(io::stdin())
        } else {
            match File::open(path) {
                Ok(f) => Box::new(f),
                Err(e) => {
                    eprintln!("mailtap: {name}: {e}");
                    errors.push(format!("{name}: {e}"));
                    input_failed = true;
                    continue;
                }
            }
        };
        let index = reporter.input(&name);
        let mut write_error = None;
        let outcome = mailtap::analyze_with(input, &config.analysis, |report| {
            matched |= matches(&config.fail_on, &report);
            if write_error.is_none() {
                if let Err(e) = reporter.session(index, report) {
                    write_error = Some(e);
                }
            }
        });
        if let Some(e) = write_error {
            return Err(e);
        }
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(e) => {
                eprintln!("mailtap: {name}: {e}");
                errors.push(format!("{name}: {e}"));
                input_failed = true;
                continue;
            }
        };
        if let Some(e) = &outcome.damage {
            // Everything before the damage has been analysed: report it, and say where.
            let frames = outcome.summary.frames;
            eprintln!("mailtap: warning: {name}: {e} (after {frames} frames; the sessions before it are reported)");
            errors.push(format!("{name}: {e}"));
            if frames == 0 {
                input_failed = true;
            }
        }
        summary.merge(&outcome.summary);
    }
    reporter.finish(&summary, &errors)?;
    if matches!(format, Format::Jsonl | Format::Transcript) {
        // Streams carry only sessions; the summary goes beside them.
        eprintln!("mailtap: {}", mailtap::report::summary_line(&summary));
    }
    Ok(if input_failed {
        ExitCode::from(2)
    } else if matched {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
