//! Which connections a user or connection target names on this core, and
//! which other cores have some. (Topics and conversations go through the
//! subscription index instead.)

use wire::TargetKind;

use crate::conn::{ConnTable, Phase};
use crate::mesh::Delivery;
use crate::route::Registry;
use crate::sys::Token;

/// The local members of the target being delivered to: one list, reused,
/// so that a delivery allocates nothing. Taken out while the members are
/// queued to ([`Targets::put_back`] returns it).
#[derive(Debug, Default)]
pub(crate) struct Targets {
    scratch: Vec<Token>,
}

impl Targets {
    /// The local members of a user or connection target named by a SEND,
    /// and the bitmask of cores that have members.
    pub(crate) fn named(
        &mut self,
        conns: &ConnTable,
        registry: &Registry,
        me: u16,
        (kind, id): (TargetKind, &str),
    ) -> (Vec<Token>, u64) {
        let mut members = std::mem::take(&mut self.scratch);
        members.clear();
        if kind != TargetKind::Connection {
            let Some(p) = registry.users().get(id) else {
                return (members, 0);
            };
            members.extend_from_slice(p.local.as_slice());
            return (members, p.remote_cores);
        }
        let Some((core, token)) = parse_connection_id(id) else {
            return (members, 0);
        };
        if core != me {
            return (members, 1u64 << core);
        }
        if is_open(conns, token) {
            members.push(token);
        }
        (members, 0)
    }

    /// The local members of the target another core's delivery names.
    pub(crate) fn delivered(
        &mut self,
        conns: &ConnTable,
        registry: &Registry,
        d: &Delivery,
    ) -> Vec<Token> {
        let mut members = std::mem::take(&mut self.scratch);
        members.clear();
        match d.kind {
            TargetKind::Connection => {
                let token = d
                    .target
                    .first_chunk::<8>()
                    .map_or(0, |b| u64::from_be_bytes(*b));
                if is_open(conns, token) {
                    members.push(token);
                }
            }
            _ => {
                let name = std::str::from_utf8(&d.target).unwrap_or("");
                if let Some(p) = registry.users().get(name) {
                    members.extend_from_slice(p.local.as_slice());
                }
            }
        }
        members
    }

    /// Returns the list taken by [`Targets::named`] or
    /// [`Targets::delivered`], for the next delivery.
    pub(crate) fn put_back(&mut self, members: Vec<Token>) {
        self.scratch = members;
    }
}

/// Whether `token` is an open connection (a connection target reaches
/// only those).
fn is_open(conns: &ConnTable, token: Token) -> bool {
    conns.get(token).is_some_and(|c| c.phase() == Phase::Open)
}

/// The connection id clients see: core in the top byte, token below.
pub fn connection_id(core: u16, token: Token) -> u64 {
    (u64::from(core) << 56) | token
}

/// Parses a connection id (decimal) into (core, token).
pub fn parse_connection_id(id: &str) -> Option<(u16, Token)> {
    let n: u64 = id.parse().ok()?;
    Some(((n >> 56) as u16, n & ((1 << 56) - 1)))
}
