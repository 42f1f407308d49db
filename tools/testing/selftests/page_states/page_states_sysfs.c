// SPDX-License-Identifier: GPL-2.0
/*
 * /sys/kernel/mm/page_states/: the page-state core reports its mode and
 * backend, its knobs refuse bad input without changing anything, its
 * counters in /proc/vmstat count what happens, and the allocator's hooks reach it (the
 * debugfs census).  The allocator's timing for the hot-path benchmark
 * (/sys/kernel/debug/gph_alloc_timing) times every order.
 *
 * GPH_EXPECT_BACKEND and GPH_EXPECT_MODE, when set, name the backend the
 * machine must have chosen ("emulated" under QEMU's TCG, which has no
 * ESSA) and the mode the kernel was booted with.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../kselftest_harness.h"
#include "page_states_util.h"

#define WORKLOAD_PAGES 2048UL

/* Maps and touches WORKLOAD_PAGES pages of anonymous memory. */
static unsigned char *workload_map(struct __test_metadata *_metadata)
{
	size_t len = WORKLOAD_PAGES * getpagesize();
	unsigned char *p;
	size_t i;

	p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	for (i = 0; i < len; i += getpagesize())
		p[i] = (unsigned char)(i / getpagesize());
	return p;
}

/* Checks and unmaps what workload_map() mapped. */
static void workload_unmap(struct __test_metadata *_metadata, unsigned char *p)
{
	size_t len = WORKLOAD_PAGES * getpagesize();
	size_t i;

	for (i = 0; i < len; i += getpagesize())
		ASSERT_EQ((unsigned char)(i / getpagesize()), p[i]);
	ASSERT_EQ(0, munmap(p, len));
}

TEST(mode_and_backend_are_reported)
{
	char backend[64], essa[64], mode[64];
	const char *expect = getenv("GPH_EXPECT_BACKEND");
	const char *expect_mode = getenv("GPH_EXPECT_MODE");

	ASSERT_EQ(0, read_attr("backend", backend, sizeof(backend)));
	ASSERT_EQ(0, read_attr("essa_available", essa, sizeof(essa)));
	ASSERT_EQ(0, read_attr("mode", mode, sizeof(mode)));
	ASSERT_TRUE(!strcmp(backend, "emulated") || !strcmp(backend, "essa"))
		TH_LOG("backend is '%s'", backend);
	ASSERT_TRUE(!strcmp(mode, "off") || !strcmp(mode, "unused") ||
		    !strcmp(mode, "volatile"))
		TH_LOG("mode is '%s'", mode);
	/* The ESSA backend is active exactly when ESSA is available. */
	ASSERT_STREQ(!strcmp(backend, "essa") ? "1" : "0", essa);
	if (expect && *expect)
		ASSERT_STREQ(expect, backend);
	if (expect_mode && *expect_mode)
		ASSERT_STREQ(expect_mode, mode);
}

/* The five page_states_* counters of /proc/vmstat, in one snapshot. */
enum { VOLATILE, STABLE, DISCARDED, REFAULTED, STABLE_FAILED, NR_COUNTERS };

static void read_counters(struct __test_metadata *_metadata, long *c)
{
	static const char * const names[NR_COUNTERS] = {
		"page_states_volatile", "page_states_stable",
		"page_states_discarded", "page_states_refaulted",
		"page_states_stable_failed",
	};
	int i;

	for (i = 0; i < NR_COUNTERS; i++) {
		c[i] = read_vmstat(names[i]);
		ASSERT_LE(0, c[i]) TH_LOG("%s is missing", names[i]);
	}
}

#define FILE_PAGES 512UL

/* Reads the file at @fd and checks every byte of the pattern. */
static void read_and_check(struct __test_metadata *_metadata, int fd)
{
	static unsigned char buf[FILE_PAGES * 4096];
	size_t len = FILE_PAGES * getpagesize(), i;

	ASSERT_EQ((ssize_t)len, pread(fd, buf, len, 0));
	for (i = 0; i < len; i++)
		ASSERT_EQ((unsigned char)(i * 7 + i / 4096), buf[i]);
}

