// SPDX-License-Identifier: GPL-2.0
/*
 * GPH's Rust mm abstractions, through the /dev/gph_mirror test driver:
 *  - a mirror kept by an interval notifier stays coherent with the page
 *    tables across munmap, mprotect, MADV_DONTNEED, fork, mremap and
 *    migration: no entry ever names a pfn the page table no longer maps;
 *  - the mirror of a file mapping stays coherent when the host discards
 *    its pages, and refaults them afterwards;
 *  - invalidate_range_start is always matched by invalidate_range_end,
 *    also when fork fails part way (fault injection);
 *  - the rmap probe finds every mapping of anonymous, file and swap-cache
 *    pages, in every walk mode, also with walkers running concurrently.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../kselftest_harness.h"
#include "../../../../lib/gph/test_mirror_uapi.h"
#include "page_states_util.h"

#define NPAGES 64
#define DEV "/dev/gph_mirror"
#define DISK "/mnt/disk"

static long page_size;

static int open_dev(void)
{
	return open(DEV, O_RDWR | O_CLOEXEC);
}

/* The pfn mapped at addr, 0 when nothing is mapped. */
static uint64_t pagemap_pfn(void *addr)
{
	uint64_t entry = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd < 0)
		return 0;
	if (pread(fd, &entry, sizeof(entry),
		  (uintptr_t)addr / page_size * sizeof(entry)) != sizeof(entry))
		entry = 0;
	close(fd);
	if (!(entry & (1ULL << 63)))
		return 0;
	return entry & ((1ULL << 55) - 1);
}

static int read_table(int fd, uint64_t *table, unsigned long n)
{
	struct gph_mirror_read rd = { .first = 0, .npages = n, .ptr = (uintptr_t)table };

	return ioctl(fd, GPH_MIRROR_READ, &rd);
}

/*
 * Mirror entries that name a pfn the page table no longer maps there:
 * the one thing an MMU notifier exists to prevent.
 */
static int stale_entries(int fd, char *addr, unsigned long n, int *mirrored)
{
	uint64_t table[NPAGES];
	unsigned long i;
	int stale = 0;

	if (read_table(fd, table, n))
		return -1;
	*mirrored = 0;
	for (i = 0; i < n; i++) {
		if (!table[i])
			continue;
		(*mirrored)++;
		if (table[i] != pagemap_pfn(addr + i * page_size))
			stale++;
	}
	return stale;
}

static int fault_range(int fd, void *addr, unsigned long n)
{
	struct gph_mirror_range r = { .start = (uintptr_t)addr, .npages = n };

	return ioctl(fd, GPH_MIRROR_FAULT, &r);
}

static int register_range(int fd, void *addr, unsigned long n)
{
	struct gph_mirror_range r = { .start = (uintptr_t)addr, .npages = n };

	return ioctl(fd, GPH_MIRROR_REGISTER, &r);
}

