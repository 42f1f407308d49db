// SPDX-License-Identifier: GPL-2.0

//! MMU notifiers: secondary MMUs follow changes to a process's page tables.
//!
//! C header: [`include/linux/mmu_notifier.h`](srctree/include/linux/mmu_notifier.h)
//!
//! Every unmapping of a page, a discard by guest page hinting included,
//! runs between `invalidate_range_start` and `invalidate_range_end`.
//!
//! The C core WARNs when a notifier's `invalidate_range_start` fails with
//! anything but `-EAGAIN`, when it fails for a range that may block, and
//! when a notifier whose start can fail has an `invalidate_range_end` (it
//! calls the end of every notifier after a failed start, having no way to
//! tell which one failed).  [`MmuNotifierOps`] makes all three impossible:
//! only [`MmuNotifierOps::try_invalidate_range_start`] can fail, only with
//! the [`Busy`] that a range that may not block hands out, and a notifier
//! that implements it cannot implement
//! [`MmuNotifierOps::invalidate_range_end`].

use super::mm_struct::{Mm, MmUsers};
use crate::{
    bindings,
    error::{code::EAGAIN, to_result, Error},
    init::{self, PinInit},
    prelude::*,
    types::{ARef, Opaque},
};
use core::{ffi::c_int, marker::PhantomData, ops::Deref};

/// The range of an invalidation.
///
/// # Invariants
///
/// `self.0` is a range the MMU notifier core passed to a callback that is
/// still running.
pub struct Range<'a>(&'a bindings::mmu_notifier_range);

impl<'a> Range<'a> {
    /// Wraps a range passed by the MMU notifier core.
    ///
    /// # Safety
    ///
    /// `ptr` must be the range passed to a callback that runs for all of
    /// `'a`.
    pub(crate) unsafe fn from_raw(ptr: *const bindings::mmu_notifier_range) -> Self {
        // INVARIANT: the caller passes the range of a running callback.
        // SAFETY: the caller guarantees validity for `'a`; the core does
        // not change a range while callbacks run on it.
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
    /// a callback that would have to sleep gives up with the [`Busy`] of
    /// [`Range::may_block`] instead.
    pub fn blockable(&self) -> bool {
        // SAFETY: by the type invariant the range is valid.
        unsafe { bindings::mmu_notifier_range_blockable(self.0) }
    }

    /// `Ok(())` if the callback may sleep for this range; otherwise the
    /// [`Busy`] with which [`MmuNotifierOps::try_invalidate_range_start`]
    /// gives up (the core then fails the invalidation with `-EAGAIN`).
    ///
    /// A callback that needs to sleep calls `range.may_block()?` first.
    pub fn may_block(&self) -> Result<(), Busy<'a>> {
        if self.blockable() {
            Ok(())
        } else {
            // INVARIANT: the range may not block.
            Err(Busy(PhantomData))
        }
    }
}

/// A notifier gives up on an invalidation it cannot handle without
/// sleeping, for a range `'a` that may not block.
///
/// Only [`Range::may_block`] makes one, and only for a range that may not
/// block; the lifetime ties it to that range, so it cannot be kept for
/// another invalidation.
///
/// # Invariants
///
/// The range of lifetime `'a` may not block.
#[derive(Debug)]
pub struct Busy<'a>(PhantomData<&'a ()>);

