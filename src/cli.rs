//! Command-line arguments, turned once into a plain [`Config`].

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use mailtap::analyzer::{self, PortSet};
use mailtap::capture::rotate::{self, Rotation};
use mailtap::classify::{FindingKind, Verdict};
use mailtap::report::{Format, Only};
use mailtap::smtp::SessionLimits;

/// Tells, for every SMTP connection in a capture or on the wire, how the STARTTLS negotiation
/// went.
#[derive(Parser, Debug)]
#[command(name = "mailtap", version, about, after_help = AFTER_HELP)]
struct Args {
    /// Capture files (.pcap, .pcapng); `-` reads standard input. With -i: a capture filter
    /// (pcap-filter syntax, as tcpdump takes it)
    #[arg(value_name = "FILE|FILTER")]
    files: Vec<OsString>,

    /// Read this capture file (as tcpdump -r); may be repeated
    #[arg(short = 'r', long = "read", value_name = "FILE")]
    read: Vec<PathBuf>,

    /// Output format [default: table]
    #[arg(long, value_enum)]
    format: Option<Format>,

    #[command(flatten)]
    output: OutputArgs,

    /// Exit with 1 when a session has one of these verdicts or findings (comma-separated)
    #[arg(long, value_name = "NAMES", value_delimiter = ',')]
    fail_on: Vec<String>,

    /// Also treat these TCP ports as SMTP (comma-separated or repeated)
    #[arg(long = "port", value_name = "PORT", value_delimiter = ',')]
    ports: Vec<u16>,

    /// A view per server instead of per session: sessions by verdict, and the client
    /// networks (/24, /64) offered STARTTLS and not; servers that offer it to some clients
    /// only are named first (table or --format json)
    #[arg(long, value_enum, value_name = "VIEW")]
    by: Option<By>,

    /// With --by server: group clients by exact address instead of /24 or /64 networks
    #[arg(long, requires = "by")]
    by_client_address: bool,

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

    /// Analysis threads [default: the number of CPUs]. Several files: one per thread; one
    /// file: its connections split between the threads, reported exactly as with one
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    threads: Option<u16>,

    /// Capture live on this interface (needs the `live` build; see -D for the names)
    #[arg(
        short = 'i',
        long = "interface",
        value_name = "IFACE",
        help_heading = "Live capture"
    )]
    interface: Option<String>,

    /// List the interfaces live capture can use, and exit
    #[arg(short = 'D', long = "list-interfaces", help_heading = "Live capture")]
    list_interfaces: bool,

    /// Capture all TCP (not only the SMTP ports) and find SMTP by its content
    #[arg(long, help_heading = "Live capture")]
    any_port: bool,

    /// Stop after this many SMTP sessions have ended (live capture or a pipe on stdin)
    #[arg(
        short = 'c',
        long = "count",
        value_name = "N",
        help_heading = "Live capture"
    )]
    count: Option<u64>,

    /// Stop after this many seconds (live capture or a pipe on stdin)
    #[arg(long, value_name = "SECS", help_heading = "Live capture")]
    duration: Option<u64>,

    /// Also save the captured packets to this pcap file
    #[arg(short = 'w', value_name = "FILE", help_heading = "Live capture")]
    write: Option<PathBuf>,

    /// Start a new -w file before this one grows past SIZE: millions of bytes as tcpdump
    /// counts them, or with a suffix k, m, g (-w cap.pcap -C 100 gives cap.pcap, cap.pcap1, …)
    #[arg(
        short = 'C',
        value_name = "SIZE",
        value_parser = parse_size,
        help_heading = "Live capture"
    )]
    file_size: Option<u64>,

    /// Start a new -w file every SECS seconds; the -w name may hold strftime conversions, in
    /// UTC (-w 'cap-%Y%m%d-%H%M%S.pcap')
    #[arg(short = 'G', value_name = "SECS", help_heading = "Live capture")]
    rotate_seconds: Option<u64>,

    /// Keep N -w files: with -C a ring of N files (cap.pcap0 … cap.pcapN-1, the oldest
    /// overwritten); with -G the oldest is deleted
    #[arg(short = 'W', value_name = "N", help_heading = "Live capture")]
    file_count: Option<u32>,

    /// Every SECS seconds, one line on stderr: packets, sessions ended, connections followed,
    /// packets received and dropped by the kernel
    #[arg(long, value_name = "SECS", help_heading = "Live capture")]
    stats: Option<u64>,

    /// Run as this user once the interface and the -w file are open [default: nobody when
    /// started as root; -Z root stays root, still without capabilities]
    #[arg(
        short = 'Z',
        long = "relinquish-privileges",
        value_name = "USER",
        help_heading = "Live capture"
    )]
    user: Option<String>,

    /// Bytes kept of each packet [default: 262144]
    #[arg(
        short = 's',
        long = "snapshot-length",
        value_name = "SNAPLEN",
        help_heading = "Live capture"
    )]
    snaplen: Option<u32>,

    /// Capture buffer size in KiB (as tcpdump -B) [default: 32 MiB; in immediate mode room for
    /// 256 packets, 32 to 64 MiB]
    #[arg(
        short = 'B',
        long = "buffer-size",
        value_name = "KIB",
        help_heading = "Live capture"
    )]
    buffer_size: Option<u32>,

    /// Hand over each packet as it arrives (the default when standard output is a terminal;
    /// otherwise packets are batched for up to 100 ms)
    #[arg(long, help_heading = "Live capture")]
    immediate_mode: bool,

    /// Do not put the interface into promiscuous mode
    #[arg(
        short = 'p',
        long = "no-promiscuous-mode",
        help_heading = "Live capture"
    )]
    no_promiscuous_mode: bool,
}

