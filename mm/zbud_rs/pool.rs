// SPDX-License-Identifier: GPL-2.0

//! A zbud pool: pages that hold at most two objects, listed by their free
//! chunks, and movable by compaction.
//!
//! Each page has a descriptor, [`ZPage`], kept out of the page.  A handle
//! is the descriptor's address with the buddy in bit 0, so migration only
//! changes the descriptor's page: zswap's handles stay valid.
//!
//! # Locking
//!
//! The pool's spinlock (`lists`) protects the lists and every descriptor's
//! [`Buddies`].  Lock order, outermost first:
//!
//! 1. zswap's callers' locks: the per-CPU compression mutex (malloc, map),
//!    or for free the page table lock of a process unmapping swapped
//!    memory, or the swap device's lock;
//! 2. the page lock: the migration core holds it around our operations
//!    (source, then destination), and the release worker sleeps on it;
//! 3. the pool's spinlock.
//!
//! Under the pool's spinlock nothing sleeps: `free` only tries the page
//! lock ([`MovablePage::try_release`]) and leaves a page it cannot lock to
//! the release worker.  The page lock is a bit lock that lockdep does not
//! see, so this order holds by construction: no path holding the pool's
//! spinlock waits for a page lock.
//!
//! # Races with migration
//!
//! - An object mapped while its page is isolated: `migrate` answers
//!   `EAGAIN` and the core tries again, or gives the page back.
//! - The last object freed while the core holds the page lock: the
//!   descriptor is marked dead and queued; `isolate` and `migrate` refuse a
//!   dead page, and the worker releases it once the core lets go.
//! - The last object freed while the page is isolated but unlocked: the
//!   page is released at once; the core finds it no longer movable (or its
//!   last user) and frees it.
//! - A pool destroyed while pages wait for the worker: every descriptor
//!   holds the pool, and the queued work holds it too.

use crate::{
    geometry::{chunks_for, offset_of, Bud, NCHUNKS},
    stats,
};
use core::{
    ptr::NonNull,
    sync::atomic::{AtomicU64, Ordering},
};
use kernel::{
    alloc::{flags, Flags},
    error::code::{EAGAIN, EINVAL, ENOSPC},
    list::{impl_has_list_links, impl_list_arc_safe, impl_list_item, List, ListArc, ListLinks},
    mm::movable::{Migrated, MigrationTarget, MovableOps, MovablePage},
    new_spinlock, new_work,
    prelude::*,
    sync::{Arc, ArcBorrow, LockedBy, SpinLock},
    workqueue::{self, impl_has_work, Work, WorkItem},
    zpool::Handle,
};
#[cfg(CONFIG_ZBUD_RS_KUNIT_TEST)]
use kernel::{mm::folio::Folio, types::ARef};

/// A page's state, under the pool's lock.
struct Buddies {
    /// The page, from the descriptor's publication until its release.
    page: Option<MovablePage<ZbudOps>>,
    /// Mappings of either object now.
    mapped: u32,
    /// Chunks of the first object, 0 if there is none.
    first: u8,
    /// Chunks of the last object, 0 if there is none.
    last: u8,
    /// Both objects are freed; the page is being released.
    dead: bool,
    /// The `by_free` list the descriptor is on, if any: `by_free[n]` holds
    /// pages with one buddy and `n` free chunks, and `by_free[0]` pages
    /// with both buddies.
    by_free: Option<u8>,
}

impl Buddies {
    /// The `by_free` list a page with an object belongs on: its free
    /// chunks while it has room for a buddy, 0 once both buddies are used.
    fn list_index(&self) -> u8 {
        if self.first != 0 && self.last != 0 {
            0
        } else {
            NCHUNKS as u8 - self.first - self.last
        }
    }
}

/// A page's descriptor.
#[pin_data]
pub(crate) struct ZPage {
    #[pin]
    links: ListLinks,
    pool: Arc<ZbudPool>,
    buddies: LockedBy<Buddies, Lists>,
}

