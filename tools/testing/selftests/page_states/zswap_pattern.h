/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the zswap kselftest (zswap_compaction) and the zpool bench
 * (gph_workload zpool-bench) store in zswap, and the memory around it:
 * pages that compress to about 1.6 KiB, a ballast that makes the buddy
 * allocator hand them out below the memory it later frees, the free
 * blocks of high order that compaction leaves (/proc/buddyinfo), and the
 * high-order allocations that succeed after it.
 */
#ifndef ZSWAP_PATTERN_H
#define ZSWAP_PATTERN_H

#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "page_states_util.h"

#define ZSWAP_PAGE 4096UL
#define ZSWAP_WORDS (ZSWAP_PAGE / 8)

/*
 * The words of a page that do not compress: a header of two words (the
 * page's index and generation, and a checksum of the rest), then random
 * words; the rest of the page is zeros.  1.5 KiB of them compress (lzo)
 * to about 1.55 KiB, and the zeros to a few bytes: two such pages fit in
 * one zbud page of 63 chunks of 64 bytes.
 */
#define ZSWAP_RANDOM_WORDS 192
#define ZSWAP_HEADER_MAGIC 0x7a73770000000000ULL

/* The page contents: a per-page seeded xorshift stream. */
static inline uint64_t zswap_page_seed(size_t index, unsigned int gen)
{
	uint64_t z = index * 0x9E3779B97F4A7C15ULL + gen + 1;

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	z ^= z >> 31;
	return z ? z : 1;
}

static inline uint64_t zswap_xorshift64(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*state = x;
	return x;
}

/* FNV-1a over words. */
static inline uint64_t zswap_checksum(const uint64_t *w, size_t n)
{
	uint64_t sum = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < n; i++)
		sum = (sum ^ w[i]) * 0x100000001b3ULL;
	return sum;
}

static inline uint64_t zswap_page_header(size_t index, unsigned int gen)
{
	return ZSWAP_HEADER_MAGIC | (uint64_t)(gen & 0xff) << 32 | (uint32_t)index;
}

/* Writes generation @gen of page @index (of its area) at @page. */
static inline void zswap_fill_page(char *page, size_t index, unsigned int gen)
{
	uint64_t *w = (uint64_t *)page;
	uint64_t state = zswap_page_seed(index, gen);
	size_t i;

	w[0] = zswap_page_header(index, gen);
	for (i = 2; i < ZSWAP_RANDOM_WORDS; i++)
		w[i] = zswap_xorshift64(&state);
	w[1] = zswap_checksum(w + 2, ZSWAP_RANDOM_WORDS - 2);
	memset(w + ZSWAP_RANDOM_WORDS, 0, (ZSWAP_WORDS - ZSWAP_RANDOM_WORDS) * 8);
}

/*
 * Checks page @index at @page against generation @gen, or against zeros
 * when @gen is negative.  Returns the first wrong word, and what it should
 * hold in @want, or ZSWAP_WORDS if every word is right.
 */
static inline size_t zswap_check_page(const char *page, size_t index, int gen,
				      uint64_t *want)
{
	const uint64_t *w = (const uint64_t *)page;
	uint64_t state;
	size_t i;

	if (gen < 0) {
		*want = 0;
		for (i = 0; i < ZSWAP_WORDS; i++)
			if (w[i])
				return i;
		return ZSWAP_WORDS;
	}
	*want = zswap_page_header(index, gen);
	if (w[0] != *want)
		return 0;
	state = zswap_page_seed(index, gen);
	for (i = 2; i < ZSWAP_RANDOM_WORDS; i++) {
		*want = zswap_xorshift64(&state);
		if (w[i] != *want)
			return i;
	}
	*want = zswap_checksum(w + 2, ZSWAP_RANDOM_WORDS - 2);
	if (w[1] != *want)
		return 1;
	*want = 0;
	for (i = ZSWAP_RANDOM_WORDS; i < ZSWAP_WORDS; i++)
		if (w[i])
			return i;
	return ZSWAP_WORDS;
}

