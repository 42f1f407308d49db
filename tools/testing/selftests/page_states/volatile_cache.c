// SPDX-License-Identifier: GPL-2.0
/*
 * Volatile page cache under a host that discards.
 *
 * Files on a real disk (GPH_DISK, default /mnt/disk) are read and mapped;
 * the host takes their clean page cache again and again: the emulated
 * host when told to (/sys/kernel/mm/page_states/host_discard_mib), the
 * hypervisor behind ESSA on its own schedule (see host_take()).  Every
 * byte read back is checked against the pattern it was written with: a
 * discarded page that the guest read without going through discard
 * handling would show the emulated host's poison, or the zeros QEMU hands
 * back for reported or dropped memory.
 *
 * The tests need page_states=volatile and a host that takes pages (the
 * emulated one, or ESSA with gph_cmma_period_ms=); elsewhere they skip.
 * Two are about the emulated host's own semantics (its census while pages
 * stay discarded, its periodic policy) and skip with ESSA.
 *
 * With ESSA a mapped folio is potentially volatile: the hypervisor drops
 * it, mapped or not, while the guest has not written it, and the next
 * touch through the mapping takes a discard fault instead of a fault.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../kselftest_harness.h"
#include "page_states_util.h"

#define POISON "GPH discarded!!"
#define FILE_MIB 8
#define FILE_SIZE ((size_t)FILE_MIB << 20)
#define NR_FILES 4
#define PASSES 6

static void file_path(char *buf, size_t len, int idx)
{
	snprintf(buf, len, "%s/volatile_cache.%d", disk_dir(), idx);
}

/* The 8-byte word at byte @off of file @idx. */
static uint64_t pattern(int idx, size_t off)
{
	return ((uint64_t)(idx + 1) << 56) ^ ((off / 8) * 0x9E3779B97F4A7C15ULL);
}

/*
 * Lets the host take up to @mib MiB; returns the pages the emulated host
 * discarded, 0 with ESSA (see host_take()).
 */
static long pressure(unsigned int mib)
{
	return host_take(mib);
}

static bool essa(void)
{
	return gph_host() == GPH_HOST_ESSA;
}

/*
 * The host's discards as the counters show them.  The emulated host
 * counts its own (page_states_discarded).  The guest learns of a
 * hypervisor's at a lookup (page_states_stable_failed) or at a discard
 * fault (no counter of its own), and takes the folio off the page cache
 * either way (page_states_refaulted): that is what counts them with ESSA.
 */
static long host_discards(void)
{
	return read_vmstat(essa() ? "page_states_refaulted" : "page_states_discarded");
}

/* Counts the words of @buf (file @idx from @off) that are not the pattern. */
static size_t mismatches(const void *buf, size_t len, int idx, size_t off,
			 size_t *poisoned)
{
	const uint64_t *w = buf;
	size_t i, bad = 0;

	for (i = 0; i < len / 8; i++)
		if (w[i] != pattern(idx, off + i * 8))
			bad++;
	for (i = 0; i + 8 <= len; i += 4096)
		if (!memcmp((const char *)buf + i, POISON, strlen(POISON)))
			(*poisoned)++;
	return bad;
}

/* Writes file @idx, syncs it and drops it from the page cache. */
static int create_file(int idx, size_t size)
{
	static uint64_t buf[65536 / 8];
	char path[256];
	size_t off, i;
	int fd;

	file_path(path, sizeof(path), idx);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return -errno;
	for (off = 0; off < size; off += sizeof(buf)) {
		for (i = 0; i < ARRAY_SIZE(buf); i++)
			buf[i] = pattern(idx, off + i * 8);
		if (write(fd, buf, sizeof(buf)) != sizeof(buf)) {
			close(fd);
			return -EIO;
		}
	}
	/*
	 * Written folios keep the filesystem's buffer heads, which rule out
	 * volatility; read back after a writeback and a drop, they have none.
	 */
	if (fsync(fd) || posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)) {
		close(fd);
		return -errno;
	}
	return fd;
}

/* Reads file @idx with read(); returns the words that are wrong. */
static size_t verify_read(int fd, int idx, size_t size, size_t *poisoned)
{
	static char buf[65536];
	size_t off, bad = 0;

	for (off = 0; off < size; off += sizeof(buf)) {
		ssize_t n = pread(fd, buf, sizeof(buf), off);

		if (n != sizeof(buf))
			return size / 8;
		bad += mismatches(buf, sizeof(buf), idx, off, poisoned);
	}
	return bad;
}

FIXTURE(files)
{
	int fd[NR_FILES];
};

FIXTURE_SETUP(files)
{
	int i;

	if (gph_host() == GPH_HOST_NONE)
		SKIP(return, GPH_HOST_NEEDED);
	for (i = 0; i < NR_FILES; i++) {
		self->fd[i] = create_file(i, FILE_SIZE);
		ASSERT_LE(0, self->fd[i]) TH_LOG("creating a file on %s", disk_dir());
	}
}

