// SPDX-License-Identifier: GPL-2.0

//! Page cache address spaces (`struct address_space`) and `i_mmap_rwsem`.
//!
//! C header: [`include/linux/fs.h`](srctree/include/linux/fs.h)

use super::folio::FolioLockGuard;
use crate::{bindings, types::Opaque};
use core::marker::PhantomData;

/// The page cache of a file, and the tree of its mappings (`i_mmap`).
///
/// # Invariants
///
/// The `address_space` is valid while an `&AddressSpace` exists.
#[repr(transparent)]
pub struct AddressSpace(Opaque<bindings::address_space>);

impl AddressSpace {
    /// The raw `address_space`.
    pub fn as_raw(&self) -> *mut bindings::address_space {
        self.0.get()
    }

    /// Takes `i_mmap_rwsem` for reading: the set of mappings of the file
    /// is stable until the guard is dropped.  Readers do not exclude each
    /// other, so several rmap walks can run at once.
    pub fn i_mmap_lock_read(&self) -> IMmapReadGuard<'_> {
        // SAFETY: by the type invariant the address space is valid.
        unsafe { bindings::i_mmap_lock_read(self.as_raw()) };
        // INVARIANT: the current task just took the lock.
        IMmapReadGuard {
            mapping: self,
            _not_send: PhantomData,
        }
    }

    /// Takes `i_mmap_rwsem` for writing: no rmap walk of the file runs, and
    /// the set of its mappings may be changed, until the guard is dropped.
    pub fn i_mmap_lock_write(&self) -> IMmapWriteGuard<'_> {
        // SAFETY: by the type invariant the address space is valid.
        unsafe { bindings::i_mmap_lock_write(self.as_raw()) };
        // INVARIANT: the current task just took the lock.
        IMmapWriteGuard {
            mapping: self,
            _not_send: PhantomData,
        }
    }
}

impl<'a> FolioLockGuard<'a> {
    /// The file address space of a page-cache folio; `None` for anonymous
    /// and movable non-LRU folios, and those no longer in the page cache.
    ///
    /// The folio lock keeps `folio->mapping` stable: truncation needs it
    /// to remove the folio.
    pub fn address_space(&self) -> Option<&AddressSpace> {
        // The mapping is stable while the folio is locked.
        let mapping = self.raw_mapping();
        // A tagged mapping is no address space: anonymous (`anon_vma`),
        // KSM, or a movable non-LRU page's `movable_operations`.
        let tags = (bindings::PAGE_MAPPING_ANON | bindings::PAGE_MAPPING_MOVABLE) as usize;
        if mapping.is_null() || mapping as usize & tags != 0 {
            return None;
        }
        // SAFETY: a page-cache folio's mapping outlives the folio's
        // membership in it, which the lock held by `self` keeps.
        Some(unsafe { &*mapping.cast::<AddressSpace>() })
    }
}

/// `i_mmap_rwsem` held for reading.
///
/// The guard is not `Send`: `i_mmap_rwsem` is an rwsem, and lockdep and
/// the rwsem's owner tracking expect it to be released by the task that
/// took it.
///
/// # Invariants
///
/// The task that created the guard holds `i_mmap_rwsem` of `self.mapping`
/// for reading; as the guard is not `Send`, that is the task that drops it.
pub struct IMmapReadGuard<'a> {
    mapping: &'a AddressSpace,
    _not_send: PhantomData<*mut ()>,
}

assert_not_send!(IMmapReadGuard<'static>);

impl IMmapReadGuard<'_> {
    /// The address space whose mappings are locked.
    pub fn address_space(&self) -> &AddressSpace {
        self.mapping
    }
}

impl Drop for IMmapReadGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: by the type invariant the current task holds the lock
        // for reading.
        unsafe { bindings::i_mmap_unlock_read(self.mapping.as_raw()) };
    }
}

/// `i_mmap_rwsem` held for writing.
///
/// The guard is not `Send`, for the same reason as [`IMmapReadGuard`]; a
/// write-locked rwsem also records its owner for optimistic spinning.
///
/// # Invariants
///
/// The task that created the guard holds `i_mmap_rwsem` of `self.mapping`
/// for writing; as the guard is not `Send`, that is the task that drops it.
pub struct IMmapWriteGuard<'a> {
    mapping: &'a AddressSpace,
    _not_send: PhantomData<*mut ()>,
}

assert_not_send!(IMmapWriteGuard<'static>);

impl IMmapWriteGuard<'_> {
    /// The address space whose mappings are locked.
    pub fn address_space(&self) -> &AddressSpace {
        self.mapping
    }
}

impl Drop for IMmapWriteGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: by the type invariant the current task holds the lock
        // for writing.
        unsafe { bindings::i_mmap_unlock_write(self.mapping.as_raw()) };
    }
}
