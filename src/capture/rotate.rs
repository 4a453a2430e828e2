//! Saving captured packets to pcap files, with tcpdump's rotation (`-w FILE -C SIZE -G SECS
//! -W N`).
//!
//! - Without `-C` and `-G` every packet goes to `FILE`.
//! - `-C SIZE`: a file is closed once the next packet would take it past SIZE bytes; the next
//!   is `FILE1`, `FILE2`, … (as tcpdump names them). With `-W N` the names are `FILE0` …
//!   `FILE{N-1}`, zero-padded to the same width, and the oldest is overwritten: a ring of N
//!   files.
//! - `-G SECS`: a new file once a packet's timestamp is SECS or more after the current file's
//!   start. `FILE` may hold strftime conversions (`%Y %m %d %H %M %S %j %s %F %T %%`, UTC),
//!   filled in with the time the file starts. With `-C` too, files within the same interval get
//!   the suffix `1`, `2`, …. With `-W N` only the N newest files are kept: the oldest is
//!   deleted when a new one is made (tcpdump would stop instead).
//!
//! Files are classic pcap, microsecond timestamps, this machine's byte order — what tcpdump
//! writes. Rotation follows the packets' own timestamps, never the clock: the caller says when
//! the first file starts. Frame numbers go on across files.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::{LinkType, Timestamp};

/// Bytes of a pcap file header and of a record header.
const FILE_HEADER: u64 = 24;
const RECORD_HEADER: u64 = 16;

/// How to save and rotate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rotation {
    /// Close a file before it grows past this many bytes (tcpdump `-C`, which counts millions
    /// of bytes).
    pub max_bytes: Option<u64>,
    /// Start a new file after this many seconds of capture time (tcpdump `-G`).
    pub seconds: Option<u64>,
    /// Keep at most this many files (tcpdump `-W`).
    pub keep: Option<u32>,
}

impl Rotation {
    /// Whether files other than the first are ever made.
    pub fn rotates(&self) -> bool {
        self.max_bytes.is_some() || self.seconds.is_some()
    }

    /// Checks the combination and the name template; says what is wrong.
    pub fn check(&self, template: &Path) -> Result<(), String> {
        if self.keep.is_some() && !self.rotates() {
            return Err("-W needs -C or -G".into());
        }
        if self.keep == Some(0) {
            return Err("-W must be at least 1".into());
        }
        if self.max_bytes == Some(0) {
            return Err("-C must be more than 0".into());
        }
        if self.seconds == Some(0) {
            return Err("-G must be at least 1 second".into());
        }
        let text = template
            .to_str()
            .ok_or_else(|| format!("{}: the path is not UTF-8", template.display()))?;
        if self.seconds.is_some() {
            strftime(text, 0)?;
        }
        Ok(())
    }
}

/// Parses a `-C` size: millions of bytes as tcpdump counts them, or with a suffix `k`, `m`,
/// `g` (thousands, millions, billions of bytes).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&text[..i], c.to_ascii_lowercase()),
        _ => (text, 'm'),
    };
    let factor: u64 = match unit {
        'k' => 1_000,
        'm' => 1_000_000,
        'g' => 1_000_000_000,
        _ => {
            return Err(format!(
                "'{text}': a size is a number, optionally with k, m or g"
            ))
        }
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("'{text}': a size is a number, optionally with k, m or g"))?;
    n.checked_mul(factor)
        .filter(|&b| b > 0)
        .ok_or_else(|| format!("'{text}': out of range"))
}

