// SPDX-License-Identifier: GPL-2.0
/*
 * Volatile swap cache under a host that discards.
 *
 * Anonymous and shmem memory is filled with a pattern, pushed to swap
 * (MADV_PAGEOUT) and read back into the swap cache without being mapped
 * (MADV_WILLNEED): those clean, unmapped swap-cache folios are volatile,
 * and the host takes them (the emulated host when told to, the hypervisor
 * behind ESSA on its own schedule; see host_take()).  Every word read back
 * afterwards is checked: a dropped page that the guest used without going
 * through discard handling would show the emulated host's poison or the
 * zeros QEMU hands back, and a swap slot freed while a discarded page
 * still needed it would read back someone else's data.
 *
 * The tests need page_states=volatile, a host that takes pages, and swap
 * (the guest of make check swaps to a file on its disk); elsewhere they
 * skip.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/swap.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../kselftest_harness.h"
#include "page_states_util.h"

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

#define PAGE 4096UL
#define MIB (1024UL * 1024)
#define WORDS (PAGE / 8)

/* The word at byte @off of a region filled with generation @gen. */
static uint64_t pattern(unsigned int gen, size_t off)
{
	return ((uint64_t)(gen + 1) << 56) ^ ((off / 8) * 0x9E3779B97F4A7C15ULL);
}

/* Fills the @len bytes at byte @off of a region @buf with generation @gen. */
static void fill_at(char *buf, size_t off, size_t len, unsigned int gen)
{
	uint64_t *w = (uint64_t *)(buf + off);
	size_t i;

	for (i = 0; i < len / 8; i++)
		w[i] = pattern(gen, off + i * 8);
}

static void fill(void *buf, size_t len, unsigned int gen)
{
	fill_at(buf, 0, len, gen);
}

/*
 * The words of the @len bytes at byte @off of a region @buf filled with
 * generation @gen that do not hold it.
 */
static size_t mismatches_at(const char *buf, size_t off, size_t len, unsigned int gen)
{
	const uint64_t *w = (const uint64_t *)(buf + off);
	size_t i, bad = 0;

	for (i = 0; i < len / 8; i++)
		bad += w[i] != pattern(gen, off + i * 8);
	return bad;
}

static size_t mismatches(const char *buf, size_t len, unsigned int gen)
{
	return mismatches_at(buf, 0, len, gen);
}

/* The first swap area's path, from /proc/swaps. */
static int swap_path(char *path, size_t len)
{
	char line[512];
	int ret = -ENOENT;
	FILE *f = fopen("/proc/swaps", "r");

	if (!f)
		return -errno;
	if (fgets(line, sizeof(line), f) && fgets(line, sizeof(line), f) &&
	    sscanf(line, "%511s", path) == 1 && strlen(path) < len)
		ret = 0;
	fclose(f);
	return ret;
}

/* How many pages of @buf the page tables hold as swap entries. */
static size_t swapped_pages(const void *buf, size_t len)
{
	uint64_t entry;
	size_t i, n = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd < 0)
		return 0;
	for (i = 0; i < len / PAGE; i++) {
		off_t off = ((uintptr_t)buf / PAGE + i) * sizeof(entry);

		if (pread(fd, &entry, sizeof(entry), off) != sizeof(entry))
			break;
		n += (entry >> 62) & 1;
	}
	close(fd);
	return n;
}

/*
 * Keeps the calling task, and the children it forks, on the CPU it runs
 * on.  MADV_PAGEOUT takes only the pages on the LRU lists, and drains only
 * this CPU's LRU batch: a page that a fault or a swap-in on another CPU
 * left in that CPU's batch would stay.
 */
static void stay_on_this_cpu(void)
{
	cpu_set_t one;

	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	sched_setaffinity(0, sizeof(one), &one);
}

/* Lets the calling task, and the threads it creates, run on every CPU. */
static void any_cpu(void)
{
	cpu_set_t all;
	int cpu;

	CPU_ZERO(&all);
	for (cpu = 0; cpu < CPU_SETSIZE; cpu++)
		CPU_SET(cpu, &all);
	sched_setaffinity(0, sizeof(all), &all);
}

/*
 * Fills @buf with generation @gen unless @gen is negative, then pushes
 * every page of it to swap; false if some stayed.  It pages out again
 * until the page tables agree, and as a last resort drains every CPU's
 * LRU batch, which a compaction request does first (tasks that do not
 * stay on one CPU, see stay_on_this_cpu()).
 */