impl_has_list_links! {
    impl HasListLinks<0> for ZPage { self.links }
}
impl_list_arc_safe! {
    impl ListArcSafe<0> for ZPage { untracked; }
}
impl_list_item! {
    impl ListItem<0> for ZPage { using ListLinks; }
}

// Bit 0 of a handle names the buddy.
const _: () = assert!(core::mem::align_of::<ZPage>() >= 2);
// With the `Arc`'s count, a descriptor fits in kmalloc-64: the 64 bytes
// per page that C zbud's header chunk takes.
const _: () = assert!(core::mem::size_of::<ZPage>() <= 56);

impl ZPage {
    fn handle(&self, bud: Bud) -> Handle {
        Handle::from_raw(self as *const Self as usize | (bud == Bud::Last) as usize)
    }

    /// The descriptor and buddy a handle names.
    ///
    /// # Safety
    ///
    /// `handle` came from [`ZbudPool::malloc`] and is not freed.  Until its
    /// last object is freed a descriptor is on one of its pool's lists,
    /// which owns it, so the reference is valid for `'a`.
    unsafe fn from_handle<'a>(handle: Handle) -> (&'a Self, Bud) {
        let raw = handle.as_raw();
        let bud = if raw & 1 == 0 { Bud::First } else { Bud::Last };
        // SAFETY: as above.
        (unsafe { &*((raw & !1) as *const Self) }, bud)
    }
}

/// The lists of a pool's pages.
pub(crate) struct Lists {
    by_free: [List<ZPage>; NCHUNKS],
    deferred: List<ZPage>,
}

/// A pool.
#[pin_data]
pub(crate) struct ZbudPool {
    #[pin]
    lists: SpinLock<Lists>,
    #[pin]
    release_work: Work<ZbudPool>,
    pages: AtomicU64,
}

impl_has_work! {
    impl HasWork<Self> for ZbudPool { self.release_work }
}

impl ZbudPool {
    /// Creates an empty pool.
    pub(crate) fn new(flags: Flags) -> Result<Arc<Self>> {
        Arc::pin_init(
            pin_init!(Self {
                lists <- new_spinlock!(
                    Lists {
                        by_free: [const { List::new() }; NCHUNKS],
                        deferred: List::new(),
                    },
                    "zbud_rs::ZbudPool::lists"
                ),
                release_work <- new_work!("zbud_rs::ZbudPool::release_work"),
                pages: AtomicU64::new(0),
            }),
            flags,
        )
    }

    /// The pages the pool holds.
    pub(crate) fn total_pages(&self) -> u64 {
        self.pages.load(Ordering::Relaxed)
    }

    /// Allocates room for `size` bytes: in the first page, from the fewest
    /// free chunks up, that has room, or in a new page.
    pub(crate) fn malloc(this: ArcBorrow<'_, Self>, size: usize, gfp: Flags) -> Result<Handle> {
        if size == 0 {
            return Err(EINVAL);
        }
        // At most 63 chunks: `chunks_for` keeps a chunk for a buddy.
        let chunks = chunks_for(size).ok_or(ENOSPC)? as u8;
        {
            let mut guard = this.lists.lock();
            let lists = &mut *guard;
            for free in chunks as usize..NCHUNKS {
                if let Some(zpage) = lists.by_free[free].pop_front() {
                    let b = zpage.buddies.access_mut(lists);
                    let bud = if b.first == 0 {
                        b.first = chunks;
                        Bud::First
                    } else {
                        b.last = chunks;
                        Bud::Last
                    };
                    let to = b.list_index();
                    b.by_free = Some(to);
                    let handle = zpage.handle(bud);
                    lists.by_free[usize::from(to)].push_back(zpage);
                    return Ok(handle);
                }
            }
        }
        // The descriptor is ours alone: it never moves, whatever zswap asks
        // of its objects' pages.
        let desc_flags = gfp & !(flags::__GFP_HIGHMEM | flags::__GFP_MOVABLE);
        let zpage = ListArc::pin_init(
            try_pin_init!(ZPage {
                links <- ListLinks::new(),
                pool: this.into(),
                buddies: LockedBy::new(
                    &this.lists,
                    Buddies {
                        page: None,
                        mapped: 0,
                        first: 0,
                        last: 0,
                        dead: false,
                        by_free: None,
                    },
                ),
            }),
            desc_flags,
        )?;
        // From here compaction may isolate the page; `isolate` refuses it
        // until it is published below.
        let page = MovablePage::alloc(gfp, zpage.clone_arc())?;
        let mut guard = this.lists.lock();
        let lists = &mut *guard;
        let b = zpage.buddies.access_mut(lists);
        b.page = Some(page);
        b.first = chunks;
        let to = b.list_index();
        b.by_free = Some(to);
        let handle = zpage.handle(Bud::First);
        lists.by_free[usize::from(to)].push_back(zpage);
        this.pages.fetch_add(1, Ordering::Relaxed);
        stats::PAGES.inc();
        Ok(handle)
    }