/*
 * The ballast: anonymous memory that fills all free memory but
 * ZSWAP_BALLAST_MARGIN, mapped and written before the area a test fills,
 * with its lowest page frames, as much as the area, freed again at once:
 * the area, and the allocator's pages that reuse its frames as zswap
 * stores it, then come from the bottom of memory (the buddy allocator
 * hands out what was freed last first), whatever order the allocator
 * handed the ballast out in.  Freed before compaction, the ballast leaves
 * free memory above them: compaction migrates from the bottom of a zone
 * into free pages its free scanner finds from the top, and stops where
 * the two scanners meet.
 */
#define ZSWAP_BALLAST_MARGIN (96UL << 20)

/*
 * The largest order of the buddy allocator (MAX_PAGE_ORDER): 10 on s390,
 * whose kernels here have no huge pages, so that a pageblock is a block
 * of that order (4 MiB).
 */
#define ZSWAP_MAX_ORDER 10

/* Pagemap's page frame number of a present page (bits 0-54, bit 63). */
static inline uint64_t zswap_pfn(uint64_t entry)
{
	return entry >> 63 ? entry & ((1ULL << 55) - 1) : 0;
}

/*
 * Reads the pagemap entries of the @pages pages at @buf into a new array,
 * or returns NULL.  Page frame numbers read as 0 without CAP_SYS_ADMIN.
 */
static inline uint64_t *zswap_pagemap(const void *buf, size_t pages)
{
	size_t size = pages * sizeof(uint64_t);
	uint64_t *entries = malloc(size);
	off_t off = (uintptr_t)buf / ZSWAP_PAGE * sizeof(uint64_t);
	int fd = open("/proc/self/pagemap", O_RDONLY);
	bool ok = fd >= 0 && entries && pread(fd, entries, size, off) == (ssize_t)size;

	if (fd >= 0)
		close(fd);
	if (!ok) {
		free(entries);
		return NULL;
	}
	return entries;
}

/* The highest page frame number in @entries, 0 if none shows. */
static inline uint64_t zswap_max_pfn(const uint64_t *entries, size_t pages)
{
	uint64_t max = 0;
	size_t i;

	for (i = 0; entries && i < pages; i++)
		if (zswap_pfn(entries[i]) > max)
			max = zswap_pfn(entries[i]);
	return max;
}

/*
 * Frees (MADV_DONTNEED) the pages at @p whose flag in @drop is set, in
 * runs.
 */
static inline void zswap_drop(char *p, const unsigned char *drop, size_t pages)
{
	size_t run = 0, i;

	for (i = 0; i <= pages; i++) {
		if (i < pages && drop[i]) {
			run++;
			continue;
		}
		if (run)
			madvise(p + (i - run) * ZSWAP_PAGE, run * ZSWAP_PAGE, MADV_DONTNEED);
		run = 0;
	}
}

/*
 * Frees the lowest page frames of the ballast @p of @len bytes, about
 * @bytes of them (whole blocks of 2^ZSWAP_MAX_ORDER frames).  Returns the
 * pages freed; without page frame numbers, frees its last @bytes and
 * returns 0.
 */
static inline size_t zswap_ballast_free_low(char *p, size_t len, size_t bytes)
{
	size_t pages = len / ZSWAP_PAGE, want = bytes / ZSWAP_PAGE, below = 0, i, b;
	uint64_t *entries = zswap_pagemap(p, pages);
	uint64_t max = zswap_max_pfn(entries, pages), limit;
	size_t nblocks = (max >> ZSWAP_MAX_ORDER) + 1;
	size_t *per_block = max ? calloc(nblocks, sizeof(*per_block)) : NULL;
	unsigned char *drop = per_block ? calloc(pages, 1) : NULL;

	if (!drop) {
		free(per_block);
		free(entries);
		if (bytes > len)
			bytes = len;
		bytes &= ~(ZSWAP_PAGE - 1);
		madvise(p + len - bytes, bytes, MADV_DONTNEED);
		return 0;
	}
	for (i = 0; i < pages; i++)
		if (zswap_pfn(entries[i]))
			per_block[zswap_pfn(entries[i]) >> ZSWAP_MAX_ORDER]++;
	for (b = 0; b < nblocks && below < want; b++)
		below += per_block[b];
	limit = (uint64_t)b << ZSWAP_MAX_ORDER;
	for (i = 0; i < pages; i++)
		drop[i] = zswap_pfn(entries[i]) && zswap_pfn(entries[i]) < limit;
	zswap_drop(p, drop, pages);
	free(drop);
	free(per_block);
	free(entries);
	return below;
}

