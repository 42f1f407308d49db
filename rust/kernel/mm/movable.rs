// SPDX-License-Identifier: GPL-2.0

//! Movable pages off the LRU: pages a driver owns that compaction, CMA and
//! memory offlining may still move, through `struct movable_operations`.
//!
//! C header: [`include/linux/migrate.h`](srctree/include/linux/migrate.h);
//! see also Documentation/mm/page_migration.rst ("Non-LRU page migration").
//!
//! A driver implements [`MovableOps`] and allocates its pages as
//! [`MovablePage`]s.  Each page's `private` field holds one reference to
//! the driver's object that owns it ([`MovableOps::Owner`]), which the
//! migration core's calls borrow.  The core calls the operations with the
//! page locked; a driver that migrates a page moves its [`MovablePage`] to
//! the new page with [`MovablePage::move_to`], the only way to produce the
//! [`Migrated`] that reports success.
//!
//! # Lock order
//!
//! The page lock is taken before any lock of the driver: the core holds it
//! around every operation, and [`MovablePage::release`] sleeps on it.  A
//! driver that frees pages under its own spinlock uses
//! [`MovablePage::try_release`], which only tries the lock.

use super::folio::Folio;
use crate::{
    alloc::{AllocError, Flags},
    bindings,
    error::{code::EINVAL, Error, Result},
    ffi::{c_int, c_void},
    types::ForeignOwnable,
};
use core::{marker::PhantomData, mem::ManuallyDrop, ptr::NonNull};

/// The operations of a driver's movable pages.
pub trait MovableOps: Sized + 'static {
    /// What a page's `private` field holds while the page is movable: a
    /// reference to the driver's object that owns the page.
    type Owner: ForeignOwnable + Send + Sync;

    /// Whether the migration core may isolate the page now.  The page is
    /// locked.
    fn isolate(owner: <Self::Owner as ForeignOwnable>::Borrowed<'_>) -> bool;

    /// Moves the page to `target`: the driver finds its [`MovablePage`]
    /// and calls [`MovablePage::move_to`], under whatever lock keeps its
    /// users off the page.  Returning `EAGAIN` has the core try again
    /// later; any other error gives the page back ([`MovableOps::putback`]).
    /// Both pages are locked.
    fn migrate<'a>(
        owner: <Self::Owner as ForeignOwnable>::Borrowed<'_>,
        target: MigrationTarget<'a, Self>,
    ) -> Result<Migrated<'a>>;

    /// The core gives an isolated page back without moving it.  The page is
    /// locked.
    fn putback(owner: <Self::Owner as ForeignOwnable>::Borrowed<'_>);
}

/// One page of a driver that the migration core may move.
///
/// # Examples
///
/// A driver that keeps its page in a slot, which the page's owner
/// reference points to: the page moves, and the slot follows.
///
/// ```
/// use kernel::mm::{
///     folio::Folio,
///     movable::{MigrationTarget, Migrated, MovableOps, MovablePage},
/// };
/// use kernel::sync::{new_spinlock, Arc, ArcBorrow, SpinLock};
/// use kernel::types::ARef;
///
/// struct Slot;
///
/// impl MovableOps for Slot {
///     type Owner = Arc<SpinLock<Option<MovablePage<Slot>>>>;
///
///     fn isolate(slot: ArcBorrow<'_, SpinLock<Option<MovablePage<Slot>>>>) -> bool {
///         slot.lock().is_some()
///     }
///
///     fn migrate<'a>(
///         slot: ArcBorrow<'_, SpinLock<Option<MovablePage<Slot>>>>,
///         target: MigrationTarget<'a, Self>,
///     ) -> Result<Migrated<'a>> {
///         slot.lock().as_mut().ok_or(EAGAIN)?.move_to(target)
///     }
///
///     fn putback(_slot: ArcBorrow<'_, SpinLock<Option<MovablePage<Slot>>>>) {}
/// }
///
/// let slot = Arc::pin_init(new_spinlock!(None), GFP_KERNEL)?;
/// let page = MovablePage::<Slot>::alloc(GFP_KERNEL, slot.clone())?;
/// // SAFETY: the page is ours and nobody else writes it.
/// unsafe { page.addr().as_ptr().write(0x5a) };
/// let pfn = page.folio().pfn();
/// let folio: ARef<Folio> = page.folio().into();
///
/// // Not in the slot yet: the page is not isolated.
/// *slot.lock() = None;
/// assert_eq!(Folio::migrate(page.folio().into()), Err(EBUSY));
///
/// *slot.lock() = Some(page);
/// Folio::migrate(folio)?;
/// let page = slot.lock().take().ok_or(EINVAL)?;
/// assert_ne!(page.folio().pfn(), pfn);
/// // SAFETY: as above.
/// assert_eq!(unsafe { page.addr().as_ptr().read() }, 0x5a);
///
/// let owner = page.try_release().ok().ok_or(EBUSY)?;
/// assert!(Arc::ptr_eq(&owner, &slot));
/// # Ok::<(), Error>(())
/// ```
///
/// # Invariants
///
/// - `page` is an order-0 page that is neither on an LRU list nor a slab
///   page, and `self` owns one reference to it;
/// - the page is marked movable with `T`'s operations, and its `private`
///   field holds a `T::Owner` from [`ForeignOwnable::into_foreign`];
/// - both change only under the page lock.
pub struct MovablePage<T: MovableOps> {
    page: NonNull<bindings::page>,
    _t: PhantomData<T::Owner>,
}

