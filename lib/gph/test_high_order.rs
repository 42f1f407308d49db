// SPDX-License-Identifier: GPL-2.0

//! `/sys/kernel/debug/gph_high_order`: how many blocks of one order the
//! page allocator can still hand out.
//!
//! `/proc/buddyinfo` counts the free blocks of each order, which is what
//! compaction left, not what an allocation can get: a high-order
//! allocation compacts on demand, and moves whatever is movable (zswap's
//! pool pages with zbud_rs or zsmalloc) out of its way.  The zswap
//! benchmark (P4) and the `zswap_compaction` kselftest read this file to
//! count the allocations that succeed.
//!
//! Writing an order (decimal, up to `MAX_PAGE_ORDER`) selects it; other
//! input fails with `EINVAL` and leaves the order as it was.  Reading the
//! file allocates blocks of that order, keeping each, until one
//! allocation fails three times in a row, prints the order and the number
//! of blocks it got, and frees them all.
//!
//! The allocations take the flags of a transparent huge page fault with
//! `defrag` set to `always` (`GFP_TRANSHUGE` with `__GFP_NORETRY`, for
//! blocks that are not compound pages): movable,
//! compacting on demand (asynchronously), and when that fails, one round
//! of direct reclaim and compaction before they give up.  They wake no
//! kswapd and take nothing from the reserves.  The count is what a
//! high-order allocation that tries but does not try hard can get:
//! everything compaction can assemble, plus a little that reclaim frees;
//! the benchmark reports what reclaim freed meanwhile.

use core::{
    ffi::{c_char, c_void},
    sync::atomic::{AtomicU32, Ordering},
};
use kernel::{
    alloc::{flags::GFP_KERNEL, KVVec},
    bindings, c_str, debugfs,
    ffi::c_int,
    prelude::*,
};

module! {
    type: HighOrder,
    name: "test_high_order",
    author: "GPH developers",
    description: "How many blocks of an order the page allocator can hand out (debugfs)",
    license: "GPL",
}

/// The order the next read counts; the largest until one is written.
static ORDER: AtomicU32 = AtomicU32::new(bindings::MAX_PAGE_ORDER);

/// Attempts at an allocation before the count ends.
const ATTEMPTS: u32 = 3;
/// Milliseconds between them.
const RETRY_MS: u32 = 100;

/// The flags of the counted allocations (the module's documentation says
/// why).
fn probe_gfp() -> bindings::gfp_t {
    let bit = |b: u32| -> bindings::gfp_t { 1 << b };
    (bindings::GFP_HIGHUSER_MOVABLE & !bit(bindings::___GFP_KSWAPD_RECLAIM_BIT))
        | bit(bindings::___GFP_NORETRY_BIT)
        | bit(bindings::___GFP_NOMEMALLOC_BIT)
        | bindings::__GFP_NOWARN
}

/// Tries to allocate a block of `order`, [`ATTEMPTS`] times
/// [`RETRY_MS`] apart: free page reporting takes up to 32 free blocks off
/// the free lists while the host is told about them, and an allocation
/// that fails meanwhile may succeed once they are back.
fn alloc_block(order: u32) -> Option<*mut bindings::page> {
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            // SAFETY: FFI call; reading a file may sleep.
            unsafe { bindings::msleep(RETRY_MS) };
        }
        // SAFETY: FFI call; reading a file may sleep, as the flags allow.
        let page = unsafe { bindings::alloc_pages(probe_gfp(), order) };
        if !page.is_null() {
            return Some(page);
        }
    }
    None
}

/// Blocks of `order` allocated and kept, freed when dropped.
///
/// # Invariants
///
/// Every entry of `pages` is a block of `order` that was allocated for
/// this value, once, and that nothing else refers to.
struct Blocks {
    order: u32,
    pages: KVVec<*mut bindings::page>,
}

impl Blocks {
    /// Allocates blocks of `order` until one allocation fails.
    fn take_all(order: u32) -> Result<Self> {
        // SAFETY: FFI call without arguments.
        let most = unsafe { bindings::totalram_pages() } >> order;
        // Room for every block there could be, so that the count is not
        // cut short by a failure to grow the vector while memory runs
        // out.
        // INVARIANT: no blocks yet; each one pushed below was just
        // allocated.
        let mut blocks = Blocks {
            order,
            pages: KVVec::with_capacity(most + 1, GFP_KERNEL)?,
        };
        // The vector is full only once every page of the machine is in it.
        while blocks.pages.len() < blocks.pages.capacity() {
            let Some(page) = alloc_block(order) else {
                break;
            };
            // Below its capacity, `push` does not allocate.
            if blocks.pages.push(page, GFP_KERNEL).is_err() {
                // SAFETY: `page` is the block of `order` just allocated,
                // and nothing else refers to it.
                unsafe { bindings::__free_pages(page, order) };
                break;
            }
            // SAFETY: FFI call; reading a file may sleep.
            unsafe { bindings::cond_resched() };
        }
        Ok(blocks)
    }
}

impl Drop for Blocks {
    fn drop(&mut self) {
        for &page in self.pages.iter() {
            // SAFETY: by the type invariant, `page` is a block of
            // `self.order` that nothing else refers to.
            unsafe { bindings::__free_pages(page, self.order) };
        }
    }
}

unsafe extern "C" fn show(m: *mut bindings::seq_file, _v: *mut c_void) -> c_int {
    let order = ORDER.load(Ordering::Relaxed);
    let count = match Blocks::take_all(order) {
        Ok(blocks) => blocks.pages.len(),
        Err(e) => return e.to_errno(),
    };
    // SAFETY: `m` is the seq_file being shown; the format takes an
    // `unsigned int` and a `size_t`.
    unsafe { bindings::seq_printf(m, c_str!("%u %zu\n").as_char_ptr(), order, count) };
    0
}

unsafe extern "C" fn open(inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
    // SAFETY: debugfs passes the file being opened; `show` needs no data.
    unsafe { bindings::single_open(file, Some(show), (*inode).i_private) }
}

unsafe extern "C" fn write(
    _file: *mut bindings::file,
    buf: *const c_char,
    len: usize,
    _pos: *mut bindings::loff_t,
) -> isize {
    let mut order = 0;
    // SAFETY: `buf` is the user's buffer of `len` bytes, which the
    // function copies with the user-copy checks; `order` is a valid
    // `unsigned int` to write.
    let ret = unsafe { bindings::kstrtouint_from_user(buf, len, 10, &mut order) };
    if ret != 0 {
        return ret as isize;
    }
    if order > bindings::MAX_PAGE_ORDER {
        return EINVAL.to_errno() as isize;
    }
    ORDER.store(order, Ordering::Relaxed);
    len as isize
}

// SAFETY: `open` takes no private data; `show` and the seq_file helpers
// run on any task.
static FOPS: debugfs::FileOperations = unsafe {
    debugfs::FileOperations::new(bindings::file_operations {
        open: Some(open),
        read: Some(bindings::seq_read),
        write: Some(write),
        llseek: Some(bindings::seq_lseek),
        release: Some(bindings::single_release),
        // SAFETY: all-zero is "no operation" for the other members.
        ..unsafe { core::mem::zeroed() }
    })
};

/// The module: its debugfs file.
struct HighOrder {
    _file: debugfs::File,
}

impl kernel::Module for HighOrder {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        Ok(Self {
            _file: debugfs::File::create(c_str!("gph_high_order"), 0o600, &FOPS),
        })
    }
}
