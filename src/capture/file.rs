//! Reading pcap and pcapng files (and standard input) as a stream of [`Frame`]s.
//!
//! pcap-parser's streaming reader does the format work (pcap µs/ns in both byte orders,
//! pcapng with any number of sections and interfaces). This module adds what a tool needs on
//! top: a bound on the size of one record (a damaged length field must not make us allocate
//! gigabytes), errors that name the byte offset and what was expected, and per-interface link
//! types and timestamp resolutions for pcapng.

use std::io::{self, Read};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use pcap_parser::pcapng::Block;
use pcap_parser::traits::{PcapNGPacketBlock, PcapReaderIterator};
use pcap_parser::{PcapBlockOwned, PcapError};

use super::{Frame, LinkType, Timestamp};

/// How much of the file is read at once: enough to make system calls rare, small enough for
/// the bytes just read to still be in the CPU's cache when they are parsed (1 MiB measured
/// no faster).
const READ_CHUNK: usize = 1 << 18;
/// The largest record accepted. Real packets are at most a few hundred KiB (jumbo frames, TSO);
/// anything larger is a damaged length field.
pub const MAX_RECORD: usize = 16 << 20;

/// Why a capture file could not be read (further).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at byte offset {offset}: {what}")]
pub struct CaptureError {
    /// Offset from the start of the file of the record that could not be read.
    pub offset: u64,
    /// What was wrong, and what was expected there.
    pub what: String,
}

/// What the reader met besides frames.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Frames (packet records) read.
    pub frames: u64,
    /// Bytes of the file read.
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

/// Files whose packet records mailtap reads itself, straight from pcap-parser's buffer: classic
/// pcap in the standard record format (not the 1999 "modified" one), and pcapng Enhanced Packet
/// Blocks without options. Everything else goes through pcap-parser block by block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direct {
    Pcap { big_endian: bool },
    PcapNg { big_endian: bool },
}

/// Everything the reader knows about the file besides the bytes.
struct State {
    layout: Option<Layout>,
    /// How packet records are read straight from the buffer, when they can be.
    direct: Option<Direct>,
    interfaces: Vec<Interface>,
    next_frame: u64,
    stats: ReadStats,
}

/// A streaming reader over one capture file or stream.
pub struct FileReader<'r> {
    inner: Box<dyn PcapReaderIterator + Send + 'r>,
    state: State,
    progress: Option<Progress>,
    /// Bytes already added to `progress`.
    reported: u64,
    /// Why the input could not be read, when it could not (pcap-parser only says "read error").
    errors: ReadErrors,
}

/// Bytes read so far by one or several [`FileReader`]s, for a progress bar on another thread.
///
/// Clones share the count. A reader adds to it each time it reads from its input (every
/// 256 KiB or so) and when it ends, so after the input is read the count includes every byte
/// of it that was parsed. Reading the count costs one atomic load.
#[derive(Clone, Debug, Default)]
pub struct Progress(Arc<AtomicU64>);

impl Progress {
    /// A counter at zero, to share between the reader and a progress display.
    pub fn new() -> Self {
        Progress::default()
    }

    /// Bytes read so far, all readers sharing this counter together.
    pub fn bytes(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    fn add(&self, bytes: u64) {
        self.0.fetch_add(bytes, Ordering::Relaxed);
    }
}

/// Counts the bytes read from a compressed input into a [`Progress`] (the reader counts the
/// bytes it parses, which for a compressed file are not the file's). Counts only once `active`
/// is set, then including what was read before.
pub(crate) struct Counting<R> {
    inner: R,
    progress: Option<Progress>,
    active: Arc<AtomicBool>,
    before: u64,
}

impl<R> Counting<R> {
    pub(crate) fn new(inner: R, progress: Option<Progress>, active: Arc<AtomicBool>) -> Self {
        Counting {
            inner,
            progress,
            active,
            before: 0,
        }
    }
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(progress) = &self.progress {
            if self.active.load(Ordering::Relaxed) {
                progress.add(std::mem::take(&mut self.before) + n as u64);
            } else {
                self.before += n as u64;
            }
        }
        Ok(n)
    }
}