/// Fills in the strftime conversions mailtap knows, in UTC.
pub fn strftime(template: &str, secs: i64) -> Result<String, String> {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    let yday = days - days_from_civil(year, 1, 1) + 1;
    let mut out = String::with_capacity(template.len() + 16);
    let mut chars = template.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('Y') => out.push_str(&format!("{year:04}")),
            Some('m') => out.push_str(&format!("{month:02}")),
            Some('d') => out.push_str(&format!("{day:02}")),
            Some('H') => out.push_str(&format!("{h:02}")),
            Some('M') => out.push_str(&format!("{m:02}")),
            Some('S') => out.push_str(&format!("{s:02}")),
            Some('j') => out.push_str(&format!("{yday:03}")),
            Some('s') => out.push_str(&secs.to_string()),
            Some('F') => out.push_str(&format!("{year:04}-{month:02}-{day:02}")),
            Some('T') => out.push_str(&format!("{h:02}:{m:02}:{s:02}")),
            Some('%') => out.push('%'),
            Some(other) => {
                return Err(format!(
                    "'%{other}' in the -w name: mailtap knows %Y %m %d %H %M %S %j %s %F %T %%"
                ))
            }
            None => return Err("the -w name ends with a lone '%'".into()),
        }
    }
    Ok(out)
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Writes packets to the `-w` file(s), rotating as asked.
pub struct Saver {
    template: PathBuf,
    rotation: Rotation,
    link: LinkType,
    snaplen: u32,
    out: BufWriter<File>,
    path: PathBuf,
    /// Bytes in the current file.
    written: u64,
    /// Files made so far (the current one included).
    files: u64,
    /// Start of the current file, capture time (seconds).
    started: i64,
    /// Files made in the current `-G` interval.
    in_interval: u64,
    /// With -G -W: the files made, oldest first.
    kept: VecDeque<PathBuf>,
}

