// SPDX-License-Identifier: GPL-2.0

//! `/sys/kernel/debug/page_states/takeable`: how many pages the host could
//! take now, by usage:
//!
//! ```text
//! unused 100341
//! volatile 38211
//! pot_volatile 1022
//! ```
//!
//! The census counts states; a page in a volatile state is not always one
//! the host can take.  With the emulated host the volatile lines count
//! the resident pages that [`host::would_take`] accepts: not locked, clean
//! as far as the folio's flags tell, and held by nobody but the page or
//! swap cache and its mappings.  The ESSA host takes a resident volatile
//! page without asking the guest (and a potentially volatile one if its
//! dirty bit, which only it sees, shows it clean), so there the lines
//! count every resident page in those states.  Every unused page counts:
//! the host may take a free page whether or not it already has.
//!
//! Reading the file walks the table and try-locks each resident volatile
//! folio, as a discard would, without waiting for any lock.

use crate::{
    backend::Backend,
    census::Fops,
    hinting::Core,
    host,
    state::{Content, Usage},
    table::Table,
};
use core::ffi::c_void;
use kernel::{bindings, ffi::c_int};

unsafe extern "C" fn show(m: *mut bindings::seq_file, _v: *mut c_void) -> c_int {
    let Some(table) = Table::published() else {
        return 0;
    };
    // Only the emulated host's volatile mode has folios to look at.
    let emulated = Core::volatile().is_some_and(|core| core.backend == Backend::Emulated);
    let (mut unused, mut volatile, mut pot_volatile) = (0usize, 0usize, 0usize);
    for pfn in 0..table.len() {
        let entry = table.get(pfn);
        let count = match entry.usage() {
            Usage::Unused => &mut unused,
            Usage::Volatile => &mut volatile,
            Usage::PotVolatile => &mut pot_volatile,
            Usage::Stable => continue,
        };
        if entry.usage() == Usage::Unused
            || (entry.content() == Content::Resident && (!emulated || host::would_take(pfn)))
        {
            *count += 1;
        }
        if pfn % 4096 == 4095 {
            // SAFETY: FFI call; reading a file may sleep.
            unsafe { bindings::cond_resched() };
        }
    }
    for (name, n) in [
        (kernel::c_str!("unused"), unused),
        (kernel::c_str!("volatile"), volatile),
        (kernel::c_str!("pot_volatile"), pot_volatile),
    ] {
        // SAFETY: `m` is the seq_file being shown; the format takes a C
        // string and an `unsigned long`.
        unsafe {
            bindings::seq_printf(
                m,
                kernel::c_str!("%s %lu\n").as_char_ptr(),
                name.as_char_ptr(),
                n,
            )
        };
    }
    0
}

unsafe extern "C" fn open(inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
    // SAFETY: debugfs passes the file being opened; `show` needs no data.
    unsafe { bindings::single_open(file, Some(show), (*inode).i_private) }
}

pub(crate) static FOPS: Fops = Fops::single(open);
