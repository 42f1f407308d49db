// SPDX-License-Identifier: GPL-2.0

//! KUnit suite `zbud_rs`: placement across the chunk range, freeing and
//! reuse, lone buddies pairing up, handles across the migration of every
//! page, mapped objects blocking migration and pairing, and frees racing
//! the migration core and mappings on other tasks.

use crate::{
    geometry::{CHUNK_SIZE, MAX_SIZE},
    pairing::LONE_SHARE,
    pool::ZbudPool,
    stats,
};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use kernel::{
    alloc::flags,
    bindings,
    error::code::{EBUSY, EINVAL, ENOSPC},
    kunit::suite::Test,
    mm::folio::Folio,
    page::PAGE_SIZE,
    prelude::*,
    sync::Arc,
    types::ARef,
    workqueue,
    zpool::Handle,
};

/// The flags zswap passes when the driver's pages are movable.
fn zswap_flags() -> kernel::alloc::Flags {
    GFP_NOWAIT | flags::__GFP_NOWARN | flags::__GFP_HIGHMEM | flags::__GFP_MOVABLE
}

fn new_pool() -> Arc<ZbudPool> {
    ZbudPool::new(GFP_KERNEL).expect("a pool")
}

fn alloc(pool: &Arc<ZbudPool>, size: usize) -> Result<Handle> {
    ZbudPool::malloc(pool.as_arc_borrow(), size, zswap_flags())
}

fn free(pool: &Arc<ZbudPool>, handle: Handle) {
    // SAFETY: the tests free each handle they allocated once, unmapped.
    unsafe { ZbudPool::free(pool.as_arc_borrow(), handle) }
}

/// The byte of the pattern of object `seed` at offset `i`.
fn pattern(seed: usize, i: usize) -> u8 {
    (seed.wrapping_mul(31).wrapping_add(i.wrapping_mul(7)) ^ (i >> 8)) as u8
}

/// Fills an object with its pattern; returns its address.
fn fill(pool: &ZbudPool, handle: Handle, seed: usize, size: usize) -> usize {
    // SAFETY: `handle` is live and unmapped after this.
    let addr = unsafe { pool.map(handle) };
    for i in 0..size {
        // SAFETY: the object has `size` bytes.
        unsafe { addr.as_ptr().add(i).write(pattern(seed, i)) };
    }
    // SAFETY: mapped above.
    unsafe { pool.unmap(handle) };
    addr.as_ptr() as usize
}

/// Counts the bytes of an object that differ from its pattern.
fn check(pool: &ZbudPool, handle: Handle, seed: usize, size: usize) -> usize {
    // SAFETY: `handle` is live.
    let addr = unsafe { pool.map(handle) };
    let bad = (0..size)
        // SAFETY: the object has `size` bytes.
        .filter(|&i| unsafe { addr.as_ptr().add(i).read() } != pattern(seed, i))
        .count();
    // SAFETY: mapped above.
    unsafe { pool.unmap(handle) };
    bad
}

fn folio_of(pool: &ZbudPool, handle: Handle) -> ARef<Folio> {
    // SAFETY: the tests ask only for live handles.
    unsafe { pool.folio_of(handle) }
}

fn sizes_across_the_chunk_range(test: &mut Test) {
    let pool = new_pool();
    test.expect(alloc(&pool, 0) == Err(EINVAL), "size 0 is EINVAL");
    test.expect(
        alloc(&pool, MAX_SIZE + 1) == Err(ENOSPC),
        "one byte over 63 chunks is ENOSPC",
    );
    test.expect(MAX_SIZE == PAGE_SIZE - CHUNK_SIZE, "63 chunks of 64");
    for (seed, size) in [1, 63, 64, 65, 2048, MAX_SIZE - 1, MAX_SIZE]
        .into_iter()
        .enumerate()
    {
        let Ok(h) = alloc(&pool, size) else {
            test.expect(false, "every size up to 63 chunks is stored");
            continue;
        };
        let addr = fill(&pool, h, seed, size);
        test.expect(addr % PAGE_SIZE == 0, "a lone object is the first buddy");
        test.expect(check(&pool, h, seed, size) == 0, "contents kept");
        free(&pool, h);
        test.expect(pool.total_pages() == 0, "its page goes with it");
    }
}

