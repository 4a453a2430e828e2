//! The one integration-test binary: outside checks (public corpus), golden fixtures from real
//! mail software, hand-made edge cases, and the command line.

#[path = "../common/mod.rs"]
mod common;

mod cli;
mod corpus;
mod dialogue_cases;
mod diff;
mod edge_cases;
mod examples;
mod fixtures;
mod flows;
mod hostile;
mod inputs;
mod proptests;
mod report;
mod rotation;
mod tcp_tls_cases;
mod threads;
