// SPDX-License-Identifier: GPL-2.0

//! Volatile page and swap cache: the hooks that offer clean cached folios
//! to the host when they go idle, take them back when they are handed out,
//! and send a folio the host dropped through discard.
//!
//! # Lock order
//!
//! The hooks run under whatever their callers hold, up to the lruvec lock
//! with interrupts off, and take only the page's guard (see
//! [`crate::table`]), which nests inside everything.  Discard sleeps: it
//! runs only where its callers may (page cache lookups outside RCU, not
//! with `FGP_NOWAIT` or `IOCB_NOWAIT`), and takes `folio_lock`, then
//! `i_mmap_rwsem` (a swap-cache folio: the `anon_vma` rwsem) for the rmap
//! walk, then the page table locks, then the inode's `i_lock` and the
//! `i_pages` lock (the swap cache's `i_pages` lock), the order of
//! `mm/rmap.c`, `mm/filemap.c` and `mm/swap_state.c`.  While it holds one
//! folio's lock it only try-locks the folios after it in the same file,
//! and so does the worker it hands the rest of a discarded run to, which
//! holds the lock of one folio of the run instead ([`crate::neighbours`]).
//!
//! The swap cache is also looked up under page table locks (zapping a
//! range, mincore) and where sleeping is not allowed (zswap writeback).
//! Those lookups never go to discard: only the swap cache's hand-outs do
//! (`page_states_swap_get()`).  A folio that leaves the swap cache while
//! in use becomes the only copy of its data, so it is taken back first
//! (`page_states_take_back()`, which spins on the page's guard at most);
//! if the host dropped it, it stays in the swap cache and so does its
//! slot.
//!
//! # Progress
//!
//! Discard never waits for the other holders of references to a folio:
//! it takes the folio out of the page cache as truncation does, and they
//! keep a folio that no lookup finds any more.  Any number of tasks that
//! look up one discarded folio queue on its lock; the first removes it,
//! the others find it gone, drop their references and look up again,
//! which reads the page back from its file.

use crate::{
    backend::Backend,
    eligible,
    mode::Mode,
    state::{Op, Refused, Usage},
    stats::{self, Event},
    table::Table,
};
use kernel::{
    bindings,
    ffi::c_uint,
    mm::folio::{Folio, FolioLockGuard, UnmapMlocked},
    types::ARef,
};

/// What the hooks work with once the core runs in volatile mode.
#[derive(Clone, Copy)]
pub(crate) struct Core {
    pub(crate) table: Table,
    pub(crate) backend: Backend,
}

impl Core {
    /// The core, if it runs in volatile mode.
    #[inline]
    pub(crate) fn volatile() -> Option<Self> {
        if Mode::current() != Mode::Volatile {
            return None;
        }
        Some(Self {
            table: Table::published()?,
            backend: Backend::current(),
        })
    }

    /// Offers `folio` to the host if it qualifies; the caller holds
    /// `extra_refs` references besides the page cache's and the mappings'.
    pub(crate) fn make_volatile(self, folio: &Folio, extra_refs: i32) {
        // Large folios, and anonymous and shmem folios outside the swap
        // cache, never qualify: one load.
        if eligible::never(folio) {
            return;
        }
        let pfn = folio.pfn();
        // Already offered (the common case for a page in use, which the
        // inline hooks filter out before they call the core), or
        // discarded.  The emulated host keeps a volatile page volatile
        // while the guest uses it, and refuses to discard it while it is
        // dirty, under writeback or referenced.
        if !self.table.is_stable(pfn) {
            return;
        }
        // Most folios fail here, before the guard is touched.
        if eligible::offer(folio, extra_refs).is_none() {
            return;
        }
        let Some(guard) = self.table.try_guard(pfn) else {
            return;
        };
        if guard.entry().usage() != Usage::Stable {
            return;
        }
        // With the guard held, a reference taken by a task that will make
        // the folio stable shows in the counts, or that task waits for us.
        let Some(offer) = eligible::offer(folio, extra_refs) else {
            return;
        };
        let Some(writable) = eligible::writes_unseen(folio, offer) else {
            return;
        };
        // SAFETY: we hold the guard, and checked under it that the folio
        // is clean page or swap cache that only the cache and its mappings
        // use, and whether a mapping may write it unseen.  A clean folio
        // has no dirty page table entry: `folio_mkclean()` cleans the
        // entries of page cache before the folio, and where an entry
        // becomes dirty on a fault (every write to a clean entry faults on
        // s390, the only ESSA machine), the write hooks mark the folio
        // dirty first.
        unsafe { self.backend.set_volatile(pfn, writable) };
        if guard.apply(Op::SetVolatile { writable }).is_ok() {
            stats::count(Event::Volatile, 1);
            if offer.swap_cache {
                stats::count(Event::SwapVolatile, 1);
            }
            if writable {
                stats::count(Event::PotVolatile, 1);
            }
        }
    }

