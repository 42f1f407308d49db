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
//! The guard is a bit lock held for a few loads.  Its takers never wait
//! for it (some run in interrupt context); [`Table::update`] waits for
//! its holder, which holds a reference to the folio.  It nests inside every lock the hooks may hold
//! (lruvec lock, page table lock, i_pages lock) and takes none itself.

use crate::state::{Entry, Op, Refused};
use core::sync::atomic::{AtomicPtr, AtomicU8, AtomicUsize, Ordering};
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

/// The table in use, once the core has started: its bytes and length.
static PUBLISHED: AtomicPtr<AtomicU8> = AtomicPtr::new(core::ptr::null_mut());
static PUBLISHED_LEN: AtomicUsize = AtomicUsize::new(0);

/// The guard of one page's state, from [`Table::guard`].
///
/// # Invariants
///
/// The holder set [`GUARD`] in `byte`, and `entry` is what the byte held
/// besides it.
pub(crate) struct Guard<'a> {
    byte: &'a AtomicU8,
    entry: Entry,
}

impl Table {
    /// Allocates a table for every page frame below `max_pfn`, all stable.
    ///
    /// The table lives as long as the kernel: the core is built in and the
    /// allocator's hooks may use it at any time.
    pub(crate) fn new_static() -> Result<Self> {
        // SAFETY: `max_pfn` is set before the initcalls run and only grows
        // with memory hotplug, which the core does not support.
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

    /// Makes the table the one [`Table::published`] returns.  Done once,
    /// at boot.
    pub(crate) fn publish(self) {
        PUBLISHED_LEN.store(self.0.len(), Ordering::Relaxed);
        PUBLISHED.store(self.0.as_ptr().cast_mut(), Ordering::Release);
    }

    /// The table in use, if the core has started.
    #[inline]
    pub(crate) fn published() -> Option<Self> {
        let ptr = PUBLISHED.load(Ordering::Acquire);
        if ptr.is_null() {
            return None;
        }
        let len = PUBLISHED_LEN.load(Ordering::Relaxed);
        // SAFETY: `publish` stored a static table's bytes and length, the
        // length before the pointer.
        Some(Self(unsafe { core::slice::from_raw_parts(ptr, len) }))
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

    /// Applies `op` to page frame `pfn`, which nobody else can reach: the
    /// page is being freed, or was just allocated.  Everyone else who
    /// changes a page's state (the hooks, discard, the emulated host)
    /// holds a reference to its folio, so a plain load and store do.
    ///
    /// This runs for every page the allocator hands out or takes back, so
    /// allocation is a store, and freeing a load and a store.
    pub(crate) fn update_unshared(&self, pfn: usize, op: Op) {
        let Some(byte) = self.byte(pfn) else {
            return;
        };
        let new = match op {
            Op::SetStable => Entry::STABLE,
            _ => match decode(byte.load(Ordering::Relaxed) & !GUARD).apply(op) {
                Ok(new) => new,
                Err(_) => return,
            },
        };
        byte.store(new.to_bits(), Ordering::Relaxed);
    }

    /// [`Table::update_unshared`] for the `pages` pages at `page`.
    ///
    /// # Safety
    ///
    /// `page` must head `pages` pages of the memory map.
    pub(crate) unsafe fn update_pages_unshared(
        &self,
        page: *mut bindings::page,
        pages: usize,
        op: Op,
    ) {
        // SAFETY: the caller passes pages of the memory map.
        let pfn = unsafe { bindings::page_to_pfn(page) } as usize;
        for i in 0..pages {
            self.update_unshared(pfn + i, op);
        }
    }

    /// Takes the guard of page frame `pfn`, unless someone else holds it.
    ///
    /// The caller must hold a reference to the folio of `pfn`.  Taking the
    /// guard never waits: its takers are opportunistic (a folio that is
    /// not made volatile now is offered again when it next goes idle), and
    /// some run in interrupt context, where waiting for a holder on the
    /// same CPU would never end.
    pub(crate) fn try_guard(&self, pfn: usize) -> Option<Guard<'_>> {
        let byte = self.byte(pfn)?;
        let old = byte.load(Ordering::Relaxed);
        if old & GUARD != 0 {
            return None;
        }
        byte.compare_exchange(old, old | GUARD, Ordering::SeqCst, Ordering::Relaxed)
            .ok()?;
        // INVARIANT: we set the guard; `old` is the entry.
        Some(Guard {
            byte,
            entry: decode(old),
        })
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
    pub(crate) fn entry(&self) -> Entry {
        self.entry
    }

    /// Applies `op` and releases the guard.
    pub(crate) fn apply(self, op: Op) -> Result<Entry, Refused> {
        let result = self.entry.apply(op);
        let next = *result.as_ref().unwrap_or(&self.entry);
        // Nobody else changes the byte while the guard is held.
        self.byte.store(next.to_bits(), Ordering::Release);
        core::mem::forget(self);
        result
    }
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        // By the type invariant, the byte is `entry` plus the guard.
        self.byte.store(self.entry.to_bits(), Ordering::Release);
    }
}

fn decode(bits: u8) -> Entry {
    // By the type invariant of `Table`, every byte is a valid entry.
    Entry::from_bits(bits).unwrap_or(Entry::STABLE)
}
