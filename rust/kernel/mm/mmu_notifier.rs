// SPDX-License-Identifier: GPL-2.0

//! MMU notifiers: secondary MMUs follow changes to a process's page tables.
//!
//! C header: [`include/linux/mmu_notifier.h`](srctree/include/linux/mmu_notifier.h)
//!
//! Every unmapping of a page, a discard by guest page hinting included,
//! runs between `invalidate_range_start` and `invalidate_range_end`.

use super::mm_struct::{Mm, MmUsers};
use crate::{
    bindings,
    error::{to_result, Error, Result},
    init::{self, PinInit},
    prelude::*,
    types::{ARef, Opaque},
};
use core::{ffi::c_int, marker::PhantomData, ops::Deref};

/// The range of an invalidation.
pub struct Range<'a>(&'a bindings::mmu_notifier_range);

impl<'a> Range<'a> {
    /// Wraps a range passed by the MMU notifier core.
    ///
    /// # Safety
    ///
    /// `ptr` must be valid for `'a`.
    pub(crate) unsafe fn from_raw(ptr: *const bindings::mmu_notifier_range) -> Self {
        // SAFETY: the caller guarantees validity.
        Self(unsafe { &*ptr })
    }

    /// The first address of the range.
    pub fn start(&self) -> usize {
        self.0.start as usize
    }

    /// The address just past the range.
    pub fn end(&self) -> usize {
        self.0.end as usize
    }

    /// Whether the callback may sleep.  When it may not (the OOM reaper),
    /// a callback that would have to sleep returns `EAGAIN` instead.
    pub fn blockable(&self) -> bool {
        // SAFETY: the range is valid.
        unsafe { bindings::mmu_notifier_range_blockable(self.0) }
    }
}

/// What a secondary MMU does when the primary page tables change.  Every
/// method has a default that does nothing.
pub trait MmuNotifierOps: Send + Sync + Sized {
    /// Mappings in `range` are about to change: stop using them.  Is
    /// always followed by [`MmuNotifierOps::invalidate_range_end`] with
    /// the same range, even when it fails.
    fn invalidate_range_start(&self, _range: &Range<'_>) -> Result {
        Ok(())
    }

    /// The change announced by `invalidate_range_start` is done.
    fn invalidate_range_end(&self, _range: &Range<'_>) {}

    /// Clears the accessed state of secondary mappings in `start..end`,
    /// flushing them; returns whether any was young.
    fn clear_flush_young(&self, _mm: &Mm, _start: usize, _end: usize) -> bool {
        false
    }

    /// Like `clear_flush_young`, without the flush.
    fn clear_young(&self, _mm: &Mm, _start: usize, _end: usize) -> bool {
        false
    }

    /// Whether the secondary mapping of `address` was accessed.
    fn test_young(&self, _mm: &Mm, _address: usize) -> bool {
        false
    }

    /// The address space is going away: drop every secondary mapping.
    fn release(&self, _mm: &Mm) {}
}

/// An MMU notifier registered on an address space, carrying `T`.
///
/// Registration happens when the notifier is initialised in place, after
/// `T`, so no callback sees it half built; dropping it unregisters and
/// waits until no callback runs any more.
///
/// # Invariants
///
/// `notifier` is registered on `mm` with [`Vtable::<T>::OPS`].
#[pin_data(PinnedDrop)]
pub struct MmuNotifier<T: MmuNotifierOps> {
    data: T,
    mm: ARef<Mm>,
    #[pin]
    notifier: Opaque<bindings::mmu_notifier>,
}

// SAFETY: the C side only needs the notifier pinned; `T` is `Send + Sync`.
unsafe impl<T: MmuNotifierOps> Send for MmuNotifier<T> {}
// SAFETY: as above.
unsafe impl<T: MmuNotifierOps> Sync for MmuNotifier<T> {}

impl<T: MmuNotifierOps> MmuNotifier<T> {
    /// Registers a notifier carrying `data` on the address space `mm`,
    /// whose users the caller holds (registration takes `mmap_lock`).
    pub fn register<'a>(mm: &'a MmUsers<'a>, data: T) -> impl PinInit<Self, Error> + 'a
    where
        T: 'a,
    {
        let raw_mm = mm.mm().as_raw();
        // SAFETY: the closure fully initialises the notifier or fails; on
        // failure it is not registered.
        let notifier = unsafe {
            init::pin_init_from_closure(move |slot: *mut Opaque<bindings::mmu_notifier>| {
                let mn = Opaque::raw_get(slot);
                mn.write(core::mem::zeroed());
                (*mn).ops = &Vtable::<T>::OPS;
                // `mm` has users, as registration requires.
                to_result(bindings::mmu_notifier_register(mn, raw_mm))
            })
        };
        try_pin_init!(Self {
            data,
            mm: ARef::from(mm.mm()),
            notifier <- notifier,
        }? Error)
    }

