// SPDX-License-Identifier: GPL-2.0

//! Event counters of the page-state core, shown in sysfs.

use core::sync::atomic::{AtomicUsize, Ordering};

/// A monotonic event counter.
pub(crate) struct Counter(AtomicUsize);

impl Counter {
    const fn new() -> Self {
        Self(AtomicUsize::new(0))
    }

    /// Counts `n` more events.
    pub(crate) fn add(&self, n: usize) {
        // The counters order nothing: they are statistics.
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// Returns the number of events so far.
    pub(crate) fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// Pages that went through the free hook.
pub(crate) static PAGES_FREED: Counter = Counter::new();
/// Pages that went through the allocation hook.
pub(crate) static PAGES_ALLOCATED: Counter = Counter::new();
/// Pages whose state a backend passed on to the hypervisor.
pub(crate) static PAGES_HINTED: Counter = Counter::new();
