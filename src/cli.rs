//! Command-line arguments, turned once into a plain [`Config`].

use std::path::PathBuf;

use clap::Parser;

use mailtap::analyzer::{self, PortSet};
use mailtap::classify::{FindingKind, Verdict};
use mailtap::report::Format;
use mailtap::smtp::SessionLimits;

/// Tells, for every SMTP connection in a capture, how the STARTTLS negotiation went.
#[derive(Parser, Debug)]
#[command(name = "mailtap", version, about, after_help = AFTER_HELP)]
struct Args {
    /// Capture files (.pcap, .pcapng); `-` reads standard input
    #[arg(value_name = "FILE")]
    files: Vec<PathBuf>,

    /// Read this capture file (as tcpdump -r); may be repeated
    #[arg(short = 'r', long = "read", value_name = "FILE")]
    read: Vec<PathBuf>,

    /// Output format [default: table]
    #[arg(long, value_enum)]
    format: Option<Format>,

    /// Exit with 1 when a session has one of these verdicts or findings (comma-separated)
    #[arg(long, value_name = "NAMES", value_delimiter = ',')]
    fail_on: Vec<String>,

    /// Also treat these TCP ports as SMTP (comma-separated or repeated)
    #[arg(long = "port", value_name = "PORT", value_delimiter = ',')]
    ports: Vec<u16>,

    /// Only look at the SMTP ports: no detection of SMTP by content on other ports
    #[arg(long)]
    no_content_detection: bool,

    /// End a session after this many seconds without a packet (capture time)
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    idle_timeout: u64,

    /// Bytes buffered per direction before TLS (a larger backlog is dropped and marked)
    #[arg(long, value_name = "BYTES", default_value_t = 256 * 1024)]
    max_buffer: usize,

    /// Flows tracked at once; the least recently active are ended beyond it
    #[arg(long, value_name = "N", default_value_t = 200_000)]
    max_flows: usize,
}

const AFTER_HELP: &str = "\
Verdicts: upgraded, implicit-tls, not-offered, stripped, not-used, rejected,
handshake-failed, no-ehlo, incomplete. Exit status: 0 fine, 1 a session matched --fail-on,
2 usage or input error.

Examples:
  mailtap capture.pcapng
  mailtap --format json -r capture.pcap | jq '.sessions[] | select(.verdict==\"stripped\")'
  tcpdump -i eth0 -U -w - 'tcp port 25' | mailtap --format jsonl -
  mailtap --fail-on stripped,rejected,handshake-failed capture.pcap";

/// What to match for `--fail-on`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FailOn {
    Verdict(Verdict),
    Finding(FindingKind),
}

/// Everything `run` needs, checked.
#[derive(Debug)]
pub struct Config {
    pub inputs: Vec<PathBuf>,
    pub format: Option<Format>,
    pub fail_on: Vec<FailOn>,
    pub analysis: analyzer::Config,
}

impl Config {
    /// Parses the command line; usage errors exit with status 2 (clap's convention).
    pub fn from_args() -> Result<Config, String> {
        let args = Args::parse();
        let mut inputs = args.read;
        inputs.extend(args.files);
        if inputs.is_empty() {
            return Err(
                "no capture given: name a .pcap/.pcapng file, or - for standard input (see --help)"
                    .into(),
            );
        }
        let fail_on = args
            .fail_on
            .iter()
            .filter(|n| !n.is_empty())
            .map(|name| {
                name.parse()
                    .map(FailOn::Verdict)
                    .or_else(|_| name.parse().map(FailOn::Finding))
                    .map_err(|_| {
                        format!(
                            "--fail-on: '{name}' is neither a verdict nor a finding (see --help)"
                        )
                    })
            })
            .collect::<Result<_, _>>()?;
        let mut ports = PortSet::default();
        for port in args.ports {
            ports.insert(port);
        }
        let analysis = analyzer::Config {
            ports,
            content_detection: !args.no_content_detection,
            limits: SessionLimits {
                max_buffered: args.max_buffer.max(4096),
                ..SessionLimits::default()
            },
            max_flows: args.max_flows.max(16),
            idle_timeout_secs: args.idle_timeout.max(1),
            ..analyzer::Config::default()
        };
        Ok(Config {
            inputs,
            format: args.format,
            fail_on,
            analysis,
        })
    }
}
