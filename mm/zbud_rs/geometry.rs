// SPDX-License-Identifier: GPL-2.0

//! How objects fit in a page: 64 chunks, at most two objects ("buddies"),
//! the first at the page's start and the last ending at its end.
//!
//! Unlike C zbud, no chunk holds a header (the page's descriptor lives out
//! of the page), so every chunk holds data.  An object takes at most all
//! chunks but one, so that a page always has room for a buddy.

use kernel::page::{PAGE_SHIFT, PAGE_SIZE};

/// log2 of the chunk size.
pub(crate) const CHUNK_SHIFT: usize = PAGE_SHIFT - 6;
/// The allocation granule.
pub(crate) const CHUNK_SIZE: usize = 1 << CHUNK_SHIFT;
/// Chunks per page.
pub(crate) const NCHUNKS: usize = PAGE_SIZE >> CHUNK_SHIFT;
/// The most chunks one object takes.
pub(crate) const MAX_CHUNKS: usize = NCHUNKS - 1;
/// The largest object in bytes.
pub(crate) const MAX_SIZE: usize = MAX_CHUNKS * CHUNK_SIZE;

const _: () = assert!(NCHUNKS == 64 && NCHUNKS <= u8::MAX as usize);

/// Which end of its page an object sits at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Bud {
    /// Starts at offset 0.
    First,
    /// Ends at `PAGE_SIZE`.
    Last,
}

impl Bud {
    /// The buddy's index in a page's pair of objects.
    pub(crate) fn index(self) -> usize {
        match self {
            Bud::First => 0,
            Bud::Last => 1,
        }
    }

    /// The buddy at the other end of the page.
    pub(crate) fn other(self) -> Self {
        match self {
            Bud::First => Bud::Last,
            Bud::Last => Bud::First,
        }
    }
}

/// The chunks an object of `size` bytes takes, if it fits in a page beside
/// a buddy; `size` must not be 0.
pub(crate) fn chunks_for(size: usize) -> Option<usize> {
    (size <= MAX_SIZE).then(|| size.div_ceil(CHUNK_SIZE))
}

/// Where an object of `chunks` chunks starts in its page.
pub(crate) fn offset_of(bud: Bud, chunks: usize) -> usize {
    match bud {
        Bud::First => 0,
        Bud::Last => PAGE_SIZE - chunks * CHUNK_SIZE,
    }
}
