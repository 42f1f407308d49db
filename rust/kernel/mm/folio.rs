// SPDX-License-Identifier: GPL-2.0

//! Folios: one or more pages managed as a unit.
//!
//! C header: [`include/linux/mm.h`](srctree/include/linux/mm.h)

use crate::{
    alloc::{AllocError, Flags},
    bindings,
    error::{code::EFAULT, Result},
    types::{ARef, AlwaysRefCounted, Opaque},
};
use core::{mem::ManuallyDrop, ops::Deref, ptr::NonNull};

/// A folio.
///
/// # Examples
///
/// A folio that nobody maps has nothing to unmap, and its lock is a
/// sleeping bit lock with one holder:
///
/// ```
/// use kernel::mm::folio::{Folio, UnmapMlocked};
///
/// let folio = Folio::alloc(GFP_KERNEL)?;
/// assert_eq!(folio.nr_pages(), 1);
/// assert!(!folio.test_anon() && !folio.mapped() && folio.mapcount() == 0);
///
/// let locked = folio.lock();
/// assert!(folio.test_locked());
/// assert!(folio.try_lock().is_none());
/// assert!(locked.unmap_all(UnmapMlocked::Keep));
/// drop(locked);
/// assert!(folio.try_lock().is_some());
/// # Ok::<(), Error>(())
/// ```
///
/// # Invariants
///
/// The folio is valid, and while an `&Folio` exists someone holds a
/// reference to it.
#[repr(transparent)]
pub struct Folio(Opaque<bindings::folio>);

// SAFETY: folios are shared between tasks; their state is protected by the
// folio lock and atomic flags.
unsafe impl Send for Folio {}
// SAFETY: as above.
unsafe impl Sync for Folio {}

// SAFETY: `folio_get` and `folio_put` manage the folio's reference count.
unsafe impl AlwaysRefCounted for Folio {
    fn inc_ref(&self) {
        // SAFETY: by the type invariant the folio is valid.
        unsafe { bindings::folio_get(self.as_raw()) };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: the caller owns a reference.
        unsafe { bindings::folio_put(obj.cast().as_ptr()) };
    }
}

/// `folio->$field`, the field of the folio's first page that bindgen
/// reaches through the `struct page` union and its anonymous struct.
macro_rules! folio_field {
    ($folio:expr, $field:ident) => {
        &raw const (*$folio.as_raw()).__bindgen_anon_1.__bindgen_anon_1.$field
    };
}