static char *map_anon(unsigned long n)
{
	char *p = mmap(NULL, n * page_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned long i;

	if (p == MAP_FAILED)
		return NULL;
	for (i = 0; i < n; i++)
		p[i * page_size] = (char)i;
	return p;
}

static int migrate_page(int fd, void *addr)
{
	uint64_t a = (uintptr_t)addr;

	return ioctl(fd, GPH_MIRROR_MIGRATE, &a);
}

FIXTURE(mirror)
{
	int fd;
	char *buf;
};

FIXTURE_SETUP(mirror)
{
	page_size = sysconf(_SC_PAGESIZE);
	self->fd = open_dev();
	ASSERT_GE(self->fd, 0) TH_LOG("%s: %s", DEV, strerror(errno));
	self->buf = map_anon(NPAGES);
	ASSERT_NE(NULL, self->buf);
	ASSERT_EQ(0, register_range(self->fd, self->buf, NPAGES));
	ASSERT_EQ(0, fault_range(self->fd, self->buf, NPAGES));
}

FIXTURE_TEARDOWN(mirror)
{
	close(self->fd);
}

/* The fault fills the whole mirror with what the page tables map. */
TEST_F(mirror, fault_mirrors_every_page)
{
	int mirrored;

	EXPECT_EQ(0, stale_entries(self->fd, self->buf, NPAGES, &mirrored));
	EXPECT_EQ(NPAGES, mirrored);
}

TEST_F(mirror, munmap)
{
	int mirrored;

	ASSERT_EQ(0, munmap(self->buf, NPAGES / 2 * page_size));
	EXPECT_EQ(0, stale_entries(self->fd, self->buf, NPAGES, &mirrored));
	EXPECT_EQ(NPAGES / 2, mirrored);
}

TEST_F(mirror, mprotect)
{
	int mirrored;

	ASSERT_EQ(0, mprotect(self->buf, NPAGES * page_size, PROT_READ));
	EXPECT_EQ(0, stale_entries(self->fd, self->buf, NPAGES, &mirrored));
	ASSERT_EQ(0, mprotect(self->buf, NPAGES * page_size, PROT_READ | PROT_WRITE));
	ASSERT_EQ(0, fault_range(self->fd, self->buf, NPAGES));
	EXPECT_EQ(0, stale_entries(self->fd, self->buf, NPAGES, &mirrored));
	EXPECT_EQ(NPAGES, mirrored);
}

TEST_F(mirror, madvise_dontneed)
{
	unsigned long i;
	int mirrored;

	ASSERT_EQ(0, madvise(self->buf, NPAGES * page_size, MADV_DONTNEED));
	EXPECT_EQ(0, stale_entries(self->fd, self->buf, NPAGES, &mirrored));
	EXPECT_EQ(0, mirrored);
	/* The pages come back zeroed, in new frames; mirror them again. */
	for (i = 0; i < NPAGES; i++)
		ASSERT_EQ(0, self->buf[i * page_size]);
	ASSERT_EQ(0, fault_range(self->fd, self->buf, NPAGES));
	EXPECT_EQ(0, stale_entries(self->fd, self->buf, NPAGES, &mirrored));
	EXPECT_EQ(NPAGES, mirrored);
}

TEST_F(mirror, fork_and_copy_on_write)
{
	int sync[2], mirrored, status;
	unsigned long i;
	char c;
	pid_t pid;

	ASSERT_EQ(0, pipe(sync));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		/* Keep the pages shared until the parent has written. */
		close(sync[1]);
		read(sync[0], &c, 1);
		for (i = 0; i < NPAGES; i++)
			if (self->buf[i * page_size] != (char)i)
				_exit(1);
		_exit(0);
	}
	/* fork write-protected the parent's PTEs. */
	EXPECT_EQ(0, stale_entries(self->fd, self->buf, NPAGES, &mirrored));
	ASSERT_EQ(0, fault_range(self->fd, self->buf, NPAGES));
	/* Breaking COW gives the parent new frames. */
	for (i = 0; i < NPAGES; i++)
		self->buf[i * page_size] = (char)(i + 1);
	EXPECT_EQ(0, stale_entries(self->fd, self->buf, NPAGES, &mirrored));
	close(sync[1]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("the child saw the parent's writes");
	ASSERT_EQ(0, fault_range(self->fd, self->buf, NPAGES));
	EXPECT_EQ(0, stale_entries(self->fd, self->buf, NPAGES, &mirrored));
	EXPECT_EQ(NPAGES, mirrored);
	for (i = 0; i < NPAGES; i++)
		ASSERT_EQ((char)(i + 1), self->buf[i * page_size]);
}

TEST_F(mirror, mremap)
{
	char *dst, *moved;
	int mirrored;

	dst = mmap(NULL, NPAGES * page_size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, dst);
	moved = mremap(self->buf, NPAGES * page_size, NPAGES * page_size,
		       MREMAP_MAYMOVE | MREMAP_FIXED, dst);
	ASSERT_EQ(dst, moved);
	/* Nothing is mapped at the mirrored range any more. */
	EXPECT_EQ(0, stale_entries(self->fd, self->buf, NPAGES, &mirrored));
	EXPECT_EQ(0, mirrored);
	ASSERT_EQ(3, moved[3 * page_size]);
	munmap(moved, NPAGES * page_size);
}

/* Migrating every mirrored page invalidates every entry. */
TEST_F(mirror, migration)
{
	uint64_t before;
	int mirrored, moved = 0;
	unsigned long i;

	for (i = 0; i < NPAGES; i++) {
		before = pagemap_pfn(self->buf + i * page_size);
		ASSERT_EQ(0, migrate_page(self->fd, self->buf + i * page_size))
			TH_LOG("page %lu: %s", i, strerror(errno));
		moved += pagemap_pfn(self->buf + i * page_size) != before;
	}
	EXPECT_EQ(NPAGES, moved);
	EXPECT_EQ(0, stale_entries(self->fd, self->buf, NPAGES, &mirrored));
	EXPECT_EQ(0, mirrored);
	ASSERT_EQ(0, fault_range(self->fd, self->buf, NPAGES));
	EXPECT_EQ(0, stale_entries(self->fd, self->buf, NPAGES, &mirrored));
	EXPECT_EQ(NPAGES, mirrored);
	for (i = 0; i < NPAGES; i++)
		ASSERT_EQ((char)i, self->buf[i * page_size]);
}

/*
 * Secondary MMUs see discards.  A file mapping is mirrored, and the
 * emulated host discards its pages (taking the mappings away first, as a
 * hypervisor intercepts the next access): every mirror entry of a page
 * that left the page table is invalidated with it, so none names a pfn
 * the page table no longer maps.  Lookups then take the discarded pages
 * off the page cache and read them again, and the mirror refaults the
 * new pages, with the file's data.
 *
 * With ESSA the file is first read, unmapped, and dropped.  The mirror's
 * faults map the dropped pages as they are (fault-around reads nothing);
 * the CPU's first touch of each takes a discard fault, whose discard
 * takes the mapping and the mirror's entry away, and the mirror's next
 * fault maps the page read again.  Then the hypervisor drops
 * them again under their mappings, which stay until the CPU touches the
 * pages: each touch takes a discard fault, whose discard takes the
 * mappings away, and the mirror's entries with them.  Needs
 * page_states=volatile and a host that takes pages.
 */
TEST(mirror_sees_discards)
{
	uint64_t before[NPAGES], after[NPAGES];
	unsigned long i, gone = 0;
	int fd, dev, mirrored = 0, stale;
	char path[] = DISK "/gph_mirror_discard";
	bool essa = gph_host() == GPH_HOST_ESSA;
	long discarded0, refaulted0;
	unsigned char *p;

	if (gph_host() == GPH_HOST_NONE)
		SKIP(return, GPH_HOST_NEEDED);
	page_size = sysconf(_SC_PAGESIZE);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ASSERT_LE(0, fd);
	unlink(path);
	p = malloc(NPAGES * page_size);
	ASSERT_NE(NULL, p);
	for (i = 0; i < NPAGES * page_size; i++)
		p[i] = (unsigned char)(i * 13 + i / page_size);
	ASSERT_EQ(NPAGES * page_size, pwrite(fd, p, NPAGES * page_size, 0));
	/* Read back after writeback and a drop: clean, without buffer heads. */
	ASSERT_EQ(0, fsync(fd));
	ASSERT_EQ(0, posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED));
	refaulted0 = read_vmstat("page_states_refaulted");
	if (essa) {
		/* Read, not mapped: volatile, and the hypervisor drops them. */
		ASSERT_EQ(NPAGES * page_size, pread(fd, p, NPAGES * page_size, 0));
		ASSERT_LE(0, host_take(0));
	}
	free(p);
	p = mmap(NULL, NPAGES * page_size, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	dev = open_dev();
	ASSERT_LE(0, dev);
	ASSERT_EQ(0, register_range(dev, (char *)p, NPAGES));
	ASSERT_EQ(0, fault_range(dev, p, NPAGES));
	ASSERT_EQ(0, read_table(dev, before, NPAGES));
	for (i = 0; i < NPAGES; i++)
		ASSERT_NE(0, before[i]);
	if (essa) {
		for (i = 0; i < NPAGES * page_size; i++)
			ASSERT_EQ((unsigned char)(i * 13 + i / page_size), p[i]);
		ASSERT_EQ(0, fault_range(dev, p, NPAGES));
		TH_LOG("the CPU's touches refaulted %ld pages the hypervisor dropped",
		       read_vmstat("page_states_refaulted") - refaulted0);
		EXPECT_LE(refaulted0 + NPAGES / 2, read_vmstat("page_states_refaulted"));
		EXPECT_EQ(0, stale_entries(dev, (char *)p, NPAGES, &mirrored));
		EXPECT_EQ(NPAGES, mirrored);
	}
	sleep(1);

	discarded0 = read_vmstat("page_states_discarded");
	refaulted0 = read_vmstat("page_states_refaulted");
	ASSERT_LE(0, host_take(sysconf(_SC_PHYS_PAGES) * page_size >> 20));
	if (essa) {
		/* Discard faults take the mappings of the dropped pages away. */
		for (i = 0; i < NPAGES * page_size; i++)
			ASSERT_EQ((unsigned char)(i * 13 + i / page_size), p[i]);
	} else {
		ASSERT_LT(discarded0, read_vmstat("page_states_discarded"));
	}
	stale = stale_entries(dev, (char *)p, NPAGES, &mirrored);
	ASSERT_EQ(0, read_table(dev, after, NPAGES));
	for (i = 0; i < NPAGES; i++)
		gone += !after[i];
	TH_LOG("the host took %lu of %d mirrored pages; %d stale entries",
	       gone, NPAGES, stale);
	EXPECT_EQ(0, stale);
	EXPECT_LT(0, gone);

	/* Lookups take the discarded pages off the cache and read them. */
	for (i = 0; i < NPAGES * page_size; i++)
		ASSERT_EQ((unsigned char)(i * 13 + i / page_size), p[i]);
	EXPECT_LE(refaulted0 + (long)gone, read_vmstat("page_states_refaulted"));
	ASSERT_EQ(0, fault_range(dev, p, NPAGES));
	EXPECT_EQ(0, stale_entries(dev, (char *)p, NPAGES, &mirrored));
	EXPECT_EQ(NPAGES, mirrored);
	close(dev);
	munmap(p, NPAGES * page_size);
	close(fd);
}

TEST(mirror_rejects_bad_ranges)
{
	char *buf;
	int fd;

	page_size = sysconf(_SC_PAGESIZE);
	fd = open_dev();
	ASSERT_GE(fd, 0);
	buf = map_anon(4);
	ASSERT_NE(NULL, buf);
	EXPECT_EQ(-1, fault_range(fd, buf, 1));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_EQ(-1, register_range(fd, buf + 1, 1));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, register_range(fd, buf, 0));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, register_range(fd, buf, 1UL << 40));
	EXPECT_EQ(EINVAL, errno);
	ASSERT_EQ(0, register_range(fd, buf, 4));
	EXPECT_EQ(-1, register_range(fd, buf, 4));
	EXPECT_EQ(EBUSY, errno);
	EXPECT_EQ(-1, fault_range(fd, buf + 4 * page_size, 1));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, ioctl(fd, _IO('G', 99)));
	EXPECT_EQ(ENOTTY, errno);
	close(fd);
}

