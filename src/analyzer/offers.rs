//! S14 `inconsistent-offer`: the same server offers STARTTLS in one session and not in another.
//!
//! This compares sessions, so it cannot be part of the per-session classification. Streaming
//! ([`OfferHistory::observe`]) marks a session when an earlier session of the same server
//! answered differently; a whole document ([`OfferHistory::mark_all`]) marks every session of
//! such a server.

use std::collections::HashMap;
use std::net::SocketAddr;

use foldhash::fast::RandomState;

use crate::classify::{ehlo_offer, Finding, FindingKind, SessionReport, Severity};

/// Servers remembered at most (memory bound; the oldest are not evicted, new ones not added).
const MAX_SERVERS: usize = 100_000;

/// Per server: the first session frame that offered STARTTLS, and the first that did not.
#[derive(Debug, Default)]
pub struct OfferHistory {
    /// foldhash, randomly seeded (see `FlowTable`).
    servers: HashMap<SocketAddr, [Option<u64>; 2], RandomState>,
}

/// Whether the session's EHLO reply offered STARTTLS (`None` without an EHLO reply, or when
/// the reply is cut by a gap and lists no STARTTLS: the missing part may have held it).
fn offered(report: &SessionReport) -> Option<bool> {
    let reply = ehlo_offer(&report.record)?;
    match reply.offers_starttls() {
        true => Some(true),
        false if reply.partial => None,
        false => Some(false),
    }
}

fn finding(report: &SessionReport, offered: bool, other_frame: u64) -> Finding {
    let (here, there) = if offered {
        ("offered", "not offered")
    } else {
        ("not offered", "offered")
    };
    let frame = ehlo_offer(&report.record).map_or(report.record.first_frame, |r| r.frame);
    Finding {
        kind: FindingKind::InconsistentOffer,
        severity: Severity::Warning,
        frame,
        evidence: format!("STARTTLS {here} here, {there} by the same server in the session starting at frame {other_frame} (which clients: mailtap --by server)").into(),
    }
}

impl OfferHistory {
    /// Records a session that just ended; marks it when the server answered differently before
    /// (and says whether it did).
    pub fn observe(&mut self, report: &mut SessionReport) -> bool {
        let Some(offered) = offered(report) else {
            return false;
        };
        let server = report.record.server;
        if !self.servers.contains_key(&server) && self.servers.len() >= MAX_SERVERS {
            return false;
        }
        let seen = self.servers.entry(server).or_default();
        seen[usize::from(offered)].get_or_insert(report.record.first_frame);
        match seen[usize::from(!offered)] {
            Some(other) if !report.has(FindingKind::InconsistentOffer) => {
                report.findings.push(finding(report, offered, other));
                true
            }
            _ => false,
        }
    }

    /// Marks every session of a server whose sessions disagree (for whole documents).
    pub fn mark_all(reports: &mut [SessionReport]) {
        let mut history = OfferHistory::default();
        for report in reports.iter_mut() {
            history.observe(report);
        }
        for report in reports.iter_mut() {
            let Some(offered) = offered(report) else {
                continue;
            };
            let Some(seen) = history.servers.get(&report.record.server) else {
                continue;
            };
            if let (Some(other), false) = (
                seen[usize::from(!offered)],
                report.has(FindingKind::InconsistentOffer),
            ) {
                report.findings.push(finding(report, offered, other));
            }
        }
    }
}
