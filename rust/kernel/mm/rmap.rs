// SPDX-License-Identifier: GPL-2.0

//! Reverse-map walks: every place a folio is mapped.
//!
//! C header: [`include/linux/rmap.h`](srctree/include/linux/rmap.h)
//!
//! A walk visits each (VMA, address) that maps a folio and calls a closure
//! there.  It needs the folio locked ([`FolioLockGuard`]), and takes the
//! reverse-map lock itself: the `anon_vma` rwsem for anonymous folios, the
//! file's `i_mmap_rwsem` for page-cache folios, both for reading, so walks
//! of the same folio run concurrently.

use super::{
    address_space::IMmapReadGuard, anon_vma::AnonVmaReadGuard, folio::FolioLockGuard, mm_struct::Mm,
};
use crate::{bindings, types::Opaque};
use core::ops::ControlFlow;

/// A virtual memory area, as a walk sees it.
///
/// # Invariants
///
/// While an `&Vma` exists, the VMA is valid and linked into the reverse
/// map, and the walk holds the rmap lock (`anon_vma` rwsem or
/// `i_mmap_rwsem`) that it was found under: unlinking the VMA, and changing
/// its `vm_start` or `vm_end`, take that lock for writing.
#[repr(transparent)]
pub struct Vma(Opaque<bindings::vm_area_struct>);

impl Vma {
    /// The address space the VMA belongs to.
    pub fn mm(&self) -> &Mm {
        // SAFETY: by the type invariant the VMA is valid and still linked.
        // An mm's VMAs are unlinked in `exit_mmap()` before its users'
        // `mm_count` reference is dropped, so that reference is held for as
        // long as `&self`.
        unsafe { Mm::from_raw((*self.0.get()).vm_mm) }
    }

    /// The first address of the VMA.
    pub fn start(&self) -> usize {
        self.span().0
    }

    /// The address just past the VMA.
    pub fn end(&self) -> usize {
        self.span().1
    }

    /// `vm_start` and `vm_end`.
    ///
    /// In C they are an anonymous struct in an anonymous union at the head
    /// of `vm_area_struct` (shared with `vm_rcu`), which bindgen names
    /// `__bindgen_anon_1.__bindgen_anon_1`; this is the only place that
    /// spells those names.
    fn span(&self) -> (usize, usize) {
        // SAFETY: by the type invariant the VMA is valid and linked, and
        // the walk's rmap lock keeps it so.  `vm_rcu` is only used to free
        // an unlinked VMA, so the union holds `vm_start` and `vm_end`,
        // which the lock keeps from changing.
        let span = unsafe { (*self.0.get()).__bindgen_anon_1.__bindgen_anon_1 };
        (span.vm_start as usize, span.vm_end as usize)
    }
}

/// The lock a walk holds while it visits the mappings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RmapLock {
    /// The `anon_vma` rwsem, for reading (anonymous and swap-cache folios).
    AnonVma,
    /// The file's `i_mmap_rwsem`, for reading (page-cache folios).
    IMmap,
    /// KSM's own walk, which takes the locks of each stable-tree item.
    Ksm,
}

/// The walk did not run: its lock was contended (try-lock mode).
#[derive(Debug, PartialEq, Eq)]
pub struct Contended;

fn walk_control<F>(f: &mut F, try_lock: bool) -> bindings::rmap_walk_control
where
    F: FnMut(&Vma, usize) -> ControlFlow<()>,
{
    unsafe extern "C" fn rmap_one<F>(
        _folio: *mut bindings::folio,
        vma: *mut bindings::vm_area_struct,
        address: crate::ffi::c_ulong,
        arg: *mut crate::ffi::c_void,
    ) -> bool
    where
        F: FnMut(&Vma, usize) -> ControlFlow<()>,
    {
        // SAFETY: `arg` is the `&mut F` the walk was started with, which
        // nothing else uses during the walk.  The walk found `vma` linked in
        // the folio's reverse map and holds the rmap lock it found it under
        // until the call returns; the `&Vma` cannot outlive the call, so
        // the `Vma` invariant holds while it exists.
        let (f, vma) = unsafe { (&mut *arg.cast::<F>(), &*vma.cast::<Vma>()) };
        f(vma, address as usize).is_continue()
    }

    bindings::rmap_walk_control {
        arg: (f as *mut F).cast(),
        try_lock,
        contended: false,
        rmap_one: Some(rmap_one::<F>),
        done: None,
        // The folio lock does not keep a racing munmap from freeing the
        // `anon_vma` of a mapped anonymous folio: this finds it under RCU
        // and holds it by the lock it takes, as reclaim's walks do.
        anon_lock: Some(bindings::folio_lock_anon_vma_read),
        invalid_vma: None,
    }
}

