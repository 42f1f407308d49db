// SPDX-License-Identifier: GPL-2.0

//! Discard's eviction of the discarded folios that follow a discarded one
//! in its file.
//!
//! A host drops many pages at once, and a sequential reader that meets
//! the first of them would otherwise take one discard and one single-page
//! read per page: readahead stops at a folio still in the page cache,
//! discarded or not.  So discard also takes out of the page cache the
//! discarded folios among the ones that follow, up to a readahead window of
//! present folios that were not discarded, and readahead reads the holes
//! back in large I/Os.
//!
//! The task in discard evicts the first readahead window of them, and a
//! worker the rest of the run, while that task reads the start back: the
//! eviction's CPU time then overlaps the reads, which wait for the disk.
//!
//! # Locking
//!
//! Both hold one folio lock of the file across their run, which keeps the
//! file from being truncated past that folio and its inode from being
//! evicted (both lock every folio they remove), so the `address_space`
//! outlives the run: the task holds the folio it discards, the worker the
//! first discarded folio past the task's window, whose lock the task
//! hands over and which the worker evicts last.  While they hold it they
//! only try-lock the other folios of the file, which leave the page cache
//! in batches ([`CacheRemoval`]); a task that looks up a folio of the run
//! waits for its lock, then finds it gone and reads it back.

use crate::{
    hinting::Core,
    stats::{self, Event},
};
use core::pin::Pin;
use kernel::{
    alloc::{flags, KBox},
    bindings,
    mm::{
        address_space::AddressSpace,
        cache_removal::CacheRemoval,
        folio::{Folio, FolioLockGuard, UnmapMlocked},
    },
    new_work,
    prelude::*,
    types::ARef,
    workqueue::{self, impl_has_work, Work, WorkItem},
};

/// How many folios after a discarded one discard looks at: several of a
/// sequential reader's readahead windows (`VM_READAHEAD_PAGES` is 32, and
/// the window grows up to the device's `read_ahead_kb`), 2 MiB of a file.
const NEIGHBOURS: usize = 512;

/// How many present folios in a row that were not discarded end the run,
/// and how many folios the task in discard looks at before it hands the
/// rest to a worker: a readahead window (`VM_READAHEAD_PAGES`).
const WINDOW: usize = 32;

/// Where a look at the neighbours of a discarded folio stands.
#[derive(Clone, Copy)]
struct Run {
    /// The index of the next folio to look at.
    next: usize,
    /// The index the run ends before.
    end: usize,
    /// Present folios not discarded seen since the last discarded one.
    resident: usize,
}

/// A folio whose lock this value holds, which passes with the value from
/// the task that took it to a worker (a folio lock has no owner).
///
/// # Invariants
///
/// `self.0` is locked, and only this value unlocks it.
struct HeldLock(ARef<Folio>);

impl HeldLock {
    /// Runs `f` with the lock held.
    fn with<R>(&self, f: impl FnOnce(&FolioLockGuard<'_>) -> R) -> R {
        // SAFETY: by the type invariant the lock is held, until `self`
        // is dropped, which `&self` rules out meanwhile.
        unsafe { self.0.with_lock_held(f) }
    }
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        // SAFETY: by the type invariant we hold the lock.
        unsafe { bindings::folio_unlock(self.0.as_raw()) };
    }
}

/// The rest of a run, which a worker evicts.
#[pin_data]
struct RunWorker {
    core: Core,
    held: HeldLock,
    run: Run,
    #[pin]
    work: Work<RunWorker>,
}

impl_has_work! {
    impl HasWork<Self> for RunWorker { self.work }
}

impl WorkItem for RunWorker {
    type Pointer = Pin<KBox<RunWorker>>;

    fn run(this: Pin<KBox<RunWorker>>) {
        this.core.evict_rest(&this.held, this.run);
    }
}

impl Core {
    /// Evicts the discarded folios among the ones that follow `index` in
    /// `mapping`, whose folio at `index` the caller holds locked: the
    /// first [`WINDOW`] of them now, the rest from a worker (or now, if
    /// none can be queued).  Sleeps (it yields the CPU between folios).
    pub(crate) fn evict_neighbours(self, mapping: &AddressSpace, index: usize) {
        let mut run = Run {
            next: index.saturating_add(1),
            end: index.saturating_add(NEIGHBOURS),
            resident: 0,
        };
        let mut hand_over = run.next.saturating_add(WINDOW);
        let mut removal = CacheRemoval::new(mapping);
        while let Some(folio) = self.next_discarded(mapping, &mut run) {
            if run.next <= hand_over {
                self.try_evict(&mut removal, folio);
                continue;
            }
            match self.hand_over(folio, run) {
                Ok(()) => return,
                // No memory for the work: the folio stays for a later
                // lookup, and the task evicts the rest of the run.
                Err(None) => hand_over = usize::MAX,
                Err(Some(folio)) => self.try_evict(&mut removal, folio),
            }
        }
    }

