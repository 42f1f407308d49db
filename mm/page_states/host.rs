// SPDX-License-Identifier: GPL-2.0

//! The emulated host: the hypervisor's side of guest page hinting, run
//! inside the guest where no hypervisor takes the hints (QEMU's TCG
//! raises an operation exception on ESSA; KVM would hand back zero pages
//! instead of raising discard faults).
//!
//! Its model is the [`Table`].  Under pressure it discards volatile pages,
//! those the guest has not used lately first (see [`discard`]):
//!
//! 1. It takes the page's folio lock without waiting, as a hypervisor
//!    never waits on its guest; a folio the guest is working on is
//!    skipped.
//! 2. A real host intercepts the guest's next access through its own page
//!    tables and raises a discard fault.  The emulated host gets the same
//!    effect by taking the folio's mappings away (the rmap walk: MMU
//!    notifiers fire), so the next access through a mapping faults into
//!    the page or swap cache lookup that finds the page discarded (an
//!    anonymous mapping becomes a swap entry).  A folio that
//!    a mapping dirtied meanwhile is kept: this is the host's dirty-bit
//!    check of a potentially volatile page.  So is one that a `VM_LOCKED`
//!    mapping keeps: locked memory is never taken.
//! 3. It checks that nobody but the page cache (and itself) holds a
//!    reference: a GUP or I/O user that could read the page without a
//!    lookup keeps it.
//! 4. It moves the page to volatile-zero in the table, with the
//!    compare-and-exchange that a racing lookup's "make stable" also uses:
//!    exactly one of the two wins.
//! 5. It writes a poison pattern over the page, so that any read of the
//!    old contents that bypasses discard handling shows, and gives the
//!    page to the free page reporting device, if there is one: QEMU then
//!    drops its backing memory.  Pages go to the device in batches of up
//!    to 32; until its batch is reported the host keeps a reference to
//!    each folio, so that neither discard handling nor truncation can
//!    free the page to a new owner before QEMU drops its memory.

use crate::{
    hinting::Core,
    state::{Content, Op, Usage},
    stats::{self, Event},
};
use core::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicUsize, Ordering};
use kernel::{
    bindings,
    mm::folio::{Folio, FolioLockGuard, PageFlag, UnmapMlocked},
    prelude::*,
    types::ARef,
};

/// What a discarded page holds until its memory is given back: readers
/// that find it bypassed discard handling.
pub(crate) const POISON: &[u8; 16] = b"GPH discarded!!\n";

/// Where the next scan starts, so that repeated pressure spreads.
static CURSOR: AtomicUsize = AtomicUsize::new(0);

/// Whether a volatile page written through a mapping was reported.
static VOLATILE_DIRTY_REPORTED: AtomicBool = AtomicBool::new(false);

/// Pages given back to the free page reporting device.
pub(crate) static REPORTED: AtomicUsize = AtomicUsize::new(0);

/// The periodic policy: hold the resident footprint to `TARGET_MIB`,
/// checking every `PERIOD_MS` (0: off).
pub(crate) static TARGET_MIB: AtomicUsize = AtomicUsize::new(0);
pub(crate) static PERIOD_MS: AtomicU32 = AtomicU32::new(0);

pub(crate) const PAGES_PER_MIB: usize = 1 << (20 - bindings::PAGE_SHIFT);

/// The most pages the free page reporting device takes at once
/// (`PAGE_REPORTING_CAPACITY`).
const BATCH: usize = bindings::PAGE_REPORTING_CAPACITY as usize;

/// Discarded folios waiting to be reported, each with a reference.
struct Batch {
    folios: [Option<ARef<Folio>>; BATCH],
    len: usize,
}

impl Batch {
    fn new() -> Self {
        Self {
            folios: [const { None }; BATCH],
            len: 0,
        }
    }

    fn push(&mut self, folio: ARef<Folio>) {
        self.folios[self.len] = Some(folio);
        self.len += 1;
        if self.len == BATCH {
            self.report();
        }
    }

    /// Gives the batch's pages to the free page reporting device, then
    /// drops the references.
    fn report(&mut self) {
        if self.len == 0 {
            return;
        }
        let mut pages = [core::ptr::null_mut(); BATCH];
        for (page, folio) in pages.iter_mut().zip(self.folios.iter().flatten()) {
            *page = folio.as_raw().cast::<bindings::page>();
        }
        // SAFETY: the pages are allocated, and the references the batch
        // holds keep them from being freed until the device is done.
        if unsafe { bindings::page_reporting_report_discarded(pages.as_mut_ptr(), self.len as u32) }
            == 0
        {
            REPORTED.fetch_add(self.len, Ordering::Relaxed);
        }
        for folio in &mut self.folios[..self.len] {
            *folio = None;
        }
        self.len = 0;
    }
}

