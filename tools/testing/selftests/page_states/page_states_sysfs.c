// SPDX-License-Identifier: GPL-2.0
/*
 * /sys/kernel/mm/page_states/: the page-state core reports its backend, and
 * the allocator's hooks reach it.
 *
 * GPH_EXPECT_BACKEND, when set, names the backend the machine must have
 * chosen ("none" under QEMU's TCG, which has no ESSA).
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

#define DIR "/sys/kernel/mm/page_states/"
#define WORKLOAD_PAGES 2048UL

static int read_attr(const char *name, char *buf, size_t len)
{
	char path[256];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), DIR "%s", name);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

static unsigned long read_counter(struct __test_metadata *_metadata,
				  const char *name)
{
	char buf[64], *end;
	unsigned long v;

	ASSERT_EQ(0, read_attr(name, buf, sizeof(buf))) TH_LOG("reading %s", name);
	errno = 0;
	v = strtoul(buf, &end, 10);
	ASSERT_EQ(0, errno);
	ASSERT_TRUE(end != buf && *end == '\0') TH_LOG("%s is '%s'", name, buf);
	return v;
}

/* Allocates, touches and frees WORKLOAD_PAGES pages of anonymous memory. */
static void workload(struct __test_metadata *_metadata)
{
	size_t len = WORKLOAD_PAGES * getpagesize();
	unsigned char *p;
	size_t i;

	p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, p);
	for (i = 0; i < len; i += getpagesize())
		p[i] = (unsigned char)(i / getpagesize());
	for (i = 0; i < len; i += getpagesize())
		ASSERT_EQ((unsigned char)(i / getpagesize()), p[i]);
	ASSERT_EQ(0, munmap(p, len));
}

TEST(backend_is_reported)
{
	char backend[64], essa[64];
	const char *expect = getenv("GPH_EXPECT_BACKEND");

	ASSERT_EQ(0, read_attr("backend", backend, sizeof(backend)));
	ASSERT_EQ(0, read_attr("essa_available", essa, sizeof(essa)));
	ASSERT_TRUE(!strcmp(backend, "none") || !strcmp(backend, "essa"))
		TH_LOG("backend is '%s'", backend);
	/* The ESSA backend is active exactly when ESSA is available. */
	ASSERT_STREQ(!strcmp(backend, "essa") ? "1" : "0", essa);
	if (expect)
		ASSERT_STREQ(expect, backend);
}

TEST(hooks_see_allocations_and_frees)
{
	unsigned long alloc0, freed0, alloc1, freed1;

	alloc0 = read_counter(_metadata, "pages_allocated");
	freed0 = read_counter(_metadata, "pages_freed");
	workload(_metadata);
	alloc1 = read_counter(_metadata, "pages_allocated");
	freed1 = read_counter(_metadata, "pages_freed");
	TH_LOG("pages allocated +%lu, freed +%lu", alloc1 - alloc0, freed1 - freed0);
	EXPECT_GE(alloc1 - alloc0, WORKLOAD_PAGES);
	EXPECT_GE(freed1 - freed0, WORKLOAD_PAGES);
}

TEST(hints_follow_the_backend)
{
	char backend[64];
	unsigned long before, hinted;
	bool none;

	ASSERT_EQ(0, read_attr("backend", backend, sizeof(backend)));
	none = !strcmp(backend, "none");
	before = read_counter(_metadata, "pages_hinted");
	workload(_metadata);
	hinted = read_counter(_metadata, "pages_hinted") - before;
	/* No backend hints nothing; a backend hints each page twice. */
	EXPECT_GE(hinted, none ? 0 : 2 * WORKLOAD_PAGES);
	EXPECT_LE(hinted, none ? 0 : ULONG_MAX);
}

TEST(attributes_reject_writes)
{
	static const char * const names[] = {
		"backend", "essa_available", "pages_freed",
		"pages_allocated", "pages_hinted",
	};
	char before[64], after[64], path[256];
	unsigned int i;
	int fd;

	for (i = 0; i < ARRAY_SIZE(names); i++) {
		snprintf(path, sizeof(path), DIR "%s", names[i]);
		ASSERT_EQ(0, read_attr("backend", before, sizeof(before)));
		fd = open(path, O_WRONLY);
		if (fd >= 0) {
			close(fd);
			ASSERT_LT(fd, 0) TH_LOG("%s opened for writing", names[i]);
		}
		EXPECT_EQ(EACCES, errno) TH_LOG("%s: %s", names[i], strerror(errno));
		ASSERT_EQ(0, read_attr("backend", after, sizeof(after)));
		EXPECT_STREQ(before, after);
	}
}

TEST_HARNESS_MAIN
