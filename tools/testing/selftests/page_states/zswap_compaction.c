// SPDX-License-Identifier: GPL-2.0
/*
 * zswap on each zpool allocator, under compaction.
 *
 * Anonymous memory is filled with pages that compress to about 1.5 KiB
 * (so that two fit in one zbud page), below a ballast that takes the rest
 * of free memory (zswap_pattern.h), pushed to zswap (MADV_PAGEOUT), and
 * every other page is freed, which leaves holes in most of the
 * allocator's pages (zbud_rs moves the lone buddies together and gives
 * half its pages back).  The ballast is freed, but for one page in each
 * 4 MiB block, so that compaction has free pages to fill above the pool.
 * Then memory is compacted: the pages of an allocator whose pages are
 * movable (zbud_rs, zsmalloc) are migrated, and every page still
 * allocated must read back exactly as it was written, the freed ones as
 * zeros.  The test prints the free blocks of order 4, 8 and 10 before
 * and after compaction, and how many blocks of each order could then be
 * allocated, with compaction on demand (CONFIG_TEST_GPH_HIGH_ORDER), before
 * it reads the pages back.  A second test faults pages in and pushes them
 * out again from two threads while memory is compacted over and over.
 *
 * Each test runs on zbud_rs (the Rust zbud, whose pages are movable),
 * zbud and zsmalloc, all built in: the fixture selects the allocator with
 * /sys/module/zswap/parameters/zpool, turns zswap on, and puts both knobs
 * back afterwards.  zbud_rs counts its migrations in debugfs
 * (/sys/kernel/debug/zbud_rs/): nearly every page compaction tries must
 * migrate, and, below free memory, at least half of the pool.  Proactive
 * compaction is off during the tests, so that pages move only when a test
 * compacts.
 *
 * The tests need swap for zswap to sit in front of (the guest of make
 * check swaps to a file on its disk); without it they skip.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../kselftest_harness.h"
#include "page_states_util.h"
#include "zswap_pattern.h"

#define PAGE 4096UL
#define MIB (1024UL * 1024)

/* The area the first test fills, and the steps it pages it out in. */
#define AREA (64 * MIB)
#define PAGEOUT_STEP (8 * MIB)

/* The area the threads of the second test share, and their rounds. */
#define RACE_AREA (32 * MIB)
#define RACE_THREADS 2
#define RACE_ROUNDS 4

/*
 * How fill_fragment_compact_verify frees its ballast before compaction:
 * but for one page in each 4 MiB block (1; see zswap_ballast_thin()), or
 * whole (0).  Freed whole, it leaves compaction's free scanner only the
 * holes of the pool itself to fill, and about half of zbud_rs's pages
 * move (make bench, P4: 54.7% with the ballast freed whole, 100% thinned).
 */
#define BALLAST_THIN 1

/*
 * Whether fill_fragment_compact_verify asserts that compaction migrated
 * at least POOL_MIGRATED_PERCENT of zbud_rs's pages (it prints the share
 * either way).  Set from make bench's run of the same scenario (P4), not
 * yet from a run of this test under make check.
 */
#define ASSERT_POOL_MIGRATED 1
#define POOL_MIGRATED_PERCENT 50

/*
 * The most of zbud_rs's pool that may stay once every other page is
 * freed: the lone buddies pair up, which leaves half, and a few pages of
 * objects that were mapped when their buddy went, or that zswap stored
 * for other processes meanwhile.
 */
#define POOL_AFTER_HOLES_PERCENT 55

#define ZSWAP_PARAM "/sys/module/zswap/parameters/"
#define ZSWAP_DEBUG "/sys/kernel/debug/zswap/"
#define ZBUD_RS_DEBUG "/sys/kernel/debug/zbud_rs/"
#define COMPACT_MEMORY "/proc/sys/vm/compact_memory"

/* Reads the file at @path into @buf, without its newline; 0 or -errno. */
static int read_str(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0)
		n = -errno;
	close(fd);
	if (n < 0)
		return n;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/* Reads the decimal number the file at @path holds; 0 or -errno. */
