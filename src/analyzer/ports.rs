//! The set of ports SMTP is expected on: a bitmap, so the check for every TCP segment of a
//! capture costs one memory read.

/// Ports SMTP is expected on: 25 (relay), 465 (submissions, implicit TLS), 587 (submission),
/// 2525 (common alternative).
pub const DEFAULT_PORTS: [u16; 4] = [25, 465, 587, 2525];

#[derive(Clone)]
/// A set of TCP ports, looked up in constant time (one bit per port).
pub struct PortSet {
    bits: Box<[u64; 1024]>,
}

impl PortSet {
    /// No port at all.
    pub fn empty() -> Self {
        PortSet {
            bits: Box::new([0; 1024]),
        }
    }

    /// Adds a port.
    pub fn insert(&mut self, port: u16) {
        self.bits[usize::from(port >> 6)] |= 1 << (port & 63);
    }

    #[inline]
    /// Whether the port is in the set.
    pub fn contains(&self, port: u16) -> bool {
        self.bits[usize::from(port >> 6)] & (1 << (port & 63)) != 0
    }

    /// The ports, in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        (0..=u16::MAX).filter(|&p| self.contains(p))
    }
}

impl Default for PortSet {
    fn default() -> Self {
        let mut set = PortSet::empty();
        for port in DEFAULT_PORTS {
            set.insert(port);
        }
        set
    }
}

impl std::fmt::Debug for PortSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn membership() {
        let mut set = PortSet::default();
        assert!(set.contains(25) && set.contains(465) && set.contains(587) && set.contains(2525));
        assert!(!set.contains(26) && !set.contains(0) && !set.contains(65535));
        set.insert(65535);
        set.insert(0);
        assert!(set.contains(65535) && set.contains(0));
        assert_eq!(set.iter().count(), 6);
    }
}
