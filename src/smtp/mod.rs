//! SMTP layer: from the two ordered byte streams of a connection to a [`SessionRecord`].
//!
//! - `parse`: pure nom parsers for one line (reply, command, EHLO keyword, status codes);
//! - `machine`: the dialogue's transitions as pure functions;
//! - `buffer`: the only place unparsed bytes are held;
//! - `session`: applies the two to the bytes and keeps the facts ([`record`]).
//!
//! For a library user this module is the vocabulary of a [`SessionRecord`]: [`record`], the
//! [`Verb`] of a command, and the [`SessionLimits`] of the analyzer's configuration. The
//! parsers and the session itself are public only for the benchmarks and fuzz targets.

pub(crate) mod buffer;
pub(crate) mod machine;
// Public for the benchmarks and fuzz targets (`benches/smtp_parse.rs`, `fuzz/src`), not API.
#[doc(hidden)]
pub mod parse;
pub mod record;
// Public for the fuzz targets (`fuzz/src`), which drive a session directly; not API.
#[doc(hidden)]
pub mod session;

pub use parse::Verb;
pub use record::SessionRecord;
pub use session::SessionLimits;
// For the fuzz targets, as above.
#[doc(hidden)]
pub use session::{Detection, Session};

#[cfg(test)]
mod tests;