static int read_u64(const char *path, unsigned long long *value)
{
	char buf[32], *end;
	int err = read_str(path, buf, sizeof(buf));

	if (err)
		return err;
	errno = 0;
	*value = strtoull(buf, &end, 10);
	if (errno || end == buf || *end)
		return -EINVAL;
	return 0;
}

/*
 * Keeps the calling thread on the CPU it runs on (or on @cpu when it is
 * not negative).  MADV_PAGEOUT takes only the pages on the LRU lists and
 * drains only this CPU's LRU batch: a page that a fault on another CPU
 * left in that CPU's batch would stay.
 */
static void stay_on_cpu(int cpu)
{
	cpu_set_t one;

	CPU_ZERO(&one);
	CPU_SET(cpu < 0 ? sched_getcpu() : cpu, &one);
	sched_setaffinity(0, sizeof(one), &one);
}

/* The wrong pages found, and the first wrong word. */
struct verdict {
	size_t bad;
	size_t page, word;
	uint64_t got, want;
};

static void check(const char *page, size_t index, int gen, struct verdict *v)
{
	uint64_t want;
	size_t word = zswap_check_page(page, index, gen, &want);

	if (word == ZSWAP_WORDS)
		return;
	if (!v->bad++) {
		v->page = index;
		v->word = word;
		v->got = ((const uint64_t *)page)[word];
		v->want = want;
	}
}

/* How many pages of @buf the page tables hold as swap entries. */
static size_t swapped_pages(const void *buf, size_t len)
{
	size_t pages = len / PAGE, swapped = 0, i;
	size_t size = pages * sizeof(uint64_t);
	uint64_t *entries = malloc(size);
	off_t off = (uintptr_t)buf / PAGE * sizeof(uint64_t);
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd >= 0 && entries && pread(fd, entries, size, off) == (ssize_t)size)
		for (i = 0; i < pages; i++)
			swapped += (entries[i] >> 62) & 1;
	if (fd >= 0)
		close(fd);
	free(entries);
	return swapped;
}

/*
 * Pushes the pages of @buf out (to zswap, or to the disk behind it when
 * zswap rejects them), trying again until the page tables agree; returns
 * how many are out.
 */
static size_t page_out(char *buf, size_t len)
{
	size_t out = 0;
	int i;

	for (i = 0; i < 10; i++) {
		if (madvise(buf, len, MADV_PAGEOUT))
			break;
		out = swapped_pages(buf, len);
		if (out == len / PAGE)
			break;
		usleep(10000);
	}
	return out;
}

/* zbud_rs's counters in debugfs, one decimal number a file. */
enum {
	ZR_PAGES,		/* pages the allocator holds now */
	ZR_ISOLATED,		/* pages it let compaction isolate */
	ZR_REFUSED,		/* pages it did not let compaction isolate */
	ZR_MIGRATED,		/* pages it moved to a new frame */
	ZR_AGAIN,		/* migrations it asked to try again (-EAGAIN) */
	ZR_PUTBACK,		/* isolated pages it got back unmigrated */
	ZR_DEFERRED,		/* empty pages its worker released */
	ZR_PAIRED,		/* objects it moved to join another lone one */
	ZR_NR,
};

static const char * const zr_names[ZR_NR] = {
	"pages", "isolated", "isolate_refused", "migrated", "migrate_again", "putback",
	"released_deferred", "paired",
};

/* The counters the tests follow, at one moment. */
struct snapshot {
	long pgmigrate_success;
	long compact_isolated;
	long zswpin, zswpout;
	unsigned long long pool_bytes;		/* pool_total_size */
	unsigned long long stored;		/* stored_pages */
	unsigned long long zr[ZR_NR];		/* zbud_rs only */
};

