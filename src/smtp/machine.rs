//! The SMTP dialogue as one state and one pure transition function (RFC 5321, RFC 2920
//! pipelining, RFC 3207 STARTTLS, RFC 4954 AUTH, RFC 3030 BDAT).
//!
//! This is where the protocol lives; [`Session`](super::session::Session) only cuts the bytes
//! into [`Event`]s, applies [`next`] and carries out the [`Effect`] it returns (recording a
//! fact, handing bytes to the TLS sniffer). No other code decides what the next bytes mean.
//!
//! ```text
//!             greeting                 STARTTLS → 220              client TLS record
//! Plain{Greeting} ──────▶ Plain{Dialogue} ───────────────▶ TlsDue ─────────────────▶ Tls(StartTls)
//!   │ ClientHello first                     │ plaintext command after 220 (decrypted capture?)
//!   ▼                                       ▼
//! Tls(Implicit)                       Plain{AfterUpgrade}
//! ```
//!
//! Inside `Plain`, the client side has its own mode ([`Client`]): a pipelining client may send
//! any number of commands without waiting, but DATA, AUTH and STARTTLS end a pipelined group
//! (RFC 2920 §3.1): what follows them is only meaningful once their reply is known (message
//! content after `354`, a SASL response after `334`, TLS after `220`), so the client is held
//! ([`Client::Awaiting`]) until then.
//!
//! TLS bytes where plaintext was due are one of three things, told apart by what the capture
//! holds: a client opening with a ClientHello (implicit TLS, port 465 style); an upgrade the
//! capture lost (a gap, or a capture that starts mid-way: [`TlsStart::Unannounced`], never
//! guessed at); or, with the whole dialogue in view, a client that started TLS although its
//! STARTTLS was refused or masked ([`Client::TlsWithout220`]: the dialogue decides).

use super::parse::Verb;

/// A command whose reply decides what the client's next bytes are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Awaited {
    Data,
    Auth,
    StartTls,
}

/// What the client's bytes are, while the dialogue is in plaintext.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Client {
    /// Nothing yet: the first bytes decide between commands and a ClientHello (implicit TLS).
    Opening,
    /// Command lines.
    Commands,
    /// Held after DATA, AUTH or STARTTLS until its reply.
    Awaiting(Awaited),
    /// Message content after `354`, up to the line `.`.
    MessageBody,
    /// A BDAT chunk of this many more bytes (RFC 3030: sent right after the command).
    Chunk { remaining: u64 },
    /// A SASL response line after a `334` challenge: a credential, never kept.
    SaslResponse,
    /// The client sent TLS although STARTTLS was not answered `220`: its bytes are no longer
    /// SMTP; the server's replies still are.
    TlsWithout220,
}

/// Where the plaintext dialogue is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The server's first reply is still to come.
    Greeting,
    /// Greeted (or the greeting is not in the capture).
    Dialogue,
    /// After `220` to STARTTLS, the client went on in plaintext.
    AfterUpgrade,
}

/// How TLS began.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsStart {
    /// After `220` to STARTTLS.
    StartTls,
    /// From the client's first byte.
    Implicit,
    /// TLS records appeared where plaintext was due, and the part of the dialogue that would
    /// explain them is not in the capture (a gap, or the capture began mid-way).
    Unannounced,
}

/// The whole dialogue state of one session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Plaintext SMTP in both directions.
    Plain { stage: Stage, client: Client },
    /// STARTTLS was answered `220`; the client's ClientHello is due. The server has nothing
    /// to say until then: its bytes here are a response injection (S9).
    TlsDue,
    /// TLS in both directions: the bytes go to the TLS sniffer.
    Tls(TlsStart),
}

impl State {
    /// A new connection.
    pub const START: State = State::Plain {
        stage: Stage::Greeting,
        client: Client::Opening,
    };
}

/// What happened, as the session cut it from the bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A complete command line from the client (`bdat`: the chunk size of a BDAT).
    Command { verb: Verb, bdat: Option<u64> },
    /// A line of message content (`end`: it is the lone `.`).
    BodyLine { end: bool },
    /// This many bytes of a BDAT chunk.
    ChunkBytes(u64),
    /// A line answering a `334` challenge.
    SaslLine,
    /// A complete reply. `greeting`: it can be the greeting (the first reply, with the start
    /// of the connection in the capture or answering no command we saw). `answers`: the
    /// awaited command it answers, if it answers one.
    Reply {
        code: u16,
        greeting: bool,
        answers: Option<Awaited>,
    },
    /// A server line that is not a reply, outside any reply.
    StrayLine,
    /// The client's bytes begin with a TLS record. `hello`: a ClientHello (or SSLv2 hello).
    /// `context_lost`: part of the dialogue before it is missing (gap, or mid-stream start).
    ClientTls { hello: bool, context_lost: bool },
    /// The client's bytes, where TLS was due, begin with a plaintext command line.
    ClientPlaintext,
    /// The server's bytes begin with a TLS record where a reply was due.
    ServerTls { context_lost: bool },
    /// Server bytes that are not a TLS record while the ClientHello is still due.
    ServerBytes,
    /// Bytes missing from the capture in one direction.
    Gap { to_server: bool, len: u64 },
}