static bool fill_and_page_out(char *buf, size_t len, int gen)
{
	int i;

	if (gen >= 0)
		fill(buf, len, gen);
	for (i = 0; i < 10 && swapped_pages(buf, len) < len / PAGE; i++) {
		if (i == 5)
			write_path("/proc/sys/vm/compact_memory", "1\n");
		if (madvise(buf, len, MADV_PAGEOUT))
			break;
		usleep(10000);
	}
	return swapped_pages(buf, len) == len / PAGE;
}

/*
 * Reads the swapped-out pages of @buf back into the swap cache without
 * mapping them, and waits until they are in: they go volatile there.
 */
static void read_into_swap_cache(void *buf, size_t len)
{
	size_t pages = len / PAGE, in, i;
	unsigned char *vec = malloc(pages);
	int tries;

	madvise(buf, len, MADV_WILLNEED);
	for (tries = 0; vec && tries < 500; tries++) {
		if (mincore(buf, len, vec))
			break;
		for (in = 0, i = 0; i < pages; i++)
			in += vec[i] & 1;
		if (in == pages)
			break;
		usleep(10000);
	}
	free(vec);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long vmstat_delta(const char *name, long before)
{
	return read_vmstat(name) - before;
}

/* The swap-cache counters of the core, and swap-ins, at one moment. */
struct counts {
	long volatile_;
	long discarded;
	long refaulted;
	long pswpin;
};

static struct counts counts_now(void)
{
	return (struct counts) {
		.volatile_ = read_vmstat("page_states_swap_volatile"),
		.discarded = read_vmstat("page_states_swap_discarded"),
		.refaulted = read_vmstat("page_states_swap_refaulted"),
		.pswpin = read_vmstat("pswpin"),
	};
}

#define PAGE_CLUSTER "/proc/sys/vm/page-cluster"

/*
 * Every test needs a host that takes pages, and swap.  Swap readahead
 * reads 32 pages at a time instead of 8 (page-cluster 5): the tests read
 * back every page they swapped out, and a small I/O costs as much as a
 * large one under emulation.
 */
FIXTURE(swap)
{
	char page_cluster[16];
};

FIXTURE_SETUP(swap)
{
	int fd;

	if (gph_host() == GPH_HOST_NONE)
		SKIP(return, GPH_HOST_NEEDED);
	if (!swap_on())
		SKIP(return, "needs swap (see /proc/swaps)");
	fd = open(PAGE_CLUSTER, O_RDONLY);
	ASSERT_LE(0, fd);
	ASSERT_LT(0, read(fd, self->page_cluster, sizeof(self->page_cluster) - 1));
	close(fd);
	ASSERT_EQ(0, write_path(PAGE_CLUSTER, "5\n"));
}

FIXTURE_TEARDOWN(swap)
{
	if (self->page_cluster[0])
		write_path(PAGE_CLUSTER, self->page_cluster);
}

/*
 * Pushes 32 MiB of anonymous memory to swap and reads it back into the
 * swap cache, lets the host take it, and checks every word, four times; a
 * new generation is written in the first and the third round, so a slot
 * that outlived its data would show.  Every other round compacts memory
 * first, which migrates volatile swap-cache folios, and faults the pages
 * in from the kernel (MADV_POPULATE_READ, through GUP) instead of from
 * user space.  Every page goes through swap in every round, so four rounds
 * cover each combination of a new or an old generation with either fault
 * path; the other tests of this file add the races.
 */
TEST_F_TIMEOUT(swap, swapped_out_memory_reads_back_after_discards, 600)
{
	const size_t len = 32 * MIB, pages = len / PAGE;
	const unsigned int rounds = 4;
	long made_volatile, refaulted;
	struct counts c0;
	unsigned int gen = 0, round;
	size_t bad = 0;
	char *buf;

	stay_on_this_cpu();
	buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, buf);
	double t[5] = {}, t0;

	c0 = counts_now();
	for (round = 0; round < rounds; round++) {
		t0 = now();
		if (round == rounds / 2)
			gen++;
		ASSERT_TRUE(fill_and_page_out(buf, len, round % (rounds / 2) ? -1 : (int)gen))
			TH_LOG("round %u: %zu of %zu pages swapped out",
			       round, swapped_pages(buf, len), pages);
		t[0] += now() - t0;
		t0 = now();
		read_into_swap_cache(buf, len);
		t[1] += now() - t0;
		t0 = now();
		if (round % 2)
			write_path("/proc/sys/vm/compact_memory", "1\n");
		t[2] += now() - t0;
		t0 = now();
		host_take(2 * len / MIB);
		t[3] += now() - t0;
		t0 = now();
		if (round % 2)
			ASSERT_EQ(0, madvise(buf, len, MADV_POPULATE_READ));
		bad += mismatches(buf, len, gen);
		t[4] += now() - t0;
	}
	TH_LOG("seconds: page out %.1f, read in %.1f, compact %.1f, host %.1f, check %.1f",
	       t[0], t[1], t[2], t[3], t[4]);
	TH_LOG("swap cache: %ld made volatile, %ld discarded by the emulated host,",
	       vmstat_delta("page_states_swap_volatile", c0.volatile_),
	       vmstat_delta("page_states_swap_discarded", c0.discarded));
	TH_LOG("%ld taken off after a discard, %ld pages read from swap; %zu wrong words",
	       vmstat_delta("page_states_swap_refaulted", c0.refaulted),
	       vmstat_delta("pswpin", c0.pswpin), bad);
	EXPECT_EQ(0, bad);
	/* Most of each round's pages went volatile and were taken. */
	made_volatile = vmstat_delta("page_states_swap_volatile", c0.volatile_);
	refaulted = vmstat_delta("page_states_swap_refaulted", c0.refaulted);
	EXPECT_LE((long)(rounds * pages / 2), made_volatile);
	EXPECT_LE((long)(rounds * pages / 4), refaulted);
	if (gph_host() == GPH_HOST_EMULATED)
		EXPECT_LE(refaulted, vmstat_delta("page_states_swap_discarded", c0.discarded));
	munmap(buf, len);
}

