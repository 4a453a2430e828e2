//! The SMTP dialogue as a pure transition table (RFC 5321, RFC 2920 pipelining, RFC 3207
//! STARTTLS, RFC 4954 AUTH, RFC 3030 BDAT).
//!
//! Only what the client side does next depends on replies: a pipelining client may send any
//! number of commands without waiting, but DATA, AUTH and STARTTLS end a pipelined group
//! (RFC 2920 §3.1): what the client sends after them is only meaningful once their reply is
//! known (message content after `354`, a SASL response after `334`, TLS after `220`).
//! [`Session`](super::session::Session) holds the buffers and applies these functions.

use super::parse::Verb;

/// What the client's bytes are, at this point of the dialogue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientMode {
    /// Command lines.
    Commands,
    /// Message content after `DATA` / `354`, up to the line `.`.
    MessageBody,
    /// A BDAT chunk of this many more bytes (RFC 3030: sent right after the command).
    Chunk { remaining: u64 },
    /// A SASL response line after a `334` challenge: a credential, never kept.
    SaslResponse,
    /// TLS records, after `220` to STARTTLS or from the first byte.
    Tls,
}

/// A command whose reply decides what the client's next bytes are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Awaited {
    Data,
    Auth,
    StartTls,
}

/// Whether the client's next bytes can only be read once this command's reply is known.
pub fn awaits_reply(verb: Verb) -> Option<Awaited> {
    match verb {
        Verb::Data => Some(Awaited::Data),
        Verb::Auth => Some(Awaited::Auth),
        Verb::StartTls => Some(Awaited::StartTls),
        _ => None,
    }
}

/// The client's mode once the reply to the awaited command has arrived.
pub fn after_reply(awaited: Awaited, code: u16) -> ClientMode {
    match (awaited, code) {
        (Awaited::Data, 300..=399) => ClientMode::MessageBody,
        (Awaited::Auth, 334) => ClientMode::SaslResponse,
        (Awaited::StartTls, 220) => ClientMode::Tls,
        _ => ClientMode::Commands,
    }
}

/// The mode after a client line in `mode`, if the line itself ends that mode.
pub fn after_line(mode: ClientMode, line: &[u8]) -> ClientMode {
    match mode {
        // RFC 5321 §4.5.2: the content ends with a line holding a single dot.
        ClientMode::MessageBody if line == b"." => ClientMode::Commands,
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_table() {
        assert_eq!(after_reply(Awaited::Data, 354), ClientMode::MessageBody);
        assert_eq!(after_reply(Awaited::Data, 554), ClientMode::Commands);
        assert_eq!(after_reply(Awaited::Auth, 334), ClientMode::SaslResponse);
        assert_eq!(after_reply(Awaited::Auth, 235), ClientMode::Commands);
        assert_eq!(after_reply(Awaited::StartTls, 220), ClientMode::Tls);
        assert_eq!(after_reply(Awaited::StartTls, 454), ClientMode::Commands);
        assert_eq!(after_reply(Awaited::StartTls, 250), ClientMode::Commands);
        assert_eq!(
            after_line(ClientMode::MessageBody, b".."),
            ClientMode::MessageBody
        );
        assert_eq!(
            after_line(ClientMode::MessageBody, b"."),
            ClientMode::Commands
        );
        assert_eq!(awaits_reply(Verb::Mail), None);
        assert_eq!(awaits_reply(Verb::StartTls), Some(Awaited::StartTls));
    }
}