/*
 * Maps and writes the ballast for an area of @area bytes, and frees its
 * lowest frames, as much as the area; its length is stored in @len.
 * Returns NULL when there is no room for one (@len 0) and MAP_FAILED when
 * the mapping fails.
 */
static inline char *zswap_ballast_map(size_t area, size_t *len)
{
	long free_kib = meminfo_kib("MemFree");
	size_t free_bytes = free_kib > 0 ? (size_t)free_kib << 10 : 0, off;
	char *p;

	*len = 0;
	if (free_bytes <= area + ZSWAP_BALLAST_MARGIN)
		return NULL;
	*len = (free_bytes - ZSWAP_BALLAST_MARGIN) & ~(ZSWAP_PAGE - 1);
	p = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return p;
	/* Base pages; EINVAL without CONFIG_TRANSPARENT_HUGEPAGE, as good. */
	madvise(p, *len, MADV_NOHUGEPAGE);
	for (off = 0; off < *len; off += ZSWAP_PAGE)
		p[off] = 1;
	zswap_ballast_free_low(p, *len, area);
	return p;
}

/*
 * Where the present pages of @buf sit in physical memory: their mean
 * physical address in MiB, or -1 when pagemap shows no frame numbers.
 */
static inline long zswap_phys_mib(const void *buf, size_t len)
{
	size_t pages = len / ZSWAP_PAGE, n = 0, i;
	uint64_t *entries = zswap_pagemap(buf, pages);
	double sum = 0;

	for (i = 0; entries && i < pages; i++) {
		if (!zswap_pfn(entries[i]))
			continue;
		sum += zswap_pfn(entries[i]);
		n++;
	}
	free(entries);
	return n ? (long)(sum / n * ZSWAP_PAGE / (1 << 20)) : -1;
}

/*
 * Frees the rest of the ballast but one page in each block of
 * 2^ZSWAP_MAX_ORDER page frames it has pages in.  Compaction's free
 * scanner takes free pages only from pageblocks partly in use: a wholly
 * free pageblock is one free buddy of the highest order, which it skips
 * (suitable_migration_target()), so that a ballast freed whole leaves it
 * nothing to fill above the area but the holes of the area itself, and
 * the scanners meet about halfway through it.  Returns the pages kept, or
 * 0 when the page frame numbers are not visible (then all of it is
 * freed).
 */
static inline size_t zswap_ballast_thin(char *p, size_t len)
{
	size_t pages = len / ZSWAP_PAGE, kept = 0, i;
	uint64_t *entries = zswap_pagemap(p, pages);
	uint64_t max = zswap_max_pfn(entries, pages), pfn;
	unsigned char *seen = max ? calloc((max >> ZSWAP_MAX_ORDER) + 1, 1) : NULL;
	unsigned char *drop = seen ? calloc(pages, 1) : NULL;

	if (!drop) {
		free(seen);
		free(entries);
		madvise(p, len, MADV_DONTNEED);
		return 0;
	}
	for (i = 0; i < pages; i++) {
		pfn = zswap_pfn(entries[i]);
		drop[i] = !pfn || seen[pfn >> ZSWAP_MAX_ORDER];
		if (drop[i])
			continue;
		seen[pfn >> ZSWAP_MAX_ORDER] = 1;
		kept++;
	}
	zswap_drop(p, drop, pages);
	free(drop);
	free(seen);
	free(entries);
	return kept;
}

/*
 * Proactive compaction (kcompactd, every 500 ms) would migrate pages
 * outside the compaction a test measures: the tests turn it off, and put
 * back the value this returns (-1 if there is none).
 */
#define ZSWAP_PROACTIVENESS "/proc/sys/vm/compaction_proactiveness"

static inline int zswap_set_proactiveness(int value)
{
	FILE *f = fopen(ZSWAP_PROACTIVENESS, "r");
	int old = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%d", &old) != 1)
		old = -1;
	fclose(f);
	if (old < 0 || value < 0)
		return old;
	f = fopen(ZSWAP_PROACTIVENESS, "w");
	if (f) {
		fprintf(f, "%d\n", value);
		fclose(f);
	}
	return old;
}