    /// The address space the notifier is registered on.
    pub fn mm(&self) -> &Mm {
        &self.mm
    }
}

impl<T: MmuNotifierOps> Deref for MmuNotifier<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.data
    }
}

#[pinned_drop]
impl<T: MmuNotifierOps> PinnedDrop for MmuNotifier<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: by the type invariant the notifier is registered on
        // `mm`, to which we hold an `mm_count` reference.  Unregistering
        // waits (SRCU) for running callbacks, so `data` outlives them.
        unsafe { bindings::mmu_notifier_unregister(self.notifier.get(), self.mm.as_raw()) };
    }
}

/// The `mmu_notifier_ops` of an `MmuNotifier<T>`.
struct Vtable<T>(PhantomData<T>);

impl<T: MmuNotifierOps> Vtable<T> {
    const OPS: bindings::mmu_notifier_ops = bindings::mmu_notifier_ops {
        release: Some(Self::release),
        clear_flush_young: Some(Self::clear_flush_young),
        clear_young: Some(Self::clear_young),
        test_young: Some(Self::test_young),
        invalidate_range_start: Some(Self::invalidate_range_start),
        invalidate_range_end: Some(Self::invalidate_range_end),
        arch_invalidate_secondary_tlbs: None,
        alloc_notifier: None,
        free_notifier: None,
    };

    /// # Safety
    ///
    /// `mn` must be the notifier of a live `MmuNotifier<T>`.
    unsafe fn data<'a>(mn: *mut bindings::mmu_notifier) -> &'a T {
        // SAFETY: the caller guarantees `mn` is embedded in an
        // `MmuNotifier<T>`, which outlives every callback.
        unsafe {
            &(*crate::container_of!(
                mn.cast::<Opaque<bindings::mmu_notifier>>(),
                MmuNotifier<T>,
                notifier
            ))
            .data
        }
    }

    unsafe extern "C" fn release(mn: *mut bindings::mmu_notifier, mm: *mut bindings::mm_struct) {
        // SAFETY: the core passes our notifier and its live mm.
        unsafe { Self::data(mn).release(Mm::from_raw(mm)) }
    }

    unsafe extern "C" fn clear_flush_young(
        mn: *mut bindings::mmu_notifier,
        mm: *mut bindings::mm_struct,
        start: crate::ffi::c_ulong,
        end: crate::ffi::c_ulong,
    ) -> c_int {
        // SAFETY: as in `release`.
        let young = unsafe {
            Self::data(mn).clear_flush_young(Mm::from_raw(mm), start as usize, end as usize)
        };
        young as c_int
    }

    unsafe extern "C" fn clear_young(
        mn: *mut bindings::mmu_notifier,
        mm: *mut bindings::mm_struct,
        start: crate::ffi::c_ulong,
        end: crate::ffi::c_ulong,
    ) -> c_int {
        // SAFETY: as in `release`.
        let young =
            unsafe { Self::data(mn).clear_young(Mm::from_raw(mm), start as usize, end as usize) };
        young as c_int
    }

    unsafe extern "C" fn test_young(
        mn: *mut bindings::mmu_notifier,
        mm: *mut bindings::mm_struct,
        address: crate::ffi::c_ulong,
    ) -> c_int {
        // SAFETY: as in `release`.
        let young = unsafe { Self::data(mn).test_young(Mm::from_raw(mm), address as usize) };
        young as c_int
    }

    unsafe extern "C" fn invalidate_range_start(
        mn: *mut bindings::mmu_notifier,
        range: *const bindings::mmu_notifier_range,
    ) -> c_int {
        // SAFETY: the core passes our notifier and a valid range.
        let ret = unsafe { Self::data(mn).invalidate_range_start(&Range::from_raw(range)) };
        match ret {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    }

    unsafe extern "C" fn invalidate_range_end(
        mn: *mut bindings::mmu_notifier,
        range: *const bindings::mmu_notifier_range,
    ) {
        // SAFETY: the core passes our notifier and a valid range.
        unsafe { Self::data(mn).invalidate_range_end(&Range::from_raw(range)) }
    }
}
