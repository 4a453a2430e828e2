//! `mailtap diff A B` / `mailtap diff FILE`: its own small command line, detected before the
//! normal one ([`is_diff`]), and its run: analyse both captures keeping the plaintext
//! dialogue, pair and compare (library module `mailtap::diff`), write the table or the
//! `mailtap-diff/1` document, exit 1 with `--fail-on` when a pair has a middlebox effect.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use mailtap::analyzer::{self, PortSet};
use mailtap::classify::SessionReport;
use mailtap::diff::{self, Effect};
use mailtap::smtp::SessionLimits;

/// Compares two captures of the same SMTP traffic taken in two places (or one capture holding
/// both legs) and says what a middlebox changed: lines deleted, masked or inserted, commands
/// blocked or answered by the middlebox, TLS bytes altered, resets.
#[derive(Parser, Debug)]
#[command(name = "mailtap diff", bin_name = "mailtap diff", version, after_help = AFTER_HELP)]
struct DiffArgs {
    /// The capture nearer the client (A), then the one nearer the server (B); one capture
    /// alone when it holds both legs (a proxy's two connections, or `tcpdump -i any` on a
    /// router)
    #[arg(value_name = "CAPTURE", num_args = 1..=2, required = true)]
    captures: Vec<PathBuf>,

    /// Output format
    #[arg(long, value_enum, default_value = "table")]
    format: DiffFormat,

    /// Exit with 1 when a pair has a middlebox effect; `--fail-on=offer-stripped,tls-broken`
    /// only for these (offer-stripped, command-blocked, banner-altered, tls-broken, other)
    #[arg(
        long,
        value_name = "EFFECTS",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "any"
    )]
    fail_on: Option<String>,

    /// Also treat these TCP ports as SMTP (comma-separated or repeated)
    #[arg(long = "port", value_name = "PORT", value_delimiter = ',')]
    ports: Vec<u16>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum DiffFormat {
    Table,
    Json,
}

const AFTER_HELP: &str = "\
Sessions are paired by their dialogue (EHLO argument, MAIL FROM, RCPT TO, replies, order) and
by time, never by addresses: NAT and proxies change them. The clock offset between two
captures is estimated and reported. Side A is taken as the side nearer the client.

Examples:
  mailtap diff client-side.pcap server-side.pcap
  mailtap diff --format json relay-any.pcap
  mailtap diff --fail-on=offer-stripped,command-blocked a.pcap b.pcap";

/// Whether the command line asks for `mailtap diff`.
pub fn is_diff() -> bool {
    std::env::args_os().nth(1).is_some_and(|a| a == "diff")
}

fn fail_on(arg: &Option<String>) -> Result<Option<Vec<Effect>>, String> {
    let Some(names) = arg else {
        return Ok(None);
    };
    if names == "any" {
        return Ok(Some(Vec::new()));
    }
    names
        .split(',')
        .filter(|n| !n.is_empty())
        .map(|n| {
            n.parse()
                .map_err(|_| format!("--fail-on: '{n}' is not a middlebox effect (see --help)"))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn analyze(path: &PathBuf, config: &analyzer::Config) -> Result<Vec<SessionReport>, String> {
    let name = path.display();
    let file = File::open(path).map_err(|e| format!("{name}: {e}"))?;
    let analysis =
        mailtap::analyze(io::BufReader::new(file), config).map_err(|e| format!("{name}: {e}"))?;
    if let Some(e) = &analysis.damage {
        eprintln!("mailtap: warning: {name}: {e} (the sessions before it are compared)");
    }
    Ok(analysis.sessions)
}

/// Runs `mailtap diff` with the process's arguments (the word `diff` included).
pub fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os()
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .map(|(_, a)| a)
        .collect();
    let args = match DiffArgs::try_parse_from(args) {
        Ok(args) => args,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match run(&args) {
        Ok(code) => code,
        Err(Failure::Io(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(Failure::Io(e)) => {
            eprintln!("mailtap: {e}");
            ExitCode::from(2)
        }
        Err(Failure::Usage(message)) => {
            eprintln!("mailtap diff: {message}");
            ExitCode::from(2)
        }
    }
}

enum Failure {
    Usage(String),
    Io(io::Error),
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::Io(e)
    }
}

fn run(args: &DiffArgs) -> Result<ExitCode, Failure> {
    let fail_on = fail_on(&args.fail_on).map_err(Failure::Usage)?;
    let mut ports = PortSet::default();
    for &port in &args.ports {
        ports.insert(port);
    }
    let config = analyzer::Config {
        ports,
        limits: SessionLimits {
            keep_transcript: true,
            ..SessionLimits::default()
        },
        ..analyzer::Config::default()
    };
    let a = analyze(&args.captures[0], &config).map_err(Failure::Usage)?;
    let b = match args.captures.get(1) {
        Some(path) => Some(analyze(path, &config).map_err(Failure::Usage)?),
        None => None,
    };
    let (result, b) = match &b {
        Some(b) => (diff::pair_two(&a, b), &b[..]),
        None => (diff::pair_one(&a), &a[..]),
    };
    let name = |i: usize| {
        args.captures[i.min(args.captures.len() - 1)]
            .to_string_lossy()
            .into_owned()
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    match args.format {
        DiffFormat::Table => diff::write_table(&mut out, [&name(0), &name(1)], &result, &a, b)?,
        DiffFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &diff::json::Document::new(&result, &a, b))
                .map_err(io::Error::from)?;
            out.write_all(b"\n")?;
        }
    }
    out.flush()?;
    Ok(match fail_on {
        Some(effects) if result.has_effect(&effects) => ExitCode::from(1),
        _ => ExitCode::SUCCESS,
    })
}
