// SPDX-License-Identifier: GPL-2.0

//! zpool drivers: allocators of compressed objects for zswap.
//!
//! C header: [`include/linux/zpool.h`](srctree/include/linux/zpool.h)
//!
//! A driver implements [`ZpoolDriver`] and keeps a [`Registration`] for as
//! long as zswap may select it by name (`zswap.zpool=`).  Each pool
//! is a [`ZpoolDriver::Pool`]; zpool holds it from `create` to `destroy`,
//! and the other operations borrow it.  Objects are named by [`Handle`]s
//! that zswap stores, so a handle must stay valid until it is freed, even
//! if the driver moves the object.

use crate::{
    alloc::Flags,
    bindings,
    error::Result,
    ffi::{c_char, c_int, c_ulong, c_void},
    prelude::*,
    str::CStr,
    types::ForeignOwnable,
    ThisModule,
};
use core::{marker::PhantomData, ptr::NonNull};

/// An object's handle: what a driver's `malloc` returns and zswap stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Handle(usize);

impl Handle {
    /// A handle with the driver's encoding `raw`.
    pub const fn from_raw(raw: usize) -> Self {
        Self(raw)
    }

    /// The driver's encoding of the handle.
    pub const fn as_raw(self) -> usize {
        self.0
    }
}

/// How the caller will use a mapping (a hint for drivers that copy).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapMode {
    /// The caller reads and writes the object.
    ReadWrite,
    /// The caller only reads it.
    ReadOnly,
    /// The caller only writes it; its old contents may be lost.
    WriteOnly,
}