/// What the report shows (issue 9): grouped here, turned into [`Output`].
#[derive(clap::Args, Debug)]
struct OutputArgs {
    /// List only the sessions with one of these verdicts, findings or severities
    /// (comma-separated, e.g. stripped,rejected or high); the summary still counts all
    #[arg(
        long,
        value_name = "NAMES",
        value_delimiter = ',',
        help_heading = "Output"
    )]
    only: Vec<String>,

    /// Print the summary only (on standard error), no sessions
    #[arg(short = 'q', long, help_heading = "Output")]
    quiet: bool,

    /// Also list info-level findings in the table
    #[arg(short = 'v', long, help_heading = "Output")]
    verbose: bool,

    /// Shorten nothing: the table's rows as long as they need
    #[arg(long, help_heading = "Output")]
    wide: bool,

    /// Times in UTC instead of local time
    #[arg(long, help_heading = "Output")]
    utc: bool,

    /// Lay the table out for a terminal this many columns wide [default: the terminal's width;
    /// plain columns in a pipe]
    #[arg(long, value_name = "COLUMNS", help_heading = "Output")]
    width: Option<usize>,
}

/// What the report shows, checked.
#[derive(Debug, Default)]
pub struct Output {
    pub only: Vec<Only>,
    pub quiet: bool,
    pub verbose: bool,
    pub wide: bool,
    pub utc: bool,
    pub width: Option<usize>,
}

