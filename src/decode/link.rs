//! Link layers: find where the network layer starts, by link type.
//!
//! Ethernet (with up to three VLAN tags) is etherparse's; Linux cooked capture v1 (SLL, 16-byte
//! header) and v2 (SLL2, 20-byte header, what `tcpdump -i any` writes) carry the EtherType at a
//! fixed place; BSD NULL carries the address family in the capturing host's byte order and LOOP
//! in network order; the raw link types start with the IP header.

use etherparse::{EtherType, LaxSlicedPacket};

use super::Skip;
use crate::capture::LinkType;

const SLL_HEADER: usize = 16;
const SLL2_HEADER: usize = 20;

pub(super) fn slice(link: LinkType, data: &[u8]) -> Result<LaxSlicedPacket<'_>, Skip> {
    match link {
        LinkType::ETHERNET => LaxSlicedPacket::from_ethernet(data).map_err(|_| Skip::Truncated),
        LinkType::RAW
        | LinkType::RAW_OPENBSD
        | LinkType::RAW_BSDOS
        | LinkType::IPV4
        | LinkType::IPV6 => LaxSlicedPacket::from_ip(data).map_err(|_| Skip::Truncated),
        LinkType::LINUX_SLL => cooked(data, SLL_HEADER, 14),
        LinkType::LINUX_SLL2 => cooked(data, SLL2_HEADER, 0),
        LinkType::NULL | LinkType::LOOP => {
            let family: [u8; 4] = data
                .get(..4)
                .ok_or(Skip::Truncated)?
                .try_into()
                .map_err(|_| Skip::Truncated)?;
            // NULL is in the capturing host's byte order, which the file does not record:
            // accept either reading.
            let families = [u32::from_le_bytes(family), u32::from_be_bytes(family)];
            let is = |wanted: &[u32]| families.iter().any(|f| wanted.contains(f));
            if is(&[2]) || is(&[24, 28, 30]) {
                LaxSlicedPacket::from_ip(&data[4..]).map_err(|_| Skip::Truncated)
            } else {
                Err(Skip::NotTcp)
            }
        }
        _ => Err(Skip::UnsupportedLink),
    }
}

/// Linux cooked captures: a fixed-size header with the EtherType at `protocol_at`.
fn cooked(data: &[u8], header: usize, protocol_at: usize) -> Result<LaxSlicedPacket<'_>, Skip> {
    if data.len() < header {
        return Err(Skip::Truncated);
    }
    let protocol = u16::from_be_bytes([data[protocol_at], data[protocol_at + 1]]);
    Ok(LaxSlicedPacket::from_ether_type(
        EtherType(protocol),
        &data[header..],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_headers_are_truncated_not_panics() {
        for link in [
            LinkType::LINUX_SLL,
            LinkType::LINUX_SLL2,
            LinkType::NULL,
            LinkType::ETHERNET,
            LinkType::RAW,
        ] {
            for len in 0..24 {
                let _ = slice(link, &vec![0x45; len]);
            }
        }
        assert_eq!(
            slice(LinkType::LINUX_SLL2, &[0; 10]).err(),
            Some(Skip::Truncated)
        );
        assert_eq!(
            slice(LinkType(147), &[0; 64]).err(),
            Some(Skip::UnsupportedLink)
        );
    }

    #[test]
    fn null_family_in_either_byte_order() {
        // AF_INET little-endian then a minimal IPv4 header; parsing must reach the IP layer.
        let mut frame = vec![2, 0, 0, 0];
        frame.extend_from_slice(&[
            0x45, 0, 0, 20, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ]);
        assert!(slice(LinkType::NULL, &frame).unwrap().net.is_some());
        frame[..4].copy_from_slice(&[0, 0, 0, 2]);
        assert!(slice(LinkType::LOOP, &frame).unwrap().net.is_some());
        frame[..4].copy_from_slice(&[0, 0, 0, 7]);
        assert_eq!(slice(LinkType::NULL, &frame).err(), Some(Skip::NotTcp));
    }
}