    /// The next folio of `run` that the host discarded, or `None` at the
    /// run's end.  The emulated host's table knows what it discarded;
    /// ESSA's hypervisor drops pages without telling, so it is asked
    /// (`ESSA_SET_STABLE_IF_RESIDENT`, as a lookup would): a resident
    /// neighbour is stable from now on.  A host drops pages in its own
    /// order, so a run of discarded folios may hold a few that it left; a
    /// readahead window of them ends the run.
    fn next_discarded(self, mapping: &AddressSpace, run: &mut Run) -> Option<ARef<Folio>> {
        while run.next < run.end {
            let index = run.next;
            run.next += 1;
            // SAFETY: FFI call; discard runs where it may sleep, and folio
            // locks may be held across a reschedule.
            unsafe { bindings::cond_resched() };
            // SAFETY: the caller's folio lock keeps `mapping` alive.
            let raw = unsafe { bindings::page_states_cache_folio(mapping.as_raw(), index as _) };
            if raw.is_null() {
                // A hole: readahead fills it anyway.
                continue;
            }
            // SAFETY: `page_states_cache_folio` returned a reference.
            let folio =
                unsafe { ARef::from_raw(core::ptr::NonNull::new_unchecked(raw.cast::<Folio>())) };
            if self.make_stable(&folio).is_ok() {
                run.resident += 1;
                if run.resident == WINDOW {
                    run.next = run.end;
                }
                continue;
            }
            run.resident = 0;
            return Some(folio);
        }
        None
    }

    /// Adds the discarded `folio` to `removal` if it is still discarded
    /// under its lock; its contents are gone, so it leaves every mapping,
    /// as in [`Core::evict`].
    fn try_evict(self, removal: &mut CacheRemoval<'_>, folio: ARef<Folio>) {
        let removed = removal.try_add(folio, |locked| {
            self.table.get(locked.pfn()).discarded()
                && (!locked.mapped() || locked.unmap_all(UnmapMlocked::Unmap))
        });
        if removed {
            stats::count(Event::Refaulted, 1);
        }
    }

    /// Queues a worker that evicts the rest of `run`, holding the lock of
    /// the discarded `folio`, which it evicts last.  `Err` when the folio
    /// could not be locked (with the folio) or the work not queued.
    fn hand_over(self, folio: ARef<Folio>, run: Run) -> Result<(), Option<ARef<Folio>>> {
        let Some(locked) = folio.try_lock() else {
            return Err(Some(folio));
        };
        // Still discarded, and in the page cache (the lookup may have
        // raced a removal): the folio keeps the worker's file alive.
        if !self.table.get(locked.pfn()).discarded() || locked.address_space().is_none() {
            drop(locked);
            return Err(Some(folio));
        }
        core::mem::forget(locked);
        // INVARIANT: we locked `folio` and forgot the guard.
        let held = HeldLock(folio);
        // If the allocation fails, the initializer drops `held`: the folio
        // is unlocked and stays in the page cache.
        let worker = KBox::pin_init(
            pin_init!(RunWorker {
                core: self,
                held,
                run,
                work <- new_work!("page_states::neighbours"),
            }),
            flags::GFP_NOWAIT | flags::__GFP_NOWARN,
        )
        .map_err(|_| None)?;
        workqueue::system_unbound().enqueue(worker);
        Ok(())
    }

    /// The worker's job: evicts the discarded folios of `run`, then the
    /// folio of `held`.
    fn evict_rest(self, held: &HeldLock, mut run: Run) {
        held.with(|locked| {
            // `hand_over` checked that the locked folio is in a page cache.
            let Some(mapping) = locked.address_space() else {
                return;
            };
            let mut removal = CacheRemoval::new(mapping);
            while let Some(folio) = self.next_discarded(mapping, &mut run) {
                self.try_evict(&mut removal, folio);
            }
            drop(removal);
            if self.table.get(locked.pfn()).discarded() {
                self.evict(locked);
            }
        });
    }
}