FIXTURE_TEARDOWN(files)
{
	char path[256];
	int i;

	for (i = 0; i < NR_FILES; i++) {
		if (self->fd[i] > 0)
			close(self->fd[i]);
		file_path(path, sizeof(path), i);
		unlink(path);
	}
}

/*
 * Read and map every file, have the host discard, check every byte, again
 * and again: each pass refaults what the host took.
 */
TEST_F_TIMEOUT(files, checksums_survive_repeated_pressure, 400)
{
	long discarded0 = host_discards();
	long refaulted0 = read_vmstat("page_states_refaulted");
	long volatile0 = read_vmstat("page_states_volatile");
	size_t bad = 0, poisoned = 0;
	int pass, i;

	for (pass = 0; pass < PASSES; pass++) {
		long got;

		for (i = 0; i < NR_FILES; i++) {
			if (pass % 2) {
				void *p = mmap(NULL, FILE_SIZE, PROT_READ, MAP_SHARED,
					       self->fd[i], 0);

				ASSERT_NE(MAP_FAILED, p);
				bad += mismatches(p, FILE_SIZE, i, 0, &poisoned);
				munmap(p, FILE_SIZE);
			} else {
				bad += verify_read(self->fd[i], i, FILE_SIZE, &poisoned);
			}
		}
		got = pressure(4 * NR_FILES * FILE_MIB);
		ASSERT_LE(0, got);
		if (essa())
			TH_LOG("pass %d: %ld refaults so far", pass,
			       read_vmstat("page_states_refaulted") - refaulted0);
		else
			TH_LOG("pass %d: the host discarded %ld pages", pass, got);
	}
	for (i = 0; i < NR_FILES; i++)
		bad += verify_read(self->fd[i], i, FILE_SIZE, &poisoned);

	TH_LOG("checksums: %ld made volatile, %ld discards, %ld refaults,",
	       read_vmstat("page_states_volatile") - volatile0,
	       host_discards() - discarded0,
	       read_vmstat("page_states_refaulted") - refaulted0);
	TH_LOG("checksums: %zu mismatched words, %zu poisoned pages, %d passes over %d MiB",
	       bad, poisoned, PASSES, NR_FILES * FILE_MIB);
	EXPECT_EQ(0, bad);
	EXPECT_EQ(0, poisoned);
	/* The point is that pages were discarded and read again. */
	EXPECT_GE(host_discards() - discarded0, (long)(NR_FILES * FILE_SIZE / 4096));
	EXPECT_GE(read_vmstat("page_states_refaulted") - refaulted0,
		  (long)(NR_FILES * FILE_SIZE / 4096));
}

/*
 * A process keeps a file mapped across discards: the host takes the
 * pages, and the next touch refaults the file.  The emulated host takes
 * the mappings away with the pages; with ESSA they stay, and the touch
 * takes a discard fault.  Pages it dirtied through a shared writable
 * mapping are never lost.
 */
TEST_F_TIMEOUT(files, mapped_pages_see_correct_data, 200)
{
	long discarded0 = host_discards();
	size_t bad = 0, poisoned = 0, pages = FILE_SIZE / 4096, i;
	uint64_t *p;
	int round;

	p = mmap(NULL, FILE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd[0], 0);
	ASSERT_NE(MAP_FAILED, p);
	bad += mismatches(p, FILE_SIZE, 0, 0, &poisoned);
	/* Dirty every 16th page through the mapping. */
	for (i = 0; i < pages; i += 16)
		p[i * 512] = ~pattern(0, i * 4096);
	for (round = 0; round < 4; round++) {
		ASSERT_LE(0, pressure(4 * NR_FILES * FILE_MIB));
		for (i = 0; i < pages; i++) {
			uint64_t want = pattern(0, i * 4096);

			if (i % 16 == 0)
				want = ~want;
			if (p[i * 512] != want)
				bad++;
			if (i % 16)
				bad += mismatches(&p[i * 512], 4096, 0, i * 4096, &poisoned);
		}
	}
	TH_LOG("mapped: %ld discards, %zu mismatches, %zu poisoned pages",
	       host_discards() - discarded0, bad, poisoned);
	EXPECT_EQ(0, bad);
	EXPECT_EQ(0, poisoned);
	/* The clean pages of the mapping went, round after round. */
	EXPECT_GE(host_discards() - discarded0, (long)pages);
	ASSERT_EQ(0, munmap(p, FILE_SIZE));
}

/* Keeps the host discarding until killed. */
static void discard_forever(void)
{
	for (;;) {
		pressure(64);
		usleep(1000);
	}
}

