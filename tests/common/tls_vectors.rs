//! The recorded TLS conversations in `tests/data/tls/` (written by
//! `fixtures/tools/tls_vectors.py`): a sequence of chunks, each one byte for who sent it (0 the
//! client, 1 the server), its length as 4 bytes big-endian, then its bytes.
//!
//! One reader for every user: the integration tests (`tests/common`), the unit tests in `src/`,
//! the benches and the load generator include it with `#[path]`.
#![allow(dead_code)] // each includer uses a part

/// The chunks of a vector file in order: (sent by the client, bytes). A truncated last chunk
/// is left out.
pub fn chunks(file: &[u8]) -> impl Iterator<Item = (bool, &[u8])> {
    let mut rest = file;
    std::iter::from_fn(move || {
        let (head, tail) = rest.split_at_checked(5)?;
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        let (bytes, after) = tail.split_at_checked(len)?;
        rest = after;
        Some((head[0] == 0, bytes))
    })
}

/// Reads `tests/data/tls/NAME`.
pub fn read(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/tls")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