macro_rules! flag_queries {
    ($($(#[$doc:meta])* $name:ident => $helper:ident;)*) => {
        $(
            $(#[$doc])*
            pub fn $name(&self) -> bool {
                // SAFETY: by the type invariant the folio is valid.
                unsafe { bindings::$helper(self.as_raw()) }
            }
        )*
    };
}

impl Folio {
    /// Wraps a raw folio.
    ///
    /// # Safety
    ///
    /// `ptr` must be a valid folio that the caller keeps a reference to for
    /// `'a`.
    #[inline]
    pub unsafe fn from_raw<'a>(ptr: *mut bindings::folio) -> &'a Self {
        // SAFETY: `Folio` is transparent; the caller guarantees validity.
        unsafe { &*ptr.cast() }
    }

    /// The raw folio.
    #[inline]
    pub fn as_raw(&self) -> *mut bindings::folio {
        self.0.get()
    }

    /// Takes a reference to the folio that `page` belongs to, unless the
    /// page is free or its folio is being freed or frozen.
    ///
    /// This is the speculative reference of the page cache's lockless
    /// lookups: by the time the reference is taken the page may have been
    /// freed and reused, so the caller checks the folio's identity (its
    /// flags, mapping and index) before relying on it.
    ///
    /// # Safety
    ///
    /// `page` must be a `struct page` of the memory map.
    pub unsafe fn try_get_page(page: *mut bindings::page) -> Option<ARef<Self>> {
        // SAFETY: the caller passes a page of the memory map, which is
        // never freed; `page_folio` reads its compound head.
        let folio = unsafe { bindings::page_folio(page) };
        // SAFETY: as above, `folio` is a page of the memory map.
        if !unsafe { bindings::folio_try_get(folio) } {
            return None;
        }
        // SAFETY: `folio_try_get` took a reference; `ARef` takes it over.
        Some(unsafe { ARef::from_raw(NonNull::new_unchecked(folio.cast::<Self>())) })
    }

    /// Allocates a single-page folio, not part of any page cache or
    /// anonymous mapping.
    pub fn alloc(flags: Flags) -> Result<ARef<Self>, AllocError> {
        // SAFETY: FFI call; a non-NULL result carries a reference.
        let folio = unsafe { bindings::folio_alloc(flags.as_raw(), 0) };
        let folio = NonNull::new(folio).ok_or(AllocError)?;
        // SAFETY: the new folio's reference is handed to `ARef`.
        Ok(unsafe { ARef::from_raw(folio.cast()) })
    }

    /// Looks up the folio mapped at `addr` in the current task's address
    /// space, faulting it in if needed, and takes a reference to it.
    pub fn get_user(addr: usize) -> Result<ARef<Self>> {
        let mut page: *mut bindings::page = core::ptr::null_mut();
        // SAFETY: `page` has room for one page pointer.
        let got = unsafe { bindings::get_user_pages_fast(addr, 1, 0, &mut page) };
        if got != 1 {
            return Err(if got < 0 {
                crate::error::Error::from_errno(got)
            } else {
                EFAULT
            });
        }
        // SAFETY: GUP returned a page with a reference, which is a
        // reference to its folio; `ARef` takes it over.
        Ok(unsafe {
            ARef::from_raw(NonNull::new_unchecked(
                bindings::page_folio(page).cast::<Self>(),
            ))
        })
    }

    flag_queries! {
        /// Whether the folio is anonymous memory (including KSM).
        test_anon => folio_test_anon;
        /// Whether the folio is a KSM page.
        test_ksm => folio_test_ksm;
        /// Whether the folio is in the swap cache.
        test_swapcache => folio_test_swapcache;
        /// Whether the folio's contents need swap (or shmem) to be dropped.
        test_swapbacked => folio_test_swapbacked;
        /// Whether the folio is on an LRU list.
        test_lru => folio_test_lru;
        /// Whether the folio is dirty.
        test_dirty => folio_test_dirty;
        /// Whether the folio is under writeback.
        test_writeback => folio_test_writeback;
        /// Whether the folio's contents are up to date.
        test_uptodate => folio_test_uptodate;
        /// Whether the folio is locked (by anyone).
        test_locked => folio_test_locked;
        /// Whether any page of the folio is mapped into a page table.
        mapped => folio_mapped;
        /// Whether the filesystem attached private data (buffer heads).
        test_private => folio_test_private;
        /// Whether the folio is mlocked.
        test_mlocked => folio_test_mlocked;
        /// Whether the folio is on the unevictable LRU list.
        test_unevictable => folio_test_unevictable;
        /// Whether the folio is made of more than one page.
        test_large => folio_test_large;
    }

    /// The folio's flags, read in one load.  Testing several flags of a
    /// snapshot costs one access to the folio, not one call per flag; the
    /// flags may change right after, so decisions taken on a snapshot must
    /// be confirmed under a lock or by an atomic step.
    #[inline]
    pub fn flags(&self) -> FolioFlags {
        // SAFETY: by the type invariant the folio is valid.
        let flags = unsafe { folio_field!(self, flags) };
        // SAFETY: the flags word is changed with atomic bit operations; a
        // volatile load sees one of its values (`READ_ONCE`).
        FolioFlags(unsafe { core::ptr::read_volatile(flags) } as usize)
    }

    /// The folio's reference count.  Racy unless the caller excludes the
    /// other holders: use it for checks that a later atomic step confirms.
    #[inline]
    pub fn ref_count(&self) -> i32 {
        // SAFETY: by the type invariant the folio is valid.
        unsafe { bindings::folio_ref_count(self.as_raw()) }
    }

    /// How many page table entries map the folio.
    #[inline]
    pub fn mapcount(&self) -> i32 {
        // SAFETY: by the type invariant the folio is valid.
        unsafe { bindings::folio_mapcount(self.as_raw()) }
    }

    /// The number of pages in the folio.
    pub fn nr_pages(&self) -> usize {
        // SAFETY: by the type invariant the folio is valid.
        unsafe { bindings::folio_nr_pages(self.as_raw()) as usize }
    }

    /// The page frame number of the folio's first page.
    #[inline]
    pub fn pfn(&self) -> usize {
        // SAFETY: by the type invariant the folio is valid.
        unsafe { bindings::folio_pfn(self.as_raw()) as usize }
    }

    /// Whether the folio belongs to a file's page cache: its mapping is an
    /// address space, neither tagged (anonymous, KSM, movable non-LRU) nor
    /// NULL.  Without the folio lock the answer may change at once.
    #[inline]
    pub fn in_page_cache(&self) -> bool {
        let mapping = self.raw_mapping() as usize;
        let tags = (bindings::PAGE_MAPPING_ANON | bindings::PAGE_MAPPING_MOVABLE) as usize;
        mapping != 0 && mapping & tags == 0
    }

    /// The raw `folio->mapping`: an `address_space`, or for anonymous
    /// folios an `anon_vma` tagged with `PAGE_MAPPING_ANON`.  Read once
    /// (`READ_ONCE`): without the folio lock, truncation may clear it at
    /// any time.
    #[inline]
    pub(super) fn raw_mapping(&self) -> *mut crate::ffi::c_void {
        // SAFETY: by the type invariant the folio is valid; the field is
        // written with plain stores under the folio lock, and a volatile
        // load sees either value whole (`READ_ONCE`).
        unsafe { core::ptr::read_volatile(folio_field!(self, mapping)) }.cast()
    }

    /// The folio's index in its file, in pages.  Only meaningful while the
    /// folio is in a page cache: hold its lock to keep it there.
    #[inline]
    pub fn index(&self) -> usize {
        // SAFETY: by the type invariant the folio is valid.
        unsafe { core::ptr::read_volatile(folio_field!(self, index)) as usize }
    }

    /// Locks the folio, sleeping until it is available.
    pub fn lock(&self) -> FolioLockGuard<'_> {
        // SAFETY: by the type invariant the folio is valid.
        unsafe { bindings::folio_lock(self.as_raw()) };
        // INVARIANT: the folio was just locked.
        FolioLockGuard(self)
    }

    /// Locks the folio if nobody else holds its lock.
    pub fn try_lock(&self) -> Option<FolioLockGuard<'_>> {
        // SAFETY: by the type invariant the folio is valid.
        if unsafe { bindings::folio_trylock(self.as_raw()) } {
            // INVARIANT: the folio was just locked.
            Some(FolioLockGuard(self))
        } else {
            None
        }
    }

    /// Runs `f` with the lock that the caller already holds on the folio,
    /// which stays held when `f` returns: for callers that C code hands a
    /// locked folio.
    ///
    /// # Safety
    ///
    /// The caller must hold the folio lock until this returns.
    pub unsafe fn with_lock_held<R>(&self, f: impl FnOnce(&FolioLockGuard<'_>) -> R) -> R {
        // INVARIANT: the caller holds the lock; `ManuallyDrop` leaves it
        // held, and `f` only borrows the guard.
        let guard = ManuallyDrop::new(FolioLockGuard(self));
        f(&guard)
    }
}

/// Idle page tracking's mark (`PG_idle`).
#[cfg(CONFIG_PAGE_IDLE_FLAG)]
impl Folio {
    /// Whether nothing cleared the folio's idle mark since it was set.
    ///
    /// Reads and writes through the page cache clear the mark
    /// (`folio_mark_accessed()`, except with the multi-generational LRU);
    /// an access through a page table leaves it until a reverse-map walk
    /// finds the entry young and clears it (`folio_referenced()`, idle page
    /// tracking).  Idle page tracking (`/sys/kernel/mm/page_idle`) and
    /// DAMON's physical address monitoring set the same mark, and clear
    /// the page table entries' accessed bits as they look: an observer
    /// sees what cleared the mark since anyone set it.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::mm::folio::Folio;
    ///
    /// let folio = Folio::alloc(GFP_KERNEL)?;
    /// assert!(!folio.test_idle());
    /// folio.set_idle();
    /// assert!(folio.test_idle());
    /// # Ok::<(), Error>(())
    /// ```
    #[inline]
    pub fn test_idle(&self) -> bool {
        // SAFETY: by the type invariant the folio is valid.
        unsafe { bindings::folio_test_idle(self.as_raw()) }
    }

    /// Sets the folio's idle mark: the next access clears it.
    #[inline]
    pub fn set_idle(&self) {
        // SAFETY: by the type invariant the folio is valid; the flag is
        // set with an atomic bit operation.
        unsafe { bindings::folio_set_idle(self.as_raw()) }
    }
}

/// A page flag of a folio, for [`FolioFlags::has`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum PageFlag {
    /// `PG_locked`.
    Locked = bindings::pageflags_PG_locked,
    /// `PG_writeback`.
    Writeback = bindings::pageflags_PG_writeback,
    /// `PG_uptodate`.
    Uptodate = bindings::pageflags_PG_uptodate,
    /// `PG_dirty`.
    Dirty = bindings::pageflags_PG_dirty,
    /// `PG_lru`.
    Lru = bindings::pageflags_PG_lru,
    /// `PG_head`: the folio is large.
    Head = bindings::pageflags_PG_head,
    /// `PG_private`: the filesystem attached data (buffer heads).
    Private = bindings::pageflags_PG_private,
    /// `PG_swapbacked`: anonymous or shmem memory.
    SwapBacked = bindings::pageflags_PG_swapbacked,
    /// `PG_swapcache`: in the swap cache.  The bit is shared with a
    /// filesystem flag and means this only together with
    /// [`PageFlag::SwapBacked`].
    SwapCache = bindings::pageflags_PG_swapcache,
    /// `PG_unevictable`.
    Unevictable = bindings::pageflags_PG_unevictable,
    /// `PG_mlocked`.
    Mlocked = bindings::pageflags_PG_mlocked,
}

/// A snapshot of a folio's flags, from [`Folio::flags`].
///
/// # Examples
///
/// ```
/// use kernel::mm::folio::{Folio, PageFlag};
///
/// let folio = Folio::alloc(GFP_KERNEL)?;
/// let flags = folio.flags();
/// assert!(!flags.has(PageFlag::Lru) && !flags.has(PageFlag::Locked));
/// let locked = folio.lock();
/// assert!(locked.flags().has(PageFlag::Locked));
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct FolioFlags(usize);

impl FolioFlags {
    /// Whether `flag` was set.
    #[inline]
    pub fn has(self, flag: PageFlag) -> bool {
        self.0 & (1usize << flag as u32) != 0
    }

    /// Whether any of `flags` was set.
    #[inline]
    pub fn any(self, flags: &[PageFlag]) -> bool {
        flags.iter().any(|&f| self.has(f))
    }
}

/// A locked folio.  The lock keeps the folio's `mapping` and its membership
/// in the page or swap cache stable, and is what the rmap walks and
/// unmapping require.
///
/// # Invariants
///
/// The holder holds the lock of `self.0`.
pub struct FolioLockGuard<'a>(&'a Folio);

