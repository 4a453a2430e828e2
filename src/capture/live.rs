//! Live capture from a network interface through libpcap (cargo feature `live`).
//!
//! [`LiveCapture`] opens an interface the way tcpdump does (snaplen, kernel buffer size,
//! immediate mode, promiscuous mode, a BPF filter), optionally saves every captured packet to a
//! pcap file (`-w`), and hands [`Frame`]s to the same pipeline as files do. Reading never
//! blocks longer than the caller asks: the capture is non-blocking and waits with `poll()` on
//! its descriptor, so the caller can end idle sessions, watch a clock or notice Ctrl-C while
//! no packet arrives (a read timeout alone does not wake libpcap when nothing arrives).
//!
//! Frame numbers count every packet captured, so they are the frame numbers of the `-w` file.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use pcap::{Active, Capture, Device};
use rustix::event::{PollFd, PollFlags, Timespec};

use super::rotate::{Rotation, Saver};
use super::{CaptureStats, Frame, LinkType, Timestamp};

/// How to open an interface; the defaults are tcpdump's.
#[derive(Clone, Debug)]
pub struct Options {
    /// The interface (`any`: all of them on Linux).
    pub interface: String,
    /// BPF filter, in pcap-filter(7) syntax; empty captures everything.
    pub filter: String,
    /// Bytes kept of each packet (tcpdump `-s`).
    pub snaplen: u32,
    /// Kernel buffer size in bytes (tcpdump `-B`, which counts KiB); `None`: mailtap's
    /// default, larger than libpcap's 2 MiB: see [`default_buffer`].
    pub buffer_size: Option<u32>,
    /// Hand each packet over as it arrives instead of in batches (tcpdump `--immediate-mode`).
    pub immediate: bool,
    /// How long libpcap may hold packets to batch them when not in immediate mode.
    pub buffer_timeout: Duration,
    /// Put the interface in promiscuous mode (tcpdump does, unless `-p`).
    pub promiscuous: bool,
    /// Also write every captured packet to this pcap file (tcpdump `-w`).
    pub save: Option<PathBuf>,
    /// How the `-w` files rotate (tcpdump `-C`, `-G`, `-W`).
    pub rotation: Rotation,
    /// When the capture starts (the first `-w` file's time, for `-G` names).
    pub started: Timestamp,
}

impl Options {
    /// tcpdump's defaults for `interface`.
    pub fn new(interface: &str) -> Self {
        Options {
            interface: interface.to_string(),
            filter: String::new(),
            snaplen: 262_144,
            buffer_size: None,
            immediate: false,
            buffer_timeout: Duration::from_millis(100),
            promiscuous: true,
            save: None,
            rotation: Rotation::default(),
            started: Timestamp::new(0, 0),
        }
    }
}

/// Why live capture could not start or go on. The messages say what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LiveError {
    /// Not allowed to capture (neither root nor the capabilities).
    #[error("{interface}: no permission to capture ({message}): run as root, or give the binary the capabilities it needs: setcap cap_net_raw,cap_net_admin=eip {binary}")]
    Permission {
        /// The interface asked for.
        interface: String,
        /// libpcap's words.
        message: String,
        /// The running program, for the setcap command.
        binary: String,
    },
    /// No interface of that name.
    #[error("{interface}: no such interface; the interfaces are: {}", available.join(", "))]
    NoSuchInterface {
        /// The interface asked for.
        interface: String,
        /// The interfaces there are.
        available: Vec<String>,
    },
    /// libpcap could not compile the filter.
    #[error("bad capture filter '{filter}': {message}")]
    BadFilter {
        /// The filter as given.
        filter: String,
        /// libpcap's words.
        message: String,
    },
    /// The `-w` file could not be written.
    #[error("{path}: cannot write the capture file: {message}")]
    Save {
        /// The `-w` file.
        path: String,
        /// The system's words.
        message: String,
    },
    /// Capturing failed for another reason.
    #[error("{interface}: {message}")]
    Capture {
        /// The interface.
        interface: String,
        /// libpcap's words.
        message: String,
    },
}

/// One interface as `-D` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    /// Its name, as `-i` takes it.
    pub name: String,
    /// libpcap's description, when it has one.
    pub description: Option<String>,
    /// `Up`, `Running`, `Loopback`, `Wireless`, as libpcap reports them.
    pub flags: Vec<&'static str>,
    /// Its IP addresses.
    pub addresses: Vec<IpAddr>,
}

