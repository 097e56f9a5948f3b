//! The stacks and floors, each behind [`Net`](crate::net::Net).

pub mod enet;
#[cfg(all(test, feature = "libdatachannel"))]
mod interop;
#[cfg(feature = "libdatachannel")]
pub mod libdatachannel;
pub mod ours;
pub mod udp;

use crate::net::{Kind, OURS, OURS_STUN, OURS_TURN, RAW_UDP, SEALED_UDP, Stack};

/// Every stack built into this binary, ours first (host-only, STUN-configured, TURN-relayed),
/// floors last.
pub fn all() -> Vec<Stack> {
    let mut stacks = vec![Stack {
        name: OURS,
        kind: Kind::Stack,
        connect: ours::connect,
    }];
    stacks.push(Stack {
        name: OURS_STUN,
        kind: Kind::Stack,
        connect: ours::connect_stun,
    });
    stacks.push(Stack {
        name: OURS_TURN,
        kind: Kind::Stack,
        connect: ours::connect_turn,
    });
    stacks.push(Stack {
        name: "ENet",
        kind: Kind::Stack,
        connect: enet::connect,
    });
    #[cfg(feature = "libdatachannel")]
    stacks.push(Stack {
        name: "libdatachannel",
        kind: Kind::Stack,
        connect: libdatachannel::connect,
    });
    stacks.push(Stack {
        name: RAW_UDP,
        kind: Kind::Baseline,
        connect: udp::connect_raw,
    });
    stacks.push(Stack {
        name: SEALED_UDP,
        kind: Kind::Baseline,
        connect: udp::connect_sealed,
    });
    stacks
}
