//! Capture layer: where frames come from.
//!
//! A [`Frame`] is one captured packet with the capture's own timestamp, its link type and its
//! 1-based frame number (the number Wireshark shows). Nothing below this layer reads a clock
//! or a file: files are read by [`file::FileReader`], live interfaces by `live::LiveCapture` (cargo
//! feature `live`), and both hand frames to the same pipeline.

pub mod compressed;
pub mod file;
#[cfg(feature = "live")]
pub mod live;
pub mod rotate;

use std::fmt;

use serde::Serialize;

/// Packets counted by the capture library during a live capture (pcap_stats).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CaptureStats {
    /// Packets that passed the filter.
    pub received: u64,
    /// Dropped by the kernel: no room left in the capture buffer.
    pub dropped: u64,
    /// Dropped by the network interface or its driver.
    pub if_dropped: u64,
}

/// A capture timestamp: seconds and nanoseconds since the Unix epoch, as the capture says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    /// Seconds since the Unix epoch (UTC).
    pub secs: i64,
    /// Nanoseconds within the second.
    pub nanos: u32,
}

impl Timestamp {
    /// A timestamp of `secs` seconds and `nanos` nanoseconds since the epoch.
    pub const fn new(secs: i64, nanos: u32) -> Self {
        Timestamp { secs, nanos }
    }

    /// Seconds and a fraction given in `units_per_sec` (pcapng `if_tsresol`, or 10^6 / 10^9 for
    /// pcap). The fraction may be larger than a second in a damaged file; it is carried over.
    pub fn from_units(secs: i64, fraction: u64, units_per_sec: u64) -> Self {
        let units_per_sec = units_per_sec.max(1);
        let secs = secs.saturating_add((fraction / units_per_sec) as i64);
        let rest = fraction % units_per_sec;
        let nanos = (u128::from(rest) * 1_000_000_000 / u128::from(units_per_sec)) as u32;
        Timestamp { secs, nanos }
    }

    /// Seconds elapsed from `earlier` to `self`, saturating at zero.
    pub fn seconds_since(self, earlier: Timestamp) -> u64 {
        if self <= earlier {
            return 0;
        }
        let mut secs = self.secs - earlier.secs;
        if self.nanos < earlier.nanos {
            secs -= 1;
        }
        secs as u64
    }

    /// RFC 3339 in UTC with microseconds, e.g. `2024-03-01T12:00:00.123456Z`.
    pub fn to_rfc3339(self) -> String {
        self.to_string()
    }
}

/// RFC 3339, as [`Timestamp::to_rfc3339`]. Written digit by digit into a stack buffer: JSON
/// output writes two timestamps per session, and `format!` machinery was a visible share of it.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.secs.div_euclid(86_400);
        let second_of_day = self.secs.rem_euclid(86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        let micros = self.nanos.min(999_999_999) / 1000;
        let Ok(year @ 0..=9999) = u32::try_from(year) else {
            // A damaged timestamp far from our era: no fixed width.
            return write!(
                f,
                "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{micros:06}Z",
                second_of_day / 3600,
                second_of_day / 60 % 60,
                second_of_day % 60,
            );
        };
        let mut out = *b"0000-00-00T00:00:00.000000Z";
        let mut put = |at: usize, width: usize, mut value: u32| {
            for i in (at..at + width).rev() {
                out[i] = b'0' + (value % 10) as u8;
                value /= 10;
            }
        };
        put(0, 4, year);
        put(5, 2, month);
        put(8, 2, day);
        put(11, 2, second_of_day / 3600);
        put(14, 2, second_of_day / 60 % 60);
        put(17, 2, second_of_day % 60);
        put(20, 6, micros);
        f.write_str(std::str::from_utf8(&out).map_err(|_| fmt::Error)?)
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A link-layer type number as pcap and pcapng store it (LINKTYPE_*). Unknown values are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LinkType(pub u32);

impl LinkType {
    /// BSD loopback (NULL), host byte order family.
    pub const NULL: LinkType = LinkType(0);
    /// Ethernet, with 802.1Q / QinQ tags.
    pub const ETHERNET: LinkType = LinkType(1);
    /// Raw IP (the number OpenBSD gives DLT_RAW).
    pub const RAW_OPENBSD: LinkType = LinkType(12);
    /// Raw IP (the number BSD/OS gives DLT_RAW).
    pub const RAW_BSDOS: LinkType = LinkType(14);
    /// Raw IPv4 or IPv6.
    pub const RAW: LinkType = LinkType(101);
    /// OpenBSD loopback (LOOP), network byte order family.
    pub const LOOP: LinkType = LinkType(108);
    /// Linux cooked capture v1 (`tcpdump -i any -y LINUX_SLL`).
    pub const LINUX_SLL: LinkType = LinkType(113);
    /// Raw IPv4.
    pub const IPV4: LinkType = LinkType(228);
    /// Raw IPv6.
    pub const IPV6: LinkType = LinkType(229);
    /// Linux cooked capture v2 (`tcpdump -i any`).
    pub const LINUX_SLL2: LinkType = LinkType(276);
}

/// One captured packet, borrowed from the reader's buffer.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    /// 1-based position in the capture, as Wireshark numbers frames.
    pub number: u64,
    /// When the frame was captured, by the capture's clock.
    pub ts: Timestamp,
    /// The link layer the frame starts with.
    pub link: LinkType,
    /// The captured bytes (may be shorter than `orig_len` when the snaplen cut the packet).
    pub data: &'a [u8],
    /// The packet's length on the wire.
    pub orig_len: u32,
    /// The capture interface: pcapng's interface id, 0 for pcap and live capture. The same
    /// connection seen on two interfaces (a router's `-i any`) is two flows.
    pub interface: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_of_known_instants() {
        assert_eq!(
            Timestamp::new(0, 0).to_rfc3339(),
            "1970-01-01T00:00:00.000000Z"
        );
        assert_eq!(
            Timestamp::new(1_709_294_400, 123_456_789).to_rfc3339(),
            "2024-03-01T12:00:00.123456Z"
        );
        assert_eq!(
            Timestamp::new(253_402_300_799, 999_999_999).to_rfc3339(),
            "9999-12-31T23:59:59.999999Z"
        );
        // Outside years 0..=9999 (a damaged file): still a date, not a panic.
        assert_eq!(
            Timestamp::new(-62_167_219_201, 0).to_rfc3339(),
            "-001-12-31T23:59:59.000000Z"
        );
        assert!(Timestamp::new(i64::MAX, 0).to_rfc3339().ends_with('Z'));
        assert!(Timestamp::new(i64::MIN, 0).to_rfc3339().ends_with('Z'));
    }

    #[test]
    fn fractions_in_any_resolution() {
        assert_eq!(
            Timestamp::from_units(5, 250_000, 1_000_000),
            Timestamp::new(5, 250_000_000)
        );
        assert_eq!(
            Timestamp::from_units(5, 7, 1_000_000_000),
            Timestamp::new(5, 7)
        );
        // a damaged µs field larger than a second carries over instead of overflowing nanos
        assert_eq!(
            Timestamp::from_units(5, 2_500_000, 1_000_000),
            Timestamp::new(7, 500_000_000)
        );
        assert_eq!(Timestamp::from_units(1, 1, 0), Timestamp::new(2, 0));
    }

    #[test]
    fn elapsed_seconds_saturate() {
        let a = Timestamp::new(10, 900_000_000);
        let b = Timestamp::new(12, 100_000_000);
        assert_eq!(b.seconds_since(a), 1);
        assert_eq!(a.seconds_since(b), 0);
    }
}