fn buddies_share_a_page(test: &mut Test) {
    let pool = new_pool();
    let a = alloc(&pool, 1000).expect("A");
    let b = alloc(&pool, 2000).expect("B");
    let a_addr = fill(&pool, a, 1, 1000);
    let b_addr = fill(&pool, b, 2, 2000);
    test.expect(a_addr % PAGE_SIZE == 0, "A is first, at offset 0");
    test.expect(b_addr + 2048 == a_addr + PAGE_SIZE, "B is last, 32 chunks");
    test.expect(pool.total_pages() == 1, "A and B share a page");
    // Both buddies used: the first page is full.  C, 15 chunks, would fit
    // in its 16 free chunks, but takes a second page; D, 40 chunks, fits
    // beside C.
    let c = alloc(&pool, 900).expect("C");
    let d = alloc(&pool, 2500).expect("D");
    fill(&pool, c, 3, 900);
    fill(&pool, d, 4, 2500);
    test.expect(pool.total_pages() == 2, "C takes a second page");
    test.expect(
        folio_of(&pool, c).pfn() == folio_of(&pool, d).pfn(),
        "D is C's buddy",
    );
    // Freeing A leaves 32 chunks free in the first page, where E goes.
    free(&pool, a);
    let e = alloc(&pool, 1500).expect("E");
    test.expect(
        folio_of(&pool, e).pfn() == folio_of(&pool, b).pfn(),
        "E takes A's place",
    );
    test.expect(fill(&pool, e, 5, 1500) % PAGE_SIZE == 0, "as first buddy");
    test.expect(
        check(&pool, b, 2, 2000) + check(&pool, c, 3, 900) + check(&pool, d, 4, 2500) == 0,
        "B, C and D kept",
    );
    let f = alloc(&pool, 64).expect("F");
    test.expect(
        pool.total_pages() == 3,
        "F finds no room beside two buddies",
    );
    free(&pool, f);
    for h in [b, c, d, e] {
        free(&pool, h);
    }
    test.expect(pool.total_pages() == 0, "every page released");
}

/// Pages filled two objects a page before every other object is freed.
const PAIR_PAGES: usize = 64;
/// 25 chunks: two lone ones fit in a page.
const PAIR_SIZE: usize = 1600;

fn lone_buddies_pair_up(test: &mut Test) {
    let pool = new_pool();
    let mut handles = KVec::new();
    for i in 0..2 * PAIR_PAGES {
        let h = alloc(&pool, PAIR_SIZE).expect("an object");
        fill(&pool, h, i, PAIR_SIZE);
        handles.push(h, GFP_KERNEL).expect("room");
    }
    test.expect(
        pool.total_pages() == PAIR_PAGES as u64,
        "two objects a page",
    );
    let before = stats::PAIRED.get();
    let few = PAIR_PAGES / LONE_SHARE as usize;
    for &h in handles.iter().skip(1).step_by(2).take(few) {
        free(&pool, h);
    }
    test.expect(
        pool.total_pages() == PAIR_PAGES as u64 && stats::PAIRED.get() == before,
        "one lone page in LONE_SHARE stays: it may empty by itself",
    );
    for &h in handles.iter().skip(1).step_by(2).skip(few) {
        free(&pool, h);
    }
    // `PAIR_PAGES` objects are left; each page given back is a move.
    let pages = pool.total_pages();
    let lone = 2 * pages - PAIR_PAGES as u64;
    test.expect(
        lone * LONE_SHARE <= pages,
        "then the survivors pair up, but for one page in LONE_SHARE",
    );
    test.expect(
        stats::PAIRED.get() - before == PAIR_PAGES as u64 - pages,
        "a move for each page given back",
    );
    let bad: usize = (0..2 * PAIR_PAGES)
        .step_by(2)
        .map(|i| check(&pool, handles[i], i, PAIR_SIZE))
        .sum();
    test.expect(bad == 0, "every survivor reads back through its handle");
    for i in (0..2 * PAIR_PAGES).step_by(2) {
        free(&pool, handles[i]);
    }
    test.expect(pool.total_pages() == 0, "every page released");
}

fn lone_buddy_without_room_stays(test: &mut Test) {
    let pool = new_pool();
    let big = alloc(&pool, MAX_SIZE).expect("a big object");
    let a = alloc(&pool, PAIR_SIZE).expect("A");
    let b = alloc(&pool, PAIR_SIZE).expect("B");
    fill(&pool, big, 1, MAX_SIZE);
    fill(&pool, b, 2, PAIR_SIZE);
    test.expect(pool.total_pages() == 2, "A and B share the second page");
    free(&pool, a);
    test.expect(
        pool.total_pages() == 2,
        "B has no room beside the 63 chunks of the big one",
    );
    test.expect(
        check(&pool, big, 1, MAX_SIZE) + check(&pool, b, 2, PAIR_SIZE) == 0,
        "contents kept",
    );
    free(&pool, big);
    free(&pool, b);
    test.expect(pool.total_pages() == 0, "every page released");
}

