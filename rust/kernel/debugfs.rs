// SPDX-License-Identifier: GPL-2.0

//! Files in debugfs.
//!
//! C header: [`include/linux/debugfs.h`](srctree/include/linux/debugfs.h)
//!
//! A [`File`] is a file at the root of debugfs with static
//! [`FileOperations`]; it is removed when dropped, so that a built-in
//! test driver's file lives as long as the value its module keeps.

use crate::{bindings, str::CStr};
use core::cell::UnsafeCell;

/// The operations of a debugfs file: C's `struct file_operations`.
///
/// debugfs only reads them, through the pointer [`File::create`] passes.
pub struct FileOperations(UnsafeCell<bindings::file_operations>);

// SAFETY: nothing writes the operations after `new`; debugfs reads them
// from any task.
unsafe impl Sync for FileOperations {}

impl FileOperations {
    /// Wraps `fops` for [`File::create`].
    ///
    /// # Safety
    ///
    /// Every callback in `fops` must be sound for a debugfs file whose
    /// private data (`inode->i_private`) is NULL, called from any task,
    /// for as long as a [`File`] with these operations exists.
    pub const unsafe fn new(fops: bindings::file_operations) -> Self {
        Self(UnsafeCell::new(fops))
    }
}

/// A file at the root of debugfs, removed when dropped.
///
/// # Examples
///
/// ```
/// use kernel::{bindings, c_str, debugfs};
///
/// // SAFETY: no callback, so that opening the file fails.
/// static NOTHING: debugfs::FileOperations = unsafe {
///     debugfs::FileOperations::new(bindings::file_operations {
///         // SAFETY: all-zero is "no operation" for every member.
///         ..unsafe { core::mem::zeroed() }
///     })
/// };
///
/// let file = debugfs::File::create(c_str!("rust_debugfs_doctest"), 0o400, &NOTHING);
/// drop(file);
/// ```
///
/// # Invariants
///
/// `dentry` is what `debugfs_create_file()` returned: the file's dentry,
/// or an error pointer, which every debugfs function takes.
pub struct File {
    dentry: *mut bindings::dentry,
}

// SAFETY: the dentry is only handed back to debugfs, which takes it from
// any task.
unsafe impl Send for File {}
// SAFETY: `&File` offers nothing.
unsafe impl Sync for File {}

impl File {
    /// Creates `name` at the root of debugfs, with permissions `mode`.
    ///
    /// A failure (debugfs off, or the name taken) leaves no file and is
    /// not reported, as debugfs wants of its users.
    pub fn create(name: &'static CStr, mode: u16, fops: &'static FileOperations) -> Self {
        // SAFETY: `name` is a valid C string; a NULL parent is the root;
        // the NULL private data is what `FileOperations::new`'s callers
        // promised to handle; `fops` is static.
        let dentry = unsafe {
            bindings::debugfs_create_file(
                name.as_char_ptr(),
                mode,
                core::ptr::null_mut(),
                core::ptr::null_mut(),
                fops.0.get(),
            )
        };
        // INVARIANT: `dentry` came from `debugfs_create_file()`.
        Self { dentry }
    }
}

impl Drop for File {
    fn drop(&mut self) {
        // SAFETY: by the type invariant, `self.dentry` came from
        // `debugfs_create_file()`; it is removed once, here.
        unsafe { bindings::debugfs_remove(self.dentry) };
    }
}