/* Takes a snapshot, with zbud_rs's counters if @zbud_rs; 0 or -errno. */
static int snapshot(struct snapshot *s, bool zbud_rs)
{
	char path[128];
	int err, i;

	s->pgmigrate_success = read_vmstat("pgmigrate_success");
	s->compact_isolated = read_vmstat("compact_isolated");
	s->zswpin = read_vmstat("zswpin");
	s->zswpout = read_vmstat("zswpout");
	err = read_u64(ZSWAP_DEBUG "pool_total_size", &s->pool_bytes);
	if (err) {
		ksft_print_msg("cannot read " ZSWAP_DEBUG "pool_total_size: %s\n", strerror(-err));
		return err;
	}
	err = read_u64(ZSWAP_DEBUG "stored_pages", &s->stored);
	if (err) {
		ksft_print_msg("cannot read " ZSWAP_DEBUG "stored_pages: %s\n", strerror(-err));
		return err;
	}
	for (i = 0; zbud_rs && i < ZR_NR; i++) {
		snprintf(path, sizeof(path), ZBUD_RS_DEBUG "%s", zr_names[i]);
		err = read_u64(path, &s->zr[i]);
		if (err) {
			ksft_print_msg("cannot read %s: %s\n", path, strerror(-err));
			return err;
		}
	}
	return 0;
}

/* Why zswap turned pages away: its reject counters in debugfs. */
static const char * const rejects[] = {
	"reject_compress_poor", "reject_compress_fail", "reject_alloc_fail",
	"reject_kmemcache_fail", "reject_reclaim_fail", "pool_limit_hit",
	"written_back_pages",
};

#define NR_REJECTS ARRAY_SIZE(rejects)

static void read_rejects(unsigned long long *counts)
{
	char path[128];
	size_t i;

	for (i = 0; i < NR_REJECTS; i++) {
		snprintf(path, sizeof(path), ZSWAP_DEBUG "%s", rejects[i]);
		if (read_u64(path, &counts[i]))
			counts[i] = 0;
	}
}

/* Prints how the reject counters grew since @before. */
static void print_rejects(const unsigned long long *before)
{
	unsigned long long now[NR_REJECTS];
	size_t i;

	read_rejects(now);
	for (i = 0; i < NR_REJECTS; i++)
		ksft_print_msg("zswap %s: +%llu\n", rejects[i], now[i] - before[i]);
}

/* Appends to the line @line of @len bytes. */
static __printf(3, 4) void append(char *line, size_t len, const char *fmt, ...)
{
	size_t used = strlen(line);
	va_list ap;

	if (used >= len - 1)
		return;
	va_start(ap, fmt);
	vsnprintf(line + used, len - used, fmt, ap);
	va_end(ap);
}

static double percent(unsigned long long part, unsigned long long whole)
{
	return whole ? 100.0 * part / whole : 0.0;
}

/*
 * Each test on each allocator.  The setup skips without swap or without
 * zswap; it fails when zswap does not take the allocator, since all three
 * are built in.
 */
FIXTURE(zswap)
{
	char zpool[64];		/* the knobs as they were */
	char enabled[8];
	int proactiveness;	/* vm.compaction_proactiveness, or -1 */
};

FIXTURE_VARIANT(zswap)
{
	const char *zpool;
	bool zbud_rs;		/* has zbud_rs's counters */
};

FIXTURE_VARIANT_ADD(zswap, zbud_rs)
{
	.zpool = "zbud_rs",
	.zbud_rs = true,
};

FIXTURE_VARIANT_ADD(zswap, zbud)
{
	.zpool = "zbud",
};

FIXTURE_VARIANT_ADD(zswap, zsmalloc)
{
	.zpool = "zsmalloc",
};

/* Puts the allocator back, then zswap's switch. */
static void zswap_restore(const char *zpool, const char *enabled)
{
	if (zpool[0])
		write_path(ZSWAP_PARAM "zpool", zpool);
	if (enabled[0])
		write_path(ZSWAP_PARAM "enabled", enabled);
}

