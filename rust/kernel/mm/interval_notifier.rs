// SPDX-License-Identifier: GPL-2.0

//! Interval notifiers: a mirror of part of an address space, kept coherent
//! with the sequence-count protocol.
//!
//! C header: [`include/linux/mmu_notifier.h`](srctree/include/linux/mmu_notifier.h)
//!
//! The protocol, enforced by the types here:
//!
//! 1. [`IntervalNotifier::read_begin`] samples the sequence count;
//! 2. the mirror reads the page tables without holding its lock (for
//!    example with [`IntervalNotifier::hmm_fault`]);
//! 3. [`IntervalNotifier::lock_if_unchanged`] takes the mirror's lock and
//!    hands it out only if no invalidation ran since step 1; otherwise the
//!    caller starts again.
//!
//! Invalidations take the same lock, record the new sequence count under
//! it, and call [`IntervalInvalidate::invalidate`] on the state.

use super::{mm_struct::MmUsers, mmu_notifier::Range};
use crate::{
    bindings,
    error::{
        code::{EBUSY, EINVAL},
        to_result, Error, Result,
    },
    init::{self, PinInit},
    new_spinlock,
    prelude::*,
    sync::{lock::Guard, SpinLock},
    types::Opaque,
};
use core::marker::PhantomData;

/// The mirror state an interval notifier protects.
pub trait IntervalInvalidate: Send {
    /// Forget every entry in `range`.  Runs under the notifier's spinlock,
    /// so it must not sleep.
    fn invalidate(&mut self, range: &Range<'_>);
}

/// A sampled sequence count (step 1 of the protocol).
#[derive(Clone, Copy)]
pub struct ReadSeq(crate::ffi::c_ulong);

/// An interval notifier over `start..start + length` of an address space,
/// protecting mirror state `T` with a spinlock.  The subscription holds
/// its own `mm_count` reference to the address space.
///
/// # Invariants
///
/// `sub` is inserted with [`Vtable::<T>::OPS`] on the address space and
/// over the interval it was inserted with; insertion recorded both in
/// `sub`, and nothing changes them until removal.
#[pin_data(PinnedDrop)]
pub struct IntervalNotifier<T: IntervalInvalidate> {
    #[pin]
    state: SpinLock<T>,
    #[pin]
    sub: Opaque<bindings::mmu_interval_notifier>,
}

// SAFETY: the state is behind a lock; the subscription is only used
// through the C API, which is thread safe.
unsafe impl<T: IntervalInvalidate> Send for IntervalNotifier<T> {}
// SAFETY: as above.
unsafe impl<T: IntervalInvalidate> Sync for IntervalNotifier<T> {}

impl<T: IntervalInvalidate> IntervalNotifier<T> {
    /// Subscribes to invalidations of `start..start + length` of `mm`,
    /// whose users the caller holds.
    pub fn insert<'a>(
        mm: &'a MmUsers<'a>,
        start: usize,
        length: usize,
        state: T,
    ) -> impl PinInit<Self, Error> + 'a
    where
        T: 'a,
    {
        let raw_mm = mm.mm().as_raw();
        // INVARIANT: on success, `mmu_interval_notifier_insert` recorded
        // `raw_mm` and the interval in the subscription.
        // SAFETY: the closure initialises the subscription through the C
        // API or fails without inserting it.  `slot` is valid for writes and
        // pinned; `raw_mm` has users (the caller's `MmUsers`, borrowed for
        // `'a`), as insertion requires.
        let sub = unsafe {
            init::pin_init_from_closure(
                move |slot: *mut Opaque<bindings::mmu_interval_notifier>| {
                    let sub = Opaque::raw_get(slot);
                    sub.write(core::mem::zeroed());
                    to_result(bindings::mmu_interval_notifier_insert(
                        sub,
                        raw_mm,
                        start as _,
                        length as _,
                        &Vtable::<T>::OPS,
                    ))
                },
            )
        };
        try_pin_init!(Self {
            state <- new_spinlock!(state, "IntervalNotifier::state"),
            sub <- sub,
        }? Error)
    }

    /// Step 1: samples the sequence count.  May sleep while an
    /// invalidation of the interval is running.
    pub fn read_begin(&self) -> ReadSeq {
        // SAFETY: by the type invariant `sub` is inserted.
        ReadSeq(unsafe { bindings::mmu_interval_read_begin(self.sub.get()) })
    }