impl<'r> FileReader<'r> {
    /// Detects the format from the first bytes. Fails when the input is empty or neither pcap
    /// nor pcapng.
    pub fn new<R: Read + Send + 'r>(input: R) -> Result<Self, CaptureError> {
        let errors = ReadErrors::default();
        let mut input = Remember {
            inner: input,
            errors: errors.clone(),
        };
        let header = read_header(&mut input)?;
        let inner = pcap_parser::create_reader(READ_CHUNK, io::Cursor::new(header).chain(input))
            .map_err(|e| CaptureError {
                offset: 0,
                what: match e {
                    PcapError::ReadError => errors.describe(),
                    _ => "not a pcap or pcapng file: the file header is damaged".into(),
                },
            })?;
        Ok(FileReader {
            inner,
            progress: None,
            reported: 0,
            errors,
            state: State {
                layout: None,
                direct: None,
                interfaces: Vec::new(),
                next_frame: 1,
                stats: ReadStats::default(),
            },
        })
    }

    /// What has been read so far.
    pub fn stats(&self) -> &ReadStats {
        &self.state.stats
    }

    /// Counts the bytes this reader reads into `progress` (shared with a progress bar).
    pub fn with_progress(mut self, progress: Progress) -> Self {
        self.progress = Some(progress);
        self.report_progress();
        self
    }

    /// Bytes of the input parsed so far (records delivered or skipped), from its start.
    pub fn bytes_read(&self) -> u64 {
        self.inner.consumed() as u64
    }

    fn report_progress(&mut self) {
        if let Some(progress) = &self.progress {
            let now = self.inner.consumed() as u64;
            progress.add(now.saturating_sub(self.reported));
            self.reported = self.reported.max(now);
        }
    }

    /// Calls `on_frame` for every frame until the end of the input, or until it breaks.
    /// On damage, every frame before it has been delivered when the error is returned.
    pub fn for_each_frame(
        &mut self,
        on_frame: impl FnMut(&Frame<'_>) -> ControlFlow<()>,
    ) -> Result<(), CaptureError> {
        let result = self.frames(on_frame);
        self.report_progress();
        result
    }

    fn frames(
        &mut self,
        mut on_frame: impl FnMut(&Frame<'_>) -> ControlFlow<()>,
    ) -> Result<(), CaptureError> {
        loop {
            if let Some(direct) = self.state.direct {
                let data = self.inner.data();
                let (used, flow) = match direct {
                    Direct::Pcap { big_endian } => {
                        self.state.pcap_records(data, big_endian, &mut on_frame)
                    }
                    Direct::PcapNg { big_endian } => {
                        self.state.pcapng_packets(data, big_endian, &mut on_frame)
                    }
                };
                self.inner.consume_noshift(used);
                if flow.is_break() {
                    return Ok(());
                }
            }
            // The record at the front is incomplete, or not a plain packet record: pcap-parser
            // reads it, or says what to do (refill, grow, end of file, damage).
            let offset = self.inner.consumed() as u64;
            if let Some(len) = self.state.short_pcapng_block(self.inner.data()) {
                return Err(CaptureError {
                    offset,
                    what: format!(
                        "block length {len} is shorter than the 12 bytes of any pcapng block: expected a pcapng block"
                    ),
                });
            }
            match self.inner.next() {
                Ok((size, block)) => {
                    let flow = self.state.handle_block(block, &mut on_frame);
                    // Not `consume`: it moves the rest of the buffer to its start every time
                    // the read position passes the middle, which copies the whole file once
                    // more. `refill` moves only the partial record left at the end.
                    self.inner.consume_noshift(size);
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
                    return Err(CaptureError {
                        offset,
                        what: self.errors.describe(),
                    })
                }
                Err(e) => {
                    // A parse error carries the rest of the buffer (up to a MiB): name its kind only.
                    let why = match e {
                        PcapError::NomError(_, kind) | PcapError::OwnedNomError(_, kind) => {
                            format!("parse error {kind:?}")
                        }
                        other => format!("{other:?}"),
                    };
                    return Err(CaptureError {
                        offset,
                        what: format!(
                            "damaged record ({why}): expected a pcap record or pcapng block"
                        ),
                    });
                }
            }
        }
    }

    fn refill(&mut self, offset: u64) -> Result<(), CaptureError> {
        self.report_progress();
        self.inner.refill().map_err(|_| CaptureError {
            offset,
            what: self.errors.describe(),
        })
    }
}

impl State {
    /// The length a pcapng block (other than a section header) at the start of `data` claims,
    /// when it is shorter than a block can be. pcap-parser 0.17 checks some block types
    /// against a smaller minimum (process information: 4) and then subtracts 12: an overflow,
    /// a panic with overflow checks, else a 4 GiB read that never completes.
    fn short_pcapng_block(&self, data: &[u8]) -> Option<usize> {
        let layout @ Layout::PcapNg { .. } = self.layout? else {
            return None;
        };
        let section_header = data.get(..4) == Some(&[0x0a, 0x0d, 0x0d, 0x0a][..]);
        layout
            .claimed_len(data)
            .filter(|&len| len < 12 && !section_header)
    }

    /// Delivers every complete classic pcap record at the start of `data`, reading the
    /// 16-byte record headers directly (what pcap-parser's `parse_pcap_frame` does, without
    /// its per-record dispatch). Returns the bytes used; stops before an incomplete record.
    fn pcap_records(
        &mut self,
        data: &[u8],
        big_endian: bool,
        on_frame: &mut impl FnMut(&Frame<'_>) -> ControlFlow<()>,
    ) -> (usize, ControlFlow<()>) {
        let Some(iface) = self.interfaces.first().copied() else {
            return (0, ControlFlow::Continue(()));
        };
        let mut at = 0;
        while let Some(header) = data.get(at..at + 16) {
            let word = |i: usize| {
                let bytes = [header[i], header[i + 1], header[i + 2], header[i + 3]];
                if big_endian {
                    u32::from_be_bytes(bytes)
                } else {
                    u32::from_le_bytes(bytes)
                }
            };
            let Some(packet) = data.get(at + 16..at + 16 + word(8) as usize) else {
                break;
            };
            at += 16 + packet.len();
            let ts = timestamp(i64::from(word(0)), u64::from(word(4)), iface.units_per_sec);
            if self
                .deliver(iface.link, 0, ts, packet, word(12), on_frame)
                .is_break()
            {
                return (at, ControlFlow::Break(()));
            }
        }
        (at, ControlFlow::Continue(()))
    }

    /// Delivers every complete Enhanced Packet Block without options at the start of `data`
    /// (what pcap-parser's `parse_enhancedpacketblock_*` accepts, checked the same way);
    /// stops at any other block, or an incomplete one, for pcap-parser to read.
    fn pcapng_packets(
        &mut self,
        data: &[u8],
        big_endian: bool,
        on_frame: &mut impl FnMut(&Frame<'_>) -> ControlFlow<()>,
    ) -> (usize, ControlFlow<()>) {
        const EPB: u32 = 6;
        let mut at = 0;
        while let Some(header) = data.get(at..at + 28) {
            let word = |bytes: &[u8], i: usize| {
                let w = [bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]];
                if big_endian {
                    u32::from_be_bytes(w)
                } else {
                    u32::from_le_bytes(w)
                }
            };
            let (block_type, block_len, caplen) =
                (word(header, 0), word(header, 4), word(header, 20));
            if block_type != EPB || caplen >= u32::MAX - 4 {
                break;
            }
            let padded = (caplen as usize + 3) & !3;
            if block_len as usize != 32 + padded {
                break; // options, or a damaged length: pcap-parser's business
            }
            let Some(block) = data.get(at..at + 32 + padded) else {
                break;
            };
            if word(block, 28 + padded) != block_len {
                break;
            }
            at += block.len();
            let flow = self.enhanced_packet(
                word(header, 8),
                word(header, 12),
                word(header, 16),
                &block[28..28 + caplen as usize],
                word(header, 24),
                on_frame,
            );
            if flow.is_break() {
                return (at, flow);
            }
        }
        (at, ControlFlow::Continue(()))
    }

    fn enhanced_packet(
        &mut self,
        if_id: u32,
        ts_high: u32,
        ts_low: u32,
        data: &[u8],
        orig_len: u32,
        on_frame: &mut impl FnMut(&Frame<'_>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        let Some(iface) = self.interfaces.get(if_id as usize).copied() else {
            self.stats.unknown_interface += 1;
            return ControlFlow::Continue(());
        };
        let raw = (u64::from(ts_high) << 32) | u64::from(ts_low);
        // Division by a constant in the usual resolutions: cheaper than by a variable.
        let (secs, fraction) = match iface.units_per_sec {
            1_000_000 => (raw / 1_000_000, raw % 1_000_000),
            1_000_000_000 => (raw / 1_000_000_000, raw % 1_000_000_000),
            units => (raw / units.max(1), raw % units.max(1)),
        };
        let ts = timestamp(
            iface.offset_secs.saturating_add(secs as i64),
            fraction,
            iface.units_per_sec,
        );
        self.deliver(iface.link, if_id, ts, data, orig_len, on_frame)
    }

    #[inline]
    fn deliver(
        &mut self,
        link: LinkType,
        interface: u32,
        ts: Timestamp,
        data: &[u8],
        orig_len: u32,
        on_frame: &mut impl FnMut(&Frame<'_>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        let frame = Frame {
            number: self.next_frame,
            ts,
            link,
            data,
            orig_len,
            interface,
        };
        self.next_frame += 1;
        self.stats.frames += 1;
        self.stats.bytes += data.len() as u64;
        on_frame(&frame)
    }

    fn handle_block(
        &mut self,
        block: PcapBlockOwned<'_>,
        on_frame: &mut impl FnMut(&Frame<'_>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        match block {
            PcapBlockOwned::LegacyHeader(header) => {
                self.layout = Some(Layout::Pcap {
                    big_endian: header.is_bigendian(),
                });
                self.direct = (!header.is_modified_format()).then_some(Direct::Pcap {
                    big_endian: header.is_bigendian(),
                });
                let units = if header.is_nanosecond_precision() {
                    1_000_000_000
                } else {
                    1_000_000
                };
                self.interfaces.clear();
                self.interfaces.push(Interface {
                    link: LinkType(header.network.0 as u32),
                    units_per_sec: units,
                    offset_secs: 0,
                });
                ControlFlow::Continue(())
            }
            PcapBlockOwned::Legacy(record) => {
                let Some(iface) = self.interfaces.first().copied() else {
                    return ControlFlow::Continue(());
                };
                let ts = timestamp(
                    i64::from(record.ts_sec),
                    u64::from(record.ts_usec),
                    iface.units_per_sec,
                );
                self.deliver(iface.link, 0, ts, record.data, record.origlen, on_frame)
            }
            PcapBlockOwned::NG(Block::SectionHeader(shb)) => {
                self.layout = Some(Layout::PcapNg {
                    big_endian: shb.big_endian(),
                });
                self.direct = Some(Direct::PcapNg {
                    big_endian: shb.big_endian(),
                });
                self.interfaces.clear();
                ControlFlow::Continue(())
            }
            PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                self.interfaces.push(Interface {
                    link: LinkType(idb.linktype.0 as u32),
                    units_per_sec: idb.ts_resolution().unwrap_or(1_000_000),
                    offset_secs: idb.ts_offset(),
                });
                ControlFlow::Continue(())
            }
            PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => self.enhanced_packet(
                epb.if_id,
                epb.ts_high,
                epb.ts_low,
                epb.packet_data(),
                epb.origlen,
                on_frame,
            ),
            PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                let Some(iface) = self.interfaces.first().copied() else {
                    self.stats.unknown_interface += 1;
                    return ControlFlow::Continue(());
                };
                self.deliver(
                    iface.link,
                    0,
                    Timestamp::default(),
                    spb.packet_data(),
                    spb.origlen,
                    on_frame,
                )
            }
            PcapBlockOwned::NG(_) => {
                self.stats.other_blocks += 1;
                ControlFlow::Continue(())
            }
        }
    }
}