fn mapped_lone_buddy_waits(test: &mut Test) {
    let pool = new_pool();
    let mut h = [Handle::from_raw(0); 4];
    for (i, h) in h.iter_mut().enumerate() {
        *h = alloc(&pool, PAIR_SIZE).expect("an object");
        fill(&pool, *h, i, PAIR_SIZE);
    }
    // SAFETY: live; unmapped below.
    let addr = unsafe { pool.map(h[0]) };
    free(&pool, h[1]);
    free(&pool, h[3]);
    test.expect(
        pool.total_pages() == 2,
        "no object joins a page with a mapped one",
    );
    // SAFETY: the mapping is ours; nothing moved it.
    test.expect(
        unsafe { addr.as_ptr().read() } == pattern(0, 0),
        "mapping valid",
    );
    // SAFETY: mapped above.
    unsafe { pool.unmap(h[0]) };
    // SAFETY: live; unmapped below.
    unsafe { pool.map(h[2]) };
    free(&pool, h[0]);
    test.expect(pool.total_pages() == 1, "the emptied page goes");
    // SAFETY: mapped above.
    unsafe { pool.unmap(h[2]) };
    test.expect(check(&pool, h[2], 2, PAIR_SIZE) == 0, "contents kept");
    free(&pool, h[2]);
    test.expect(pool.total_pages() == 0, "every page released");
}

const OBJECTS: usize = 256;

fn object_size(i: usize) -> usize {
    300 + (i * 613) % 3500
}

fn handles_survive_migration_of_every_page(test: &mut Test) {
    let pool = new_pool();
    let mut handles = KVec::new();
    for i in 0..OBJECTS {
        let h = alloc(&pool, object_size(i)).expect("an object");
        fill(&pool, h, i, object_size(i));
        handles.push(h, GFP_KERNEL).expect("room");
    }
    let pages = pool.total_pages();
    let before = stats::MIGRATED.get();
    let mut moved = 0u64;
    let mut failed = 0u64;
    for &h in handles.iter() {
        let folio = folio_of(&pool, h);
        let pfn = folio.pfn();
        // Each page once: a page moved already has a new pfn, which
        // another object's lookup finds.
        if handles
            .iter()
            .take_while(|&&o| o != h)
            .any(|&o| folio_of(&pool, o).pfn() == pfn)
        {
            continue;
        }
        match Folio::migrate(folio) {
            Ok(()) if folio_of(&pool, h).pfn() != pfn => moved += 1,
            _ => failed += 1,
        }
    }
    test.expect(failed == 0, "every page migrates");
    test.expect(moved == pages, "each page once");
    test.expect(stats::MIGRATED.get() - before >= pages, "counted");
    let bad: usize = handles
        .iter()
        .enumerate()
        .map(|(i, &h)| check(&pool, h, i, object_size(i)))
        .sum();
    test.expect(bad == 0, "every object reads back through its handle");
    for &h in handles.iter() {
        free(&pool, h);
    }
    test.expect(pool.total_pages() == 0, "every page released");
}

fn mapped_object_blocks_migration(test: &mut Test) {
    let pool = new_pool();
    let h = alloc(&pool, 3000).expect("an object");
    fill(&pool, h, 7, 3000);
    let pfn = folio_of(&pool, h).pfn();
    // SAFETY: live; unmapped below.
    let addr = unsafe { pool.map(h) };
    test.expect(
        Folio::migrate(folio_of(&pool, h)) == Err(EBUSY),
        "a page with a mapped object is not isolated",
    );
    test.expect(folio_of(&pool, h).pfn() == pfn, "and stays");
    // SAFETY: the mapping is ours; the page did not move.
    test.expect(
        unsafe { addr.as_ptr().read() } == pattern(7, 0),
        "mapping valid",
    );
    // SAFETY: mapped above.
    unsafe { pool.unmap(h) };
    test.expect(
        Folio::migrate(folio_of(&pool, h)).is_ok(),
        "unmapped, it moves",
    );
    test.expect(folio_of(&pool, h).pfn() != pfn, "to a new page");
    test.expect(check(&pool, h, 7, 3000) == 0, "with its contents");
    free(&pool, h);
}