/*
 * Generation @gen of the word at byte @off of file @idx: generation 0 is
 * what create_file() wrote; writers through a mapping add their own.
 */
static uint64_t pattern_gen(int idx, size_t off, unsigned int gen)
{
	return pattern(idx, off) ^ ((uint64_t)gen << 40);
}

/* Whether the word @w at byte @off of file @idx is one of its generations. */
static bool some_generation(int idx, size_t off, uint64_t w)
{
	return !((w ^ pattern(idx, off)) & ~(0xffffULL << 40));
}

/* Fills page @page of a mapping @map of file @idx with generation @gen. */
static void fill_page(uint64_t *map, int idx, size_t page, unsigned int gen)
{
	size_t i;

	for (i = 0; i < 512; i++)
		map[page * 512 + i] = pattern_gen(idx, page * 4096 + i * 8, gen);
}

/* The words of page @page of @map that are not generation @gen. */
static size_t page_mismatches(const uint64_t *map, int idx, size_t page, unsigned int gen)
{
	size_t i, bad = 0;

	for (i = 0; i < 512; i++)
		bad += map[page * 512 + i] != pattern_gen(idx, page * 4096 + i * 8, gen);
	return bad;
}

/*
 * Checks file @idx against @gens (one generation per page), through a
 * mapping of its page cache and, after a writeback and a drop, as read
 * from the disk; returns the wrong words.
 */
static size_t verify_generations(int fd, int idx, const unsigned int *gens)
{
	size_t page, bad = 0;
	uint64_t *map;
	int pass;

	for (pass = 0; pass < 2; pass++) {
		map = mmap(NULL, FILE_SIZE, PROT_READ, MAP_SHARED, fd, 0);
		if (map == MAP_FAILED)
			return FILE_SIZE / 8;
		for (page = 0; page < FILE_SIZE / 4096; page++)
			bad += page_mismatches(map, idx, page, gens[page]);
		munmap(map, FILE_SIZE);
		if (fsync(fd) || posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED))
			return FILE_SIZE / 8;
	}
	return bad;
}

/*
 * Reads a mapping of file @idx until killed; exits with a non-zero status
 * if a word is no generation of the file (poison, zeros, another page).
 */
