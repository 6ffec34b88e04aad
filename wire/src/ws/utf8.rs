//! An incremental UTF-8 validator for text messages that arrive in
//! pieces (fragments, or one frame split across reads).
//!
//! It keeps only the up to 3 bytes of a character cut by a piece
//! boundary, and it fails as soon as the bytes seen so far cannot start
//! valid UTF-8 (Autobahn's 6.4.* cases check this "fail fast"), because
//! `std::str::from_utf8` reports `error_len() == None` only when the
//! input ends with a valid prefix of a character.

/// The bytes seen so far are not a prefix of any valid UTF-8 string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidUtf8;

/// Validates a byte stream piece by piece; 5 bytes of state.
#[derive(Clone, Copy, Debug, Default)]
pub struct Utf8Validator {
    /// Leading bytes of a character cut at the end of the last piece.
    partial: [u8; 4],
    partial_len: u8,
}

impl Utf8Validator {
    /// A validator that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks the next piece of the stream.
    pub fn feed(&mut self, mut piece: &[u8]) -> Result<(), InvalidUtf8> {
        // Finish a character cut by the previous piece, one byte at a time.
        while self.partial_len > 0 {
            let Some((&b, rest)) = piece.split_first() else {
                return Ok(());
            };
            piece = rest;
            self.partial[usize::from(self.partial_len)] = b;
            self.partial_len += 1;
            match std::str::from_utf8(&self.partial[..usize::from(self.partial_len)]) {
                Ok(_) => self.partial_len = 0,
                Err(e) if e.error_len().is_some() => return Err(InvalidUtf8),
                Err(_) => {}
            }
        }
        match std::str::from_utf8(piece) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_some() => Err(InvalidUtf8),
            Err(e) => {
                let tail = &piece[e.valid_up_to()..];
                self.partial[..tail.len()].copy_from_slice(tail);
                self.partial_len = tail.len() as u8;
                Ok(())
            }
        }
    }

    /// Whether the stream may end here (no character left unfinished).
    pub fn is_complete(&self) -> bool {
        self.partial_len == 0
    }

    /// Ends the stream: fails if it stopped inside a character.
    pub fn finish(&mut self) -> Result<(), InvalidUtf8> {
        let complete = self.is_complete();
        *self = Self::default();
        if complete {
            Ok(())
        } else {
            Err(InvalidUtf8)
        }
    }
}
