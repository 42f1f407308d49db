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
//! The guards borrow what they lock, so a walk cannot outlive its lock, and
//! code that needs an `anon_vma` after dropping its lock keeps it alive
//! through its reference count ([`anon_vma::AnonVma`] is reference counted).
//! See Documentation/rust/mm.rst.

pub mod address_space;
pub mod anon_vma;
pub mod folio;
#[cfg(CONFIG_MMU_NOTIFIER)]
pub mod interval_notifier;
#[cfg(CONFIG_MIGRATION)]
pub mod migrate;
pub mod mm_struct;
#[cfg(CONFIG_MMU_NOTIFIER)]
pub mod mmu_notifier;
pub mod rmap;
