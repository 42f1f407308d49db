// SPDX-License-Identifier: GPL-2.0

//! Backends: what carries a page's state to the host.
//!
//! Both keep the guest's side in the [`Table`]; they differ in who the
//! host is.  With ESSA it is the hypervisor, and the instruction returns
//! the page's previous state.  Without it the host is emulated inside the
//! guest ([`crate::host`]), and the table is its whole model.

use crate::{
    essa::{self, Hypervisor, IfResident},
    state::{Entry, Op, Refused, Usage},
    table::{Guard, Table},
};
use kernel::{bindings, str::CStr};

/// How ESSA's "stable" is issued, as the boot code decided (`cmma_flag`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StableMode {
    /// The page is stable and its DAT tables are in use (`cmma_flag == 1`).
    Dat,
    /// The hypervisor also tracks no-DAT pages (`cmma_flag >= 2`).
    NoDat,
}

/// The backend in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backend {
    /// No hypervisor takes hints: the host is emulated in the guest.
    Emulated,
    /// The s390 ESSA instruction (collaborative memory management).
    Essa(StableMode),
}

impl Backend {
    /// The backend that s390's `cmma_flag` stands for.
    ///
    /// The boot code sets `cmma_flag` to 0 when ESSA raises an operation
    /// exception (QEMU's TCG, or a hypervisor without CMMA), to 1 when ESSA
    /// works, and to 2 when the hypervisor also takes no-DAT hints.
    #[inline]
    pub(crate) fn from_cmma_flag(cmma_flag: i32) -> Self {
        match cmma_flag {
            0 => Backend::Emulated,
            1 => Backend::Essa(StableMode::Dat),
            _ => Backend::Essa(StableMode::NoDat),
        }
    }

    /// The backend this machine uses.
    #[inline]
    pub(crate) fn current() -> Self {
        // SAFETY: `cmma_flag` is set once by the boot code, before the
        // kernel proper starts, and only read afterwards.
        Self::from_cmma_flag(unsafe { bindings::cmma_flag })
    }

