// SPDX-License-Identifier: GPL-2.0

//! `/sys/kernel/debug/page_states/census`: how many page frames are in
//! each valid state, one line per (usage, content) pair:
//!
//! ```text
//! stable resident 20117
//! ...
//! volatile zero 2048
//! ```

use crate::{
    state::{Content, Entry, Usage},
    table::Table,
    takeable,
};
use core::{cell::UnsafeCell, ffi::c_void};
use kernel::{bindings, ffi::c_int, prelude::*, str::CStr};

const USAGES: [(Usage, &CStr); 4] = [
    (Usage::Stable, kernel::c_str!("stable")),
    (Usage::Unused, kernel::c_str!("unused")),
    (Usage::Volatile, kernel::c_str!("volatile")),
    (Usage::PotVolatile, kernel::c_str!("pot_volatile")),
];
const CONTENTS: [(Content, &CStr); 3] = [
    (Content::Resident, kernel::c_str!("resident")),
    (Content::Preserved, kernel::c_str!("preserved")),
    (Content::Zero, kernel::c_str!("zero")),
];

fn slot(entry: Entry) -> usize {
    entry.usage() as usize * CONTENTS.len() + entry.content() as usize
}

unsafe extern "C" fn show(m: *mut bindings::seq_file, _v: *mut c_void) -> c_int {
    let Some(table) = Table::published() else {
        return 0;
    };
    let mut counts = [0usize; USAGES.len() * CONTENTS.len()];
    table.census(|entry| counts[slot(entry)] += 1);
    for (usage, usage_name) in USAGES {
        for (content, content_name) in CONTENTS {
            let Some(entry) = Entry::from_parts(usage, content) else {
                continue;
            };
            // SAFETY: `m` is the seq_file being shown; the format takes
            // two C strings and an `unsigned long`.
            unsafe {
                bindings::seq_printf(
                    m,
                    kernel::c_str!("%s %s %lu\n").as_char_ptr(),
                    usage_name.as_char_ptr(),
                    content_name.as_char_ptr(),
                    counts[slot(entry)],
                )
            };
        }
    }
    0
}

unsafe extern "C" fn open(inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
    // SAFETY: debugfs passes the file being opened; `show` needs no data.
    unsafe { bindings::single_open(file, Some(show), (*inode).i_private) }
}

/// The operations of a debugfs file shown through `seq_file`; debugfs
/// only reads them.
pub(crate) struct Fops(UnsafeCell<bindings::file_operations>);

// SAFETY: never written after initialisation.
unsafe impl Sync for Fops {}

impl Fops {
    /// The operations of a file that `open` opens with `single_open()`.
    pub(crate) const fn single(
        open: unsafe extern "C" fn(*mut bindings::inode, *mut bindings::file) -> c_int,
    ) -> Self {
        Self(UnsafeCell::new(bindings::file_operations {
            open: Some(open),
            read: Some(bindings::seq_read),
            llseek: Some(bindings::seq_lseek),
            release: Some(bindings::single_release),
            // SAFETY: all-zero is "no operation" for the other members.
            ..unsafe { core::mem::zeroed() }
        }))
    }
}

static FOPS: Fops = Fops::single(open);

/// The `page_states` debugfs directory with the census in it, and the
/// count of pages the host would take ([`crate::takeable`]).
///
/// # Invariants
///
/// `self.0` is the directory's dentry (or an error pointer, which debugfs
/// accepts everywhere).
pub(crate) struct Census(*mut bindings::dentry);

// SAFETY: the dentry is only passed back to debugfs, from any task.
unsafe impl Send for Census {}
// SAFETY: as above.
unsafe impl Sync for Census {}

impl Census {
    /// Creates `page_states/census` and `page_states/takeable` in
    /// debugfs.  debugfs failures are not errors: the files are
    /// debugging aids.
    pub(crate) fn create() -> Result<Self> {
        // SAFETY: FFI call with a valid name; a NULL parent is the root.
        let dir = unsafe {
            bindings::debugfs_create_dir(
                kernel::c_str!("page_states").as_char_ptr(),
                core::ptr::null_mut(),
            )
        };
        // SAFETY: `dir` is a debugfs dentry or an error pointer, which
        // debugfs_create_file accepts; `FOPS` is static.
        unsafe {
            bindings::debugfs_create_file(
                kernel::c_str!("census").as_char_ptr(),
                0o444,
                dir,
                core::ptr::null_mut(),
                FOPS.0.get(),
            )
        };
        // SAFETY: as above, with `takeable::FOPS`.
        unsafe {
            bindings::debugfs_create_file(
                kernel::c_str!("takeable").as_char_ptr(),
                0o400,
                dir,
                core::ptr::null_mut(),
                takeable::FOPS.0.get(),
            )
        };
        // INVARIANT: `dir` came from debugfs.
        Ok(Self(dir))
    }
}

impl Drop for Census {
    fn drop(&mut self) {
        // SAFETY: by the type invariant `self.0` came from debugfs.
        unsafe { bindings::debugfs_remove(self.0) };
    }
}
