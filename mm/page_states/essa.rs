// SPDX-License-Identifier: GPL-2.0

//! The s390 ESSA instruction: the commands the core issues, and what the
//! previous state ESSA returns means for the page.

use crate::backend::StableMode;
use kernel::bindings;

/// An ESSA command (the instruction's third operand).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Command {
    /// `ESSA_SET_VOLATILE`: the host may drop the page.
    SetVolatile = bindings::ESSA_SET_VOLATILE as isize,
    /// `ESSA_SET_POT_VOLATILE`: the host may drop the page while its
    /// storage key says it is clean.
    SetPotVolatile = bindings::ESSA_SET_POT_VOLATILE as isize,
    /// `ESSA_SET_STABLE_IF_RESIDENT`: stable again, unless the host
    /// already dropped the page.
    SetStableIfResident = bindings::ESSA_SET_STABLE_IF_RESIDENT as isize,
    /// `ESSA_SET_STABLE_RESIDENT`: stable, with its contents resident
    /// again (zero if the host dropped them).
    SetStableResident = bindings::ESSA_SET_STABLE_RESIDENT as isize,
}

/// The hypervisor's side of ESSA: what the core issues its page-cache
/// commands to.  [`Machine`] is the real instruction; the KUnit suite
/// answers with a model of its own, to test the core's decisions.
pub(crate) trait Hypervisor {
    /// Issues `command` for page frame `pfn` and returns ESSA's result:
    /// the page's state before the command.
    ///
    /// # Safety
    ///
    /// The caller holds the guard of `pfn` (so that the table and the
    /// hypervisor change together), and `pfn` is a page-cache page whose
    /// contents the guest may lose when `command` makes it volatile: the
    /// hypervisor may discard it from then on.
    unsafe fn execute(&self, pfn: usize, command: Command) -> usize;
}

/// The ESSA instruction of this machine.
pub(crate) struct Machine;

impl Hypervisor for Machine {
    #[inline]
    unsafe fn execute(&self, pfn: usize, command: Command) -> usize {
        let paddr = pfn << bindings::PAGE_SHIFT;
        // SAFETY: ESSA only changes the state of the page at `paddr`; the
        // caller vouches that the page may have that state.
        unsafe { bindings::page_states_essa(paddr as _, command as u8) as usize }
    }
}

/// What `ESSA_SET_STABLE_IF_RESIDENT` did to a page the guest had made
/// volatile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IfResident {
    /// The page is stable now, its contents intact.
    Stable,
    /// The hypervisor did not make the page stable: it had dropped the
    /// contents or paged them out, and it keeps the page volatile.  The
    /// guest treats it as discarded.
    Dropped,
}

impl IfResident {
    /// Reads ESSA's result of `ESSA_SET_STABLE_IF_RESIDENT`: the usage
    /// state in bits 2-3 (stable, unused, potentially volatile, volatile),
    /// the content state in bits 0-1 (resident; 2: preserved, paged out by
    /// the host; 3: zero, dropped), bit 5 no-DAT.  Every one of the 16
    /// results has a meaning here, including pairs that s390 does not
    /// define (KVM reports a volatile page it has not faulted in as
    /// "volatile, not resident", `0b1110`).  The contents are intact only
    /// when they were resident (bits 0-1 clear), or when the page was
    /// stable and paged out (preserved, `0b0010`).  Anything else, zero
    /// contents of any usage included, is a page the guest must read
    /// again.
    #[inline]
    pub(crate) fn from_result(result: usize) -> Self {
        let was_stable = (result >> 2) & 3 == 0;
        match result & 3 {
            0 => IfResident::Stable,
            2 if was_stable => IfResident::Stable,
            _ => IfResident::Dropped,
        }
    }
}

/// The kernel address of page frame `pfn`, as the allocator-side ESSA
/// wrappers of `<asm/page-states.h>` take it.
fn virt(pfn: usize) -> *mut kernel::ffi::c_void {
    // SAFETY: pure address arithmetic on the memory map.
    unsafe { bindings::page_to_virt(bindings::pfn_to_page(pfn as _)) }
}

/// Tells the hypervisor that the `pages` page frames from `pfn` are
/// unused, as mainline's `arch_free_page()` does.
///
/// # Safety
///
/// The pages must be being freed: the hypervisor may discard them.
#[inline(never)]
pub(crate) unsafe fn set_unused(pfn: usize, pages: usize) {
    // SAFETY: the caller passes pages whose contents are not needed.
    unsafe { bindings::__set_page_unused(virt(pfn), pages as _) };
}

/// Tells the hypervisor that the `pages` page frames from `pfn` are
/// stable, as mainline's `arch_alloc_page()` does.
///
/// # Safety
///
/// The pages must have been just allocated.
#[inline(never)]
pub(crate) unsafe fn set_stable(pfn: usize, pages: usize, mode: StableMode) {
    let addr = virt(pfn);
    match mode {
        // SAFETY: ESSA only changes the state of the pages at `addr`.
        StableMode::Dat => unsafe { bindings::__set_page_stable_dat(addr, pages as _) },
        // SAFETY: as above.
        StableMode::NoDat => unsafe { bindings::__set_page_stable_nodat(addr, pages as _) },
    }
}