impl OutputArgs {
    fn check(self) -> Result<Output, String> {
        let only = self
            .only
            .iter()
            .filter(|n| !n.is_empty())
            .map(|name| {
                name.parse().map_err(|_| {
                    format!("--only: '{name}' is not a verdict, a finding or a severity (info, warning, high)")
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Output {
            only,
            quiet: self.quiet,
            verbose: self.verbose,
            wide: self.wide,
            utc: self.utc,
            width: self.width.map(|w| w.max(20)),
        })
    }
}

const AFTER_HELP: &str = "\
Verdicts: upgraded, implicit-tls, not-offered, stripped, not-used, rejected,
handshake-failed, no-ehlo, refused, incomplete. In the table, findings marked !! are high,
! warnings; info findings are listed with -v. Exit status: 0 fine, 1 a session matched --fail-on,
2 usage or input error.

Live capture (-i, -D) needs a build with the `live` feature: apt-get install libpcap-dev,
then cargo build --release --features live. Sessions are reported as they end; Ctrl-C or
SIGTERM reports the sessions still open, then the summary.

Examples:
  mailtap capture.pcapng
  mailtap --format json -r capture.pcap | jq '.sessions[] | select(.verdict==\"stripped\")'
  mailtap -i eth0                              # live: SMTP ports 25, 465, 587, 2525
  mailtap -i eth0 -w evidence.pcap host 192.0.2.25 and tcp port 25
  tcpdump -i eth0 --immediate-mode -U -w - 'tcp port 25' | mailtap --format jsonl -
  mailtap --fail-on stripped,rejected,handshake-failed capture.pcap
  mailtap --only stripped,rejected --format csv capture.pcap > sessions.csv
  mailtap --by server capture.pcap             # which clients are offered STARTTLS
  mailtap diff client-side.pcap server-side.pcap   # what a middlebox changed (see mailtap diff --help)";

/// The one-line answer of a build without live capture.
pub const NO_LIVE: &str = "live capture (-i, -D) is not in this build: apt-get install libpcap-dev, then cargo build --release --features live (or pipe tcpdump in: tcpdump -i IFACE --immediate-mode -U -w - 'tcp port 25' | mailtap -)";

/// `--by`: another view of the sessions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum By {
    Server,
}

/// What to match for `--fail-on`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FailOn {
    Verdict(Verdict),
    Finding(FindingKind),
}

/// What to read.
#[derive(Debug)]
pub enum Source {
    /// Capture files, one after the other (`-` is standard input).
    Files(Vec<PathBuf>),
    /// A live interface.
    Live(Live),
    /// `-D`: list the interfaces.
    ListInterfaces,
}

/// How to capture live, as tcpdump's options say it.
#[derive(Debug, Clone)]
#[cfg_attr(not(feature = "live"), allow(dead_code))]
pub struct Live {
    pub interface: String,
    /// The BPF filter: the trailing words, or one built from the SMTP ports.
    pub filter: String,
    pub snaplen: u32,
    /// Bytes.
    pub buffer_size: Option<u32>,
    /// `Some(true)` with --immediate-mode; `None`: as tcpdump, when stdout is a terminal.
    pub immediate: Option<bool>,
    pub promiscuous: bool,
    pub save: Option<PathBuf>,
    /// `-C`, `-G`, `-W`.
    pub rotation: Rotation,
    /// `-Z USER`.
    pub user: Option<String>,
}

/// When a live capture (or a pipe on standard input) stops by itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stop {
    pub sessions: Option<u64>,
    pub after: Option<Duration>,
    /// `--stats SECS`: how often to print the statistics line.
    pub stats_every: Option<Duration>,
}

/// Everything `run` needs, checked.
#[derive(Debug)]
pub struct Config {
    pub source: Source,
    pub format: Option<Format>,
    pub output: Output,
    pub fail_on: Vec<FailOn>,
    pub analysis: analyzer::Config,
    pub stop: Stop,
    /// Analysis threads (`None`: one per CPU).
    pub threads: Option<usize>,
    /// `--by server`, and whether clients are grouped by exact address.
    pub by: Option<(By, bool)>,
}

