// SPDX-License-Identifier: GPL-2.0

//! Volatile page cache: the hooks that offer clean page-cache folios to
//! the host when they go idle, take them back when they are handed out,
//! and send a folio the host dropped through discard.
//!
//! # Lock order
//!
//! The hooks run under whatever their callers hold, up to the lruvec lock
//! with interrupts off, and take only the page's guard (see
//! [`crate::table`]), which nests inside everything.  Discard sleeps: it
//! runs only where its callers may (page cache lookups outside RCU), and
//! takes `folio_lock`, then `i_mmap_rwsem` or the `anon_vma` rwsem for the
//! rmap walk, then the page table locks and the `i_pages` lock, the order
//! of `mm/rmap.c`.

use crate::{
    backend::Backend,
    eligible::{self, Offer},
    mode::Mode,
    state::{Op, Refused, Usage},
    stats::{self, Event},
    table::Table,
};
use kernel::{bindings, ffi::c_uint, mm::folio::Folio, types::ARef};

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
        // Anonymous, shmem and large folios never qualify: one load.
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
        let allow_mapped = self.backend.allows_mapped();
        // Most folios fail here, before the guard is touched.
        if eligible::offer(folio, extra_refs, allow_mapped).is_none() {
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
        let Some(offer) = eligible::offer(folio, extra_refs, allow_mapped) else {
            return;
        };
        let mapped = offer == Offer::Mapped;
        self.backend.set_volatile(pfn, mapped);
        if guard.apply(Op::SetVolatile { writable: mapped }).is_ok() {
            stats::count(Event::Volatile, 1);
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
        match self.backend.make_stable(&self.table, pfn) {
            Ok(taken_back) => {
                if taken_back {
                    stats::count(Event::Stable, 1);
                }
                Ok(())
            }
            Err(Refused::Discarded) => {
                stats::count(Event::StableFailed, 1);
                Err(Refused::Discarded)
            }
            // Not a page the guest made volatile: nothing to take back.
            Err(Refused::Invalid) => Ok(()),
        }
    }

    /// Handles a folio the host discarded: unmaps it everywhere (MMU
    /// notifiers fire), takes it off the page cache, and drops the
    /// caller's reference, which frees it.  The next access reads the
    /// file again.  Sleeps.
    pub(crate) fn discard(self, folio: ARef<Folio>) {
        let locked = folio.lock();
        // Truncation, hole punching or reclaim may have removed it first;
        // they hold the folio lock while they do.
        if !self.table.get(folio.pfn()).discarded() || locked.address_space().is_none() {
            return;
        }
        locked.unmap_all();
        if locked.remove_from_page_cache() {
            stats::count(Event::Refaulted, 1);
            return;
        }
        // Someone else holds a reference for a moment (isolation by
        // compaction, a racing lookup that is about to fail as well): let
        // them finish before the caller looks the folio up again.
        drop(locked);
        // SAFETY: FFI call; discard runs where its callers may sleep.
        unsafe { bindings::msleep(1) };
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
/// The caller may hold no reference of its own, so the hook takes one.
///
/// # Safety
///
/// `folio` must be a folio of the memory map.
#[no_mangle]
pub(crate) unsafe extern "C" fn __page_states_folio_idle(folio: *mut bindings::folio) {
    let Some(core) = Core::volatile() else {
        return;
    };
    // SAFETY: a folio is a page of the memory map; its pfn does not need a
    // reference, and a page already offered needs nothing more.
    if !core
        .table
        .is_stable(unsafe { bindings::folio_pfn(folio) } as usize)
    {
        return;
    }
    // SAFETY: a folio is a page of the memory map.
    if let Some(folio) = unsafe { Folio::try_get_page(folio.cast()) } {
        core.make_volatile(&folio, 1);
    }
}

/// Hook: a page cache lookup found `folio` and holds a reference to it.
/// Returns `false` when the host had discarded it: then the folio has
/// gone through discard, the caller's reference is gone, and the caller
/// looks up again.  May sleep.
///
/// # Safety
///
/// `folio` must be a folio the caller holds a reference to, which is
/// handed over when the function returns `false`.
#[no_mangle]
pub(crate) unsafe extern "C" fn __page_states_get_folio(folio: *mut bindings::folio) -> bool {
    let Some(core) = Core::volatile() else {
        return true;
    };
    // SAFETY: the caller holds a reference.
    let borrowed = unsafe { Folio::from_raw(folio) };
    if core.make_stable(borrowed).is_ok() {
        return true;
    }
    // SAFETY: the caller hands its reference over.
    core.discard(unsafe { ARef::from_raw(core::ptr::NonNull::from(borrowed)) });
    false
}

/// Hook: a page cache read found the folios of `fbatch`, and the one at
/// `first` may have been discarded (the ones before it were not).  Cuts
/// the batch at the first folio the host discarded, which goes through
/// discard; the caller reads the rest of the range on its slow path.  May
/// sleep.
///
/// # Safety
///
/// `fbatch` must be a batch of folios the caller holds references to.
#[no_mangle]
pub(crate) unsafe extern "C" fn __page_states_get_batch(
    fbatch: *mut bindings::folio_batch,
    first: c_uint,
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
            // SAFETY: the batch's reference is dropped with the batch.
            drop(unsafe {
                ARef::from_raw(core::ptr::NonNull::new_unchecked(rest.cast::<Folio>()))
            });
        }
        // SAFETY: the batch's reference is handed to discard.
        core.discard(unsafe { ARef::from_raw(core::ptr::NonNull::from(folio)) });
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

/// The s390 discard fault (program check 0x1a): user space touched,
/// through `folio`'s mapping, a page that the hypervisor discarded.  The
/// folio goes through discard; the access is then retried, faults, and
/// reads the page back from its file.  Sleeps.
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
    // The hypervisor said so: record it where discard looks.
    let _ = core.table.update(folio.pfn(), Op::HostDiscard);
    core.discard(folio);
}

// The definitions above must match the C declarations in
// include/linux/page-states.h: each line only builds if they do.
type FolioHook = unsafe extern "C" fn(*mut bindings::folio);
type FolioCheck = unsafe extern "C" fn(*mut bindings::folio) -> bool;
const _: [FolioHook; 2] = [__page_states_folio_put, bindings::__page_states_folio_put];
const _: [FolioHook; 2] = [__page_states_lru_add, bindings::__page_states_lru_add];
const _: [FolioHook; 2] = [__page_states_folio_idle, bindings::__page_states_folio_idle];
const _: [FolioHook; 2] = [
    page_states_discard_fault,
    bindings::page_states_discard_fault,
];
const _: [FolioCheck; 2] = [__page_states_get_folio, bindings::__page_states_get_folio];
const _: [FolioCheck; 2] = [
    __page_states_make_stable,
    bindings::__page_states_make_stable,
];
const _: [unsafe extern "C" fn(*mut bindings::folio_batch, c_uint); 2] =
    [__page_states_get_batch, bindings::__page_states_get_batch];
