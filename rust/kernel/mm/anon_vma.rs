// SPDX-License-Identifier: GPL-2.0

//! Anonymous memory's reverse map (`struct anon_vma`) and its `rwsem`.
//!
//! C header: [`include/linux/rmap.h`](srctree/include/linux/rmap.h)

use super::folio::FolioLockGuard;
use crate::{
    bindings,
    types::{ARef, AlwaysRefCounted, Opaque},
};
use core::ptr::NonNull;

/// The set of VMAs that may map a group of anonymous folios.
///
/// An `ARef<AnonVma>` holds a reference count (`anon_vma->refcount`),
/// which keeps the `anon_vma` allocated, but not its mappings stable: for
/// that, lock it with [`AnonVma::read_lock`].  This is what lets a walk
/// drop the lock and resume later without the `anon_vma` being freed under
/// it, the bug the 2010 swap-cache migration thread found.
///
/// Dropping the last reference frees the `anon_vma`, which takes its root's
/// rwsem for writing: do not drop a reference while holding a read lock of
/// the same tree (that deadlocks).  [`AnonVmaReadGuard::unlock_keep`] takes
/// its reference before it unlocks, and the guard returned by
/// [`FolioLockGuard::lock_anon_vma_read`] holds no reference at all.
///
/// # Invariants
///
/// The `anon_vma` is valid while an `&AnonVma` exists: someone holds a
/// reference to it, or its lock.
#[repr(transparent)]
pub struct AnonVma(Opaque<bindings::anon_vma>);

// SAFETY: `anon_vma`s are shared between tasks; their lists are protected
// by their rwsem and their lifetime by the reference count.
unsafe impl Send for AnonVma {}
// SAFETY: as above.
unsafe impl Sync for AnonVma {}

// SAFETY: `get_anon_vma` and `put_anon_vma` manage the reference count
// that keeps the `anon_vma` allocated.
unsafe impl AlwaysRefCounted for AnonVma {
    fn inc_ref(&self) {
        // SAFETY: by the type invariant the `anon_vma` is valid.
        unsafe { bindings::get_anon_vma(self.as_raw()) };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: the caller owns a reference.
        unsafe { bindings::put_anon_vma(obj.cast().as_ptr()) };
    }
}

impl AnonVma {
    /// The raw `anon_vma`.
    pub fn as_raw(&self) -> *mut bindings::anon_vma {
        self.0.get()
    }

    /// Takes the (root) `anon_vma` rwsem for reading.
    pub fn read_lock(&self) -> AnonVmaReadGuard<'_> {
        // SAFETY: by the type invariant the `anon_vma` is valid.
        unsafe { bindings::anon_vma_lock_read(self.as_raw()) };
        // INVARIANT: the lock was just taken.
        AnonVmaReadGuard(self)
    }
}

impl<'a> FolioLockGuard<'a> {
    /// Takes a reference to the folio's `anon_vma`, if it is anonymous and
    /// still has one (`folio_get_anon_vma`).
    pub fn anon_vma(&self) -> Option<ARef<AnonVma>> {
        // SAFETY: the folio is valid; the function takes its own RCU read
        // lock and returns a referenced `anon_vma` or NULL.
        let ptr = unsafe { bindings::folio_get_anon_vma(self.as_raw()) };
        // SAFETY: a non-NULL result carries a reference, which `ARef` owns.
        NonNull::new(ptr).map(|p| unsafe { ARef::from_raw(p.cast()) })
    }

    /// Read-locks the folio's `anon_vma` (`folio_lock_anon_vma_read`), if
    /// the folio is anonymous and mapped.  The lock keeps the `anon_vma`
    /// alive: `anon_vma` freeing takes the same lock for writing.
    pub fn lock_anon_vma_read(&self) -> Option<AnonVmaReadGuard<'_>> {
        // SAFETY: the folio is valid and locked; no walk control is passed.
        let ptr =
            unsafe { bindings::folio_lock_anon_vma_read(self.as_raw(), core::ptr::null_mut()) };
        if ptr.is_null() {
            return None;
        }
        // SAFETY: the returned `anon_vma` is read-locked, which keeps it
        // valid until the guard unlocks it.
        let anon_vma = unsafe { &*ptr.cast::<AnonVma>() };
        // INVARIANT: the C function returned it locked.
        Some(AnonVmaReadGuard(anon_vma))
    }
}

/// An `anon_vma` rwsem held for reading.
///
/// # Invariants
///
/// The holder holds the read lock of `self.0`'s root.
pub struct AnonVmaReadGuard<'a>(&'a AnonVma);

impl AnonVmaReadGuard<'_> {
    /// The locked `anon_vma`.
    pub fn anon_vma(&self) -> &AnonVma {
        self.0
    }

    /// Drops the lock but keeps the `anon_vma` alive through a reference,
    /// so that it can be locked again later.
    pub fn unlock_keep(self) -> ARef<AnonVma> {
        // Take the reference while the lock still keeps it alive.
        ARef::from(self.0)
    }
}

impl Drop for AnonVmaReadGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: by the type invariant we hold the read lock.
        unsafe { bindings::anon_vma_unlock_read(self.0.as_raw()) };
    }
}