static void read_generations_forever(int fd, int idx)
{
	const uint64_t *map = mmap(NULL, FILE_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	size_t off;

	if (map == MAP_FAILED)
		_exit(2);
	for (;;)
		for (off = 0; off < FILE_SIZE; off += 8)
			if (!some_generation(idx, off, map[off / 8]))
				_exit(1);
}

#define WRITERS 3
#define WRITE_ROUNDS 24

/*
 * Writers in several processes write a file through shared writable
 * mappings and msync() it, round after round, while a reader process
 * checks every word it maps and the host discards.  Written back, the
 * pages are clean and mapped: volatile, since a write to them faults
 * first (ext4 asks for write notification).  Every word reads back as its
 * last generation, from the page cache and from the disk, and the
 * emulated host never finds a volatile page dirty.
 */
TEST_F_TIMEOUT(files, shared_writes_and_msync_race_discards, 400)
{
	const size_t pages = FILE_SIZE / 4096;
	long dirty0 = read_vmstat("page_states_volatile_dirty");
	long volatile0 = read_vmstat("page_states_volatile");
	long discarded0 = host_discards();
	int idx = 1, fd = self->fd[idx], w, status, failed = 0;
	pid_t writers[WRITERS], reader, host = 0;
	unsigned int *gens;
	size_t bad;

	gens = mmap(NULL, pages * sizeof(*gens), PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, gens);
	reader = fork();
	ASSERT_LE(0, reader);
	if (!reader)
		read_generations_forever(fd, idx);
	if (!essa()) {
		host = fork();
		ASSERT_LE(0, host);
		if (!host)
			discard_forever();
	}
	for (w = 0; w < WRITERS; w++) {
		writers[w] = fork();
		ASSERT_LE(0, writers[w]);
		if (!writers[w]) {
			uint64_t *map = mmap(NULL, FILE_SIZE, PROT_READ | PROT_WRITE,
					     MAP_SHARED, fd, 0);
			unsigned int round;
			size_t page;

			if (map == MAP_FAILED)
				_exit(2);
			for (round = 1; round <= WRITE_ROUNDS; round++) {
				/* A different third of this writer's pages each round. */
				for (page = w; page < pages; page += WRITERS) {
					if ((page / WRITERS + round) % 3)
						continue;
					fill_page(map, idx, page, round);
					gens[page] = round;
				}
				if (msync(map, FILE_SIZE, round % 2 ? MS_ASYNC : MS_SYNC))
					_exit(3);
				host_wait(1);
			}
			_exit(0);
		}
	}
	for (w = 0; w < WRITERS; w++) {
		ASSERT_EQ(writers[w], waitpid(writers[w], &status, 0));
		failed += !WIFEXITED(status) || WEXITSTATUS(status);
	}
	if (host > 0) {
		kill(host, SIGKILL);
		waitpid(host, &status, 0);
	}
	kill(reader, SIGKILL);
	ASSERT_EQ(reader, waitpid(reader, &status, 0));
	/* Killed while reading, or exited because a word was wrong. */
	EXPECT_TRUE(WIFSIGNALED(status)) TH_LOG("the reader found a wrong word");
	bad = verify_generations(fd, idx, gens);
	TH_LOG("shared writes: %ld made volatile, %ld discards, %ld volatile found dirty",
	       read_vmstat("page_states_volatile") - volatile0, host_discards() - discarded0,
	       read_vmstat("page_states_volatile_dirty") - dirty0);
	TH_LOG("shared writes: %zu wrong words, %d writers failed", bad, failed);
	EXPECT_EQ(0, failed);
	EXPECT_EQ(0, bad);
	EXPECT_EQ(0, read_vmstat("page_states_volatile_dirty") - dirty0);
	/* The written-back pages went volatile, and the host took some. */
	EXPECT_LT((long)pages, read_vmstat("page_states_volatile") - volatile0);
	EXPECT_LT(0, host_discards() - discarded0);
	munmap(gens, pages * sizeof(*gens));
}

/*
 * A shared writable mapping is made read-only and writable again while
 * the host discards: mprotect() leaves a clean page write-protected, so
 * the write after it still faults and takes the page back.  A second
 * process does the same to its own mapping of the file and checks every
 * word.
 */
TEST_F_TIMEOUT(files, mprotect_read_only_and_back_races_discards, 300)
{
	const size_t pages = FILE_SIZE / 4096;
	long dirty0 = read_vmstat("page_states_volatile_dirty");
	long discarded0 = host_discards();
	int idx = 2, fd = self->fd[idx], round, status;
	unsigned int *gens;
	size_t bad = 0, page;
	uint64_t *map;
	pid_t other;

	gens = calloc(pages, sizeof(*gens));
	ASSERT_NE(NULL, gens);
	other = fork();
	ASSERT_LE(0, other);
	if (!other) {
		size_t off;

		map = mmap(NULL, FILE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (map == MAP_FAILED)
			_exit(2);
		for (;;) {
			if (mprotect(map, FILE_SIZE, PROT_READ) ||
			    mprotect(map, FILE_SIZE, PROT_READ | PROT_WRITE))
				_exit(3);
			for (off = 0; off < FILE_SIZE; off += 8)
				if (!some_generation(idx, off, map[off / 8]))
					_exit(1);
		}
	}
	map = mmap(NULL, FILE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, map);
	for (round = 1; round <= 16; round++) {
		ASSERT_EQ(0, mprotect(map, FILE_SIZE, PROT_READ));
		ASSERT_LE(0, pressure(FILE_MIB));
		for (page = 0; page < pages; page++)
			bad += page_mismatches(map, idx, page, gens[page]);
		ASSERT_EQ(0, mprotect(map, FILE_SIZE, PROT_READ | PROT_WRITE));
		for (page = round % 3; page < pages; page += 3) {
			fill_page(map, idx, page, round);
			gens[page] = round;
		}
		ASSERT_EQ(0, msync(map, FILE_SIZE, MS_SYNC));
		ASSERT_LE(0, pressure(FILE_MIB));
	}
	kill(other, SIGKILL);
	ASSERT_EQ(other, waitpid(other, &status, 0));
	EXPECT_TRUE(WIFSIGNALED(status)) TH_LOG("the other process found a wrong word");
	munmap(map, FILE_SIZE);
	bad += verify_generations(fd, idx, gens);
	TH_LOG("mprotect: %ld discards, %ld volatile found dirty, %zu wrong words",
	       host_discards() - discarded0,
	       read_vmstat("page_states_volatile_dirty") - dirty0, bad);
	EXPECT_EQ(0, bad);
	EXPECT_EQ(0, read_vmstat("page_states_volatile_dirty") - dirty0);
	EXPECT_LT(0, host_discards() - discarded0);
	free(gens);
}

/*
 * Truncation, hole punching and removal race with a host that keeps
 * discarding: what is left of a file is its pattern, a hole reads as
 * zeros, and nothing is poisoned.  The emulated host is kept discarding
 * by a process of ours; the hypervisor behind ESSA drops pages all the
 * time anyway, and each round waits for it once, so that the hole, the
 * truncation and the removal meet pages it dropped.
 */
TEST_F_TIMEOUT(files, truncate_punch_and_unlink_race_discards, 300)
{
	size_t bad = 0, poisoned = 0, size = FILE_SIZE / 4;
	long discarded0 = host_discards();
	int iter, status;
	pid_t host = 0;

	if (!essa()) {
		host = fork();
		ASSERT_LE(0, host);
		if (!host)
			discard_forever();
	}
	for (iter = 0; iter < 12; iter++) {
		int idx = NR_FILES - 1, fd = self->fd[idx];
		size_t hole = (size_t)(iter % 8 + 1) << 16, hole_len = 1 << 16;
		static char buf[1 << 16];
		char path[256];
		size_t off;

		bad += verify_read(fd, idx, FILE_SIZE, &poisoned);
		host_wait(1);
		ASSERT_EQ(0, fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				       hole, hole_len));
		for (off = 0; off < size; off += sizeof(buf)) {
			ASSERT_EQ(sizeof(buf), pread(fd, buf, sizeof(buf), off));
			if (off == hole) {
				size_t i;

				for (i = 0; i < sizeof(buf); i++)
					bad += buf[i] != 0;
			} else {
				bad += mismatches(buf, sizeof(buf), idx, off, &poisoned);
			}
		}
		ASSERT_EQ(0, ftruncate(fd, size));
		ASSERT_EQ(0, pread(fd, buf, sizeof(buf), size));
		/* Remove the file while it is cached, and write it anew. */
		close(fd);
		file_path(path, sizeof(path), idx);
		ASSERT_EQ(0, unlink(path));
		self->fd[idx] = create_file(idx, FILE_SIZE);
		ASSERT_LE(0, self->fd[idx]);
	}
	if (host > 0) {
		kill(host, SIGKILL);
		waitpid(host, &status, 0);
	}
	TH_LOG("races: %ld discards, %zu mismatches, %zu poisoned pages",
	       host_discards() - discarded0, bad, poisoned);
	EXPECT_EQ(0, bad);
	EXPECT_EQ(0, poisoned);
	EXPECT_LT(0, host_discards() - discarded0);
}

/*
 * The census sees the files' pages go volatile, then discarded.  The
 * emulated host marks what it discards in the table.  With ESSA the guest
 * learns of a drop only when a lookup or a discard fault finds it, and
 * discard takes the page off the page cache right away: the census never
 * sees the pages the hypervisor holds dropped.
 */
TEST_F_TIMEOUT(files, census_follows_the_states, 200)
{
	size_t poisoned = 0;
	long resident, zero;
	int i;

	if (essa())
		SKIP(return, "the census cannot see what the hypervisor behind ESSA dropped");

	for (i = 0; i < NR_FILES; i++)
		EXPECT_EQ(0, verify_read(self->fd[i], i, FILE_SIZE, &poisoned));
	resident = census("volatile", "resident") + census("pot_volatile", "resident");
	TH_LOG("census: %ld volatile, %ld unused, %ld stable",
	       resident, census("unused", "resident"), census("stable", "resident"));
	EXPECT_GE(resident, (long)(NR_FILES * FILE_SIZE / 4096 / 2));
	EXPECT_LT(0, census("unused", "resident") + census("unused", "zero"));
	ASSERT_LE(0, pressure(4 * NR_FILES * FILE_MIB));
	zero = census("volatile", "zero");
	TH_LOG("census after pressure: %ld discarded", zero);
	EXPECT_GE(zero, (long)(NR_FILES * FILE_SIZE / 4096 / 2));
	/* Touching the files again takes the discarded pages away. */
	for (i = 0; i < NR_FILES; i++)
		EXPECT_EQ(0, verify_read(self->fd[i], i, FILE_SIZE, &poisoned));
	EXPECT_GT(zero, census("volatile", "zero"));
	EXPECT_EQ(0, poisoned);
}

static int write_knob(const char *name, long value)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%ld\n", value);
	return write_attr(name, buf);
}

