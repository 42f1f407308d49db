// SPDX-License-Identifier: GPL-2.0

//! Page migration: moving a folio's contents to a new folio while its
//! mappings, page-cache or swap-cache slot follow.
//!
//! C header: [`include/linux/migrate.h`](srctree/include/linux/migrate.h)

use super::folio::Folio;
use crate::{
    bindings,
    error::{
        code::{EAGAIN, EBUSY},
        to_result, Result,
    },
    ffi::{c_uint, c_ulong},
    types::ARef,
};

/// Allocates the destination of a migration: movable, same order.
unsafe extern "C" fn new_folio(
    src: *mut bindings::folio,
    _private: c_ulong,
) -> *mut bindings::folio {
    // SAFETY: migration passes a valid, isolated source folio.
    let order = unsafe { bindings::folio_nr_pages(src) }.trailing_zeros();
    // SAFETY: FFI call; migration frees or uses the result.
    unsafe { bindings::folio_alloc(bindings::GFP_HIGHUSER_MOVABLE, order) }
}

impl Folio {
    /// Migrates the folio to a newly allocated one, synchronously, the way
    /// `move_pages(2)` does: mappings are replaced by migration entries and
    /// restored through the rmap, and a page-cache or swap-cache folio
    /// keeps its slot.
    ///
    /// Takes the caller's reference: the migration core only moves a folio
    /// whose references it can account for.  Fails with `EBUSY` when the
    /// folio cannot be isolated (it is not on an LRU list, or is not
    /// movable), and with `EAGAIN` when it stayed where it was.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::mm::folio::Folio;
    ///
    /// // A folio fresh from the allocator is on no LRU list.
    /// let folio = Folio::alloc(GFP_KERNEL)?;
    /// assert_eq!(Folio::migrate(folio), Err(EBUSY));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn migrate(this: ARef<Self>) -> Result {
        let mut list = bindings::list_head {
            next: core::ptr::null_mut(),
            prev: core::ptr::null_mut(),
        };
        let head: *mut bindings::list_head = &mut list;
        // SAFETY: `head` points to `list`, which does not move below.
        unsafe {
            (*head).next = head;
            (*head).prev = head;
        }
        // Folios still in a per-CPU LRU batch are on no LRU list yet;
        // flush the batches, as the migration system calls do.
        // SAFETY: FFI call without preconditions; it may sleep, as may we.
        unsafe { bindings::lru_add_drain_all() };
        // SAFETY: the folio is valid; isolation takes its own reference.
        if !unsafe { bindings::isolate_folio_to_list(this.as_raw(), head) } {
            return Err(EBUSY);
        }
        drop(this);
        let mut succeeded: c_uint = 0;
        // SAFETY: `head` holds the isolated folio; `new_folio` allocates
        // destinations, and the default free callback puts unused ones.
        let ret = unsafe {
            bindings::migrate_pages(
                head,
                Some(new_folio),
                None,
                0,
                bindings::migrate_mode_MIGRATE_SYNC,
                bindings::migrate_reason_MR_SYSCALL as _,
                &mut succeeded,
            )
        };
        if ret != 0 {
            // SAFETY: whatever was not migrated is still isolated on
            // `head`; this returns it to its LRU list.
            unsafe { bindings::putback_movable_pages(head) };
        }
        to_result(ret)?;
        if ret > 0 || succeeded == 0 {
            return Err(EAGAIN);
        }
        Ok(())
    }
}
