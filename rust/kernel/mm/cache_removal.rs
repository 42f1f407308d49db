// SPDX-License-Identifier: GPL-2.0

//! Removing a run of folios from one page cache at once.
//!
//! C header: [`include/linux/pagemap.h`](srctree/include/linux/pagemap.h)

use super::{
    address_space::AddressSpace,
    folio::{Folio, FolioLockGuard},
};
use crate::{bindings, types::ARef};

/// Folios of one file that leave its page cache together, as truncation
/// removes them: one pass over the page cache's tree under its lock for
/// the whole batch (`delete_from_page_cache_batch()`), then one release of
/// the references (`folios_put()`), instead of both for every folio.
///
/// A folio joins with [`CacheRemoval::try_add`], which locks it and keeps
/// it locked until it is gone: lookups that find it wait for its lock,
/// then find it out of the page cache.  The folios leave when the batch is
/// full, and the last ones when the `CacheRemoval` is dropped.
///
/// # Invariants
///
/// The first `batch.nr` entries of `batch.folios` are folios that the
/// current task has locked and holds a reference to, in `mapping`'s page
/// cache at ascending indices, unmapped, clean, not under writeback and
/// without private data.  The batch is not `Send`: its folio locks are
/// released by the task that took them.
pub struct CacheRemoval<'a> {
    mapping: &'a AddressSpace,
    batch: bindings::folio_batch,
}

impl<'a> CacheRemoval<'a> {
    /// An empty batch for the page cache of `mapping`.
    pub fn new(mapping: &'a AddressSpace) -> Self {
        // INVARIANT: no folio is in the batch.
        Self {
            mapping,
            // SAFETY: an all-zero `folio_batch` is an empty one, as
            // `folio_batch_init()` makes it.
            batch: unsafe { core::mem::zeroed() },
        }
    }

    /// Adds `folio` to the batch if its lock is free, it is in the page
    /// cache of this batch's file after the folios already added, and
    /// `remove` (which runs with the folio locked, and may unmap it) says
    /// to.  It must then be unmapped, clean, not under writeback and
    /// without private data.  Returns whether `folio` joined the batch:
    /// then it leaves the page cache, at the latest when the batch is
    /// dropped.  Sleeps only where `remove` does: the lock is only tried.
    pub fn try_add(
        &mut self,
        folio: ARef<Folio>,
        remove: impl FnOnce(&FolioLockGuard<'_>) -> bool,
    ) -> bool {
        let Some(locked) = folio.try_lock() else {
            return false;
        };
        if !self.may_hold(&locked) || !remove(&locked) {
            return false;
        }
        // Checked again: `remove` may have taken the folio out of the page
        // cache itself.
        if !self.may_hold(&locked)
            || locked.mapped()
            || locked.test_dirty()
            || locked.test_writeback()
            || locked.test_private()
        {
            return false;
        }
        // The folio stays locked; the batch unlocks it.
        core::mem::forget(locked);
        let nr = usize::from(self.batch.nr);
        // INVARIANT: the folio is locked, referenced (the reference moves
        // into the batch), in `mapping` after the folios before it, and
        // removable as checked above, under its lock.
        self.batch.folios[nr] = ARef::into_raw(folio).as_ptr().cast();
        self.batch.nr += 1;
        if usize::from(self.batch.nr) == self.batch.folios.len() {
            self.remove();
        }
        true
    }

    /// Whether the locked `folio` is in this batch's page cache after the
    /// last folio of the batch (`delete_from_page_cache_batch()` walks the
    /// tree in index order).
    fn may_hold(&self, folio: &FolioLockGuard<'_>) -> bool {
        let ours = folio
            .address_space()
            .is_some_and(|mapping| core::ptr::eq(mapping, self.mapping));
        let after = match usize::from(self.batch.nr).checked_sub(1) {
            // SAFETY: by the type invariant the batch's folios are valid,
            // and locked, which keeps their index.
            Some(last) => {
                folio.index() > unsafe { Folio::from_raw(self.batch.folios[last]) }.index()
            }
            None => true,
        };
        ours && after
    }

    /// Removes the folios in the batch from the page cache, unlocks them
    /// and drops the batch's references, which frees those nobody else
    /// holds.
    fn remove(&mut self) {
        if self.batch.nr == 0 {
            return;
        }
        // SAFETY: by the type invariant every folio of the batch is locked,
        // in `mapping` at ascending indices and removable.
        unsafe { bindings::delete_from_page_cache_batch(self.mapping.as_raw(), &mut self.batch) };
        for &folio in &self.batch.folios[..usize::from(self.batch.nr)] {
            // SAFETY: by the type invariant the current task holds the lock.
            unsafe { bindings::folio_unlock(folio) };
        }
        // SAFETY: the batch holds a reference to each of its folios; this
        // drops them and empties the batch.
        unsafe { bindings::folios_put_refs(&mut self.batch, core::ptr::null_mut()) };
    }
}

impl Drop for CacheRemoval<'_> {
    fn drop(&mut self) {
        self.remove();
    }
}
