//! Encoding whole frames: header plus FlatBuffers payload.
//!
//! One [`Encoder`] per connection (or per reactor core) reuses its builder
//! and scratch space, so after warm-up encoding allocates only when `out`
//! has to grow. Builder calls happen in a fixed order, which makes the
//! bytes for a given message deterministic (the test vectors in
//! `docs/wire-protocol.md` rely on this).

use bytes::BytesMut;
use flatbuffers::{FlatBufferBuilder, WIPOffset};

use crate::back_writer::BackWriter;
use crate::envelope::switchboard::wire as fb;
use crate::frame::{write_frame, FrameHeader, FrameType};
use crate::message::{Ack, Close, Deliver, ErrorMsg, Hello, Send, Target, TargetKind, Welcome};

// Bodies go in with `create_vector_direct` (one copy) rather than
// `create_vector`, which pushes a byte at a time: ten times slower for a
// 1 KiB body. Both lay out the same bytes.

// Vtable slots (byte offsets in the vtable) from the generated code.
const TARGET_KIND_SLOT: u16 = fb::Target::VT_KIND;
const TARGET_ID_SLOT: u16 = fb::Target::VT_ID;
const DELIVER_SENDER_SLOT: u16 = fb::Deliver::VT_SENDER;
const DELIVER_TARGET_SLOT: u16 = fb::Deliver::VT_TARGET;
const DELIVER_BODY_SLOT: u16 = fb::Deliver::VT_BODY;

/// Builder capacity at start: a typical chat message fits without growing.
const INITIAL_BUILDER_BYTES: usize = 1024;

/// Encodes whole frames (header + FlatBuffers payload) into `out`, reusing one builder.
pub struct Encoder {
    fbb: FlatBufferBuilder<'static>,
    /// String offsets of a topic list, kept to reuse its allocation.
    topics: Vec<WIPOffset<&'static str>>,
    /// The hot-path writer for DELIVER.
    back: BackWriter,
}

impl Default for Encoder {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder").finish_non_exhaustive()
    }
}

fn fb_kind(k: TargetKind) -> fb::TargetKind {
    match k {
        TargetKind::User => fb::TargetKind::User,
        TargetKind::Connection => fb::TargetKind::Connection,
        TargetKind::Conversation => fb::TargetKind::Conversation,
        TargetKind::Topic => fb::TargetKind::Topic,
    }
}

/// Adds a Target table; must be called while no table is open.
fn put_target<'b>(fbb: &mut FlatBufferBuilder<'b>, t: &Target<'_>) -> WIPOffset<fb::Target<'b>> {
    let id = fbb.create_string(t.id);
    fb::Target::create(
        fbb,
        &fb::TargetArgs {
            kind: fb_kind(t.kind),
            id: Some(id),
        },
    )
}

impl Encoder {
    /// An encoder with a small builder that grows to the largest message.
    pub fn new() -> Self {
        Encoder {
            fbb: FlatBufferBuilder::with_capacity(INITIAL_BUILDER_BYTES),
            topics: Vec::new(),
            back: BackWriter::default(),
        }
    }

    /// Finishes the builder's root table and appends header and payload.
    fn emit<T>(
        &mut self,
        out: &mut BytesMut,
        mut header: FrameHeader,
        frame_type: FrameType,
        root: WIPOffset<T>,
    ) {
        self.fbb.finish_minimal(root);
        header.frame_type = frame_type;
        write_frame(out, header, self.fbb.finished_data());
        self.fbb.reset();
    }

    /// Writes a HELLO frame.
    pub fn hello(&mut self, out: &mut BytesMut, header: FrameHeader, m: &Hello<'_>) {
        let fbb = &mut self.fbb;
        let user_id = fbb.create_string(m.user_id);
        let token = fbb.create_string(m.token);
        let client_name = fbb.create_string(m.client_name);
        let args = fb::HelloArgs {
            protocol_version: m.protocol_version,
            user_id: Some(user_id),
            token: Some(token),
            client_name: Some(client_name),
        };
        let root = fb::Hello::create(fbb, &args);
        self.emit(out, header, FrameType::Hello, root);
    }

    /// Writes a WELCOME frame.
    pub fn welcome(&mut self, out: &mut BytesMut, header: FrameHeader, m: &Welcome<'_>) {
        let fbb = &mut self.fbb;
        let server_name = fbb.create_string(m.server_name);
        let args = fb::WelcomeArgs {
            connection_id: m.connection_id,
            node_id: m.node_id,
            server_name: Some(server_name),
            max_payload_len: m.max_payload_len,
            idle_timeout_ms: m.idle_timeout_ms,
        };
        let root = fb::Welcome::create(fbb, &args);
        self.emit(out, header, FrameType::Welcome, root);
    }

    /// Writes a SEND frame.
    pub fn send(&mut self, out: &mut BytesMut, header: FrameHeader, m: &Send<'_>) {
        let fbb = &mut self.fbb;
        let target = put_target(fbb, &m.target);
        let body = fbb.create_vector_direct(m.body);
        let args = fb::SendArgs {
            target: Some(target),
            body: Some(body),
        };
        let root = fb::Send::create(fbb, &args);
        self.emit(out, header, FrameType::Send, root);
    }