    /// Frees an object; releases its page when it was the last one.  Does
    /// not sleep.
    ///
    /// # Safety
    ///
    /// `handle` came from [`ZbudPool::malloc`] on this pool, is not mapped,
    /// and is not used again.
    pub(crate) unsafe fn free(this: ArcBorrow<'_, Self>, handle: Handle) {
        // SAFETY: the caller passes a live handle.
        let (zpage, bud) = unsafe { ZPage::from_handle(handle) };
        let mut guard = this.lists.lock();
        let lists = &mut *guard;
        let item = match zpage.buddies.access_mut(lists).by_free {
            // SAFETY: `by_free` names the one list the descriptor is on.
            Some(from) => unsafe { lists.by_free[usize::from(from)].remove(zpage) },
            None => None,
        };
        let Some(item) = item else {
            // A live handle's page is on a `by_free` list: change nothing.
            pr_warn!("zbud_rs: a handle of a page that is not listed\n");
            return;
        };
        let b = item.buddies.access_mut(lists);
        if b.mapped != 0 {
            pr_warn!("zbud_rs: an object is freed while mapped\n");
        }
        match bud {
            Bud::First => b.first = 0,
            Bud::Last => b.last = 0,
        }
        if b.first != 0 || b.last != 0 {
            let to = b.list_index();
            b.by_free = Some(to);
            lists.by_free[usize::from(to)].push_back(item);
            return;
        }
        b.dead = true;
        b.by_free = None;
        let page = b.page.take();
        drop(guard);
        // A live handle's page is published: `page` is `Some`.
        let Some(page) = page else {
            return;
        };
        match page.try_release() {
            // The page held the descriptor's other reference; `item` may
            // be the last one.
            Ok(owner) => {
                this.released();
                drop(owner);
            }
            Err(page) => {
                // The migration core holds the page lock: the worker waits
                // for it.
                let mut guard = this.lists.lock();
                let lists = &mut *guard;
                item.buddies.access_mut(lists).page = Some(page);
                lists.deferred.push_back(item);
                drop(guard);
                // Already queued is as good: the worker empties the list.
                let _ = workqueue::system().enqueue(Arc::<Self>::from(this));
            }
        }
    }

    /// Counts a page given back to the page allocator.
    fn released(&self) {
        self.pages.fetch_sub(1, Ordering::Relaxed);
        stats::PAGES.dec();
    }

    /// Maps an object: counts the mapping, which keeps the page from
    /// moving, and returns the object's address.
    ///
    /// # Safety
    ///
    /// `handle` came from [`ZbudPool::malloc`] on this pool and is not
    /// freed before the matching [`ZbudPool::unmap`].
    pub(crate) unsafe fn map(&self, handle: Handle) -> NonNull<u8> {
        // SAFETY: the caller passes a live handle.
        let (zpage, bud) = unsafe { ZPage::from_handle(handle) };
        let mut guard = self.lists.lock();
        let b = zpage.buddies.access_mut(&mut guard);
        b.mapped += 1;
        let chunks = usize::from(match bud {
            Bud::First => b.first,
            Bud::Last => b.last,
        });
        // A live handle's page is published until its last object is freed.
        let page = b.page.as_ref().expect("a live handle has a page");
        // SAFETY: the object lies within the page.
        unsafe { page.addr().add(offset_of(bud, chunks)) }
    }