/* Fault injection: debugfs attributes of fail_page_alloc and failslab. */
static int write_debugfs(const char *dir, const char *name, const char *val)
{
	char path[128];
	int fd, ret;

	snprintf(path, sizeof(path), "/sys/kernel/debug/%s/%s", dir, name);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -1;
	ret = write(fd, val, strlen(val)) == (ssize_t)strlen(val) ? 0 : -1;
	close(fd);
	return ret;
}

static long read_debugfs_long(const char *dir, const char *name)
{
	char path[128], buf[32] = "";
	int fd;

	snprintf(path, sizeof(path), "/sys/kernel/debug/%s/%s", dir, name);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	if (read(fd, buf, sizeof(buf) - 1) < 0)
		buf[0] = '\0';
	close(fd);
	return strtol(buf, NULL, 10);
}

static int set_make_it_fail(int on)
{
	int fd = open("/proc/self/make-it-fail", O_WRONLY);
	int ret;

	if (fd < 0)
		return -1;
	ret = write(fd, on ? "1" : "0", 1) == 1 ? 0 : -1;
	close(fd);
	return ret;
}

struct fork_result {
	struct gph_mirror_counts counts;
	int fork_failed;
	int done;
};

/*
 * A process with a whole-mm notifier and COW memory forks once, with one
 * allocation failure armed after `space` units of allocation.
 */
