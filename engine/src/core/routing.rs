//! Routing a `wire` message to a user or connection target: queued to its
//! members on this core, and sent over the mesh to every core that has
//! others; the cores that receive it queue it to theirs and count them
//! for the sender's ACK, answered once every core has counted
//! ([`super::acks`]).

use bytes::Bytes;
use wire::{FrameHeader, TargetKind};

use super::acks::Answer;
use super::Core;
use crate::mesh::{Delivery, Lane, MeshMsg};
use crate::metrics;
use crate::priority::{priority_of, Shed};
use crate::sys::Token;

impl Core {
    /// Routes an encoded DELIVER frame to a user or connection target on
    /// every core that has it. Returns true if the sending connection must
    /// pause.
    pub fn route(
        &mut self,
        from: Token,
        header: &FrameHeader,
        target: wire::Target<'_>,
        server_id: u64,
        frame: Bytes,
    ) -> bool {
        let (kind, id) = (target.kind, target.id);
        let me = self.settings.core;
        let (members, remote) = self
            .targets
            .named(&self.conns, &self.registry, me, (kind, id));
        let remote = remote & !(1u64 << me);
        let priority = priority_of(header.flags);
        // A target with connections whose every copy was shed exists:
        // no recipients is then not NoSuchTarget.
        let empty_is_error = priority.1 == Shed::Never || (members.is_empty() && remote == 0);
        let (count, pause) = self.deliver_local(&members, &frame, priority, (me, from));
        self.targets.put_back(members);
        let ticket = self.ack_ticket(from, header, server_id, count, remote, empty_is_error);
        if remote == 0 {
            return pause;
        }
        let target = match kind {
            TargetKind::Connection => {
                let token = super::parse_connection_id(id).map_or(0, |(_, t)| t);
                self.scratch.arena_bytes(&token.to_be_bytes())
            }
            _ => self.scratch.arena_bytes(id.as_bytes()),
        };
        let d = Delivery {
            kind,
            target,
            frame,
            origin_core: me,
            origin_token: from,
            ticket,
            priority,
        };
        let (shed, waited) = self.mesh.send_delivery(remote, &d);
        if shed > 0 {
            metrics::add(&self.stats.shed_total, u64::from(shed));
            // The cores that shed it will not answer the ticket: settle
            // their share.
            if let Some(t) = ticket {
                for _ in 0..shed {
                    self.on_delivered(t, 0);
                }
            }
        }
        if waited > 0 {
            metrics::add(&self.stats.mesh_ring_full_total, u64::from(waited));
        }
        waited > 0 || pause
    }

    /// Another core's delivery: queued to the target's members here, and
    /// counted back to the origin if it holds an ACK ticket.
    pub(crate) fn on_delivery(&mut self, from: usize, d: Delivery) {
        let members = self.targets.delivered(&self.conns, &self.registry, &d);
        let origin = (d.origin_core, d.origin_token);
        let (count, _) = self.deliver_local(&members, &d.frame, d.priority, origin);
        self.targets.put_back(members);
        if let Some(ticket) = d.ticket {
            let reply = MeshMsg::Delivered {
                ticket,
                recipients: count,
            };
            self.mesh.send(from, Lane::High, reply);
        }
    }

    /// Answers a SEND whose local recipients are counted: now if no other
    /// core is involved, else through an ack ticket that the other cores'
    /// `Delivered` answers settle (if the sender asked for an ACK).
    pub(crate) fn ack_ticket(
        &mut self,
        from: Token,
        header: &FrameHeader,
        server_id: u64,
        recipients: u32,
        remote: u64,
        empty_is_error: bool,
    ) -> Option<u32> {
        let answer = Answer::new(header, server_id, recipients, empty_is_error);
        if remote == 0 {
            if let Some(f) = answer.frame(&mut self.scratch, &self.stats) {
                self.queue_in(from, Lane::High, f);
            }
            return None;
        }
        let wants_ack = header.flags.contains(wire::Flags::ACK_REQUESTED);
        wants_ack.then(|| self.acks.open(from, answer, remote.count_ones()))
    }

    /// A core's answer to a ticketed delivery: `recipients` more; the
    /// last answer sends the ACK.
    pub(crate) fn on_delivered(&mut self, ticket: u32, recipients: u32) {
        let Some((token, answer)) = self.acks.settle(ticket, recipients) else {
            return;
        };
        if self.conns.get(token).is_none() {
            return;
        }
        if let Some(f) = answer.frame(&mut self.scratch, &self.stats) {
            self.queue_in(token, Lane::High, f);
        }
    }
}
