// SPDX-License-Identifier: GPL-2.0

//! A zbud pool: pages that hold at most two objects, listed by their free
//! chunks, movable by compaction, and given back by pairing lone buddies.
//!
//! Each page has a descriptor, [`ZPage`], and each object a [`Slot`],
//! both kept out of the page.  A handle is the address of its object's
//! slot: migration changes only a descriptor's page, and pairing
//! ([`crate::pairing`]) only a slot's descriptor and buddy, so zswap's
//! handles stay valid.
//!
//! # Locking
//!
//! The pool's spinlock (`lists`) protects the lists, every descriptor's
//! [`Buddies`], every slot's [`Place`], and the objects' bytes while no
//! mapping is counted.  Lock order, outermost first:
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
//! - The last object freed, or moved out by pairing, while the core holds
//!   the page lock: the descriptor is marked dead and queued; `isolate`
//!   and `migrate` refuse a dead page, and the worker releases it once the
//!   core lets go.
//! - The same while the page is isolated but unlocked: the page is
//!   released at once; the core finds it no longer movable (or its last
//!   user) and frees it.
//! - Pairing writes into, or reads from, an isolated page: `migrate`
//!   copies the page under the pool's lock, so it copies the bytes as
//!   pairing left them.
//! - A pool destroyed while pages wait for the worker: every descriptor
//!   holds the pool, and the queued work holds it too.