static void fork_under_injection(struct fork_result *res)
{
	int fd = open_dev();
	char *buf = map_anon(16);
	pid_t pid;

	if (fd < 0 || !buf || ioctl(fd, GPH_MIRROR_NOTIFIER))
		_exit(2);
	set_make_it_fail(1);
	pid = fork();
	if (!pid)
		_exit(0);
	set_make_it_fail(0);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	res->fork_failed = pid < 0;
	if (ioctl(fd, GPH_MIRROR_COUNTS, &res->counts))
		_exit(3);
	res->done = 1;
	_exit(0);
}

TEST(notifier_start_end_balance_under_fork_failures)
{
	static const struct {
		const char *dir;
		long unit;
	} inject[] = { { "fail_page_alloc", 1 }, { "failslab", 256 } };
	struct fork_result *res;
	int i, k, injected = 0, failed_forks = 0, partial = 0, runs = 0;
	char val[32];

	page_size = sysconf(_SC_PAGESIZE);
	res = mmap(NULL, page_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, res);
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, write_debugfs(inject[i].dir, "times", "0"));
		ASSERT_EQ(0, write_debugfs(inject[i].dir, "probability", "100"));
		ASSERT_EQ(0, write_debugfs(inject[i].dir, "interval", "1"));
		ASSERT_EQ(0, write_debugfs(inject[i].dir, "verbose", "0"));
		ASSERT_EQ(0, write_debugfs(inject[i].dir, "task-filter", "Y"));
		ASSERT_EQ(0, write_debugfs(inject[i].dir, "ignore-gfp-wait", "N"));
	}
	ASSERT_EQ(0, write_debugfs("fail_page_alloc", "ignore-gfp-highmem", "N"));
	ASSERT_EQ(0, write_debugfs("fail_page_alloc", "min-order", "0"));

	for (k = 0; k < 60; k++) {
		for (i = 0; i < 2; i++) {
			pid_t pid;
			int status;

			memset(res, 0, sizeof(*res));
			snprintf(val, sizeof(val), "%ld", k * inject[i].unit);
			ASSERT_EQ(0, write_debugfs(inject[i].dir, "space", val));
			ASSERT_EQ(0, write_debugfs(inject[i].dir, "times", "1"));
			pid = fork();
			ASSERT_GE(pid, 0);
			if (!pid)
				fork_under_injection(res);
			ASSERT_EQ(pid, waitpid(pid, &status, 0));
			/* An unconsumed failure must not hit anyone else. */
			if (read_debugfs_long(inject[i].dir, "times") == 0)
				injected++;
			ASSERT_EQ(0, write_debugfs(inject[i].dir, "times", "0"));
			if (!res->done)
				continue;
			runs++;
			failed_forks += res->fork_failed;
			/* A fork that copied COW memory told the notifier. */
			if (!res->fork_failed)
				EXPECT_GT(res->counts.range_starts, 0);
			/* A fork that failed after copying some of it. */
			partial += res->fork_failed && res->counts.range_starts;
			EXPECT_EQ(res->counts.range_starts, res->counts.range_ends)
				TH_LOG("%s space %s: %llu starts, %llu ends", inject[i].dir, val,
				       (unsigned long long)res->counts.range_starts,
				       (unsigned long long)res->counts.range_ends);
		}
	}
	TH_LOG("injected %d failures in %d forks: %d failed, %d after a range start",
	       injected, 2 * k, failed_forks, partial);
	TH_LOG("invalidate_range_start == invalidate_range_end in all %d runs checked", runs);
	EXPECT_GT(injected, 0);
	EXPECT_GT(failed_forks, 0);
	EXPECT_GT(runs, k);
}

/*
 * Idle page tracking clears the accessed bits of a page's mappings through
 * the rmap, and tells secondary MMUs with clear_young.  It only looks at
 * folios on an LRU list, and a new or just migrated folio waits in a
 * per-CPU batch first.  The page is migrated here, as compaction or
 * kcompactd may do at any time, and then every CPU's batches are drained.
 */