    /// Takes `folio`, which the caller holds a reference to, back from the
    /// host.  `Err` means the host discarded it.
    #[inline]
    pub(crate) fn make_stable(self, folio: &Folio) -> Result<(), Refused> {
        let pfn = folio.pfn();
        if self.table.is_stable(pfn) {
            return Ok(());
        }
        counted(self.backend.make_stable(&self.table, pfn))
    }

    /// Takes `folio`, which the caller holds (locked, or under a page
    /// table lock), back from the host for good: it is about to leave the
    /// swap cache while in use, or to be written.  Unlike
    /// [`Core::make_stable`], the emulated host's table records it stable
    /// too, so that neither a later discard nor the census sees a volatile
    /// page outside a cache.  `Err` means the host discarded it.  Never
    /// sleeps: it spins on the page's guard at most.
    pub(crate) fn take_back(self, folio: &Folio) -> Result<(), Refused> {
        counted(self.backend.take_back(&self.table, folio.pfn()))
    }

    /// Handles a folio the host discarded: unmaps it everywhere (MMU
    /// notifiers fire), takes it off the page cache with the discarded
    /// folios after it, or off the swap cache, and drops the caller's
    /// reference.  The next access reads the file or the swap slot again.
    /// Never waits for other users of the folio (see "Progress" above).
    /// Sleeps.
    pub(crate) fn discard(self, folio: ARef<Folio>) {
        let locked = folio.lock();
        // Truncation, hole punching, reclaim, swap-in or another discard
        // may have removed it first; they hold the folio lock while they
        // do.
        if !self.table.get(folio.pfn()).discarded() {
            return;
        }
        if locked.test_swapcache() {
            if !self.evict_swap(&locked) {
                // Still in the swap cache (a mapping could not be taken
                // away): the caller looks it up again, after others ran.
                drop(locked);
                // SAFETY: FFI call; discard runs where it may sleep.
                unsafe { bindings::cond_resched() };
            }
            return;
        }
        let Some(mapping) = locked.address_space() else {
            return;
        };
        // Our folio's lock keeps the file from being truncated past it, so
        // the address space outlives the neighbours' eviction.
        self.evict_neighbours(mapping, locked.index());
        self.evict(&locked);
    }

    /// Takes the locked, discarded `folio` out of its page cache.  Its
    /// contents are gone, so it leaves every mapping, `VM_LOCKED` ones
    /// included (it never was volatile while one mapped it: the host
    /// leaves locked memory alone).
    pub(crate) fn evict(self, folio: &FolioLockGuard<'_>) -> bool {
        if folio.mapped() && !folio.unmap_all(UnmapMlocked::Unmap) {
            return false;
        }
        if !folio.remove_from_page_cache() {
            return false;
        }
        stats::count(Event::Refaulted, 1);
        true
    }

