//! SMTP layer: from the two ordered byte streams of a connection to a [`SessionRecord`].
//!
//! - [`parse`]: pure nom parsers for one line (reply, command, EHLO keyword, status codes);
//! - `machine` (internal): the dialogue's transitions as pure functions;
//! - `buffer` (internal): the only place unparsed bytes are held;
//! - [`session`]: applies the two to the bytes and keeps the facts ([`record`]).

pub(crate) mod buffer;
pub(crate) mod machine;
pub mod parse;
pub mod record;
pub mod session;

pub use record::SessionRecord;
pub use session::{Detection, Session, SessionLimits};

#[cfg(test)]
mod tests;
