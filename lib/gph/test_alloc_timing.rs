// SPDX-License-Identifier: GPL-2.0

//! `/sys/kernel/debug/gph_alloc_timing`: how long the page allocator takes
//! to allocate a block of each order and free it again.
//!
//! Guest page hinting runs at every allocation and every free of a page
//! block (s390's `arch_alloc_page()` and `arch_free_page()`), for every
//! page of the block.  The hot-path benchmark (`make bench-hotpath`) reads
//! this file in boots with hinting off and on and compares the figures.
//!
//! Reading the file times, for every order up to `MAX_PAGE_ORDER`,
//! [`ROUNDS`] rounds of allocations, each freed at once, of [`ROUND_PAGES`]
//! pages (one block of the orders above), and prints a line per order: the
//! order and the nanoseconds of one allocation and free in the fastest
//! round, or the order and `failed` if an allocation failed.  A block
//! freed and allocated again comes back from the per-CPU lists or the
//! buddy lists: the allocator's fast paths, the ones where the hooks'
//! cost shows.  Orders above `PAGE_ALLOC_COSTLY_ORDER` are allocated with
//! `__GFP_RETRY_MAYFAIL`, so that a fragmented guest compacts for the
//! first block rather than fails: only the first allocation of a round
//! can take that slow path, and the fastest round counts.

use core::ffi::c_void;
use kernel::{bindings, c_str, debugfs, ffi::c_int, prelude::*};

module! {
    type: AllocTiming,
    name: "test_alloc_timing",
    author: "GPH developers",
    description: "Timing of page allocations and frees of every order (debugfs)",
    license: "GPL",
}

/// Rounds per order; the fastest counts.
const ROUNDS: u32 = 5;
/// Pages allocated and freed per round: the same for every order, so
/// that a kernel that writes every page it frees (page poisoning, as the
/// test kernels have) takes as long for each.
const ROUND_PAGES: u32 = 256;

/// Nanoseconds of one allocation and free of `order` in the fastest of
/// [`ROUNDS`] rounds, or `None` if an allocation failed.
fn time_order(order: u32) -> Option<i64> {
    let mut gfp = bindings::GFP_KERNEL | bindings::__GFP_NOWARN;
    if order > bindings::PAGE_ALLOC_COSTLY_ORDER {
        gfp |= 1 << bindings::___GFP_RETRY_MAYFAIL_BIT;
    }
    let pairs = (ROUND_PAGES >> order).max(1);
    let mut best = i64::MAX;
    for _ in 0..ROUNDS {
        // SAFETY: FFI call.
        let start = unsafe { bindings::ktime_get() };
        for _ in 0..pairs {
            // SAFETY: FFI call; the flags allow sleeping, as reading a
            // file does.
            let page = unsafe { bindings::alloc_pages(gfp, order) };
            if page.is_null() {
                return None;
            }
            // SAFETY: `page` is the block of `order` just allocated, and
            // nothing else refers to it.
            unsafe { bindings::__free_pages(page, order) };
        }
        // SAFETY: FFI call.
        let ns = (unsafe { bindings::ktime_get() } - start) / i64::from(pairs);
        best = best.min(ns);
        // SAFETY: FFI call; reading a file may sleep.
        unsafe { bindings::cond_resched() };
    }
    Some(best)
}

unsafe extern "C" fn show(m: *mut bindings::seq_file, _v: *mut c_void) -> c_int {
    for order in 0..=bindings::MAX_PAGE_ORDER {
        match time_order(order) {
            // SAFETY: `m` is the seq_file being shown; the format takes an
            // `unsigned int` and a `long long`.
            Some(ns) => unsafe {
                bindings::seq_printf(m, c_str!("%u %lld\n").as_char_ptr(), order, ns)
            },
            // SAFETY: as above, with an `unsigned int`.
            None => unsafe { bindings::seq_printf(m, c_str!("%u failed\n").as_char_ptr(), order) },
        }
    }
    0
}

unsafe extern "C" fn open(inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
    // SAFETY: debugfs passes the file being opened; `show` needs no data.
    unsafe { bindings::single_open(file, Some(show), (*inode).i_private) }
}

// SAFETY: `open` takes no private data; `show` and the seq_file helpers
// run on any task.
static FOPS: debugfs::FileOperations = unsafe {
    debugfs::FileOperations::new(bindings::file_operations {
        open: Some(open),
        read: Some(bindings::seq_read),
        llseek: Some(bindings::seq_lseek),
        release: Some(bindings::single_release),
        // SAFETY: all-zero is "no operation" for the other members.
        ..unsafe { core::mem::zeroed() }
    })
};

/// The module: its debugfs file.
struct AllocTiming {
    _file: debugfs::File,
}

impl kernel::Module for AllocTiming {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        Ok(Self {
            _file: debugfs::File::create(c_str!("gph_alloc_timing"), 0o400, &FOPS),
        })
    }
}