    /// Takes the locked, discarded swap-cache `folio` out of its page
    /// tables, which get swap entries for its slot (the anonymous rmap
    /// walk, under the `anon_vma` rwsem), and out of the swap cache.  The
    /// slot keeps the data for those entries, and for shmem's.  A folio
    /// that stays mapped (a task pinned it, or fork copied a mapping behind
    /// the walk) stays in the swap cache: the next lookup tries again.
    fn evict_swap(self, folio: &FolioLockGuard<'_>) -> bool {
        if folio.mapped() && !folio.unmap_all(UnmapMlocked::Unmap) {
            return false;
        }
        // SAFETY: we hold the folio lock, and a reference.
        if !unsafe { bindings::page_states_swap_cache_remove(folio.as_raw()) } {
            return false;
        }
        stats::count(Event::SwapRefaulted, 1);
        true
    }
}

/// Counts what a backend's take-back did, and hides from the caller that
/// a page was not volatile at all (nothing to take back).
#[inline]
fn counted(taken_back: Result<bool, Refused>) -> Result<(), Refused> {
    match taken_back {
        Ok(was_volatile) => {
            if was_volatile {
                stats::count(Event::Stable, 1);
            }
            Ok(())
        }
        Err(Refused::Discarded) => {
            stats::count(Event::StableFailed, 1);
            Err(Refused::Discarded)
        }
        Err(Refused::Invalid) => Ok(()),
    }
}

/// Hook: the caller is about to drop its reference to `folio`.
///
/// # Safety
///
/// `folio` must be a folio the caller holds a reference to.
#[no_mangle]
pub(crate) unsafe extern "C" fn __page_states_folio_put(folio: *mut bindings::folio) {
    // SAFETY: the caller holds a reference for the duration.
    let folio = unsafe { Folio::from_raw(folio) };
    // Anonymous memory is most of what is put: reject it first.
    if eligible::never(folio) {
        return;
    }
    if let Some(core) = Core::volatile() {
        core.make_volatile(folio, 1);
    }
}

/// Hook: `folio` was added to an LRU list by a batch that still holds a
/// reference to it.
///
/// # Safety
///
/// `folio` must be a folio the caller holds (one) reference to.
#[no_mangle]
pub(crate) unsafe extern "C" fn __page_states_lru_add(folio: *mut bindings::folio) {
    // SAFETY: as for `__page_states_folio_put`.
    unsafe { __page_states_folio_put(folio) }
}

/// Hook: `folio` finished a read, or a fault mapped it and unlocked it.
/// The caller may hold no reference of its own, so the folio may have been
/// freed and reused meanwhile: the hook takes a reference before it looks
/// at the folio at all.
///
/// # Safety
///
/// `folio` must be a folio of the memory map.
#[no_mangle]
pub(crate) unsafe extern "C" fn __page_states_folio_idle(folio: *mut bindings::folio) {
    let Some(core) = Core::volatile() else {
        return;
    };
    // SAFETY: a folio is a page of the memory map.  `try_get_page` takes a
    // reference to whatever folio the page belongs to now, which
    // `make_volatile` checks from scratch.
    if let Some(folio) = unsafe { Folio::try_get_page(folio.cast()) } {
        core.make_volatile(&folio, 1);
    }
}

/// Hook: a page cache lookup found `folio` and holds a reference to it.
/// Returns `false` when the host had discarded it: then the caller's
/// reference is gone, and the caller looks up again.  Unless `nowait`,
/// the folio went through discard first, which may sleep; with `nowait`
/// the caller gives up (`-EAGAIN`) and its blocking retry discards.
///
/// # Safety
///
/// `folio` must be a folio the caller holds a reference to, which is
/// handed over when the function returns `false`.
#[no_mangle]
pub(crate) unsafe extern "C" fn __page_states_get_folio(
    folio: *mut bindings::folio,
    nowait: bool,
) -> bool {
    let Some(core) = Core::volatile() else {
        return true;
    };
    // SAFETY: the caller holds a reference.
    let borrowed = unsafe { Folio::from_raw(folio) };
    if core.make_stable(borrowed).is_ok() {
        return true;
    }
    // SAFETY: the caller hands its reference over.
    let folio = unsafe { ARef::from_raw(core::ptr::NonNull::from(borrowed)) };
    if !nowait {
        core.discard(folio);
    }
    false
}