/*
 * Free memory in blocks of high order, from /proc/buddyinfo summed over
 * every zone: blocks of order 4 or more, counted in order-4 blocks (a free
 * block of order k is 2^(k-4) of them), the same for order 8, the free
 * blocks of the highest order, 10, and all free pages.
 */
struct zswap_high_order {
	unsigned long long order4, order8, order10, free;
};

/* Free blocks of order @j or more, in blocks of order @j. */
static inline unsigned long long zswap_blocks(const unsigned long long *count, int j)
{
	unsigned long long sum = 0;
	int k;

	for (k = j; k <= ZSWAP_MAX_ORDER; k++)
		sum += count[k] << (k - j);
	return sum;
}

/* Reads /proc/buddyinfo once into @h; 0 or -1. */
static inline int zswap_buddyinfo(struct zswap_high_order *h)
{
	unsigned long long count[ZSWAP_MAX_ORDER + 1] = {}, n;
	char line[512], *p, *end;
	FILE *f = fopen("/proc/buddyinfo", "r");
	int k;

	if (!f)
		return -1;
	/* "Node 0, zone      DMA      3      5 ...": orders 0 and up. */
	while (fgets(line, sizeof(line), f)) {
		p = strstr(line, "zone");
		if (!p)
			continue;
		p += strlen("zone");
		p += strspn(p, " \t");
		p += strcspn(p, " \t");
		for (k = 0; k <= ZSWAP_MAX_ORDER; k++) {
			n = strtoull(p, &end, 10);
			if (end == p)
				break;
			count[k] += n;
			p = end;
		}
	}
	fclose(f);
	h->order4 = zswap_blocks(count, 4);
	h->order8 = zswap_blocks(count, 8);
	h->order10 = zswap_blocks(count, 10);
	h->free = zswap_blocks(count, 0);
	return 0;
}

/*
 * The same, the most of three readings 100 ms apart: free page reporting
 * takes up to 32 free blocks of the highest order off the free lists while
 * it reports them to the host (virtio-balloon), so that one reading may
 * miss them.  0 or -1.
 */
static inline int zswap_high_order(struct zswap_high_order *h)
{
	struct zswap_high_order now;
	int i;

	memset(h, 0, sizeof(*h));
	for (i = 0; i < 3; i++) {
		if (i)
			usleep(100000);
		if (zswap_buddyinfo(&now))
			return -1;
		if (now.order4 > h->order4)
			h->order4 = now.order4;
		if (now.order8 > h->order8)
			h->order8 = now.order8;
		if (now.order10 > h->order10)
			h->order10 = now.order10;
		if (now.free > h->free)
			h->free = now.free;
	}
	return 0;
}

/* The orders whose allocations the tests count, smallest first. */
#define ZSWAP_PROBED_ORDERS 3
static const unsigned int zswap_probed_orders[ZSWAP_PROBED_ORDERS] = { 4, 8, 10 };

#define ZSWAP_HIGH_ORDER_FILE "/sys/kernel/debug/gph_high_order"

/* Pages reclaim has freed since boot, by kswapd and directly. */
static inline long zswap_reclaimed_pages(void)
{
	return read_vmstat("pgsteal_kswapd") + read_vmstat("pgsteal_direct");
}

/*
 * How many blocks of @order the page allocator hands out now, compacting
 * as a transparent huge page fault does (CONFIG_TEST_GPH_HIGH_ORDER): the
 * file allocates them until one fails, and frees them.  The count, or -1
 * without the file.
 */
static inline long long zswap_allocatable(unsigned int order)
{
	unsigned long long count;
	unsigned int got;
	char line[64];
	FILE *f;

	snprintf(line, sizeof(line), "%u", order);
	if (write_path(ZSWAP_HIGH_ORDER_FILE, line))
		return -1;
	f = fopen(ZSWAP_HIGH_ORDER_FILE, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%u %llu", &got, &count) != 2 || got != order)
		count = -1;
	fclose(f);
	return count;
}

#endif /* ZSWAP_PATTERN_H */
