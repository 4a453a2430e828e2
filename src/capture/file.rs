//! Reading pcap and pcapng files (and standard input) as a stream of [`Frame`]s.
//!
//! pcap-parser's streaming reader does the format work (pcap µs/ns in both byte orders,
//! pcapng with any number of sections and interfaces). This module adds what a tool needs on
//! top: a bound on the size of one record (a damaged length field must not make us allocate
//! gigabytes), errors that name the byte offset and what was expected, and per-interface link
//! types and timestamp resolutions for pcapng.

use std::io::Read;
use std::ops::ControlFlow;

use pcap_parser::pcapng::Block;
use pcap_parser::traits::{PcapNGPacketBlock, PcapReaderIterator};
use pcap_parser::{PcapBlockOwned, PcapError};

use super::{Frame, LinkType, Timestamp};

/// How much of the file is read at once.
const READ_CHUNK: usize = 1 << 20;
/// The largest record accepted. Real packets are at most a few hundred KiB (jumbo frames, TSO);
/// anything larger is a damaged length field.
pub const MAX_RECORD: usize = 16 << 20;

/// Why a capture file could not be read (further).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at byte offset {offset}: {what}")]
pub struct CaptureError {
    /// Offset from the start of the file of the record that could not be read.
    pub offset: u64,
    pub what: String,
}

/// What the reader met besides frames.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadStats {
    pub frames: u64,
    pub bytes: u64,
    /// pcapng packets naming an interface that no Interface Description Block declared.
    pub unknown_interface: u64,
    /// pcapng blocks of a kind that carries no packet (statistics, name resolution, custom...).
    pub other_blocks: u64,
}

#[derive(Clone, Copy)]
struct Interface {
    link: LinkType,
    units_per_sec: u64,
    offset_secs: i64,
}

/// How records are laid out, known once the file header has been read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    Pcap { big_endian: bool },
    PcapNg { big_endian: bool },
}

impl Layout {
    /// The length the record at the start of `data` claims for itself, header included.
    fn claimed_len(self, data: &[u8]) -> Option<usize> {
        let (at, big_endian, header) = match self {
            Layout::Pcap { big_endian } => (8, big_endian, 16),
            Layout::PcapNg { big_endian } => (4, big_endian, 0),
        };
        let word: [u8; 4] = data.get(at..at + 4)?.try_into().ok()?;
        let len = if big_endian {
            u32::from_be_bytes(word)
        } else {
            u32::from_le_bytes(word)
        };
        Some(len as usize + header)
    }
}

/// Everything the reader knows about the file besides the bytes.
struct State {
    layout: Option<Layout>,
    interfaces: Vec<Interface>,
    next_frame: u64,
    stats: ReadStats,
}

/// A streaming reader over one capture file or stream.
pub struct FileReader<'r> {
    inner: Box<dyn PcapReaderIterator + Send + 'r>,
    state: State,
}

impl<'r> FileReader<'r> {
    /// Detects the format from the first bytes. Fails when the input is empty or neither pcap
    /// nor pcapng.
    pub fn new<R: Read + Send + 'r>(input: R) -> Result<Self, CaptureError> {
        let inner = pcap_parser::create_reader(READ_CHUNK, FillFirstRead::new(input)).map_err(
            |e| CaptureError {
                offset: 0,
                what: match e {
                    PcapError::Eof => "the input is empty: expected a pcap or pcapng header".into(),
                    PcapError::ReadError => "read error".into(),
                    _ => "not a pcap or pcapng file: expected the magic number a1b2c3d4, a1b23c4d or a pcapng section header (0a0d0d0a)".into(),
                },
            },
        )?;
        Ok(FileReader {
            inner,
            state: State {
                layout: None,
                interfaces: Vec::new(),
                next_frame: 1,
                stats: ReadStats::default(),
            },
        })
    }

    pub fn stats(&self) -> &ReadStats {
        &self.state.stats
    }

    /// Calls `on_frame` for every frame until the end of the input, or until it breaks.
    /// On damage, every frame before it has been delivered when the error is returned.
    pub fn for_each_frame(
        &mut self,
        mut on_frame: impl FnMut(&Frame<'_>) -> ControlFlow<()>,
    ) -> Result<(), CaptureError> {
        loop {
            let offset = self.inner.consumed() as u64;
            match self.inner.next() {
                Ok((size, block)) => {
                    let flow = self.state.handle_block(block, &mut on_frame);
                    self.inner.consume(size);
                    if flow.is_break() {
                        return Ok(());
                    }
                }
                Err(PcapError::Eof) => return Ok(()),
                Err(PcapError::Incomplete(_)) => self.refill(offset)?,
                Err(PcapError::BufferTooSmall) => {
                    let claimed = self.state.layout.and_then(|l| l.claimed_len(self.inner.data()));
                    match claimed {
                        Some(len) if len <= MAX_RECORD => {
                            self.inner.grow(len + READ_CHUNK);
                            self.refill(offset)?;
                        }
                        _ => {
                            return Err(CaptureError {
                                offset,
                                what: format!(
                                    "record length {} is larger than the {} MiB any packet can have: expected a record header",
                                    claimed.map_or_else(|| "?".to_string(), |l| l.to_string()),
                                    MAX_RECORD >> 20
                                ),
                            })
                        }
                    }
                }
                Err(PcapError::UnexpectedEof) => {
                    return Err(CaptureError {
                        offset,
                        what: format!(
                            "the file ends inside a record ({} bytes left): expected the rest of the record",
                            self.inner.data().len()
                        ),
                    })
                }
                Err(PcapError::ReadError) => {
                    return Err(CaptureError { offset, what: "read error".into() })
                }
                Err(e) => {
                    return Err(CaptureError {
                        offset,
                        what: format!("damaged record ({e:?}): expected a pcap record or pcapng block")
                            .replace("NomError", "parse error"),
                    })
                }
            }
        }
    }

    fn refill(&mut self, offset: u64) -> Result<(), CaptureError> {
        self.inner.refill().map_err(|_| CaptureError {
            offset,
            what: "read error".into(),
        })
    }
}

