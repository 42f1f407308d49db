// SPDX-License-Identifier: GPL-2.0

//! Which folios may become volatile: the 2007 series' `check_bits` and
//! `check_counts`, for 6.12 folios, page cache and swap cache.

use kernel::mm::folio::{Folio, FolioFlags, PageFlag};

/// How a folio may be offered to the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Offer {
    /// Not mapped: the host may drop it.
    Unmapped,
    /// Mapped into page tables: the host may drop it only after taking
    /// the mappings away and finding it clean (potentially volatile).
    Mapped,
    /// In the swap cache, not mapped: the host may drop it, and the guest
    /// reads it back from its swap slot.
    SwapCache,
}

/// Whether `folio` can never become volatile: large, or anonymous or
/// shmem memory that is not in the swap cache.  One load of the flags, for
/// the hooks' fast path.
#[inline]
pub(crate) fn never(folio: &Folio) -> bool {
    let flags = folio.flags();
    flags.has(PageFlag::Head) || (flags.has(PageFlag::SwapBacked) && !in_swap_cache(flags))
}

/// Whether a swap-backed folio with `flags` is in the swap cache.  The
/// flag's bit means something else without swap.
#[inline]
fn in_swap_cache(flags: FolioFlags) -> bool {
    cfg!(CONFIG_SWAP) && flags.has(PageFlag::SwapCache)
}

/// Whether `folio` may become volatile, given that the caller holds
/// `extra_refs` references to it besides its mappings and the page cache.
///
/// A folio qualifies when its contents can be read back from its file or
/// its swap slot:
/// - it is a page-cache folio of a file, not shmem (shmem's page cache is
///   swap-backed and the only copy of its data), or an anonymous or shmem
///   folio in the swap cache whose swap slot holds its data: clean, the
///   write to swap done, not mapped (a mapped anonymous folio may be
///   written through a clean writable page table entry without a fault the
///   kernel sees), and not KSM (whose stable tree reads it);
/// - its contents are up to date and clean, not under writeback, and no
///   filesystem keeps private data (buffer heads) on it;
/// - nobody is working on it: it is unlocked, on an LRU list (not
///   isolated by reclaim, compaction or migration), not mlocked;
/// - every reference is accounted for: one per page for the page or swap
///   cache, one per mapping, and the caller's.
///
/// Large folios are refused.  The host drops single pages; a large folio
/// would have to be split on the first discard of one of its pages, and
/// a split needs the folio lock and memory, neither of which the discard
/// path may take.  ext4 on 6.12 only creates single-page folios.
///
/// Mapped page-cache folios qualify with either backend.  The emulated host takes
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
        PageFlag::Mlocked,
        PageFlag::Unevictable,
    ]) {
        return None;
    }
    let swap_cache = flags.has(PageFlag::SwapBacked);
    if swap_cache {
        if !in_swap_cache(flags) || folio.test_ksm() {
            return None;
        }
    } else if !folio.in_page_cache() {
        return None;
    }
    let mapcount = folio.mapcount();
    if swap_cache && mapcount != 0 {
        return None;
    }
    // The swap cache, like the page cache, holds one reference per page.
    if folio.ref_count() != 1 + mapcount + extra_refs {
        return None;
    }
    Some(if swap_cache {
        Offer::SwapCache
    } else if mapcount > 0 {
        Offer::Mapped
    } else {
        Offer::Unmapped
    })
}
