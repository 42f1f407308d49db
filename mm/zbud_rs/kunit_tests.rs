// SPDX-License-Identifier: GPL-2.0

//! KUnit suite `zbud_rs`: placement across the chunk range, freeing and
//! reuse, handles across the migration of every page, mapped objects
//! blocking migration, and frees racing the migration core.

use crate::{
    geometry::{CHUNK_SIZE, MAX_SIZE},
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

fn frees_race_migration(test: &mut Test) {
    let pool = new_pool();
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
    migrator.stop.store(true, Ordering::Release);
    test.expect(
        wait_for(|| migrator.done.load(Ordering::Acquire)),
        "the migrator stops",
    );
    test.expect(bad == 0, "every object kept its contents");
    // A page whose last object went while the migrator held its lock is
    // released by the pool's worker, which may not have run yet.
    test.expect(wait_for(|| pool.total_pages() == 0), "every page released");
    test.expect(stats::MIGRATED.get() > before, "pages moved meanwhile");
}

kernel::kunit_test_suite!(
    "zbud_rs",
    [
        sizes_across_the_chunk_range,
        buddies_share_a_page,
        handles_survive_migration_of_every_page,
        mapped_object_blocks_migration,
        free_under_the_page_lock_defers_release,
        pool_outlives_its_deferred_pages,
        frees_race_migration,
    ]
);