FIXTURE_SETUP(zswap)
{
	char now[64] = "";
	int err;

	self->proactiveness = -1;
	if (!swap_on())
		SKIP(return, "needs swap (see /proc/swaps)");
	if (access(ZSWAP_PARAM "zpool", F_OK))
		SKIP(return, "needs CONFIG_ZSWAP (no " ZSWAP_PARAM "zpool)");
	ASSERT_EQ(0, read_str(ZSWAP_PARAM "zpool", self->zpool, sizeof(self->zpool)));
	ASSERT_EQ(0, read_str(ZSWAP_PARAM "enabled", self->enabled, sizeof(self->enabled)));
	/*
	 * Before zswap is first turned on the knob only records the name,
	 * and turning it on makes the pool, falling back to the default
	 * allocator if the name is unknown: the read back catches both.
	 */
	err = write_path(ZSWAP_PARAM "zpool", variant->zpool);
	if (!err)
		err = write_path(ZSWAP_PARAM "enabled", "Y");
	if (!err)
		err = read_str(ZSWAP_PARAM "zpool", now, sizeof(now));
	if (err || strcmp(now, variant->zpool)) {
		/* No teardown after a failed setup. */
		zswap_restore(self->zpool, self->enabled);
		ASSERT_EQ(0, err) TH_LOG("zswap on %s: %s", variant->zpool, strerror(-err));
		ASSERT_STREQ(variant->zpool, now);
	}
}

FIXTURE_TEARDOWN(zswap)
{
	zswap_restore(self->zpool, self->enabled);
	if (self->proactiveness >= 0)
		zswap_set_proactiveness(self->proactiveness);
}

/*
 * Fills AREA with pages that compress to about 1.5 KiB below a ballast,
 * pushes them to zswap, frees every other one, frees the ballast, compacts
 * memory and checks every page.
 */