/// A zpool driver.
pub trait ZpoolDriver: Sized + 'static {
    /// A pool, as `create` makes it.
    type Pool: ForeignOwnable + Send + Sync;

    /// The name zswap selects the driver by.
    const NAME: &'static CStr;

    /// Whether the caller may sleep while an object is mapped.
    const SLEEP_MAPPED: bool;

    /// Whether `malloc` takes `__GFP_MOVABLE` and `__GFP_HIGHMEM`: zswap
    /// adds both when the driver's pages can move.
    const MOVABLE: bool;

    /// Creates a pool.  `flags` are for the pool's own allocations.
    fn create(name: &CStr, flags: Flags) -> Result<Self::Pool>;

    /// Allocates room for `size` bytes.  Fails with `EINVAL` for a size the
    /// driver never stores, `ENOSPC` for one too large (zswap counts it as
    /// poor compression) and `ENOMEM` when memory is short.
    fn malloc(
        pool: <Self::Pool as ForeignOwnable>::Borrowed<'_>,
        size: usize,
        flags: Flags,
    ) -> Result<Handle>;

    /// Frees an object.  Must not sleep: zswap frees under spinlocks.
    ///
    /// # Safety
    ///
    /// `handle` came from `malloc` on this pool, is not mapped, and is not
    /// used again.
    unsafe fn free(pool: <Self::Pool as ForeignOwnable>::Borrowed<'_>, handle: Handle);

    /// Maps an object: its address until `unmap`.
    ///
    /// # Safety
    ///
    /// `handle` came from `malloc` on this pool and is not freed before the
    /// matching `unmap`.
    unsafe fn map(
        pool: <Self::Pool as ForeignOwnable>::Borrowed<'_>,
        handle: Handle,
        mode: MapMode,
    ) -> NonNull<u8>;

    /// Ends a mapping made by `map`.
    ///
    /// # Safety
    ///
    /// `handle` is mapped by the caller, who no longer uses the address.
    unsafe fn unmap(pool: <Self::Pool as ForeignOwnable>::Borrowed<'_>, handle: Handle);

    /// The pages the pool holds.  Called on every store: keep it cheap.
    fn total_pages(pool: <Self::Pool as ForeignOwnable>::Borrowed<'_>) -> u64;
}

/// A registered zpool driver; unregistered when dropped.
///
/// # Examples
///
/// A driver that stores objects of up to 64 bytes in boxes, used through
/// zpool's C interface as zswap would:
///
/// ```
/// use core::{ptr::NonNull, sync::atomic::{AtomicU64, Ordering}};
/// use kernel::{alloc::Flags, bindings, c_str, str::CStr, ThisModule};
/// use kernel::zpool::{Handle, MapMode, Registration, ZpoolDriver};
///
/// struct Boxes;
///
/// impl ZpoolDriver for Boxes {
///     type Pool = KBox<AtomicU64>;
///     const NAME: &'static CStr = c_str!("rust_doctest_boxes");
///     const SLEEP_MAPPED: bool = true;
///     const MOVABLE: bool = false;
///
///     fn create(_name: &CStr, flags: Flags) -> Result<KBox<AtomicU64>> {
///         Ok(KBox::new(AtomicU64::new(0), flags)?)
///     }
///
///     fn malloc(objects: &AtomicU64, size: usize, flags: Flags) -> Result<Handle> {
///         if size > 64 {
///             return Err(ENOSPC);
///         }
///         let object = KBox::new([0u8; 64], flags)?;
///         objects.fetch_add(1, Ordering::Relaxed);
///         Ok(Handle::from_raw(KBox::into_raw(object) as usize))
///     }
///
///     unsafe fn free(objects: &AtomicU64, handle: Handle) {
///         objects.fetch_sub(1, Ordering::Relaxed);
///         // SAFETY: `malloc` made the handle from a box, freed once.
///         drop(unsafe { KBox::from_raw(handle.as_raw() as *mut [u8; 64]) });
///     }
///
///     unsafe fn map(_: &AtomicU64, handle: Handle, _mode: MapMode) -> NonNull<u8> {
///         // SAFETY: a live handle is a box's address.
///         unsafe { NonNull::new_unchecked(handle.as_raw() as *mut u8) }
///     }
///
///     unsafe fn unmap(_: &AtomicU64, _handle: Handle) {}
///
///     fn total_pages(objects: &AtomicU64) -> u64 {
///         objects.load(Ordering::Relaxed).div_ceil(64)
///     }
/// }
///
/// // SAFETY: built-in code has no module.
/// static MODULE: ThisModule = unsafe { ThisModule::from_ptr(core::ptr::null_mut()) };
/// let driver = Registration::<Boxes>::register(&MODULE)?;
///
/// let name = c_str!("rust_doctest_boxes").as_char_ptr();
/// // SAFETY: FFI calls with a live pool and handles it returned.
/// unsafe {
///     let pool = bindings::zpool_create_pool(name, name, bindings::GFP_KERNEL);
///     assert!(!pool.is_null());
///     let mut handle = 0;
///     let too_big = bindings::zpool_malloc(pool, 65, bindings::GFP_KERNEL, &mut handle);
///     assert_eq!(too_big, ENOSPC.to_errno());
///     assert_eq!(bindings::zpool_malloc(pool, 64, bindings::GFP_KERNEL, &mut handle), 0);
///     let object = bindings::zpool_map_handle(pool, handle, bindings::zpool_mapmode_ZPOOL_MM_WO);
///     object.cast::<u8>().write(7);
///     bindings::zpool_unmap_handle(pool, handle);
///     assert_eq!(bindings::zpool_get_total_pages(pool), 1);
///     bindings::zpool_free(pool, handle);
///     bindings::zpool_destroy_pool(pool);
/// }
/// drop(driver);
/// # Ok::<(), Error>(())
/// ```
///
/// # Invariants
///
/// `driver` is registered with `zpool_register_driver` and is never freed:
/// zpool keeps a driver that still has pools when asked to unregister it,
/// and a pool being destroyed reads its driver after dropping its
/// reference to it.
pub struct Registration<T> {
    driver: NonNull<bindings::zpool_driver>,
    _t: PhantomData<T>,
}

// SAFETY: registration and unregistration may happen on any task.
unsafe impl<T> Send for Registration<T> {}
// SAFETY: `&Registration` offers nothing to race on.
unsafe impl<T> Sync for Registration<T> {}

impl<T: ZpoolDriver> Registration<T> {
    /// Registers the driver under [`ZpoolDriver::NAME`].
    pub fn register(module: &'static ThisModule) -> Result<Self> {
        // SAFETY: all-zero is a `zpool_driver` without operations, with
        // the list head and reference count that registration sets up.
        let mut driver: bindings::zpool_driver = unsafe { core::mem::zeroed() };
        driver.type_ = T::NAME.as_char_ptr().cast_mut();
        driver.owner = module.as_ptr();
        driver.create = Some(Vtable::<T>::create);
        driver.destroy = Some(Vtable::<T>::destroy);
        driver.malloc_support_movable = T::MOVABLE;
        driver.malloc = Some(Vtable::<T>::malloc);
        driver.free = Some(Vtable::<T>::free);
        driver.sleep_mapped = T::SLEEP_MAPPED;
        driver.map = Some(Vtable::<T>::map);
        driver.unmap = Some(Vtable::<T>::unmap);
        driver.total_pages = Some(Vtable::<T>::total_pages);
        let driver = KBox::into_raw(KBox::new(driver, GFP_KERNEL)?);
        // SAFETY: the driver is complete, and stays allocated for ever.
        unsafe { bindings::zpool_register_driver(driver) };
        // INVARIANT: registered above; nothing frees it.
        Ok(Self {
            // SAFETY: `KBox::into_raw` never returns NULL.
            driver: unsafe { NonNull::new_unchecked(driver) },
            _t: PhantomData,
        })
    }
}

impl<T> Drop for Registration<T> {
    /// Unregisters the driver unless it still has pools (zpool then keeps
    /// it, and its memory stays valid).
    fn drop(&mut self) {
        // SAFETY: by the type invariant the driver is registered.
        if unsafe { bindings::zpool_unregister_driver(self.driver.as_ptr()) } != 0 {
            crate::pr_warn!("zpool: a driver with pools stays registered\n");
        }
    }
}

struct Vtable<T>(PhantomData<T>);

impl<T: ZpoolDriver> Vtable<T> {
    /// zpool's `gfp_t` as [`Flags`].
    fn flags(gfp: bindings::gfp_t) -> Flags {
        Flags::from_raw(gfp)
    }

    /// Borrows a pool.
    ///
    /// # Safety
    ///
    /// `pool` came from `create` and `destroy` has not been called on it.
    unsafe fn pool<'a>(pool: *mut c_void) -> <T::Pool as ForeignOwnable>::Borrowed<'a> {
        // SAFETY: as above: `create` made it with `into_foreign`.
        unsafe { T::Pool::borrow(pool) }
    }

    unsafe extern "C" fn create(name: *const c_char, gfp: bindings::gfp_t) -> *mut c_void {
        // SAFETY: zpool passes a NUL-terminated name that outlives the call.
        let name = unsafe { CStr::from_char_ptr(name) };
        match T::create(name, Self::flags(gfp)) {
            Ok(pool) => pool.into_foreign().cast_mut(),
            Err(_) => core::ptr::null_mut(),
        }
    }

    unsafe extern "C" fn destroy(pool: *mut c_void) {
        // SAFETY: zpool's last call on a pool from `create`.
        drop(unsafe { T::Pool::from_foreign(pool) });
    }

    unsafe extern "C" fn malloc(
        pool: *mut c_void,
        size: usize,
        gfp: bindings::gfp_t,
        handle: *mut c_ulong,
    ) -> c_int {
        // SAFETY: zpool passes a live pool.
        match T::malloc(unsafe { Self::pool(pool) }, size, Self::flags(gfp)) {
            Ok(h) => {
                // SAFETY: zpool passes room for the handle.
                unsafe { *handle = h.as_raw() as c_ulong };
                0
            }
            Err(e) => e.to_errno(),
        }
    }

    unsafe extern "C" fn free(pool: *mut c_void, handle: c_ulong) {
        // SAFETY: zpool passes a live pool and a handle zswap got from
        // `malloc` on it, unmapped and never used again.
        unsafe { T::free(Self::pool(pool), Handle(handle as usize)) }
    }

    unsafe extern "C" fn map(
        pool: *mut c_void,
        handle: c_ulong,
        mode: bindings::zpool_mapmode,
    ) -> *mut c_void {
        let mode = match mode {
            bindings::zpool_mapmode_ZPOOL_MM_RO => MapMode::ReadOnly,
            bindings::zpool_mapmode_ZPOOL_MM_WO => MapMode::WriteOnly,
            _ => MapMode::ReadWrite,
        };
        // SAFETY: zpool passes a live pool and a live handle of it, which
        // zswap unmaps before it frees it.
        unsafe { T::map(Self::pool(pool), Handle(handle as usize), mode) }
            .as_ptr()
            .cast()
    }

    unsafe extern "C" fn unmap(pool: *mut c_void, handle: c_ulong) {
        // SAFETY: zpool passes a live pool and a handle zswap mapped.
        unsafe { T::unmap(Self::pool(pool), Handle(handle as usize)) }
    }

    unsafe extern "C" fn total_pages(pool: *mut c_void) -> u64 {
        // SAFETY: zpool passes a live pool.
        T::total_pages(unsafe { Self::pool(pool) })
    }
}
