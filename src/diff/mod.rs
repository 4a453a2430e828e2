//! `mailtap diff`: one SMTP session seen from two places, and what a middlebox changed.
//!
//! A masking firewall leaves fingerprints one capture can show (`250-XXXXXXXA`); a middlebox
//! that deletes the STARTTLS line, answers `502` itself, rewrites the banner or breaks the TLS
//! bytes leaves none: only comparing the two sides shows it. This module does that comparison
//! as pure functions over [`SessionReport`]s whose records kept the plaintext dialogue
//! (`SessionLimits { keep_transcript: true, .. }`):
//!
//! 1. Pairing: each session of side A is paired with its counterpart on side B by the
//!    dialogue itself (the lines both sides exchanged: EHLO argument, MAIL FROM, RCPT TO, queue
//!    ids, command order), never by addresses (NAT and proxies change them), and by time,
//!    allowing for an unknown clock offset between two captures, which is estimated
//!    ([`pair_two`]). Both legs in one capture ([`pair_one`]): the earlier session of a pair is
//!    side A.
//! 2. [`compare`]: the plaintext dialogue of each direction aligned line by line (longest
//!    common subsequence), each difference classified as a [`ChangeKind`], plus the TLS facts
//!    and resets compared; from these, the [`Effect`]s a middlebox had.
//!
//! Side A is taken as the side nearer the client (the client's own capture, or the earlier
//! leg of a proxy), side B as the side nearer the server: a client line that is missing on B
//! was `blocked`, a server reply line missing on A was `deleted`, a reply only A saw was
//! `answered-by-middlebox`.

pub mod json;
mod table;

pub use table::write_table;

use std::fmt;

use serde::Serialize;

use crate::capture::Timestamp;
use crate::classify::SessionReport;
use crate::smtp::record::TranscriptLine;
use crate::text::WireText;
use crate::Direction;

/// How one line (or TLS fact, or reset) differs between the two sides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ChangeKind {
    /// Both sides have a line here, with different text.
    Changed,
    /// A server line that never reached the client.
    Deleted,
    /// A line only one side saw, that its sender did not send (a client line only the server
    /// saw, or a line added inside a server reply).
    Inserted,
    /// A client command that never reached the server.
    Blocked,
    /// A whole reply the client got that the server never sent.
    AnsweredByMiddlebox,
    /// TLS bytes that differ between the sides, or stop on one side.
    TlsAltered,
    /// A TCP reset seen on one side only.
    Reset,
}

impl ChangeKind {
    /// The kebab-case name used in JSON and by `Display`.
    pub fn name(self) -> &'static str {
        match self {
            ChangeKind::Changed => "changed",
            ChangeKind::Deleted => "deleted",
            ChangeKind::Inserted => "inserted",
            ChangeKind::Blocked => "blocked",
            ChangeKind::AnsweredByMiddlebox => "answered-by-middlebox",
            ChangeKind::TlsAltered => "tls-altered",
            ChangeKind::Reset => "reset",
        }
    }
}

impl fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a middlebox did to a session, from its changes (`mailtap diff --fail-on` takes these
/// names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Effect {
    /// The server's STARTTLS offer did not reach the client (deleted or masked).
    OfferStripped,
    /// A client command was held back, masked, or answered by the middlebox.
    CommandBlocked,
    /// The greeting the client got is not the one the server sent.
    BannerAltered,
    /// The TLS bytes differ between the sides or stop on one side.
    TlsBroken,
    /// Any other difference.
    Other,
}

impl Effect {
    /// Every effect, in declaration order.
    pub const ALL: [Effect; 5] = [
        Effect::OfferStripped,
        Effect::CommandBlocked,
        Effect::BannerAltered,
        Effect::TlsBroken,
        Effect::Other,
    ];

    /// The kebab-case name used in JSON, on the command line and by `Display`.
    pub fn name(self) -> &'static str {
        match self {
            Effect::OfferStripped => "offer-stripped",
            Effect::CommandBlocked => "command-blocked",
            Effect::BannerAltered => "banner-altered",
            Effect::TlsBroken => "tls-broken",
            Effect::Other => "other",
        }
    }
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Effect {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Effect::ALL.into_iter().find(|e| e.name() == s).ok_or(())
    }
}

/// One side's line in a change: its frame and its text (or a description of a TLS fact).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineRef {
    /// The frame carrying the line, in that side's capture.
    pub frame: u64,
    /// The line as that side saw it.
    pub line: WireText,
}