/// Hook: a page cache read found the folios of `fbatch`, and the one at
/// `first` may have been discarded (the ones before it were not).  Cuts
/// the batch at the first folio the host discarded, which goes through
/// discard unless `nowait`; the caller reads the rest of the range on its
/// slow path (with `nowait`, it gives up there).  May sleep unless
/// `nowait`.
///
/// # Safety
///
/// `fbatch` must be a batch of folios the caller holds references to.
#[no_mangle]
pub(crate) unsafe extern "C" fn __page_states_get_batch(
    fbatch: *mut bindings::folio_batch,
    first: c_uint,
    nowait: bool,
) {
    let Some(core) = Core::volatile() else {
        return;
    };
    // SAFETY: the caller passes its batch.
    let fbatch = unsafe { &mut *fbatch };
    let nr = usize::from(fbatch.nr);
    for i in (first as usize)..nr {
        // SAFETY: the batch holds a reference to each of its folios.
        let folio = unsafe { Folio::from_raw(fbatch.folios[i]) };
        if core.make_stable(folio).is_ok() {
            continue;
        }
        fbatch.nr = i as u8;
        for &rest in &fbatch.folios[i + 1..nr] {
            // SAFETY: the batch no longer counts this folio (`nr` was cut
            // above), so its reference is ours to drop.
            drop(unsafe {
                ARef::from_raw(core::ptr::NonNull::new_unchecked(rest.cast::<Folio>()))
            });
        }
        // SAFETY: the batch's reference is ours now.
        let folio = unsafe { ARef::from_raw(core::ptr::NonNull::from(folio)) };
        if !nowait {
            core.discard(folio);
        }
        return;
    }
}

/// Hook: the caller holds `folio` (locked, or under RCU where it must not
/// sleep) and is about to use its contents.  Returns `false` when the host
/// had discarded it; the caller then leaves it alone, and the next lookup
/// sends it through discard.
///
/// # Safety
///
/// `folio` must be a folio the caller holds a reference to.
#[no_mangle]
pub(crate) unsafe extern "C" fn __page_states_make_stable(folio: *mut bindings::folio) -> bool {
    let Some(core) = Core::volatile() else {
        return true;
    };
    // SAFETY: the caller holds a reference.
    core.make_stable(unsafe { Folio::from_raw(folio) }).is_ok()
}

/// Hook: a swap cache lookup that hands `folio` out (to a swap-in, shmem,
/// swapoff or readahead) holds a reference to it.  Takes it back from the
/// host as a page-cache lookup does ([`Core::make_stable`]): with ESSA for
/// good, with the emulated host by a check, since the folio stays in the
/// swap cache, where a mapping makes it potentially volatile and the host
/// never discards it while it is referenced or dirty.  The paths that
/// take it out of the swap cache while in use take it back for good
/// (`__page_states_take_back`).  Returns `false` when the host had
/// discarded it: then
/// it went through discard, which removed it from the swap cache, the
/// caller's reference is gone, and the caller looks up again, which reads
/// it back from its swap slot.  Sleeps.
///
/// # Safety
///
/// `folio` must be a folio the caller holds a reference to, which is
/// handed over when the function returns `false`.
#[no_mangle]
pub(crate) unsafe extern "C" fn __page_states_swap_get(folio: *mut bindings::folio) -> bool {
    let Some(core) = Core::volatile() else {
        return true;
    };
    // SAFETY: the caller holds a reference, which it hands over on `false`.
    unsafe { swap_hand_out(core, folio, |folio| core.make_stable(folio)) }
}