    /// Step 3: locks the state if no invalidation ran since `seq` was
    /// sampled; `None` means the caller's reads are stale: start again.
    pub fn lock_if_unchanged(&self, seq: ReadSeq) -> Option<Guard<'_, T, SpinLockBackend>> {
        let guard = self.state.lock();
        // SAFETY: `sub` is inserted; the check runs under the lock that
        // invalidations take to update the sequence count.
        if unsafe { bindings::mmu_interval_read_retry(self.sub.get(), seq.0) } {
            None
        } else {
            Some(guard)
        }
    }

    /// Locks the state, to read it.
    pub fn lock(&self) -> Guard<'_, T, SpinLockBackend> {
        self.state.lock()
    }

    /// The raw address space the notifier is inserted on.
    #[cfg(CONFIG_HMM_MIRROR)]
    fn raw_mm(&self) -> *mut bindings::mm_struct {
        // SAFETY: by the type invariant insertion set `sub->mm`, and
        // nothing changes it until removal.
        unsafe { (*self.sub.get()).mm }
    }

    /// The first and the last address (inclusive, as in C) of the
    /// interval the notifier is inserted over.
    #[cfg(CONFIG_HMM_MIRROR)]
    fn interval(&self) -> (usize, usize) {
        let sub = self.sub.get();
        // SAFETY: by the type invariant insertion set the interval tree
        // node's `start` and `last`, and nothing changes them until removal
        // (the tree code only updates the node's links and
        // `__subtree_last`).
        unsafe {
            (
                (*sub).interval_tree.start as usize,
                (*sub).interval_tree.last as usize,
            )
        }
    }

    /// Step 2 with HMM: faults in `pfns.len()` pages from `start` and
    /// stores their HMM pfn entries in `pfns`, retrying while an
    /// invalidation interferes.  Returns the sequence count to pass to
    /// [`Self::lock_if_unchanged`].
    ///
    /// `mm` must be the address space the notifier is inserted on, and
    /// the pages must lie within its interval, or this fails with `EINVAL`
    /// (as it does for an empty `pfns` and an unaligned `start`): the
    /// notifier would not see invalidations of pages outside it.  `EFAULT`
    /// and the other errors of `hmm_range_fault()` are about the pages
    /// themselves.
    #[cfg(CONFIG_HMM_MIRROR)]
    pub fn hmm_fault(
        &self,
        mm: &MmUsers<'_>,
        start: usize,
        pfns: &mut [crate::ffi::c_ulong],
        write: bool,
    ) -> Result<ReadSeq> {
        use crate::page::PAGE_SIZE;

        if mm.mm().as_raw() != self.raw_mm() || start % PAGE_SIZE != 0 {
            return Err(EINVAL);
        }
        let end = pfns
            .len()
            .checked_mul(PAGE_SIZE)
            .filter(|&len| len != 0)
            .and_then(|len| start.checked_add(len))
            .ok_or(EINVAL)?;
        let (first, last) = self.interval();
        // `end > start`, so `end - 1` does not wrap.
        if start < first || end - 1 > last {
            return Err(EINVAL);
        }
        let mut flags = bindings::hmm_pfn_flags_HMM_PFN_REQ_FAULT as crate::ffi::c_ulong;
        if write {
            flags |= bindings::hmm_pfn_flags_HMM_PFN_REQ_WRITE as crate::ffi::c_ulong;
        }
        loop {
            let seq = self.read_begin();
            let mut range = bindings::hmm_range {
                notifier: self.sub.get(),
                notifier_seq: seq.0,
                start: start as _,
                end: end as _,
                hmm_pfns: pfns.as_mut_ptr(),
                default_flags: flags,
                pfn_flags_mask: 0,
                dev_private_owner: core::ptr::null_mut(),
            };
            let ret = {
                let _lock = mm.mmap_read_lock();
                // SAFETY: `range` is valid and `hmm_pfns` has room for its
                // `(end - start) / PAGE_SIZE` entries; its notifier is
                // inserted (type invariant) over an interval that contains
                // the range.  `hmm_range_fault` walks the notifier's mm,
                // which is `mm` (checked above): the caller's users
                // reference keeps its page tables, and we hold its
                // `mmap_lock` for reading, as required.
                unsafe { bindings::hmm_range_fault(&mut range) }
            };
            match to_result(ret) {
                Err(e) if e == EBUSY => continue,
                Err(e) => return Err(e),
                Ok(()) => return Ok(seq),
            }
        }
    }
}

use crate::sync::lock::spinlock::SpinLockBackend;

#[pinned_drop]
impl<T: IntervalInvalidate> PinnedDrop for IntervalNotifier<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: by the type invariant `sub` is inserted; removing it
        // waits until no invalidation callback runs, so `state`, dropped
        // after this, outlives them.
        unsafe { bindings::mmu_interval_notifier_remove(self.sub.get()) };
    }
}

struct Vtable<T>(PhantomData<T>);

impl<T: IntervalInvalidate> Vtable<T> {
    const OPS: bindings::mmu_interval_notifier_ops = bindings::mmu_interval_notifier_ops {
        invalidate: Some(Self::invalidate),
    };

    unsafe extern "C" fn invalidate(
        sub: *mut bindings::mmu_interval_notifier,
        range: *const bindings::mmu_notifier_range,
        cur_seq: crate::ffi::c_ulong,
    ) -> bool {
        // SAFETY: the core passes our subscription, embedded in a live
        // `IntervalNotifier<T>` (removal waits for running invalidations).
        let this = unsafe {
            &*crate::container_of!(
                sub.cast::<Opaque<bindings::mmu_interval_notifier>>(),
                IntervalNotifier<T>,
                sub
            )
        };
        // A spinlock never sleeps, so this works for non-blockable ranges
        // too.
        let mut state = this.state.lock();
        // SAFETY: set under the lock that readers check the count under.
        unsafe { bindings::mmu_interval_set_seq(sub, cur_seq) };
        // SAFETY: the core passes the range of this callback.
        state.invalidate(&unsafe { Range::from_raw(range) });
        true
    }
}
