//! Copying a send batch of small buffers into one buffer before the
//! syscall.
//!
//! The reactor hands a backend one batch per connection per tick, one
//! `Bytes` per queued frame: at max load that is ~16 frames of ~80 bytes
//! (an echo client's pipeline). Written as they are, each frame is one
//! iovec, and the kernel pays per iovec: above `UIO_FASTIOV` (8) it
//! allocates and frees the iovec array on every `sendmsg`, copies and
//! checks each entry, and walks them one by one while copying. A few
//! kilobytes copied here cost less than that, so a batch of small
//! buffers goes out as one slice; large buffers are written in place,
//! where a copy would cost more than it saves.

use super::SendBatch;

/// The most bytes copied per send. Bounds the scratch buffer, which each
/// backend keeps for its whole life.
const GATHER_MAX_BYTES: usize = 8 * 1024;
/// Copy only buffers this small on average: the kernel's cost per iovec
/// is fixed, the copy's grows with the bytes.
const GATHER_AVG_MAX_BYTES: usize = 512;

/// A backend's reusable scratch buffer for [`Gather::coalesce`].
#[derive(Default)]
pub(crate) struct Gather {
    scratch: Vec<u8>,
}

impl Gather {
    /// The bytes of `batch` after the first `skip` as one slice, when they
    /// are spread over several small buffers; `None` when they are better
    /// written in place (one buffer, or large ones).
    pub(crate) fn coalesce(&mut self, batch: &SendBatch, skip: usize) -> Option<&[u8]> {
        let mut count = 0;
        let mut total = 0;
        let mut left = skip;
        for buf in &batch.bufs {
            if left >= buf.len() {
                left -= buf.len();
                continue;
            }
            count += 1;
            total += buf.len() - left;
            left = 0;
            if total > GATHER_MAX_BYTES {
                return None;
            }
        }
        if count < 2 || total > count * GATHER_AVG_MAX_BYTES {
            return None;
        }
        self.scratch.clear();
        let mut left = skip;
        for buf in &batch.bufs {
            if left >= buf.len() {
                left -= buf.len();
                continue;
            }
            self.scratch.extend_from_slice(&buf[left..]);
            left = 0;
        }
        Some(&self.scratch)
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn batch(sizes: &[usize]) -> SendBatch {
        let mut next = 0u8;
        let bufs = sizes
            .iter()
            .map(|&n| {
                let b: Vec<u8> = (0..n)
                    .map(|_| {
                        next = next.wrapping_add(1);
                        next
                    })
                    .collect();
                Bytes::from(b)
            })
            .collect();
        SendBatch { bufs }
    }

    fn joined(b: &SendBatch, skip: usize) -> Vec<u8> {
        b.bufs
            .iter()
            .flat_map(|x| x.iter().copied())
            .skip(skip)
            .collect()
    }

    #[test]
    fn small_buffers_come_out_as_one_slice_in_order() {
        let b = batch(&[80, 80, 3, 80, 0, 80]);
        let mut g = Gather::default();
        for skip in [0, 1, 79, 80, 81, 163, 200] {
            let got = g.coalesce(&b, skip).map(<[u8]>::to_vec);
            assert_eq!(got, Some(joined(&b, skip)), "skip {skip}");
        }
        // Only part of the last buffer left: written in place.
        assert!(g.coalesce(&b, 322).is_none());
    }

    #[test]
    fn one_buffer_or_large_ones_stay_in_place() {
        let mut g = Gather::default();
        // One buffer: nothing to gain.
        assert!(g.coalesce(&batch(&[100]), 0).is_none());
        // Only the last buffer left after the skip.
        assert!(g.coalesce(&batch(&[100, 100]), 150).is_none());
        // Large buffers: the copy would cost more than the iovecs.
        assert!(g.coalesce(&batch(&[4000, 4000]), 0).is_none());
        // More than the scratch bound in total.
        assert!(g.coalesce(&batch(&[500; 20]), 0).is_none());
    }
}
