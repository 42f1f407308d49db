// SPDX-License-Identifier: GPL-2.0

//! Event counters of the page-state core, in `/proc/vmstat` as
//! `page_states_*`.  They are the kernel's per-cpu VM event counters, so
//! the hooks count without sharing a cache line.

use kernel::bindings;

/// An event the core counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    /// Folios made volatile (`page_states_volatile`).
    Volatile,
    /// Volatile folios made stable again (`page_states_stable`).
    Stable,
    /// Volatile pages the host discarded (`page_states_discarded`).
    Discarded,
    /// Discarded folios taken off the page cache, to be read again from
    /// their file (`page_states_refaulted`).
    Refaulted,
    /// Attempts to make a discarded folio stable (`page_states_stable_failed`).
    StableFailed,
    /// Swap-cache folios made volatile, counted in `Volatile` too
    /// (`page_states_swap_volatile`).
    SwapVolatile,
    /// Volatile swap-cache pages the emulated host discarded, counted in
    /// `Discarded` too (`page_states_swap_discarded`).
    SwapDiscarded,
    /// Discarded folios taken off the swap cache, to be read again from
    /// their swap slot (`page_states_swap_refaulted`).
    SwapRefaulted,
    /// Folios made potentially volatile, counted in `Volatile` too
    /// (`page_states_pot_volatile`).
    PotVolatile,
    /// Volatile (not potentially volatile) folios the emulated host found
    /// dirty once it had taken their mappings away: written through a
    /// mapping without a fault that took them back, which is a bug in
    /// [`crate::eligible::writes_unseen`] (`page_states_volatile_dirty`).
    VolatileDirty,
}

impl Event {
    #[inline]
    fn item(self) -> bindings::vm_event_item {
        match self {
            Event::Volatile => bindings::vm_event_item_PGSTATES_VOLATILE,
            Event::Stable => bindings::vm_event_item_PGSTATES_STABLE,
            Event::Discarded => bindings::vm_event_item_PGSTATES_DISCARDED,
            Event::Refaulted => bindings::vm_event_item_PGSTATES_REFAULTED,
            Event::StableFailed => bindings::vm_event_item_PGSTATES_STABLE_FAILED,
            Event::SwapVolatile => bindings::vm_event_item_PGSTATES_SWAP_VOLATILE,
            Event::SwapDiscarded => bindings::vm_event_item_PGSTATES_SWAP_DISCARDED,
            Event::SwapRefaulted => bindings::vm_event_item_PGSTATES_SWAP_REFAULTED,
            Event::PotVolatile => bindings::vm_event_item_PGSTATES_POT_VOLATILE,
            Event::VolatileDirty => bindings::vm_event_item_PGSTATES_VOLATILE_DIRTY,
        }
    }
}

/// Counts `n` events.
#[inline]
pub(crate) fn count(event: Event, n: usize) {
    // SAFETY: FFI call; the item is a valid VM event.
    unsafe { bindings::count_vm_events(event.item(), n as _) };
}
