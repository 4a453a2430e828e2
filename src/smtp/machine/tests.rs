//! The transition table, one row per (state, event) that matters.

use super::*;

const GREETING: State = State::START;

fn plain(stage: Stage, client: Client) -> State {
    State::Plain { stage, client }
}

fn dialogue(client: Client) -> State {
    plain(Stage::Dialogue, client)
}

fn command(verb: Verb) -> Event {
    Event::Command { verb, bdat: None }
}

fn reply(code: u16, answers: Option<Awaited>) -> Event {
    Event::Reply {
        code,
        greeting: false,
        answers,
    }
}

#[test]
fn transition_table() {
    use Awaited::*;
    use Client::*;
    use Effect as E;
    let rows: &[(State, Event, State, Effect)] = &[
        // The greeting, and what is not one.
        (
            GREETING,
            Event::Reply {
                code: 220,
                greeting: true,
                answers: None,
            },
            dialogue(Opening),
            E::Greeting,
        ),
        (GREETING, reply(250, None), dialogue(Opening), E::Answer),
        (GREETING, Event::StrayLine, dialogue(Opening), E::Nothing),
        // A client that speaks before the greeting is still a client.
        (
            GREETING,
            command(Verb::Ehlo),
            plain(Stage::Greeting, Commands),
            E::Command,
        ),
        // Commands and the ones that end a pipelined group (RFC 2920 §3.1).
        (
            dialogue(Opening),
            command(Verb::Ehlo),
            dialogue(Commands),
            E::Command,
        ),
        (
            dialogue(Commands),
            command(Verb::Mail),
            dialogue(Commands),
            E::Command,
        ),
        (
            dialogue(Commands),
            command(Verb::Data),
            dialogue(Awaiting(Data)),
            E::Command,
        ),
        (
            dialogue(Commands),
            command(Verb::Auth),
            dialogue(Awaiting(Auth)),
            E::Command,
        ),
        (
            dialogue(Commands),
            command(Verb::StartTls),
            dialogue(Awaiting(StartTls)),
            E::Command,
        ),
        // BDAT: a chunk of its size follows; `BDAT 0 LAST` has none.
        (
            dialogue(Commands),
            Event::Command {
                verb: Verb::Bdat,
                bdat: Some(10),
            },
            dialogue(Chunk { remaining: 10 }),
            E::Command,
        ),
        (
            dialogue(Commands),
            Event::Command {
                verb: Verb::Bdat,
                bdat: Some(0),
            },
            dialogue(Commands),
            E::Command,
        ),
        (
            dialogue(Chunk { remaining: 10 }),
            Event::ChunkBytes(4),
            dialogue(Chunk { remaining: 6 }),
            E::Nothing,
        ),
        (
            dialogue(Chunk { remaining: 10 }),
            Event::ChunkBytes(10),
            dialogue(Commands),
            E::Nothing,
        ),
        (
            dialogue(Chunk { remaining: 10 }),
            Event::Gap {
                to_server: true,
                len: 4,
            },
            dialogue(Chunk { remaining: 6 }),
            E::SkipChunk,
        ),
        (
            dialogue(Chunk { remaining: 10 }),
            Event::Gap {
                to_server: true,
                len: 40,
            },
            dialogue(Commands),
            E::Resync,
        ),
        // Replies release the held client.
        (
            dialogue(Awaiting(Data)),
            reply(354, Some(Data)),
            dialogue(MessageBody),
            E::Answer,
        ),
        (
            dialogue(Awaiting(Data)),
            reply(554, Some(Data)),
            dialogue(Commands),
            E::Answer,
        ),
        (
            dialogue(MessageBody),
            Event::BodyLine { end: false },
            dialogue(MessageBody),
            E::Nothing,
        ),
        (
            dialogue(MessageBody),
            Event::BodyLine { end: true },
            dialogue(Commands),
            E::Nothing,
        ),
        (
            dialogue(Awaiting(Auth)),
            reply(334, Some(Auth)),
            dialogue(SaslResponse),
            E::Answer,
        ),
        (
            dialogue(SaslResponse),
            Event::SaslLine,
            dialogue(Awaiting(Auth)),
            E::SaslResponse,
        ),
        (
            dialogue(Awaiting(Auth)),
            reply(235, Some(Auth)),
            dialogue(Commands),
            E::Answer,
        ),
        (
            dialogue(Commands),
            reply(334, None),
            dialogue(SaslResponse),
            E::Answer,
        ),
        // A reply to an earlier pipelined command does not release the held client.
        (
            dialogue(Awaiting(StartTls)),
            reply(250, None),
            dialogue(Awaiting(StartTls)),
            E::Answer,
        ),
        // STARTTLS: 220 makes TLS due; anything else is a refusal.
        (
            dialogue(Awaiting(StartTls)),
            reply(220, Some(StartTls)),
            State::TlsDue,
            E::Upgrade,
        ),
        (
            dialogue(Awaiting(StartTls)),
            reply(454, Some(StartTls)),
            dialogue(Commands),
            E::StartTlsRefused,
        ),
        (
            dialogue(Awaiting(StartTls)),
            reply(500, Some(StartTls)),
            dialogue(Commands),
            E::StartTlsRefused,
        ),
        // After 220.
        (
            State::TlsDue,
            Event::ClientTls {
                hello: true,
                context_lost: false,
            },
            State::Tls(TlsStart::StartTls),
            E::BeginTls(TlsStart::StartTls),
        ),
        (
            State::TlsDue,
            Event::ServerBytes,
            State::TlsDue,
            E::ResponseInjection,
        ),
        (
            State::TlsDue,
            Event::Gap {
                to_server: true,
                len: 300,
            },
            State::Tls(TlsStart::StartTls),
            E::BeginTls(TlsStart::StartTls),
        ),
        (
            State::TlsDue,
            Event::Gap {
                to_server: false,
                len: 300,
            },
            State::TlsDue,
            E::TlsGap,
        ),
        (
            State::TlsDue,
            Event::ClientPlaintext,
            plain(Stage::AfterUpgrade, Commands),
            E::PlaintextAfterUpgrade,
        ),
        (
            plain(Stage::AfterUpgrade, Commands),
            reply(250, None),
            plain(Stage::AfterUpgrade, Commands),
            E::AnswerAfterUpgrade,
        ),
        // TLS where plaintext was due.
        (
            dialogue(Opening),
            Event::ClientTls {
                hello: true,
                context_lost: false,
            },
            State::Tls(TlsStart::Implicit),
            E::BeginTls(TlsStart::Implicit),
        ),
        (
            GREETING,
            Event::ClientTls {
                hello: true,
                context_lost: true,
            },
            State::Tls(TlsStart::Unannounced),
            E::BeginTls(TlsStart::Unannounced),
        ),
        (
            dialogue(Commands),
            Event::ClientTls {
                hello: true,
                context_lost: true,
            },
            State::Tls(TlsStart::Unannounced),
            E::BeginTls(TlsStart::Unannounced),
        ),
        (
            dialogue(Commands),
            Event::ClientTls {
                hello: true,
                context_lost: false,
            },
            dialogue(TlsWithout220),
            E::TlsWithout220,
        ),
        (
            dialogue(TlsWithout220),
            reply(500, None),
            dialogue(TlsWithout220),
            E::Answer,
        ),
        (
            dialogue(Commands),
            Event::ServerTls { context_lost: true },
            State::Tls(TlsStart::Unannounced),
            E::BeginTls(TlsStart::Unannounced),
        ),
        (
            dialogue(Commands),
            Event::ServerTls {
                context_lost: false,
            },
            dialogue(Commands),
            E::Nothing,
        ),
        // Gaps.
        (
            dialogue(Commands),
            Event::Gap {
                to_server: false,
                len: 9,
            },
            dialogue(Commands),
            E::Resync,
        ),
        (
            State::Tls(TlsStart::StartTls),
            Event::Gap {
                to_server: true,
                len: 9,
            },
            State::Tls(TlsStart::StartTls),
            E::TlsGap,
        ),
    ];
    for (i, (state, event, want_state, want_effect)) in rows.iter().enumerate() {
        assert_eq!(
            next(*state, *event),
            (*want_state, *want_effect),
            "row {i}: {state:?} + {event:?}"
        );
    }
}

#[test]
fn which_codes_may_answer_an_awaited_command() {
    use Awaited::*;
    assert!(may_answer(StartTls, 220) && may_answer(StartTls, 454) && may_answer(StartTls, 502));
    assert!(!may_answer(StartTls, 250) && !may_answer(StartTls, 354));
    assert!(may_answer(Data, 354) && may_answer(Data, 554) && !may_answer(Data, 250));
    assert!(may_answer(Auth, 334) && may_answer(Auth, 235) && !may_answer(Auth, 250));
}

#[test]
fn only_data_auth_and_starttls_are_awaited() {
    assert_eq!(awaited(Verb::StartTls), Some(Awaited::StartTls));
    assert_eq!(awaited(Verb::Data), Some(Awaited::Data));
    assert_eq!(awaited(Verb::Auth), Some(Awaited::Auth));
    assert_eq!(awaited(Verb::Mail), None);
    assert_eq!(awaited(Verb::Bdat), None);
}