// SAFETY: the reference to the page may be dropped on any task, and the
// owner it holds is `Send`.
unsafe impl<T: MovableOps> Send for MovablePage<T> {}
// SAFETY: `&MovablePage` only reads the page's address and folio.
unsafe impl<T: MovableOps> Sync for MovablePage<T> {}

/// The destination the migration core hands [`MovableOps::migrate`].
///
/// # Invariants
///
/// `src` and `dst` are the pages of a `migrate_page` call in progress: both
/// are locked, `src` is isolated and movable with `T`'s operations, and
/// `dst` is a new order-0 page the core holds a reference to.
pub struct MigrationTarget<'a, T: MovableOps> {
    src: NonNull<bindings::page>,
    dst: NonNull<bindings::page>,
    _t: PhantomData<(&'a (), T)>,
}

/// Proof that a [`MovablePage`] moved to the target of the call in progress.
pub struct Migrated<'a>(PhantomData<&'a ()>);

/// The folio of `page`.
///
/// # Safety
///
/// `page` must be a valid order-0 page that the caller keeps a reference to
/// for `'a`.
unsafe fn folio<'a>(page: NonNull<bindings::page>) -> &'a Folio {
    // SAFETY: the caller's page is valid; an order-0 page is its folio.
    unsafe { Folio::from_raw(bindings::page_folio(page.as_ptr())) }
}

impl<T: MovableOps> MovablePage<T> {
    /// Allocates an order-0 page and marks it movable with `T`'s operations,
    /// with `owner` in its `private` field.  `flags` may include
    /// `__GFP_MOVABLE` and `__GFP_HIGHMEM`; not `__GFP_ACCOUNT`, whose
    /// charge would not follow the page when it moves.
    pub fn alloc(flags: Flags, owner: T::Owner) -> Result<Self> {
        // SAFETY: FFI call; a non-NULL result is an order-0 page we own.
        let page = unsafe { bindings::alloc_pages(flags.as_raw(), 0) };
        let page = NonNull::new(page).ok_or(Error::from(AllocError))?;
        // SAFETY: we own a reference to the new page.
        let folio = unsafe { folio(page) };
        // Nobody else locks a page that is not marked movable (compaction's
        // speculative reference tests the mark before it tries the lock),
        // so this only fails if another subsystem locks pages it does not
        // own.
        let Some(locked) = folio.try_lock() else {
            // SAFETY: the reference is ours, and the page is not marked
            // movable: a speculative reference of compaction's is dropped
            // without calling any operation.
            unsafe { bindings::__free_pages(page.as_ptr(), 0) };
            return Err(crate::error::code::EBUSY);
        };
        // SAFETY: the page is ours and locked, as `__SetPageMovable`
        // requires; the static operations outlive it.
        unsafe {
            bindings::set_page_private(page.as_ptr(), owner.into_foreign() as _);
            bindings::__SetPageMovable(page.as_ptr(), Vtable::<T>::OPS);
        }
        drop(locked);
        // INVARIANT: the page is movable with `T`'s operations and holds the
        // owner; we keep the allocator's reference.
        Ok(Self {
            page,
            _t: PhantomData,
        })
    }

