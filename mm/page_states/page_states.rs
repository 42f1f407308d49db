// SPDX-License-Identifier: GPL-2.0

//! Guest page hinting: the page-state core.
//!
//! The guest tells its host, page by page, what it may take: free pages
//! are *unused*, pages in use *stable*, and with `page_states=volatile`
//! clean page cache is *volatile*: the host may drop it, and the guest
//! reads it again from its file.  A [`Backend`] carries the states to the
//! host: s390's ESSA instruction, or a host emulated in the guest.
//!
//! - [`mode`]: the `page_states=` boot parameter;
//! - [`state`], [`table`]: the state machine and the per-page table;
//! - [`eligible`], [`hinting`]: which folios go volatile, the hooks, and
//!   discard handling;
//! - [`backend`], [`essa`], [`host`]: the two backends;
//! - [`stats`], [`sysfs`], [`census`], [`takeable`]: `/proc/vmstat`, the
//!   knobs, the debugfs census, and the count of pages the host could
//!   take now.
//!
//! C entry points: [`include/linux/page-states.h`](srctree/include/linux/page-states.h)

use kernel::{bindings, ffi::c_uint, prelude::*};

mod backend;
mod census;
mod eligible;
mod essa;
mod hinting;
mod host;
#[cfg(CONFIG_PAGE_STATES_KUNIT_TEST)]
mod kunit_tests;
mod mode;
mod neighbours;
mod state;
mod stats;
mod sysfs;
mod table;
mod takeable;

use backend::Backend;
use mode::Mode;
use state::Op;
use table::Table;

module! {
    type: PageStates,
    name: "page_states",
    author: "GPH developers",
    description: "Guest page hinting: the page-state core",
    license: "GPL",
}

struct PageStates {
    _sysfs: sysfs::Directory,
    _census: Option<census::Census>,
}

/// Marks the free block at `pfn` unused in the table, at start-up.
#[no_mangle]
pub extern "C" fn page_states_mark_free(pfn: usize, order: c_uint) {
    if let Some(table) = Table::published() {
        for i in 0..1usize << order {
            let _ = table.update(pfn + i, Op::SetUnused);
        }
    }
}

impl kernel::Module for PageStates {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let backend = Backend::current();
        if Mode::current() == Mode::Volatile
            && matches!(backend, Backend::Essa(_))
            && !mode::discard_faults_delivered()
        {
            pr_warn!(
                "page_states=volatile needs a hypervisor that raises discard faults; \
                 boot with page_states_discard_faults=on if ESSA's does. Using unused\n"
            );
            Mode::fall_back(Mode::Unused);
        }
        let mode = Mode::current();
        pr_info!(
            "mode {}, backend {}: {}\n",
            mode.name(),
            backend.name(),
            backend.reason()
        );
        let census = if mode != Mode::Off {
            Table::new_static()?.publish(backend.take_mask());
            // SAFETY: FFI call; it calls `page_states_mark_free`, which only
            // touches the table.
            unsafe { bindings::page_states_mark_free_blocks() };
            Some(census::Census::create()?)
        } else {
            None
        };
        if mode == Mode::Volatile {
            // SAFETY: FFI call; the table the hooks use is published.
            unsafe { bindings::page_states_enable_volatile_hooks() };
        }
        Ok(PageStates {
            _sysfs: sysfs::Directory::create()?,
            _census: census,
        })
    }
}

/// Marks the 2^`order` page frames from `pfn`, which are being freed,
/// unused.  `page_states_free()` calls it once the table is published.
///
/// This runs at every free.  The common case, one stable page of the
/// emulated host's, is a load and a store, without a stack frame; all
/// else is in [`free_pages`].
///
/// # Safety
///
/// The pages must be being freed by the page allocator.
#[no_mangle]
pub unsafe extern "C" fn __page_states_free(pfn: usize, order: c_uint) {
    if order == 0 && Backend::current() == Backend::Emulated {
        if let Some(table) = Table::published() {
            if table.set_unused_if_stable(pfn) {
                return;
            }
        }
    }
    // SAFETY: the caller passes pages that are being freed.
    unsafe { free_pages(pfn, order) }
}

/// [`__page_states_free`] for the other cases.
///
/// # Safety
///
/// The pages must be being freed by the page allocator.
#[inline(never)]
unsafe fn free_pages(pfn: usize, order: c_uint) {
    if let Some(table) = Table::published() {
        // SAFETY: the caller passes pages that are being freed.
        unsafe { Backend::current().set_unused(&table, pfn, 1 << order) };
    }
}

/// Marks the 2^`order` page frames from `pfn`, which were just allocated,
/// stable.  `page_states_alloc()` calls it once the table is published.
///
/// This runs at every allocation.  The common case, one page with the
/// emulated host, is a store, without a stack frame; all else is in
/// [`alloc_pages`].
///
/// # Safety
///
/// The pages must have been just allocated by the page allocator.
#[no_mangle]
pub unsafe extern "C" fn __page_states_alloc(pfn: usize, order: c_uint) {
    if order == 0 && Backend::current() == Backend::Emulated {
        if let Some(table) = Table::published() {
            table.set_stable_unshared(pfn);
            return;
        }
    }
    // SAFETY: the caller passes pages that were just allocated.
    unsafe { alloc_pages(pfn, order) }
}

/// [`__page_states_alloc`] for the other cases.
///
/// # Safety
///
/// The pages must have been just allocated by the page allocator.
#[inline(never)]
unsafe fn alloc_pages(pfn: usize, order: c_uint) {
    if let Some(table) = Table::published() {
        // SAFETY: the caller passes pages that were just allocated.
        unsafe { Backend::current().set_stable(&table, pfn, 1 << order) };
    }
}

// The definitions above must match the C declarations in
// include/linux/page-states.h: each pair of lines only builds if they do.
type PfnHook = unsafe extern "C" fn(usize, c_uint);
const _: [PfnHook; 2] = [__page_states_free, bindings::__page_states_free];
const _: [PfnHook; 2] = [__page_states_alloc, bindings::__page_states_alloc];
const _: [PfnHook; 2] = [page_states_mark_free, bindings::page_states_mark_free];
const _: [unsafe extern "C" fn(*const kernel::ffi::c_char) -> i32; 4] = [
    mode::page_states_parse_mode,
    bindings::page_states_parse_mode,
    mode::page_states_parse_discard_faults,
    bindings::page_states_parse_discard_faults,
];