/// One difference between the two sides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// Which way the line travelled.
    pub direction: Direction,
    /// What kind of difference.
    pub kind: ChangeKind,
    /// The line on side A (nearer the client), if it has one here.
    pub a: Option<LineRef>,
    /// The line on side B (nearer the server), if it has one here.
    pub b: Option<LineRef>,
    /// For `changed` lines where one side is a same-length mask (a run of `X`, optionally
    /// ending in one more capital letter, or a run of `*`): the masked part as sent.
    pub mask: Option<WireText>,
}

/// Two sessions found to be one, and what differs between them. `a` and `b` index the
/// session lists given to [`pair_two`] (or the one list given to [`pair_one`]).
#[derive(Clone, Debug)]
pub struct Pair {
    /// Index of the session on side A.
    pub a: usize,
    /// Index of the session on side B.
    pub b: usize,
    /// The differences, in dialogue order (empty when the sides agree).
    pub changes: Vec<Change>,
    /// What those differences say a middlebox did (sorted, each once).
    pub effects: Vec<Effect>,
}

/// The result of pairing and comparing.
#[derive(Clone, Debug, Default)]
pub struct Diff {
    /// Seconds to add to a time of capture A to get the same instant in capture B (0 for one
    /// capture; `None` when no pair was found to estimate it from).
    pub clock_offset: Option<f64>,
    /// The sessions found to be one, in order of side A.
    pub pairs: Vec<Pair>,
    /// Indices of side A's sessions without a counterpart.
    pub unpaired_a: Vec<usize>,
    /// Indices of side B's sessions without a counterpart (empty for one capture).
    pub unpaired_b: Vec<usize>,
}

impl Diff {
    /// Whether any pair had a middlebox effect (any of `effects`, or any at all when empty).
    pub fn has_effect(&self, effects: &[Effect]) -> bool {
        self.pairs.iter().any(|p| {
            p.effects
                .iter()
                .any(|e| effects.is_empty() || effects.contains(e))
        })
    }
}

/// Lines of the plaintext dialogue compared for pairing (enough to hold EHLO, MAIL, RCPT and
/// the queue id of a normal session; bounded so that pairing stays cheap).
const PAIRING_LINES: usize = 200;
/// Sessions whose dialogues agree less than this are never paired.
const MIN_SIMILARITY: f64 = 0.7;
/// Start times of a pair may differ by this much (after the clock offset): a proxy opens its
/// server leg after the client connected, a firewall delays.
const TIME_TOLERANCE_S: f64 = 3.0;

fn seconds(t: Timestamp) -> f64 {
    t.secs as f64 + f64::from(t.nanos) / 1e9
}

/// A session's dialogue reduced for pairing: hashes of its lines, sorted (a multiset).
struct Fingerprint {
    lines: Vec<u64>,
    start: f64,
    tls_only: bool,
}

fn fingerprint(report: &SessionReport) -> Fingerprint {
    use std::hash::{Hash, Hasher};
    let mut lines: Vec<u64> = report
        .record
        .transcript
        .iter()
        .take(PAIRING_LINES)
        .map(|l| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            l.direction.hash(&mut h);
            l.text.as_bytes().hash(&mut h);
            h.finish()
        })
        .collect();
    lines.sort_unstable();
    Fingerprint {
        lines,
        start: seconds(report.record.first_time),
        tls_only: report.record.implicit_tls,
    }
}

/// Dice coefficient of two sorted multisets of line hashes, in 0..=1.
fn similarity(a: &Fingerprint, b: &Fingerprint) -> f64 {
    if a.lines.is_empty() || b.lines.is_empty() {
        // Nothing to compare but the shape: two TLS-from-the-first-byte sessions may be one.
        return if a.tls_only && b.tls_only && a.lines.is_empty() && b.lines.is_empty() {
            MIN_SIMILARITY
        } else {
            0.0
        };
    }
    let (mut i, mut j, mut common) = (0, 0, 0usize);
    while i < a.lines.len() && j < b.lines.len() {
        match a.lines[i].cmp(&b.lines[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                common += 1;
                i += 1;
                j += 1;
            }
        }
    }
    2.0 * common as f64 / (a.lines.len() + b.lines.len()) as f64
}

/// A possible pair: indices, dialogue similarity, start-time difference (b − a, seconds).
#[derive(Clone, Copy)]
struct Candidate {
    a: usize,
    b: usize,
    score: f64,
    delta: f64,
}