/*
 * The counters move by what the test makes happen: reading a file makes
 * its idle page cache volatile, the emulated host's discard is counted
 * page for page, and re-reading the file takes its discarded pages off
 * the page cache (refaulted), after a lookup that could not make one
 * stable (stable_failed).  Without page_states=volatile none moves.
 * page_states_stable counts ESSA transitions only (the emulated host
 * leaves a volatile page volatile while it is used): with ESSA the second
 * read takes every page back, or finds that the hypervisor dropped it.
 * The hypervisor behind ESSA discards on its own schedule, and tells the
 * guest nothing: page_states_discarded does not count its drops, the
 * lookups that find them do.
 */
TEST(vmstat_counters_follow_the_work)
{
	const char *dir = disk_dir();
	size_t len = FILE_PAGES * getpagesize(), i;
	long c0[NR_COUNTERS], c1[NR_COUNTERS], c2[NR_COUNTERS];
	char path[256], mode[64], backend[64], buf[32];
	unsigned char *data;
	long discarded;
	int fd;

	ASSERT_EQ(0, read_attr("mode", mode, sizeof(mode)));
	ASSERT_EQ(0, read_attr("backend", backend, sizeof(backend)));
	snprintf(path, sizeof(path), "%s/vmstat_counters", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		SKIP(return, "no disk at %s", dir);
	unlink(path);
	data = malloc(len);
	ASSERT_NE(NULL, data);
	for (i = 0; i < len; i++)
		data[i] = (unsigned char)(i * 7 + i / 4096);
	ASSERT_EQ((ssize_t)len, pwrite(fd, data, len, 0));
	free(data);
	ASSERT_EQ(0, fsync(fd));
	ASSERT_EQ(0, posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED));

	read_counters(_metadata, c0);
	read_and_check(_metadata, fd);
	read_and_check(_metadata, fd);
	sleep(1);
	read_counters(_metadata, c1);
	if (strcmp(mode, "volatile")) {
		for (i = 0; i < NR_COUNTERS; i++)
			EXPECT_EQ(c0[i], c1[i]) TH_LOG("counter %zu moved", i);
		close(fd);
		return;
	}
	EXPECT_LE(c0[VOLATILE] + (long)FILE_PAGES / 2, c1[VOLATILE])
		TH_LOG("%ld pages went volatile", c1[VOLATILE] - c0[VOLATILE]);
	if (gph_host() == GPH_HOST_ESSA) {
		EXPECT_LE(c0[STABLE] + c0[STABLE_FAILED] + (long)FILE_PAGES / 2,
			  c1[STABLE] + c1[STABLE_FAILED])
			TH_LOG("%ld pages taken back, %ld found dropped",
			       c1[STABLE] - c0[STABLE],
			       c1[STABLE_FAILED] - c0[STABLE_FAILED]);
		/*
		 * The hypervisor drops the file's pages, and a read finds
		 * that.  The second read took the pages back and did not
		 * offer every one again: read the file cold, which does.
		 */
		ASSERT_EQ(0, posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED));
		read_and_check(_metadata, fd);
		ASSERT_EQ(0, host_take(0));
		read_counters(_metadata, c2);
		read_and_check(_metadata, fd);
		read_counters(_metadata, c1);
		EXPECT_LE(c2[REFAULTED] + (long)FILE_PAGES / 2, c1[REFAULTED])
			TH_LOG("%ld dropped pages taken off the cache",
			       c1[REFAULTED] - c2[REFAULTED]);
		EXPECT_LE(c2[STABLE_FAILED] + (long)FILE_PAGES / 2, c1[STABLE_FAILED])
			TH_LOG("%ld lookups found a dropped page",
			       c1[STABLE_FAILED] - c2[STABLE_FAILED]);
		close(fd);
		return;
	}
	if (strcmp(backend, "emulated")) {
		close(fd);
		SKIP(return, "only the emulated host discards on request");
	}
	/* Everything volatile goes, the file's pages among it. */
	snprintf(buf, sizeof(buf), "%ld",
		 sysconf(_SC_PHYS_PAGES) * getpagesize() >> 20);
	ASSERT_EQ(0, write_attr("host_discard_mib", buf));
	ASSERT_EQ(0, read_attr("host_discard_mib", buf, sizeof(buf)));
	discarded = strtol(buf, NULL, 10);
	read_counters(_metadata, c2);
	EXPECT_LE((long)FILE_PAGES / 2, discarded);
	EXPECT_EQ(c1[DISCARDED] + discarded, c2[DISCARDED]);
	read_and_check(_metadata, fd);
	read_counters(_metadata, c1);
	EXPECT_LE(c2[REFAULTED] + (long)FILE_PAGES / 2, c1[REFAULTED])
		TH_LOG("%ld discarded pages taken off the cache",
		       c1[REFAULTED] - c2[REFAULTED]);
	EXPECT_LT(c2[STABLE_FAILED], c1[STABLE_FAILED]);
	close(fd);
}

