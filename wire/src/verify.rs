//! Verifying a payload before any generated accessor reads it.
//!
//! The generated accessors read without bounds checks, so every table is
//! reached through [`root`], which runs the FlatBuffers verifier with
//! limits sized to the payload. This module also works around a verifier
//! bug in the `flatbuffers` crate version that matches Debian's flatc.

use flatbuffers::{Follow, InvalidFlatbuffer, Verifiable, VerifierOptions};

use crate::error::WireError;

/// A table-typed field of a root table, named by its vtable offset, whose
/// table the work-around in [`root`] must also check.
pub(crate) type NestedTable = Option<flatbuffers::VOffsetT>;

/// Verifier limits for one payload. Our deepest nesting is two tables
/// (DELIVER -> Target) and no payload holds more than two tables; the
/// apparent-size bound stops offsets that alias one string many times from
/// turning a small payload into a large amount of verification work.
fn verifier_options(payload: &[u8]) -> VerifierOptions {
    VerifierOptions {
        max_depth: 4,
        max_tables: 8,
        max_apparent_size: payload.len().saturating_mul(2).saturating_add(64),
        ignore_missing_null_terminator: false,
    }
}

/// Names a verifier failure without allocating (the verifier's own error
/// carries a trace we drop).
fn invalid(e: InvalidFlatbuffer) -> WireError {
    WireError::BadEnvelope(match e {
        InvalidFlatbuffer::MissingRequiredField { .. } => "missing required field",
        InvalidFlatbuffer::Utf8Error { .. } => "string is not UTF-8",
        InvalidFlatbuffer::MissingNullTerminator { .. } => "string lacks its NUL terminator",
        InvalidFlatbuffer::Unaligned { .. } => "unaligned field",
        InvalidFlatbuffer::RangeOutOfBounds { .. } => "offset out of bounds",
        InvalidFlatbuffer::SignedOffsetOutOfBounds { .. } => "vtable offset out of bounds",
        InvalidFlatbuffer::TooManyTables => "too many tables",
        InvalidFlatbuffer::ApparentSizeTooLarge => "apparent size too large",
        InvalidFlatbuffer::DepthLimitReached => "tables nested too deep",
        _ => "payload does not verify",
    })
}

/// Verifies `payload` as a root table of type `T` and returns its view.
/// `nested` names the root's one table-typed field, if it has one.
pub(crate) fn root<'a, T>(payload: &'a [u8], nested: NestedTable) -> Result<T::Inner, WireError>
where
    T: Follow<'a> + Verifiable + 'a,
{
    if has_min_soffset(payload, nested) {
        return Err(WireError::BadEnvelope("vtable offset out of bounds"));
    }
    flatbuffers::root_with_opts::<T>(&verifier_options(payload), payload).map_err(invalid)
}

fn read<const N: usize>(buf: &[u8], pos: usize) -> Option<[u8; N]> {
    buf.get(pos..pos.checked_add(N)?)?.try_into().ok()
}

fn u16_at(buf: &[u8], pos: usize) -> Option<usize> {
    read(buf, pos).map(|b| usize::from(u16::from_le_bytes(b)))
}

fn u32_at(buf: &[u8], pos: usize) -> Option<usize> {
    read(buf, pos).and_then(|b| usize::try_from(u32::from_le_bytes(b)).ok())
}

fn i32_at(buf: &[u8], pos: usize) -> Option<i32> {
    read(buf, pos).map(i32::from_le_bytes)
}

/// Whether a table the verifier will visit starts with the vtable offset
/// `i32::MIN`.
///
/// flatbuffers 2.1.2 (the version Debian's flatc 2.0.8 generates code
/// for) takes `soffset.abs()` there, which overflows: a panic when overflow
/// checks are on (debug builds, tests, fuzzing), and only by luck an error
/// when they are off. Upstream fixed it in 22.9.29, whose generated code
/// is incompatible with flatc 2.0.8. Such an offset can never be valid, so
/// refusing it early changes no answer. Anything else odd is left to the
/// verifier: `false` here means "not this bug", not "valid".
fn has_min_soffset(payload: &[u8], nested: NestedTable) -> bool {
    let Some(table) = u32_at(payload, 0) else {
        return false;
    };
    let Some(soffset) = i32_at(payload, table) else {
        return false;
    };
    if soffset == i32::MIN {
        return true;
    }
    let Some(field) = nested else {
        return false;
    };
    nested_table_soffset(payload, table, soffset, usize::from(field)) == Some(i32::MIN)
}

/// The vtable offset of the table that the root's field `field` points to.
fn nested_table_soffset(payload: &[u8], table: usize, soffset: i32, field: usize) -> Option<i32> {
    // The vtable sits at table - soffset.
    let vtable = usize::try_from(i64::try_from(table).ok()? - i64::from(soffset)).ok()?;
    let vtable_len = u16_at(payload, vtable)?;
    if field.checked_add(2)? > vtable_len {
        return None;
    }
    let field_offset = u16_at(payload, vtable.checked_add(field)?)?;
    if field_offset == 0 {
        return None;
    }
    let field_pos = table.checked_add(field_offset)?;
    let nested = field_pos.checked_add(u32_at(payload, field_pos)?)?;
    i32_at(payload, nested)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::switchboard::wire as fb;

    #[test]
    fn min_soffset_on_the_root_is_refused_not_a_panic() {
        let payload = [4, 0, 0, 0, 0, 0, 0, 0x80];
        let err = root::<fb::Ack>(&payload, None).unwrap_err();
        assert_eq!(err, WireError::BadEnvelope("vtable offset out of bounds"));
    }

    #[test]
    fn min_soffset_on_a_nested_table_is_refused() {
        // Root table at 4: soffset -8 puts its vtable at 12; the vtable
        // (len 6, table len 8, field 0 at +4) gives the target field at 8,
        // whose uoffset 12 leads to a "table" at 20 with soffset i32::MIN.
        let payload = [
            4, 0, 0, 0, //
            0xf8, 0xff, 0xff, 0xff, // root soffset -8
            12, 0, 0, 0, // target uoffset -> 20
            6, 0, 8, 0, 4, 0, // vtable
            0, 0, //
            0, 0, 0, 0x80, // nested soffset
        ];
        assert!(has_min_soffset(&payload, Some(4)));
        assert!(root::<fb::Send>(&payload, Some(fb::Send::VT_TARGET)).is_err());
    }
}