/*
 * A forked child shares the parent's swap entries; both read them back
 * through the swap cache the host takes from, the child writes half of
 * them (copy-on-write), and each checks what it must see.
 */
TEST_F_TIMEOUT(swap, fork_shares_swap_entries_with_discards, 300)
{
	const size_t len = 16 * MIB;
	struct counts c0;
	int status, round;
	size_t bad = 0;
	pid_t pid;
	char *buf;

	stay_on_this_cpu();
	buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, buf);
	c0 = counts_now();
	for (round = 0; round < 3; round++) {
		ASSERT_TRUE(fill_and_page_out(buf, len, round ? -1 : 0));
		pid = fork();
		ASSERT_LE(0, pid);
		if (pid == 0) {
			size_t wrong;

			read_into_swap_cache(buf, len);
			host_take(len / MIB);
			fill(buf, len / 2, 7);
			wrong = mismatches(buf, len / 2, 7) +
				mismatches_at(buf, len / 2, len / 2, 0);
			_exit(wrong ? 1 : 0);
		}
		read_into_swap_cache(buf, len);
		host_take(len / MIB);
		bad += mismatches(buf, len, 0);
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
			TH_LOG("round %d: the child saw wrong data", round);
		bad += mismatches(buf, len, 0);
	}
	TH_LOG("%ld swap-cache folios taken off after a discard; %zu wrong words",
	       vmstat_delta("page_states_swap_refaulted", c0.refaulted), bad);
	EXPECT_EQ(0, bad);
	EXPECT_LT(0, vmstat_delta("page_states_swap_refaulted", c0.refaulted));
	munmap(buf, len);
}

/*
 * shmem pushed to swap comes back through the swap cache too: through
 * read() and through a mapping, after the host took it.
 */
TEST_F_TIMEOUT(swap, shmem_pushed_to_swap_reads_back, 300)
{
	const size_t len = 16 * MIB;
	static char chunk[65536];
	struct counts c0;
	size_t bad = 0, off;
	int fd, round;
	char *map;

	fd = memfd_create("swap_cache", 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, len));
	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, map);
	fill(map, len, 3);
	c0 = counts_now();
	for (round = 0; round < 4; round++) {
		/* Pages out of the page cache: shmem has no swap PTEs. */
		madvise(map, len, MADV_PAGEOUT);
		madvise(map, len, MADV_PAGEOUT);
		read_into_swap_cache(map, len);
		host_take(len / MIB);
		if (round % 2) {
			bad += mismatches(map, len, 3);
			continue;
		}
		for (off = 0; off < len; off += sizeof(chunk)) {
			ASSERT_EQ(sizeof(chunk), pread(fd, chunk, sizeof(chunk), off));
			for (size_t i = 0; i < sizeof(chunk) / 8; i++)
				bad += ((uint64_t *)chunk)[i] != pattern(3, off + i * 8);
		}
	}
	TH_LOG("%ld swap-cache folios volatile, %ld taken off after a discard; %zu wrong words",
	       vmstat_delta("page_states_swap_volatile", c0.volatile_),
	       vmstat_delta("page_states_swap_refaulted", c0.refaulted), bad);
	EXPECT_EQ(0, bad);
	EXPECT_LT(0, vmstat_delta("page_states_swap_volatile", c0.volatile_));
	munmap(map, len);
	close(fd);
}