/// The clock offset most candidate pairs agree on: the start-time difference around which the
/// most (similarity-weighted) candidates lie, refined to their median. A sliding window over
/// the differences in order: O(c log c).
fn estimate_offset(candidates: &[Candidate]) -> Option<f64> {
    let mut deltas: Vec<(f64, f64)> = candidates.iter().map(|c| (c.delta, c.score)).collect();
    deltas.sort_by(|x, y| x.0.total_cmp(&y.0));
    let half = TIME_TOLERANCE_S / 2.0;
    // prefix sums of the weights
    let mut prefix = Vec::with_capacity(deltas.len() + 1);
    prefix.push(0.0);
    for (_, w) in &deltas {
        prefix.push(prefix.last().copied().unwrap_or(0.0) + w);
    }
    let (mut lo, mut hi) = (0, 0);
    let mut best: Option<(f64, f64, usize, usize)> = None; // (weight, centre, from, to)
    for (k, &(d, _)) in deltas.iter().enumerate() {
        while deltas[lo].0 < d - half {
            lo += 1;
        }
        hi = hi.max(k);
        while hi + 1 < deltas.len() && deltas[hi + 1].0 <= d + half {
            hi += 1;
        }
        let weight = prefix[hi + 1] - prefix[lo];
        let better = match best {
            None => true,
            Some((w, centre, ..)) => {
                weight > w + 1e-9 || ((weight - w).abs() <= 1e-9 && d.abs() < centre.abs())
            }
        };
        if better {
            best = Some((weight, d, lo, hi));
        }
    }
    let (_, _, from, to) = best?;
    Some(deltas[(from + to) / 2].0)
}

/// Greedy assignment: the most similar, closest in time first; each session used once.
fn assign(
    mut candidates: Vec<Candidate>,
    offset: f64,
    n_a: usize,
    n_b: usize,
    one_capture: bool,
) -> (Vec<(usize, usize)>, Vec<usize>, Vec<usize>) {
    candidates.retain(|c| (c.delta - offset).abs() <= TIME_TOLERANCE_S);
    let rank = |c: &Candidate| c.score - 0.2 * (c.delta - offset).abs() / TIME_TOLERANCE_S;
    candidates.sort_by(|x, y| {
        rank(y)
            .total_cmp(&rank(x))
            .then((x.a, x.b).cmp(&(y.a, y.b)))
    });
    let mut used_a = vec![false; n_a];
    let mut used_b = vec![false; n_b];
    let mut pairs = Vec::new();
    for c in candidates {
        let taken = if one_capture {
            used_a[c.a] || used_a[c.b]
        } else {
            used_a[c.a] || used_b[c.b]
        };
        if taken {
            continue;
        }
        if one_capture {
            used_a[c.a] = true;
            used_a[c.b] = true;
        } else {
            used_a[c.a] = true;
            used_b[c.b] = true;
        }
        pairs.push((c.a, c.b));
    }
    pairs.sort_unstable();
    let unpaired_a = (0..n_a).filter(|&i| !used_a[i]).collect();
    let unpaired_b = if one_capture {
        Vec::new()
    } else {
        (0..n_b).filter(|&i| !used_b[i]).collect()
    };
    (pairs, unpaired_a, unpaired_b)
}

/// Sessions of A compared with every session of B to estimate the clock offset, spread over
/// the capture; then each session is compared only with those near its time.
const OFFSET_SAMPLE: usize = 256;
/// Best candidates kept per sampled session for the estimate.
const SAMPLE_CANDIDATES: usize = 32;

/// The sessions (indices) whose start lies in `lo..=hi`, from indices sorted by start.
fn near<'s>(
    order: &'s [usize],
    starts: &'s [f64],
    lo: f64,
    hi: f64,
) -> impl Iterator<Item = usize> + 's {
    let from = starts.partition_point(|&s| s < lo);
    (from..starts.len())
        .take_while(move |&k| starts[k] <= hi)
        .map(move |k| order[k])
}

/// Indices of `fps` sorted by start time, and the starts in that order.
fn by_start(fps: &[Fingerprint]) -> (Vec<usize>, Vec<f64>) {
    let mut order: Vec<usize> = (0..fps.len()).collect();
    order.sort_by(|&x, &y| fps[x].start.total_cmp(&fps[y].start));
    let starts = order.iter().map(|&i| fps[i].start).collect();
    (order, starts)
}

