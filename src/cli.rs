//! Command-line arguments, turned once into a plain [`Config`].

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use mailtap::analyzer::{self, PortSet};
use mailtap::capture::rotate::{self, Rotation};
use mailtap::classify::{FindingKind, SessionReport, Severity, Verdict};
use mailtap::parallel::FrameFilter;
use mailtap::report::{Format, Only};
use mailtap::smtp::SessionLimits;

use crate::select::{parse_client, split_filter, Endpoint, Selection};

/// Tells, for every SMTP connection in a capture or on the wire, how the STARTTLS negotiation
/// went.
#[derive(Parser, Debug)]
#[command(name = "mailtap", version, about, after_help = AFTER_HELP)]
struct Args {
    /// Capture files (.pcap, .pcapng, also gzip/zstd/xz-compressed); `-` reads standard input.
    /// Then a capture filter (pcap-filter syntax, as tcpdump takes it: `host 192.0.2.25 and
    /// port 25`): live, and on files in the `live` build
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

    /// Exit with 1 when a session has one of these verdicts, findings, or finding severities
    /// (`high`: a finding of severity high; `warning`: warning or high), or with `no-sessions`
    /// when no SMTP session was found at all. Separated by commas or spaces; may be repeated.
    /// Each match is named on standard error
    #[arg(long, value_name = "NAMES")]
    fail_on: Vec<String>,

    /// Also treat these TCP ports as SMTP (comma-separated or repeated)
    #[arg(long = "port", value_name = "PORT", value_delimiter = ',',
          value_parser = clap::value_parser!(u16).range(1..))]
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
    #[arg(long, value_name = "SECS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(IDLE_TIMEOUT))]
    idle_timeout: u64,

    /// Bytes buffered per direction before TLS (a larger backlog is dropped and marked)
    #[arg(long, value_name = "BYTES", default_value_t = 256 * 1024,
          value_parser = clap::value_parser!(u64).range(MAX_BUFFER))]
    max_buffer: u64,

    /// Flows tracked at once, all threads together; the least recently active are ended beyond it
    #[arg(long, value_name = "N", default_value_t = 200_000,
          value_parser = clap::value_parser!(u64).range(MAX_FLOWS))]
    max_flows: u64,

    /// Analysis threads [default: the number of CPUs]. Several files: one per thread; one
    /// file: its connections split between the threads (one fewer for a compressed file,
    /// whose decompression takes one), reported exactly as with one
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

    /// Stop after this many SMTP sessions have ended (files: the first N to end, the files
    /// read one after the other)
    #[arg(short = 'c', long = "count", value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..))]
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

    #[command(flatten)]
    inputs: InputArgs,
}

// ---- inputs, selection, exit status, shell habits (issue 10) --------------------------------

/// The allowed ranges of the limits: out of range is a usage error, never changed silently.
const IDLE_TIMEOUT: std::ops::RangeInclusive<u64> = 1..=604_800;
const MAX_BUFFER: std::ops::RangeInclusive<u64> = 4096..=(1 << 30);
const MAX_FLOWS: std::ops::RangeInclusive<u64> = 16..=100_000_000;

#[derive(clap::Args, Debug)]
struct InputArgs {
    /// Only packets to or from this server (and port): ADDR, ADDR/PREFIX, ADDR:PORT,
    /// [IPV6]:PORT; may be repeated. Works in every build
    #[arg(
        long,
        value_name = "ADDR[/PREFIX][:PORT]",
        help_heading = "Selecting sessions"
    )]
    server: Vec<String>,

    /// Only packets to or from this client: ADDR or ADDR/PREFIX; may be repeated. With
    /// --server: packets between the two
    #[arg(
        long,
        value_name = "ADDR[/PREFIX]",
        help_heading = "Selecting sessions"
    )]
    client: Vec<String>,

    /// Exit with 1 when a session's verdict is not one of these (comma-separated), e.g.
    /// --require upgraded,implicit-tls. Each such session is named on standard error
    #[arg(long, value_name = "VERDICTS")]
    require: Vec<String>,

    /// A damaged or cut capture: report what was readable and exit 0 (default: exit 2)
    #[arg(long)]
    allow_damage: bool,

    /// Accepted as tcpdump takes it; mailtap never resolves names anyway (addresses and ports
    /// are always shown as numbers)
    #[arg(short = 'n')]
    numeric: bool,

    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) and exit
    #[arg(long, value_name = "SHELL")]
    completions: Option<clap_complete::Shell>,

    /// Print the man page (roff) and exit: mailtap --man > /usr/local/share/man/man1/mailtap.1
    #[arg(long)]
    man: bool,
}

