// SPDX-License-Identifier: GPL-2.0

//! zbud_rs: zbud, the zpool allocator that stores at most two compressed
//! objects per page, with pages that compaction and CMA can move.
//!
//! It keeps C zbud's design (mm/zbud.c): 64 chunks per page, a first and
//! a last buddy, and pages found by their free chunks.  Its pages are
//! movable: zswap allocates them with `__GFP_MOVABLE`, and the migration
//! core moves them ([`pool::ZbudOps`]).  When a free leaves a page with one
//! object, that object joins another lone one and its page goes back
//! ([`pairing`]).  zswap selects it with `zswap.zpool=zbud_rs`.
//!
//! - [`geometry`]: chunks and buddies;
//! - [`pool`]: pools, descriptors, slots and handles, migration and the
//!   lock order;
//! - [`pairing`]: lone buddies moved together;
//! - [`stats`]: the counters in debugfs.
//!
//! See Documentation/mm/zbud_rs.rst.

use core::ptr::NonNull;
use kernel::{
    alloc::Flags,
    c_str,
    prelude::*,
    str::CStr,
    sync::{Arc, ArcBorrow},
    zpool::{self, Handle, MapMode, ZpoolDriver},
};

mod geometry;
#[cfg(CONFIG_ZBUD_RS_KUNIT_TEST)]
mod kunit_tests;
mod pairing;
mod pool;
mod stats;

use pool::ZbudPool;

module! {
    type: ZbudRs,
    name: "zbud_rs",
    author: "GPH developers",
    description: "zbud in Rust: a zpool allocator with movable pages",
    license: "GPL",
}

/// The zpool driver.
struct Driver;

impl ZpoolDriver for Driver {
    type Pool = Arc<ZbudPool>;

    const NAME: &'static CStr = c_str!("zbud_rs");
    // Mappings only count; the caller may sleep while one is held.
    const SLEEP_MAPPED: bool = true;
    const MOVABLE: bool = true;

    fn create(_name: &CStr, flags: Flags) -> Result<Arc<ZbudPool>> {
        ZbudPool::new(flags)
    }

    fn malloc(pool: ArcBorrow<'_, ZbudPool>, size: usize, flags: Flags) -> Result<Handle> {
        ZbudPool::malloc(pool, size, flags)
    }

    unsafe fn free(pool: ArcBorrow<'_, ZbudPool>, handle: Handle) {
        // SAFETY: zpool's contract, passed on by our caller.
        unsafe { ZbudPool::free(pool, handle) }
    }

    unsafe fn map(pool: ArcBorrow<'_, ZbudPool>, handle: Handle, _mode: MapMode) -> NonNull<u8> {
        // SAFETY: as above.
        unsafe { pool.map(handle) }
    }

    unsafe fn unmap(pool: ArcBorrow<'_, ZbudPool>, handle: Handle) {
        // SAFETY: as above.
        unsafe { pool.unmap(handle) }
    }

    fn total_pages(pool: ArcBorrow<'_, ZbudPool>) -> u64 {
        pool.total_pages()
    }
}

struct ZbudRs {
    _registration: zpool::Registration<Driver>,
    _debugfs: stats::Debugfs,
}

impl kernel::Module for ZbudRs {
    fn init(module: &'static ThisModule) -> Result<Self> {
        Ok(Self {
            _debugfs: stats::Debugfs::create(),
            _registration: zpool::Registration::register(module)?,
        })
    }
}