/* Pages whose contents the host keeps: neither free nor discarded. */
static long resident_pages(void)
{
	return census("stable", "resident") + census("stable", "preserved") +
	       census("volatile", "resident") + census("pot_volatile", "resident");
}

/*
 * The emulated host's periodic policy holds the resident footprint to a
 * target: with the files' pages volatile, a target below the footprint
 * makes the host discard on its own, and the files still read back
 * intact.  A hypervisor's policy is its own (QEMU's is set over QMP).
 */
TEST_F_TIMEOUT(files, periodic_policy_holds_the_footprint, 200)
{
	long discarded0 = read_vmstat("page_states_discarded");
	long resident, target, after;
	size_t poisoned = 0, bad = 0;
	int i;

	if (essa())
		SKIP(return, "the periodic policy is the emulated host's (host_target_mib)");

	for (i = 0; i < NR_FILES; i++)
		bad += verify_read(self->fd[i], i, FILE_SIZE, &poisoned);
	resident = resident_pages();
	/* 16 MiB less than now: the files' 32 MiB of volatile pages cover it. */
	target = (resident - 4096) / 256;
	ASSERT_EQ(0, write_knob("host_target_mib", target));
	ASSERT_EQ(0, write_knob("host_period_ms", 20));
	for (i = 0; i < 100 && resident_pages() > target * 256; i++)
		usleep(50000);
	ASSERT_EQ(0, write_knob("host_period_ms", 0));
	ASSERT_EQ(0, write_knob("host_target_mib", 0));
	after = resident_pages();
	TH_LOG("periodic: resident %ld -> %ld pages, target %ld MiB, %ld discards",
	       resident, after, target, read_vmstat("page_states_discarded") - discarded0);
	/*
	 * The host's discards brought most of the 16 MiB; what others freed
	 * meanwhile (writeback finishing, the test's own frees) brought the
	 * rest.
	 */
	EXPECT_GE(read_vmstat("page_states_discarded") - discarded0, 2048);
	/* Allow for what the system allocated meanwhile. */
	EXPECT_LE(after, target * 256 + 1024);
	for (i = 0; i < NR_FILES; i++)
		bad += verify_read(self->fd[i], i, FILE_SIZE, &poisoned);
	EXPECT_EQ(0, bad);
	EXPECT_EQ(0, poisoned);
}