TEST(notifier_sees_clear_young_from_idle_tracking)
{
	struct gph_mirror_counts counts;
	uint64_t pfn, word;
	int fd, bitmap;
	char *page;

	page_size = sysconf(_SC_PAGESIZE);
	fd = open_dev();
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, ioctl(fd, GPH_MIRROR_NOTIFIER));
	page = map_anon(1);
	ASSERT_NE(NULL, page);
	ASSERT_EQ(0, migrate_page(fd, page)) TH_LOG("migrating: %s", strerror(errno));
	/* drop_caches drains every CPU's batches, and moves no page. */
	bitmap = open("/proc/sys/vm/drop_caches", O_WRONLY);
	ASSERT_GE(bitmap, 0);
	ASSERT_EQ(1, write(bitmap, "1", 1));
	close(bitmap);
	pfn = pagemap_pfn(page);
	ASSERT_NE(0, pfn);
	ASSERT_EQ(0, ioctl(fd, GPH_MIRROR_COUNTS, &counts));
	ASSERT_EQ(0, counts.clear_young);
	bitmap = open("/sys/kernel/mm/page_idle/bitmap", O_RDWR);
	ASSERT_GE(bitmap, 0) TH_LOG("page_idle/bitmap: %s", strerror(errno));
	word = 1ULL << (pfn % 64);
	ASSERT_EQ(sizeof(word), pwrite(bitmap, &word, sizeof(word), pfn / 64 * 8))
		TH_LOG("marking pfn %llx idle: %s", (unsigned long long)pfn, strerror(errno));
	close(bitmap);
	ASSERT_EQ(0, ioctl(fd, GPH_MIRROR_COUNTS, &counts));
	TH_LOG("clear_young called %llu times", (unsigned long long)counts.clear_young);
	EXPECT_GE(counts.clear_young, 1);
	EXPECT_EQ(0, page[0]);
	close(fd);
}

/* The rmap probe. */
static int probe(int fd, void *addr, int mode, struct gph_rmap_probe *p,
		 struct gph_rmap_mapping *m, unsigned long max)
{
	memset(p, 0, sizeof(*p));
	p->address = (uintptr_t)addr;
	p->mode = mode;
	p->max = max;
	p->mappings = (uintptr_t)m;
	return ioctl(fd, GPH_MIRROR_RMAP_PROBE, p);
}

static uint64_t my_mm_id(int fd)
{
	uint64_t id = 0;

	ioctl(fd, GPH_MIRROR_MM_ID, &id);
	return id;
}

static const char * const lock_names[] = { "?", "anon_vma rwsem", "i_mmap_rwsem", "ksm" };

struct shared_ids {
	uint64_t ids[8];
	int ready;
};

/*
 * Children that map `page` report their mm id, then wait until the parent
 * closes the write end of the pipe `go`.
 */
static pid_t spawn_mapper(struct shared_ids *sh, int slot, char *page, int go[2])
{
	pid_t pid = fork();
	int fd;
	char c;

	if (pid)
		return pid;
	close(go[1]);
	fd = open_dev();
	if (fd < 0)
		_exit(1);
	c = page[0];	/* fault the mapping in */
	sh->ids[slot] = my_mm_id(fd);
	__atomic_add_fetch(&sh->ready, 1, __ATOMIC_SEQ_CST);
	read(go[0], &c, 1);
	_exit(0);
}

static void wait_ready(struct shared_ids *sh, int n)
{
	while (__atomic_load_n(&sh->ready, __ATOMIC_SEQ_CST) < n)
		usleep(1000);
}

static int has_id(struct gph_rmap_mapping *m, int n, uint64_t id, uint64_t addr)
{
	int i;

	for (i = 0; i < n; i++)
		if (m[i].mm_id == id && m[i].address == addr)
			return 1;
	return 0;
}

TEST(rmap_anon_shared_across_fork)
{
	struct gph_rmap_mapping m[8];
	struct gph_rmap_probe p;
	struct shared_ids *sh;
	int fd, go[2], mode;
	char *page;
	pid_t pid;

	page_size = sysconf(_SC_PAGESIZE);
	fd = open_dev();
	ASSERT_GE(fd, 0);
	sh = mmap(NULL, page_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, sh);
	page = map_anon(1);
	ASSERT_NE(NULL, page);
	ASSERT_EQ(0, pipe(go));
	pid = spawn_mapper(sh, 0, page, go);
	ASSERT_GT(pid, 0);
	wait_ready(sh, 1);
	for (mode = GPH_RMAP_WALK; mode <= GPH_RMAP_LOCKED_WALK; mode++) {
		ASSERT_EQ(0, probe(fd, page, mode, &p, m, 8));
		TH_LOG("mode %d: %llu mappings, %s; parent mm %016llx, child mm %016llx, page %p",
		       mode, (unsigned long long)p.found, lock_names[p.lock],
		       (unsigned long long)my_mm_id(fd), (unsigned long long)sh->ids[0], page);
		TH_LOG("mode %d: found mm %016llx @%llx and mm %016llx @%llx", mode,
		       (unsigned long long)m[0].mm_id, (unsigned long long)m[0].address,
		       (unsigned long long)m[1].mm_id, (unsigned long long)m[1].address);
		EXPECT_EQ(GPH_RMAP_LOCK_ANON_VMA, p.lock);
		EXPECT_TRUE(p.flags & GPH_RMAP_FOLIO_ANON);
		EXPECT_EQ(0, p.contended);
		EXPECT_EQ(2, p.found);
		EXPECT_TRUE(has_id(m, 2, my_mm_id(fd), (uintptr_t)page));
		EXPECT_TRUE(has_id(m, 2, sh->ids[0], (uintptr_t)page));
	}
	close(go[1]);
	waitpid(pid, NULL, 0);
	/* The child's mapping is gone with it. */
	ASSERT_EQ(0, probe(fd, page, GPH_RMAP_WALK, &p, m, 8));
	EXPECT_EQ(1, p.found);
	EXPECT_TRUE(has_id(m, 1, my_mm_id(fd), (uintptr_t)page));
}