    /// The page's kernel address.
    #[inline]
    pub fn addr(&self) -> NonNull<u8> {
        // SAFETY: by the type invariant the page is valid; without highmem
        // every page has a kernel address.
        let addr = unsafe { bindings::page_to_virt(self.page.as_ptr()) };
        // SAFETY: a page's kernel address is never NULL.
        unsafe { NonNull::new_unchecked(addr.cast()) }
    }

    /// The page's folio, for its pfn or to lock it.
    pub fn folio(&self) -> &Folio {
        // SAFETY: by the type invariant we own a reference to the page.
        unsafe { folio(self.page) }
    }

    /// Moves this page's contents and mark to `target`'s new page, which
    /// `self` owns from now on, and gives up the old one.  The caller holds
    /// what keeps its users off the page.  Fails with `EINVAL`, changing
    /// nothing, when `target` is the migration of another page.
    pub fn move_to<'a>(&mut self, target: MigrationTarget<'a, T>) -> Result<Migrated<'a>> {
        if target.src != self.page {
            return Err(EINVAL);
        }
        let (src, dst) = (target.src.as_ptr(), target.dst.as_ptr());
        // SAFETY: by `target`'s invariant both pages are valid, locked and
        // order 0; `src` is ours, so its `private` is our owner.  We take a
        // reference to `dst` before marking it, and give up ours on `src`
        // after unmarking it; the core still holds one on `src`, so this
        // put does not free it.
        unsafe {
            core::ptr::copy_nonoverlapping(
                bindings::page_to_virt(src).cast::<u8>(),
                bindings::page_to_virt(dst).cast::<u8>(),
                bindings::PAGE_SIZE,
            );
            bindings::folio_get(bindings::page_folio(dst));
            bindings::set_page_private(dst, bindings::page_private(src));
            bindings::__SetPageMovable(dst, Vtable::<T>::OPS);
            bindings::__ClearPageMovable(src);
            bindings::set_page_private(src, 0);
            bindings::folio_put(bindings::page_folio(src));
        }
        // INVARIANT: `dst` is now ours, movable with `T`'s operations and
        // holding the owner.
        self.page = target.dst;
        Ok(Migrated(PhantomData))
    }

    /// Takes the page's mark and owner away, with its lock held, and puts
    /// our reference.
    ///
    /// # Safety
    ///
    /// The caller holds the page lock, and gives the lock up before the
    /// reference is put: the caller passes a function that unlocks.
    unsafe fn unmark_locked(self, unlock: impl FnOnce()) -> T::Owner {
        let this = ManuallyDrop::new(self);
        let page = this.page.as_ptr();
        // SAFETY: by the type invariant `private` holds our owner and the
        // page is movable; the caller holds the page lock, and borrows of
        // the owner exist only inside the operations, which run under the
        // same lock, so none is alive.
        let owner = unsafe {
            let owner = T::Owner::from_foreign(bindings::page_private(page) as *const c_void);
            bindings::__ClearPageMovable(page);
            bindings::set_page_private(page, 0);
            owner
        };
        unlock();
        // SAFETY: the reference is ours; the page is no longer movable, so
        // the core will not call our operations on it again.
        unsafe { bindings::folio_put(bindings::page_folio(page)) };
        owner
    }

    /// Gives the page up if its lock is free, without sleeping: the page is
    /// no longer movable, our reference is put, and the owner is returned.
    /// Fails, returning the page, while someone (the migration core) holds
    /// its lock.
    pub fn try_release(self) -> core::result::Result<T::Owner, Self> {
        let page = self.page;
        // SAFETY: we own a reference to the page.
        let folio = unsafe { folio(page) };
        match folio.try_lock() {
            None => Err(self),
            Some(locked) => {
                // SAFETY: we hold the page lock; dropping the guard unlocks.
                Ok(unsafe { self.unmark_locked(move || drop(locked)) })
            }
        }
    }

    /// Gives the page up, sleeping on its lock if the migration core holds
    /// it, and returns the owner.
    pub fn release(self) -> T::Owner {
        // SAFETY: we own a reference to the page.
        let folio = unsafe { folio(self.page) };
        let locked = folio.lock();
        // SAFETY: we hold the page lock; dropping the guard unlocks.
        unsafe { self.unmark_locked(move || drop(locked)) }
    }
}