    /// The backend's name, as sysfs shows it.
    pub(crate) fn name(self) -> &'static CStr {
        match self {
            Backend::Emulated => kernel::c_str!("emulated"),
            Backend::Essa(_) => kernel::c_str!("essa"),
        }
    }

    /// Why this backend is the one in use.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Backend::Emulated => {
                "ESSA is not available (operation exception at boot), the host is emulated in the guest"
            }
            Backend::Essa(StableMode::Dat) => "ESSA is available",
            Backend::Essa(StableMode::NoDat) => "ESSA is available, with no-DAT hints",
        }
    }

    /// The bits of a table byte that send a page-cache lookup through
    /// the core (`page_states_must_take()` in `<linux/page-states.h>`).
    ///
    /// With ESSA that is every byte but a stable, unguarded page's: a page
    /// in use must be stable, and a lookup that finds the guard held must
    /// wait for its holder.  The emulated host's lookups only check for a
    /// discard (see [`Backend::make_stable`]): only a page whose contents
    /// the host dropped needs the core.
    pub(crate) fn take_mask(self) -> u8 {
        match self {
            Backend::Emulated => Entry::CONTENT_ZERO,
            Backend::Essa(_) => u8::MAX,
        }
    }

    /// Marks the `pages` page frames from `pfn`, which are being freed,
    /// unused.
    ///
    /// # Safety
    ///
    /// The pages must be being freed.
    #[inline]
    pub(crate) unsafe fn set_unused(self, table: &Table, pfn: usize, pages: usize) {
        if let Backend::Essa(_) = self {
            // SAFETY: the caller passes pages that are being freed.
            unsafe { essa::set_unused(pfn, pages) };
        }
        table.update_unshared(pfn, pages, Op::SetUnused);
    }

    /// Marks the `pages` page frames from `pfn`, which were just
    /// allocated, stable.
    ///
    /// # Safety
    ///
    /// The pages must have been just allocated.
    #[inline]
    pub(crate) unsafe fn set_stable(self, table: &Table, pfn: usize, pages: usize) {
        table.update_unshared(pfn, pages, Op::SetStable);
        if let Backend::Essa(mode) = self {
            // SAFETY: the caller passes pages that were just allocated.
            unsafe { essa::set_stable(pfn, pages, mode) };
        }
    }

    /// Tells the host that page frame `pfn` is volatile, or potentially
    /// volatile (`writable`): the host may drop it only while no write
    /// reached it since.
    ///
    /// # Safety
    ///
    /// The caller holds the guard of `pfn`, and has checked under it that
    /// the page's folio is a clean page-cache or swap-cache folio that
    /// nobody but the cache and its mappings uses, and that no mapping
    /// holds a dirty page table entry of it: the host may drop its
    /// contents from now on.  A folio that a mapping may write without a
    /// fault that takes it back must be `writable`.
    pub(crate) unsafe fn set_volatile(self, pfn: usize, writable: bool) {
        if let Backend::Essa(_) = self {
            let command = if writable {
                essa::Command::SetPotVolatile
            } else {
                essa::Command::SetVolatile
            };
            // SAFETY: the caller holds the guard and vouches for the page.
            unsafe { essa::Machine.execute(pfn, command) };
        }
    }

    /// Takes page frame `pfn`, whose folio the caller holds a reference
    /// to, back from the host: `Err(Discarded)` when the host dropped it.
    /// Returns whether the page went from volatile to stable.
    ///
    /// With ESSA this is a real transition: the hypervisor cannot see the
    /// guest's references, so a page in use must be stable (see
    /// [`make_stable_with`]).  The emulated host sees them: it never
    /// discards a page that anyone but the page cache references, and
    /// checks that again after it has marked the page discarded (undoing
    /// the mark if it lost the race).  A caller that took its reference (a
    /// fully ordered atomic) before this load either sees the discard or
    /// is seen by the host, so the page keeps its state, and a hot page
    /// costs one load instead of two state changes per use.
    pub(crate) fn make_stable(self, table: &Table, pfn: usize) -> Result<bool, Refused> {
        match self {
            Backend::Emulated => {
                if table.get(pfn).discarded() {
                    Err(Refused::Discarded)
                } else {
                    Ok(false)
                }
            }
            Backend::Essa(_) => make_stable_with(&essa::Machine, table, pfn),
        }
    }

    /// Takes page frame `pfn` back from the host for good, like
    /// [`Backend::make_stable`], but a real transition with both backends:
    /// the emulated host's table records the page stable, with the
    /// compare-and-exchange that the host's discard also uses, so exactly
    /// one of the two wins.  For a folio about to leave the swap cache
    /// while in use, or to be written: from then on the table must not
    /// call it volatile.  Returns whether the page went from volatile to
    /// stable; `Err(Discarded)` when the host dropped it.  Spins on the
    /// page's guard at most.
    #[inline]
    pub(crate) fn take_back(self, table: &Table, pfn: usize) -> Result<bool, Refused> {
        match self {
            Backend::Emulated => match table.update(pfn, Op::MakeStable) {
                Ok((old, _)) => Ok(old.usage() != Usage::Stable),
                Err(refused) => Err(refused),
            },
            Backend::Essa(_) => make_stable_with(&essa::Machine, table, pfn),
        }
    }

    /// Lets the guest write page frame `pfn` whatever became of its
    /// contents: its folio leaves the page cache (truncation, reclaim,
    /// invalidation, discard) and will be freed.
    ///
    /// A hypervisor raises a discard fault at every access to a dropped
    /// volatile page, writes included, and the allocator may write a page
    /// it frees (page poisoning, `init_on_free`) before `arch_free_page()`
    /// marks it unused.  So the hypervisor makes the page stable first,
    /// its contents zero if it had dropped them.  A task that found the
    /// folio before it left, and holds a reference, still asks the core
    /// before it reads: the table records what ESSA answered, so it
    /// learns that the contents are gone, or finds them intact; the free
    /// marks the page unused in both.  The emulated host's pages are
    /// ordinary memory.
    pub(crate) fn leave_page_cache(self, table: &Table, pfn: usize) {
        if let Backend::Essa(_) = self {
            let Some(guard) = table.guard(pfn) else {
                return;
            };
            if guard.entry().usage() == Usage::Stable {
                return;
            }
            // SAFETY: we hold the guard of `pfn`, a page nobody can find in
            // the page cache any more; making it stable lets the
            // hypervisor drop nothing.
            let was = unsafe { essa::Machine.execute(pfn, essa::Command::SetStableResident) };
            match IfResident::from_result(was) {
                // Intact: the entry stays, and a reader's take-back finds
                // the page stable at the hypervisor.
                IfResident::Stable => drop(guard),
                IfResident::Dropped => guard.record_discarded(),
            }
        }
    }

    /// Resolves a discard fault on page frame `pfn`, whose folio the
    /// caller holds a reference to: `Err(Discarded)` when the folio must
    /// go through discard, `Ok` when the page is stable and the access
    /// can simply be retried.  Either way the fault makes progress.
    pub(crate) fn resolve_discard_fault(self, table: &Table, pfn: usize) -> Result<(), Refused> {
        match self {
            // The emulated host raises no discard faults; whoever reports
            // one has seen the discard in the table.
            Backend::Emulated => Err(Refused::Discarded),
            Backend::Essa(_) => resolve_discard_fault_with(&essa::Machine, table, pfn),
        }
    }
}

