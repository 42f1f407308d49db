// SPDX-License-Identifier: GPL-2.0

//! The state table: one byte per page frame, and the guard that orders the
//! guest's state changes on one page.
//!
//! # Why a side table and not a page flag
//!
//! The 2007 series added `PG_discarded`, `PG_state_change` and
//! `PG_writable`.  Page flags are scarce, and review objected to spending
//! them; a folio's spare bits are claimed by others in 6.12.  One byte per
//! page frame (0.025% of memory) holds everything instead:
//!
//! - bits 0-3: the page's [`Entry`] (usage and content state);
//! - bit 7: the *guard*, held while the guest decides whether a page may
//!   become volatile and changes its state.
//!
//! The emulated host keeps its whole model here.  The ESSA backend keeps
//! the guest's side here too, so that making an ordinary stable page
//! stable again costs one load instead of an ESSA.
//!
//! # How state changes are guarded
//!
//! Making a page volatile is check-then-set: the folio is checked (clean,
//! unlocked, references all accounted for) and only then marked.  A task
//! that takes a new reference in between and makes the page stable must
//! not be overtaken by the stale "volatile".  So:
//!
//! - [`Table::try_guard`] sets the guard bit with a fully ordered
//!   compare-and-exchange before the checks read the folio;
//! - [`Table::update`] (make stable with ESSA, host discard) waits while
//!   the guard is held, and changes the byte with a compare-and-exchange;
//!   freeing and allocating, which nobody else can race with, use
//!   [`Table::update_unshared`];
//! - a task that took a reference (a fully ordered atomic) and then
//!   updates sees the guard, or the guard holder's checks see its
//!   reference: one of the two fully ordered operations comes first.
//!
//! The guard is a bit lock held, with preemption disabled, for a few loads
//! and at most one ESSA.  Its takers in the hooks never wait for it (some
//! run in interrupt context, where waiting for a holder on the same CPU
//! would never end); [`Table::guard`] and [`Table::update`] wait for its
//! holder, and are only called in task context.  Since a holder cannot be
//! preempted, a waiter waits for a CPU that is running the holder's few
//! instructions.  It nests inside every lock the hooks may hold (lruvec
//! lock, page table lock, i_pages lock) and takes none itself.

use crate::state::{Entry, Op, Refused};
use core::{
    marker::PhantomData,
    sync::atomic::{AtomicPtr, AtomicU8, Ordering},
};
use kernel::{
    alloc::{allocator::Vmalloc, flags::__GFP_ZERO, Allocator},
    bindings,
    error::code::ENOMEM,
    prelude::*,
};

const GUARD: u8 = 1 << 7;

/// One byte of state per page frame, from pfn 0 up to `max_pfn`.
///
/// # Invariants
///
/// Every byte holds a valid [`Entry`] (see [`Entry::to_bits`]), possibly
/// with [`GUARD`] set.
#[derive(Clone, Copy)]
pub(crate) struct Table(&'static [AtomicU8]);

// The hooks in <linux/page-states.h> read the table too: they take a
// stable, unguarded page's byte to be `PAGE_STATES_STABLE`.
const _: () = assert!(Entry::STABLE.to_bits() == bindings::PAGE_STATES_STABLE as u8);
// ...and a discarded page's byte to have a bit of `PAGE_STATES_CONTENT_ZERO`.
const _: () = assert!(Entry::CONTENT_ZERO == bindings::PAGE_STATES_CONTENT_ZERO as u8);

/// The guard of one page's state, from [`Table::try_guard`] or
/// [`Table::guard`].
///
/// It cannot leave the task that took it: it disabled preemption there,
/// as `bit_spin_lock()` does.
///
/// # Invariants
///
/// The holder set [`GUARD`] in `byte` and disabled preemption once, and
/// `entry` is what the byte held besides it.
pub(crate) struct Guard<'a> {
    byte: &'a AtomicU8,
    entry: Entry,
    _not_send: PhantomData<*mut ()>,
}

impl Table {
    /// Allocates a table for every page frame below `max_pfn`, all stable.
    ///
    /// The table lives as long as the kernel: the core is built in and the
    /// allocator's hooks may use it at any time.
    pub(crate) fn new_static() -> Result<Self> {
        // SAFETY: `max_pfn` is set by `setup_arch()`, before the initcalls
        // run, and on s390 never changes after: hotplugged standby memory
        // lies below it (see `<linux/page-states.h>`).
        let len = unsafe { bindings::max_pfn } as usize;
        let layout = core::alloc::Layout::array::<u8>(len.max(1)).map_err(|_| ENOMEM)?;
        let mem = Vmalloc::alloc(layout, GFP_KERNEL | __GFP_ZERO)?
            .as_ptr()
            .cast::<AtomicU8>();
        // SAFETY: `mem` is `len` zeroed bytes that are never freed, and
        // `AtomicU8` has the layout of `u8`; zero is `Entry::STABLE`.
        // INVARIANT: every byte is a valid entry.
        Ok(Self(unsafe { core::slice::from_raw_parts(mem, len) }))
    }