use crate::{
    geometry::{chunks_for, offset_of, Bud, NCHUNKS},
    pairing, stats,
};
use core::{
    mem::MaybeUninit,
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

/// Where an object is: its page's descriptor, and the end of the page.
#[derive(Clone, Copy)]
pub(crate) struct Place {
    /// The descriptor, which its list owns while the object is in its page.
    pub(crate) zpage: NonNull<ZPage>,
    pub(crate) bud: Bud,
}

// SAFETY: a place is only read or written under its pool's lock, from
// whichever task holds it, and the descriptor it names is `Sync`.
unsafe impl Send for Place {}
// SAFETY: as above.
unsafe impl Sync for Place {}

/// An object's slot.  Its address is the object's handle, so it stays put
/// while the object moves; it lives from `malloc` to `free`.
pub(crate) struct Slot {
    pub(crate) place: LockedBy<Place, Lists>,
}

/// A slot, as its object's page's descriptor names it.
///
/// # Invariants
///
/// `self.0` points to the [`Slot`] of an object of the page whose
/// descriptor holds this, made by [`ZbudPool::malloc`] and not yet freed.
#[derive(Clone, Copy)]
pub(crate) struct SlotRef(NonNull<Slot>);

// SAFETY: a slot is only read or written under its pool's lock, from
// whichever task holds it.
unsafe impl Send for SlotRef {}
// SAFETY: as above.
unsafe impl Sync for SlotRef {}

impl SlotRef {
    /// The slot.
    ///
    /// # Safety
    ///
    /// `self` is a copy of what a descriptor holds now, under the pool's
    /// lock, which the caller still holds: the object has not been freed.
    pub(crate) unsafe fn slot(&self) -> &Slot {
        // SAFETY: by the type invariant and the caller's guarantee the
        // slot is live: only `free`, under the same lock, frees it.
        unsafe { self.0.as_ref() }
    }
}

/// An object in a page.
#[derive(Clone, Copy)]
pub(crate) struct Object {
    pub(crate) slot: SlotRef,
    pub(crate) chunks: u8,
    /// Its mappings now.
    pub(crate) mapped: u32,
}

/// A page's state, under the pool's lock.
pub(crate) struct Buddies {
    /// The page, from the descriptor's publication until its release.
    pub(crate) page: Option<MovablePage<ZbudOps>>,
    /// The first and the last object, by [`Bud::index`].
    pub(crate) objects: [Option<Object>; 2],
    /// Both objects are gone; the page is being released.
    dead: bool,
    /// The `by_free` list the descriptor is on, if any: `by_free[n]` holds
    /// pages with one buddy and `n` free chunks, and `by_free[0]` pages
    /// with both buddies.
    pub(crate) by_free: Option<u8>,
}

impl Buddies {
    fn chunks(&self, bud: Bud) -> u8 {
        self.objects[bud.index()].map_or(0, |o| o.chunks)
    }

    /// The page's only object, if it has exactly one.
    pub(crate) fn lone(&self) -> Option<(Bud, Object)> {
        match self.objects {
            [Some(o), None] => Some((Bud::First, o)),
            [None, Some(o)] => Some((Bud::Last, o)),
            _ => None,
        }
    }

    /// Whether either object is mapped: then neither moves.
    pub(crate) fn is_mapped(&self) -> bool {
        self.objects.iter().flatten().any(|o| o.mapped != 0)
    }

    fn is_empty(&self) -> bool {
        self.objects.iter().all(Option::is_none)
    }

    /// The `by_free` list a page with an object belongs on: its free
    /// chunks while it has room for a buddy, 0 once both buddies are used.
    fn list_index(&self) -> u8 {
        if self.lone().is_some() {
            NCHUNKS as u8 - self.chunks(Bud::First) - self.chunks(Bud::Last)
        } else {
            0
        }
    }
}

/// A page's descriptor.
#[pin_data]
pub(crate) struct ZPage {
    #[pin]
    links: ListLinks,
    pool: Arc<ZbudPool>,
    pub(crate) buddies: LockedBy<Buddies, Lists>,
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

// With the `Arc`'s count, a descriptor fits in kmalloc-96.
const _: () = assert!(core::mem::size_of::<ZPage>() <= 88);

/// The slot a handle names.
///
/// # Safety
///
/// `handle` came from [`ZbudPool::malloc`] and is not freed before `'a`
/// ends.
unsafe fn slot_of<'a>(handle: Handle) -> &'a Slot {
    // SAFETY: a live handle is the address of its slot, which lives until
    // the handle is freed.
    unsafe { &*(handle.as_raw() as *const Slot) }
}

/// The lists of a pool's pages.
pub(crate) struct Lists {
    pub(crate) by_free: [List<ZPage>; NCHUNKS],
    /// The pages with one object: on `by_free[1..]`.
    pub(crate) lone: u64,
    deferred: List<ZPage>,
}

impl Lists {
    /// Where an object is now: its page's descriptor and its buddy.
    ///
    /// # Safety
    ///
    /// The caller holds the pool's lock, of which `self` is the data, and
    /// uses the descriptor only while the object is in its page (then the
    /// descriptor's list owns it) or while it holds the descriptor's
    /// [`ListArc`] after taking it off its list.
    unsafe fn place<'a>(&self, slot: &Slot) -> (&'a ZPage, Bud) {
        let place = *slot.place.access(self);
        // SAFETY: as above.
        (unsafe { place.zpage.as_ref() }, place.bud)
    }

    /// Puts a descriptor with an object on the list its free chunks name.
    pub(crate) fn relist(&mut self, zpage: ListArc<ZPage>) {
        let b = zpage.buddies.access_mut(self);
        let to = b.list_index();
        b.by_free = Some(to);
        self.lone += u64::from(to != 0);
        self.by_free[usize::from(to)].push_back(zpage);
    }

    /// Takes a descriptor off the `by_free` list it is on.
    pub(crate) fn unlist(&mut self, zpage: &ZPage) -> Option<ListArc<ZPage>> {
        let from = zpage.buddies.access_mut(self).by_free.take()?;
        self.lone -= u64::from(from != 0);
        // SAFETY: `by_free` named the one list the descriptor is on.
        unsafe { self.by_free[usize::from(from)].remove(zpage) }
    }

    /// Takes the first descriptor off `by_free[free]`.
    fn pop(&mut self, free: usize) -> Option<ListArc<ZPage>> {
        let zpage = self.by_free[free].pop_front()?;
        zpage.buddies.access_mut(self).by_free = None;
        self.lone -= u64::from(free != 0);
        Some(zpage)
    }

    /// Marks a descriptor without objects dead, and takes its page.
    fn retire(&mut self, zpage: &ZPage) -> Option<MovablePage<ZbudOps>> {
        let b = zpage.buddies.access_mut(self);
        b.dead = true;
        b.by_free = None;
        b.page.take()
    }
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
                        lone: 0,
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

    /// Puts a new object of `chunks` chunks at `bud` of a descriptor off
    /// its list, fills in its slot, lists the descriptor, and returns the
    /// object's handle.
    fn place_object(
        &self,
        lists: &mut Lists,
        zpage: ListArc<ZPage>,
        bud: Bud,
        chunks: u8,
        slot: KBox<MaybeUninit<Slot>>,
    ) -> Handle {
        let place = Place {
            zpage: NonNull::from(&*zpage),
            bud,
        };
        let slot = KBox::write(
            slot,
            Slot {
                place: LockedBy::new(&self.lists, place),
            },
        );
        let slot = KBox::into_raw(slot);
        let b = zpage.buddies.access_mut(lists);
        // INVARIANT: the slot is the new object's, in this page.
        b.objects[bud.index()] = Some(Object {
            // SAFETY: `into_raw` never returns NULL.
            slot: SlotRef(unsafe { NonNull::new_unchecked(slot) }),
            chunks,
            mapped: 0,
        });
        lists.relist(zpage);
        Handle::from_raw(slot as usize)
    }

    /// Allocates room for `size` bytes: in the first page, from the fewest
    /// free chunks up, that has room, or in a new page.
    pub(crate) fn malloc(this: ArcBorrow<'_, Self>, size: usize, gfp: Flags) -> Result<Handle> {
        if size == 0 {
            return Err(EINVAL);
        }
        // At most 63 chunks: `chunks_for` keeps a chunk for a buddy.
        let chunks = chunks_for(size).ok_or(ENOSPC)? as u8;
        // The slot and the descriptor are ours alone: they never move,
        // whatever zswap asks of its objects' pages.
        let meta_flags = gfp & !(flags::__GFP_HIGHMEM | flags::__GFP_MOVABLE);
        let slot = KBox::<Slot>::new_uninit(meta_flags)?;
        {
            let mut guard = this.lists.lock();
            let lists = &mut *guard;
            for free in chunks as usize..NCHUNKS {
                if let Some(zpage) = lists.pop(free) {
                    let b = zpage.buddies.access(lists);
                    let bud = b.lone().map_or(Bud::First, |(bud, _)| bud.other());
                    return Ok(this.place_object(lists, zpage, bud, chunks, slot));
                }
            }
        }
        let zpage = ListArc::pin_init(
            try_pin_init!(ZPage {
                links <- ListLinks::new(),
                pool: this.into(),
                buddies: LockedBy::new(
                    &this.lists,
                    Buddies {
                        page: None,
                        objects: [None, None],
                        dead: false,
                        by_free: None,
                    },
                ),
            }),
            meta_flags,
        )?;
        // From here compaction may isolate the page; `isolate` refuses it
        // until it is published below.
        let page = MovablePage::alloc(gfp, zpage.clone_arc())?;
        let mut guard = this.lists.lock();
        let lists = &mut *guard;
        zpage.buddies.access_mut(lists).page = Some(page);
        this.pages.fetch_add(1, Ordering::Relaxed);
        stats::PAGES.inc();
        Ok(this.place_object(lists, zpage, Bud::First, chunks, slot))
    }

    /// Frees an object.  If that leaves its page with one object, pairs
    /// that object with another lone one ([`pairing::pair_or_relist`]);
    /// releases the page that ends up empty.  Does not sleep.
    ///
    /// # Safety
    ///
    /// `handle` came from [`ZbudPool::malloc`] on this pool, is not mapped,
    /// and is not used again.
    pub(crate) unsafe fn free(this: ArcBorrow<'_, Self>, handle: Handle) {
        // SAFETY: the caller passes a live handle.
        let slot = unsafe { slot_of(handle) };
        let mut guard = this.lists.lock();
        let lists = &mut *guard;
        // SAFETY: under the lock; the descriptor is used while the object
        // is in its page, then through `item`.
        let (zpage, bud) = unsafe { lists.place(slot) };
        let Some(item) = lists.unlist(zpage) else {
            // A live handle's page is on a `by_free` list: change nothing.
            pr_warn!("zbud_rs: a handle of a page that is not listed\n");
            return;
        };
        let b = item.buddies.access_mut(lists);
        if b.objects[bud.index()].is_some_and(|o| o.mapped != 0) {
            pr_warn!("zbud_rs: an object is freed while mapped\n");
        }
        b.objects[bud.index()] = None;
        let empty = if b.is_empty() {
            Some(item)
        } else {
            pairing::pair_or_relist(lists, item, this.total_pages())
        };
        let page = empty.map(|item| {
            let page = lists.retire(&item);
            (item, page)
        });
        drop(guard);
        // SAFETY: the slot is the caller's object's, which is gone; nothing
        // names it any more, and `malloc` made it with `KBox`.
        drop(unsafe { KBox::from_raw(handle.as_raw() as *mut Slot) });
        // A listed page is published: its page is `Some`.
        if let Some((item, Some(page))) = page {
            Self::release(this, item, page);
        }
    }

    /// Gives back an empty page, or, if the migration core holds its lock,
    /// leaves it to the worker.
    fn release(this: ArcBorrow<'_, Self>, item: ListArc<ZPage>, page: MovablePage<ZbudOps>) {
        match page.try_release() {
            // The page held the descriptor's other reference; `item` may
            // be the last one.
            Ok(owner) => {
                this.released();
                drop(owner);
            }
            Err(page) => {
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
    /// moving and the object from pairing, and returns the object's
    /// address.
    ///
    /// # Safety
    ///
    /// `handle` came from [`ZbudPool::malloc`] on this pool and is not
    /// freed before the matching [`ZbudPool::unmap`].
    pub(crate) unsafe fn map(&self, handle: Handle) -> NonNull<u8> {
        // SAFETY: the caller passes a live handle.
        let slot = unsafe { slot_of(handle) };
        let mut guard = self.lists.lock();
        let lists = &mut *guard;
        // SAFETY: under the lock, while the object is in its page.
        let (zpage, bud) = unsafe { lists.place(slot) };
        let b = zpage.buddies.access_mut(lists);
        let object = b.objects[bud.index()]
            .as_mut()
            .expect("a live handle's slot names its object");
        object.mapped += 1;
        let chunks = usize::from(object.chunks);
        // A live handle's page is published until its last object goes.
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
        let slot = unsafe { slot_of(handle) };
        let mut guard = self.lists.lock();
        let lists = &mut *guard;
        // SAFETY: under the lock, while the object is in its page: a
        // mapped object stays there.
        let (zpage, bud) = unsafe { lists.place(slot) };
        let b = zpage.buddies.access_mut(lists);
        match b.objects[bud.index()].as_mut() {
            Some(o) if o.mapped != 0 => o.mapped -= 1,
            _ => pr_warn!("zbud_rs: an object is unmapped more than mapped\n"),
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
        let slot = unsafe { slot_of(handle) };
        let guard = self.lists.lock();
        // SAFETY: under the lock, while the object is in its page.
        let (zpage, _) = unsafe { guard.place(slot) };
        zpage
            .buddies
            .access(&guard)
            .page
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
        let ok = !b.dead && !b.is_mapped() && b.page.is_some();
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
        let mapped = b.is_mapped();
        let page = match b.page.as_mut() {
            Some(page) if !b.dead && !mapped => page,
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
