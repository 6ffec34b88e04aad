//! An MQTT connection's slot in the core: the session it is attached
//! to, and ending it (the machine shut, a WebSocket close frame first on
//! the `mqtt` endpoint, then the core's close). Below the files that
//! read packets and write them, which both end connections.

use crate::core::Core;
use crate::sys::Token;

/// Closes once queued packets are written (with a WebSocket close frame
/// first on the `mqtt` endpoint); the machine acts on no more packets.
pub fn close(core: &mut Core, token: Token, ws_code: Option<u16>, what: &str) {
    let Some(conn) = core.conns_mut().get_mut(token) else {
        return;
    };
    if let Some(m) = conn.mqtt() {
        m.shut();
    }
    if conn.is_ws() {
        core.ws_close(token, Some(ws_code.unwrap_or(1000)), what);
    }
    core.begin_close(token);
}

/// The session key of a connected MQTT connection.
pub fn session_of(core: &Core, token: Token) -> Option<usize> {
    core.conns()
        .get(token)?
        .mqtt_ref()?
        .session()
        .map(|k| k as usize)
}
