//! Connection collision detection (RFC 4271 §6.8), as a pure decision.
//!
//! When two TCP connections exist for one peer and an OPEN arrives on one of them, the session
//! edge asks [`resolve_collision`] which one to keep. The loser receives the OpenCollisionDump
//! event (RFC 4271 §8.1.4 Event 23) and sends Cease 6/7 (Connection Collision Resolution).

use fabric_bgp_wire::{Asn, RouterId};
use serde::{Deserialize, Serialize};

use super::State;

/// Who opened a TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// We dialled the peer.
    Outbound,
    /// The peer dialled us.
    Inbound,
}

/// Which of two colliding connections to close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CollisionOutcome {
    /// Close the connection that existed first; keep the new one.
    CloseExisting,
    /// Close the new connection; keep the existing one.
    CloseNew,
}

/// One side of a collision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionView {
    /// FSM state of the connection.
    pub state: State,
    /// Who opened it.
    pub direction: Direction,
}

/// The identities compared by RFC 4271 §6.8 (and RFC 6286 §2.3 when the identifiers are equal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identities {
    /// Our BGP Identifier.
    pub local_id: RouterId,
    /// The peer's BGP Identifier (from the OPEN just received).
    pub remote_id: RouterId,
    /// Our AS.
    pub local_as: Asn,
    /// The peer's AS.
    pub remote_as: Asn,
}

/// The direction of the connection that survives a collision.
///
/// RFC 4271 §6.8: the identifiers are compared as 4-octet unsigned integers in host byte order;
/// if ours is lower, the connection initiated by the peer (inbound) survives, otherwise the one we
/// initiated. RFC 6286 §2.3: with equal identifiers (possible for external peers) the connection
/// initiated by the speaker with the larger AS number survives.
pub fn surviving_direction(ids: Identities) -> Direction {
    let local = u32::from(ids.local_id.0);
    let remote = u32::from(ids.remote_id.0);
    let local_wins = if local == remote {
        ids.local_as > ids.remote_as
    } else {
        local > remote
    };
    if local_wins {
        Direction::Outbound
    } else {
        Direction::Inbound
    }
}

/// Decides which of two connections to the same peer survives.
///
/// `existing` is the connection that was already there (in OpenConfirm or Established); `new` is
/// the one on which an OPEN has just been received. An Established connection always survives
/// (RFC 4271 §6.8 "collision with an existing BGP connection that is in the Established state
/// causes closing of the newly created connection", CollisionDetectEstablishedState disabled).
/// If both have the same direction, the identifier comparison cannot separate them: the newer
/// connection is kept, because the older one belongs to a peer incarnation that has gone away.
pub fn resolve_collision(
    ids: Identities,
    existing: ConnectionView,
    new: ConnectionView,
) -> CollisionOutcome {
    if existing.state == State::Established {
        return CollisionOutcome::CloseNew;
    }
    if existing.direction == new.direction {
        return CollisionOutcome::CloseExisting;
    }
    if existing.direction == surviving_direction(ids) {
        CollisionOutcome::CloseNew
    } else {
        CollisionOutcome::CloseExisting
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn ids(local: [u8; 4], remote: [u8; 4]) -> Identities {
        Identities {
            local_id: RouterId(Ipv4Addr::from(local)),
            remote_id: RouterId(Ipv4Addr::from(remote)),
            local_as: Asn(65001),
            remote_as: Asn(65002),
        }
    }

    fn view(state: State, direction: Direction) -> ConnectionView {
        ConnectionView { state, direction }
    }

    #[test]
    fn higher_identifier_keeps_its_own_connection() {
        // We are 10.0.0.2 > 10.0.0.1: our outbound connection survives.
        let i = ids([10, 0, 0, 2], [10, 0, 0, 1]);
        assert_eq!(surviving_direction(i), Direction::Outbound);
        let existing_out = view(State::OpenConfirm, Direction::Outbound);
        let new_in = view(State::OpenSent, Direction::Inbound);
        assert_eq!(
            resolve_collision(i, existing_out, new_in),
            CollisionOutcome::CloseNew
        );
        let existing_in = view(State::OpenConfirm, Direction::Inbound);
        let new_out = view(State::OpenSent, Direction::Outbound);
        assert_eq!(
            resolve_collision(i, existing_in, new_out),
            CollisionOutcome::CloseExisting
        );
    }

    #[test]
    fn lower_identifier_keeps_the_peers_connection() {
        let i = ids([10, 0, 0, 1], [10, 0, 0, 2]);
        assert_eq!(surviving_direction(i), Direction::Inbound);
        let existing_out = view(State::OpenConfirm, Direction::Outbound);
        let new_in = view(State::OpenSent, Direction::Inbound);
        assert_eq!(
            resolve_collision(i, existing_out, new_in),
            CollisionOutcome::CloseExisting
        );
    }

    #[test]
    fn identifiers_compare_as_unsigned_integers() {
        // 200.0.0.1 > 10.255.255.255 numerically even though "1" < "2" in the last octet.
        let i = ids([200, 0, 0, 1], [10, 255, 255, 255]);
        assert_eq!(surviving_direction(i), Direction::Outbound);
    }

    #[test]
    fn equal_identifiers_fall_back_to_as_numbers() {
        let mut i = ids([10, 0, 0, 1], [10, 0, 0, 1]);
        assert_eq!(
            surviving_direction(i),
            Direction::Inbound,
            "peer AS 65002 is larger"
        );
        i.local_as = Asn(65010);
        assert_eq!(surviving_direction(i), Direction::Outbound);
    }

    #[test]
    fn established_always_survives() {
        for local in [[10, 0, 0, 1], [10, 0, 0, 9]] {
            let i = ids(local, [10, 0, 0, 5]);
            for dir in [Direction::Inbound, Direction::Outbound] {
                let existing = view(State::Established, dir);
                let new = view(State::OpenSent, Direction::Inbound);
                assert_eq!(
                    resolve_collision(i, existing, new),
                    CollisionOutcome::CloseNew
                );
            }
        }
    }

    #[test]
    fn same_direction_keeps_the_newer_connection() {
        let i = ids([10, 0, 0, 9], [10, 0, 0, 5]);
        let existing = view(State::OpenConfirm, Direction::Inbound);
        let new = view(State::OpenSent, Direction::Inbound);
        assert_eq!(
            resolve_collision(i, existing, new),
            CollisionOutcome::CloseExisting
        );
    }
}
