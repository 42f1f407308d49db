// SPDX-License-Identifier: GPL-2.0

//! Which folios may become volatile: the 2007 series' `check_bits` and
//! `check_counts`, for 6.12 folios.

use kernel::mm::folio::{Folio, PageFlag};

/// How a folio may be offered to the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Offer {
    /// Not mapped: the host may drop it.
    Unmapped,
    /// Mapped into page tables: the host may drop it only after taking
    /// the mappings away and finding it clean (potentially volatile).
    Mapped,
}

/// Whether `folio` can never become volatile: swap-backed (anonymous or
/// shmem) or large.  One load of the flags, for the hooks' fast path.
#[inline]
pub(crate) fn never(folio: &Folio) -> bool {
    folio.flags().any(&[PageFlag::SwapBacked, PageFlag::Head])
}

/// Whether `folio` may become volatile, given that the caller holds
/// `extra_refs` references to it besides its mappings and the page cache.
///
/// A folio qualifies when its contents can be read back from its file:
/// - it is a page-cache folio of a file, not anonymous or shmem (those
///   are swap-backed, and swap-cache hinting is not part of this core);
/// - its contents are up to date and clean, not under writeback, and no
///   filesystem keeps private data (buffer heads) on it;
/// - nobody is working on it: it is unlocked, on an LRU list (not
///   isolated by reclaim, compaction or migration), not mlocked;
/// - every reference is accounted for: one per page for the page cache,
///   one per mapping, and the caller's.
///
/// Large folios are refused.  The host drops single pages; a large folio
/// would have to be split on the first discard of one of its pages, and
/// a split needs the folio lock and memory, neither of which the discard
/// path may take.  ext4 on 6.12 only creates single-page folios.
///
/// Mapped folios qualify with either backend.  The emulated host takes
/// the mappings away before it discards.  A hypervisor raises a discard
/// fault at the next access through a mapping, and every kernel path that
/// reads a mapped page without a page-cache lookup takes it back first:
/// GUP (fast and slow), the copy of a copy-on-write fault, and the write
/// fault that dirties a shared mapping (`page_states_make_stable()`).
pub(crate) fn offer(folio: &Folio, extra_refs: i32) -> Option<Offer> {
    // One load of the flags word: this runs at every folio_put().
    let flags = folio.flags();
    if !flags.has(PageFlag::Lru) || !flags.has(PageFlag::Uptodate) {
        return None;
    }
    if flags.any(&[
        PageFlag::Head,
        PageFlag::Locked,
        PageFlag::Dirty,
        PageFlag::Writeback,
        PageFlag::Private,
        PageFlag::SwapBacked,
        PageFlag::Mlocked,
        PageFlag::Unevictable,
    ]) || !folio.in_page_cache()
    {
        return None;
    }
    let mapcount = folio.mapcount();
    if folio.ref_count() != 1 + mapcount + extra_refs {
        return None;
    }
    Some(if mapcount > 0 {
        Offer::Mapped
    } else {
        Offer::Unmapped
    })
}