/// Discards up to `max_pages` volatile pages; returns how many it did.
///
/// It takes the pages the guest has not used lately, as a host that
/// evicts its least recently used pages does, with the clock algorithm:
/// the scan goes round the table from where the last one stopped, takes
/// each page that the guest has not used since the host last looked at
/// it, and looks at the others (see [`used_since_last_look`]).  It goes
/// round at most twice, so that a request is met as long as there are
/// volatile pages to take: the second round takes those that the guest
/// did not use since the first looked.
pub(crate) fn discard(core: Core, max_pages: usize) -> usize {
    let len = core.table.len();
    let start = CURSOR.load(Ordering::Relaxed) % len.max(1);
    let mut done = 0;
    let mut pfn = start;
    let mut batch = Batch::new();
    for _ in 0..2 * len {
        if done == max_pages {
            break;
        }
        let entry = core.table.get(pfn);
        if matches!(entry.usage(), Usage::Volatile | Usage::PotVolatile)
            && entry.content() == Content::Resident
        {
            if let Some(folio) = discard_one(core, pfn) {
                batch.push(folio);
                done += 1;
            }
        }
        pfn = (pfn + 1) % len;
        if pfn % 4096 == 0 {
            // SAFETY: FFI call; the host runs in process context.
            unsafe { bindings::cond_resched() };
        }
    }
    batch.report();
    CURSOR.store(pfn, Ordering::Relaxed);
    stats::count(Event::Discarded, done);
    done
}

/// Discards page frame `pfn` if it still holds a volatile page-cache or
/// swap-cache folio that nobody uses; returns the folio, with a reference.
/// A swap-cache folio stays in the swap cache: the guest's next lookup
/// finds it discarded and reads its swap slot again.
fn discard_one(core: Core, pfn: usize) -> Option<ARef<Folio>> {
    let folio = small_folio_at(pfn)?;
    // A small folio is its page.
    let page = folio.as_raw().cast::<bindings::page>();
    let locked = folio.try_lock()?;
    if !may_take(&locked) || used_since_last_look(&locked) {
        return None;
    }
    let swap_cache = locked.test_swapcache();
    // Locked memory stays: unmapping stops at a `VM_LOCKED` mapping (and
    // marks the folio mlocked, which `PG_mlocked` may not show yet, since
    // mlock sets it through a per-CPU batch).
    if locked.mapped() && !locked.unmap_all(UnmapMlocked::Keep) {
        return None;
    }
    // Unmapping moved the mappings' dirty bits to the folio.
    if locked.test_dirty() {
        written_unseen(core, swap_cache, pfn);
        return None;
    }
    if locked.ref_count() != 2 {
        return None;
    }
    core.table.update(pfn, Op::HostDiscard).ok()?;
    // A lookup takes its reference, then looks at the state; we marked the
    // state, now we look at the references again.  One of us sees the
    // other: a lookup that missed the mark holds a reference seen here.
    fence(Ordering::SeqCst);
    if locked.ref_count() != 2 || locked.mapped() {
        let _ = core.table.update(pfn, Op::HostRestore);
        return None;
    }
    // Nobody reads the contents from now on without first seeing the
    // discard: every reference but ours and the page cache's was taken
    // after the mark, and a lookup that takes one then sees the mark and
    // goes to discard, which waits for the folio lock we hold.  Readers
    // that bypass the lookups would read the poison, and the tests look
    // for it.
    // SAFETY: `page` is a page of the memory map, allocated while we hold
    // a reference.
    let addr = unsafe { bindings::page_to_virt(page) }.cast::<u8>();
    for offset in (0..bindings::PAGE_SIZE as usize).step_by(POISON.len()) {
        // SAFETY: `addr` is the page's address in the direct map; only
        // this loop writes it while the folio is locked (see above).
        unsafe { core::ptr::copy_nonoverlapping(POISON.as_ptr(), addr.add(offset), POISON.len()) };
    }
    drop(locked);
    if swap_cache {
        stats::count(Event::SwapDiscarded, 1);
    }
    Some(folio)
}

/// Whether the host would take the volatile page at `pfn` if it needed it
/// now, as far as the guest's side tells: a small folio that nobody has
/// locked, that [`may_take`] allows, and that nobody holds but the page or
/// swap cache and its mappings.  The page is left as it is: neither its
/// mappings nor its referenced bits are touched, so a mapping's dirty bit
/// that [`discard_one`] would find is not seen, and a page the guest used
/// lately counts (the clock's second round takes it if the first leaves
/// the request unmet).  For `/sys/kernel/debug/page_states/takeable`.
pub(crate) fn would_take(pfn: usize) -> bool {
    let Some(folio) = small_folio_at(pfn) else {
        return false;
    };
    let Some(locked) = folio.try_lock() else {
        return false;
    };
    // The cache's reference, one per mapping, and ours.
    may_take(&locked) && locked.ref_count() == 2 + locked.mapcount()
}