/// [`Timestamp::from_units`] without its 128-bit division in the two resolutions every
/// capture uses (a division per frame shows in profiles); the same result.
#[inline]
fn timestamp(secs: i64, fraction: u64, units_per_sec: u64) -> Timestamp {
    match units_per_sec {
        1_000_000 if fraction < 1_000_000 => Timestamp::new(secs, fraction as u32 * 1000),
        1_000_000_000 if fraction < 1_000_000_000 => Timestamp::new(secs, fraction as u32),
        _ => Timestamp::from_units(secs, fraction, units_per_sec),
    }
}

/// The last read error of an input, kept for the message: pcap-parser turns every read error
/// into `ReadError`, which would say "read error" for a directory or a corrupt gzip stream.
#[derive(Clone, Default)]
struct ReadErrors(Arc<Mutex<Option<String>>>);

impl ReadErrors {
    fn describe(&self) -> String {
        let last = self.0.lock().ok().and_then(|e| e.clone());
        last.unwrap_or_else(|| "read error".into())
    }
}

/// An input that remembers its last read error in a [`ReadErrors`].
struct Remember<R> {
    inner: R,
    errors: ReadErrors,
}

impl<R: Read> Read for Remember<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            if let Ok(mut last) = self.errors.0.lock() {
                *last = Some(describe_read_error(e));
            }
        })
    }
}

