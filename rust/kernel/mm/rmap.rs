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
/// The VMA is valid while an `&Vma` exists: the walk's rmap lock keeps it.
#[repr(transparent)]
pub struct Vma(Opaque<bindings::vm_area_struct>);

impl Vma {
    /// The address space the VMA belongs to.
    pub fn mm(&self) -> &Mm {
        // SAFETY: by the type invariant the VMA is valid, and its mm
        // outlives it.
        unsafe { Mm::from_raw((*self.0.get()).vm_mm) }
    }

    /// The first address of the VMA.
    pub fn start(&self) -> usize {
        // SAFETY: by the type invariant the VMA is valid.
        unsafe { (*self.0.get()).__bindgen_anon_1.__bindgen_anon_1.vm_start as usize }
    }

    /// The address just past the VMA.
    pub fn end(&self) -> usize {
        // SAFETY: by the type invariant the VMA is valid.
        unsafe { (*self.0.get()).__bindgen_anon_1.__bindgen_anon_1.vm_end as usize }
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
        // SAFETY: `arg` is the `&mut F` the walk was started with, and the
        // walk holds the rmap lock that keeps `vma` valid during the call.
        let (f, vma) = unsafe { (&mut *arg.cast::<F>(), &*vma.cast::<Vma>()) };
        f(vma, address as usize).is_continue()
    }

    bindings::rmap_walk_control {
        arg: (f as *mut F).cast(),
        try_lock,
        contended: false,
        rmap_one: Some(rmap_one::<F>),
        done: None,
        anon_lock: None,
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
/// run without it, nor take it a second time.
pub struct RmapReadGuard<'a> {
    folio: &'a FolioLockGuard<'a>,
    // Exactly one of the two is held, for as long as the guard lives.
    _anon_vma: Option<AnonVmaReadGuard<'a>>,
    _i_mmap: Option<IMmapReadGuard<'a>>,
}

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
        // SAFETY: the folio is locked and we hold its rmap lock.
        unsafe { bindings::rmap_walk_locked(self.folio.as_raw(), &mut rwc) };
    }
}