    /// A table over `bytes`, which must all be zero (stable), for tests.
    #[cfg(CONFIG_PAGE_STATES_KUNIT_TEST)]
    pub(crate) fn from_static(bytes: &'static [AtomicU8]) -> Self {
        assert!(bytes.iter().all(|b| b.load(Ordering::Relaxed) == 0));
        // INVARIANT: zero is `Entry::STABLE`.
        Self(bytes)
    }

    /// Makes the table the one [`Table::published`] returns and the hooks
    /// in `<linux/page-states.h>` read.  A page-cache lookup of a page
    /// whose byte has a bit of `take_mask` set goes through the core (see
    /// [`crate::backend::Backend::take_mask`]).  Done once, at boot.
    pub(crate) fn publish(self, take_mask: u8) {
        // SAFETY: FFI call; the bytes live as long as the kernel, and C
        // only reads them, with `READ_ONCE()`.
        unsafe {
            bindings::page_states_publish_table(
                self.0.as_ptr().cast_mut().cast(),
                self.0.len() as _,
                take_mask,
            )
        };
    }

    /// The table in use, if the core has started.
    #[inline]
    pub(crate) fn published() -> Option<Self> {
        let table = &raw mut bindings::page_states_table;
        // SAFETY: `bytes` is an aligned pointer in a static; it is written
        // once, by `page_states_publish_table()`, with release ordering.
        let bytes = unsafe { AtomicPtr::from_ptr(&raw mut (*table).bytes) }.load(Ordering::Acquire);
        if bytes.is_null() {
            return None;
        }
        // SAFETY: `pfns` was written before `bytes` was published, and
        // never changes after.
        let len = unsafe { (*table).pfns } as usize;
        // SAFETY: `publish` stored a static table's bytes and length, and
        // `AtomicU8` has the layout of `u8`.
        Some(Self(unsafe {
            core::slice::from_raw_parts(bytes.cast::<AtomicU8>(), len)
        }))
    }

    /// Whether page frame `pfn` is stable and nobody changes its state:
    /// the fast path of making a page stable, one load.
    #[inline]
    pub(crate) fn is_stable(&self, pfn: usize) -> bool {
        self.byte(pfn).map_or(true, |b| {
            b.load(Ordering::Acquire) == Entry::STABLE.to_bits()
        })
    }

    #[inline]
    fn byte(&self, pfn: usize) -> Option<&AtomicU8> {
        self.0.get(pfn)
    }

    /// The number of page frames the table covers.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// The state of page frame `pfn` (stable for frames outside the table).
    #[inline]
    pub(crate) fn get(&self, pfn: usize) -> Entry {
        self.byte(pfn).map_or(Entry::STABLE, |b| {
            decode(b.load(Ordering::Relaxed) & !GUARD)
        })
    }

    /// Applies `op` to page frame `pfn`, once nobody holds its guard, and
    /// returns the state before and after.
    pub(crate) fn update(&self, pfn: usize, op: Op) -> Result<(Entry, Entry), Refused> {
        let Some(byte) = self.byte(pfn) else {
            return Err(Refused::Invalid);
        };
        let mut old = byte.load(Ordering::Acquire);
        loop {
            if old & GUARD != 0 {
                core::hint::spin_loop();
                old = byte.load(Ordering::Acquire);
                continue;
            }
            let entry = decode(old);
            let new = entry.apply(op)?;
            if new == entry {
                return Ok((entry, new));
            }
            match byte.compare_exchange_weak(
                old,
                new.to_bits(),
                Ordering::SeqCst,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok((entry, new)),
                Err(now) => old = now,
            }
        }
    }

    /// Applies `op` to the `pages` page frames from `pfn`, which nobody
    /// else can reach: the pages are being freed, or were just allocated.
    /// Everyone else who changes a page's state (the hooks, discard, the
    /// emulated host) holds a reference to its folio, so a plain load and
    /// store do.
    ///
    /// Allocating a page is a store, freeing a stable page a load and a
    /// store: the allocator's hooks call those two steps,
    /// [`Table::set_stable_unshared`] and [`Table::set_unused_if_stable`],
    /// directly for a single page.
    pub(crate) fn update_unshared(&self, pfn: usize, pages: usize, op: Op) {
        for pfn in pfn..pfn.saturating_add(pages) {
            match op {
                Op::SetStable => self.set_stable_unshared(pfn),
                Op::SetUnused if self.set_unused_if_stable(pfn) => {}
                _ => {
                    let Some(byte) = self.byte(pfn) else {
                        return;
                    };
                    if let Ok(new) = decode(byte.load(Ordering::Relaxed) & !GUARD).apply(op) {
                        byte.store(new.to_bits(), Ordering::Relaxed);
                    }
                }
            }
        }
    }