TEST(rmap_file_page_mapped_by_three_processes)
{
	struct gph_rmap_mapping m[8];
	struct gph_rmap_probe p;
	struct shared_ids *sh;
	char path[] = DISK "/rmap-XXXXXX";
	int fd, file, go[2], i;
	pid_t pids[2];
	char *page;

	page_size = sysconf(_SC_PAGESIZE);
	fd = open_dev();
	ASSERT_GE(fd, 0);
	sh = mmap(NULL, page_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, sh);
	file = mkstemp(path);
	ASSERT_GE(file, 0) TH_LOG("%s: %s", path, strerror(errno));
	unlink(path);
	ASSERT_EQ(0, ftruncate(file, page_size));
	page = mmap(NULL, page_size, PROT_READ | PROT_WRITE, MAP_SHARED, file, 0);
	ASSERT_NE(MAP_FAILED, page);
	memcpy(page, "gph", 4);
	ASSERT_EQ(0, pipe(go));
	for (i = 0; i < 2; i++) {
		pids[i] = spawn_mapper(sh, i, page, go);
		ASSERT_GT(pids[i], 0);
	}
	wait_ready(sh, 2);
	ASSERT_EQ(0, probe(fd, page, GPH_RMAP_WALK, &p, m, 8));
	TH_LOG("%llu mappings under the %s", (unsigned long long)p.found, lock_names[p.lock]);
	EXPECT_EQ(GPH_RMAP_LOCK_I_MMAP, p.lock);
	EXPECT_FALSE(p.flags & GPH_RMAP_FOLIO_ANON);
	EXPECT_EQ(3, p.found);
	EXPECT_TRUE(has_id(m, 3, my_mm_id(fd), (uintptr_t)page));
	EXPECT_TRUE(has_id(m, 3, sh->ids[0], (uintptr_t)page));
	EXPECT_TRUE(has_id(m, 3, sh->ids[1], (uintptr_t)page));
	ASSERT_EQ(0, probe(fd, page, GPH_RMAP_LOCKED_WALK, &p, m, 8));
	EXPECT_EQ(3, p.found);
	close(go[1]);
	for (i = 0; i < 2; i++)
		waitpid(pids[i], NULL, 0);
	EXPECT_STREQ("gph", page);
	close(file);
}

/*
 * Several walkers probe one shared page at once (the rmap locks are taken
 * for reading) while another task keeps mapping and unmapping other memory
 * of the same anon_vma.
 */
TEST(rmap_concurrent_walkers)
{
	struct shared_ids *sh;
	int go[2], i, status, bad = 0;
	pid_t walkers[4], churn;
	char *page;

	page_size = sysconf(_SC_PAGESIZE);
	sh = mmap(NULL, page_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, sh);
	page = map_anon(1);
	ASSERT_NE(NULL, page);
	ASSERT_EQ(0, pipe(go));
	for (i = 0; i < 4; i++) {
		walkers[i] = fork();
		ASSERT_GE(walkers[i], 0);
		if (!walkers[i]) {
			struct gph_rmap_mapping m[8];
			struct gph_rmap_probe p;
			int fd = open_dev(), n;

			for (n = 0; n < 300; n++) {
				if (probe(fd, page, n % 3, &p, m, 8))
					_exit(1);
				/* Everyone forked from the parent shares it. */
				if (p.contended)
					continue;
				if (p.found < 1 || m[0].address != (uintptr_t)page)
					_exit(2);
			}
			_exit(0);
		}
	}
	churn = fork();
	ASSERT_GE(churn, 0);
	if (!churn) {
		for (i = 0; i < 300; i++) {
			char *p = map_anon(8);

			if (!p)
				_exit(1);
			if (fork() == 0)
				_exit(0);
			munmap(p, 8 * page_size);
			wait(NULL);
		}
		_exit(0);
	}
	for (i = 0; i < 4; i++) {
		ASSERT_EQ(walkers[i], waitpid(walkers[i], &status, 0));
		bad += !WIFEXITED(status) || WEXITSTATUS(status);
	}
	ASSERT_EQ(churn, waitpid(churn, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status));
	EXPECT_EQ(0, bad);
	close(go[0]);
	close(go[1]);
}

static void compact(void)
{
	int fd = open("/proc/sys/vm/compact_memory", O_WRONLY);

	if (fd >= 0) {
		write(fd, "1", 1);
		close(fd);
	}
}

#define SWAP_PAGES 256

static char pattern(unsigned long page, unsigned long byte)
{
	return (char)(page * 31 + byte * 7 + 1);
}

/*
 * Maps n pages, writes them with a pattern and pages them out.
 * MADV_PAGEOUT takes only folios on the LRU, and drains only this CPU's
 * batch of new ones: pages that another CPU faulted in would stay in its
 * batch, and in memory.  So all of it happens on one CPU.  It is advice,
 * and reclaim may still pass a folio over (its lock or a swap slot busy
 * for a moment): it is given a few tries.
 */
