//! The table of tracked flows, and the cheap test that keeps most segments away from it.
//!
//! In a big capture almost every TCP segment belongs to a flow mailtap does not track (HTTPS,
//! SSH, backups...). Such a segment needs no table lookup at all when neither of its ports is
//! an SMTP port, its payload does not open like SMTP, and no flow found by content uses both
//! of its ports: [`FlowTable::may_hold_content`] answers the last question from a per-port
//! count, without hashing the addresses.

use std::collections::hash_map::{self, HashMap};
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, SocketAddr};

use foldhash::fast::RandomState;

use crate::decode::TcpSegment;

/// The two ends of a connection, in a fixed order whichever way a segment travels, and the
/// interface it was seen on (see `Analyzer::segment`: the same connection forwarded by a
/// router and captured on both its interfaces is two flows).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct FlowKey(pub SocketAddr, pub SocketAddr, pub u64);

impl FlowKey {
    pub fn of(segment: &TcpSegment<'_>, interface: u64) -> Self {
        if segment.src <= segment.dst {
            FlowKey(segment.src, segment.dst, interface)
        } else {
            FlowKey(segment.dst, segment.src, interface)
        }
    }

    /// The same connection on another interface.
    pub fn on(self, interface: u64) -> Self {
        FlowKey(self.0, self.1, interface)
    }

    fn ports(&self) -> [u16; 2] {
        [self.0.port(), self.1.port()]
    }
}

/// Hashes addresses and ports in two or three words rather than field by field (the derived
/// `Hash` of two `SocketAddr`s makes a dozen small `write` calls into SipHash). Keys that are
/// equal hash the same: only what `Eq` compares is hashed.
impl Hash for FlowKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // The interface is folded into the ports' word: nearly always 0, and keys that differ
        // only by it are rare (a router's two views of one connection).
        let ports = (u32::from(self.0.port()) << 16 | u32::from(self.1.port()))
            ^ (self.2 as u32).wrapping_mul(0x9e37_79b9)
            ^ ((self.2 >> 32) as u32).wrapping_mul(0x85eb_ca6b);
        match (self.0.ip(), self.1.ip()) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                state.write_u64(u64::from(a.to_bits()) << 32 | u64::from(b.to_bits()));
                state.write_u32(ports);
            }
            (a, b) => {
                let bits = |ip: IpAddr| match ip {
                    IpAddr::V4(v4) => u128::from(v4.to_bits()),
                    IpAddr::V6(v6) => v6.to_bits(),
                };
                state.write_u128(bits(a));
                state.write_u128(bits(b));
                state.write_u32(ports);
            }
        }
    }
}

/// An entry that may have been found by its content rather than by its port.
pub(super) trait ByContent {
    fn by_content(&self) -> bool;
}

/// The flows tracked (and recently ended), with a count per port of those found by content.
pub(super) struct FlowTable<V> {
    /// foldhash, with its per-process and per-table seeds: several times cheaper than SipHash
    /// on a 2–3 word key. It is only "minimally DoS-resistant": keys that collide have to be
    /// found without knowing the seeds, and mailtap answers nothing back from which to learn
    /// them — whoever writes the traffic cannot aim its addresses at one bucket.
    map: HashMap<FlowKey, V, RandomState>,
    /// For each port, how many entries found by content have it as one of their two ports
    /// (allocated with the first such entry).
    content_ports: Vec<u32>,
    content_entries: usize,
}

impl<V: ByContent> FlowTable<V> {
    pub fn new() -> Self {
        FlowTable {
            map: HashMap::default(),
            content_ports: Vec::new(),
            content_entries: 0,
        }
    }

    /// Whether an entry found by content could have these two ports. `false` is certain.
    #[inline]
    pub fn may_hold_content(&self, a: u16, b: u16) -> bool {
        self.content_entries > 0
            && self.content_ports[usize::from(a)] > 0
            && self.content_ports[usize::from(b)] > 0
    }