TEST_F_TIMEOUT(zswap, fill_fragment_compact_verify, 600)
{
	const size_t pages = AREA / PAGE;
	unsigned long long rejects0[NR_REJECTS];
	unsigned long long stored, d[ZR_NR], tried;
	long long allocated[ZSWAP_PROBED_ORDERS];
	struct zswap_high_order h0, h1;
	struct snapshot s0, s1, s2, s3;
	struct verdict v = {};
	size_t i, off, out = 0, ballast_len, kept = 0;
	long area_mib, ballast_mib;
	char line[1024] = "";
	char *buf, *ballast;

	stay_on_cpu(-1);
	/* Compaction runs when this test asks, and only then. */
	self->proactiveness = zswap_set_proactiveness(0);

	/* 0. The ballast above, the area below. */
	ballast = zswap_ballast_map(AREA, &ballast_len);
	ASSERT_NE(MAP_FAILED, ballast) TH_LOG("a ballast of %zu MiB", ballast_len / MIB);
	buf = mmap(NULL, AREA, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, buf);
	/* Base pages; EINVAL without CONFIG_TRANSPARENT_HUGEPAGE, which is as good. */
	madvise(buf, AREA, MADV_NOHUGEPAGE);
	for (i = 0; i < pages; i++)
		zswap_fill_page(buf + i * PAGE, i, 0);
	area_mib = zswap_phys_mib(buf, AREA);
	ballast_mib = ballast ? zswap_phys_mib(ballast, ballast_len) : -1;

	/* 1. Everything to zswap. */
	ASSERT_EQ(0, snapshot(&s0, variant->zbud_rs));
	read_rejects(rejects0);
	for (off = 0; off < AREA; off += PAGEOUT_STEP)
		out += page_out(buf + off, PAGEOUT_STEP);
	ASSERT_EQ(0, snapshot(&s1, variant->zbud_rs));
	stored = s1.stored - s0.stored;
	if (stored < pages)
		print_rejects(rejects0);
	ASSERT_LE(pages * 9, stored * 10)
		TH_LOG("zswap on %s stored %llu of %zu pages (%zu swapped out)",
		       variant->zpool, stored, pages, out);

	/* 2. Holes: one buddy of most zbud pages goes. */
	for (i = 1; i < pages; i += 2)
		ASSERT_EQ(0, madvise(buf + i * PAGE, PAGE, MADV_DONTNEED));

	/* 3. Free memory above the pool, and compaction. */
	if (ballast) {
#if BALLAST_THIN
		kept = zswap_ballast_thin(ballast, ballast_len);
#else
		munmap(ballast, ballast_len);
		ballast = NULL;
#endif
	}
	ASSERT_EQ(0, zswap_high_order(&h0));
	ASSERT_EQ(0, snapshot(&s2, variant->zbud_rs));
	ASSERT_EQ(0, write_path(COMPACT_MEMORY, "1"));
	ASSERT_EQ(0, snapshot(&s3, variant->zbud_rs));
	ASSERT_EQ(0, zswap_high_order(&h1));

	/* 4. Allocations of high order, which compact again on demand. */
	for (i = 0; i < ZSWAP_PROBED_ORDERS; i++)
		allocated[i] = zswap_allocatable(zswap_probed_orders[i]);

	/* 5. Every page back from zswap, every word checked. */
	for (i = 0; i < pages; i++)
		check(buf + i * PAGE, i, i % 2 ? -1 : 0, &v);

	for (i = 0; i < ZR_NR; i++)
		d[i] = s3.zr[i] - s2.zr[i];
	tried = d[ZR_ISOLATED] + d[ZR_REFUSED];
	append(line, sizeof(line), "%s: %llu of %zu pages stored, %llu B per stored page",
	       variant->zpool, stored, pages, s1.stored ? s1.pool_bytes / s1.stored : 0);
	append(line, sizeof(line), " (%llu after the holes);",
	       s3.stored ? s3.pool_bytes / s3.stored : 0);
	append(line, sizeof(line), " ballast %zu MiB (%zu pages kept) at %ld MiB, area at %ld MiB",
	       ballast_len / MIB, kept, ballast_mib, area_mib);
	append(line, sizeof(line), " (mean physical addresses);");
	append(line, sizeof(line), " pool %llu KiB before compaction, %llu KiB after;",
	       s2.pool_bytes / 1024, s3.pool_bytes / 1024);
	append(line, sizeof(line), " pgmigrate_success +%ld, compact_isolated +%ld;",
	       s3.pgmigrate_success - s2.pgmigrate_success,
	       s3.compact_isolated - s2.compact_isolated);
	append(line, sizeof(line), " high-order free before compaction: order-4 %llu,",
	       h0.order4);
	append(line, sizeof(line), " order-8 %llu, order-10 %llu;", h0.order8, h0.order10);
	append(line, sizeof(line), " high-order free after compaction: order-4 %llu,",
	       h1.order4);
	append(line, sizeof(line), " order-8 %llu, order-10 %llu;", h1.order8, h1.order10);
	append(line, sizeof(line), " then allocated: order-4 %lld, order-8 %lld,",
	       allocated[0], allocated[1]);
	append(line, sizeof(line), " order-10 %lld", allocated[2]);
	if (variant->zbud_rs) {
		append(line, sizeof(line), "; zbud_rs: %llu pages, %llu isolated, %llu refused,",
		       s2.zr[ZR_PAGES], d[ZR_ISOLATED], d[ZR_REFUSED]);
		append(line, sizeof(line), " %llu migrated (%.1f%% of %llu tried,",
		       d[ZR_MIGRATED], percent(d[ZR_MIGRATED], tried), tried);
		append(line, sizeof(line), " %.1f%% of the pages),",
		       percent(d[ZR_MIGRATED], s2.zr[ZR_PAGES]));
		append(line, sizeof(line), " %llu again, %llu put back, %llu released deferred;",
		       d[ZR_AGAIN], d[ZR_PUTBACK], d[ZR_DEFERRED]);
		append(line, sizeof(line), " the holes took it from %llu pages to %llu",
		       s1.zr[ZR_PAGES], s2.zr[ZR_PAGES]);
		append(line, sizeof(line), " (%llu objects paired)",
		       s2.zr[ZR_PAIRED] - s1.zr[ZR_PAIRED]);
	}
	ksft_print_msg("%s\n", line);
	if (ballast)
		munmap(ballast, ballast_len);

	ASSERT_EQ(0, v.bad)
		TH_LOG("%zu wrong pages; first: page %zu word %zu holds %#llx, not %#llx",
		       v.bad, v.page, v.word, (unsigned long long)v.got,
		       (unsigned long long)v.want);
	ASSERT_LE(0, allocated[1]) TH_LOG("no " ZSWAP_HIGH_ORDER_FILE);
	/* Every free order-8 block compaction left could be allocated. */
	EXPECT_LE(h1.order8 * 9, allocated[1] * 10)
		TH_LOG("%lld order-8 blocks allocated, %llu were free", allocated[1], h1.order8);
	if (variant->zbud_rs) {
		/*
		 * The holes left a lone buddy in each page, and the lone
		 * buddies paired up: about half the pages went back.
		 */
		EXPECT_LE(100 * s2.zr[ZR_PAGES], POOL_AFTER_HOLES_PERCENT * s1.zr[ZR_PAGES])
			TH_LOG("the holes took the pool from %llu pages to %llu",
			       s1.zr[ZR_PAGES], s2.zr[ZR_PAGES]);
		/* Compaction found zbud_rs's pages and moved them... */
		EXPECT_LT(0, d[ZR_MIGRATED]);
		/* ...nearly every one it tried... */
		EXPECT_LE(95 * tried, 100 * d[ZR_MIGRATED])
			TH_LOG("%llu of %llu tried pages migrated", d[ZR_MIGRATED], tried);
		/* ...and got back no more than it isolated... */
		EXPECT_LE(d[ZR_PUTBACK], d[ZR_ISOLATED]);
#if ASSERT_POOL_MIGRATED
		/* ...and moved most of its pages, which sit below free memory. */
		EXPECT_LE(POOL_MIGRATED_PERCENT * s2.zr[ZR_PAGES], 100 * d[ZR_MIGRATED])
			TH_LOG("%llu of the pool's %llu pages migrated", d[ZR_MIGRATED],
			       s2.zr[ZR_PAGES]);
#endif
	}
	munmap(buf, AREA);
}