/// What the session must do besides moving to the next state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    Nothing,
    /// Record the command and queue it for its reply.
    Command,
    /// The reply is the server's greeting.
    Greeting,
    /// The reply answers the oldest command waiting for one.
    Answer,
    /// As `Answer`, for a command of the plaintext dialogue after the upgrade: a server
    /// answering it shows the dialogue went on in plaintext on both sides.
    AnswerAfterUpgrade,
    /// `220` to STARTTLS: client bytes held behind it were injected (S8) unless they are a
    /// ClientHello; TLS is due.
    Upgrade,
    /// STARTTLS refused: client bytes held behind it are pipelined commands, read as such.
    StartTlsRefused,
    /// Start the TLS sniffer and feed it from now on.
    BeginTls(TlsStart),
    /// Client bytes that began TLS without a `220`.
    TlsWithout220,
    /// The client went on in plaintext after `220` (S10).
    PlaintextAfterUpgrade,
    /// Server bytes after `220` before the client began TLS (S9).
    ResponseInjection,
    /// A SASL response: recorded as redacted; the server's reply says what follows.
    SaslResponse,
    /// A gap in plaintext: drop the partial line and resynchronise on the next one.
    Resync,
    /// A gap in a BDAT chunk, within its length: nothing to resynchronise.
    SkipChunk,
    /// A gap while TLS is due or under way: the sniffer notes it.
    TlsGap,
}

