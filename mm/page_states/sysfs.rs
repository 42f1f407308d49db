// SPDX-License-Identifier: GPL-2.0

//! `/sys/kernel/mm/page_states/`: the mode and backend in force, and the
//! emulated host's knobs.
//!
//! - `mode`, `backend`, `essa_available`: read-only;
//! - `host_discard_mib`: write N to have the emulated host discard up to
//!   N MiB of volatile pages now; reads the pages the last write discarded;
//! - `host_target_mib`, `host_period_ms`: the periodic policy, which holds
//!   the guest's resident footprint to the target every period (a period
//!   of 0 turns it off);
//! - `host_reported`: pages given back through free page reporting.
//!
//! A write that is not a decimal number in the knob's range, or to a host
//! knob when there is no emulated host, fails and changes nothing.

use crate::{backend::Backend, hinting::Core, host, mode::Mode, table::Table};
use core::{
    cell::UnsafeCell,
    ptr::NonNull,
    sync::atomic::{AtomicUsize, Ordering},
};
use kernel::{
    bindings,
    error::{
        code::{EINVAL, ENOMEM},
        to_result, Error,
    },
    ffi::c_char,
    prelude::*,
    str::CStr,
};

type Show = unsafe extern "C" fn(
    *mut bindings::kobject,
    *mut bindings::kobj_attribute,
    *mut c_char,
) -> isize;
type Store = unsafe extern "C" fn(
    *mut bindings::kobject,
    *mut bindings::kobj_attribute,
    *const c_char,
    usize,
) -> isize;

/// A sysfs attribute that lives as long as the kernel.
struct Attribute(UnsafeCell<bindings::kobj_attribute>);

// SAFETY: after `Directory::create` hands the attribute to sysfs, neither
// side writes to it; sysfs only reads it.
unsafe impl Sync for Attribute {}

impl Attribute {
    const fn new(name: &'static CStr, show: Show, store: Option<Store>) -> Self {
        // SAFETY: all-zero is a valid `kobj_attribute`: no callbacks, and
        // for a static attribute no lockdep key is needed.
        let mut attr: bindings::kobj_attribute = unsafe { core::mem::zeroed() };
        attr.attr.name = name.as_char_ptr();
        attr.attr.mode = if store.is_some() { 0o644 } else { 0o444 };
        attr.show = Some(show);
        attr.store = store;
        Self(UnsafeCell::new(attr))
    }

    const fn as_ptr(&self) -> *mut bindings::attribute {
        // `attr` is the first field: sysfs passes the `kobj_attribute` back
        // to `show` through it.
        self.0.get().cast()
    }
}

/// Writes `value` and a newline into the sysfs buffer `buf`.
///
/// # Safety
///
/// `buf` must be the page-sized buffer that sysfs passed to `show`.
unsafe fn emit_str(buf: *mut c_char, value: &CStr) -> isize {
    // SAFETY: `buf` is a sysfs buffer; the format takes one C string.
    unsafe {
        bindings::sysfs_emit(
            buf,
            kernel::c_str!("%s\n").as_char_ptr(),
            value.as_char_ptr(),
        ) as isize
    }
}

/// Writes `value` and a newline into the sysfs buffer `buf`.
///
/// # Safety
///
/// `buf` must be the page-sized buffer that sysfs passed to `show`.
unsafe fn emit_usize(buf: *mut c_char, value: usize) -> isize {
    // SAFETY: `buf` is a sysfs buffer; the format takes one `unsigned long`.
    unsafe { bindings::sysfs_emit(buf, kernel::c_str!("%lu\n").as_char_ptr(), value) as isize }
}

/// Parses a knob's value: a decimal number in `range`, with an optional
/// trailing newline.
///
/// # Safety
///
/// `buf` must be the NUL-terminated buffer that sysfs passed to `store`.
unsafe fn parse(buf: *const c_char, range: core::ops::RangeInclusive<u64>) -> Result<u64> {
    let mut value = 0u64;
    // SAFETY: sysfs NUL-terminates the buffer; `value` is writable.
    to_result(unsafe { bindings::kstrtoull(buf, 10, &mut value) })?;
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(EINVAL)
    }
}

