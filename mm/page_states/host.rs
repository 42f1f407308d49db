// SPDX-License-Identifier: GPL-2.0

//! The emulated host: the hypervisor's side of guest page hinting, run
//! inside the guest where no hypervisor takes the hints (QEMU's TCG
//! raises an operation exception on ESSA; KVM would hand back zero pages
//! instead of raising discard faults).
//!
//! Its model is the [`Table`].  Under pressure it discards volatile pages:
//!
//! 1. It takes the page's folio lock without waiting, as a hypervisor
//!    never waits on its guest; a folio the guest is working on is
//!    skipped.
//! 2. A real host intercepts the guest's next access through its own page
//!    tables and raises a discard fault.  The emulated host gets the same
//!    effect by taking the folio's mappings away (the rmap walk: MMU
//!    notifiers fire), so the next access through a mapping faults into
//!    the page cache lookup that finds the page discarded.  A folio that
//!    a mapping dirtied meanwhile is kept: this is the host's dirty-bit
//!    check of a potentially volatile page.
//! 3. It checks that nobody but the page cache (and itself) holds a
//!    reference: a GUP or I/O user that could read the page without a
//!    lookup keeps it.
//! 4. It moves the page to volatile-zero in the table, with the
//!    compare-and-exchange that a racing lookup's "make stable" also uses:
//!    exactly one of the two wins.
//! 5. It writes a poison pattern over the page, so that any read of the
//!    old contents that bypasses discard handling shows, and gives the
//!    page to the free page reporting device, if there is one: QEMU then
//!    drops its backing memory.  The folio stays locked until the device
//!    is done, so it cannot be freed and reused before QEMU drops it.

use crate::{
    hinting::Core,
    state::{Content, Op, Usage},
    stats::{self, Event},
};
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use kernel::{bindings, mm::folio::Folio};

/// What a discarded page holds until its memory is given back: readers
/// that find it bypassed discard handling.
pub(crate) const POISON: &[u8; 16] = b"GPH discarded!!\n";

/// Where the next scan starts, so that repeated pressure spreads.
static CURSOR: AtomicUsize = AtomicUsize::new(0);

/// Pages given back to the free page reporting device.
pub(crate) static REPORTED: AtomicUsize = AtomicUsize::new(0);

/// The periodic policy: hold the resident footprint to `TARGET_MIB`,
/// checking every `PERIOD_MS` (0: off).
pub(crate) static TARGET_MIB: AtomicUsize = AtomicUsize::new(0);
pub(crate) static PERIOD_MS: AtomicU32 = AtomicU32::new(0);

const PAGES_PER_MIB: usize = 1 << (20 - bindings::PAGE_SHIFT);

/// Discards up to `max_pages` volatile pages; returns how many it did.
pub(crate) fn discard(core: Core, max_pages: usize) -> usize {
    let len = core.table.len();
    let start = CURSOR.load(Ordering::Relaxed) % len.max(1);
    let mut done = 0;
    let mut pfn = start;
    for _ in 0..len {
        if done == max_pages {
            break;
        }
        let entry = core.table.get(pfn);
        if matches!(entry.usage(), Usage::Volatile | Usage::PotVolatile)
            && entry.content() == Content::Resident
            && discard_one(core, pfn)
        {
            done += 1;
        }
        pfn = (pfn + 1) % len;
        if pfn % 4096 == 0 {
            // SAFETY: FFI call; the host runs in process context.
            unsafe { bindings::cond_resched() };
        }
    }
    CURSOR.store(pfn, Ordering::Relaxed);
    stats::count(Event::Discarded, done);
    done
}

fn discard_one(core: Core, pfn: usize) -> bool {
    // SAFETY: `pfn` is below `max_pfn`: the table covers no more.
    let page = unsafe { bindings::pfn_to_page(pfn as _) };
    // SAFETY: `page` is in the memory map.
    let Some(folio) = (unsafe { Folio::try_get_page(page) }) else {
        return false;
    };
    if folio.test_large() || folio.pfn() != pfn {
        return false;
    }
    let Some(locked) = folio.try_lock() else {
        return false;
    };
    if locked.address_space().is_none()
        || locked.test_dirty()
        || locked.test_writeback()
        || locked.test_private()
        || locked.test_mlocked()
    {
        return false;
    }
    if locked.mapped() && !locked.unmap_all() {
        return false;
    }
    // Unmapping moved the mappings' dirty bits to the folio.
    if locked.test_dirty() || locked.ref_count() != 2 {
        return false;
    }
    if core.table.update(pfn, Op::HostDiscard).is_err() {
        return false;
    }
    // SAFETY: the page is ours until the folio is unlocked: the guest
    // must look it up, fail to make it stable, and lock it to discard it.
    let addr = unsafe { bindings::page_to_virt(page) }.cast::<u8>();
    for offset in (0..bindings::PAGE_SIZE as usize).step_by(POISON.len()) {
        // SAFETY: `addr` is a page of the direct map, written by us alone.
        unsafe { core::ptr::copy_nonoverlapping(POISON.as_ptr(), addr.add(offset), POISON.len()) };
    }
    // SAFETY: the page stays allocated and locked until the device is done.
    if unsafe { bindings::page_reporting_report_discarded(page, 1) } == 0 {
        REPORTED.fetch_add(1, Ordering::Relaxed);
    }
    true
}

/// Pages whose contents the host keeps: stable, and volatile ones it has
/// not dropped.  Free pages are the allocator's, not the footprint.
fn resident_pages(core: Core) -> usize {
    let mut resident = 0;
    core.table.census(|entry| {
        if entry.usage() != Usage::Unused && entry.content() != Content::Zero {
            resident += 1;
        }
    });
    resident
}

/// Discards volatile pages until the resident footprint is at most
/// `target_mib`; returns how many it discarded.
pub(crate) fn hold_to(core: Core, target_mib: usize) -> usize {
    let resident = resident_pages(core);
    let target = target_mib.saturating_mul(PAGES_PER_MIB);
    if resident <= target {
        return 0;
    }
    discard(core, resident - target)
}

/// Converts MiB to pages, for the knobs.
pub(crate) fn mib_to_pages(mib: usize) -> usize {
    mib.saturating_mul(PAGES_PER_MIB)
}

/// One round of the periodic policy, on the system workqueue.
#[no_mangle]
pub(crate) extern "C" fn page_states_host_tick(_work: *mut bindings::work_struct) {
    let period = PERIOD_MS.load(Ordering::Relaxed);
    if period == 0 {
        return;
    }
    if let Some(core) = Core::volatile() {
        hold_to(core, TARGET_MIB.load(Ordering::Relaxed));
    }
    // SAFETY: FFI call; re-arms the work this function runs from.
    unsafe { bindings::page_states_host_schedule(period) };
}

const _: [unsafe extern "C" fn(*mut bindings::work_struct); 2] =
    [page_states_host_tick, bindings::page_states_host_tick];