fn message(e: pcap::Error) -> String {
    match e {
        pcap::Error::PcapError(m) => m,
        other => other.to_string(),
    }
}

/// The interfaces libpcap can capture on (tcpdump `-D`).
pub fn interfaces() -> Result<Vec<Interface>, LiveError> {
    let devices = Device::list().map_err(|e| LiveError::Capture {
        interface: "(listing interfaces)".into(),
        message: message(e),
    })?;
    Ok(devices
        .into_iter()
        .map(|d| {
            let f = &d.flags;
            let flags = [
                (f.is_up(), "Up"),
                (f.is_running(), "Running"),
                (f.is_loopback(), "Loopback"),
                (f.is_wireless(), "Wireless"),
            ]
            .into_iter()
            .filter_map(|(set, name)| set.then_some(name))
            .collect();
            Interface {
                name: d.name,
                description: d.desc,
                flags,
                addresses: d.addresses.iter().map(|a| a.addr).collect(),
            }
        })
        .collect())
}

/// An open interface, non-blocking, with its filter set.
pub struct LiveCapture {
    cap: Capture<Active>,
    save: Option<Saver>,
    link: LinkType,
    link_name: String,
    next_frame: u64,
    interface: String,
}

impl LiveCapture {
    /// Opens the interface, compiles and sets the filter, and creates the first `-w` file.
    pub fn open(options: &Options) -> Result<Self, LiveError> {
        let interface = options.interface.clone();
        let failed = |e: pcap::Error| LiveError::Capture {
            interface: interface.clone(),
            message: message(e),
        };
        let clamp = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
        let mut inactive = Capture::from_device(interface.as_str())
            .map_err(failed)?
            .snaplen(clamp(options.snaplen.max(64)))
            // libpcap answers a warning (which the pcap crate takes for an error) when asked
            // for promiscuous mode on "any".
            .promisc(options.promiscuous && interface != "any")
            .immediate_mode(options.immediate)
            .timeout(clamp(
                options.buffer_timeout.as_millis().clamp(1, 60_000) as u32
            ));
        if let Some(bytes) = options.buffer_size.or_else(|| default_buffer(options)) {
            inactive = inactive.buffer_size(clamp(bytes));
        }
        let mut cap = inactive.open().map_err(|e| open_error(&interface, e))?;
        if !options.filter.trim().is_empty() {
            cap.filter(&options.filter, true)
                .map_err(|e| LiveError::BadFilter {
                    filter: options.filter.clone(),
                    message: message(e),
                })?;
        }
        let cap = cap.setnonblock().map_err(failed)?;
        let datalink = cap.get_datalink();
        let save = match &options.save {
            None => None,
            Some(path) => Some(
                Saver::create(
                    path,
                    options.rotation.clone(),
                    LinkType(datalink.0 as u32),
                    options.snaplen.max(64),
                    options.started,
                )
                .map_err(|message| LiveError::Save {
                    path: path.display().to_string(),
                    message,
                })?,
            ),
        };
        let link_name = datalink
            .get_name()
            .map(|name| match datalink.get_description() {
                Ok(description) => format!("{name} ({description})"),
                Err(_) => name,
            })
            .unwrap_or_else(|_| format!("{}", datalink.0));
        Ok(LiveCapture {
            link: LinkType(datalink.0 as u32),
            link_name,
            cap,
            save,
            next_frame: 1,
            interface,
        })
    }

    /// The interface's link type, as frames carry it.
    pub fn link_type(&self) -> LinkType {
        self.link
    }

    /// The link type as tcpdump names it, e.g. `EN10MB (Ethernet)`.
    pub fn link_name(&self) -> &str {
        &self.link_name
    }

    /// The interface's name.
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// The `-w` writer, if any.
    pub fn saver(&self) -> Option<&Saver> {
        self.save.as_ref()
    }