impl FolioLockGuard<'_> {
    /// The lock a walk of this folio takes.
    pub fn rmap_lock(&self) -> RmapLock {
        if self.test_ksm() {
            RmapLock::Ksm
        } else if self.test_anon() {
            RmapLock::AnonVma
        } else {
            RmapLock::IMmap
        }
    }

    /// Calls `f` for each (VMA, address) that maps the folio, taking and
    /// dropping the reverse-map lock itself.  `f` stops the walk by
    /// returning [`ControlFlow::Break`].
    ///
    /// # Examples
    ///
    /// A folio that nobody maps: the walk finds nothing, and a folio that
    /// is neither anonymous nor in the page cache has no rmap lock.
    ///
    /// ```
    /// use core::ops::ControlFlow;
    /// use kernel::mm::folio::Folio;
    ///
    /// let folio = Folio::alloc(GFP_KERNEL)?;
    /// let locked = folio.lock();
    /// let mut found = 0;
    /// locked.rmap_walk(|_vma, _address| {
    ///     found += 1;
    ///     ControlFlow::Continue(())
    /// });
    /// assert_eq!(found, 0);
    /// assert!(locked.lock_rmap_read().is_none());
    /// # Ok::<(), Error>(())
    /// ```
    ///
    /// `f` runs under the rmap lock: it must not sleep on locks that come
    /// earlier in the [lock order](super).
    pub fn rmap_walk<F>(&self, mut f: F)
    where
        F: FnMut(&Vma, usize) -> ControlFlow<()>,
    {
        let mut rwc = walk_control(&mut f, false);
        // SAFETY: the folio is locked, as rmap_walk() requires; `rwc` and
        // the closure outlive the call.
        unsafe { bindings::rmap_walk(self.as_raw(), &mut rwc) };
    }

    /// Like [`Self::rmap_walk`], but gives up instead of sleeping when the
    /// rmap lock is contended (`rwc->try_lock`), as reclaim does.
    pub fn try_rmap_walk<F>(&self, mut f: F) -> Result<(), Contended>
    where
        F: FnMut(&Vma, usize) -> ControlFlow<()>,
    {
        let mut rwc = walk_control(&mut f, true);
        // SAFETY: as in `rmap_walk`.
        unsafe { bindings::rmap_walk(self.as_raw(), &mut rwc) };
        if rwc.contended {
            Err(Contended)
        } else {
            Ok(())
        }
    }
}

/// A locked folio together with its reverse-map lock, held for reading.
///
/// Made by [`FolioLockGuard::lock_rmap_read`], so the lock is always the
/// right one for the folio; the walk it offers (`rmap_walk_locked`) cannot
/// run without it, nor take it a second time.  Like the rwsem guard it
/// holds, it is not `Send`.
///
/// # Invariants
///
/// Exactly one of `_anon_vma` and `_i_mmap` is `Some`, for as long as the
/// guard lives: the read lock of the `anon_vma` of `folio`, an anonymous
/// folio, or the `i_mmap_rwsem` of the address space of `folio`, a
/// page-cache folio.
pub struct RmapReadGuard<'a> {
    folio: &'a FolioLockGuard<'a>,
    _anon_vma: Option<AnonVmaReadGuard<'a>>,
    _i_mmap: Option<IMmapReadGuard<'a>>,
}

assert_not_send!(RmapReadGuard<'static>);

impl FolioLockGuard<'_> {
    /// Takes the folio's rmap lock for reading: the `anon_vma` rwsem of an
    /// anonymous folio that is still mapped, or the `i_mmap_rwsem` of a
    /// page-cache folio.  `None` for KSM folios, unmapped anonymous folios
    /// and folios no longer in the page cache.
    pub fn lock_rmap_read(&self) -> Option<RmapReadGuard<'_>> {
        let (anon_vma, i_mmap) = match self.rmap_lock() {
            RmapLock::Ksm => return None,
            RmapLock::AnonVma => (Some(self.lock_anon_vma_read()?), None),
            RmapLock::IMmap => (None, Some(self.address_space()?.i_mmap_lock_read())),
        };
        // INVARIANT: `rmap_lock` picked the lock that the walks of this
        // folio take, and exactly one of the two was taken.
        Some(RmapReadGuard {
            folio: self,
            _anon_vma: anon_vma,
            _i_mmap: i_mmap,
        })
    }
}

impl RmapReadGuard<'_> {
    /// Calls `f` for each (VMA, address) that maps the folio, under the
    /// lock this guard holds (`rmap_walk_locked`).
    pub fn rmap_walk_locked<F>(&self, mut f: F)
    where
        F: FnMut(&Vma, usize) -> ControlFlow<()>,
    {
        let mut rwc = walk_control(&mut f, false);
        // SAFETY: `self.folio` is locked, and by the type invariant we hold
        // its rmap lock for reading, as `rmap_walk_locked()` requires;
        // `rwc` and the closure outlive the call.
        unsafe { bindings::rmap_walk_locked(self.folio.as_raw(), &mut rwc) };
    }
}
