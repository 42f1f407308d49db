// SPDX-License-Identifier: GPL-2.0

//! Anonymous memory's reverse map (`struct anon_vma`) and its `rwsem`.
//!
//! C header: [`include/linux/rmap.h`](srctree/include/linux/rmap.h)

use super::folio::FolioLockGuard;
use crate::{
    bindings,
    types::{ARef, AlwaysRefCounted, Opaque},
};
use core::{marker::PhantomData, ptr::NonNull};

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
/// While an `&AnonVma` exists, the `anon_vma` is valid and its reference
/// count is not zero: someone holds a reference to it, or holds its root's
/// rwsem while a VMA is still linked to it.  (A linked `anon_vma` keeps its
/// own reference, which `unlink_anon_vmas()` drops only after unlinking
/// the last VMA under the rwsem held for writing.)
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
        // SAFETY: by the type invariant the `anon_vma` is valid and its
        // count is not zero, so the plain increment of `get_anon_vma` does
        // not revive an `anon_vma` that is being freed.
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
        // INVARIANT: the current task just took the lock.
        AnonVmaReadGuard {
            anon_vma: self,
            _not_send: PhantomData,
        }
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
        // When `folio_lock_anon_vma_read` had to sleep for the lock, it
        // checked that the folio is mapped before sleeping only: the folio
        // may have been unmapped and the `anon_vma`'s last reference
        // dropped meanwhile (the free then waits for our lock).  If the
        // folio is mapped now, under the lock, a VMA that maps it is linked
        // to the `anon_vma` (the folio lock keeps `folio->mapping`) and
        // cannot be unlinked before we unlock, so the count stays above
        // zero, as `AnonVma` requires.
        if !self.mapped() {
            // SAFETY: `ptr` is read-locked by us, which keeps it valid.
            unsafe { bindings::anon_vma_unlock_read(ptr) };
            return None;
        }
        // SAFETY: the returned `anon_vma` is read-locked, which keeps it
        // valid until the guard unlocks it (`anon_vma_free()` takes the
        // root's rwsem for writing before freeing), and by the check above
        // its count is not zero until then.
        let anon_vma = unsafe { &*ptr.cast::<AnonVma>() };
        // INVARIANT: `folio_lock_anon_vma_read` returned it read-locked by
        // the current task.
        Some(AnonVmaReadGuard {
            anon_vma,
            _not_send: PhantomData,
        })
    }
}

/// An `anon_vma` rwsem held for reading.
///
/// The guard is not `Send`: the `anon_vma` lock is an rwsem, and lockdep
/// and the rwsem's owner tracking expect it to be released by the task
/// that took it.
///
/// # Invariants
///
/// The task that created the guard holds the read lock of the root of
/// `self.anon_vma`; as the guard is not `Send`, that is the task that drops
/// it.
pub struct AnonVmaReadGuard<'a> {
    anon_vma: &'a AnonVma,
    _not_send: PhantomData<*mut ()>,
}

// SAFETY: a shared guard only gives out `&AnonVma`, and `AnonVma` is
// `Sync`; the lock is only released by consuming or dropping the guard,
// which needs it by value.
unsafe impl Sync for AnonVmaReadGuard<'_> {}

assert_not_send!(AnonVmaReadGuard<'static>);

impl AnonVmaReadGuard<'_> {
    /// The locked `anon_vma`.
    pub fn anon_vma(&self) -> &AnonVma {
        self.anon_vma
    }

    /// Drops the lock but keeps the `anon_vma` alive through a reference,
    /// so that it can be locked again later.
    pub fn unlock_keep(self) -> ARef<AnonVma> {
        // Take the reference before `self` is dropped (and unlocks): until
        // then the `AnonVma` invariant guarantees a count above zero.
        ARef::from(self.anon_vma)
    }
}

impl Drop for AnonVmaReadGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: by the type invariant the current task holds the read
        // lock.
        unsafe { bindings::anon_vma_unlock_read(self.anon_vma.as_raw()) };
    }
}
