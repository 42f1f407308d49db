// SPDX-License-Identifier: GPL-2.0

//! `/sys/kernel/mm/page_states/`: which backend is active, and what the
//! hooks did.  Every attribute is read-only; a write fails with `EACCES`.

use crate::{backend::Backend, stats};
use core::{cell::UnsafeCell, ptr::NonNull};
use kernel::{
    bindings,
    error::{code::ENOMEM, to_result},
    ffi::c_char,
    prelude::*,
    str::CStr,
};

type Show = unsafe extern "C" fn(
    *mut bindings::kobject,
    *mut bindings::kobj_attribute,
    *mut c_char,
) -> isize;

/// A read-only sysfs attribute that lives as long as the kernel.
struct Attribute(UnsafeCell<bindings::kobj_attribute>);

// SAFETY: after `Directory::create` hands the attribute to sysfs, neither
// side writes to it; sysfs only reads it.
unsafe impl Sync for Attribute {}

impl Attribute {
    const fn new(name: &'static CStr, show: Show) -> Self {
        // SAFETY: all-zero is a valid `kobj_attribute`: no callbacks, and
        // for a static attribute no lockdep key is needed.
        let mut attr: bindings::kobj_attribute = unsafe { core::mem::zeroed() };
        attr.attr.name = name.as_char_ptr();
        attr.attr.mode = 0o444;
        attr.show = Some(show);
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

show_fn!(show_backend, emit_str, Backend::current().name());
show_fn!(
    show_essa_available,
    emit_usize,
    usize::from(Backend::current() != Backend::None)
);
show_fn!(show_pages_freed, emit_usize, stats::PAGES_FREED.get());
show_fn!(
    show_pages_allocated,
    emit_usize,
    stats::PAGES_ALLOCATED.get()
);
show_fn!(show_pages_hinted, emit_usize, stats::PAGES_HINTED.get());

static BACKEND: Attribute = Attribute::new(kernel::c_str!("backend"), show_backend);
static ESSA_AVAILABLE: Attribute =
    Attribute::new(kernel::c_str!("essa_available"), show_essa_available);
static PAGES_FREED: Attribute = Attribute::new(kernel::c_str!("pages_freed"), show_pages_freed);
static PAGES_ALLOCATED: Attribute =
    Attribute::new(kernel::c_str!("pages_allocated"), show_pages_allocated);
static PAGES_HINTED: Attribute = Attribute::new(kernel::c_str!("pages_hinted"), show_pages_hinted);

/// The NULL-terminated attribute list of the group.
struct AttributeList([*mut bindings::attribute; 6]);

// SAFETY: the list is never written; it points to `Sync` attributes.
unsafe impl Sync for AttributeList {}

static ATTRIBUTES: AttributeList = AttributeList([
    BACKEND.as_ptr(),
    ESSA_AVAILABLE.as_ptr(),
    PAGES_FREED.as_ptr(),
    PAGES_ALLOCATED.as_ptr(),
    PAGES_HINTED.as_ptr(),
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