/// The command line as clap knows it, help text included (verdict and finding names from the
/// code, never copied by hand).
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    Args::command().after_help(after_help())
}

fn names<T: Copy>(all: &[T], name: impl Fn(T) -> &'static str) -> String {
    all.iter().map(|&v| name(v)).collect::<Vec<_>>().join(", ")
}

/// Wraps `text` at 90 columns, following lines indented by two spaces.
fn wrap(text: &str) -> String {
    let mut out = String::new();
    let mut line = 0;
    for word in text.split(' ') {
        if line > 0 && line + 1 + word.len() > 90 {
            out.push_str("\n  ");
            line = 2;
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += word.len();
    }
    out
}

fn after_help() -> String {
    format!(
        "{}\n{}\n{}\n\n{AFTER_HELP}",
        wrap(&format!(
            "Verdicts: {}.",
            names(Verdict::ALL, Verdict::name)
        )),
        wrap(&format!(
            "Findings: {}.",
            names(FindingKind::ALL, FindingKind::name)
        )),
        wrap(&format!(
            "Severities (for --fail-on): {}; and no-sessions.",
            names(Severity::ALL, Severity::name)
        )),
    )
}

/// Splits --fail-on and --require values on commas and white space.
fn split_names(values: &[String]) -> impl Iterator<Item = &str> {
    values
        .iter()
        .flat_map(|v| v.split(|c: char| c == ',' || c.is_whitespace()))
        .filter(|n| !n.is_empty())
}

fn parse_fail_on(values: &[String]) -> Result<Vec<FailOn>, String> {
    split_names(values)
        .map(|name| {
            if name == "no-sessions" {
                return Ok(FailOn::NoSessions);
            }
            name.parse()
                .map(FailOn::Verdict)
                .or_else(|_| name.parse().map(FailOn::Finding))
                .or_else(|_| name.parse().map(FailOn::Severity))
                .map_err(|_| {
                    format!(
                        "--fail-on: '{name}' is neither a verdict nor a finding (nor a severity, nor no-sessions; see --help)"
                    )
                })
        })
        .collect()
}

fn parse_require(values: &[String]) -> Result<Option<FailOn>, String> {
    let verdicts = split_names(values)
        .map(|name| {
            name.parse::<Verdict>().map_err(|_| {
                format!(
                    "--require: '{name}' is not a verdict; verdicts: {}",
                    names(Verdict::ALL, Verdict::name)
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((!verdicts.is_empty()).then_some(FailOn::Require(verdicts)))
}

/// The capture filter and selectors for files.
fn selection(args: &InputArgs, filter: Option<String>) -> Result<Selection, String> {
    Ok(Selection {
        filter,
        servers: args
            .server
            .iter()
            .map(|s| Endpoint::parse(s).map_err(|e| format!("--server: {e}")))
            .collect::<Result<_, _>>()?,
        clients: args
            .client
            .iter()
            .map(|s| parse_client(s).map_err(|e| format!("--client: {e}")))
            .collect::<Result<_, _>>()?,
    })
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
In the table, findings marked !! are high, ! warnings; info findings are listed with -v.

Exit status: 0 fine; 1 a session matched --fail-on or --require (or --fail-on no-sessions
found none); 2 usage error, unreadable input, or a damaged capture (after reporting every
session before the damage; --allow-damage keeps 0 then).

Compressed captures (gzip, zstd, xz) are recognised by their content, from files and from
standard input. mailtap never resolves names (-n is accepted and changes nothing).

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
  mailtap --require upgraded,implicit-tls --fail-on no-sessions capture.pcap.gz
  mailtap -r capture.pcap host 192.0.2.25     # a filter on files: the live build
  mailtap --server 192.0.2.0/24:25 capture.pcap
  mailtap --only stripped,rejected --format csv capture.pcap > sessions.csv
  mailtap --by server capture.pcap             # which clients are offered STARTTLS
  mailtap diff client-side.pcap server-side.pcap   # what a middlebox changed (see mailtap diff --help)
  mailtap --completions bash > /etc/bash_completion.d/mailtap";

/// The one-line answer of a build without live capture.
pub const NO_LIVE: &str = "live capture (-i, -D) is not in this build: apt-get install libpcap-dev, then cargo build --release --features live (or pipe tcpdump in: tcpdump -i IFACE --immediate-mode -U -w - 'tcp port 25' | mailtap -)";

/// `--by`: another view of the sessions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum By {
    Server,
}

/// What to match for `--fail-on` (and `--require`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FailOn {
    Verdict(Verdict),
    Finding(FindingKind),
    /// A finding of this severity or above.
    Severity(Severity),
    /// No SMTP session in the whole input (checked at the end).
    NoSessions,
    /// `--require`: a verdict not in the list.
    Require(Vec<Verdict>),
}

impl FailOn {
    /// Why `report` matches, if it does: "stripped", "finding auth-before-tls", ...
    pub fn matches(&self, report: &SessionReport) -> Option<String> {
        match self {
            FailOn::Verdict(v) => (report.verdict == *v).then(|| format!("--fail-on {v}")),
            FailOn::Finding(k) => report.has(*k).then(|| format!("--fail-on {}", k.name())),
            FailOn::Severity(s) => report.findings.iter().find(|f| f.severity >= *s).map(|f| {
                format!(
                    "--fail-on {} ({} is {})",
                    s.name(),
                    f.kind.name(),
                    f.severity.name()
                )
            }),
            FailOn::NoSessions => None,
            FailOn::Require(verdicts) => (!verdicts.contains(&report.verdict)).then(|| {
                format!(
                    "--require {}: verdict {}",
                    names(verdicts, Verdict::name),
                    report.verdict
                )
            }),
        }
    }
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
    /// `--completions`, `--man`, `mailtap help`: print this and exit 0.
    Print(String),
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
    /// What to keep of the frames of capture files (a filter, --server, --client).
    pub filter: Option<FrameFilter>,
    /// `--allow-damage`: a damaged capture exits 0.
    pub allow_damage: bool,
    /// Analysis threads (`None`: one per CPU).
    pub threads: Option<usize>,
    /// `--by server`, and whether clients are grouped by exact address.
    pub by: Option<(By, bool)>,
}

impl Config {
    /// Parses the command line; usage errors exit with status 2 (clap's convention).
    pub fn from_args() -> Result<Config, String> {
        use clap::FromArgMatches;
        let args = Args::from_arg_matches(&command().get_matches()).unwrap_or_else(|e| e.exit());
        if let Some(print) = print(&args) {
            return Ok(Config {
                source: Source::Print(print),
                format: None,
                fail_on: Vec::new(),
                analysis: analyzer::Config::default(),
                stop: Stop::default(),
                filter: None,
                allow_damage: false,
                threads: None,
                by: None,
                output: Output::default(),
            });
        }
        let _ = args.inputs.numeric;
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
        let mut fail_on = parse_fail_on(&args.fail_on)?;
        fail_on.extend(parse_require(&args.inputs.require)?);
        let mut ports = PortSet::default();
        for port in args.ports {
            ports.insert(port);
        }
        let mut filter = None;
        let source = if args.list_interfaces {
            Source::ListInterfaces
        } else if let Some(interface) = args.interface {
            if !args.read.is_empty() {
                return Err("-i captures live; -r reads a file: give one of them".into());
            }
            if !args.inputs.server.is_empty() || !args.inputs.client.is_empty() {
                return Err("--server and --client select in capture files; live, give a capture filter: mailtap -i IFACE host 192.0.2.25 and port 25".into());
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
            let (files, expression) = split_filter(args.files);
            let mut inputs = args.read;
            inputs.extend(files.into_iter().map(PathBuf::from));
            if inputs.is_empty() {
                return Err(
                    "no capture given: name a .pcap/.pcapng file, or - for standard input, or capture live with -i IFACE (see --help)"
                        .into(),
                );
            }
            let piped = inputs.len() == 1 && inputs[0].as_os_str() == "-";
            if !piped && args.duration.is_some() {
                return Err(
                    "--duration applies to live capture (-i) or to a pipe on standard input (-)"
                        .into(),
                );
            }
            filter = selection(&args.inputs, expression)?.frame_filter()?;
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
                max_buffered: args.max_buffer as usize,
                ..SessionLimits::default()
            },
            max_flows: args.max_flows as usize,
            idle_timeout_secs: args.idle_timeout,
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
            filter,
            allow_damage: args.inputs.allow_damage,
            threads: args.threads.map(usize::from),
        })
    }
}

/// `--completions`, `--man`, or `mailtap help` (when no file is called `help`).
fn print(args: &Args) -> Option<String> {
    let mut cmd = command();
    if let Some(shell) = args.inputs.completions {
        let mut out = Vec::new();
        clap_complete::generate(shell, &mut cmd, "mailtap", &mut out);
        return Some(String::from_utf8_lossy(&out).into_owned());
    }
    if args.inputs.man {
        let mut out = Vec::new();
        clap_mangen::Man::new(cmd).render(&mut out).ok()?;
        return Some(String::from_utf8_lossy(&out).into_owned());
    }
    let help = args.files.len() == 1 && args.files[0] == "help" && args.read.is_empty();
    if help && !std::path::Path::new("help").exists() {
        return Some(cmd.render_long_help().to_string());
    }
    None
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
