//! JSON output of `mailtap diff`: the `mailtap-diff/1` schema. This module is the contract;
//! change it only by adding fields.
//!
//! `mailtap diff --format json A B` (or `FILE`) writes one document:
//!
//! ```json
//! { "schema": "mailtap-diff/1", "clock_offset_s": 3600.25, "pairs": [PAIR, ...],
//!   "unpaired": { "a": [SIDE, ...], "b": [SIDE, ...] }, "summary": SUMMARY }
//! ```
//!
//! - `clock_offset_s`: seconds to add to a time of capture A to get the same instant in
//!   capture B, estimated from the pairs (`0` for one capture holding both legs; `null` when
//!   no pair was found)
//! - PAIR: `{ "a": SIDE, "b": SIDE, "changes": [CHANGE, ...], "middlebox": [EFFECT, ...] }`;
//!   side `a` is the one nearer the client (capture A, or the earlier leg in one capture)
//! - SIDE: `{ "client", "server", "verdict", "first_frame" }`: the addresses as `ip:port`
//!   (`[v6]:port`), the verdict as in `mailtap/1`
//! - CHANGE: `{ "direction": "to-client" | "to-server", "kind", "a": LINE | null,
//!   "b": LINE | null, "mask"?: "XXXXXXXA" }` where `kind` is one of
//!   - `changed`: both sides have the line, with different text (`mask`: the masked part as
//!     sent, when one side is a same-length mask of X's, optionally ending in one capital
//!     letter, or of `*`)
//!   - `deleted`: a server line that never reached the client (`a` null)
//!   - `inserted`: a line only one side saw that its sender did not send
//!   - `blocked`: a client command that never reached the server (`b` null)
//!   - `answered-by-middlebox`: a whole reply the client got that the server never sent
//!   - `tls-altered`: the TLS after `220` differs (ClientHello, ServerHello, alerts, bytes
//!     that are not TLS, records that stop on one side); `line` then describes it
//!   - `reset`: a TCP reset seen on one side only
//! - LINE: `{ "frame": N, "line": "250-STARTTLS" }`, the frame in that side's capture
//! - EFFECT (`middlebox`, empty when the sides agree): `offer-stripped` (the STARTTLS keyword
//!   of the server's EHLO reply deleted or masked), `command-blocked` (a client command
//!   blocked, masked or answered by the middlebox), `banner-altered` (the greeting changed),
//!   `tls-broken` (a `tls-altered` change), `other`
//! - SUMMARY: `{ "pairs", "pairs_changed" (pairs with a middlebox effect), "unpaired_a",
//!   "unpaired_b", "changes": { kind: count }, "middlebox": { effect: pairs with it } }`
//!
//! Text from the wire is escaped as in `mailtap/1`: invalid UTF-8 bytes appear as `\xNN` and
//! a literal backslash as `\\`.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::net::SocketAddr;

use serde::{Serialize, Serializer};

use super::{Change, Diff, Effect, LineRef};
use crate::classify::SessionReport;
use crate::text::WireText;
use crate::Direction;

/// The `schema` of the JSON document.
pub const SCHEMA: &str = "mailtap-diff/1";

fn as_text<T: Display, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(value)
}

/// The `mailtap-diff/1` JSON document of a [`Diff`], for serde.
#[derive(Serialize)]
pub struct Document<'a> {
    schema: &'static str,
    clock_offset_s: Option<f64>,
    pairs: Vec<PairJson<'a>>,
    unpaired: Unpaired,
    summary: SummaryJson,
}

#[derive(Serialize)]
struct SideJson {
    #[serde(serialize_with = "as_text")]
    client: SocketAddr,
    #[serde(serialize_with = "as_text")]
    server: SocketAddr,
    verdict: &'static str,
    first_frame: u64,
}

impl SideJson {
    fn new(r: &SessionReport) -> Self {
        SideJson {
            client: r.record.client,
            server: r.record.server,
            verdict: r.verdict.name(),
            first_frame: r.record.first_frame,
        }
    }
}

#[derive(Serialize)]
struct PairJson<'a> {
    a: SideJson,
    b: SideJson,
    changes: Vec<ChangeJson<'a>>,
    middlebox: Vec<&'static str>,
}

#[derive(Serialize)]
struct ChangeJson<'a> {
    direction: Direction,
    kind: &'static str,
    a: Option<LineJson<'a>>,
    b: Option<LineJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mask: Option<&'a WireText>,
}

#[derive(Serialize)]
struct LineJson<'a> {
    frame: u64,
    line: &'a WireText,
}

impl<'a> LineJson<'a> {
    fn new(r: &'a Option<LineRef>) -> Option<Self> {
        r.as_ref().map(|r| LineJson {
            frame: r.frame,
            line: &r.line,
        })
    }
}

impl<'a> ChangeJson<'a> {
    fn new(c: &'a Change) -> Self {
        ChangeJson {
            direction: c.direction,
            kind: c.kind.name(),
            a: LineJson::new(&c.a),
            b: LineJson::new(&c.b),
            mask: c.mask.as_ref(),
        }
    }
}

#[derive(Serialize)]
struct Unpaired {
    a: Vec<SideJson>,
    b: Vec<SideJson>,
}

#[derive(Serialize)]
struct SummaryJson {
    pairs: usize,
    pairs_changed: usize,
    unpaired_a: usize,
    unpaired_b: usize,
    changes: BTreeMap<&'static str, usize>,
    middlebox: BTreeMap<&'static str, usize>,
}

impl<'a> Document<'a> {
    /// The document for a diff of sessions `a` and `b` (the same list for one capture).
    pub fn new(diff: &'a Diff, a: &'a [SessionReport], b: &'a [SessionReport]) -> Self {
        let mut changes = BTreeMap::new();
        let mut middlebox = BTreeMap::new();
        for p in &diff.pairs {
            for c in &p.changes {
                *changes.entry(c.kind.name()).or_default() += 1;
            }
            for e in &p.effects {
                *middlebox.entry(e.name()).or_default() += 1;
            }
        }
        Document {
            schema: SCHEMA,
            clock_offset_s: diff.clock_offset.map(|o| (o * 1e6).round() / 1e6),
            pairs: diff
                .pairs
                .iter()
                .map(|p| PairJson {
                    a: SideJson::new(&a[p.a]),
                    b: SideJson::new(&b[p.b]),
                    changes: p.changes.iter().map(ChangeJson::new).collect(),
                    middlebox: p.effects.iter().map(|e| Effect::name(*e)).collect(),
                })
                .collect(),
            unpaired: Unpaired {
                a: diff
                    .unpaired_a
                    .iter()
                    .map(|&i| SideJson::new(&a[i]))
                    .collect(),
                b: diff
                    .unpaired_b
                    .iter()
                    .map(|&i| SideJson::new(&b[i]))
                    .collect(),
            },
            summary: SummaryJson {
                pairs: diff.pairs.len(),
                pairs_changed: diff.pairs.iter().filter(|p| !p.effects.is_empty()).count(),
                unpaired_a: diff.unpaired_a.len(),
                unpaired_b: diff.unpaired_b.len(),
                changes,
                middlebox,
            },
        }
    }
}