/// Whether [`FolioLockGuard::unmap_all`] also takes an mlocked folio out
/// of the page tables of `VM_LOCKED` mappings.  The caller decides: a host
/// taking memory must leave locked memory alone, a folio whose contents
/// are already gone must leave every mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnmapMlocked {
    /// Stop at a `VM_LOCKED` mapping and leave the folio mapped there (it
    /// is marked mlocked on the way, as reclaim does).
    Keep,
    /// Unmap it from `VM_LOCKED` mappings too (`TTU_IGNORE_MLOCK`).
    Unmap,
}

impl FolioLockGuard<'_> {
    /// Unmaps the folio from every page table that maps it, anonymous,
    /// file-backed or in the swap cache alike (`try_to_unmap`), except
    /// `VM_LOCKED` mappings when `mlocked` says to keep them.  Secondary
    /// MMUs are told through MMU notifiers.
    ///
    /// Returns `true` when no mapping is left.  A mapping can remain in a
    /// `VM_LOCKED` mapping, when a page table could not be locked without
    /// sleeping on a lock the caller may hold, or when a GUP pin keeps the
    /// folio in place.
    ///
    /// An anonymous folio can only leave its page tables for a swap entry,
    /// so one that is neither in the swap cache nor lazily freed stays
    /// mapped: there would be nothing to refault it from, and
    /// `try_to_unmap` warns and drops the mapping in that case.
    pub fn unmap_all(&self, mlocked: UnmapMlocked) -> bool {
        if self.test_anon() && self.test_swapbacked() && !self.test_swapcache() {
            return !self.0.mapped();
        }
        // TTU_SYNC walks every mapping even if the mapcount drops to zero
        // meanwhile, so that the result is exact.
        let mut flags = bindings::ttu_flags_TTU_SYNC;
        if mlocked == UnmapMlocked::Unmap {
            flags |= bindings::ttu_flags_TTU_IGNORE_MLOCK;
        }
        // SAFETY: we hold the folio lock, as `try_to_unmap` requires.
        unsafe { bindings::try_to_unmap(self.0.as_raw(), flags) };
        !self.0.mapped()
    }

    /// Removes a clean, unmapped folio from its page cache, as truncation
    /// does: lookups no longer find it, and the page cache's references go.
    /// Others who hold references keep the folio, which has no mapping
    /// now; the last of them frees it.  Fails, changing nothing, when the
    /// folio is not in a page cache, or is mapped, dirty, under writeback
    /// or has private data.
    pub fn remove_from_page_cache(&self) -> bool {
        if self.address_space().is_none()
            || self.test_dirty()
            || self.test_writeback()
            || self.test_private()
            || self.mapped()
        {
            return false;
        }
        // SAFETY: we hold the folio lock and it is in a page cache, as
        // `filemap_remove_folio` requires; our reference keeps it allocated.
        unsafe { bindings::filemap_remove_folio(self.0.as_raw()) };
        true
    }
}

impl Deref for FolioLockGuard<'_> {
    type Target = Folio;

    fn deref(&self) -> &Folio {
        self.0
    }
}

impl Drop for FolioLockGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: by the type invariant we hold the lock.
        unsafe { bindings::folio_unlock(self.0.as_raw()) };
    }
}
