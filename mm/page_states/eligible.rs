// SPDX-License-Identifier: GPL-2.0

//! Which folios may become volatile: the 2007 series' `check_bits` and
//! `check_counts`, for 6.12 folios, page cache and swap cache.

use core::sync::atomic::{fence, Ordering};
use kernel::bindings;
use kernel::mm::folio::{Folio, FolioFlags, PageFlag};

/// How a folio may be offered to the host: what [`offer`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Offer {
    /// Mapped into page tables.
    pub(crate) mapped: bool,
    /// In the swap cache, not the page cache: the guest reads it back from
    /// its swap slot.
    pub(crate) swap_cache: bool,
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
///   write to swap done, and not KSM (whose stable tree reads it);
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
/// Mapped folios qualify with either backend; [`writes_unseen`] tells
/// whether they are volatile or only potentially volatile.  The emulated
/// host takes the mappings away before it discards.  A hypervisor raises
/// a discard fault at the next access through a mapping, and every kernel
/// path that reads a mapped page without a lookup takes it back first:
/// GUP (fast and slow), the copy of a copy-on-write fault, and write
/// faults.
///
/// The counts are read before the flags.  Mapping a folio raises its
/// mapcount before it sets `PageAnonExclusive`, both under the folio
/// lock: a mapcount read first, then an unlocked flags word, shows the
/// folio as it was when the lock was released.
pub(crate) fn offer(folio: &Folio, extra_refs: i32) -> Option<Offer> {
    let mapcount = folio.mapcount();
    let refs = folio.ref_count();
    fence(Ordering::Acquire);
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
    // The swap cache, like the page cache, holds one reference per page.
    if refs != 1 + mapcount + extra_refs {
        return None;
    }
    Some(Offer {
        mapped: mapcount > 0,
        swap_cache,
    })
}

/// Whether the folio of `offer` may be written through a clean page table
/// entry without a fault the kernel sees, so that the host may drop it
/// only after finding it clean: potentially volatile (`Some(true)`) or
/// volatile (`Some(false)`).  `None`: the folio is busy; do not offer it.
///
/// - Not mapped: volatile.  Every use of it starts with a lookup.
/// - Mapped page cache: potentially volatile only if its file is mapped
///   shared and writable without write notification (see
///   `page_states_writes_unseen()`).  Otherwise every clean page table
///   entry of it is write-protected (`folio_mkclean()` before writeback,
///   `vma_wants_writenotify()` at mmap and mprotect), and the write fault
///   takes it back before the entry becomes writable.
/// - Mapped anonymous swap cache: potentially volatile.  An exclusive
///   folio is mapped writable and clean on a read fault, and a shared one
///   may carry a dirty entry from before the fork that shared it; only
///   the page tables know, and they are not walked here.  The write
///   hooks mark such a folio dirty when an entry of it becomes dirty, so
///   it is never offered while it differs from its slot.
pub(crate) fn writes_unseen(folio: &Folio, offer: Offer) -> Option<bool> {
    if !offer.mapped {
        return Some(false);
    }
    if offer.swap_cache {
        return Some(true);
    }
    // SAFETY: the caller holds a reference to `folio`.
    match unsafe { bindings::page_states_writes_unseen(folio.as_raw()) } {
        0 => Some(false),
        1 => Some(true),
        _ => None,
    }
}