/* One thread of concurrent_faults_race_compaction(): its share of the area. */
struct racer {
	char *area;
	size_t first, pages;	/* its pages, by index in the area */
	int cpu;
	int *finished;		/* threads done, shared */
	size_t out;		/* pages found swapped out after each page-out */
	struct verdict v;
};

/*
 * Fills its pages, then pushes them out and reads them back (faults, from
 * zswap), checking every page, RACE_ROUNDS times; a new generation is
 * written after every other round, so a stale object would show.
 */
static void *race_faults(void *arg)
{
	struct racer *r = arg;
	char *base = r->area + r->first * PAGE;
	unsigned int round, gen = 0;
	size_t i;

	stay_on_cpu(r->cpu);
	for (i = 0; i < r->pages; i++)
		zswap_fill_page(base + i * PAGE, r->first + i, gen);
	for (round = 0; round < RACE_ROUNDS; round++) {
		r->out += page_out(base, r->pages * PAGE);
		for (i = 0; i < r->pages; i++)
			check(base + i * PAGE, r->first + i, gen, &r->v);
		if (round % 2 || round + 1 == RACE_ROUNDS)
			continue;
		gen++;
		for (i = 0; i < r->pages; i++)
			zswap_fill_page(base + i * PAGE, r->first + i, gen);
	}
	__atomic_add_fetch(r->finished, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/*
 * Two threads, each on its own CPU, push their halves of RACE_AREA out
 * and fault them back in while this thread compacts memory until they are
 * done: migration of the allocator's pages races with stores, loads and
 * frees of their objects.
 */
TEST_F_TIMEOUT(zswap, concurrent_faults_race_compaction, 600)
{
	const size_t pages = RACE_AREA / PAGE;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	struct racer racers[RACE_THREADS];
	pthread_t threads[RACE_THREADS];
	unsigned long long d[ZR_NR];
	unsigned long compactions = 0;
	struct snapshot s0, s1;
	int finished = 0, started, create_err = 0, err = 0, t;
	size_t out = 0, i;
	struct verdict v = {};
	char line[768] = "";
	char *buf;

	buf = mmap(NULL, RACE_AREA, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, buf);
	madvise(buf, RACE_AREA, MADV_NOHUGEPAGE);
	ASSERT_EQ(0, snapshot(&s0, variant->zbud_rs));
	/* No ASSERT until the threads are joined: they use this frame. */
	for (started = 0; started < RACE_THREADS; started++) {
		racers[started] = (struct racer){
			.area = buf,
			.first = started * pages / RACE_THREADS,
			.pages = pages / RACE_THREADS,
			.cpu = cpus > 0 ? started % cpus : 0,
			.finished = &finished,
		};
		create_err = pthread_create(&threads[started], NULL, race_faults,
					    &racers[started]);
		if (create_err)
			break;
	}
	while (__atomic_load_n(&finished, __ATOMIC_SEQ_CST) < started) {
		if (!err)
			err = write_path(COMPACT_MEMORY, "1");
		if (!err)
			compactions++;
		else
			usleep(100000);
	}
	for (t = 0; t < started; t++) {
		pthread_join(threads[t], NULL);
		out += racers[t].out;
		if (racers[t].v.bad && !v.bad)
			v = racers[t].v;
		else
			v.bad += racers[t].v.bad;
	}
	ASSERT_EQ(0, snapshot(&s1, variant->zbud_rs));

	for (i = 0; i < ZR_NR; i++)
		d[i] = s1.zr[i] - s0.zr[i];
	append(line, sizeof(line), "%s: %d threads x %d rounds, %zu of %zu pages pushed out,",
	       variant->zpool, RACE_THREADS, RACE_ROUNDS, out, pages * RACE_ROUNDS);
	append(line, sizeof(line), " %lu compactions; zswpout +%ld, zswpin +%ld,",
	       compactions, s1.zswpout - s0.zswpout, s1.zswpin - s0.zswpin);
	append(line, sizeof(line), " pgmigrate_success +%ld",
	       s1.pgmigrate_success - s0.pgmigrate_success);
	if (variant->zbud_rs) {
		append(line, sizeof(line), "; zbud_rs: %llu isolated, %llu refused, %llu migrated,",
		       d[ZR_ISOLATED], d[ZR_REFUSED], d[ZR_MIGRATED]);
		append(line, sizeof(line), " %llu again, %llu put back, %llu released deferred;",
		       d[ZR_AGAIN], d[ZR_PUTBACK], d[ZR_DEFERRED]);
		append(line, sizeof(line), " %llu objects paired", d[ZR_PAIRED]);
	}
	ksft_print_msg("%s\n", line);

	ASSERT_EQ(0, create_err) TH_LOG("pthread_create: %s", strerror(create_err));
	ASSERT_EQ(0, err) TH_LOG("compact_memory: %s", strerror(-err));
	ASSERT_EQ(0, v.bad)
		TH_LOG("%zu wrong page reads; first: page %zu word %zu holds %#llx, not %#llx",
		       v.bad, v.page, v.word, (unsigned long long)v.got,
		       (unsigned long long)v.want);
	munmap(buf, RACE_AREA);
}

/* Runs zswap_allocatable(@order) in a child; its count through @fd. */
static pid_t allocate_in_child(unsigned int order, int fd)
{
	pid_t pid = fork();
	long long n;

	if (pid)
		return pid;
	n = zswap_allocatable(order);
	_exit(write(fd, &n, sizeof(n)) == sizeof(n) ? 0 : 1);
}

/*
 * The high-order allocation count (CONFIG_TEST_GPH_HIGH_ORDER) gets every
 * free block of its order, and no more than the memory that was free and
 * what reclaim freed; two counts racing each other share what one gets
 * alone; both give back everything they took.
 */
TEST(high_order_allocations_are_counted_and_given_back)
{
	long long alone, mine, other = -1;
	long free_before, free_after, reclaimed;
	struct zswap_high_order h;
	int fds[2], status;
	pid_t child;

	if (access(ZSWAP_HIGH_ORDER_FILE, F_OK))
		SKIP(return, "needs CONFIG_TEST_GPH_HIGH_ORDER");
	free_before = meminfo_kib("MemFree");
	ASSERT_EQ(0, zswap_high_order(&h));
	reclaimed = zswap_reclaimed_pages();
	alone = zswap_allocatable(8);
	reclaimed = zswap_reclaimed_pages() - reclaimed;
	ASSERT_EQ(0, pipe(fds));
	child = allocate_in_child(8, fds[1]);
	ASSERT_LE(0, child);
	mine = zswap_allocatable(8);
	ASSERT_EQ(child, waitpid(child, &status, 0));
	ASSERT_EQ(sizeof(other), read(fds[0], &other, sizeof(other)));
	close(fds[0]);
	close(fds[1]);
	free_after = meminfo_kib("MemFree");
	TH_LOG("order-8: %llu free, %lld allocated alone (%ld pages reclaimed meanwhile)",
	       h.order8, alone, reclaimed);
	TH_LOG("racing: %lld + %lld; MemFree %ld KiB before, %ld after", mine, other,
	       free_before, free_after);

	EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status));
	ASSERT_LE(0, alone);
	ASSERT_LE(0, mine);
	ASSERT_LE(0, other);
	EXPECT_LE(h.order8 * 9, alone * 10);
	/* No more than free memory and what reclaim freed, with 16 MiB of slack. */
	EXPECT_LE(alone * 1024, free_before + reclaimed * 4 + 16384);
	/*
	 * Racing, each gets about what one gets alone at most (the first to
	 * finish frees its blocks, which the other may take), and between
	 * them at least nine tenths of it.
	 */
	EXPECT_LE(mine * 10, alone * 11 + 16);
	EXPECT_LE(other * 10, alone * 11 + 16);
	EXPECT_LE(alone * 9, (mine + other) * 10);
	/* As alloc_timing_times_every_order: the per-CPU lists may keep some. */
	EXPECT_LE(free_before - 16384, free_after);
}