/// A read error as a user reads it: "is a directory", or the error's own words.
pub fn describe_read_error(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::IsADirectory => "is a directory".into(),
        io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof if e.get_ref().is_some() => {
            e.to_string()
        }
        _ => format!("read error: {e}"),
    }
}

/// The magic numbers of a capture file, as the file's first four bytes show them (what `xxd`
/// prints): pcap µs and ns in both byte orders, the 1999 "modified" pcap, pcapng.
const PCAP_MAGICS: [[u8; 4]; 6] = [
    [0xd4, 0xc3, 0xb2, 0xa1],
    [0xa1, 0xb2, 0xc3, 0xd4],
    [0x4d, 0x3c, 0xb2, 0xa1],
    [0xa1, 0xb2, 0x3c, 0x4d],
    [0x34, 0xcd, 0xb2, 0xa1],
    [0xa1, 0xb2, 0xcd, 0x34],
];
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

/// Reads the file header, whole (or up to the end of the input), and checks it: the error
/// names the cause (empty, truncated header, compressed, not a capture, read error).
///
/// pcap-parser sniffs the format from what its first `read` returns; a pipe may hand over only
/// a few bytes at a time, too few to recognise a header. So the header is read here and handed
/// over alone, nothing past it: a live stream (`tcpdump -U -w - | mailtap -`) must not wait for
/// a buffer's worth of packets.
fn read_header(input: &mut impl Read) -> Result<Vec<u8>, CaptureError> {
    let mut header = vec![0; 28];
    let mut filled = 0;
    loop {
        let want = header_len(&header[..filled]).min(READ_CHUNK);
        if filled >= want {
            break;
        }
        if header.len() < want {
            header.resize(want, 0);
        }
        match input.read(&mut header[filled..want]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(CaptureError {
                    offset: filled as u64,
                    what: describe_read_error(&e),
                })
            }
        }
    }
    header.truncate(filled);
    let error = |what: String| Err(CaptureError { offset: 0, what });
    if header.is_empty() {
        return error("the input is empty: expected a pcap or pcapng header".into());
    }
    if let Some(compression) = super::compressed::Compression::sniff(&header) {
        return error(compression.unsupported_here());
    }
    let magic = header.get(..4);
    let want = header_len(&header);
    if magic.is_some_and(|m| PCAP_MAGICS.iter().any(|p| p == m)) {
        if filled < want {
            return error(format!(
                "truncated pcap header ({filled} of {want} bytes): expected {} more",
                want - filled
            ));
        }
    } else if magic == Some(&PCAPNG_MAGIC[..]) || (filled < 4 && PCAPNG_MAGIC.starts_with(&header))
    {
        if filled < want {
            return error(format!(
                "truncated pcapng section header ({filled} of {want} bytes): expected {} more",
                want - filled
            ));
        }
    } else if filled < 4 && PCAP_MAGICS.iter().any(|p| p.starts_with(&header)) {
        return error(format!(
            "truncated pcap header ({filled} of 24 bytes): expected {} more",
            24 - filled
        ));
    } else {
        let start: Vec<String> = header.iter().take(4).map(|b| format!("{b:02x}")).collect();
        return error(format!(
            "not a pcap or pcapng file: it starts with {}; expected d4 c3 b2 a1 or a1 b2 c3 d4 (pcap), 4d 3c b2 a1 or a1 b2 3c 4d (pcap, nanoseconds), 0a 0d 0d 0a (pcapng)",
            start.join(" ")
        ));
    }
    Ok(header)
}

