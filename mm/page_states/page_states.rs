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
//! - [`stats`], [`sysfs`], [`census`]: `/proc/vmstat`, the knobs, and the
//!   debugfs census.
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
mod state;
mod stats;
mod sysfs;
mod table;

use backend::Backend;
use mode::Mode;
use state::Op;
use stats::Event;
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
        let mode = Mode::current();
        let backend = Backend::current();
        pr_info!(
            "mode {}, backend {}: {}\n",
            mode.name(),
            backend.name(),
            backend.reason()
        );
        let census = if mode != Mode::Off {
            Table::new_static()?.publish();
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

/// Marks the 2^`order` pages at `page`, which are being freed, unused.
///
/// # Safety
///
/// `page` must head 2^`order` pages that the page allocator is freeing.
#[no_mangle]
pub unsafe extern "C" fn page_states_free(page: *mut bindings::page, order: c_uint) {
    if Mode::current() == Mode::Off {
        return;
    }
    let pages = 1usize << order;
    stats::count(Event::Freed, pages);
    // SAFETY: the caller passes pages that are being freed.
    unsafe { Backend::current().set_unused(Table::published(), page, pages) };
}

/// Marks the 2^`order` pages at `page`, which were just allocated, stable.
///
/// # Safety
///
/// `page` must head 2^`order` pages that the page allocator just allocated.
#[no_mangle]
pub unsafe extern "C" fn page_states_alloc(page: *mut bindings::page, order: c_uint) {
    if Mode::current() == Mode::Off {
        return;
    }
    let pages = 1usize << order;
    stats::count(Event::Allocated, pages);
    // SAFETY: the caller passes pages that were just allocated.
    unsafe { Backend::current().set_stable(Table::published(), page, pages) };
}

// The definitions above must match the C declarations in
// include/linux/page-states.h: each pair of lines only builds if they do.
type PageHook = unsafe extern "C" fn(*mut bindings::page, c_uint);
const _: [PageHook; 2] = [page_states_free, bindings::page_states_free];
const _: [PageHook; 2] = [page_states_alloc, bindings::page_states_alloc];
const _: [unsafe extern "C" fn(usize, c_uint); 2] =
    [page_states_mark_free, bindings::page_states_mark_free];
const _: [unsafe extern "C" fn(*const kernel::ffi::c_char) -> i32; 2] = [
    mode::page_states_parse_mode,
    bindings::page_states_parse_mode,
];