/*
 * The high-order allocation count takes an order up to MAX_PAGE_ORDER (10
 * on s390), and refuses anything else without changing the one it has.
 */
TEST(high_order_refuses_bad_orders)
{
	static const char * const bad[] = {
		"11", "-1", "abc", "", "8x", "4294967304", "1 2",
	};
	unsigned int i, order;
	long long count;
	FILE *f;

	if (access(ZSWAP_HIGH_ORDER_FILE, F_OK))
		SKIP(return, "needs CONFIG_TEST_GPH_HIGH_ORDER");
	ASSERT_EQ(0, write_path(ZSWAP_HIGH_ORDER_FILE, "10"));
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		int err = write_path(ZSWAP_HIGH_ORDER_FILE, bad[i]);

		EXPECT_TRUE(err == -EINVAL || err == -ERANGE)
			TH_LOG("'%s': %s", bad[i], strerror(-err));
	}
	f = fopen(ZSWAP_HIGH_ORDER_FILE, "r");
	ASSERT_NE(NULL, f);
	ASSERT_EQ(2, fscanf(f, "%u %lld", &order, &count));
	fclose(f);
	EXPECT_EQ(10, order);
	EXPECT_LT(0, count);
}

/*
 * zswap refuses an allocator it does not have, and keeps the one it has.
 * Before zswap is first turned on the knob takes any name, so the test
 * turns it on first; both knobs are put back.
 */