/// Waits up to ten seconds for `done`.
fn wait_for(done: impl Fn() -> bool) -> bool {
    for _ in 0..1000 {
        if done() {
            return true;
        }
        // SAFETY: FFI call; KUnit cases may sleep.
        unsafe { bindings::msleep(10) };
    }
    done()
}

fn free_under_the_page_lock_defers_release(test: &mut Test) {
    let pool = new_pool();
    let h = alloc(&pool, 100).expect("an object");
    let folio = folio_of(&pool, h);
    let before = stats::RELEASED_DEFERRED.get();
    {
        // The migration core holds the lock like this during a migration.
        let _locked = folio.lock();
        free(&pool, h);
        test.expect(
            pool.total_pages() == 1,
            "the pool holds it until it is released",
        );
        test.expect(
            stats::RELEASED_DEFERRED.get() == before,
            "the page waits for its lock",
        );
        // Ours, the pool's.
        test.expect(folio.ref_count() == 2, "the pool still owns the page");
    }
    test.expect(
        wait_for(|| stats::RELEASED_DEFERRED.get() > before),
        "the worker releases it once unlocked",
    );
    test.expect(
        wait_for(|| folio.ref_count() == 1),
        "and drops the pool's reference",
    );
    test.expect(pool.total_pages() == 0, "the pool no longer counts it");
    drop(pool);
}

fn pool_outlives_its_deferred_pages(test: &mut Test) {
    let pool = new_pool();
    let h = alloc(&pool, 100).expect("an object");
    let folio = folio_of(&pool, h);
    let before = stats::RELEASED_DEFERRED.get();
    let locked = folio.lock();
    free(&pool, h);
    // zswap destroys a pool once its last object is freed.
    drop(pool);
    drop(locked);
    test.expect(
        wait_for(|| stats::RELEASED_DEFERRED.get() > before && folio.ref_count() == 1),
        "the page is released after the pool is gone",
    );
}

const RACE_OBJECTS: usize = 64;
const RACE_ROUNDS: usize = 40;

/// Migrates the pool's pages, found through `handles`, until `stop`.
struct Migrator {
    pool: Arc<ZbudPool>,
    stop: AtomicBool,
    done: AtomicBool,
    moved: AtomicU64,
}