/// The emulated host's table, if the knobs apply: the host is emulated
/// and the core keeps a table (its mode is not `off`).
fn emulated_host() -> Result<Table> {
    let unsupported = Error::from_errno(-(bindings::EOPNOTSUPP as i32));
    if Backend::current() != Backend::Emulated {
        return Err(unsupported);
    }
    Table::published().ok_or(unsupported)
}

/// The largest MiB value a knob takes: all of memory.
fn total_mib() -> u64 {
    // SAFETY: reading a counter that the allocator keeps.
    let pages = unsafe { bindings::totalram_pages() } as u64;
    pages >> (20 - bindings::PAGE_SHIFT)
}

macro_rules! show_fn {
    ($fn:ident, $emit:ident, $value:expr) => {
        unsafe extern "C" fn $fn(
            _kobj: *mut bindings::kobject,
            _attr: *mut bindings::kobj_attribute,
            buf: *mut c_char,
        ) -> isize {
            // SAFETY: sysfs passes its buffer.
            unsafe { $emit(buf, $value) }
        }
    };
}

macro_rules! store_fn {
    ($fn:ident, |$buf:ident| $body:expr) => {
        unsafe extern "C" fn $fn(
            _kobj: *mut bindings::kobject,
            _attr: *mut bindings::kobj_attribute,
            $buf: *const c_char,
            count: usize,
        ) -> isize {
            let result: Result = $body;
            match result {
                Ok(()) => count as isize,
                Err(e) => e.to_errno() as isize,
            }
        }
    };
}

/// Pages the last write to `host_discard_mib` discarded.
static LAST_DISCARD: AtomicUsize = AtomicUsize::new(0);

show_fn!(show_mode, emit_str, Mode::current().name());
show_fn!(show_backend, emit_str, Backend::current().name());
show_fn!(
    show_essa_available,
    emit_usize,
    usize::from(Backend::current() != Backend::Emulated)
);
show_fn!(
    show_host_discard,
    emit_usize,
    LAST_DISCARD.load(Ordering::Relaxed)
);
show_fn!(
    show_host_target,
    emit_usize,
    host::TARGET_MIB.load(Ordering::Relaxed)
);
show_fn!(
    show_host_period,
    emit_usize,
    host::PERIOD_MS.load(Ordering::Relaxed) as usize
);
show_fn!(
    show_host_reported,
    emit_usize,
    host::REPORTED.load(Ordering::Relaxed)
);

store_fn!(store_host_discard, |buf| {
    emulated_host().and_then(|_| {
        // SAFETY: sysfs passes its NUL-terminated buffer.
        let mib = unsafe { parse(buf, 0..=total_mib()) }?;
        let done = Core::volatile().map_or(0, |core| {
            host::discard(core, (mib as usize).saturating_mul(host::PAGES_PER_MIB))
        });
        LAST_DISCARD.store(done, Ordering::Relaxed);
        Ok(())
    })
});
store_fn!(store_host_target, |buf| {
    emulated_host().and_then(|_| {
        // SAFETY: sysfs passes its NUL-terminated buffer.
        let mib = unsafe { parse(buf, 0..=total_mib()) }?;
        host::TARGET_MIB.store(mib as usize, Ordering::Relaxed);
        Ok(())
    })
});
store_fn!(store_host_period, |buf| {
    emulated_host().and_then(|_| {
        // SAFETY: sysfs passes its NUL-terminated buffer.
        let ms = unsafe { parse(buf, 0..=60_000) }?;
        if ms != 0 && ms < 10 {
            return Err(EINVAL);
        }
        host::PERIOD_MS.store(ms as u32, Ordering::Relaxed);
        // SAFETY: FFI calls on the emulated host's work.
        unsafe {
            if ms == 0 {
                bindings::page_states_host_cancel();
            } else {
                bindings::page_states_host_schedule(ms as u32);
            }
        }
        Ok(())
    })
});