TEST(unknown_zpool_is_refused)
{
	char zpool[64], enabled[8], before[64] = "", after[64] = "";
	int on, bogus;

	if (access(ZSWAP_PARAM "zpool", F_OK))
		SKIP(return, "needs CONFIG_ZSWAP (no " ZSWAP_PARAM "zpool)");
	ASSERT_EQ(0, read_str(ZSWAP_PARAM "zpool", zpool, sizeof(zpool)));
	ASSERT_EQ(0, read_str(ZSWAP_PARAM "enabled", enabled, sizeof(enabled)));
	on = write_path(ZSWAP_PARAM "enabled", "Y");
	read_str(ZSWAP_PARAM "zpool", before, sizeof(before));
	bogus = write_path(ZSWAP_PARAM "zpool", "no_such_zpool");
	read_str(ZSWAP_PARAM "zpool", after, sizeof(after));
	if (strcmp(after, zpool))
		write_path(ZSWAP_PARAM "zpool", zpool);
	write_path(ZSWAP_PARAM "enabled", enabled);

	ASSERT_EQ(0, on) TH_LOG("turning zswap on: %s", strerror(-on));
	ASSERT_GT(0, bogus) TH_LOG("zswap took no_such_zpool for an allocator");
	TH_LOG("no_such_zpool refused: %s", strerror(-bogus));
	ASSERT_STREQ(before, after);
}

TEST_HARNESS_MAIN
