//! One fan-out's WebSocket messages, encoded once per output form and
//! shared by every receiver of that form on this core.
//!
//! A `wire` frame fanned out to N WebSocket connections used to be turned
//! into JSON and compressed N times. What a connection's writer makes of a
//! frame depends only on the frame, the endpoint's form (JSON text or
//! binary) and the writer's [`OutputKey`], unless the writer compresses
//! with context takeover (its bytes then depend on its history) — such
//! connections have no key and are still written one by one. So the first
//! receiver of each form encodes the message and the others queue the
//! same `Bytes`: one refcount each, no copy, no allocation.
//!
//! Owns: the cached forms of the frame being delivered. Not here: the
//! encoding itself (`frames.rs`) nor who receives (`delivery.rs`,
//! `mqtt/fanout.rs`, which call [`SharedForms::end`] when a fan-out ends;
//! a frame queued outside a fan-out keeps its forms until the next frame
//! replaces them).

use bytes::Bytes;
use wire::ws::OutputKey;

use super::state::OutForm;

/// Distinct forms kept per frame: JSON and binary, uncompressed and at the
/// few (level, window bits) pairs clients negotiate. A fan-out that meets
/// more encodes the others per connection, as before.
const FORMS_MAX: usize = 8;

/// One output form of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct FormKey {
    pub(super) out: OutForm,
    pub(super) writer: OutputKey,
}

/// The forms of one frame, filled as its receivers ask for them.
#[derive(Debug)]
pub struct SharedForms {
    /// The frame the forms encode. Holding a reference keeps its memory
    /// from being freed and reused, so while it is here a `Bytes` with the
    /// same address and length is this frame and no other.
    frame: Option<Bytes>,
    /// At most `FORMS_MAX`; allocated once.
    forms: Vec<(FormKey, Bytes)>,
}

impl SharedForms {
    /// Holds nothing yet (its room is allocated once, here).
    pub fn new() -> SharedForms {
        SharedForms {
            frame: None,
            forms: Vec::with_capacity(FORMS_MAX),
        }
    }

    /// The message already written for `frame` in form `key`, if any.
    pub(super) fn get(&self, frame: &Bytes, key: FormKey) -> Option<Bytes> {
        if !self.holds(frame) {
            return None;
        }
        let (_, message) = self.forms.iter().find(|(k, _)| *k == key)?;
        Some(message.clone())
    }

    /// Keeps `message`, the form `key` of `frame`, for the next receivers;
    /// forgets the forms of any other frame first.
    pub(super) fn put(&mut self, frame: &Bytes, key: FormKey, message: &Bytes) {
        if !self.holds(frame) {
            self.end();
            self.frame = Some(frame.clone());
        }
        if self.forms.len() < FORMS_MAX {
            self.forms.push((key, message.clone()));
        }
    }

    /// The fan-out is over: lets go of the frame and its forms, so their
    /// memory goes back as soon as the sockets have written them.
    pub fn end(&mut self) {
        self.frame = None;
        self.forms.clear();
    }

    /// Forms held now (tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.forms.len()
    }

    fn holds(&self, frame: &Bytes) -> bool {
        self.frame
            .as_ref()
            .is_some_and(|f| f.as_ptr() == frame.as_ptr() && f.len() == frame.len())
    }
}

impl Default for SharedForms {
    fn default() -> SharedForms {
        SharedForms::new()
    }
}