    /// Writes a DELIVER frame: the frame written for every routed message,
    /// so it skips the general builder (see `back_writer`); the bytes are
    /// the builder's.
    pub fn deliver(&mut self, out: &mut BytesMut, mut header: FrameHeader, m: &Deliver<'_>) {
        // Everything the layout can add beyond the data: 3 headers and 3
        // paddings of at most 4 bytes, two tables with their vtables, root.
        let slack = 128;
        let w = &mut self.back;
        w.reset(m.sender.len() + m.target.id.len() + m.body.len() + slack);
        let sender = w.string(m.sender.as_bytes());
        let id = w.string(m.target.id.as_bytes());
        let kind = fb_kind(m.target.kind);
        let kind = (kind != fb::TargetKind::User).then_some((TARGET_KIND_SLOT, kind.0));
        let target = w.table(&[(TARGET_ID_SLOT, id)], kind);
        let body = w.bytes(m.body);
        let root = w.table(
            &[
                (DELIVER_BODY_SLOT, body),
                (DELIVER_TARGET_SLOT, target),
                (DELIVER_SENDER_SLOT, sender),
            ],
            None,
        );
        w.finish(root);
        header.frame_type = FrameType::Deliver;
        write_frame(out, header, w.data());
    }

    /// The builder's DELIVER, kept to check [`Encoder::deliver`] against.
    #[doc(hidden)]
    pub fn deliver_with_builder(
        &mut self,
        out: &mut BytesMut,
        header: FrameHeader,
        m: &Deliver<'_>,
    ) {
        let fbb = &mut self.fbb;
        let sender = fbb.create_string(m.sender);
        let target = put_target(fbb, &m.target);
        let body = fbb.create_vector_direct(m.body);
        let args = fb::DeliverArgs {
            sender: Some(sender),
            target: Some(target),
            body: Some(body),
        };
        let root = fb::Deliver::create(fbb, &args);
        self.emit(out, header, FrameType::Deliver, root);
    }

    /// Writes an ACK frame.
    pub fn ack(&mut self, out: &mut BytesMut, header: FrameHeader, m: &Ack) {
        let args = fb::AckArgs {
            server_message_id: m.server_message_id,
            recipients: m.recipients,
        };
        let root = fb::Ack::create(&mut self.fbb, &args);
        self.emit(out, header, FrameType::Ack, root);
    }

    /// Writes an ERROR frame.
    pub fn error(&mut self, out: &mut BytesMut, header: FrameHeader, m: &ErrorMsg<'_>) {
        let fbb = &mut self.fbb;
        let reason = fbb.create_string(m.reason);
        let args = fb::ErrorArgs {
            code: m.code as u16,
            reason: Some(reason),
        };
        let root = fb::Error::create(fbb, &args);
        self.emit(out, header, FrameType::Error, root);
    }

    /// Writes a SUBSCRIBE frame.
    pub fn subscribe(&mut self, out: &mut BytesMut, header: FrameHeader, topics: &[&str]) {
        self.topic_list(out, header, FrameType::Subscribe, topics);
    }

    /// Writes an UNSUBSCRIBE frame.
    pub fn unsubscribe(&mut self, out: &mut BytesMut, header: FrameHeader, topics: &[&str]) {
        self.topic_list(out, header, FrameType::Unsubscribe, topics);
    }

    fn topic_list(
        &mut self,
        out: &mut BytesMut,
        header: FrameHeader,
        frame_type: FrameType,
        topics: &[&str],
    ) {
        let fbb = &mut self.fbb;
        self.topics.clear();
        for t in topics {
            self.topics.push(fbb.create_string(t));
        }
        let list = fbb.create_vector(&self.topics);
        let args = fb::SubscribeArgs { topics: Some(list) };
        let root = fb::Subscribe::create(fbb, &args);
        self.emit(out, header, frame_type, root);
    }

    /// Writes a CLOSE frame.
    pub fn close(&mut self, out: &mut BytesMut, header: FrameHeader, m: &Close<'_>) {
        let fbb = &mut self.fbb;
        let reason = fbb.create_string(m.reason);
        let args = fb::CloseArgs {
            code: m.code,
            reason: Some(reason),
        };
        let root = fb::Close::create(fbb, &args);
        self.emit(out, header, FrameType::Close, root);
    }

    /// Writes a PING frame; its payload is raw bytes, echoed in the PONG.
    pub fn ping(&mut self, out: &mut BytesMut, mut header: FrameHeader, payload: &[u8]) {
        header.frame_type = FrameType::Ping;
        write_frame(out, header, payload);
    }

    /// Writes a PONG frame carrying the PING's payload.
    pub fn pong(&mut self, out: &mut BytesMut, mut header: FrameHeader, payload: &[u8]) {
        header.frame_type = FrameType::Pong;
        write_frame(out, header, payload);
    }
}