static char *map_and_page_out(unsigned long n)
{
	bool pinned = false;
	cpu_set_t old, one;
	unsigned long i, j;
	char *buf;

	if (!sched_getaffinity(0, sizeof(old), &old)) {
		CPU_ZERO(&one);
		CPU_SET(sched_getcpu(), &one);
		pinned = !sched_setaffinity(0, sizeof(one), &one);
	}
	buf = map_anon(n);
	if (buf) {
		for (i = 0; i < n; i++)
			for (j = 0; j < (unsigned long)page_size; j += 64)
				buf[i * page_size + j] = pattern(i, j);
		for (i = 0; i < 10; i++) {
			if (madvise(buf, n * page_size, MADV_PAGEOUT) || !pagemap_pfn(buf))
				break;
			usleep(10000);
		}
		if (i == 10 || pagemap_pfn(buf)) {
			munmap(buf, n * page_size);
			buf = NULL;
		}
	}
	if (pinned)
		sched_setaffinity(0, sizeof(old), &old);
	return buf;
}

/* Fills n pages with a pattern, swaps them out, and reads them back in. */
static char *swap_cache_pages(struct __test_metadata *_metadata, unsigned long n)
{
	char *buf = map_and_page_out(n);
	unsigned long i;

	if (!buf) {
		TH_LOG("the pages were not swapped out (is swap on?)");
		return NULL;
	}
	for (i = 0; i < n; i++)
		if (buf[i * page_size] != pattern(i, 0))
			return NULL;
	return buf;
}

static int check_pattern(char *buf, unsigned long n)
{
	unsigned long i, j;
	int bad = 0;

	for (i = 0; i < n; i++)
		for (j = 0; j < (unsigned long)page_size; j += 64)
			bad += buf[i * page_size + j] != pattern(i, j);
	return bad;
}

/* A page read back after swap-out is mapped and in the swap cache. */
TEST(rmap_swap_cache_page)
{
	struct gph_rmap_mapping m[4];
	struct gph_rmap_probe p;
	char *page;
	int fd;

	page_size = sysconf(_SC_PAGESIZE);
	fd = open_dev();
	ASSERT_GE(fd, 0);
	page = swap_cache_pages(_metadata, 1);
	ASSERT_NE(NULL, page);
	ASSERT_EQ(0, probe(fd, page, GPH_RMAP_WALK, &p, m, 4));
	TH_LOG("%llu mappings under the %s, folio flags %llx", (unsigned long long)p.found,
	       lock_names[p.lock], (unsigned long long)p.flags);
	EXPECT_TRUE(p.flags & GPH_RMAP_FOLIO_SWAPCACHE);
	EXPECT_EQ(GPH_RMAP_LOCK_ANON_VMA, p.lock);
	EXPECT_EQ(1, p.found);
	EXPECT_TRUE(has_id(m, 1, my_mm_id(fd), (uintptr_t)page));
	EXPECT_EQ(0, check_pattern(page, 1));
}

/*
 * A mapped swap-cache page migrates: its pfn changes, it stays in the
 * swap cache, its one mapping is restored through the rmap, and its data
 * is intact.
 */
TEST(swap_cache_page_migrates_mapped)
{
	struct gph_rmap_mapping m[4];
	struct gph_rmap_probe p;
	int fd, moved = 0;
	unsigned long i;
	uint64_t before;
	char *buf;

	page_size = sysconf(_SC_PAGESIZE);
	fd = open_dev();
	ASSERT_GE(fd, 0);
	buf = swap_cache_pages(_metadata, 16);
	ASSERT_NE(NULL, buf);
	for (i = 0; i < 16; i++) {
		char *page = buf + i * page_size;

		ASSERT_EQ(0, probe(fd, page, GPH_RMAP_WALK, &p, m, 4));
		ASSERT_TRUE(p.flags & GPH_RMAP_FOLIO_SWAPCACHE);
		before = pagemap_pfn(page);
		ASSERT_EQ(0, migrate_page(fd, page)) TH_LOG("page %lu: %s", i, strerror(errno));
		moved += pagemap_pfn(page) != before;
		ASSERT_EQ(0, probe(fd, page, GPH_RMAP_WALK, &p, m, 4));
		EXPECT_TRUE(p.flags & GPH_RMAP_FOLIO_SWAPCACHE);
		EXPECT_EQ(1, p.found);
		EXPECT_EQ((uintptr_t)page, m[0].address);
	}
	TH_LOG("%d of 16 mapped swap-cache pages moved to new frames", moved);
	EXPECT_EQ(16, moved);
	EXPECT_EQ(0, check_pattern(buf, 16));
}

/*
 * The race of the 2010 thread: migrate swap-cache pages shared with a
 * child while the child exits, so that the anon_vma chain shrinks under
 * the migration and remove_migration_ptes() must not touch a freed
 * anon_vma.  Lockdep and DEBUG_VM watch; the data must survive.
 */
