//! Compressed captures (`capture.pcap.gz`, `zstd -c capture.pcap | mailtap -`), recognised by
//! their first bytes, never by a file name.
//!
//! gzip (flate2 on the pure-Rust zlib-rs backend, cargo feature `gzip`), zstd (cargo feature
//! `zstd`) and xz (lzma-rust2, pure Rust, cargo feature `xz`) are decompressed on a thread of
//! their own, which hands buffers of [`CHUNK`] bytes to the reading thread through a bounded
//! channel: memory stays bounded (a few chunks, plus the decoder's window) and decompressing
//! runs beside the analysis. bzip2 and lz4 are recognised so that the error can say so.
//!
//! ```no_run
//! let file = std::fs::File::open("capture.pcap.gz")?;
//! let analysis = mailtap::capture::compressed::decompressed(file, |_compression, input| {
//!     mailtap::analyze(input, &mailtap::analyzer::Config::default())
//! })??;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io::{self, Read};
use std::sync::mpsc::{self, Receiver, SyncSender};

use super::file::{describe_read_error, CaptureError};

/// Bytes handed over at once by the decompressing thread.
pub const CHUNK: usize = 1 << 17;
/// Chunks in flight between the two threads.
const IN_FLIGHT: usize = 4;
/// The most memory an xz block's decoder may take (KiB): `xz -9` needs 64 MiB; a damaged or
/// hostile header asking for more is an error, not an allocation.
#[cfg(feature = "xz")]
const XZ_MEM_LIMIT_KIB: u32 = 256 * 1024;

/// A compression format, as its magic number says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// gzip (RFC 1952), magic `1f 8b`.
    Gzip,
    /// Zstandard (RFC 8878), magic `28 b5 2f fd`.
    Zstd,
    /// xz, magic `fd 37 7a 58 5a 00`.
    Xz,
    /// bzip2, magic `BZh` (recognised, not decompressed).
    Bzip2,
    /// LZ4 frame, magic `04 22 4d 18` (recognised, not decompressed).
    Lz4,
}

impl Compression {
    /// The longest magic number looked at.
    pub const MAGIC_LEN: usize = 6;

    /// The format whose magic number `start` begins with.
    pub fn sniff(start: &[u8]) -> Option<Compression> {
        const MAGICS: [(&[u8], Compression); 5] = [
            (&[0x1f, 0x8b], Compression::Gzip),
            (&[0x28, 0xb5, 0x2f, 0xfd], Compression::Zstd),
            (&[0xfd, b'7', b'z', b'X', b'Z', 0x00], Compression::Xz),
            (b"BZh", Compression::Bzip2),
            (&[0x04, 0x22, 0x4d, 0x18], Compression::Lz4),
        ];
        MAGICS
            .iter()
            .find(|(magic, _)| start.starts_with(magic))
            .map(|&(_, c)| c)
    }

    /// The format's usual name (`gzip`, `zstd`...).
    pub fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Xz => "xz",
            Compression::Bzip2 => "bzip2",
            Compression::Lz4 => "lz4",
        }
    }

    /// The command that decompresses it to standard output.
    fn cat(self) -> &'static str {
        match self {
            Compression::Gzip => "zcat",
            Compression::Zstd => "zstdcat",
            Compression::Xz => "xzcat",
            Compression::Bzip2 => "bzcat",
            Compression::Lz4 => "lz4cat",
        }
    }

    /// Whether this build decompresses it.
    pub fn supported(self) -> bool {
        match self {
            Compression::Gzip => cfg!(feature = "gzip"),
            Compression::Zstd => cfg!(feature = "zstd"),
            Compression::Xz => cfg!(feature = "xz"),
            Compression::Bzip2 | Compression::Lz4 => false,
        }
    }

    /// What to say when a reader that does not decompress meets this format.
    pub fn unsupported_here(self) -> String {
        let name = self.name();
        let cat = self.cat();
        match self {
            Compression::Bzip2 | Compression::Lz4 => format!(
                "{name}-compressed: mailtap reads gzip, zstd and xz; decompress it first: {cat} FILE | mailtap -"
            ),
            _ if !self.supported() => format!(
                "{name}-compressed: build with --features {name} (a default feature), or decompress it first: {cat} FILE | mailtap -"
            ),
            _ => format!(
                "{name}-compressed: read it through mailtap::capture::compressed::decompressed (the mailtap command does)"
            ),
        }
    }
}