/// ESSA's side of [`Backend::make_stable`], with hypervisor `hv`.
///
/// The decision is taken under the page's guard: a task making the page
/// volatile holds the guard from its checks until it has issued
/// `ESSA_SET_VOLATILE` and published the new state, so this either sees
/// the page volatile and issues `ESSA_SET_STABLE_IF_RESIDENT`, or runs
/// entirely before that task, whose checks then see the caller's
/// reference and leave the page stable.  A page the table already knows
/// to be discarded costs no ESSA.
#[inline]
pub(crate) fn make_stable_with<H: Hypervisor>(
    hv: &H,
    table: &Table,
    pfn: usize,
) -> Result<bool, Refused> {
    let guard = table.guard(pfn).ok_or(Refused::Invalid)?;
    let entry = guard.entry();
    if entry.discarded() {
        return Err(Refused::Discarded);
    }
    match entry.usage() {
        Usage::Stable => Ok(false),
        // Not a page the guest made volatile: nothing to take back.
        Usage::Unused => Err(Refused::Invalid),
        Usage::Volatile | Usage::PotVolatile => match stable_if_resident(hv, &guard, pfn) {
            IfResident::Stable => guard.apply(Op::MakeStable).map(|_| true),
            IfResident::Dropped => {
                guard.record_discarded();
                Err(Refused::Discarded)
            }
        },
    }
}

/// ESSA's side of [`Backend::resolve_discard_fault`], with hypervisor
/// `hv`.  The hypervisor raised the fault, so it is asked even when the
/// table says the page is stable (the two must never disagree, but a
/// fault that only trusts the table would be raised again forever if
/// they did): the page is stable again, or it is recorded as discarded.
pub(crate) fn resolve_discard_fault_with<H: Hypervisor>(
    hv: &H,
    table: &Table,
    pfn: usize,
) -> Result<(), Refused> {
    let guard = table.guard(pfn).ok_or(Refused::Invalid)?;
    if guard.entry().discarded() {
        return Err(Refused::Discarded);
    }
    match stable_if_resident(hv, &guard, pfn) {
        IfResident::Stable => {
            guard.record_stable();
            Ok(())
        }
        IfResident::Dropped => {
            guard.record_discarded();
            Err(Refused::Discarded)
        }
    }
}

/// Issues `ESSA_SET_STABLE_IF_RESIDENT` for `pfn`, whose guard is held.
#[inline]
fn stable_if_resident<H: Hypervisor>(hv: &H, _guard: &Guard<'_>, pfn: usize) -> IfResident {
    // SAFETY: `_guard` is the guard of `pfn`; making a page stable never
    // lets the hypervisor drop anything.
    IfResident::from_result(unsafe { hv.execute(pfn, essa::Command::SetStableIfResident) })
}