/// What a secondary MMU does when the primary page tables change.
///
/// Only the methods an implementation defines are installed in the C
/// `mmu_notifier_ops`; the others are left NULL, which the core treats as
/// "nothing to do" (the defaults here do nothing either).
///
/// A notifier implements at most one of
/// [`MmuNotifierOps::invalidate_range_start`] and
/// [`MmuNotifierOps::try_invalidate_range_start`], and not the latter
/// together with [`MmuNotifierOps::invalidate_range_end`]: registering
/// one that does fails to build.
///
/// `invalidate_range_start` and `invalidate_range_end` also run for
/// ranges that may not block ([`Range::blockable`]); they must not sleep
/// then.
#[vtable]
pub trait MmuNotifierOps: Send + Sync + Sized {
    /// Mappings in `range` are about to change: stop using them.  Is
    /// always followed by [`MmuNotifierOps::invalidate_range_end`] with
    /// the same range.
    fn invalidate_range_start(&self, _range: &Range<'_>) {}

    /// Like [`MmuNotifierOps::invalidate_range_start`], for a notifier that
    /// cannot always stop using the mappings without sleeping: for a range
    /// that may not block it may give up with the [`Busy`] of
    /// [`Range::may_block`], and the core fails the invalidation with
    /// `-EAGAIN` (the OOM reaper then tries again later).
    ///
    /// The core has no way to tell a notifier which start failed, so a
    /// notifier that implements this gets no `invalidate_range_end` calls
    /// and cannot implement [`MmuNotifierOps::invalidate_range_end`].
    fn try_invalidate_range_start<'a>(&self, _range: &Range<'a>) -> Result<(), Busy<'a>> {
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

// SAFETY: `notifier` is only used by the C core, which synchronises its
// own accesses; callbacks on any task reach `data` by shared reference, and
// `T` is `Send + Sync`; `ARef<Mm>` is `Send + Sync`.
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
        // failure it is not registered.  `slot` is valid for writes and
        // pinned; `raw_mm` has users (the caller's `MmUsers`, borrowed for
        // `'a`), as registration requires.
        let notifier = unsafe {
            init::pin_init_from_closure(move |slot: *mut Opaque<bindings::mmu_notifier>| {
                let mn = Opaque::raw_get(slot);
                mn.write(core::mem::zeroed());
                (*mn).ops = &Vtable::<T>::OPS;
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
        // runs `release` if the mm has not been torn down yet and waits
        // (SRCU) for running callbacks, so `data`, dropped after this,
        // outlives them all.
        unsafe { bindings::mmu_notifier_unregister(self.notifier.get(), self.mm.as_raw()) };
    }
}

/// The `mmu_notifier_ops` of an `MmuNotifier<T>`.
struct Vtable<T>(PhantomData<T>);

impl<T: MmuNotifierOps> Vtable<T> {
    const OPS: bindings::mmu_notifier_ops = {
        // Evaluated when `MmuNotifier::<T>::register` is built: these turn
        // what the C core would WARN about at run time into build errors.
        assert!(
            !(T::HAS_INVALIDATE_RANGE_START && T::HAS_TRY_INVALIDATE_RANGE_START),
            "implement `invalidate_range_start` or `try_invalidate_range_start`, not both"
        );
        assert!(
            !(T::HAS_TRY_INVALIDATE_RANGE_START && T::HAS_INVALIDATE_RANGE_END),
            "a notifier with `try_invalidate_range_start` cannot have `invalidate_range_end`"
        );
        bindings::mmu_notifier_ops {
            release: if T::HAS_RELEASE {
                Some(Self::release)
            } else {
                None
            },
            clear_flush_young: if T::HAS_CLEAR_FLUSH_YOUNG {
                Some(Self::clear_flush_young)
            } else {
                None
            },
            clear_young: if T::HAS_CLEAR_YOUNG {
                Some(Self::clear_young)
            } else {
                None
            },
            test_young: if T::HAS_TEST_YOUNG {
                Some(Self::test_young)
            } else {
                None
            },
            invalidate_range_start: if T::HAS_INVALIDATE_RANGE_START {
                Some(Self::invalidate_range_start)
            } else if T::HAS_TRY_INVALIDATE_RANGE_START {
                Some(Self::try_invalidate_range_start)
            } else {
                None
            },
            invalidate_range_end: if T::HAS_INVALIDATE_RANGE_END {
                Some(Self::invalidate_range_end)
            } else {
                None
            },
            arch_invalidate_secondary_tlbs: None,
            alloc_notifier: None,
            free_notifier: None,
        }
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
        // SAFETY: the core passes our notifier, embedded in a live
        // `MmuNotifier<T>` (unregistering waits for callbacks), and the mm
        // it is registered on, to which registration took an `mm_count`
        // reference that unregistering drops.
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
        // SAFETY: the core passes our notifier, embedded in a live
        // `MmuNotifier<T>`, and the range of this callback.
        unsafe { Self::data(mn).invalidate_range_start(&Range::from_raw(range)) };
        0
    }

    unsafe extern "C" fn try_invalidate_range_start(
        mn: *mut bindings::mmu_notifier,
        range: *const bindings::mmu_notifier_range,
    ) -> c_int {
        // SAFETY: the core passes our notifier, embedded in a live
        // `MmuNotifier<T>`, and the range of this callback.
        let ret = unsafe { Self::data(mn).try_invalidate_range_start(&Range::from_raw(range)) };
        match ret {
            Ok(()) => 0,
            // By the `Busy` invariant the range may not block: `-EAGAIN`
            // is the one failure the core accepts then, and `OPS` has no
            // `invalidate_range_end` for this notifier.
            Err(Busy(_)) => EAGAIN.to_errno(),
        }
    }

    unsafe extern "C" fn invalidate_range_end(
        mn: *mut bindings::mmu_notifier,
        range: *const bindings::mmu_notifier_range,
    ) {
        // SAFETY: the core passes our notifier, embedded in a live
        // `MmuNotifier<T>`, and the range of this callback.
        unsafe { Self::data(mn).invalidate_range_end(&Range::from_raw(range)) }
    }
}
