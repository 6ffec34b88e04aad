//! Every client id has a home core, a hash of the id: its session lives
//! there and nowhere else, so taking a session over is always local to one
//! core and nothing has to follow a session from core to core.
//!
//! `SO_REUSEPORT` spreads connections by address, not by client id, so a
//! CONNECT usually lands elsewhere. That core sends the connection home
//! before doing anything with it: it stops reading, asks its backend to
//! detach the socket (which happens once no receive is under way, with
//! every byte read so far delivered), and passes the socket over the mesh
//! with the bytes it read (the CONNECT, re-encoded, and whatever came
//! after it; for MQTT over WebSocket also the connection's WebSocket state
//! with the frames it holds). The home core registers the socket with its
//! own backend and reads on as if it had accepted it. Nothing here depends
//! on timing: a CONNECT for an id is only ever handled on its home core,
//! in the order the home core reads its mesh rings.

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

use wire::mqtt::{encode, Connect, Packet};

use crate::conn::{Conn, Input};
use crate::core::Core;
use crate::machine::mqtt::MqttConn;
use crate::machine::ws::WsConn;
use crate::mesh::{Arrival, MeshMsg};
use crate::metrics;
use crate::sys::Token;

/// The core that holds `client_id`'s session among `cores` cores.
pub fn home_core(client_id: &str, cores: usize) -> u16 {
    // FNV-1a: stable across builds and runs, so a client id has the same
    // home for the life of the node.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in client_id.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    (h % cores.max(1) as u64) as u16
}

/// Connections this core is sending home: their home core and the bytes
/// to go with them, until the backend hands their socket over.
#[derive(Debug, Default)]
pub struct Leaving(HashMap<Token, (u16, Vec<u8>)>);

impl Leaving {
    /// At CONNECT: sends the connection to its client id's home core if
    /// that is another core; true if it did (the CONNECT is then handled
    /// there). An empty id is assigned here, homed here.
    pub fn send_home(&mut self, core: &mut Core, token: Token, c: &Connect<'_>) -> bool {
        if c.client_id.is_empty() {
            return false;
        }
        let home = home_core(c.client_id, core.mesh().cores());
        if home == core.settings().core {
            return false;
        }
        let mut bytes = Vec::new();
        if encode(&Packet::Connect(*c), c.version, &mut bytes).is_err() {
            // What decoded re-encodes; if not, handle it here.
            return false;
        }
        metrics::inc(&core.stats().mqtt_connections_sent_home_total);
        self.0.insert(token, (home, bytes));
        // Reads stop; bytes already under way are stashed and go along.
        core.pause(token);
        core.intents_mut().detach.push(token);
        true
    }

    /// The backend handed over the socket of a connection this core is
    /// sending home: the message that takes it there.
    pub fn on_detached(
        &mut self,
        core: &mut Core,
        token: Token,
        stream: Box<dyn Any + Send>,
    ) -> Option<(usize, MeshMsg)> {
        let (home, mut bytes) = self.0.remove(&token)?;
        let conn = core.conns_mut().remove(token)?;
        metrics::set(&core.stats().connections_open, core.conns().len() as u64);
        let (input, ws) = conn.into_transport();
        if let Input::Mqtt(mut m) = input {
            bytes.extend(m.take_held());
        }
        let arrival = Arrival { stream, ws, bytes };
        Some((usize::from(home), MeshMsg::Adopt(Box::new(arrival))))
    }

    /// Forgets a connection that was closed before it could leave.
    pub fn forget(&mut self, token: Token) {
        if !self.0.is_empty() {
            self.0.remove(&token);
        }
    }
}

/// Node-unique session ids (the core in the top bits, never 0), and the
/// client ids made from them for clients that send none.
#[derive(Debug)]
pub struct Uids {
    next: u64,
}

impl Uids {
    /// The ids of core `core`.
    pub fn new(core: u16) -> Uids {
        Uids {
            next: (u64::from(core) << 48) | 1,
        }
    }

    /// A node-unique session id.
    pub fn next_uid(&mut self) -> u64 {
        let uid = self.next;
        self.next += 1;
        uid
    }

    /// A client id for a client that sent none, whose home is this core
    /// (one in `cores` tries hits it, on average).
    pub fn client_id(&mut self, core: &Core) -> Arc<str> {
        let (me, cores) = (core.settings().core, core.mesh().cores());
        loop {
            let id = format!("sb-{:x}", self.next_uid());
            if home_core(&id, cores) == me {
                return id.into();
            }
        }
    }
}

/// A connection that another core sent here, its home: a slot for it (to
/// register with the backend under the returned token), or `None` if this
/// core is full.
pub fn adopt(core: &mut Core, max_packet_bytes: u32, ws: Option<Box<WsConn>>) -> Option<Token> {
    if core.conns().len() >= core.settings().limits.max_connections_per_core {
        metrics::inc(&core.stats().accept_errors_total);
        return None;
    }
    let mut conn = Conn::new(
        core.settings().limits.max_payload_len,
        core.clock().conn_clock(),
    );
    conn.set_ws(ws);
    conn.set_input(Input::Mqtt(MqttConn::new(max_packet_bytes)));
    let token = core.conns_mut().insert(conn);
    metrics::inc(&core.stats().mqtt_connections_adopted_total);
    metrics::set(&core.stats().connections_open, core.conns().len() as u64);
    Some(token)
}

#[cfg(test)]
mod tests {
    use super::home_core;

    #[test]
    fn homes_are_stable_and_spread() {
        assert_eq!(home_core("device-1", 4), home_core("device-1", 4));
        assert_eq!(home_core("anything", 1), 0);
        let mut counts = [0u32; 4];
        for i in 0..4000 {
            counts[usize::from(home_core(&format!("client-{i}"), 4))] += 1;
        }
        assert!(counts.iter().all(|&n| n > 800), "{counts:?}");
    }
}