/// Pairs the sessions of two captures of the same traffic, estimating their clock offset, and
/// compares each pair. `a` is the capture nearer the client.
pub fn pair_two(a: &[SessionReport], b: &[SessionReport]) -> Diff {
    let fa: Vec<Fingerprint> = a.iter().map(fingerprint).collect();
    let fb: Vec<Fingerprint> = b.iter().map(fingerprint).collect();
    let candidate = |i: usize, j: usize| {
        let score = similarity(&fa[i], &fb[j]);
        (score >= MIN_SIMILARITY).then(|| Candidate {
            a: i,
            b: j,
            score,
            delta: fb[j].start - fa[i].start,
        })
    };
    // 1. The offset, from a sample of A against all of B: sessions whose best match in B is
    // unique (sessions alike in dialogue say nothing about the offset), spread over the
    // capture; if there are none, the best matches of the first sessions tried.
    let step = a.len().div_ceil(OFFSET_SAMPLE).max(1);
    let mut sample = Vec::new();
    let mut ambiguous = Vec::new();
    let (mut unique, mut tried) = (0, 0);
    'sampling: for phase in 0..step {
        for i in (phase..a.len()).step_by(step) {
            if unique >= OFFSET_SAMPLE || tried >= 4 * OFFSET_SAMPLE {
                break 'sampling;
            }
            tried += 1;
            let mut best: Vec<Candidate> = (0..b.len()).filter_map(|j| candidate(i, j)).collect();
            best.sort_by(|x, y| y.score.total_cmp(&x.score));
            best.truncate(SAMPLE_CANDIDATES);
            match best.as_slice() {
                [] => {}
                [one] => {
                    unique += 1;
                    sample.push(*one);
                }
                [first, second, ..] if first.score > second.score => {
                    unique += 1;
                    sample.push(*first);
                }
                _ if ambiguous.len() < OFFSET_SAMPLE * SAMPLE_CANDIDATES => ambiguous.extend(best),
                _ => {}
            }
        }
    }
    if sample.is_empty() {
        sample = ambiguous;
    }
    let offset = estimate_offset(&sample);
    // 2. Every session of A against the sessions of B near its time.
    let (order, starts) = by_start(&fb);
    let mut candidates = Vec::new();
    if let Some(o) = offset {
        for (i, x) in fa.iter().enumerate() {
            let (lo, hi) = (
                x.start + o - TIME_TOLERANCE_S,
                x.start + o + TIME_TOLERANCE_S,
            );
            candidates.extend(near(&order, &starts, lo, hi).filter_map(|j| candidate(i, j)));
        }
    }
    let (pairs, unpaired_a, unpaired_b) =
        assign(candidates, offset.unwrap_or(0.0), a.len(), b.len(), false);
    Diff {
        clock_offset: offset,
        pairs: pairs
            .into_iter()
            .map(|(i, j)| compare_pair(i, j, &a[i], &b[j]))
            .collect(),
        unpaired_a,
        unpaired_b,
    }
}

/// Pairs the sessions of one capture that holds both legs (a proxy's two connections, or one
/// forwarded connection seen on two interfaces): the earlier session of a pair is side A.
/// Every unpaired session is listed in `unpaired_a`.
pub fn pair_one(sessions: &[SessionReport]) -> Diff {
    let fp: Vec<Fingerprint> = sessions.iter().map(fingerprint).collect();
    let (order, starts) = by_start(&fp);
    let mut candidates = Vec::new();
    for (i, x) in fp.iter().enumerate() {
        for j in near(&order, &starts, x.start, x.start + TIME_TOLERANCE_S) {
            let earlier = (fp[i].start, sessions[i].record.first_frame)
                < (fp[j].start, sessions[j].record.first_frame);
            if i == j || !earlier {
                continue;
            }
            let score = similarity(x, &fp[j]);
            if score >= MIN_SIMILARITY {
                candidates.push(Candidate {
                    a: i,
                    b: j,
                    score,
                    delta: fp[j].start - x.start,
                });
            }
        }
    }
    let (pairs, unpaired_a, _) = assign(candidates, 0.0, sessions.len(), sessions.len(), true);
    Diff {
        clock_offset: Some(0.0),
        pairs: pairs
            .into_iter()
            .map(|(i, j)| compare_pair(i, j, &sessions[i], &sessions[j]))
            .collect(),
        unpaired_a,
        unpaired_b: Vec::new(),
    }
}

fn compare_pair(i: usize, j: usize, a: &SessionReport, b: &SessionReport) -> Pair {
    let changes = compare(a, b);
    let effects = effects(a, b, &changes);
    Pair {
        a: i,
        b: j,
        changes,
        effects,
    }
}

