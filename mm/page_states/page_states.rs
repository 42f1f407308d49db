// SPDX-License-Identifier: GPL-2.0

//! Guest page hinting: the page-state core.
//!
//! The guest tells its hypervisor which of its pages it may take.  For now
//! the core owns the allocator's two hooks: pages being freed become
//! *unused*, pages being allocated become *stable*.  A [`Backend`] carries
//! the states to the hypervisor; on s390 that is the ESSA instruction, when
//! the machine has it.
//!
//! C entry points: [`include/linux/page-states.h`](srctree/include/linux/page-states.h)

use kernel::{bindings, ffi::c_uint, prelude::*};

mod backend;
#[cfg(CONFIG_PAGE_STATES_KUNIT_TEST)]
mod kunit_tests;
mod stats;
mod sysfs;

use backend::Backend;

module! {
    type: PageStates,
    name: "page_states",
    author: "GPH developers",
    description: "Guest page hinting: the page-state core",
    license: "GPL",
}

struct PageStates {
    _sysfs: sysfs::Directory,
}

impl kernel::Module for PageStates {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let backend = Backend::current();
        pr_info!("backend {}: {}\n", backend.name(), backend.reason());
        Ok(PageStates {
            _sysfs: sysfs::Directory::create()?,
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
    let pages = 1usize << order;
    stats::PAGES_FREED.add(pages);
    // SAFETY: the caller passes pages that are being freed.
    unsafe { Backend::current().set_unused(page, pages) };
}

/// Marks the 2^`order` pages at `page`, which were just allocated, stable.
///
/// # Safety
///
/// `page` must head 2^`order` pages that the page allocator just allocated.
#[no_mangle]
pub unsafe extern "C" fn page_states_alloc(page: *mut bindings::page, order: c_uint) {
    let pages = 1usize << order;
    stats::PAGES_ALLOCATED.add(pages);
    // SAFETY: the caller passes pages that were just allocated.
    unsafe { Backend::current().set_stable(page, pages) };
}

// The definitions above must match the C declarations in
// include/linux/page-states.h: each pair of lines only builds if they do.
type PageHook = unsafe extern "C" fn(*mut bindings::page, c_uint);
const _: [PageHook; 2] = [page_states_free, bindings::page_states_free];
const _: [PageHook; 2] = [page_states_alloc, bindings::page_states_alloc];