impl Config {
    /// Parses the command line; usage errors exit with status 2 (clap's convention).
    pub fn from_args() -> Result<Config, String> {
        let args = Args::parse();
        let output = args.output.check()?;
        let live = args.interface.is_some() || args.list_interfaces;
        if live && !cfg!(feature = "live") {
            return Err(NO_LIVE.into());
        }
        let live_only = [
            (args.write.is_some(), "-w"),
            (args.snaplen.is_some(), "-s"),
            (args.buffer_size.is_some(), "-B"),
            (args.immediate_mode, "--immediate-mode"),
            (args.no_promiscuous_mode, "-p"),
            (args.any_port, "--any-port"),
            (args.file_size.is_some(), "-C"),
            (args.rotate_seconds.is_some(), "-G"),
            (args.file_count.is_some(), "-W"),
            (args.user.is_some(), "-Z"),
            (args.stats.is_some(), "--stats"),
        ];
        if args.interface.is_none() {
            if let Some((_, flag)) = live_only.iter().find(|(given, _)| *given) {
                return Err(format!("{flag} applies to live capture: add -i IFACE"));
            }
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
        let source = if args.list_interfaces {
            Source::ListInterfaces
        } else if let Some(interface) = args.interface {
            if !args.read.is_empty() {
                return Err("-i captures live; -r reads a file: give one of them".into());
            }
            let rotation = Rotation {
                max_bytes: args.file_size,
                seconds: args.rotate_seconds,
                keep: args.file_count,
            };
            match &args.write {
                Some(path) => rotation.check(path)?,
                None if rotation != Rotation::default() => {
                    return Err("-C, -G and -W rotate the -w file: add -w FILE".into())
                }
                None => {}
            }
            let filter = if args.files.is_empty() {
                default_filter(&ports, args.any_port)
            } else {
                let words: Vec<_> = args.files.iter().map(|w| w.to_string_lossy()).collect();
                words.join(" ")
            };
            Live {
                interface,
                filter,
                snaplen: args.snaplen.unwrap_or(262_144),
                buffer_size: args.buffer_size.map(|kib| kib.saturating_mul(1024)),
                immediate: args.immediate_mode.then_some(true),
                promiscuous: !args.no_promiscuous_mode,
                save: args.write,
                rotation,
                user: args.user,
            }
            .into()
        } else {
            let mut inputs = args.read;
            inputs.extend(args.files.into_iter().map(PathBuf::from));
            if inputs.is_empty() {
                return Err(
                    "no capture given: name a .pcap/.pcapng file, or - for standard input, or capture live with -i IFACE (see --help)"
                        .into(),
                );
            }
            let piped = inputs.len() == 1 && inputs[0].as_os_str() == "-";
            if !piped && (args.count.is_some() || args.duration.is_some()) {
                return Err(
                    "-c and --duration apply to live capture (-i) or to a pipe on standard input (-)"
                        .into(),
                );
            }
            Source::Files(inputs)
        };
        let stop = Stop {
            sessions: args.count,
            after: args.duration.map(Duration::from_secs),
            stats_every: args.stats.map(|s| Duration::from_secs(s.max(1))),
        };
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
        if args.by.is_some()
            && (matches!(source, Source::Live(_))
                || !matches!(args.format, None | Some(Format::Table | Format::Json)))
        {
            return Err(
                "--by server reads capture files and writes a table or --format json".into(),
            );
        }
        Ok(Config {
            by: args.by.map(|by| (by, args.by_client_address)),
            source,
            format: args.format,
            output,
            fail_on,
            analysis,
            stop,
            threads: args.threads.map(usize::from),
        })
    }
}

fn parse_size(text: &str) -> Result<u64, String> {
    rotate::parse_size(text)
}

impl From<Live> for Source {
    fn from(live: Live) -> Self {
        Source::Live(live)
    }
}

/// The capture filter when none is given: TCP on the SMTP ports, or all TCP with --any-port.
pub fn default_filter(ports: &PortSet, any_port: bool) -> String {
    if any_port {
        return "tcp".into();
    }
    let ports: Vec<String> = ports.iter().map(|p| format!("port {p}")).collect();
    format!("tcp and ({})", ports.join(" or "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_filter_names_every_smtp_port() {
        let mut ports = PortSet::default();
        assert_eq!(
            default_filter(&ports, false),
            "tcp and (port 25 or port 465 or port 587 or port 2525)"
        );
        ports.insert(10025);
        assert!(default_filter(&ports, false).ends_with("or port 10025)"));
        assert_eq!(default_filter(&ports, true), "tcp");
    }
}