/*
 * The allocator's hooks reach the core: the census counts the workload's
 * pages stable while they are mapped, and unused once they are freed.
 * Other tasks allocate and free a little meanwhile: a quarter of slack.
 */
TEST(census_follows_allocations_and_frees)
{
	long stable0, stable1, unused1, unused2;
	unsigned char *p;
	char mode[64];

	ASSERT_EQ(0, read_attr("mode", mode, sizeof(mode)));
	if (!strcmp(mode, "off")) {
		EXPECT_EQ(-1, census("stable", NULL));
		SKIP(return, "page_states=off keeps no states");
	}
	stable0 = census("stable", NULL);
	ASSERT_LE(0, stable0) TH_LOG("no census in %s", CENSUS);
	p = workload_map(_metadata);
	ASSERT_NE(NULL, p);
	stable1 = census("stable", NULL);
	unused1 = census("unused", NULL);
	workload_unmap(_metadata, p);
	unused2 = census("unused", NULL);
	TH_LOG("%lu pages: stable +%ld while mapped, unused +%ld once freed",
	       WORKLOAD_PAGES, stable1 - stable0, unused2 - unused1);
	EXPECT_GE(stable1 - stable0, (long)(WORKLOAD_PAGES * 3 / 4));
	EXPECT_GE(unused2 - unused1, (long)(WORKLOAD_PAGES * 3 / 4));
}

/*
 * Reads /sys/kernel/debug/gph_alloc_timing; returns how many orders, from
 * 0 up, it timed in order with a positive figure, or -1 without the file.
 */
static int alloc_timing_orders(void)
{
	FILE *f = fopen("/sys/kernel/debug/gph_alloc_timing", "r");
	unsigned int order;
	long long ns;
	int orders = 0;

	if (!f)
		return -1;
	while (fscanf(f, "%u %lld", &order, &ns) == 2 && order == orders && ns > 0)
		orders++;
	fclose(f);
	return orders;
}

/*
 * The page allocator's timing for the hot-path benchmark
 * (CONFIG_TEST_GPH_ALLOC_TIMING) times every order, with a second reader
 * allocating and freeing at the same time, and gives back what it took.
 */
TEST(alloc_timing_times_every_order)
{
	long free_before, free_after;
	int status, orders;
	pid_t other;

	free_before = meminfo_kib("MemFree");
	other = fork();
	ASSERT_LE(0, other);
	if (!other)
		_exit(alloc_timing_orders() == 11 ? 0 : 1);
	orders = alloc_timing_orders();
	ASSERT_EQ(other, waitpid(other, &status, 0));
	free_after = meminfo_kib("MemFree");
	TH_LOG("orders timed: %d; MemFree %ld KiB before, %ld after", orders,
	       free_before, free_after);
	ASSERT_LE(0, orders) TH_LOG("no /sys/kernel/debug/gph_alloc_timing");
	/* s390's MAX_PAGE_ORDER is 10. */
	EXPECT_EQ(11, orders);
	EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status));
	/*
	 * The per-CPU lists may keep some of it (blocks of up to order 3, and
	 * of the page block order); a driver that kept its blocks would
	 * hold about 75 MiB.
	 */
	EXPECT_LE(free_before - 16384, free_after);
}

