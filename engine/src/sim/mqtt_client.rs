//! An MQTT 5 client on the simulated network, built on `wire::mqtt`'s
//! encoder and decoder: CONNECT, SUBSCRIBE, QoS 1 PUBLISH both ways with
//! their PUBACKs. It keeps the payloads it received and the packet ids the
//! server acknowledged.

use wire::mqtt::{
    encode, Ack, Connect, Packet, PacketDecoder, Properties, PropertiesBuf, PropertyId,
    PropertyValue, ProtocolVersion, Publish, QoS, Subscribe, Subscription, SubscriptionOptions,
};

use crate::sys::sim::net::SimNet;
use crate::sys::sim::ClientId;

const V5: ProtocolVersion = ProtocolVersion::V5;

/// One MQTT connection's client side.
pub struct MqttClient {
    /// The connection.
    pub id: ClientId,
    decoder: PacketDecoder,
    out: Vec<u8>,
    /// A CONNACK arrived (with this reason code).
    pub connack: Option<u8>,
    /// A SUBSCRIBE was sent.
    pub subscribed: bool,
    /// A SUBACK arrived.
    pub subacked: bool,
    /// Payloads of the PUBLISHes received, in order (duplicates kept).
    pub received: Vec<Vec<u8>>,
    /// Packet ids the server acknowledged (PUBACK), in order.
    pub acked: Vec<u16>,
    /// The server sent DISCONNECT (with this reason code).
    pub disconnect: Option<u8>,
    /// The stream could not be decoded (a server bug).
    pub garbled: bool,
}

impl MqttClient {
    /// Connects to `port` and sends CONNECT for `client_id`: a persistent
    /// session (`expiry_s` > 0) resumed unless `clean`.
    pub fn connect(
        net: &SimNet,
        port: u16,
        client_id: &str,
        clean: bool,
        expiry_s: u32,
    ) -> Option<MqttClient> {
        let mut c = MqttClient {
            id: net.connect(port)?,
            decoder: PacketDecoder::client(V5, u32::MAX / 2),
            out: Vec::new(),
            connack: None,
            subscribed: false,
            subacked: false,
            received: Vec::new(),
            acked: Vec::new(),
            disconnect: None,
            garbled: false,
        };
        let mut props = PropertiesBuf::new();
        props.push(
            PropertyId::SESSION_EXPIRY_INTERVAL,
            PropertyValue::U32(expiry_s),
        );
        let connect = Connect {
            version: V5,
            clean_start: clean,
            keep_alive: 0,
            properties: props.as_properties(),
            client_id,
            will: None,
            username: None,
            password: None,
        };
        c.queue(&Packet::Connect(connect));
        c.flush(net);
        Some(c)
    }

    fn queue(&mut self, p: &Packet<'_>) {
        encode(p, V5, &mut self.out).expect("the simulator's packets encode");
    }

    fn flush(&mut self, net: &SimNet) -> bool {
        let ok = net.write(self.id, &self.out);
        self.out.clear();
        ok
    }

    /// Subscribes to `filter` at QoS 1.
    pub fn subscribe(&mut self, net: &SimNet, filter: &str) -> bool {
        let s = Subscribe {
            packet_id: 1,
            properties: Properties::EMPTY,
            filters: vec![Subscription {
                filter,
                options: SubscriptionOptions::new(QoS::AtLeastOnce),
            }],
        };
        self.queue(&Packet::Subscribe(s));
        self.flush(net)
    }

    /// Publishes `payload` to `topic` at QoS 1 with `packet_id`.
    pub fn publish(&mut self, net: &SimNet, topic: &str, payload: &[u8], packet_id: u16) -> bool {
        let p = Publish {
            dup: false,
            qos: QoS::AtLeastOnce,
            retain: false,
            topic,
            packet_id: Some(packet_id),
            properties: Properties::EMPTY,
            payload,
        };
        self.queue(&Packet::Publish(p));
        self.flush(net)
    }

    /// Reads what the server sent, acknowledges QoS 1 PUBLISHes, and
    /// records everything else.
    pub fn pump(&mut self, net: &SimNet, max: usize) {
        let bytes = net.read(self.id, max);
        if bytes.is_empty() || self.garbled {
            return;
        }
        let mut acks = Vec::new();
        let state = (
            &mut self.connack,
            &mut self.subacked,
            &mut self.received,
            &mut self.acked,
            &mut self.disconnect,
        );
        let (connack, subacked, received, acked, disconnect) = state;
        let r = self.decoder.feed(&bytes, |p| {
            match p {
                Packet::Connack(c) => *connack = Some(c.reason.0),
                Packet::Suback(_) => *subacked = true,
                Packet::Publish(p) => {
                    received.push(p.payload.to_vec());
                    acks.extend(p.packet_id);
                }
                Packet::Puback(a) => acked.push(a.packet_id),
                Packet::Disconnect(d) => *disconnect = Some(d.reason.0),
                _ => {}
            }
            wire::Control::Continue
        });
        if r.is_err() {
            self.garbled = true;
            return;
        }
        for packet_id in acks {
            self.queue(&Packet::Puback(Ack::new(packet_id)));
        }
        if !self.out.is_empty() {
            self.flush(net);
        }
    }
}
