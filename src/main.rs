//! The `mailtap` command: arguments → inputs → analyzer → reporter → exit status.
//!
//! Files are analysed one after the other ([`files`]); a live interface or a capture streamed
//! on standard input is watched until it ends or is stopped ([`watch`]).
#![forbid(unsafe_code)]

mod cli;
mod diff_cli;
mod progress;
#[cfg(feature = "live")]
mod sandbox;
mod select;
mod watch;

use std::fs::File;
use std::io::{self, IsTerminal, Read};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use mailtap::analyzer::Summary;
use mailtap::capture::file::Progress;
use mailtap::classify::SessionReport;
use mailtap::parallel::{analyze_inputs, Event, InputError, Options, Render};
use mailtap::report::{Format, Reporter, View};

use cli::{Config, FailOn, Source};

fn main() -> ExitCode {
    no_huge_pages();
    if diff_cli::is_diff() {
        return diff_cli::main();
    }
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

/// Whether `report` matches `--fail-on` or `--require`; each match is named on standard error
/// (the table may be in a file, or JSON).
fn matches(fail_on: &[FailOn], report: &SessionReport) -> bool {
    matches_in(None, fail_on, report)
}

fn matches_in(capture: Option<&str>, fail_on: &[FailOn], report: &SessionReport) -> bool {
    let mut matched = false;
    for why in fail_on.iter().filter_map(|f| f.matches(report)) {
        let r = &report.record;
        eprintln!(
            "mailtap: match: {}{} -> {} (frames {}-{}, {}): {why}",
            capture.map(|c| format!("{c}: ")).unwrap_or_default(),
            r.client,
            r.server,
            r.first_frame,
            r.last_frame,
            report.verdict,
        );
        matched = true;
    }
    matched
}

/// `--fail-on no-sessions` and no SMTP session at all.
fn no_sessions(fail_on: &[FailOn], sessions: u64) -> bool {
    let fails = sessions == 0 && fail_on.contains(&FailOn::NoSessions);
    if fails {
        eprintln!("mailtap: match: --fail-on no-sessions: no SMTP session in the input");
    }
    fails
}

fn run(mut config: Config) -> io::Result<ExitCode> {
    let format = config.format.unwrap_or(Format::Table);
    config.analysis.limits.keep_transcript = format.needs_transcript();
    match &config.source {
        Source::Print(text) => {
            use std::io::Write;
            let mut out = io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
            Ok(ExitCode::SUCCESS)
        }
        Source::ListInterfaces => watch::list_interfaces(),
        Source::Live(live) => watch::interface(&config, live),
        Source::Files(inputs) if watch::is_stream(inputs) => watch::stdin(&config),
        Source::Files(inputs) => files(&config, inputs),
    }
}

/// Colours only on a terminal, and never with NO_COLOR set.
fn color(stdout: &io::Stdout) -> bool {
    stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The width of standard error when it is a terminal (the summary is wrapped to it).
fn stderr_width() -> Option<usize> {
    let stderr = io::stderr();
    stderr.is_terminal().then(|| {
        terminal_size::terminal_size_of(&stderr)
            .map(|(w, _)| usize::from(w.0))
            .unwrap_or(80)
    })
}

/// How the report shows sessions: the options, and the terminal's width (none in a pipe,
/// unless --width gives one).
fn view(config: &Config, stdout: &io::Stdout) -> View {
    let o = &config.output;
    let width = o.width.or_else(|| {
        stdout.is_terminal().then(|| {
            terminal_size::terminal_size_of(stdout)
                .map(|(w, _)| usize::from(w.0))
                .or_else(|| std::env::var("COLUMNS").ok()?.parse().ok())
                .unwrap_or(80)
        })
    });
    View {
        color: color(stdout),
        width,
        wide: o.wide,
        verbose: o.verbose,
        utc: o.utc,
        quiet: o.quiet,
        only: o.only.clone(),
    }
}

/// Analyses capture files — several at once, one per core — and reports them in the order
/// given (sorted by first frame within each, for a table or JSON).
fn files(config: &Config, inputs: &[PathBuf]) -> io::Result<ExitCode> {
    let stdout = io::stdout();
    let format = config.format.unwrap_or(Format::Table);
    let mut reporter =
        Reporter::new(format, stdout.lock(), color(&stdout)).with_view(view(config, &stdout));
    let mut summary = Summary::default();
    let mut errors = Vec::new();
    let mut input_failed = false;
    let mut matched = false;
    let mut write_error = None;
    let mut by_server = Vec::new();

    let names: Vec<String> = inputs
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let mut index: Vec<Option<usize>> = vec![None; names.len()];
    let progress = Progress::new();
    let bar = progress::Bar::start(inputs, &progress);
    let defaults = Options::default();
    // One input is split between the threads (one reads, the others analyse): on two cores
    // 1.2x-1.5x where SMTP is dense, and no slower on mixed traffic, where the reader drops
    // nearly every frame itself (benches/compare.sh).
    let split_one_input = names.len() == 1;
    let mut threads = config.threads.unwrap_or(defaults.threads);
    if split_one_input && compressed(&inputs[0]) {
        // Decompressing takes a core of its own: on two cores, splitting the analysis as well
        // made a gzip capture slower (2.8 s against 2.2 s on the all-SMTP capture).
        threads = threads.saturating_sub(1).max(1);
    }
    let options = Options {
        progress: Some(progress),
        filter: config.filter.clone(),
        max_sessions: config.stop.sessions,
        threads,
        split_one_input,
        // Each shard writes its sessions' JSON Lines (the merge only copies them).
        render: (split_one_input && config.by.is_none())
            .then(|| reporter.renderer(&names[0]))
            .flatten()
            .map(|render| Arc::new(render) as Arc<dyn Render>),
        ..defaults
    };
    let open = |i: usize| -> io::Result<Box<dyn Read + Send>> {
        Ok(if names[i] == "-" {
            Box::new(io::stdin())
        } else {
            let file = File::open(&inputs[i])?;
            if file.metadata()?.is_dir() {
                return Err(io::Error::new(
                    io::ErrorKind::IsADirectory,
                    "is a directory",
                ));
            }
            Box::new(file)
        })
    };
    analyze_inputs(names.len(), open, &config.analysis, &options, |i, event| {
        let name = &names[i];
        let mut fail = |e: &dyn std::fmt::Display| {
            eprintln!("mailtap: {name}: {e}");
            errors.push(format!("{name}: {e}"));
            input_failed = true;
        };
        let capture = (names.len() > 1).then_some(name.as_str());
        let written = match event {
            // Rendered by the thread that analysed it: written as it is.
            Event::Rendered(report, text) => {
                matched |= matches_in(capture, &config.fail_on, report);
                reporter.rendered(report, text)
            }
            Event::Session(report) if config.by.is_some() => {
                matched |= matches(&config.fail_on, &report);
                by_server.push(*report);
                Ok(())
            }
            Event::Session(report) => {
                matched |= matches_in(capture, &config.fail_on, &report);
                let input = *index[i].get_or_insert_with(|| reporter.input(name));
                reporter.session(input, *report)
            }
            Event::Done(Err(InputError::Open(e))) => {
                fail(&e);
                Ok(())
            }
            Event::Done(Err(InputError::Capture(e))) => {
                fail(&e);
                Ok(())
            }
            Event::Done(Ok(outcome)) => {
                index[i].get_or_insert_with(|| reporter.input(name));
                if let Some(e) = &outcome.damage {
                    // Everything before the damage has been analysed: report it, say where.
                    // Exit 2 all the same (a CI job must not pass on half a capture), unless
                    // --allow-damage.
                    let frames = outcome.summary.frames;
                    let tolerated = config.allow_damage && frames > 0;
                    let (label, hint) = if tolerated {
                        ("warning: ", "")
                    } else {
                        ("", "; exit status 2, --allow-damage for 0")
                    };
                    mailtap::report::line_to_stderr(
                        &format!("mailtap: {label}{name}: {e} (after {frames} frames; the sessions before it are reported{hint})"),
                        stderr_width(),
                    );
                    errors.push(format!("{name}: {e}"));
                    input_failed |= !tolerated;
                }
                summary.merge(&outcome.summary);
                Ok(())
            }
        };
        match written {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => {
                write_error = Some(e);
                ControlFlow::Break(())
            }
        }
    });
    drop(bar);
    if let Some(e) = write_error {
        return Err(e);
    }
    if let Some((_, exact)) = config.by {
        let view = mailtap::servers::by_server(&by_server, exact);
        let mut out = io::BufWriter::new(stdout.lock());
        match format {
            Format::Json => mailtap::servers::write_json(&mut out, &view)?,
            _ => mailtap::servers::write_table(&mut out, &view)?,
        }
        std::io::Write::flush(&mut out)?;
    } else {
        reporter.finish(&summary, &errors)?;
    }
    // Data on stdout, the summary beside it on stderr; none after an input that could not
    // be read.
    if !(input_failed && summary.frames == 0) {
        mailtap::report::summary_to_stderr(&summary, None, stderr_width());
    }
    let none = no_sessions(&config.fail_on, summary.sessions);
    Ok(if input_failed {
        ExitCode::from(2)
    } else if matched || none {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Whether the file at `path` starts as a compressed stream does (gzip, zstd, xz...).
fn compressed(path: &std::path::Path) -> bool {
    let mut head = [0u8; mailtap::capture::compressed::Compression::MAGIC_LEN];
    let read = File::open(path).and_then(|mut f| f.read(&mut head));
    read.is_ok_and(|n| mailtap::capture::compressed::Compression::sniff(&head[..n]).is_some())
}

/// mimalloc: sessions allocate and free records of a kilobyte or more, which glibc's malloc
/// serves slowly (its small-object caches stop at about 1 KiB): 12% of an all-SMTP run.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc asks the kernel for transparent huge pages for its arenas, and each is a 2 MiB
/// page zeroed and resident whole at its first touch: peak RSS on the all-SMTP capture of
/// `benches/compare.sh` was 27 MiB with one thread and 60 MiB with two (the bound is 64), and
/// 16 and 21 MiB without, at the same speed. Called first, before any thread: the setting is
/// the process's, and checked at each page fault.
#[cfg(all(feature = "mimalloc", target_os = "linux"))]
fn no_huge_pages() {
    // Not fatal: a kernel without the prctl keeps its pages, and mailtap works as before.
    let _ = rustix::thread::disable_transparent_huge_pages(true);
}

#[cfg(not(all(feature = "mimalloc", target_os = "linux")))]
fn no_huge_pages() {}