impl<T: MovableOps> Drop for MovablePage<T> {
    /// Releases the page, sleeping on its lock; the owner is dropped.  So a
    /// `MovablePage` must not be dropped in atomic context, nor by one of
    /// the operations, which run under the page's lock.
    fn drop(&mut self) {
        let this = MovablePage::<T> {
            page: self.page,
            _t: PhantomData,
        };
        drop(this.release());
    }
}

impl<'a, T: MovableOps> MigrationTarget<'a, T> {
    /// The page being migrated.
    pub fn src(&self) -> &'a Folio {
        // SAFETY: by the type invariant the core holds a reference to `src`
        // for the duration of the call.
        unsafe { folio(self.src) }
    }

    /// The page it is moving to.
    pub fn dst(&self) -> &'a Folio {
        // SAFETY: as above, for `dst`.
        unsafe { folio(self.dst) }
    }
}

struct Vtable<T>(PhantomData<T>);

impl<T: MovableOps> Vtable<T> {
    /// The operations, as a constant the compiler keeps in static memory:
    /// the core calls them through `page->mapping`.  Pages of one driver
    /// may point to different copies; the core never compares them.
    const OPS: &'static bindings::movable_operations = &bindings::movable_operations {
        isolate_page: Some(Self::isolate_page),
        migrate_page: Some(Self::migrate_page),
        putback_page: Some(Self::putback_page),
    };

    /// The owner a movable page of `T` holds.
    ///
    /// # Safety
    ///
    /// The migration core calls `T`'s operations only on a page it has
    /// locked and found movable with them, so by [`MovablePage`]'s
    /// invariant `private` holds a `T::Owner`, which stays there until the
    /// lock is released.  The caller passes such a page, and uses the
    /// borrow only while it holds the lock.
    unsafe fn owner<'b>(page: *mut bindings::page) -> <T::Owner as ForeignOwnable>::Borrowed<'b> {
        // SAFETY: as above.
        unsafe { T::Owner::borrow(bindings::page_private(page) as *const c_void) }
    }

    unsafe extern "C" fn isolate_page(
        page: *mut bindings::page,
        _mode: bindings::isolate_mode_t,
    ) -> bool {
        // SAFETY: `isolate_movable_page` calls this with the page locked and
        // movable with our operations.
        T::isolate(unsafe { Self::owner(page) })
    }

    unsafe extern "C" fn migrate_page(
        dst: *mut bindings::page,
        src: *mut bindings::page,
        _mode: bindings::migrate_mode,
    ) -> c_int {
        // SAFETY: `migrate_movable_ops_page` calls this with `src` locked,
        // isolated and movable with our operations, and a new, locked `dst`.
        let owner = unsafe { Self::owner(src) };
        // INVARIANT: as above; the core holds references to both pages.
        let target = MigrationTarget {
            // SAFETY: the core passes valid pages.
            src: unsafe { NonNull::new_unchecked(src) },
            // SAFETY: as above.
            dst: unsafe { NonNull::new_unchecked(dst) },
            _t: PhantomData,
        };
        let result = T::migrate(owner, target);
        // `move_to` is the only way to give `src` up, and it clears `src`'s
        // `private`.  A driver that moved the page and then failed anyway
        // must still see success: the core would otherwise retry or put
        // back a page that is no longer ours.
        // SAFETY: the core holds `src` locked for the whole call.
        if unsafe { bindings::page_private(src) } == 0 {
            if result.is_err() {
                crate::pr_warn!("movable page moved, but its driver reported an error\n");
            }
            return bindings::MIGRATEPAGE_SUCCESS as c_int;
        }
        match result {
            Ok(Migrated(_)) => bindings::MIGRATEPAGE_SUCCESS as c_int,
            Err(e) => e.to_errno(),
        }
    }

    unsafe extern "C" fn putback_page(page: *mut bindings::page) {
        // SAFETY: `putback_movable_pages` calls this with the page locked
        // and movable with our operations.
        T::putback(unsafe { Self::owner(page) })
    }
}