/// The folio of page frame `pfn`, with a reference, if it is a small one
/// on an LRU list: the host takes pages, and a large folio is not one.
///
/// The table said a volatile folio was at `pfn`, but the page may have
/// been freed and allocated again since: to a slab, whose lock is
/// `PG_locked`, or to a page-cache or swap-cache folio that its owner
/// still sets up with non-atomic flag operations (`__folio_set_locked()`)
/// before it publishes it.  A folio on an LRU list is published, and
/// every volatile folio is on one (see [`crate::eligible::offer`]), so the
/// host locks and looks at no other; one taken off its list meanwhile is
/// refused by the reference count.  The reference, a fully ordered
/// atomic, comes before the flags are read.
fn small_folio_at(pfn: usize) -> Option<ARef<Folio>> {
    // SAFETY: the table said a folio was made volatile at `pfn`, so `pfn`
    // has a `struct page`, and the memory map is never freed (the core
    // excludes memory hot-remove).
    let page = unsafe { bindings::pfn_to_page(pfn as _) };
    // SAFETY: `page` is in the memory map.
    let folio = unsafe { Folio::try_get_page(page) }?;
    let flags = folio.flags();
    (flags.has(PageFlag::Lru) && !folio.test_large() && folio.pfn() == pfn).then_some(folio)
}

/// Whether the host may take the locked folio, as far as its flags tell:
/// a clean page-cache or swap-cache folio that is not KSM's, not under
/// writeback, without private data and not mlocked.
fn may_take(locked: &FolioLockGuard<'_>) -> bool {
    (locked.address_space().is_some() || locked.test_swapcache())
        && !locked.test_ksm()
        && !locked.test_dirty()
        && !locked.test_writeback()
        && !locked.test_private()
        && !locked.test_mlocked()
}

/// Whether the guest used the locked folio since the host last looked at
/// it; marks it, so that the next look can tell again.
///
/// A hypervisor sees its guest's accesses in referenced bits that it
/// clears and reads back (s390's storage keys, the accessed bits of its
/// own page tables).  The emulated host sees two such bits: the folio's
/// idle mark, which reads and writes through the page cache clear
/// ([`Folio::test_idle`]), and the accessed bits of the page table
/// entries that map the folio, which it clears here, as idle page
/// tracking does (`page_states_folio_clear_young()`).  An access between
/// the test and the set of the idle mark is missed: the page only looks
/// older than it is, which costs a refault, not data.
fn used_since_last_look(locked: &FolioLockGuard<'_>) -> bool {
    // SAFETY: the guard's folio is valid and locked, as the walk of its
    // mappings needs.
    let young = unsafe { bindings::page_states_folio_clear_young(locked.as_raw()) };
    let idle = locked.test_idle();
    locked.set_idle();
    young || !idle
}

/// Looks at every volatile page once (see [`used_since_last_look`])
/// without discarding any, so that a later discard can tell the pages the
/// guest uses from the others.
fn age(core: Core) {
    for pfn in 0..core.table.len() {
        let entry = core.table.get(pfn);
        if matches!(entry.usage(), Usage::Volatile | Usage::PotVolatile)
            && entry.content() == Content::Resident
        {
            if let Some(folio) = small_folio_at(pfn) {
                if let Some(locked) = folio.try_lock().filter(|l| may_take(l)) {
                    used_since_last_look(&locked);
                }
            }
        }
        if pfn % 4096 == 4095 {
            // SAFETY: FFI call; the host runs in process context.
            unsafe { bindings::cond_resched() };
        }
    }
}

/// The folio at `pfn`, which the host holds locked, was clean and became
/// dirty when the host took its mappings away: a mapping wrote it.  That
/// is the case potentially volatile pages are for; a volatile one means
/// that a write reached it without the fault that takes it back
/// ([`crate::eligible::writes_unseen`] classified it wrong).  Counted,
/// and reported once.  The folio stays, dirty, for reclaim to write out.
fn written_unseen(core: Core, swap_cache: bool, pfn: usize) {
    // The folio lock keeps the folio from being offered again, so the
    // state is the one it had while its mappings wrote it.  A mapped
    // swap-cache folio is potentially volatile whatever the table says:
    // a swap-in hands it out, and maps it, without a real transition (see
    // `__page_states_swap_get`), so an unmapped folio offered volatile
    // stays so once mapped.
    if swap_cache || core.table.get(pfn).usage() != Usage::Volatile {
        return;
    }
    stats::count(Event::VolatileDirty, 1);
    if !VOLATILE_DIRTY_REPORTED.swap(true, Ordering::Relaxed) {
        pr_warn!(
            "page_states: volatile page at pfn {:#x} was written through a mapping\n",
            pfn
        );
    }
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
/// `target_mib`; returns how many it discarded.  Within the target it
/// looks at every volatile page instead (see [`age`]): every period the
/// host looks, and discards when it must.
pub(crate) fn hold_to(core: Core, target_mib: usize) -> usize {
    let resident = resident_pages(core);
    let target = target_mib.saturating_mul(PAGES_PER_MIB);
    if resident <= target {
        age(core);
        return 0;
    }
    discard(core, resident - target)
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