/// Hook: [`__page_states_swap_get`] for a read fault, which maps `folio`
/// and reads nothing of it.  The folio stays as the host has it, with
/// either backend: only a discard the table already knows of sends it
/// through discard.  With ESSA, a page the hypervisor drops after this
/// check raises a discard fault at the next access through the mapping,
/// and a write through the clean entry faults first (s390 has no dirty
/// bit in its page table entries), where the write hooks take the folio
/// back.  So a read fault on a volatile swap-cache page costs no state
/// change, instead of a take-back and a re-offer.  Sleeps.
///
/// # Safety
///
/// As for [`__page_states_swap_get`].
#[no_mangle]
pub(crate) unsafe extern "C" fn __page_states_swap_peek(folio: *mut bindings::folio) -> bool {
    let Some(core) = Core::volatile() else {
        return true;
    };
    // SAFETY: the caller holds a reference, which it hands over on `false`.
    unsafe {
        swap_hand_out(core, folio, |folio| {
            counted(if core.table.get(folio.pfn()).discarded() {
                Err(Refused::Discarded)
            } else {
                Ok(false)
            })
        })
    }
}

/// Hands swap-cache folio `folio` out once `check` accepts it; otherwise
/// sends it through discard and returns `false`.
///
/// # Safety
///
/// `folio` must be a folio the caller holds a reference to, which is
/// handed over when the function returns `false`.
unsafe fn swap_hand_out(
    core: Core,
    folio: *mut bindings::folio,
    check: impl FnOnce(&Folio) -> Result<(), Refused>,
) -> bool {
    // SAFETY: the caller holds a reference.
    let borrowed = unsafe { Folio::from_raw(folio) };
    if check(borrowed).is_ok() {
        return true;
    }
    // SAFETY: the caller hands its reference over.
    core.discard(unsafe { ARef::from_raw(core::ptr::NonNull::from(borrowed)) });
    false
}

/// Hook: the caller holds `folio` (locked, or under a page table lock)
/// and is about to take it out of the swap cache while it is in use, or to
/// let a task write it.  Returns `false` when the host had discarded it:
/// the caller leaves it in the swap cache, whose slot holds the data, or
/// refaults.  Never sleeps.
///
/// # Safety
///
/// `folio` must be a folio the caller holds a reference to, or holds
/// mapped under a page table lock.
#[no_mangle]
pub(crate) unsafe extern "C" fn __page_states_take_back(folio: *mut bindings::folio) -> bool {
    let Some(core) = Core::volatile() else {
        return true;
    };
    // SAFETY: the caller keeps the folio allocated.
    core.take_back(unsafe { Folio::from_raw(folio) }).is_ok()
}

/// Hook: `folio` leaves the page cache and will be freed; the caller
/// holds the page cache's lock (with interrupts off) and the folio's.
/// The allocator may write its page before it tells the host the page is
/// unused: the host must not treat a write to it as a discard fault.
///
/// # Safety
///
/// `folio` must be a folio the caller holds locked.
#[no_mangle]
pub(crate) unsafe extern "C" fn __page_states_cache_delete(folio: *mut bindings::folio) {
    let Some(core) = Core::volatile() else {
        return;
    };
    // SAFETY: the caller holds the folio locked.
    let folio = unsafe { Folio::from_raw(folio) };
    core.backend.leave_page_cache(&core.table, folio.pfn());
}

/// Hook: migration is about to copy `folio`, which it has locked and
/// unmapped.  Returns `false` when the host had discarded it: it is not
/// copied (with ESSA, reading it would fault), and migration fails on it.
///
/// # Safety
///
/// `folio` must be a folio the caller holds locked and a reference to.
#[no_mangle]
pub(crate) unsafe extern "C" fn __page_states_migrate(folio: *mut bindings::folio) -> bool {
    let Some(core) = Core::volatile() else {
        return true;
    };
    // SAFETY: the caller holds a reference.
    core.make_stable(unsafe { Folio::from_raw(folio) }).is_ok()
}

