//! Topic aliases the server uses towards an MQTT 5 client that allows
//! them (its CONNECT's Topic Alias Maximum, §3.3.2.3.4): the first PUBLISH
//! of a topic carries the topic and an alias, later ones only the alias.
//! When every alias is taken, the oldest assignment is reused.

use bytes::Bytes;

use super::message::Message;

/// What to send for one PUBLISH's topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AliasUse {
    /// The topic and this (new or reassigned) alias.
    Assign(u16),
    /// Only the alias: the client knows its topic.
    Reuse(u16),
}

/// One connection's server-to-client aliases.
#[derive(Debug)]
pub struct OutboundAliases {
    topics: Vec<Bytes>,
    max: u16,
    next: u16,
}

impl OutboundAliases {
    /// Aliases 1..=`max`.
    pub fn new(max: u16) -> OutboundAliases {
        OutboundAliases {
            topics: Vec::new(),
            max,
            next: 0,
        }
    }

    /// The alias to send `msg`'s topic with.
    pub fn for_topic(&mut self, msg: &Message) -> AliasUse {
        if let Some(i) = self.topics.iter().position(|t| t == msg.topic()) {
            return AliasUse::Reuse(i as u16 + 1);
        }
        let topic = msg.topic_bytes();
        let slot = if self.topics.len() < usize::from(self.max) {
            self.topics.push(topic);
            self.topics.len() - 1
        } else {
            let slot = usize::from(self.next);
            self.next = (self.next + 1) % self.max;
            self.topics[slot] = topic;
            slot
        };
        AliasUse::Assign(slot as u16 + 1)
    }

    /// Takes back an assignment whose PUBLISH was not sent (the client
    /// never learned it).
    pub fn forget(&mut self, alias: u16) {
        if let Some(t) = self.topics.get_mut(usize::from(alias) - 1) {
            // No topic name is empty, so the slot matches nothing.
            *t = Bytes::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_are_assigned_reused_and_recycled_oldest_first() {
        let mut a = OutboundAliases::new(2);
        let m = super::super::message::test_message_on;
        let (x, y, z) = (m("x"), m("y"), m("z"));
        assert_eq!(a.for_topic(&x), AliasUse::Assign(1));
        assert_eq!(a.for_topic(&y), AliasUse::Assign(2));
        assert_eq!(a.for_topic(&x), AliasUse::Reuse(1));
        assert_eq!(a.for_topic(&z), AliasUse::Assign(1));
        assert_eq!(a.for_topic(&x), AliasUse::Assign(2));
        assert_eq!(a.for_topic(&z), AliasUse::Reuse(1));
    }
}