impl Migrator {
    /// Starts a task that migrates `pool`'s pages until [`Migrator::stop`].
    fn start(test: &mut Test, pool: &Arc<ZbudPool>) -> Arc<Self> {
        let migrator = Arc::new(
            Migrator {
                pool: pool.clone(),
                stop: AtomicBool::new(false),
                done: AtomicBool::new(false),
                moved: AtomicU64::new(0),
            },
            GFP_KERNEL,
        )
        .expect("room");
        let m = migrator.clone();
        let spawned = workqueue::system_unbound().try_spawn(GFP_KERNEL, move || {
            while !m.stop.load(Ordering::Acquire) {
                for folio in m.pool.folios() {
                    if Folio::migrate(folio).is_ok() {
                        m.moved.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            m.done.store(true, Ordering::Release);
        });
        test.expect(spawned.is_ok(), "the migrator runs");
        migrator
    }

    /// Stops the task and waits for it.
    fn stop(&self, test: &mut Test) {
        self.stop.store(true, Ordering::Release);
        test.expect(
            wait_for(|| self.done.load(Ordering::Acquire)),
            "the migrator stops",
        );
    }
}

fn frees_race_migration(test: &mut Test) {
    let pool = new_pool();
    let migrator = Migrator::start(test, &pool);
    let mut bad = 0;
    let before = stats::MIGRATED.get();
    for round in 0..RACE_ROUNDS {
        let mut handles = KVec::new();
        for i in 0..RACE_OBJECTS {
            let seed = round * RACE_OBJECTS + i;
            if let Ok(h) = alloc(&pool, object_size(seed)) {
                fill(&pool, h, seed, object_size(seed));
                let _ = handles.push((h, seed), GFP_KERNEL);
            }
        }
        // Free every other object, check the rest, then free them too:
        // pages empty while the migrator isolates and moves them.
        for &(h, seed) in handles.iter().step_by(2) {
            bad += check(&pool, h, seed, object_size(seed));
            free(&pool, h);
        }
        for &(h, seed) in handles.iter().skip(1).step_by(2) {
            bad += check(&pool, h, seed, object_size(seed));
            free(&pool, h);
        }
    }
    migrator.stop(test);
    test.expect(bad == 0, "every object kept its contents");
    // A page whose last object went while the migrator held its lock is
    // released by the pool's worker, which may not have run yet.
    test.expect(wait_for(|| pool.total_pages() == 0), "every page released");
    test.expect(stats::MIGRATED.get() > before, "pages moved meanwhile");
}

/// Maps and checks the objects it keeps, over and over, until `stop`.
struct Checker {
    pool: Arc<ZbudPool>,
    kept: KVec<(Handle, usize)>,
    stop: AtomicBool,
    done: AtomicBool,
    passes: AtomicU64,
    bad: AtomicU64,
}

fn pairing_races_maps_and_migration(test: &mut Test) {
    let pool = new_pool();
    // Kept and churned objects alternate, so each page holds one of each.
    let mut kept = KVec::new();
    let mut churn = KVec::new();
    for i in 0..2 * RACE_OBJECTS {
        let Ok(h) = alloc(&pool, object_size(i)) else {
            continue;
        };
        fill(&pool, h, i, object_size(i));
        let _ = if i % 2 == 0 { &mut kept } else { &mut churn }.push((h, i), GFP_KERNEL);
    }
    let checker = Arc::new(
        Checker {
            pool: pool.clone(),
            kept,
            stop: AtomicBool::new(false),
            done: AtomicBool::new(false),
            passes: AtomicU64::new(0),
            bad: AtomicU64::new(0),
        },
        GFP_KERNEL,
    )
    .expect("room");
    let c = checker.clone();
    let spawned = workqueue::system_unbound().try_spawn(GFP_KERNEL, move || {
        while !c.stop.load(Ordering::Acquire) {
            for &(h, seed) in c.kept.iter() {
                let bad = check(&c.pool, h, seed, object_size(seed));
                c.bad.fetch_add(bad as u64, Ordering::Relaxed);
            }
            c.passes.fetch_add(1, Ordering::Relaxed);
        }
        c.done.store(true, Ordering::Release);
    });
    test.expect(spawned.is_ok(), "the checker runs");
    let migrator = Migrator::start(test, &pool);
    let paired = stats::PAIRED.get();
    let mut bad = 0;
    for round in 1..=RACE_ROUNDS {
        // Each free leaves a kept object alone in its page, to be moved
        // into another lone one's while the checker maps them and the
        // migrator moves their pages.
        for &(h, seed) in churn.iter() {
            bad += check(&pool, h, seed, object_size(seed));
            free(&pool, h);
        }
        churn = KVec::new();
        for i in 0..RACE_OBJECTS {
            let seed = round * 2 * RACE_OBJECTS + 2 * i + 1;
            if let Ok(h) = alloc(&pool, object_size(seed)) {
                fill(&pool, h, seed, object_size(seed));
                let _ = churn.push((h, seed), GFP_KERNEL);
            }
        }
    }
    checker.stop.store(true, Ordering::Release);
    test.expect(
        wait_for(|| checker.done.load(Ordering::Acquire)),
        "the checker stops",
    );
    migrator.stop(test);
    test.expect(bad == 0, "every churned object kept its contents");
    test.expect(
        checker.bad.load(Ordering::Relaxed) == 0,
        "every kept object read right on the other task",
    );
    test.expect(
        checker.passes.load(Ordering::Relaxed) > 0,
        "the checker read them all at least once",
    );
    test.expect(stats::PAIRED.get() > paired, "objects paired meanwhile");
    for &(h, seed) in Iterator::chain(checker.kept.iter(), churn.iter()) {
        test.expect(
            check(&pool, h, seed, object_size(seed)) == 0,
            "contents kept",
        );
        free(&pool, h);
    }
    test.expect(wait_for(|| pool.total_pages() == 0), "every page released");
}

kernel::kunit_test_suite!(
    "zbud_rs",
    [
        sizes_across_the_chunk_range,
        buddies_share_a_page,
        lone_buddies_pair_up,
        lone_buddy_without_room_stays,
        mapped_lone_buddy_waits,
        handles_survive_migration_of_every_page,
        mapped_object_blocks_migration,
        free_under_the_page_lock_defers_release,
        pool_outlives_its_deferred_pages,
        frees_race_migration,
        pairing_races_maps_and_migration,
    ]
);