static MODE: Attribute = Attribute::new(kernel::c_str!("mode"), show_mode, None);
static BACKEND: Attribute = Attribute::new(kernel::c_str!("backend"), show_backend, None);
static ESSA_AVAILABLE: Attribute =
    Attribute::new(kernel::c_str!("essa_available"), show_essa_available, None);
static HOST_DISCARD: Attribute = Attribute::new(
    kernel::c_str!("host_discard_mib"),
    show_host_discard,
    Some(store_host_discard),
);
static HOST_TARGET: Attribute = Attribute::new(
    kernel::c_str!("host_target_mib"),
    show_host_target,
    Some(store_host_target),
);
static HOST_PERIOD: Attribute = Attribute::new(
    kernel::c_str!("host_period_ms"),
    show_host_period,
    Some(store_host_period),
);
static HOST_REPORTED: Attribute =
    Attribute::new(kernel::c_str!("host_reported"), show_host_reported, None);

/// The NULL-terminated attribute list of the group.
struct AttributeList([*mut bindings::attribute; 8]);

// SAFETY: the list is never written; it points to `Sync` attributes.
unsafe impl Sync for AttributeList {}

static ATTRIBUTES: AttributeList = AttributeList([
    MODE.as_ptr(),
    BACKEND.as_ptr(),
    ESSA_AVAILABLE.as_ptr(),
    HOST_DISCARD.as_ptr(),
    HOST_TARGET.as_ptr(),
    HOST_PERIOD.as_ptr(),
    HOST_REPORTED.as_ptr(),
    core::ptr::null_mut(),
]);

/// The attribute group; sysfs takes a mutable pointer but only reads it.
struct Group(UnsafeCell<bindings::attribute_group>);

// SAFETY: sysfs only reads the group.
unsafe impl Sync for Group {}

static GROUP: Group = Group(UnsafeCell::new(bindings::attribute_group {
    attrs: ATTRIBUTES.0.as_ptr().cast_mut(),
    // SAFETY: all-zero is an unnamed group without other members.
    ..unsafe { core::mem::zeroed() }
}));

/// The `page_states` directory under `/sys/kernel/mm`.
///
/// # Invariants
///
/// `self.0` is a kobject this value holds a reference to, with the
/// attributes of [`GROUP`] created in it.
pub(crate) struct Directory(NonNull<bindings::kobject>);

// SAFETY: a kobject reference may be dropped from any task.
unsafe impl Send for Directory {}
// SAFETY: `Directory` has no methods that use the kobject.
unsafe impl Sync for Directory {}

impl Directory {
    /// Creates `/sys/kernel/mm/page_states/` with its attributes.
    pub(crate) fn create() -> Result<Self> {
        // SAFETY: `mm_kobj` is set up by an earlier initcall; the name is a
        // valid C string.
        let kobj = unsafe {
            bindings::kobject_create_and_add(
                kernel::c_str!("page_states").as_char_ptr(),
                bindings::mm_kobj,
            )
        };
        let kobj = NonNull::new(kobj).ok_or(ENOMEM)?;
        // SAFETY: `kobj` is live and `GROUP` outlives it.
        let ret = unsafe { bindings::sysfs_create_group(kobj.as_ptr(), GROUP.0.get()) };
        if let Err(e) = to_result(ret) {
            // SAFETY: drops the reference `kobject_create_and_add` returned.
            unsafe { bindings::kobject_put(kobj.as_ptr()) };
            return Err(e);
        }
        // INVARIANT: we hold the reference and created the group.
        Ok(Self(kobj))
    }
}

impl Drop for Directory {
    fn drop(&mut self) {
        // SAFETY: by the type invariant the group exists in the kobject we
        // hold a reference to; this drops both.
        unsafe {
            bindings::sysfs_remove_group(self.0.as_ptr(), GROUP.0.get());
            bindings::kobject_put(self.0.as_ptr());
        }
    }
}