/// Lines of one direction, with their position in the greeting (to-client lines only).
struct Lines<'a> {
    lines: Vec<&'a TranscriptLine>,
}

fn lines(report: &SessionReport, direction: Direction) -> Lines<'_> {
    Lines {
        lines: report
            .record
            .transcript
            .iter()
            .filter(|l| l.direction == direction)
            .collect(),
    }
}

/// One step of an alignment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Same(usize, usize),
    OnlyA(usize),
    OnlyB(usize),
}

/// Longest-common-subsequence alignment of two line lists (at most a few hundred lines each:
/// the transcript is capped).
fn align(a: &[&TranscriptLine], b: &[&TranscriptLine]) -> Vec<Step> {
    let (n, m) = (a.len(), b.len());
    let eq = |i: usize, j: usize| a[i].text.as_bytes() == b[j].text.as_bytes();
    // lcs[i][j]: length of the LCS of a[i..] and b[j..]
    let mut lcs = vec![0u32; (n + 1) * (m + 1)];
    let at = |i: usize, j: usize| i * (m + 1) + j;
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[at(i, j)] = if eq(i, j) {
                lcs[at(i + 1, j + 1)] + 1
            } else {
                lcs[at(i + 1, j)].max(lcs[at(i, j + 1)])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut steps = Vec::with_capacity(n.max(m));
    while i < n || j < m {
        if i < n && j < m && eq(i, j) {
            steps.push(Step::Same(i, j));
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[at(i, j + 1)] >= lcs[at(i + 1, j)]) {
            steps.push(Step::OnlyB(j));
            j += 1;
        } else {
            steps.push(Step::OnlyA(i));
            i += 1;
        }
    }
    steps
}

fn line_ref(l: &TranscriptLine) -> LineRef {
    LineRef {
        frame: l.frame,
        line: l.text.clone(),
    }
}

/// A reply line's code and whether more lines of the same reply follow (`250-`).
fn continues(line: &[u8]) -> bool {
    line.len() >= 4 && line[..3].iter().all(u8::is_ascii_digit) && line[3] == b'-'
}

/// For each line of a server's lines, the index of the reply it belongs to.
fn reply_groups(lines: &[&TranscriptLine]) -> Vec<usize> {
    let mut group = 0;
    lines
        .iter()
        .map(|l| {
            let g = group;
            if !continues(l.text.as_bytes()) {
                group += 1;
            }
            g
        })
        .collect()
}

/// The masked part when `x` and `y` have the same length and one of them masks the other:
/// after their common prefix (and, failing that, their common suffix too), a run of `X`
/// (optionally ending in one more capital letter) or of `*`.
pub(crate) fn mask_shape(x: &[u8], y: &[u8]) -> Option<WireText> {
    if x.len() != y.len() || x == y {
        return None;
    }
    let is_mask = |s: &[u8]| {
        let xs = s.iter().take_while(|&&c| c == b'X').count();
        !s.is_empty()
            && (xs == s.len()
                || (xs > 0 && xs + 1 == s.len() && s[xs].is_ascii_uppercase())
                || s.iter().all(|&c| c == b'*'))
    };
    let prefix = x.iter().zip(y).take_while(|(p, q)| p == q).count();
    let suffix = x[prefix..]
        .iter()
        .rev()
        .zip(y[prefix..].iter().rev())
        .take_while(|(p, q)| p == q)
        .count();
    for end in [x.len(), x.len() - suffix] {
        for s in [&x[prefix..end], &y[prefix..end]] {
            if is_mask(s) {
                return Some(WireText::new(s));
            }
        }
    }
    None
}

/// How alike two lines that differ are: 3 the same but for case, 2 one masks the other, 1 the
/// same reply code or command verb, 0 nothing in common.
fn likeness(x: &[u8], y: &[u8]) -> u8 {
    let head = |l: &[u8]| -> Vec<u8> {
        let end = l
            .iter()
            .position(|&c| c == b' ' || c == b'-')
            .map_or(l.len(), |p| p + 1);
        l[..end.min(l.len())].to_ascii_uppercase()
    };
    if x.eq_ignore_ascii_case(y) {
        3
    } else if mask_shape(x, y).is_some() {
        2
    } else if head(x) == head(y) {
        1
    } else {
        0
    }
}

/// Compares one direction's lines: each difference as a change, in order, with the frame in A
/// it comes at (for a line only B has, the frame of A's line before it) to merge the two
/// directions in the order of the dialogue.
fn compare_lines(a: &SessionReport, b: &SessionReport, direction: Direction) -> Vec<(u64, Change)> {
    let la = lines(a, direction);
    let lb = lines(b, direction);
    let steps = align(&la.lines, &lb.lines);
    let groups_a = reply_groups(&la.lines);
    let mut changes = Vec::new();
    let mut k = 0;
    let mut anchor = 0;
    while k < steps.len() {
        if let Step::Same(i, _) = steps[k] {
            anchor = la.lines[i].frame;
            k += 1;
            continue;
        }
        // A hunk: consecutive steps that are not the same on both sides.
        let start = k;
        while k < steps.len() && !matches!(steps[k], Step::Same(..)) {
            k += 1;
        }
        let only_a: Vec<usize> = steps[start..k]
            .iter()
            .filter_map(|s| match s {
                Step::OnlyA(i) => Some(*i),
                _ => None,
            })
            .collect();
        let only_b: Vec<usize> = steps[start..k]
            .iter()
            .filter_map(|s| match s {
                Step::OnlyB(j) => Some(*j),
                _ => None,
            })
            .collect();
        // Lines of A and B in the hunk that are one line changed: alike ones first (the same
        // text but for case, a mask, the same reply code or verb), the rest in order.
        let mut used_a = vec![false; only_a.len()];
        let mut used_b = vec![false; only_b.len()];
        let mut matched = Vec::new();
        let mut next_a = 0;
        for (jb, &j) in only_b.iter().enumerate() {
            let y = lb.lines[j].text.as_bytes();
            let best = (next_a..only_a.len())
                .map(|ia| (likeness(la.lines[only_a[ia]].text.as_bytes(), y), ia))
                .filter(|(score, _)| *score > 0)
                .max_by_key(|&(score, ia)| (score, std::cmp::Reverse(ia)));
            if let Some((_, ia)) = best {
                used_a[ia] = true;
                used_b[jb] = true;
                next_a = ia + 1;
                matched.push((only_a[ia], j));
            }
        }
        let rest_a: Vec<usize> = (0..only_a.len())
            .filter(|&k| !used_a[k])
            .map(|k| only_a[k])
            .collect();
        let rest_b: Vec<usize> = (0..only_b.len())
            .filter(|&k| !used_b[k])
            .map(|k| only_b[k])
            .collect();
        let both = rest_a.len().min(rest_b.len());
        matched.extend(rest_a.iter().copied().zip(rest_b.iter().copied()));
        let (only_a, only_b) = (rest_a, rest_b);
        // The hunk's changes in the order of its lines.
        let hunk = &steps[start..k];
        let at = |step: Step| hunk.iter().position(|s| *s == step).unwrap_or(0);
        let mut found: Vec<(usize, Change)> = Vec::new();
        for (i, j) in matched {
            let (x, y) = (la.lines[i], lb.lines[j]);
            found.push((
                at(Step::OnlyA(i)),
                Change {
                    direction,
                    kind: ChangeKind::Changed,
                    a: Some(line_ref(x)),
                    b: Some(line_ref(y)),
                    mask: mask_shape(x.text.as_bytes(), y.text.as_bytes()),
                },
            ));
        }
        for &i in &only_a[both..] {
            let kind = match direction {
                Direction::ToServer => ChangeKind::Blocked,
                Direction::ToClient => {
                    // The whole reply is A's alone: the middlebox answered.
                    let group = groups_a[i];
                    let whole = (0..la.lines.len())
                        .filter(|&x| groups_a[x] == group)
                        .all(|x| only_a[both..].contains(&x));
                    if whole {
                        ChangeKind::AnsweredByMiddlebox
                    } else {
                        ChangeKind::Inserted
                    }
                }
            };
            found.push((
                at(Step::OnlyA(i)),
                Change {
                    direction,
                    kind,
                    a: Some(line_ref(la.lines[i])),
                    b: None,
                    mask: None,
                },
            ));
        }
        for &j in &only_b[both..] {
            let kind = match direction {
                Direction::ToServer => ChangeKind::Inserted,
                Direction::ToClient => ChangeKind::Deleted,
            };
            found.push((
                at(Step::OnlyB(j)),
                Change {
                    direction,
                    kind,
                    a: None,
                    b: Some(line_ref(lb.lines[j])),
                    mask: None,
                },
            ));
        }
        found.sort_by_key(|(position, _)| *position);
        for (_, c) in found {
            if let Some(r) = &c.a {
                anchor = r.frame;
            }
            changes.push((anchor, c));
        }
    }
    changes
}

/// The TLS facts of one side, as comparable one-line descriptions with their frame, per
/// direction (client's, server's).
fn tls_summary(report: &SessionReport) -> [Option<(u64, String)>; 2] {
    let r = &report.record;
    let Some(t) = r.tls.as_deref() else {
        return [None, None];
    };
    let mut client = None;
    let mut server = None;
    if let Some(ch) = &t.client_hello {
        let versions: Vec<String> = ch
            .supported_versions
            .iter()
            .map(|v| v.name().into_owned())
            .collect();
        let mut s = format!("TLS ClientHello {}", ch.legacy_version.name());
        if !versions.is_empty() {
            s.push_str(&format!(" [{}]", versions.join(",")));
        }
        if let Some(sni) = &ch.sni {
            s.push_str(&format!(" SNI {sni}"));
        }
        client = Some((ch.frame, s));
    }
    if let Some(sh) = &t.server_hello {
        server = Some((
            sh.frame,
            format!("TLS ServerHello {} {}", sh.version.name(), sh.cipher.name()),
        ));
    }
    for alert in &t.alerts {
        let slot = match alert.dir {
            Direction::ToServer => &mut client,
            Direction::ToClient => &mut server,
        };
        let text = format!(
            "TLS alert {} {}",
            if alert.level == 2 { "fatal" } else { "warning" },
            alert.description.name()
        );
        match slot {
            Some((_, s)) => {
                s.push_str("; ");
                s.push_str(&text);
            }
            None => *slot = Some((alert.frame, text)),
        }
    }
    if let Some(nt) = &t.not_tls {
        let slot = match nt.dir {
            Direction::ToServer => &mut client,
            Direction::ToClient => &mut server,
        };
        let hex: Vec<String> = nt
            .bytes
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect();
        let text = format!("not TLS: {}", hex.join(" "));
        match slot {
            Some((_, s)) => {
                s.push_str("; ");
                s.push_str(&text);
            }
            None => *slot = Some((nt.frame, text)),
        }
    }
    for (d, slot) in [&mut client, &mut server].into_iter().enumerate() {
        let records = t.records[d];
        let encrypted = t.encrypted_from[d].is_some();
        let tail = format!(
            "{records} record(s){}",
            if encrypted { ", encrypted" } else { "" }
        );
        match slot {
            Some((_, s)) => {
                s.push_str("; ");
                s.push_str(&tail);
            }
            None if records > 0 => *slot = Some((r.last_frame, format!("TLS {tail}"))),
            None => {}
        }
    }
    [client, server]
}

/// Compares the TLS that followed (or should have followed) `220`.
fn compare_tls(a: &SessionReport, b: &SessionReport) -> Vec<Change> {
    let (ta, tb) = (tls_summary(a), tls_summary(b));
    let mut changes = Vec::new();
    for (d, direction) in [Direction::ToServer, Direction::ToClient]
        .into_iter()
        .enumerate()
    {
        let (x, y) = (&ta[d], &tb[d]);
        let same = match (x, y) {
            (None, None) => true,
            (Some((_, p)), Some((_, q))) => {
                // Record counts may differ when one capture stopped a little earlier once the
                // session was encrypted on both sides: compare what the handshake said.
                let strip = |s: &str| {
                    s.split("; ")
                        .filter(|p| !p.contains("record(s)"))
                        .collect::<Vec<_>>()
                        .join("; ")
                };
                strip(p) == strip(q) && p.contains("encrypted") == q.contains("encrypted")
            }
            _ => false,
        };
        if same {
            continue;
        }
        let to_ref = |v: &Option<(u64, String)>, report: &SessionReport| {
            v.clone()
                .map(|(frame, text)| LineRef {
                    frame,
                    line: WireText::new(text.as_bytes()),
                })
                .or_else(|| {
                    // Nothing TLS in this direction: say so where the other side has some.
                    report.record.tls.as_ref().map(|_| LineRef {
                        frame: report.record.last_frame,
                        line: WireText::new(b"no TLS record"),
                    })
                })
        };
        changes.push(Change {
            direction,
            kind: ChangeKind::TlsAltered,
            a: to_ref(x, a),
            b: to_ref(y, b),
            mask: None,
        });
    }
    changes
}

/// A reset seen on one side only.
fn compare_resets(a: &SessionReport, b: &SessionReport) -> Vec<Change> {
    use crate::smtp::record::End;
    let reset = |r: &SessionReport| match r.record.end {
        End::Reset { by } => Some(by),
        _ => None,
    };
    let (x, y) = (reset(a), reset(b));
    if x == y {
        return Vec::new();
    }
    let mut changes = Vec::new();
    for (by, on_a) in [(x, true), (y, false)] {
        let Some(by) = by else { continue };
        if (if on_a { y } else { x }) == Some(by) {
            continue;
        }
        let who = match by {
            Direction::ToServer => "RST from the client side",
            Direction::ToClient => "RST from the server side",
        };
        let r = LineRef {
            frame: if on_a { a } else { b }.record.last_frame,
            line: WireText::new(who.as_bytes()),
        };
        let (ra, rb) = if on_a {
            (Some(r), None)
        } else {
            (None, Some(r))
        };
        changes.push(Change {
            direction: by,
            kind: ChangeKind::Reset,
            a: ra,
            b: rb,
            mask: None,
        });
    }
    changes
}

/// Every difference between side A (nearer the client) and side B (nearer the server) of one
/// session: the plaintext dialogue (server lines first, then client lines, each in order), the
/// TLS facts, resets.
pub fn compare(a: &SessionReport, b: &SessionReport) -> Vec<Change> {
    let mut lines = compare_lines(a, b, Direction::ToClient);
    lines.extend(compare_lines(a, b, Direction::ToServer));
    // in the order of the dialogue as A saw it (stable: each direction keeps its order)
    lines.sort_by_key(|(anchor, _)| *anchor);
    let mut changes: Vec<Change> = lines.into_iter().map(|(_, c)| c).collect();
    changes.extend(compare_tls(a, b));
    changes.extend(compare_resets(a, b));
    changes
}

/// The text after a reply code and its separator.
fn reply_text(line: &[u8]) -> &[u8] {
    if line.len() >= 4 && line[..3].iter().all(u8::is_ascii_digit) {
        &line[4..]
    } else {
        line
    }
}

fn is_starttls(text: &[u8]) -> bool {
    let t = text.trim_ascii();
    t.eq_ignore_ascii_case(b"STARTTLS")
}

/// Whether a server line is part of the session's greeting: sent before the client's first
/// command, while a greeting was recorded.
fn in_greeting(report: &SessionReport, line: &LineRef) -> bool {
    let first_command = report
        .record
        .transcript
        .iter()
        .find(|l| l.direction == Direction::ToServer)
        .map_or(u64::MAX, |l| l.frame);
    report.record.greeting.is_some() && line.frame <= first_command && {
        // the greeting's lines come first among the server's
        report
            .record
            .transcript
            .iter()
            .take_while(|l| l.direction == Direction::ToClient)
            .any(|l| l.frame == line.frame && l.text == line.line)
    }
}

/// What the changes of a pair say a middlebox did (sorted, each once; empty when the sides
/// agree).
pub fn effects(a: &SessionReport, b: &SessionReport, changes: &[Change]) -> Vec<Effect> {
    let mut out = Vec::new();
    for c in changes {
        let effect = match (c.kind, c.direction) {
            (ChangeKind::Changed | ChangeKind::Deleted, Direction::ToClient)
                if c.b.as_ref().is_some_and(|r| in_greeting(b, r))
                    || c.a.as_ref().is_some_and(|r| in_greeting(a, r)) =>
            {
                Effect::BannerAltered
            }
            (ChangeKind::Changed | ChangeKind::Deleted, Direction::ToClient)
                if c.b
                    .as_ref()
                    .is_some_and(|r| is_starttls(reply_text(r.line.as_bytes())))
                    && !c
                        .a
                        .as_ref()
                        .is_some_and(|r| is_starttls(reply_text(r.line.as_bytes()))) =>
            {
                Effect::OfferStripped
            }
            (ChangeKind::Blocked | ChangeKind::AnsweredByMiddlebox, _) => Effect::CommandBlocked,
            (ChangeKind::Changed, Direction::ToServer)
                if c.a.as_ref().is_some_and(|r| is_starttls(r.line.as_bytes())) =>
            {
                Effect::CommandBlocked
            }
            (ChangeKind::TlsAltered, _) => Effect::TlsBroken,
            _ => Effect::Other,
        };
        out.push(effect);
    }
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests;

/// The capture writer of the integration tests, for the unit tests of pairing and comparing.
#[cfg(test)]
#[path = "../../tests/common/capture_writer.rs"]
mod capture_writer;