    fn count(&mut self, key: &FlowKey, entry: &V, added: bool) {
        if !entry.by_content() {
            return;
        }
        if self.content_ports.is_empty() {
            self.content_ports = vec![0; 1 << 16];
        }
        for port in key.ports() {
            let n = &mut self.content_ports[usize::from(port)];
            *n = if added { *n + 1 } else { n.saturating_sub(1) };
        }
        if added {
            self.content_entries += 1;
        } else {
            self.content_entries = self.content_entries.saturating_sub(1);
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn get(&self, key: &FlowKey) -> Option<&V> {
        self.map.get(key)
    }

    pub fn get_mut(&mut self, key: &FlowKey) -> Option<&mut V> {
        self.map.get_mut(key)
    }

    pub fn iter(&self) -> hash_map::Iter<'_, FlowKey, V> {
        self.map.iter()
    }

    pub fn insert(&mut self, key: FlowKey, entry: V) -> Option<V> {
        self.count(&key, &entry, true);
        let old = self.map.insert(key, entry);
        if let Some(old) = &old {
            self.count(&key, old, false);
        }
        old
    }

    pub fn remove(&mut self, key: &FlowKey) -> Option<V> {
        let old = self.map.remove(key);
        if let Some(old) = &old {
            self.count(key, old, false);
        }
        old
    }

    pub fn retain(&mut self, mut keep: impl FnMut(&FlowKey, &mut V) -> bool) {
        let mut removed = Vec::new();
        self.map.retain(|key, entry| {
            let kept = keep(key, entry);
            if !kept && entry.by_content() {
                removed.push(*key);
            }
            kept
        });
        for key in removed {
            for port in key.ports() {
                let n = &mut self.content_ports[usize::from(port)];
                *n = n.saturating_sub(1);
            }
            self.content_entries = self.content_entries.saturating_sub(1);
        }
    }

    pub fn clear(&mut self) {
        self.map.clear();
        self.content_ports.fill(0);
        self.content_entries = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::hash_map::DefaultHasher;

    struct E(bool);

    impl ByContent for E {
        fn by_content(&self) -> bool {
            self.0
        }
    }

    fn key(a: &str, b: &str) -> FlowKey {
        FlowKey(a.parse().unwrap(), b.parse().unwrap(), 0)
    }

    #[test]
    fn content_ports_follow_every_change() {
        let mut t = FlowTable::new();
        let ftp = key("192.0.2.1:40000", "198.51.100.1:21");
        let smtp = key("192.0.2.1:40001", "198.51.100.1:25");
        assert!(!t.may_hold_content(40000, 21));
        t.insert(smtp, E(false));
        assert!(!t.may_hold_content(40001, 25));
        t.insert(ftp, E(true));
        assert!(t.may_hold_content(40000, 21) && t.may_hold_content(21, 40000));
        assert!(!t.may_hold_content(40000, 443) && !t.may_hold_content(40001, 25));
        // replaced by a tombstone that is still a content entry
        t.insert(ftp, E(true));
        assert!(t.may_hold_content(40000, 21));
        t.retain(|_, e| !e.0);
        assert!(!t.may_hold_content(40000, 21));
        t.insert(ftp, E(true));
        t.remove(&ftp);
        assert!(!t.may_hold_content(40000, 21));
        t.insert(ftp, E(true));
        t.clear();
        assert!(!t.may_hold_content(40000, 21));
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn equal_keys_hash_equal() {
        let hash = |k: &FlowKey| {
            let mut h = DefaultHasher::new();
            k.hash(&mut h);
            h.finish()
        };
        let a = key("[2001:db8::1]:40000", "[2001:db8::25]:25");
        assert_eq!(hash(&a), hash(&a.clone()));
        assert_ne!(
            hash(&key("192.0.2.1:40000", "198.51.100.1:25")),
            hash(&key("192.0.2.1:40000", "198.51.100.1:26"))
        );
    }
}
