// SPDX-License-Identifier: GPL-2.0

//! Memory management: address spaces, folios and the reverse map.
//!
//! C headers: [`include/linux/mm.h`](srctree/include/linux/mm.h),
//! [`include/linux/rmap.h`](srctree/include/linux/rmap.h) and
//! [`include/linux/mmu_notifier.h`](srctree/include/linux/mmu_notifier.h).
//!
//! # Lock order
//!
//! The types here take the kernel's mm locks in one order, outermost first:
//!
//! 1. `mmap_lock` ([`mm_struct::MmapReadGuard`]),
//! 2. the folio lock ([`folio::FolioLockGuard`]),
//! 3. `i_mmap_rwsem` ([`address_space::IMmapReadGuard`]),
//! 4. the anon_vma `rwsem` ([`anon_vma::AnonVmaReadGuard`]),
//! 5. the page table lock (taken inside the C walkers only).
//!
//! A lock later in the list is never held while an earlier one is taken.
//! A movable page's operations ([`movable::MovableOps`]) run with the page
//! lock held (level 2); the driver's locks nest inside it.
//! [`cache_removal::CacheRemoval`] holds the folio locks of its batch (level
//! 2, taken only with a trylock); the page cache's spinlocks nest inside
//! them, in the C code.
//! The guards borrow what they lock, so a walk cannot outlive its lock, and
//! code that needs an `anon_vma` after dropping its lock keeps it alive
//! through its reference count ([`anon_vma::AnonVma`] is reference counted).
//! See Documentation/rust/mm.rst.
//!
//! The rwsem guards ([`mm_struct::MmapReadGuard`],
//! [`address_space::IMmapReadGuard`], [`address_space::IMmapWriteGuard`],
//! [`anon_vma::AnonVmaReadGuard`] and [`rmap::RmapReadGuard`]) are not
//! `Send`: an rwsem is released by the task that took it (lockdep and the
//! rwsem's owner field, which optimistic spinning reads, record that task).

/// Fails to build if any of the given types is `Send`.
///
/// A negative trait bound cannot be written, so this uses inference: if a
/// type is `Send`, both impls of `AmbiguousIfSend` apply to it and the
/// trait's parameter in the call cannot be inferred (error E0283).
macro_rules! assert_not_send {
    ($($t:ty),+ $(,)?) => {
        const _: fn() = || {
            trait AmbiguousIfSend<A> {
                fn check() {}
            }
            impl<T: ?Sized> AmbiguousIfSend<()> for T {}
            impl<T: ?Sized + Send> AmbiguousIfSend<u8> for T {}
            $(let _ = <$t as AmbiguousIfSend<_>>::check;)+
        };
    };
}

pub mod address_space;
pub mod anon_vma;
pub mod cache_removal;
pub mod folio;
#[cfg(CONFIG_MMU_NOTIFIER)]
pub mod interval_notifier;
#[cfg(CONFIG_MIGRATION)]
pub mod migrate;
pub mod mm_struct;
#[cfg(CONFIG_MMU_NOTIFIER)]
pub mod mmu_notifier;
#[cfg(all(CONFIG_COMPACTION, not(CONFIG_HIGHMEM)))]
pub mod movable;
pub mod rmap;
