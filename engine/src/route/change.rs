//! What a local membership change means for the other cores (users and
//! topic filters alike). Its own file so that the topic index can name it
//! without importing the registry that holds the index.

/// What a local change means for the other cores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Nothing to tell.
    None,
    /// The first local member appeared: tell other cores.
    Up,
    /// The last local member left: tell other cores.
    Down,
}