struct racer {
	int stop;
	size_t bad;
	long rounds;
};

/* Maps, swaps out, reads back, checks a little and unmaps, in a loop. */
static void *map_unmap_racer(void *arg)
{
	const size_t len = 4 * MIB;
	struct racer *r = arg;
	unsigned int gen = 0;

	while (!__atomic_load_n(&r->stop, __ATOMIC_SEQ_CST)) {
		char *buf = mmap(NULL, len, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (buf == MAP_FAILED)
			break;
		fill_and_page_out(buf, len, ++gen);
		read_into_swap_cache(buf, len);
		/* Half is checked, the rest goes with its swap entries. */
		r->bad += mismatches(buf, len / 2, gen);
		munmap(buf, len);
		r->rounds++;
	}
	return NULL;
}

/*
 * Tasks unmap and exit while the host takes their swap cache: zapping a
 * page table frees swap entries and their swap-cache folios under the
 * page table lock, where discard may not run.
 */
TEST_F_TIMEOUT(swap, munmap_and_exit_race_discards, 300)
{
	struct racer racers[3] = {};
	pthread_t threads[3];
	long rounds = 0;
	size_t bad = 0;
	int i, status;
	time_t end;

	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, pthread_create(&threads[i], NULL, map_unmap_racer, &racers[i]));
	end = time(NULL) + 20;
	while (time(NULL) < end) {
		/* A child that exits with its memory in the swap cache. */
		pid_t pid = fork();

		ASSERT_LE(0, pid);
		if (pid == 0) {
			const size_t len = 4 * MIB;
			char *buf = mmap(NULL, len, PROT_READ | PROT_WRITE,
					 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

			if (buf == MAP_FAILED)
				_exit(2);
			fill_and_page_out(buf, len, 9);
			read_into_swap_cache(buf, len);
			_exit(mismatches(buf, PAGE * 16, 9) ? 1 : 0);
		}
		host_take(64);
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	for (i = 0; i < 3; i++) {
		__atomic_store_n(&racers[i].stop, 1, __ATOMIC_SEQ_CST);
		pthread_join(threads[i], NULL);
		bad += racers[i].bad;
		rounds += racers[i].rounds;
	}
	TH_LOG("%ld map-swap-unmap rounds; %zu wrong words", rounds, bad);
	EXPECT_EQ(0, bad);
	EXPECT_LT(0, rounds);
}

struct lookups {
	char *kept, *zapped;
	size_t kept_len, zapped_len;
	int stop;
	long looks, look_errors, kept_rounds, zap_rounds;
	size_t kept_bad, zapped_bad;
};

/*
 * Looks up every page of both regions in a loop: mincore() reads swap
 * entries' folios in the swap cache under the page table lock, where
 * discard may not run.
 */
static void *mincore_looker(void *arg)
{
	struct lookups *l = arg;
	size_t pages = (l->kept_len > l->zapped_len ? l->kept_len : l->zapped_len) / PAGE;
	unsigned char *vec = malloc(pages);

	while (vec && !__atomic_load_n(&l->stop, __ATOMIC_SEQ_CST)) {
		if (mincore(l->kept, l->kept_len, vec) ||
		    mincore(l->zapped, l->zapped_len, vec))
			l->look_errors++;
		l->looks++;
	}
	free(vec);
	return NULL;
}

/*
 * Swaps the kept region out, reads it into the swap cache and maps half
 * of it by read faults (volatile, mapped swap-cache folios), and checks
 * every word it maps, in a loop.
 */
static void *kept_pager(void *arg)
{
	struct lookups *l = arg;

	while (!__atomic_load_n(&l->stop, __ATOMIC_SEQ_CST)) {
		fill_and_page_out(l->kept, l->kept_len, -1);
		read_into_swap_cache(l->kept, l->kept_len);
		l->kept_bad += mismatches(l->kept, l->kept_len / 2, 13);
		__atomic_add_fetch(&l->kept_rounds, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

/*
 * Fills the zapped region, swaps it out, reads it into the swap cache and
 * maps half of it, then zaps it all (MADV_DONTNEED): under the page table
 * lock that drops mapped swap-cache folios and frees swap entries with
 * their folios.  Private anonymous memory reads zeros after that: a word
 * of any generation means a page survived the zap.
 */
static void *zapper(void *arg)
{
	struct lookups *l = arg;
	unsigned int gen = 20;
	size_t i;

	while (!__atomic_load_n(&l->stop, __ATOMIC_SEQ_CST)) {
		fill_and_page_out(l->zapped, l->zapped_len, ++gen);
		read_into_swap_cache(l->zapped, l->zapped_len);
		l->zapped_bad += mismatches(l->zapped, l->zapped_len / 2, gen);
		if (madvise(l->zapped, l->zapped_len, MADV_DONTNEED)) {
			l->zapped_bad++;
			break;
		}
		for (i = 0; i < l->zapped_len / 8; i++)
			l->zapped_bad += ((uint64_t *)l->zapped)[i] != 0;
		__atomic_add_fetch(&l->zap_rounds, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void *(*const lookup_tasks[])(void *) = { mincore_looker, kept_pager, zapper };

/*
 * The swap cache is looked up under page table locks too: mincore(), and
 * zapping a range (MADV_DONTNEED), which also frees mapped volatile
 * swap-cache folios.  Those lookups never go to discard.  One task
 * keeps a region cycling through swap, the swap cache and read faults,
 * another does the same to a second region and zaps it, a third runs
 * mincore() over both, and the host takes pages all along, for 20 s and
 * at least two rounds of each; the kept region must read back whole, the
 * zapped one as zeros.
 */
TEST_F_TIMEOUT(swap, mincore_and_zap_race_discards, 300)
{
	struct lookups l = { .kept_len = 4 * MIB, .zapped_len = 2 * MIB };
	pthread_t threads[3];
	struct counts c0 = counts_now();
	long offered, discarded, refaulted;
	unsigned int t;
	time_t start;

	l.kept = mmap(NULL, l.kept_len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, l.kept);
	l.zapped = mmap(NULL, l.zapped_len, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, l.zapped);
	fill(l.kept, l.kept_len, 13);
	for (t = 0; t < 3; t++)
		ASSERT_EQ(0, pthread_create(&threads[t], NULL, lookup_tasks[t], &l));
	/* 20 s, and at least two rounds of each pager, within 120 s. */
	start = time(NULL);
	while (time(NULL) < start + 20 ||
	       ((__atomic_load_n(&l.kept_rounds, __ATOMIC_RELAXED) < 2 ||
		 __atomic_load_n(&l.zap_rounds, __ATOMIC_RELAXED) < 2) &&
		time(NULL) < start + 120)) {
		host_take(16);
		usleep(2000);
	}
	__atomic_store_n(&l.stop, 1, __ATOMIC_SEQ_CST);
	for (t = 0; t < 3; t++)
		pthread_join(threads[t], NULL);
	host_take(16);
	l.kept_bad += mismatches(l.kept, l.kept_len, 13);
	offered = vmstat_delta("page_states_swap_volatile", c0.volatile_);
	discarded = vmstat_delta("page_states_swap_discarded", c0.discarded);
	refaulted = vmstat_delta("page_states_swap_refaulted", c0.refaulted);
	TH_LOG("%ld kept rounds, %ld zap rounds, %ld mincore passes (%ld failed)",
	       l.kept_rounds, l.zap_rounds, l.looks, l.look_errors);
	TH_LOG("%ld offered in the swap cache, %ld discarded by the emulated host",
	       offered, discarded);
	TH_LOG("%ld read from swap again after a discard", refaulted);
	TH_LOG("%zu wrong words kept, %zu after zaps", l.kept_bad, l.zapped_bad);
	EXPECT_EQ(0, l.kept_bad);
	EXPECT_EQ(0, l.zapped_bad);
	EXPECT_EQ(0, l.look_errors);
	EXPECT_LE(2, l.kept_rounds);
	EXPECT_LE(2, l.zap_rounds);
	EXPECT_LT(0, l.looks);
	/* The races ran against volatile swap cache that the host took. */
	EXPECT_LT(0, offered);
	if (gph_host() == GPH_HOST_EMULATED)
		EXPECT_LT(0, discarded);
	munmap(l.kept, l.kept_len);
	munmap(l.zapped, l.zapped_len);
}

/*
 * Writes to swapped-out memory the host took from the swap cache: a write
 * fault on the swap entry, and a write fault on a page a read fault mapped
 * from the swap cache (which reuses it), both take the folio out of the
 * swap cache and make it the only copy of its data.
 */
TEST_F_TIMEOUT(swap, write_faults_after_discards, 300)
{
	const size_t len = 16 * MIB;
	size_t bad = 0, i;
	int round;
	char *buf;

	stay_on_this_cpu();
	buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, buf);
	for (round = 0; round < 4; round++) {
		ASSERT_TRUE(fill_and_page_out(buf, len, round));
		read_into_swap_cache(buf, len);
		host_take(len / MIB);
		/* First half: a write fault on each swap entry. */
		for (i = 0; i < len / 2; i += PAGE)
			((uint64_t *)(buf + i))[1] ^= 1;
		/* Second half: read, then write (do_wp_page reuses it). */
		for (i = len / 2; i < len; i += PAGE)
			bad += ((uint64_t *)(buf + i))[0] != pattern(round, i);
		for (i = len / 2; i < len; i += PAGE)
			((uint64_t *)(buf + i))[1] ^= 1;
		for (i = 0; i < len; i += PAGE)
			((uint64_t *)(buf + i))[1] ^= 1;
		bad += mismatches(buf, len, round);
	}
	TH_LOG("%zu wrong words", bad);
	EXPECT_EQ(0, bad);
	munmap(buf, len);
}

/* One writer of written_after_read_faults(): its share of the pages. */
struct pot_writer {
	char *buf;
	size_t len;
	unsigned int nr, id;
};

/*
 * Writes generation 1 into the pages whose index is @id modulo @nr and
 * odd: every write goes through a page table entry that a read fault made
 * writable and clean.
 */
static void *pot_write(void *arg)
{
	struct pot_writer *w = arg;
	size_t i;

	for (i = (2 * w->id + 1) * PAGE; i < w->len; i += 2 * w->nr * PAGE)
		fill_at(w->buf, i, PAGE, 1);
	return NULL;
}

/*
 * The swapped-in pages of a process, before it writes them.  The emulated
 * host counts what it took from the swap cache; the guest learns of a
 * hypervisor's drops when it reads the slot again.
 */
static long swap_cache_taken(void)
{
	return read_vmstat(gph_host() == GPH_HOST_ESSA ? "page_states_swap_refaulted"
						       : "page_states_swap_discarded");
}

/*
 * Mapped anonymous swap-cache folios are potentially volatile: a read
 * fault maps them writable and clean, and the next write needs no fault
 * on most machines.  The pages are read back by read faults and taken by
 * the host while mapped, written by threads on every CPU while the host
 * takes pages, faulted in again from the kernel (MADV_POPULATE_READ),
 * write-protected and made writable again (mprotect), and written a
 * second time.  A written page that was offered again while its page
 * table entry was dirty would be lost with ESSA, whose host tracks writes
 * only from the offer on.  No page is lost, and the emulated host never
 * finds a volatile page dirty.
 */
TEST_F_TIMEOUT(swap, written_after_read_faults, 300)
{
	const unsigned int nr = 4;
	const size_t len = 32 * MIB;
	long dirty0 = read_vmstat("page_states_volatile_dirty");
	long taken0, taken;
	struct pot_writer writers[4];
	pthread_t threads[4];
	size_t bad = 0, i;
	unsigned int t;
	char *buf;

	stay_on_this_cpu();
	buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, buf);
	ASSERT_TRUE(fill_and_page_out(buf, len, 0));
	/* Read faults: each page comes back mapped, and stays in the swap cache. */
	bad += mismatches(buf, len, 0);
	taken0 = swap_cache_taken();
	host_take(len / MIB);
	/* Every page is mapped now: what the host takes, it takes mapped. */
	bad += mismatches(buf, len, 0);
	taken = swap_cache_taken() - taken0;
	/* The writers run on every CPU. */
	any_cpu();
	for (t = 0; t < nr; t++) {
		writers[t] = (struct pot_writer){ buf, len, nr, t };
		ASSERT_EQ(0, pthread_create(&threads[t], NULL, pot_write, &writers[t]));
	}
	host_take(len / MIB);
	for (t = 0; t < nr; t++)
		pthread_join(threads[t], NULL);
	madvise(buf, len, MADV_POPULATE_READ);
	host_take(len / MIB);
	ASSERT_EQ(0, mprotect(buf, len, PROT_READ));
	host_take(len / MIB);
	ASSERT_EQ(0, mprotect(buf, len, PROT_READ | PROT_WRITE));
	for (i = 0; i < len; i += 4 * PAGE)
		fill_at(buf, i, PAGE, 2);
	madvise(buf, len, MADV_POPULATE_READ);
	host_take(len / MIB);
	for (i = 0; i < len; i += PAGE)
		bad += mismatches_at(buf, i, PAGE, i % (4 * PAGE) == 0 ? 2 : (i / PAGE) % 2);
	TH_LOG("the host took %ld mapped pages; %ld volatile found dirty, %zu wrong words",
	       taken, vmstat_delta("page_states_volatile_dirty", dirty0), bad);
	EXPECT_EQ(0, bad);
	EXPECT_EQ(0, vmstat_delta("page_states_volatile_dirty", dirty0));
	/* Mapped swap-cache folios are offered: the host took some. */
	EXPECT_LT(0, taken);
	munmap(buf, len);
}

struct reader {
	const char *buf;
	size_t off;
	size_t len;
	size_t bad;
};

static void *read_part(void *arg)
{
	struct reader *r = arg;

	r->bad = mismatches_at(r->buf, r->off, r->len, 0);
	return NULL;
}

/*
 * A read fault maps a volatile swap-cache page as the host has it: no
 * take-back, whichever the backend (with ESSA a take-back and a re-offer
 * cost two state changes per swap-in).  Pages the host drops while mapped
 * raise discard faults and are read from swap again; swap readahead
 * around such a refault still takes back the neighbours it finds in the
 * swap cache, so the test allows for some take-backs, not one per page.
 * Two threads on different CPUs fault the pages in while the host takes
 * pages, and every word is checked again after the host took the mapped
 * pages.
 */
TEST_F_TIMEOUT(swap, read_faults_map_volatile_pages, 300)
{
	const size_t len = 16 * MIB, pages = len / PAGE;
	struct reader readers[2];
	pthread_t threads[2];
	long volatile0, stable0, refaulted0, offered, taken_back, refaulted;
	size_t bad = 0;
	unsigned int t;
	char *buf;

	stay_on_this_cpu();
	buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, buf);
	ASSERT_TRUE(fill_and_page_out(buf, len, 0));
	volatile0 = read_vmstat("page_states_swap_volatile");
	read_into_swap_cache(buf, len);
	offered = vmstat_delta("page_states_swap_volatile", volatile0);
	any_cpu();
	stable0 = read_vmstat("page_states_stable");
	refaulted0 = read_vmstat("page_states_swap_refaulted");
	for (t = 0; t < 2; t++) {
		readers[t] = (struct reader){ buf, t * len / 2, len / 2, 0 };
		ASSERT_EQ(0, pthread_create(&threads[t], NULL, read_part, &readers[t]));
	}
	host_take(len / MIB);
	for (t = 0; t < 2; t++) {
		pthread_join(threads[t], NULL);
		bad += readers[t].bad;
	}
	taken_back = vmstat_delta("page_states_stable", stable0);
	refaulted = vmstat_delta("page_states_swap_refaulted", refaulted0);
	host_take(len / MIB);
	bad += mismatches(buf, len, 0);
	TH_LOG("%ld of %zu pages offered in the swap cache, %ld taken back by the read faults",
	       offered, pages, taken_back);
	TH_LOG("%ld read from swap again after a discard; %zu wrong words", refaulted, bad);
	EXPECT_EQ(0, bad);
	/* The faults found volatile pages... */
	EXPECT_LE((long)pages / 2, offered);
	/* ...and left them so, but for readahead's neighbours. */
	EXPECT_GT((long)pages / 2, taken_back);
	munmap(buf, len);
}

/* mlock() swaps memory in for good while the host takes the swap cache. */
TEST_F_TIMEOUT(swap, mlock_swaps_in_while_the_host_takes, 300)
{
	const size_t len = 8 * MIB;
	struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };
	size_t bad = 0;
	int round;
	char *buf;

	stay_on_this_cpu();
	setrlimit(RLIMIT_MEMLOCK, &rl);
	buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, buf);
	for (round = 0; round < 3; round++) {
		ASSERT_TRUE(fill_and_page_out(buf, len, round ? -1 : 5));
		read_into_swap_cache(buf, len);
		host_take(len / MIB);
		ASSERT_EQ(0, mlock(buf, len));
		host_take(len / MIB);
		bad += mismatches(buf, len, 5);
		ASSERT_EQ(0, munlock(buf, len));
	}
	TH_LOG("%zu wrong words", bad);
	EXPECT_EQ(0, bad);
	munmap(buf, len);
}

struct taker {
	int stop;
	long takes;
};

static void *take_loop(void *arg)
{
	struct taker *t = arg;

	while (!__atomic_load_n(&t->stop, __ATOMIC_SEQ_CST)) {
		host_take(64);
		t->takes++;
		usleep(1000);
	}
	return NULL;
}

/*
 * swapoff brings everything in while the host takes the swap cache: it
 * must neither lose a page nor spin on a discarded one, and leaves no
 * swap cache and no swap in use.  Then swap goes back on.
 */
TEST_F_TIMEOUT(swap, swapoff_while_the_host_takes, 300)
{
	const size_t len = 32 * MIB;
	struct taker t = {};
	char path[256];
	pthread_t thread;
	long cached, total, free_kb;
	size_t bad;
	char *buf;

	stay_on_this_cpu();
	ASSERT_EQ(0, swap_path(path, sizeof(path)));
	buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, buf);
	ASSERT_TRUE(fill_and_page_out(buf, len, 11));
	/* Half of it in the swap cache, volatile; half only in swap. */
	read_into_swap_cache(buf, len / 2);
	host_take(len / MIB);
	ASSERT_EQ(0, pthread_create(&thread, NULL, take_loop, &t));
	ASSERT_EQ(0, swapoff(path)) TH_LOG("swapoff %s: %s", path, strerror(errno));
	__atomic_store_n(&t.stop, 1, __ATOMIC_SEQ_CST);
	pthread_join(thread, NULL);
	/* SwapCached is a per-cpu counter: fold it first. */
	write_path("/proc/sys/vm/stat_refresh", "1\n");
	cached = meminfo_kib("SwapCached");
	total = meminfo_kib("SwapTotal");
	free_kb = meminfo_kib("SwapFree");
	bad = mismatches(buf, len, 11);
	ASSERT_EQ(0, swapon(path, 0)) TH_LOG("swapon %s: %s", path, strerror(errno));
	TH_LOG("after swapoff: SwapCached %ld kB, swap used %ld kB; %ld takes; %zu wrong words",
	       cached, total - free_kb, t.takes, bad);
	EXPECT_EQ(0, cached);
	EXPECT_EQ(0, total - free_kb);
	EXPECT_EQ(0, bad);
	munmap(buf, len);
}

/*
 * With zswap on, pages come back from the compressed pool, dirty, and
 * stay stable; the host still takes what was read from the disk.  The
 * test turns zswap on, runs, and puts it back as it was.
 */
TEST_F_TIMEOUT(swap, zswap_on_and_off, 300)
{
	const char *knob = "/sys/module/zswap/parameters/enabled";
	const size_t len = 16 * MIB;
	char was[8] = "";
	size_t bad = 0;
	int on, fd;
	char *buf;

	stay_on_this_cpu();
	fd = open(knob, O_RDONLY);
	if (fd < 0)
		SKIP(return, "needs CONFIG_ZSWAP");
	ASSERT_LT(0, read(fd, was, sizeof(was) - 1));
	close(fd);
	buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, buf);
	for (on = 1; on >= 0; on--) {
		ASSERT_EQ(0, write_path(knob, on ? "Y\n" : "N\n"));
		ASSERT_TRUE(fill_and_page_out(buf, len, 20 + on));
		read_into_swap_cache(buf, len);
		host_take(len / MIB);
		bad += mismatches(buf, len, 20 + on);
	}
	write_path(knob, was);
	TH_LOG("%zu wrong words", bad);
	EXPECT_EQ(0, bad);
	munmap(buf, len);
}

TEST_HARNESS_MAIN
