// SPDX-License-Identifier: GPL-2.0

//! Miscellaneous character devices.
//!
//! C header: [`include/linux/miscdevice.h`](srctree/include/linux/miscdevice.h)
//!
//! A driver implements [`MiscDevice`] and keeps a pinned
//! [`MiscDeviceRegistration`] for as long as `/dev/<name>` should exist.
//! Each `open` creates a per-file value, which `ioctl` borrows and
//! `release` drops.

use crate::ffi::{c_int, c_long, c_uint, c_ulong};
use crate::{
    bindings,
    error::{to_result, Error, Result},
    init::{self, PinInit},
    prelude::*,
    str::CStr,
    types::{ForeignOwnable, Opaque},
};
use core::marker::PhantomData;

/// A misc device driver.
pub trait MiscDevice: Sized {
    /// The per-file state: what `open` returns.
    type Ptr: ForeignOwnable + Send + Sync;

    /// Opens the device for the current task.
    fn open() -> Result<Self::Ptr>;

    /// Handles an `ioctl` on a file opened with [`MiscDevice::open`].
    fn ioctl(
        file: <Self::Ptr as ForeignOwnable>::Borrowed<'_>,
        cmd: u32,
        arg: usize,
    ) -> Result<isize>;
}

/// A registered misc device; deregistered when dropped.
///
/// # Invariants
///
/// `inner` is registered with `misc_register`.
#[pin_data(PinnedDrop)]
pub struct MiscDeviceRegistration<T> {
    #[pin]
    inner: Opaque<bindings::miscdevice>,
    _t: PhantomData<T>,
}

// SAFETY: registration and deregistration may happen on any task.
unsafe impl<T> Send for MiscDeviceRegistration<T> {}
// SAFETY: `&MiscDeviceRegistration` offers nothing to race on.
unsafe impl<T> Sync for MiscDeviceRegistration<T> {}

impl<T: MiscDevice> MiscDeviceRegistration<T> {
    /// Registers `/dev/<name>` with a dynamic minor.
    pub fn register(name: &'static CStr) -> impl PinInit<Self, Error> {
        // SAFETY: the closure fully initialises the `miscdevice` before
        // registering it, or fails without registering.
        let inner = unsafe {
            init::pin_init_from_closure(move |slot: *mut Opaque<bindings::miscdevice>| {
                let misc = Opaque::raw_get(slot);
                misc.write(core::mem::zeroed());
                (*misc).minor = bindings::MISC_DYNAMIC_MINOR as _;
                (*misc).name = name.as_char_ptr();
                (*misc).fops = &Vtable::<T>::FOPS;
                to_result(bindings::misc_register(misc))
            })
        };
        try_pin_init!(Self {
            inner <- inner,
            _t: PhantomData,
        }? Error)
    }
}

#[pinned_drop]
impl<T> PinnedDrop for MiscDeviceRegistration<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: by the type invariant the device is registered.
        unsafe { bindings::misc_deregister(self.inner.get()) };
    }
}

struct Vtable<T>(PhantomData<T>);

impl<T: MiscDevice> Vtable<T> {
    const FOPS: bindings::file_operations = bindings::file_operations {
        open: Some(Self::open),
        release: Some(Self::release),
        unlocked_ioctl: Some(Self::ioctl),
        // SAFETY: all-zero is "no operation" for the remaining members.
        ..unsafe { core::mem::zeroed() }
    };

    unsafe extern "C" fn open(_inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
        match T::open() {
            Ok(ptr) => {
                // SAFETY: `file` is the file being opened; `release` takes
                // the value back.
                unsafe { (*file).private_data = ptr.into_foreign().cast_mut() };
                0
            }
            Err(e) => e.to_errno(),
        }
    }

    unsafe extern "C" fn release(_inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
        // SAFETY: `open` stored the value; this is the last use of it.
        drop(unsafe { T::Ptr::from_foreign((*file).private_data) });
        0
    }

    unsafe extern "C" fn ioctl(file: *mut bindings::file, cmd: c_uint, arg: c_ulong) -> c_long {
        // SAFETY: `open` stored the value, and `release` has not run while
        // an ioctl is in progress.
        let state = unsafe { T::Ptr::borrow((*file).private_data) };
        match T::ioctl(state, cmd, arg as usize) {
            Ok(ret) => ret as c_long,
            Err(e) => e.to_errno() as c_long,
        }
    }
}