    /// Marks page frame `pfn`, which is being freed, unused if it is
    /// stable (see [`Table::update_unshared`]); `false` if it is not.
    #[inline]
    pub(crate) fn set_unused_if_stable(&self, pfn: usize) -> bool {
        let Some(byte) = self.byte(pfn) else {
            return false;
        };
        if byte.load(Ordering::Relaxed) != Entry::STABLE.to_bits() {
            return false;
        }
        byte.store(Entry::UNUSED.to_bits(), Ordering::Relaxed);
        true
    }

    /// Marks page frame `pfn`, which was just allocated, stable (see
    /// [`Table::update_unshared`]).
    #[inline]
    pub(crate) fn set_stable_unshared(&self, pfn: usize) {
        if let Some(byte) = self.byte(pfn) {
            byte.store(Entry::STABLE.to_bits(), Ordering::Relaxed);
        }
    }

    /// Takes the guard of page frame `pfn`, unless someone else holds it.
    ///
    /// The caller must hold a reference to the folio of `pfn`.  Taking the
    /// guard never waits: its takers are opportunistic (a folio that is
    /// not made volatile now is offered again when it next goes idle), and
    /// some run in interrupt context, where waiting for a holder on the
    /// same CPU would never end.
    #[inline]
    pub(crate) fn try_guard(&self, pfn: usize) -> Option<Guard<'_>> {
        let byte = self.byte(pfn)?;
        let old = byte.load(Ordering::Relaxed);
        if old & GUARD != 0 {
            return None;
        }
        preempt_disable();
        if byte
            .compare_exchange(old, old | GUARD, Ordering::SeqCst, Ordering::Relaxed)
            .is_err()
        {
            preempt_enable();
            return None;
        }
        // INVARIANT: we set the guard and disabled preemption; `old` is the
        // entry.
        Some(Guard {
            byte,
            entry: decode(old),
            _not_send: PhantomData,
        })
    }

    /// Takes the guard of page frame `pfn`, waiting while someone else
    /// holds it.  `None` for a frame outside the table.
    ///
    /// Only for task context: the holder may be interrupted on this CPU
    /// (see the module documentation).
    #[inline]
    pub(crate) fn guard(&self, pfn: usize) -> Option<Guard<'_>> {
        let byte = self.byte(pfn)?;
        loop {
            if let Some(guard) = self.try_guard(pfn) {
                return Some(guard);
            }
            while byte.load(Ordering::Relaxed) & GUARD != 0 {
                core::hint::spin_loop();
            }
        }
    }

    /// Counts the page frames in each state: `count(entry)` is called once
    /// per frame.  The counts race with state changes; they are a census.
    pub(crate) fn census(&self, mut count: impl FnMut(Entry)) {
        for byte in self.0 {
            count(decode(byte.load(Ordering::Relaxed) & !GUARD));
        }
    }
}

impl Guard<'_> {
    /// The page's state while the guard is held.
    #[inline]
    pub(crate) fn entry(&self) -> Entry {
        self.entry
    }

    /// Applies `op` and releases the guard.
    #[inline]
    pub(crate) fn apply(self, op: Op) -> Result<Entry, Refused> {
        let result = self.entry.apply(op);
        let next = *result.as_ref().unwrap_or(&self.entry);
        self.release(next);
        result
    }

    /// Records what the hypervisor reported, whatever the table said: the
    /// page is volatile and its contents are gone.  Releases the guard.
    #[inline]
    pub(crate) fn record_discarded(self) {
        self.release(Entry::DISCARDED);
    }

    /// Records what the hypervisor reported, whatever the table said: the
    /// page is stable, its contents resident.  Releases the guard.
    #[inline]
    pub(crate) fn record_stable(self) {
        self.release(Entry::STABLE);
    }

    /// Stores `next` in the page's byte, which releases the guard.
    #[inline]
    fn release(self, next: Entry) {
        // Nobody else changes the byte while the guard is held.
        self.byte.store(next.to_bits(), Ordering::Release);
        core::mem::forget(self);
        preempt_enable();
    }
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        // By the type invariant, the byte is `entry` plus the guard, and
        // we disabled preemption when we set it.
        self.byte.store(self.entry.to_bits(), Ordering::Release);
        preempt_enable();
    }
}

fn preempt_disable() {
    // SAFETY: FFI call; paired with `preempt_enable` by the guard.
    unsafe { bindings::preempt_disable() };
}

fn preempt_enable() {
    // SAFETY: FFI call; the guard disabled preemption when it was taken.
    unsafe { bindings::preempt_enable() };
}

#[inline]
fn decode(bits: u8) -> Entry {
    // By the type invariant of `Table`, every byte is a valid entry.
    Entry::from_bits(bits).unwrap_or(Entry::STABLE)
}