/*
 * Re-reading discarded page cache goes through readahead in large I/Os,
 * as a cold read does: discard handling takes the discarded folios after
 * the one a lookup found out of the page cache too, so that readahead
 * finds a hole instead of reading one page per discard.
 */
TEST_F_TIMEOUT(files, rereading_discarded_data_reads_in_large_ios, 200)
{
	unsigned long ios0, cold, refault, sectors;
	size_t bad = 0, poisoned = 0;
	long got, discards0;

	ASSERT_TRUE(disk_reads(disk_dir(), &ios0, &sectors))
		TH_LOG("no I/O statistics for %s", disk_dir());
	/* create_file() dropped the file from the page cache: a cold read. */
	bad += verify_read(self->fd[0], 0, FILE_SIZE, &poisoned);
	ASSERT_TRUE(disk_reads(disk_dir(), &cold, &sectors));
	cold -= ios0;
	/*
	 * With ESSA a second read takes every page back, and does not offer
	 * all of them again: the cold read alone offers every page.
	 */
	if (!essa())
		bad += verify_read(self->fd[0], 0, FILE_SIZE, &poisoned);
	sleep(1);
	got = pressure(4 * NR_FILES * FILE_MIB);
	if (!essa())
		ASSERT_LE((long)(FILE_SIZE / 4096 / 2), got);
	discards0 = host_discards();
	ASSERT_TRUE(disk_reads(disk_dir(), &ios0, &sectors));
	bad += verify_read(self->fd[0], 0, FILE_SIZE, &poisoned);
	ASSERT_TRUE(disk_reads(disk_dir(), &refault, &sectors));
	refault -= ios0;
	/* With ESSA, what the hypervisor dropped shows as the re-read finds it. */
	if (essa()) {
		got = host_discards() - discards0;
		EXPECT_LE((long)(FILE_SIZE / 4096 / 2), got)
			TH_LOG("the hypervisor dropped %ld of the file's pages", got);
	}
	TH_LOG("%d MiB: cold read in %lu I/Os, re-read after %ld discards in %lu I/Os",
	       FILE_MIB, cold, got, refault);
	EXPECT_EQ(0, bad);
	EXPECT_EQ(0, poisoned);
	EXPECT_LT(0, cold);
	EXPECT_LE(refault, 2 * cold + 16);
}

/*
 * One discard takes the whole discarded run after the folio out of the
 * page cache: the task that meets it evicts the first readahead window
 * (32 folios), and a worker the rest of the 2 MiB, while the task reads
 * the start back.  A read of the file's first page, with everything
 * discarded, must see the page_states_refaulted count pass well beyond
 * the task's own window without any other read, then the whole file read
 * back right.  With ESSA the hypervisor drops pages in its own order,
 * which need not include this file's first 2 MiB: the count is logged.
 */
TEST_F_TIMEOUT(files, one_discard_evicts_the_run_after_it, 200)
{
	size_t bad = 0, poisoned = 0;
	long refaulted0, refaulted = 0;
	char page[4096];
	int i;

	bad += verify_read(self->fd[0], 0, FILE_SIZE, &poisoned);
	if (!essa())
		bad += verify_read(self->fd[0], 0, FILE_SIZE, &poisoned);
	sleep(1);
	pressure(4 * NR_FILES * FILE_MIB);
	refaulted0 = read_vmstat("page_states_refaulted");
	ASSERT_EQ(sizeof(page), pread(self->fd[0], page, sizeof(page), 0));
	bad += mismatches(page, sizeof(page), 0, 0, &poisoned);
	/* The worker runs on its own: until the count stops, up to 5 s. */
	for (i = 0; i < 50; i++) {
		long now;

		usleep(100000);
		now = read_vmstat("page_states_refaulted") - refaulted0;
		if (now == refaulted && now > 64)
			break;
		refaulted = now;
	}
	TH_LOG("one read of the first page took %ld discarded folios out", refaulted);
	if (!essa())
		EXPECT_LT(64, refaulted);
	bad += verify_read(self->fd[0], 0, FILE_SIZE, &poisoned);
	EXPECT_EQ(0, bad);
	EXPECT_EQ(0, poisoned);
}