impl Saver {
    /// Makes the first file; `now` is when it starts (for `-G`).
    pub fn create(
        template: &Path,
        rotation: Rotation,
        link: LinkType,
        snaplen: u32,
        now: Timestamp,
    ) -> Result<Saver, String> {
        rotation.check(template)?;
        let path = name(template, &rotation, 0, now.secs, 0)?;
        let out = open(&path, link, snaplen).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut kept = VecDeque::new();
        kept.push_back(path.clone());
        Ok(Saver {
            template: template.to_path_buf(),
            rotation,
            link,
            snaplen,
            out,
            path,
            written: FILE_HEADER,
            files: 1,
            started: now.secs,
            in_interval: 1,
            kept,
        })
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open file (to hand it to its new owner after a privilege drop).
    pub fn file(&self) -> &File {
        self.out.get_ref()
    }

    /// The folder new files are made in.
    pub fn folder(&self) -> PathBuf {
        match self.template.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    /// How the files rotate.
    pub fn rotation(&self) -> &Rotation {
        &self.rotation
    }

    /// Writes one packet, first moving to a new file when the rotation says so.
    pub fn write(&mut self, ts: Timestamp, data: &[u8], orig_len: u32) -> io::Result<()> {
        let record = RECORD_HEADER + data.len() as u64;
        let by_time = self
            .rotation
            .seconds
            .is_some_and(|g| ts.secs >= self.started.saturating_add(g as i64));
        let by_size = self
            .rotation
            .max_bytes
            .is_some_and(|c| self.written > FILE_HEADER && self.written + record > c);
        if by_time || by_size {
            self.rotate(ts, by_time)?;
        }
        let mut header = [0u8; RECORD_HEADER as usize];
        header[0..4].copy_from_slice(&(ts.secs as u32).to_ne_bytes());
        header[4..8].copy_from_slice(&(ts.nanos / 1000).to_ne_bytes());
        header[8..12].copy_from_slice(&(data.len() as u32).to_ne_bytes());
        header[12..16].copy_from_slice(&orig_len.to_ne_bytes());
        self.out.write_all(&header)?;
        self.out.write_all(data)?;
        self.written += record;
        Ok(())
    }

    /// Puts what was written on disk (the file stays readable as it grows).
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn rotate(&mut self, ts: Timestamp, new_interval: bool) -> io::Result<()> {
        self.out.flush()?;
        if new_interval {
            self.started = ts.secs;
            self.in_interval = 0;
        }
        let path = name(
            &self.template,
            &self.rotation,
            self.files,
            self.started,
            self.in_interval,
        )
        .map_err(io::Error::other)?;
        self.out = open(&path, self.link, self.snaplen)?;
        self.files += 1;
        self.in_interval += 1;
        self.written = FILE_HEADER;
        self.path = path.clone();
        if self.rotation.seconds.is_some() {
            if self.kept.back() != Some(&path) {
                self.kept.push_back(path);
            }
            if let Some(keep) = self.rotation.keep {
                while self.kept.len() > keep as usize {
                    if let Some(old) = self.kept.pop_front() {
                        match std::fs::remove_file(&old) {
                            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                            _ => {}
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// The name of file number `n` (from 0), starting at `secs`, the `k`-th in its -G interval.
fn name(
    template: &Path,
    rotation: &Rotation,
    n: u64,
    secs: i64,
    k: u64,
) -> Result<PathBuf, String> {
    let text = template
        .to_str()
        .ok_or_else(|| format!("{}: the path is not UTF-8", template.display()))?;
    if let Some(_g) = rotation.seconds {
        let base = strftime(text, secs)?;
        return Ok(PathBuf::from(if rotation.max_bytes.is_some() && k > 0 {
            format!("{base}{k}")
        } else {
            base
        }));
    }
    if rotation.max_bytes.is_none() {
        return Ok(template.to_path_buf());
    }
    Ok(PathBuf::from(match rotation.keep {
        Some(w) => {
            let width = (w.saturating_sub(1)).max(1).to_string().len();
            format!("{text}{:0width$}", n % u64::from(w))
        }
        None if n == 0 => text.to_string(),
        None => format!("{text}{n}"),
    }))
}

fn open(path: &Path, link: LinkType, snaplen: u32) -> io::Result<BufWriter<File>> {
    let mut out = BufWriter::with_capacity(256 * 1024, File::create(path)?);
    let mut header = [0u8; FILE_HEADER as usize];
    header[0..4].copy_from_slice(&0xa1b2_c3d4u32.to_ne_bytes());
    header[4..6].copy_from_slice(&2u16.to_ne_bytes());
    header[6..8].copy_from_slice(&4u16.to_ne_bytes());
    // thiszone and sigfigs: 0.
    header[16..20].copy_from_slice(&snaplen.to_ne_bytes());
    header[20..24].copy_from_slice(&link.0.to_ne_bytes());
    out.write_all(&header)?;
    out.flush()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strftime_fills_in_utc() {
        // 2026-11-30 02:25:07 UTC
        let t = 1_796_005_507;
        assert_eq!(
            strftime("cap-%Y%m%d-%H%M%S.pcap", t).unwrap(),
            "cap-20261130-022507.pcap"
        );
        assert_eq!(
            strftime("%F_%T %j %s %%", t).unwrap(),
            "2026-11-30_02:25:07 334 1796005507 %"
        );
        assert_eq!(strftime("%F", 0).unwrap(), "1970-01-01");
        assert_eq!(strftime("%F", 951_782_400).unwrap(), "2000-02-29");
        assert!(strftime("%Q", 0).is_err());
        assert!(strftime("x%", 0).is_err());
    }

    #[test]
    fn sizes_count_millions_of_bytes_like_tcpdump() {
        assert_eq!(parse_size("5"), Ok(5_000_000));
        assert_eq!(parse_size("100k"), Ok(100_000));
        assert_eq!(parse_size("2G"), Ok(2_000_000_000));
        assert!(parse_size("0").is_err());
        assert!(parse_size("1x").is_err());
        assert!(parse_size("k").is_err());
    }

    #[test]
    fn names_follow_tcpdump() {
        let p = Path::new("/x/cap.pcap");
        let c = Rotation {
            max_bytes: Some(1),
            ..Rotation::default()
        };
        assert_eq!(name(p, &c, 0, 0, 0).unwrap(), Path::new("/x/cap.pcap"));
        assert_eq!(name(p, &c, 2, 0, 0).unwrap(), Path::new("/x/cap.pcap2"));
        let ring = Rotation {
            max_bytes: Some(1),
            keep: Some(12),
            ..Rotation::default()
        };
        assert_eq!(name(p, &ring, 0, 0, 0).unwrap(), Path::new("/x/cap.pcap00"));
        assert_eq!(
            name(p, &ring, 13, 0, 0).unwrap(),
            Path::new("/x/cap.pcap01")
        );
        let g = Rotation {
            seconds: Some(60),
            max_bytes: Some(1),
            ..Rotation::default()
        };
        let t = Path::new("/x/%H%M.pcap");
        assert_eq!(name(t, &g, 5, 3600, 0).unwrap(), Path::new("/x/0100.pcap"));
        assert_eq!(name(t, &g, 6, 3600, 2).unwrap(), Path::new("/x/0100.pcap2"));
    }

    #[test]
    fn bad_combinations_are_refused() {
        let p = Path::new("cap.pcap");
        let w_alone = Rotation {
            keep: Some(3),
            ..Rotation::default()
        };
        assert!(w_alone.check(p).is_err());
        let bad_template = Rotation {
            seconds: Some(1),
            ..Rotation::default()
        };
        assert!(bad_template.check(Path::new("cap-%q")).is_err());
    }
}