/// How many bytes pcap-parser needs to recognise the format, given the first bytes: the
/// 24-byte pcap header, or the whole pcapng section header block (its length is in bytes 4..8,
/// in the byte order its bytes 8..12 show).
fn header_len(start: &[u8]) -> usize {
    if start.get(..4) != Some(&[0x0a, 0x0d, 0x0d, 0x0a][..]) {
        return 24;
    }
    let (Some(len), Some(magic)) = (start.get(4..8), start.get(8..12)) else {
        return 12;
    };
    let len = [len[0], len[1], len[2], len[3]];
    let len = if magic == [0x4d, 0x3c, 0x2b, 0x1a] {
        u32::from_le_bytes(len)
    } else {
        u32::from_be_bytes(len)
    };
    (len as usize).max(28)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pcapng block the parser rejects names its offset and the parse error, not the bytes
    /// that follow it (which made a one-line error a megabyte long).
    /// Regression (fuzz/corpus/capture/regress-pcapng-block-shorter-than-12): a process
    /// information block claiming 8 bytes made pcap-parser subtract past zero.
    #[test]
    fn pcapng_block_shorter_than_12_bytes_is_damage_not_a_panic() {
        for big_endian in [false, true] {
            let word = |v: u32| {
                if big_endian {
                    v.to_be_bytes()
                } else {
                    v.to_le_bytes()
                }
            };
            let mut file = Vec::new();
            for v in [0x0a0d_0d0a_u32, 28, 0x1a2b_3c4d, 1] {
                file.extend_from_slice(&word(v));
            }
            file.extend_from_slice(&u64::MAX.to_le_bytes());
            file.extend_from_slice(&word(28));
            for v in [0x8000_0001_u32, 8, 8] {
                file.extend_from_slice(&word(v));
            }
            let mut reader = FileReader::new(&file[..]).unwrap();
            let e = reader
                .for_each_frame(|_| ControlFlow::Continue(()))
                .unwrap_err();
            assert_eq!(e.offset, 28, "{e}");
            assert!(e.what.contains("shorter than the 12 bytes"), "{e}");
        }
    }

    #[test]
    fn damaged_block_error_is_one_short_line() {
        let mut file = Vec::new();
        // Section header block (28 bytes), then a custom block too short to hold its PEN.
        for word in [0x0a0d_0d0a_u32, 28, 0x1a2b_3c4d] {
            file.extend_from_slice(&word.to_le_bytes());
        }
        file.extend_from_slice(&[1, 0, 0, 0]);
        file.extend_from_slice(&u64::MAX.to_le_bytes());
        file.extend_from_slice(&28u32.to_le_bytes());
        for word in [0x4000_0bad_u32, 12, 12] {
            file.extend_from_slice(&word.to_le_bytes());
        }
        file.extend(std::iter::repeat_n(0xab, 4096));
        let mut reader = FileReader::new(&file[..]).unwrap();
        let e = reader
            .for_each_frame(|_| ControlFlow::Continue(()))
            .unwrap_err();
        assert_eq!(e.offset, 28);
        assert!(e.what.contains("expected a pcap record"), "{e}");
        assert!(e.what.len() < 120, "{} bytes: {e}", e.what.len());
    }
}