TEST(read_only_attributes_reject_writes)
{
	static const char * const names[] = {
		"mode", "backend", "essa_available", "host_reported",
	};
	char before[64], after[64];
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(names); i++) {
		ASSERT_EQ(0, read_attr(names[i], before, sizeof(before)));
		EXPECT_EQ(-EACCES, write_attr(names[i], "volatile\n"))
			TH_LOG("%s took a write", names[i]);
		ASSERT_EQ(0, read_attr(names[i], after, sizeof(after)));
		EXPECT_STREQ(before, after);
	}
}

/*
 * Whether the emulated host's knobs apply: the host is emulated and the
 * core keeps states (not page_states=off).  Elsewhere every write to them
 * fails with EOPNOTSUPP.
 */
static bool host_knobs(void)
{
	char mode[64], backend[64];

	return !read_attr("mode", mode, sizeof(mode)) &&
	       !read_attr("backend", backend, sizeof(backend)) &&
	       strcmp(mode, "off") && !strcmp(backend, "emulated");
}

TEST(knobs_reject_bad_input)
{
	static const char * const knobs[] = {
		"host_discard_mib", "host_target_mib", "host_period_ms",
	};
	static const char * const bad[] = {
		"\n", "abc", "-1", "12abc", "1.5", "0x10",
		"99999999999999999999999", "18446744073709551615",
	};
	char before[64], after[64];
	bool host = host_knobs();
	unsigned int i, j;

	for (i = 0; i < ARRAY_SIZE(knobs); i++) {
		ASSERT_EQ(0, read_attr(knobs[i], before, sizeof(before)));
		for (j = 0; j < ARRAY_SIZE(bad); j++) {
			int err = write_attr(knobs[i], bad[j]);

			/* ERANGE for a number too large for 64 bits. */
			if (host) {
				EXPECT_TRUE(err == -EINVAL || err == -ERANGE)
					TH_LOG("%s <- '%s': %s", knobs[i], bad[j],
					       strerror(-err));
			} else {
				EXPECT_EQ(-EOPNOTSUPP, err);
			}
			ASSERT_EQ(0, read_attr(knobs[i], after, sizeof(after)));
			EXPECT_STREQ(before, after) TH_LOG("%s changed", knobs[i]);
		}
	}
	/* A period must be 0 (off) or at least 10 ms. */
	ASSERT_EQ(0, read_attr("host_period_ms", before, sizeof(before)));
	EXPECT_EQ(host ? -EINVAL : -EOPNOTSUPP, write_attr("host_period_ms", "5"));
	EXPECT_EQ(host ? -EINVAL : -EOPNOTSUPP, write_attr("host_period_ms", "60001"));
	ASSERT_EQ(0, read_attr("host_period_ms", after, sizeof(after)));
	EXPECT_STREQ(before, after);
}

TEST(knobs_take_good_input)
{
	char value[64];

	if (!host_knobs()) {
		/* Good input changes nothing where there is no host either. */
		EXPECT_EQ(-EOPNOTSUPP, write_attr("host_target_mib", "512\n"));
		ASSERT_EQ(0, read_attr("host_target_mib", value, sizeof(value)));
		EXPECT_STREQ("0", value);
		EXPECT_EQ(-EOPNOTSUPP, write_attr("host_period_ms", "100"));
		ASSERT_EQ(0, read_attr("host_period_ms", value, sizeof(value)));
		EXPECT_STREQ("0", value);
		return;
	}
	ASSERT_EQ(0, write_attr("host_target_mib", "512\n"));
	ASSERT_EQ(0, read_attr("host_target_mib", value, sizeof(value)));
	EXPECT_STREQ("512", value);
	ASSERT_EQ(0, write_attr("host_period_ms", "100"));
	ASSERT_EQ(0, read_attr("host_period_ms", value, sizeof(value)));
	EXPECT_STREQ("100", value);
	ASSERT_EQ(0, write_attr("host_period_ms", "0"));
	ASSERT_EQ(0, write_attr("host_target_mib", "0"));
	ASSERT_EQ(0, write_attr("host_discard_mib", "0"));
	ASSERT_EQ(0, read_attr("host_discard_mib", value, sizeof(value)));
	EXPECT_STREQ("0", value);
}

TEST_HARNESS_MAIN