/// The one transition function: the state after `event`, and what to do about it.
pub fn next(state: State, event: Event) -> (State, Effect) {
    use Effect as E;
    use Event as Ev;
    use State::*;
    match (state, event) {
        // ---- TLS: everything goes to the sniffer -------------------------------------------
        (Tls(_), Ev::Gap { .. }) => (state, E::TlsGap),
        (Tls(_), _) => (state, E::Nothing),

        // ---- after 220, before the client's first byte -------------------------------------
        (TlsDue, Ev::ClientTls { .. }) => {
            (Tls(TlsStart::StartTls), E::BeginTls(TlsStart::StartTls))
        }
        (TlsDue, Ev::ClientPlaintext) => (
            Plain {
                stage: Stage::AfterUpgrade,
                client: Client::Commands,
            },
            E::PlaintextAfterUpgrade,
        ),
        (TlsDue, Ev::ServerBytes) => (TlsDue, E::ResponseInjection),
        // The server's handshake answers a ClientHello the capture has not shown (lost, or
        // not yet delivered): TLS began all the same; no injection.
        (TlsDue, Ev::ServerTls { .. }) => {
            (Tls(TlsStart::StartTls), E::BeginTls(TlsStart::StartTls))
        }
        // The client's first TLS bytes are lost: TLS began all the same (what the server
        // sends next is its answer, not an injection).
        (
            TlsDue,
            Ev::Gap {
                to_server: true, ..
            },
        ) => (Tls(TlsStart::StartTls), E::BeginTls(TlsStart::StartTls)),
        (TlsDue, Ev::Gap { .. }) => (TlsDue, E::TlsGap),
        (TlsDue, _) => (TlsDue, E::Nothing),

        // ---- plaintext: the server's side --------------------------------------------------
        (
            Plain {
                stage: Stage::Greeting,
                client,
            },
            Ev::Reply { greeting: true, .. },
        ) => (
            Plain {
                stage: Stage::Dialogue,
                client,
            },
            E::Greeting,
        ),
        (Plain { stage, client }, Ev::Reply { code, answers, .. }) => {
            let stage = match stage {
                Stage::Greeting => Stage::Dialogue,
                other => other,
            };
            let answered = match stage {
                Stage::AfterUpgrade => E::AnswerAfterUpgrade,
                _ => E::Answer,
            };
            match (client, answers) {
                (Client::Awaiting(awaited), Some(answering)) if awaited == answering => {
                    match (awaited, code) {
                        (Awaited::StartTls, 220) if stage != Stage::AfterUpgrade => {
                            (TlsDue, E::Upgrade)
                        }
                        (Awaited::StartTls, _) => (
                            Plain {
                                stage,
                                client: Client::Commands,
                            },
                            E::StartTlsRefused,
                        ),
                        (Awaited::Data, 300..=399) => (
                            Plain {
                                stage,
                                client: Client::MessageBody,
                            },
                            answered,
                        ),
                        (Awaited::Auth, 334) => (
                            Plain {
                                stage,
                                client: Client::SaslResponse,
                            },
                            answered,
                        ),
                        _ => (
                            Plain {
                                stage,
                                client: Client::Commands,
                            },
                            answered,
                        ),
                    }
                }
                // A challenge to an AUTH the capture did not show (it starts mid-exchange):
                // the client's next line is a credential all the same (RFC 4954 §4).
                (Client::Commands | Client::Opening, None) if code == 334 => (
                    Plain {
                        stage,
                        client: Client::SaslResponse,
                    },
                    answered,
                ),
                _ => (Plain { stage, client }, answered),
            }
        }
        // A stray line before the greeting: this server does not open like SMTP.
        (
            Plain {
                stage: Stage::Greeting,
                client,
            },
            Ev::StrayLine,
        ) => (
            Plain {
                stage: Stage::Dialogue,
                client,
            },
            E::Nothing,
        ),
        (Plain { .. }, Ev::ServerTls { context_lost: true }) => (
            Tls(TlsStart::Unannounced),
            E::BeginTls(TlsStart::Unannounced),
        ),

        // ---- plaintext: the client's side --------------------------------------------------
        (
            Plain {
                stage,
                client: Client::Opening | Client::Commands,
            },
            Ev::Command { verb, bdat },
        ) => {
            let client = match (verb, bdat) {
                (Verb::Data, _) => Client::Awaiting(Awaited::Data),
                (Verb::Auth, _) => Client::Awaiting(Awaited::Auth),
                (Verb::StartTls, _) => Client::Awaiting(Awaited::StartTls),
                // `BDAT 0 LAST` carries no chunk: commands go on at once.
                (Verb::Bdat, Some(size)) if size > 0 => Client::Chunk { remaining: size },
                _ => Client::Commands,
            };
            (Plain { stage, client }, E::Command)
        }
        (
            Plain {
                stage,
                client: Client::MessageBody,
            },
            Ev::BodyLine { end },
        ) => {
            let client = if end {
                Client::Commands
            } else {
                Client::MessageBody
            };
            (Plain { stage, client }, E::Nothing)
        }
        (
            Plain {
                stage,
                client: Client::Chunk { remaining },
            },
            Ev::ChunkBytes(n),
        ) => (
            Plain {
                stage,
                client: after_chunk(remaining, n),
            },
            E::Nothing,
        ),
        (
            Plain {
                stage,
                client: Client::SaslResponse,
            },
            Ev::SaslLine,
        ) => (
            Plain {
                stage,
                client: Client::Awaiting(Awaited::Auth),
            },
            E::SaslResponse,
        ),
        (
            Plain {
                stage: Stage::Greeting | Stage::Dialogue,
                client: Client::Opening,
            },
            Ev::ClientTls {
                hello: true,
                context_lost: false,
            },
        ) => (Tls(TlsStart::Implicit), E::BeginTls(TlsStart::Implicit)),
        (
            Plain { .. },
            Ev::ClientTls {
                context_lost: true, ..
            },
        ) => (
            Tls(TlsStart::Unannounced),
            E::BeginTls(TlsStart::Unannounced),
        ),
        (Plain { stage, .. }, Ev::ClientTls { .. }) => (
            Plain {
                stage,
                client: Client::TlsWithout220,
            },
            E::TlsWithout220,
        ),
        (
            Plain {
                stage,
                client: Client::Chunk { remaining },
            },
            Ev::Gap {
                to_server: true,
                len,
            },
        ) if len <= remaining => (
            Plain {
                stage,
                client: after_chunk(remaining, len),
            },
            E::SkipChunk,
        ),
        (
            Plain {
                stage,
                client: Client::Chunk { .. },
            },
            Ev::Gap {
                to_server: true, ..
            },
        ) => (
            Plain {
                stage,
                client: Client::Commands,
            },
            E::Resync,
        ),
        (Plain { .. }, Ev::Gap { .. }) => (state, E::Resync),
        (Plain { .. }, _) => (state, E::Nothing),
    }
}

fn after_chunk(remaining: u64, taken: u64) -> Client {
    match remaining.saturating_sub(taken) {
        0 => Client::Commands,
        left => Client::Chunk { remaining: left },
    }
}

/// The command a reply to `verb` may release the client from.
pub fn awaited(verb: Verb) -> Option<Awaited> {
    match verb {
        Verb::Data => Some(Awaited::Data),
        Verb::Auth => Some(Awaited::Auth),
        Verb::StartTls => Some(Awaited::StartTls),
        _ => None,
    }
}

/// Whether `code` can be the reply to the awaited command: its success (`220`, `354`, `334`
/// or `235`) or a refusal (4xx, 5xx); never another command's `250`.
pub fn may_answer(awaited: Awaited, code: u16) -> bool {
    let success = match awaited {
        Awaited::StartTls => code == 220,
        Awaited::Data => code == 354,
        Awaited::Auth => matches!(code, 334 | 235),
    };
    success || code >= 400
}

#[cfg(test)]
mod tests;