/*
 * The emulated host takes the pages the guest has not used since it last
 * looked, as a host that evicts its least recently used pages does: with
 * the files' pages aged by its periodic policy (a target above the
 * footprint makes each period a look without a discard), a reader that
 * keeps three of the four files in use keeps them, and a request of half
 * of what the fourth has volatile is met from it.  The files are read from the disk
 * 64 KiB of each in turn, so that their pages interleave in memory and a
 * host that takes pages in memory order would take three of four from
 * the files in use; a second read makes them volatile.
 */
TEST_F_TIMEOUT(files, host_takes_the_pages_not_used_lately, 200)
{
	long total_mib = meminfo_kib("MemTotal") / 1024;
	long got, refaulted, in_use_lost, idle_lost, offered, mib;
	size_t bad = 0, poisoned = 0;
	static char chunk[65536];
	size_t off;
	int i;

	if (essa())
		SKIP(return, "QEMU's CMMA host drops volatile pages in memory order");

	/* Without readahead, each read allocates its own 64 KiB. */
	for (i = 0; i < NR_FILES; i++)
		ASSERT_EQ(0, posix_fadvise(self->fd[i], 0, 0, POSIX_FADV_RANDOM));
	for (off = 0; off < FILE_SIZE; off += sizeof(chunk))
		for (i = 0; i < NR_FILES; i++)
			ASSERT_EQ(sizeof(chunk), pread(self->fd[i], chunk, sizeof(chunk), off));
	for (i = 0; i < NR_FILES; i++)
		bad += verify_read(self->fd[i], i, FILE_SIZE, &poisoned);
	/* Not every page read twice is volatile yet: the census says how many. */
	offered = census("volatile", "resident");
	mib = offered / NR_FILES / 2 / 256;
	ASSERT_LE(1, mib) TH_LOG("%ld pages volatile", offered);
	ASSERT_EQ(0, write_knob("host_target_mib", total_mib));
	ASSERT_EQ(0, write_knob("host_period_ms", 20));
	usleep(300000);
	ASSERT_EQ(0, write_knob("host_period_ms", 0));
	ASSERT_EQ(0, write_knob("host_target_mib", 0));

	/* Files 1 to 3 are in use; file 0 was last read before the looks. */
	for (i = 1; i < NR_FILES; i++)
		bad += verify_read(self->fd[i], i, FILE_SIZE, &poisoned);
	got = pressure(mib);

	refaulted = read_vmstat("page_states_refaulted");
	for (i = 1; i < NR_FILES; i++)
		bad += verify_read(self->fd[i], i, FILE_SIZE, &poisoned);
	in_use_lost = read_vmstat("page_states_refaulted") - refaulted;
	refaulted = read_vmstat("page_states_refaulted");
	bad += verify_read(self->fd[0], 0, FILE_SIZE, &poisoned);
	idle_lost = read_vmstat("page_states_refaulted") - refaulted;
	TH_LOG("%ld pages volatile; the host took %ld:", offered, got);
	TH_LOG("%ld of the files in use, %ld of the file not used", in_use_lost, idle_lost);
	EXPECT_EQ(0, bad);
	EXPECT_EQ(0, poisoned);
	/* A folio someone holds at that moment stays: most go. */
	EXPECT_LE(mib * 256 / 2, got);
	EXPECT_EQ(0, in_use_lost);
	/* Other page cache nobody used may have gone first. */
	EXPECT_LE(got / 2, idle_lost);
}

/*
 * The host's looks (each clears the accessed bits of a folio's mappings
 * through a reverse-map walk) and its discards race processes that map,
 * read and unmap the files and exit, each checking every word it reads.
 */