/// Hook: migration gave up on `folio`, which it holds locked, and has
/// restored its mappings.  A folio the host discarded is taken off them
/// and off the page cache: migration frees it when it puts it back, so
/// that compaction and CMA find its page free.  A hypervisor drops mapped
/// folios too, without unmapping them, and while migration held the
/// folio its mappings were migration entries, which only migration takes
/// away again: so this waits until they are mappings again.  Sleeps.
///
/// # Safety
///
/// `folio` must be a folio the caller holds locked and a reference to.
#[no_mangle]
pub(crate) unsafe extern "C" fn __page_states_migrate_failed(folio: *mut bindings::folio) {
    let Some(core) = Core::volatile() else {
        return;
    };
    // SAFETY: the caller holds a reference.
    let folio = unsafe { Folio::from_raw(folio) };
    if !core.table.get(folio.pfn()).discarded() {
        return;
    }
    // SAFETY: the caller holds the folio lock for the duration.
    unsafe {
        folio.with_lock_held(|locked| {
            if locked.test_swapcache() {
                core.evict_swap(locked);
            } else if locked.address_space().is_some() {
                core.evict(locked);
            }
        })
    };
}

/// The s390 discard fault (program check 0x1a): user space touched,
/// through `folio`'s mapping, a page that the hypervisor discarded.  The
/// hypervisor is asked again: the folio goes through discard, or the page
/// is stable after all; either way the access is retried and makes
/// progress.  Sleeps.
///
/// # Safety
///
/// `folio` must be a folio the caller holds a reference to, which is
/// handed over.
#[no_mangle]
pub(crate) unsafe extern "C" fn page_states_discard_fault(folio: *mut bindings::folio) {
    // SAFETY: the caller hands its reference over.
    let folio = unsafe { ARef::from_raw(core::ptr::NonNull::new_unchecked(folio.cast::<Folio>())) };
    let Some(core) = Core::volatile() else {
        return;
    };
    if core
        .backend
        .resolve_discard_fault(&core.table, folio.pfn())
        .is_err()
    {
        core.discard(folio);
    }
}

// The definitions above must match the C declarations in
// include/linux/page-states.h: each line only builds if they do.
type FolioHook = unsafe extern "C" fn(*mut bindings::folio);
type FolioCheck = unsafe extern "C" fn(*mut bindings::folio) -> bool;
const _: [FolioHook; 2] = [__page_states_folio_put, bindings::__page_states_folio_put];
const _: [FolioHook; 2] = [__page_states_lru_add, bindings::__page_states_lru_add];
const _: [FolioHook; 2] = [__page_states_folio_idle, bindings::__page_states_folio_idle];
const _: [FolioHook; 2] = [
    __page_states_cache_delete,
    bindings::__page_states_cache_delete,
];
const _: [FolioHook; 2] = [
    page_states_discard_fault,
    bindings::page_states_discard_fault,
];
const _: [unsafe extern "C" fn(*mut bindings::folio, bool) -> bool; 2] =
    [__page_states_get_folio, bindings::__page_states_get_folio];
const _: [FolioCheck; 2] = [__page_states_migrate, bindings::__page_states_migrate];
const _: [FolioHook; 2] = [
    __page_states_migrate_failed,
    bindings::__page_states_migrate_failed,
];
const _: [FolioCheck; 2] = [
    __page_states_make_stable,
    bindings::__page_states_make_stable,
];
const _: [FolioCheck; 2] = [__page_states_take_back, bindings::__page_states_take_back];
const _: [FolioCheck; 2] = [__page_states_swap_get, bindings::__page_states_swap_get];
const _: [FolioCheck; 2] = [__page_states_swap_peek, bindings::__page_states_swap_peek];
const _: [unsafe extern "C" fn(*mut bindings::folio_batch, c_uint, bool); 2] =
    [__page_states_get_batch, bindings::__page_states_get_batch];
