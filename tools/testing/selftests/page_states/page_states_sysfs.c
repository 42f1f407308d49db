// SPDX-License-Identifier: GPL-2.0
/*
 * /sys/kernel/mm/page_states/: the page-state core reports its mode and
 * backend, its knobs refuse bad input without changing anything, its
 * counters are in /proc/vmstat, and the allocator's hooks reach it (the
 * debugfs census).
 *
 * GPH_EXPECT_BACKEND and GPH_EXPECT_MODE, when set, name the backend the
 * machine must have chosen ("emulated" under QEMU's TCG, which has no
 * ESSA) and the mode the kernel was booted with.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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

TEST(vmstat_has_the_counters)
{
	static const char * const names[] = {
		"page_states_volatile", "page_states_stable",
		"page_states_discarded", "page_states_refaulted",
		"page_states_stable_failed",
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(names); i++)
		EXPECT_LE(0, read_vmstat(names[i])) TH_LOG("%s is missing", names[i]);
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
	unsigned int i, j;

	for (i = 0; i < ARRAY_SIZE(knobs); i++) {
		ASSERT_EQ(0, read_attr(knobs[i], before, sizeof(before)));
		for (j = 0; j < ARRAY_SIZE(bad); j++) {
			int err = write_attr(knobs[i], bad[j]);

			/* ERANGE for a number too large for 64 bits. */
			EXPECT_TRUE(err == -EINVAL || err == -ERANGE)
				TH_LOG("%s <- '%s': %s", knobs[i], bad[j], strerror(-err));
			ASSERT_EQ(0, read_attr(knobs[i], after, sizeof(after)));
			EXPECT_STREQ(before, after) TH_LOG("%s changed", knobs[i]);
		}
	}
	/* A period must be 0 (off) or at least 10 ms. */
	ASSERT_EQ(0, read_attr("host_period_ms", before, sizeof(before)));
	EXPECT_EQ(-EINVAL, write_attr("host_period_ms", "5"));
	EXPECT_EQ(-EINVAL, write_attr("host_period_ms", "60001"));
	ASSERT_EQ(0, read_attr("host_period_ms", after, sizeof(after)));
	EXPECT_STREQ(before, after);
}

TEST(knobs_take_good_input)
{
	char value[64];

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
