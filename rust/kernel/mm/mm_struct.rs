// SPDX-License-Identifier: GPL-2.0

//! Address spaces of processes (`struct mm_struct`).
//!
//! C header: [`include/linux/sched/mm.h`](srctree/include/linux/sched/mm.h)

use crate::{
    bindings,
    types::{ARef, AlwaysRefCounted, Opaque},
};
use core::{marker::PhantomData, ptr::NonNull};

/// A process address space.
///
/// An `ARef<Mm>` holds an `mm_count` reference (`mmgrab`): the
/// `mm_struct` stays allocated, but its mappings may already be torn down.
/// [`Mm::users`] gives access to the mappings themselves.
///
/// # Invariants
///
/// The `mm_struct` is valid; while an `&Mm` exists, someone holds an
/// `mm_count` reference to it.
#[repr(transparent)]
pub struct Mm(Opaque<bindings::mm_struct>);

// SAFETY: `mm_struct` is used from any task; its fields are protected by
// its own locks.
unsafe impl Send for Mm {}
// SAFETY: as above.
unsafe impl Sync for Mm {}

// SAFETY: `mmgrab` and `mmdrop` manage `mm_count`, which keeps the
// `mm_struct` allocated.
unsafe impl AlwaysRefCounted for Mm {
    fn inc_ref(&self) {
        // SAFETY: by the type invariant the `mm_struct` is valid.
        unsafe { bindings::mmgrab(self.as_raw()) };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: the caller owns a reference.
        unsafe { bindings::mmdrop(obj.cast().as_ptr()) };
    }
}

impl Mm {
    /// Wraps a raw `mm_struct`.
    ///
    /// # Safety
    ///
    /// `ptr` must be valid and keep an `mm_count` reference for `'a`.
    pub unsafe fn from_raw<'a>(ptr: *mut bindings::mm_struct) -> &'a Self {
        // SAFETY: `Mm` is a transparent wrapper; the caller guarantees
        // validity.
        unsafe { &*ptr.cast() }
    }

    /// The raw `mm_struct`.
    pub fn as_raw(&self) -> *mut bindings::mm_struct {
        self.0.get()
    }

    /// The address space of the current task, if it has one (kernel threads
    /// do not).
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::mm::mm_struct::Mm;
    ///
    /// // KUnit runs each test in a kernel thread, without an address space.
    /// assert!(Mm::current().is_none());
    /// ```
    pub fn current() -> Option<ARef<Self>> {
        // SAFETY: `current` is always valid.
        let mm = unsafe { (*bindings::get_current()).mm };
        if mm.is_null() {
            return None;
        }
        // SAFETY: only the current task changes `current->mm` (exec,
        // `kthread_use_mm`), and the task's own reference to its mm keeps
        // it alive until `ARef::from` has taken a reference of its own.
        Some(ARef::from(unsafe { Self::from_raw(mm) }))
    }

    /// Takes an `mm_users` reference, which keeps the mappings alive,
    /// unless the address space is already being torn down.
    pub fn users(&self) -> Option<MmUsers<'_>> {
        // SAFETY: by the type invariant the `mm_struct` is valid.
        if unsafe { bindings::mmget_not_zero(self.as_raw()) } {
            // INVARIANT: we took an `mm_users` reference.
            Some(MmUsers(self))
        } else {
            None
        }
    }
}

/// An `mm_users` reference: the address space's mappings stay in place.
///
/// # Invariants
///
/// The holder owns one `mm_users` reference of `self.0`.
pub struct MmUsers<'a>(&'a Mm);

impl MmUsers<'_> {
    /// The address space.
    pub fn mm(&self) -> &Mm {
        self.0
    }

    /// Takes `mmap_lock` for reading.
    pub fn mmap_read_lock(&self) -> MmapReadGuard<'_> {
        // SAFETY: the mm is valid and has users.
        unsafe { bindings::mmap_read_lock(self.0.as_raw()) };
        // INVARIANT: the current task just took the lock.
        MmapReadGuard {
            mm: self.0,
            _not_send: PhantomData,
        }
    }
}

impl Drop for MmUsers<'_> {
    fn drop(&mut self) {
        // SAFETY: by the type invariant we own an `mm_users` reference.
        unsafe { bindings::mmput(self.0.as_raw()) };
    }
}

/// `mmap_lock` held for reading.
///
/// The guard is not `Send`: `mmap_lock` is an rwsem, and lockdep and the
/// rwsem's owner tracking expect it to be released by the task that took
/// it (`mmap_read_unlock` is not `mmap_read_unlock_non_owner`).
///
/// # Invariants
///
/// The task that created the guard holds `mmap_lock` of `self.mm` for
/// reading; as the guard is not `Send`, that is the task that drops it.
pub struct MmapReadGuard<'a> {
    mm: &'a Mm,
    _not_send: PhantomData<*mut ()>,
}

// SAFETY: a shared guard only gives out `&Mm`, and `Mm` is `Sync`; the
// lock is only released by dropping the guard, which needs it by value.
unsafe impl Sync for MmapReadGuard<'_> {}

assert_not_send!(MmapReadGuard<'static>);

impl MmapReadGuard<'_> {
    /// The address space.
    pub fn mm(&self) -> &Mm {
        self.mm
    }
}

impl Drop for MmapReadGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: by the type invariant the current task holds the lock.
        unsafe { bindings::mmap_read_unlock(self.mm.as_raw()) };
    }
}
