//! What a message's flags ask for: its lane (HIGH_PRIORITY) and whether it
//! may be shed (DROPPABLE). Where priority acts: docs/wire-protocol.md
//! section 4.1.

/// Which lane a message travels on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    /// Drained first.
    High = 0,
    /// Drained when the high lane is empty.
    Normal = 1,
}

/// Whether a queued message is droppable (flag DROPPABLE on its SEND).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shed {
    /// Never dropped: an over-full receiver pauses whoever feeds it.
    Never,
    /// Dropped (and counted) when the receiver is over its high watermark.
    IfBehind,
}

/// The lane and shedding a SEND's flags ask for.
pub(crate) fn priority_of(flags: wire::Flags) -> (Lane, Shed) {
    let lane = if flags.contains(wire::Flags::HIGH_PRIORITY) {
        Lane::High
    } else {
        Lane::Normal
    };
    let shed = if flags.contains(wire::Flags::DROPPABLE) {
        Shed::IfBehind
    } else {
        Shed::Never
    };
    (lane, shed)
}
