// SPDX-License-Identifier: GPL-2.0

//! Backends: what carries a page's state to the hypervisor.

use crate::stats;
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
    /// Nothing to tell: the machine has no way to take the hints.
    None,
    /// The s390 ESSA instruction (collaborative memory management).
    Essa(StableMode),
}

impl Backend {
    /// The backend that s390's `cmma_flag` stands for.
    ///
    /// The boot code sets `cmma_flag` to 0 when ESSA raises an operation
    /// exception (QEMU's TCG, or a hypervisor without CMMA), to 1 when ESSA
    /// works, and to 2 when the hypervisor also takes no-DAT hints.
    pub(crate) fn from_cmma_flag(cmma_flag: i32) -> Self {
        match cmma_flag {
            0 => Backend::None,
            1 => Backend::Essa(StableMode::Dat),
            _ => Backend::Essa(StableMode::NoDat),
        }
    }

    /// The backend this machine uses.
    pub(crate) fn current() -> Self {
        // SAFETY: `cmma_flag` is set once by the boot code, before the
        // kernel proper starts, and only read afterwards.
        Self::from_cmma_flag(unsafe { bindings::cmma_flag })
    }

    /// The backend's name, as sysfs shows it.
    pub(crate) fn name(self) -> &'static CStr {
        match self {
            Backend::None => kernel::c_str!("none"),
            Backend::Essa(_) => kernel::c_str!("essa"),
        }
    }

    /// Why this backend is the one in use.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Backend::None => {
                "ESSA is not available (operation exception at boot), no hints are passed on"
            }
            Backend::Essa(StableMode::Dat) => "ESSA is available",
            Backend::Essa(StableMode::NoDat) => "ESSA is available, with no-DAT hints",
        }
    }

    /// Tells the hypervisor that `pages` pages at `page` are unused.
    ///
    /// # Safety
    ///
    /// `page` must head `pages` pages that are being freed.
    pub(crate) unsafe fn set_unused(self, page: *mut bindings::page, pages: usize) {
        match self {
            Backend::None => {}
            Backend::Essa(_) => {
                // SAFETY: the caller passes valid pages; ESSA only changes
                // their state, and a freed page may be discarded.
                unsafe { bindings::__set_page_unused(bindings::page_to_virt(page), pages as _) };
                stats::PAGES_HINTED.add(pages);
            }
        }
    }

    /// Tells the hypervisor that `pages` pages at `page` are stable.
    ///
    /// # Safety
    ///
    /// `page` must head `pages` pages that were just allocated.
    pub(crate) unsafe fn set_stable(self, page: *mut bindings::page, pages: usize) {
        let Backend::Essa(mode) = self else {
            return;
        };
        // SAFETY: the caller passes valid pages.
        let addr = unsafe { bindings::page_to_virt(page) };
        match mode {
            // SAFETY: ESSA only changes the state of the pages at `addr`.
            StableMode::Dat => unsafe { bindings::__set_page_stable_dat(addr, pages as _) },
            // SAFETY: as above.
            StableMode::NoDat => unsafe { bindings::__set_page_stable_nodat(addr, pages as _) },
        }
        stats::PAGES_HINTED.add(pages);
    }
}
