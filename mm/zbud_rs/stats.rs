// SPDX-License-Identifier: GPL-2.0

//! Counters of all pools, read in debugfs as `zbud_rs/<counter>`.
//!
//! - `pages`: pages the pools hold now, empty ones waiting for the
//!   release worker included;
//! - `isolated`: pages the migration core isolated;
//! - `isolate_refused`: isolations refused (an object mapped, or the page
//!   empty and being released);
//! - `migrated`: pages moved;
//! - `migrate_again`: migrations answered with `EAGAIN` (an object was
//!   mapped after isolation, or the page emptied);
//! - `putback`: isolated pages the core gave back unmoved;
//! - `released_deferred`: empty pages released by the worker, because the
//!   migration core held their lock when their last object went;
//! - `paired`: objects moved into another page with one object, each of
//!   which gave a page back.

use core::sync::atomic::{AtomicU64, Ordering};
use kernel::{bindings, c_str, str::CStr};

/// One counter.
pub(crate) struct Counter(AtomicU64);

impl Counter {
    const fn new() -> Self {
        Self(AtomicU64::new(0))
    }

    /// Adds one.
    #[inline]
    pub(crate) fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes one away.
    #[inline]
    pub(crate) fn dec(&self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }

    /// The count now.
    #[cfg(CONFIG_ZBUD_RS_KUNIT_TEST)]
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

pub(crate) static PAGES: Counter = Counter::new();
pub(crate) static ISOLATED: Counter = Counter::new();
pub(crate) static ISOLATE_REFUSED: Counter = Counter::new();
pub(crate) static MIGRATED: Counter = Counter::new();
pub(crate) static MIGRATE_AGAIN: Counter = Counter::new();
pub(crate) static PUTBACK: Counter = Counter::new();
pub(crate) static RELEASED_DEFERRED: Counter = Counter::new();
pub(crate) static PAIRED: Counter = Counter::new();

const FILES: [(&CStr, &Counter); 8] = [
    (c_str!("pages"), &PAGES),
    (c_str!("isolated"), &ISOLATED),
    (c_str!("isolate_refused"), &ISOLATE_REFUSED),
    (c_str!("migrated"), &MIGRATED),
    (c_str!("migrate_again"), &MIGRATE_AGAIN),
    (c_str!("putback"), &PUTBACK),
    (c_str!("released_deferred"), &RELEASED_DEFERRED),
    (c_str!("paired"), &PAIRED),
];

/// The `zbud_rs` debugfs directory.
///
/// # Invariants
///
/// `self.0` is the directory's dentry (or an error pointer, which debugfs
/// accepts everywhere).
pub(crate) struct Debugfs(*mut bindings::dentry);

// SAFETY: the dentry is only passed back to debugfs, from any task.
unsafe impl Send for Debugfs {}
// SAFETY: as above.
unsafe impl Sync for Debugfs {}

impl Debugfs {
    /// Creates the directory and its read-only counters.  debugfs failures
    /// are not errors: the counters are a debugging aid.
    pub(crate) fn create() -> Self {
        // SAFETY: FFI call with a valid name; a NULL parent is the root.
        let dir = unsafe {
            bindings::debugfs_create_dir(c_str!("zbud_rs").as_char_ptr(), core::ptr::null_mut())
        };
        for (name, counter) in FILES {
            // SAFETY: `dir` is a debugfs dentry or an error pointer, which
            // debugfs accepts.  The counter is static, and with mode 0444
            // debugfs only loads it, whole: a 64-bit load, as atomic as the
            // counter's own on 64-bit machines.
            unsafe {
                bindings::debugfs_create_u64(name.as_char_ptr(), 0o444, dir, counter.0.as_ptr())
            };
        }
        // INVARIANT: `dir` came from debugfs.
        Self(dir)
    }
}

impl Drop for Debugfs {
    fn drop(&mut self) {
        // SAFETY: by the type invariant `self.0` came from debugfs.
        unsafe { bindings::debugfs_remove(self.0) };
    }
}
