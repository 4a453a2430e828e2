//! mailtap: for every SMTP connection in a capture, how the STARTTLS negotiation went.
//!
//! The data flows one way, one module per step:
//!
//! ```text
//! capture ──frames──▶ decode ──TCP segments──▶ reassembly ──ordered bytes per direction──▶
//!   smtp (parsers, state machine, TLS sniffing) ──session record──▶ classify ──▶ report
//! ```
//!
//! [`analyzer::Analyzer`] ties the steps together and is the library entry point: feed it
//! [`capture::Frame`]s (from [`capture::file::FileReader`] or a live capture) and it hands back
//! a [`classify::SessionReport`] for every SMTP session as the session ends. Nothing below the
//! capture layer reads a clock or does I/O: time is the capture's.

pub mod analyzer;
pub mod capture;
pub mod classify;
pub mod decode;
pub mod reassembly;
pub mod report;
pub mod smtp;
pub mod text;
pub mod tls;

use serde::Serialize;

/// Which way bytes travel on a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    ToServer,
    ToClient,
}

impl Direction {
    pub fn reverse(self) -> Direction {
        match self {
            Direction::ToServer => Direction::ToClient,
            Direction::ToClient => Direction::ToServer,
        }
    }
}