impl State {
    fn handle_block(
        &mut self,
        block: PcapBlockOwned<'_>,
        on_frame: &mut impl FnMut(&Frame<'_>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        let State {
            layout,
            interfaces,
            next_frame,
            stats,
        } = self;
        let mut deliver = |link: LinkType, ts: Timestamp, data: &[u8], orig_len: u32| {
            let frame = Frame {
                number: *next_frame,
                ts,
                link,
                data,
                orig_len,
            };
            *next_frame += 1;
            stats.frames += 1;
            stats.bytes += data.len() as u64;
            on_frame(&frame)
        };
        match block {
            PcapBlockOwned::LegacyHeader(header) => {
                *layout = Some(Layout::Pcap {
                    big_endian: header.is_bigendian(),
                });
                let units = if header.is_nanosecond_precision() {
                    1_000_000_000
                } else {
                    1_000_000
                };
                interfaces.clear();
                interfaces.push(Interface {
                    link: LinkType(header.network.0 as u32),
                    units_per_sec: units,
                    offset_secs: 0,
                });
                ControlFlow::Continue(())
            }
            PcapBlockOwned::Legacy(record) => {
                let Some(iface) = interfaces.first().copied() else {
                    return ControlFlow::Continue(());
                };
                let ts = Timestamp::from_units(
                    i64::from(record.ts_sec),
                    u64::from(record.ts_usec),
                    iface.units_per_sec,
                );
                deliver(iface.link, ts, record.data, record.origlen)
            }
            PcapBlockOwned::NG(Block::SectionHeader(shb)) => {
                *layout = Some(Layout::PcapNg {
                    big_endian: shb.big_endian(),
                });
                interfaces.clear();
                ControlFlow::Continue(())
            }
            PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                interfaces.push(Interface {
                    link: LinkType(idb.linktype.0 as u32),
                    units_per_sec: idb.ts_resolution().unwrap_or(1_000_000),
                    offset_secs: idb.ts_offset(),
                });
                ControlFlow::Continue(())
            }
            PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                let Some(iface) = interfaces.get(epb.if_id as usize).copied() else {
                    stats.unknown_interface += 1;
                    return ControlFlow::Continue(());
                };
                let raw = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                let ts = Timestamp::from_units(
                    iface
                        .offset_secs
                        .saturating_add((raw / iface.units_per_sec.max(1)) as i64),
                    raw % iface.units_per_sec.max(1),
                    iface.units_per_sec,
                );
                deliver(iface.link, ts, epb.packet_data(), epb.origlen)
            }
            PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                let Some(iface) = interfaces.first().copied() else {
                    stats.unknown_interface += 1;
                    return ControlFlow::Continue(());
                };
                deliver(
                    iface.link,
                    Timestamp::default(),
                    spb.packet_data(),
                    spb.origlen,
                )
            }
            PcapBlockOwned::NG(_) => {
                stats.other_blocks += 1;
                ControlFlow::Continue(())
            }
        }
    }
}

/// Makes the very first `read` fill the whole buffer (or reach the end of input).
///
/// pcap-parser sniffs the format from what its first `read` returns; a pipe may hand over only
/// a few bytes at a time, too few to recognise a header.
struct FillFirstRead<R> {
    inner: R,
    first: bool,
}

impl<R> FillFirstRead<R> {
    fn new(inner: R) -> Self {
        FillFirstRead { inner, first: true }
    }
}

impl<R: Read> Read for FillFirstRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if !self.first {
            return self.inner.read(buf);
        }
        self.first = false;
        let mut filled = 0;
        while filled < buf.len() {
            match self.inner.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(filled)
    }
}