TEST(swap_cache_migration_races_exit)
{
	int fd, round, status, failed = 0, migrated = 0;
	unsigned long i;
	char *buf;
	pid_t pid;

	page_size = sysconf(_SC_PAGESIZE);
	fd = open_dev();
	ASSERT_GE(fd, 0);
	for (round = 0; round < 20; round++) {
		buf = swap_cache_pages(_metadata, 8);
		ASSERT_NE(NULL, buf);
		pid = fork();
		ASSERT_GE(pid, 0);
		if (!pid) {
			/* Touch, then leave while the parent migrates. */
			if (check_pattern(buf, 8))
				_exit(1);
			_exit(0);
		}
		for (i = 0; i < 8; i++) {
			if (migrate_page(fd, buf + i * page_size))
				failed++;
			else
				migrated++;
		}
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status));
		EXPECT_EQ(0, check_pattern(buf, 8));
		munmap(buf, 8 * page_size);
	}
	TH_LOG("%d migrations of shared swap-cache pages, %d left in place (busy)",
	       migrated, failed);
	EXPECT_GT(migrated, 0);
}

/*
 * Unmapped swap-cache pages (MADV_WILLNEED reads them into the swap cache
 * without mapping them) go through compaction; their data survives.
 */
TEST(swap_cache_unmapped_survives_compaction)
{
	long migrated;
	char *buf;
	int round;

	page_size = sysconf(_SC_PAGESIZE);
	buf = swap_cache_pages(_metadata, SWAP_PAGES);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, madvise(buf, SWAP_PAGES * page_size, MADV_PAGEOUT));
	ASSERT_EQ(0, pagemap_pfn(buf));
	ASSERT_EQ(0, madvise(buf, SWAP_PAGES * page_size, MADV_WILLNEED));
	migrated = read_vmstat("pgmigrate_success");
	for (round = 0; round < 3; round++)
		compact();
	migrated = read_vmstat("pgmigrate_success") - migrated;
	TH_LOG("compaction migrated %ld pages in all", migrated);
	EXPECT_EQ(0, check_pattern(buf, SWAP_PAGES));
}

/*
 * unmap_all(): a page-cache page mapped by three processes and a
 * swap-cache page disappear from every page table (the mirror hears of
 * it through its notifier) and refault with their data; a plain
 * anonymous page has nowhere to be refaulted from, so it stays.
 */
TEST(unmap_all_page_cache_swap_cache_and_anon)
{
	char path[] = DISK "/unmap-XXXXXX";
	struct shared_ids *sh;
	int fd, file, go[2], i, mirrored;
	char *page, *swapped, *anon;
	uint64_t a;
	pid_t pids[2];

	page_size = sysconf(_SC_PAGESIZE);
	fd = open_dev();
	ASSERT_GE(fd, 0);
	sh = mmap(NULL, page_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, sh);
	file = mkstemp(path);
	ASSERT_GE(file, 0);
	unlink(path);
	ASSERT_EQ(0, ftruncate(file, page_size));
	page = mmap(NULL, page_size, PROT_READ | PROT_WRITE, MAP_SHARED, file, 0);
	ASSERT_NE(MAP_FAILED, page);
	memcpy(page, "gph", 4);
	ASSERT_EQ(0, fsync(file));
	ASSERT_EQ(0, register_range(fd, page, 1));
	ASSERT_EQ(0, fault_range(fd, page, 1));
	ASSERT_EQ(0, pipe(go));
	for (i = 0; i < 2; i++) {
		pids[i] = spawn_mapper(sh, i, page, go);
		ASSERT_GT(pids[i], 0);
	}
	wait_ready(sh, 2);
	a = (uintptr_t)page;
	ASSERT_EQ(0, ioctl(fd, GPH_MIRROR_UNMAP, &a)) TH_LOG("%s", strerror(errno));
	EXPECT_EQ(0, pagemap_pfn(page));
	EXPECT_EQ(0, stale_entries(fd, page, 1, &mirrored));
	EXPECT_EQ(0, mirrored);
	EXPECT_STREQ("gph", page);
	close(go[1]);
	for (i = 0; i < 2; i++)
		waitpid(pids[i], NULL, 0);

	swapped = swap_cache_pages(_metadata, 1);
	ASSERT_NE(NULL, swapped);
	a = (uintptr_t)swapped;
	ASSERT_EQ(0, ioctl(fd, GPH_MIRROR_UNMAP, &a)) TH_LOG("%s", strerror(errno));
	EXPECT_EQ(0, pagemap_pfn(swapped));
	EXPECT_EQ(0, check_pattern(swapped, 1));

	anon = map_anon(1);
	ASSERT_NE(NULL, anon);
	a = (uintptr_t)anon;
	EXPECT_EQ(-1, ioctl(fd, GPH_MIRROR_UNMAP, &a));
	EXPECT_EQ(EBUSY, errno);
	EXPECT_NE(0, pagemap_pfn(anon));
	EXPECT_EQ(0, anon[0]);
	close(file);
}

TEST(rmap_probe_rejects_bad_input)
{
	struct gph_rmap_mapping m[1];
	struct gph_rmap_probe p;
	int fd = open_dev();

	ASSERT_GE(fd, 0);
	EXPECT_EQ(-1, probe(fd, NULL, GPH_RMAP_WALK, &p, m, 1));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(-1, probe(fd, m, 7, &p, m, 1));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, probe(fd, m, GPH_RMAP_WALK, &p, m, 100000));
	EXPECT_EQ(EINVAL, errno);
	close(fd);
}

TEST_HARNESS_MAIN