    /// Ends a mapping made by [`ZbudPool::map`].
    ///
    /// # Safety
    ///
    /// `handle` is mapped by the caller.
    pub(crate) unsafe fn unmap(&self, handle: Handle) {
        // SAFETY: the caller passes a live handle.
        let (zpage, _) = unsafe { ZPage::from_handle(handle) };
        let mut guard = self.lists.lock();
        let b = zpage.buddies.access_mut(&mut guard);
        match b.mapped.checked_sub(1) {
            Some(mapped) => b.mapped = mapped,
            None => pr_warn!("zbud_rs: an object is unmapped more than mapped\n"),
        }
    }

    /// The folio an object is in now, with a reference: for tests that
    /// move pages and check where objects went.
    ///
    /// # Safety
    ///
    /// `handle` came from [`ZbudPool::malloc`] on this pool and is not
    /// freed.
    #[cfg(CONFIG_ZBUD_RS_KUNIT_TEST)]
    pub(crate) unsafe fn folio_of(&self, handle: Handle) -> ARef<Folio> {
        // SAFETY: the caller passes a live handle.
        let (zpage, _) = unsafe { ZPage::from_handle(handle) };
        let mut guard = self.lists.lock();
        let b = zpage.buddies.access_mut(&mut guard);
        b.page
            .as_ref()
            .expect("a live handle has a page")
            .folio()
            .into()
    }

    /// The folios of the pool's pages now, each with a reference: for
    /// tests that move pages while objects come and go.
    #[cfg(CONFIG_ZBUD_RS_KUNIT_TEST)]
    pub(crate) fn folios(&self) -> KVec<ARef<Folio>> {
        let mut folios = KVec::new();
        let guard = self.lists.lock();
        let lists = &*guard;
        for list in lists.by_free.iter() {
            for zpage in list.iter() {
                let b = zpage.buddies.access(lists);
                if let Some(page) = b.page.as_ref() {
                    if folios.push(page.folio().into(), GFP_ATOMIC).is_err() {
                        return folios;
                    }
                }
            }
        }
        folios
    }
}

impl WorkItem for ZbudPool {
    type Pointer = Arc<ZbudPool>;

    /// Releases the empty pages whose lock the migration core held when
    /// their last object was freed, sleeping on each page's lock.
    fn run(this: Arc<ZbudPool>) {
        loop {
            let (item, page) = {
                let mut guard = this.lists.lock();
                let lists = &mut *guard;
                let Some(item) = lists.deferred.pop_front() else {
                    break;
                };
                let page = item.buddies.access_mut(lists).page.take();
                (item, page)
            };
            if let Some(page) = page {
                drop(page.release());
                this.released();
                stats::RELEASED_DEFERRED.inc();
            }
            drop(item);
        }
    }
}

/// The movable operations of pool pages.
pub(crate) struct ZbudOps;

impl MovableOps for ZbudOps {
    type Owner = Arc<ZPage>;

    fn isolate(zpage: ArcBorrow<'_, ZPage>) -> bool {
        let mut guard = zpage.pool.lists.lock();
        let b = zpage.buddies.access_mut(&mut guard);
        let ok = !b.dead && b.mapped == 0 && b.page.is_some();
        if ok {
            stats::ISOLATED.inc();
        } else {
            stats::ISOLATE_REFUSED.inc();
        }
        ok
    }

    fn migrate<'a>(
        zpage: ArcBorrow<'_, ZPage>,
        target: MigrationTarget<'a, Self>,
    ) -> Result<Migrated<'a>> {
        let mut guard = zpage.pool.lists.lock();
        let b = zpage.buddies.access_mut(&mut guard);
        let page = match b.page.as_mut() {
            Some(page) if !b.dead && b.mapped == 0 => page,
            _ => {
                stats::MIGRATE_AGAIN.inc();
                return Err(EAGAIN);
            }
        };
        let migrated = page.move_to(target)?;
        stats::MIGRATED.inc();
        Ok(migrated)
    }

    fn putback(_zpage: ArcBorrow<'_, ZPage>) {
        stats::PUTBACK.inc();
    }
}
