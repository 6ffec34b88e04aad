//! Keep-alive on the client side (§3.1.2.10): the client must send some
//! packet within every keep-alive interval, or the broker closes the
//! connection after one and a half. A connection that has sent nothing
//! for half the interval sends PINGREQ, which leaves the other half for
//! the packet to arrive; a PINGRESP still missing when the next ping is
//! due is reported as late.

/// What a timeout asks of the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Due {
    /// Nothing yet.
    Nothing,
    /// Send PINGREQ.
    Ping,
    /// Send PINGREQ; the previous one was never answered.
    PingLate,
}

#[derive(Debug)]
pub struct KeepAlive {
    /// Half the keep-alive interval; 0 turns pinging off.
    half_ns: u64,
    last_tx_ns: u64,
    /// When the unanswered PINGREQ went out.
    ping_sent_ns: Option<u64>,
}

impl KeepAlive {
    pub fn new(keep_alive_s: u16, now: u64) -> KeepAlive {
        KeepAlive {
            half_ns: u64::from(keep_alive_s) * 500_000_000,
            last_tx_ns: now,
            ping_sent_ns: None,
        }
    }

    /// An MQTT 5 broker's Server Keep Alive replaces the one asked for.
    pub fn set_interval(&mut self, keep_alive_s: u16) {
        self.half_ns = u64::from(keep_alive_s) * 500_000_000;
    }

    /// Something was queued for the broker at `now`.
    pub fn on_tx(&mut self, now: u64) {
        self.last_tx_ns = self.last_tx_ns.max(now);
    }

    pub fn on_pingresp(&mut self) {
        self.ping_sent_ns = None;
    }

    /// When [`KeepAlive::on_timeout`] next has something to do.
    pub fn next_due(&self) -> Option<u64> {
        (self.half_ns > 0).then(|| self.last_tx_ns + self.half_ns)
    }

    /// What is due at `now`; a ping is then counted as sent.
    pub fn on_timeout(&mut self, now: u64) -> Due {
        match self.next_due() {
            Some(due) if now >= due => {
                let late = self.ping_sent_ns.is_some();
                self.ping_sent_ns = Some(now);
                self.last_tx_ns = now;
                if late {
                    Due::PingLate
                } else {
                    Due::Ping
                }
            }
            _ => Due::Nothing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn pings_after_half_the_interval_of_silence() {
        let mut k = KeepAlive::new(10, 0);
        assert_eq!(k.next_due(), Some(5 * S));
        assert_eq!(k.on_timeout(4 * S), Due::Nothing);
        k.on_tx(3 * S);
        assert_eq!(k.on_timeout(5 * S), Due::Nothing, "traffic moved the ping");
        assert_eq!(k.on_timeout(8 * S), Due::Ping);
        assert_eq!(k.next_due(), Some(13 * S));
        k.on_pingresp();
        assert_eq!(k.on_timeout(13 * S), Due::Ping);
        assert_eq!(k.on_timeout(18 * S), Due::PingLate, "no PINGRESP came");
    }

    #[test]
    fn zero_turns_it_off_and_the_broker_may_override() {
        let mut k = KeepAlive::new(0, 0);
        assert_eq!(k.next_due(), None);
        assert_eq!(k.on_timeout(u64::MAX / 2), Due::Nothing);
        k.set_interval(2);
        assert_eq!(k.next_due(), Some(S));
    }
}