/// Looks at the first bytes of `input`; when they are a compressed stream this build reads,
/// runs `f` on the decompressed bytes (decompressed on a thread of its own), else on the input
/// as it is. `f` also learns the compression. Fails when the first bytes cannot be read, or
/// name a compression this build does not read.
///
/// Read errors of the decompressed stream (damaged or cut compressed data) come out of the
/// reader `f` gets, after every byte decompressed before them.
pub fn decompressed<'a, R, T>(
    mut input: R,
    f: impl FnOnce(Option<Compression>, Box<dyn Read + Send + 'a>) -> T,
) -> Result<T, CaptureError>
where
    R: Read + Send + 'a,
{
    let mut head = [0u8; Compression::MAGIC_LEN];
    let mut filled = 0;
    while filled < head.len() {
        match input.read(&mut head[filled..]) {
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
    let head = head[..filled].to_vec();
    let compression = Compression::sniff(&head);
    let whole = io::Cursor::new(head).chain(input);
    let Some(compression) = compression else {
        return Ok(f(None, Box::new(whole)));
    };
    if !compression.supported() {
        return Err(CaptureError {
            offset: 0,
            what: compression.unsupported_here(),
        });
    }
    let (tx, rx) = mpsc::sync_channel(IN_FLIGHT);
    let (free_tx, free_rx) = mpsc::sync_channel(IN_FLIGHT + 1);
    let reader = Chunks {
        rx,
        free: free_tx,
        buf: Vec::new(),
        at: 0,
    };
    Ok(std::thread::scope(|scope| {
        scope.spawn(move || pump(compression, whole, &tx, &free_rx));
        // `f` drops the reader when it is done: a decompressor still running sees the channel
        // closed at its next chunk and stops.
        f(Some(compression), Box::new(reader))
    }))
}

/// The decoder for `compression` (one this build supports) over `input`.
fn decoder<'a>(compression: Compression, input: impl Read + 'a) -> io::Result<Box<dyn Read + 'a>> {
    match compression {
        #[cfg(feature = "gzip")]
        // Several members one after the other (`cat a.gz b.gz`, pigz) are one stream.
        Compression::Gzip => Ok(Box::new(flate2::read::MultiGzDecoder::new(input))),
        #[cfg(feature = "zstd")]
        Compression::Zstd => Ok(Box::new(zstd::stream::read::Decoder::new(input)?)),
        #[cfg(feature = "xz")]
        Compression::Xz => Ok(Box::new(lzma_rust2::XzReader::new_mem_limit(
            io::BufReader::with_capacity(1 << 16, input),
            true,
            XZ_MEM_LIMIT_KIB,
        ))),
        other => {
            // Not read (and unused at all in a build without the compression features).
            drop(input);
            Err(io::Error::other(other.unsupported_here()))
        }
    }
}

/// The decompressing thread: fills chunks and sends them, until the end of the stream, an
/// error (sent after the bytes before it), or the reading side going away.
fn pump(
    compression: Compression,
    input: impl Read,
    tx: &SyncSender<io::Result<Vec<u8>>>,
    free: &Receiver<Vec<u8>>,
) {
    let damaged = |e: io::Error| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("damaged {} data: {e}", compression.name()),
        )
    };
    let mut decoder = match decoder(compression, input) {
        Ok(decoder) => decoder,
        Err(e) => {
            let _ = tx.send(Err(damaged(e)));
            return;
        }
    };
    loop {
        let mut buf = free.try_recv().unwrap_or_default();
        buf.resize(CHUNK, 0);
        let mut filled = 0;
        let mut error = None;
        while filled < CHUNK {
            match decoder.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    error = Some(damaged(e));
                    break;
                }
            }
        }
        buf.truncate(filled);
        let end = filled < CHUNK;
        if filled > 0 && tx.send(Ok(buf)).is_err() {
            return;
        }
        if let Some(e) = error {
            let _ = tx.send(Err(e));
            return;
        }
        if end {
            return;
        }
    }
}

/// The reading side: the chunks, one after the other; the end when the thread is done.
struct Chunks {
    rx: Receiver<io::Result<Vec<u8>>>,
    free: SyncSender<Vec<u8>>,
    buf: Vec<u8>,
    at: usize,
}

impl Read for Chunks {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.at == self.buf.len() {
            let used = std::mem::take(&mut self.buf);
            if used.capacity() > 0 {
                let _ = self.free.try_send(used);
            }
            self.at = 0;
            match self.rx.recv() {
                Ok(Ok(buf)) => self.buf = buf,
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.at);
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_numbers() {
        assert_eq!(
            Compression::sniff(&[0x1f, 0x8b, 8, 0]),
            Some(Compression::Gzip)
        );
        assert_eq!(
            Compression::sniff(&[0x28, 0xb5, 0x2f, 0xfd, 0x24]),
            Some(Compression::Zstd)
        );
        assert_eq!(
            Compression::sniff(b"\xfd7zXZ\x00\x00"),
            Some(Compression::Xz)
        );
        assert_eq!(Compression::sniff(b"BZh91AY"), Some(Compression::Bzip2));
        assert_eq!(Compression::sniff(&[0xd4, 0xc3, 0xb2, 0xa1]), None);
        assert_eq!(Compression::sniff(&[0x1f]), None);
        assert!(Compression::Bzip2
            .unsupported_here()
            .starts_with("bzip2-compressed: "));
    }

    #[test]
    fn uncompressed_input_passes_through_whole() {
        for len in [0, 1, 5, 6, 7, 1000] {
            let bytes: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let got = decompressed(&bytes[..], |c, mut input| {
                assert_eq!(c, None);
                let mut out = Vec::new();
                input.read_to_end(&mut out).unwrap();
                out
            })
            .unwrap();
            assert_eq!(got, bytes);
        }
    }

    #[cfg(feature = "gzip")]
    #[test]
    fn gzip_members_and_damage() {
        use std::io::Write;
        let data: Vec<u8> = (0..3 * CHUNK + 17).map(|i| (i * 7 % 251) as u8).collect();
        let mut gz = Vec::new();
        for part in [&data[..1000], &data[1000..]] {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(part).unwrap();
            gz.extend(enc.finish().unwrap());
        }
        let read = |bytes: &[u8]| {
            decompressed(bytes, |c, mut input| {
                assert_eq!(c, Some(Compression::Gzip));
                let mut out = Vec::new();
                let result = input.read_to_end(&mut out);
                (out, result.err().map(|e| e.to_string()))
            })
            .unwrap()
        };
        let (out, error) = read(&gz);
        assert_eq!(error, None);
        assert_eq!(out, data);
        // Cut short: every byte before the cut, then an error that names the format.
        let (out, error) = read(&gz[..gz.len() - 100]);
        assert!(out.len() > CHUNK && data.starts_with(&out), "{}", out.len());
        assert!(error.unwrap().starts_with("damaged gzip data"));
    }
}