    /// Hands over the packets already captured (at most `max`); when there are none, waits up
    /// to `wait` for some. Returns how many were handed over; 0 means none arrived in time (or
    /// a signal cut the wait short).
    pub fn read(
        &mut self,
        wait: Duration,
        max: usize,
        on_frame: &mut dyn FnMut(&Frame<'_>),
    ) -> Result<usize, LiveError> {
        let mut n = self.drain(max, on_frame)?;
        if n == 0 && !wait.is_zero() {
            let timeout = Timespec::try_from(wait).ok();
            let mut fds = [PollFd::new(&self.cap, PollFlags::IN)];
            match rustix::event::poll(&mut fds, timeout.as_ref()) {
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => {
                    return Err(LiveError::Capture {
                        interface: self.interface.clone(),
                        message: format!("waiting for packets: {e}"),
                    })
                }
            }
            n = self.drain(max, on_frame)?;
        }
        if n > 0 {
            if let Some(save) = &mut self.save {
                // Keep the file readable as it grows: what was seen is on disk.
                save.flush().map_err(|e| LiveError::Save {
                    path: save.path().display().to_string(),
                    message: e.to_string(),
                })?;
            }
        }
        Ok(n)
    }

    fn drain(
        &mut self,
        max: usize,
        on_frame: &mut dyn FnMut(&Frame<'_>),
    ) -> Result<usize, LiveError> {
        let mut n = 0;
        while n < max {
            let packet = match self.cap.next_packet() {
                Ok(packet) => packet,
                Err(pcap::Error::TimeoutExpired) | Err(pcap::Error::NoMorePackets) => break,
                Err(e) => {
                    return Err(LiveError::Capture {
                        interface: self.interface.clone(),
                        message: message(e),
                    })
                }
            };
            let ts = timestamp(packet.header);
            if let Some(save) = &mut self.save {
                save.write(ts, packet.data, packet.header.len)
                    .map_err(|e| LiveError::Save {
                        path: save.path().display().to_string(),
                        message: e.to_string(),
                    })?;
            }
            let frame = Frame {
                number: self.next_frame,
                ts,
                link: self.link,
                data: packet.data,
                orig_len: packet.header.len,
                interface: 0,
            };
            self.next_frame += 1;
            n += 1;
            on_frame(&frame);
        }
        Ok(n)
    }

    /// Packets received and dropped so far, as the kernel counts them.
    pub fn stats(&mut self) -> Result<CaptureStats, LiveError> {
        let stat = self.cap.stats().map_err(|e| LiveError::Capture {
            interface: self.interface.clone(),
            message: message(e),
        })?;
        Ok(CaptureStats {
            received: u64::from(stat.received),
            dropped: u64::from(stat.dropped),
            if_dropped: u64::from(stat.if_dropped),
        })
    }
}

/// The kernel buffer when none is asked for: 32 MiB, which holds about a second of a busy
/// gigabit link, where libpcap's own 2 MiB overflowed at 50,000 packets/s as soon as the
/// capture thread was not scheduled for 40 ms (a loaded machine). In immediate mode libpcap
/// gives every packet a ring slot of snaplen bytes (its 2 MiB would hold 8 packets at the
/// default snaplen): room for at least 256 of them, at most 64 MiB.
pub fn default_buffer(options: &Options) -> Option<u32> {
    const BATCHED: u32 = 32 << 20;
    if !options.immediate {
        return Some(BATCHED);
    }
    let bytes = options
        .snaplen
        .saturating_add(512)
        .saturating_mul(256)
        .clamp(BATCHED, 64 << 20);
    Some(bytes)
}

/// A libpcap timestamp (microseconds): `time_t` is 32 bits on some targets, 64 on others.
#[allow(clippy::unnecessary_cast)]
fn timestamp(header: &pcap::PacketHeader) -> Timestamp {
    Timestamp::from_units(
        header.ts.tv_sec as i64,
        u64::try_from(header.ts.tv_usec).unwrap_or(0),
        1_000_000,
    )
}

/// Says why an interface could not be opened: it does not exist (and which do), permission,
/// or libpcap's own words.
fn open_error(interface: &str, e: pcap::Error) -> LiveError {
    let message = message(e);
    if let Ok(list) = interfaces() {
        if !list.iter().any(|i| i.name == interface) {
            return LiveError::NoSuchInterface {
                interface: interface.to_string(),
                available: list.into_iter().map(|i| i.name).collect(),
            };
        }
    }
    let lower = message.to_ascii_lowercase();
    if lower.contains("permission") || lower.contains("not permitted") {
        LiveError::Permission {
            interface: interface.to_string(),
            message,
            binary: std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| "/path/to/mailtap".into()),
        }
    } else {
        LiveError::Capture {
            interface: interface.to_string(),
            message,
        }
    }
}