TEST_F_TIMEOUT(files, looks_race_mapping_and_exit, 200)
{
	long total_mib = meminfo_kib("MemTotal") / 1024;
	size_t bad = 0, poisoned = 0;
	pid_t pids[NR_FILES];
	int i, round, status, failed = 0;

	if (essa())
		SKIP(return, "the looks are the emulated host's (host_period_ms)");

	for (i = 0; i < NR_FILES; i++)
		bad += verify_read(self->fd[i], i, FILE_SIZE, &poisoned);
	ASSERT_EQ(0, write_knob("host_target_mib", total_mib));
	ASSERT_EQ(0, write_knob("host_period_ms", 10));
	for (round = 0; round < 8; round++) {
		for (i = 0; i < NR_FILES; i++) {
			pids[i] = fork();
			ASSERT_LE(0, pids[i]);
			if (!pids[i]) {
				size_t none = 0;
				void *p = mmap(NULL, FILE_SIZE, PROT_READ, MAP_SHARED,
					       self->fd[i], 0);

				if (p == MAP_FAILED)
					_exit(2);
				_exit(mismatches(p, FILE_SIZE, i, 0, &none) || none ? 1 : 0);
			}
		}
		ASSERT_LE(0, pressure(FILE_MIB));
		for (i = 0; i < NR_FILES; i++) {
			ASSERT_EQ(pids[i], waitpid(pids[i], &status, 0));
			if (!WIFEXITED(status) || WEXITSTATUS(status))
				failed++;
		}
	}
	ASSERT_EQ(0, write_knob("host_period_ms", 0));
	ASSERT_EQ(0, write_knob("host_target_mib", 0));
	for (i = 0; i < NR_FILES; i++)
		bad += verify_read(self->fd[i], i, FILE_SIZE, &poisoned);
	TH_LOG("looks: %d of %d readers found a wrong word, %zu wrong words after",
	       failed, 8 * NR_FILES, bad);
	EXPECT_EQ(0, failed);
	EXPECT_EQ(0, bad);
	EXPECT_EQ(0, poisoned);
}

/*
 * The pages in a volatile state that the host could take now
 * (/sys/kernel/debug/page_states/takeable), or -1 without the file.
 */
static long takeable_volatile(void)
{
	FILE *f = fopen("/sys/kernel/debug/page_states/takeable", "r");
	char usage[32];
	long n, sum = 0;

	if (!f)
		return -1;
	while (fscanf(f, "%31s %ld", usage, &n) == 2)
		if (strcmp(usage, "unused"))
			sum += n;
	fclose(f);
	return sum;
}

/*
 * The takeable count leaves out what the host may not take: pages written
 * through a shared mapping are dirty (the emulated host's table may still
 * call them volatile; with ESSA the write fault made them stable).  Its
 * readers try-lock folios while the host discards and processes read the
 * files; every word is checked afterwards.
 */
TEST_F_TIMEOUT(files, takeable_leaves_out_written_pages, 200)
{
	size_t bad = 0, poisoned = 0, off;
	long before, written, after;
	int i, status;
	uint64_t *map;
	pid_t reader;

	for (i = 0; i < NR_FILES; i++)
		bad += verify_read(self->fd[i], i, FILE_SIZE, &poisoned);
	before = takeable_volatile();
	ASSERT_LE(0, before) TH_LOG("no /sys/kernel/debug/page_states/takeable");

	map = mmap(NULL, FILE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd[0], 0);
	ASSERT_NE(MAP_FAILED, map);
	/* The same words again: the pages are dirty, their data unchanged. */
	for (off = 0; off < FILE_SIZE; off += 4096)
		map[off / 8] = pattern(0, off);
	written = takeable_volatile();
	TH_LOG("takeable: %ld pages after reading, %ld after writing %zu",
	       before, written, FILE_SIZE / 4096);
	EXPECT_LE((long)(NR_FILES * FILE_SIZE / 4096 / 2), before);
	EXPECT_LE((long)(FILE_SIZE / 4096 * 3 / 4), before - written);

	/* Readers of the file race the host and the processes reading. */
	reader = fork();
	ASSERT_LE(0, reader);
	if (!reader) {
		for (;;)
			if (takeable_volatile() < 0)
				_exit(1);
	}
	for (i = 0; i < 4; i++) {
		int f;

		ASSERT_LE(0, pressure(FILE_MIB));
		for (f = 1; f < NR_FILES; f++)
			bad += verify_read(self->fd[f], f, FILE_SIZE, &poisoned);
	}
	kill(reader, SIGKILL);
	ASSERT_EQ(reader, waitpid(reader, &status, 0));
	EXPECT_TRUE(WIFSIGNALED(status)) TH_LOG("the reader could not read the file");

	EXPECT_EQ(0, msync(map, FILE_SIZE, MS_SYNC));
	EXPECT_EQ(0, munmap(map, FILE_SIZE));
	ASSERT_LE(0, pressure(4 * NR_FILES * FILE_MIB));
	for (i = 0; i < NR_FILES; i++)
		bad += verify_read(self->fd[i], i, FILE_SIZE, &poisoned);
	after = takeable_volatile();
	TH_LOG("%ld takeable after writeback and pressure; %zu wrong words", after, bad);
	EXPECT_EQ(0, bad);
	EXPECT_EQ(0, poisoned);
}

TEST_HARNESS_MAIN
