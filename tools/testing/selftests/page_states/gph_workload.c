// SPDX-License-Identifier: GPL-2.0
/*
 * The workloads of `make run` and `make bench` (not a test):
 *
 *   gph_workload write DIR MIB   write MIB MiB of files into DIR, sync them
 *                                and drop them from the page cache
 *   gph_workload read DIR        read them back, check every byte, and
 *                                print the time it took, the system time,
 *                                and the read I/Os of the files' disk
 *   gph_workload hotpath DIR     time anonymous faults, file faults,
 *                                cached read(), write faults on a shared
 *                                file mapping, swap-ins from the swap
 *                                cache, buffered writes of new pages,
 *                                cached read() of pages with buffer heads,
 *                                and allocations and frees of every order
 *                                (P2 of make bench)
 *   gph_workload coverage        volatile coverage against the ideal, free
 *                                memory plus clean page cache, counting
 *                                the census's states, then only the pages
 *                                the host could take now (P3)
 *   gph_workload swap-coverage   the share of clean swap cache the host
 *                                takes (P3 for swap)
 *   gph_workload swap-hold MIB FLAG
 *                                push MIB MiB of anonymous memory to swap,
 *                                read it back into the swap cache, create
 *                                FLAG, and hold it until SIGUSR1; then check
 *                                every word (P1 for swap)
 *   gph_workload cpu-cost SECS FILE TEXT
 *                                the guest CPU time that writing TEXT to
 *                                FILE costs in the SECS seconds from the
 *                                write, beyond an idle SECS before it
 *   gph_workload working-set DIR SECS STOP
 *                                read DIR's files (as written by write),
 *                                checking every byte, every 200 ms until
 *                                STOP exists; then print the pass time
 *                                in the SECS before cpu-cost's request
 *                                and in the SECS after it
 *   gph_workload zpool-bench     zswap on each zpool allocator: store and
 *                                load throughput, memory per stored page,
 *                                and what compaction makes of the pool
 *                                (P4)
 *
 * Each prints "GPH-RESULT key value" lines for the host to collect.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <signal.h>
#include <sched.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "page_states_util.h"
#include "zswap_pattern.h"

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

#define FILE_MIB 8
#define CHUNK 65536
#define HOT_MIB 16
#define HOT_REPS 7
#define SWAP_MIB 32
#define ZPOOL_MIB 64

#define ZSWAP_PARAM "/sys/module/zswap/parameters/"
#define ZSWAP_DEBUG "/sys/kernel/debug/zswap/"
#define ZBUD_RS_DEBUG "/sys/kernel/debug/zbud_rs/"

static uint64_t pattern(int idx, size_t off)
{
	return ((uint64_t)(idx + 1) << 56) ^ ((off / 8) * 0x9E3779B97F4A7C15ULL);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void die(const char *what)
{
	fprintf(stderr, "gph_workload: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int write_files(const char *dir, int mib)
{
	static uint64_t buf[CHUNK / 8];
	char path[256];
	int idx, fd;
	size_t off, i;

	for (idx = 0; idx < mib / FILE_MIB; idx++) {
		snprintf(path, sizeof(path), "%s/data.%d", dir, idx);
		fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
		if (fd < 0)
			die(path);
		for (off = 0; off < (size_t)FILE_MIB << 20; off += CHUNK) {
			for (i = 0; i < CHUNK / 8; i++)
				buf[i] = pattern(idx, off + i * 8);
			if (write(fd, buf, CHUNK) != CHUNK)
				die("write");
		}
		/* Written folios carry buffer heads; re-read ones do not. */
		if (fsync(fd) || posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED))
			die("fsync");
		close(fd);
	}
	printf("GPH-RESULT written_mib %d\n", mib / FILE_MIB * FILE_MIB);
	return 0;
}

static double sys_ms(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_stime.tv_sec * 1e3 + ru.ru_stime.tv_usec / 1e3;
}

/*
 * Reads every file write_files() wrote into @dir; returns the words that
 * did not hold their pattern, and the MiB read in @mib.
 */
static size_t check_files(const char *dir, size_t *mib)
{
	static uint64_t buf[CHUNK / 8];
	size_t off, i, bad = 0;
	char path[256];
	int idx, fd;

	*mib = 0;
	for (idx = 0;; idx++) {
		snprintf(path, sizeof(path), "%s/data.%d", dir, idx);
		fd = open(path, O_RDONLY);
		if (fd < 0)
			break;
		for (off = 0; off < (size_t)FILE_MIB << 20; off += CHUNK) {
			if (pread(fd, buf, CHUNK, off) != CHUNK)
				die("read");
			for (i = 0; i < CHUNK / 8; i++)
				bad += buf[i] != pattern(idx, off + i * 8);
		}
		close(fd);
		*mib += FILE_MIB;
	}
	return bad;
}

static int read_files(const char *dir)
{
	unsigned long ios0, sectors0, ios1, sectors1;
	bool io = disk_reads(dir, &ios0, &sectors0);
	double start = now_ms(), sys = sys_ms();
	size_t mib, bad = check_files(dir, &mib);

	printf("GPH-RESULT read_mib %zu\n", mib);
	printf("GPH-RESULT read_ms %.0f\n", now_ms() - start);
	printf("GPH-RESULT sys_ms %.0f\n", sys_ms() - sys);
	if (io && disk_reads(dir, &ios1, &sectors1)) {
		printf("GPH-RESULT read_ios %lu\n", ios1 - ios0);
		printf("GPH-RESULT read_kib %lu\n", (sectors1 - sectors0) / 2);
	}
	printf("GPH-RESULT mismatches %zu\n", bad);
	return bad ? 1 : 0;
}

/* Nanoseconds per page of @fn, the best of HOT_REPS runs. */
static double best_ns(void (*fn)(int fd, char *buf), int fd, char *buf, size_t pages)
{
	double best = 1e30;
	int rep;

	for (rep = 0; rep < HOT_REPS; rep++) {
		double start = now_ms(), ns;

		fn(fd, buf);
		ns = (now_ms() - start) * 1e6 / pages;
		if (ns < best)
			best = ns;
	}
	return best;
}

static void anon_faults(int fd, char *buf)
{
	size_t len = (size_t)HOT_MIB << 20, i;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap");
	for (i = 0; i < len; i += 4096)
		p[i] = 1;
	munmap(p, len);
}

static void file_faults(int fd, char *buf)
{
	size_t len = (size_t)HOT_MIB << 20, i;
	char *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	char sum = 0;

	if (p == MAP_FAILED)
		die("mmap");
	/* The asm keeps the compiler from eliding the loads. */
	for (i = 0; i < len; i += 4096) {
		sum += p[i];
		asm volatile("" : "+r" (sum));
	}
	munmap(p, len);
	buf[0] = sum;
}

static void cached_reads(int fd, char *buf)
{
	size_t off;

	for (off = 0; off < (size_t)HOT_MIB << 20; off += 4096)
		if (pread(fd, buf, 4096, off) != 4096)
			die("pread");
}

/*
 * Nanoseconds per page of buffered writes that fill new page cache, the
 * best of HOT_REPS runs: dirty folios, which never go volatile.  Each run
 * truncates the file first, which drops the last run's pages unwritten.
 */
static double dirty_write_ns(int fd, char *buf, size_t pages)
{
	double best = 1e30;
	int rep;
	size_t i;

	for (rep = 0; rep < HOT_REPS; rep++) {
		double start, ns;

		if (ftruncate(fd, 0))
			die("ftruncate");
		start = now_ms();
		for (i = 0; i < pages; i++)
			if (pwrite(fd, buf, 4096, (off_t)i << 12) != 4096)
				die("pwrite");
		ns = (now_ms() - start) * 1e6 / pages;
		if (ns < best)
			best = ns;
	}
	return best;
}

/*
 * Prints the page allocator's time for a block of each order, allocated
 * and freed (/sys/kernel/debug/gph_alloc_timing, CONFIG_TEST_GPH_ALLOC_TIMING),
 * as alloc_free_order<N>_ns.  Prints nothing without the file.
 */
static void alloc_free_ns(void)
{
	FILE *f = fopen("/sys/kernel/debug/gph_alloc_timing", "r");
	unsigned int order;
	char ns[32];

	if (!f)
		return;
	while (fscanf(f, "%u %31s", &order, ns) == 2) {
		if (!strcmp(ns, "failed"))
			die("gph_alloc_timing: an allocation failed");
		printf("GPH-RESULT alloc_free_order%u_ns %s\n", order, ns);
	}
	fclose(f);
}

/*
 * Nanoseconds per page of the first write to a clean page of a shared
 * file mapping (wp_page_shared() and ext4's page_mkwrite), the best of
 * HOT_REPS runs.  Each run writes the last one's pages back first and maps
 * the file anew, read-only in the page tables until the writes fault.
 */
static double write_fault_ns(int fd, size_t pages)
{
	size_t len = pages << 12, i;
	double best = 1e30;
	int rep;

	for (rep = 0; rep < HOT_REPS; rep++) {
		char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		double start, ns;

		if (p == MAP_FAILED || fsync(fd) || madvise(p, len, MADV_POPULATE_READ))
			die("write faults");
		start = now_ms();
		for (i = 0; i < len; i += 4096)
			p[i] = 0x5a;
		ns = (now_ms() - start) * 1e6 / pages;
		if (ns < best)
			best = ns;
		munmap(p, len);
	}
	return best;
}

/* Whether every page of @p is a swap entry in the page tables. */
static bool all_swapped(const char *p, size_t pages)
{
	uint64_t entry;
	size_t i;
	int fd = open("/proc/self/pagemap", O_RDONLY);
	bool all = fd >= 0;

	for (i = 0; all && i < pages; i++)
		all = pread(fd, &entry, sizeof(entry), ((uintptr_t)p / 4096 + i) * 8) ==
			sizeof(entry) && (entry >> 62 & 1);
	if (fd >= 0)
		close(fd);
	return all;
}

/* Whether every page of @p is in memory (here: in the swap cache). */
static bool all_resident(char *p, size_t pages, unsigned char *vec)
{
	size_t i;

	if (mincore(p, pages << 12, vec))
		return false;
	for (i = 0; i < pages; i++)
		if (!(vec[i] & 1))
			return false;
	return true;
}

/* Pushes the @pages pages at @p to swap, or dies. */
static void page_out(char *p, size_t pages)
{
	int tries;

	for (tries = 0; tries < 20 && !all_swapped(p, pages); tries++)
		if (madvise(p, pages << 12, MADV_PAGEOUT))
			die("MADV_PAGEOUT (is swap on?)");
	if (!all_swapped(p, pages))
		die("MADV_PAGEOUT left pages in memory");
}

/*
 * Nanoseconds per page of a read fault on anonymous memory in the swap
 * cache (do_swap_page() without I/O), the best of HOT_REPS runs.  Each
 * run pushes HOT_MIB MiB to swap (MADV_PAGEOUT) and reads it back into the
 * swap cache (MADV_WILLNEED) before it times the faults.
 */
static double swap_fault_ns(size_t pages)
{
	size_t len = pages << 12, i;
	unsigned char *vec = malloc(pages);
	double best = 1e30;
	int rep, tries;

	if (!vec)
		die("malloc");
	for (rep = 0; rep < HOT_REPS; rep++) {
		char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		double start, ns;
		char sum = 0;

		if (p == MAP_FAILED)
			die("mmap");
		memset(p, 0x5a, len);
		page_out(p, pages);
		madvise(p, len, MADV_WILLNEED);
		for (tries = 0; tries < 1000 && !all_resident(p, pages, vec); tries++)
			usleep(10000);
		start = now_ms();
		for (i = 0; i < len; i += 4096) {
			sum += p[i];
			asm volatile("" : "+r" (sum));
		}
		ns = (now_ms() - start) * 1e6 / pages;
		if (sum != (char)(0x5a * pages))
			die("swap-in read wrong data");
		if (ns < best)
			best = ns;
		munmap(p, len);
	}
	free(vec);
	return best;
}

static int hotpath(const char *dir)
{
	static char buf[4096];
	size_t pages = (size_t)HOT_MIB << 20 >> 12;
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/hot", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)HOT_MIB << 20))
		die(path);
	/* Written, dropped and read back: clean page cache, as in use. */
	memset(buf, 0x5a, sizeof(buf));
	for (size_t off = 0; off < (size_t)HOT_MIB << 20; off += 4096)
		if (pwrite(fd, buf, 4096, off) != 4096)
			die("pwrite");
	if (fsync(fd) || posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED))
		die("fsync");
	cached_reads(fd, buf);
	printf("GPH-RESULT anon_fault_ns %.1f\n", best_ns(anon_faults, fd, buf, pages));
	printf("GPH-RESULT file_fault_ns %.1f\n", best_ns(file_faults, fd, buf, pages));
	printf("GPH-RESULT cached_read_ns %.1f\n", best_ns(cached_reads, fd, buf, pages));
	printf("GPH-RESULT write_fault_ns %.1f\n", write_fault_ns(fd, pages));
	printf("GPH-RESULT swap_fault_ns %.1f\n", swap_fault_ns(pages));
	close(fd);
	unlink(path);

	/*
	 * Folios that never go volatile: dirty page cache, and clean page
	 * cache with buffer heads, which ext4 attaches when it writes a page
	 * and keeps after writeback.
	 */
	snprintf(path, sizeof(path), "%s/written", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		die(path);
	printf("GPH-RESULT dirty_write_ns %.1f\n", dirty_write_ns(fd, buf, pages));
	if (fsync(fd))
		die("fsync");
	printf("GPH-RESULT buffer_head_read_ns %.1f\n", best_ns(cached_reads, fd, buf, pages));
	close(fd);
	unlink(path);
	alloc_free_ns();
	return 0;
}

/*
 * P3 for swap: SWAP_MIB MiB of anonymous memory goes to swap and comes
 * back into the swap cache, half unmapped (MADV_WILLNEED) and half mapped
 * by read faults.  Once it settled, the host is asked to take every page
 * it may: the share of the clean swap cache it took is what a host could
 * reclaim.  The emulated host counts what it discarded.  The ESSA host
 * (QEMU, asked by host/demo.py when it sees GPH-HOST-RECLAIM) drops pages
 * without the guest; the guest learns of each dropped page when it reads
 * it back, which reads it from swap again.  The memory is checked
 * afterwards.  Prints nothing without the core.
 */
static int report_swap_coverage(void)
{
	size_t pages = (size_t)SWAP_MIB << 8, len = pages << 12, i;
	long cached, taken0, taken;
	unsigned char *vec = malloc(pages);
	char backend[32], all[32], sum = 0, *p;
	bool essa;
	int tries;

	if (read_attr("backend", backend, sizeof(backend)))
		return 0;
	essa = !strcmp(backend, "essa");
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED || !vec)
		die("mmap");
	memset(p, 0x5a, len);
	page_out(p, pages);
	madvise(p, len / 2, MADV_WILLNEED);
	for (i = len / 2; i < len; i += 4096) {
		sum += p[i];
		asm volatile("" : "+r" (sum));
	}
	for (tries = 0; tries < 1000 && !all_resident(p, pages, vec); tries++)
		usleep(10000);
	sleep(2);
	/* Written back and read again: all of it is clean. */
	cached = meminfo_kib("SwapCached") / 4;
	if (essa) {
		taken0 = read_vmstat("page_states_swap_refaulted");
		printf("GPH-HOST-RECLAIM\n");
		fflush(stdout);
		/* host/demo.py watches QEMU for at most 8 s. */
		sleep(10);
	} else {
		taken0 = read_vmstat("page_states_swap_discarded");
		/* As much as there is memory: every volatile page. */
		snprintf(all, sizeof(all), "%ld\n", meminfo_kib("MemTotal") / 1024);
		if (write_attr("host_discard_mib", all))
			die("host_discard_mib");
		taken = read_vmstat("page_states_swap_discarded") - taken0;
	}
	for (i = 0; i < len; i += 4096) {
		sum += p[i];
		asm volatile("" : "+r" (sum));
	}
	if (essa)
		taken = read_vmstat("page_states_swap_refaulted") - taken0;
	if (sum != (char)(0x5a * (pages + pages / 2)))
		die("swapped memory read back wrong");
	printf("GPH-RESULT swap_cache_pages %ld\n", cached);
	printf("GPH-RESULT swap_taken_pages %ld\n", taken);
	printf("GPH-RESULT swap_coverage %.4f\n", cached > 0 ? (double)taken / cached : 0);
	munmap(p, len);
	free(vec);
	return 0;
}

/*
 * The working set of P1 for swap: @mib MiB of anonymous memory that went
 * to swap and was read back into the swap cache (unmapped: MADV_WILLNEED),
 * held until SIGUSR1 while the host applies pressure, then checked.
 */
static int swap_hold(size_t mib, const char *flag)
{
	size_t pages = mib << 8, len = pages << 12, i, bad = 0;
	unsigned char *vec = malloc(pages);
	long refaulted;
	sigset_t usr1;
	uint64_t *w;
	char *p;
	int tries, fd, sig;

	/* Blocked from the start: a SIGUSR1 sent early waits for sigwait(). */
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &usr1, NULL))
		die("SIGUSR1");
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED || !vec)
		die("mmap");
	w = (uint64_t *)p;
	for (i = 0; i < len / 8; i++)
		w[i] = pattern(0, i * 8);
	page_out(p, pages);
	madvise(p, len, MADV_WILLNEED);
	for (tries = 0; tries < 1000 && !all_resident(p, pages, vec); tries++)
		usleep(10000);
	fd = open(flag, O_WRONLY | O_CREAT, 0600);
	if (fd < 0)
		die(flag);
	close(fd);
	if (sigwait(&usr1, &sig))
		die("sigwait");
	/* The ESSA host's drops show as the guest reads the pages again. */
	refaulted = read_vmstat("page_states_swap_refaulted");
	for (i = 0; i < len / 8; i++)
		bad += w[i] != pattern(0, i * 8);
	printf("GPH-RESULT swap_refaulted_pages %ld\n",
	       read_vmstat("page_states_swap_refaulted") - refaulted);
	printf("GPH-RESULT swap_mismatches %zu\n", bad);
	munmap(p, len);
	free(vec);
	return bad ? 1 : 0;
}

static int report_coverage(void)
{
	long unused = 0, hinted = 0, n, ideal, free, clean;
	char usage[32], content[32];
	FILE *f = fopen("/sys/kernel/debug/page_states/census", "r");

	if (!f)
		die("census");
	while (fscanf(f, "%31s %31s %ld", usage, content, &n) == 3) {
		if (!strcmp(usage, "unused"))
			unused += n;
		else if (strcmp(usage, "stable") && !strcmp(content, "resident"))
			hinted += n;
	}
	fclose(f);
	/* Free memory plus clean page cache, in pages. */
	free = meminfo_kib("MemFree") / 4;
	clean = (meminfo_kib("Active(file)") + meminfo_kib("Inactive(file)") -
		 meminfo_kib("Dirty") - meminfo_kib("Writeback")) / 4;
	ideal = free + clean;
	printf("GPH-RESULT unused_pages %ld\n", unused);
	printf("GPH-RESULT volatile_pages %ld\n", hinted);
	printf("GPH-RESULT free_pages %ld\n", free);
	printf("GPH-RESULT clean_cache_pages %ld\n", clean);
	printf("GPH-RESULT ideal_pages %ld\n", ideal);
	printf("GPH-RESULT coverage %.4f\n", (double)(unused + hinted) / ideal);
	printf("GPH-RESULT cache_coverage %.4f\n", (double)hinted / clean);

	/* What the host could take now, not only what is in which state. */
	f = fopen("/sys/kernel/debug/page_states/takeable", "r");
	if (!f)
		die("takeable");
	unused = 0;
	hinted = 0;
	while (fscanf(f, "%31s %ld", usage, &n) == 2) {
		if (!strcmp(usage, "unused"))
			unused += n;
		else
			hinted += n;
	}
	fclose(f);
	printf("GPH-RESULT takeable_unused_pages %ld\n", unused);
	printf("GPH-RESULT takeable_volatile_pages %ld\n", hinted);
	printf("GPH-RESULT takeable_coverage %.4f\n", (double)(unused + hinted) / ideal);
	printf("GPH-RESULT takeable_cache_coverage %.4f\n", (double)hinted / clean);
	return 0;
}

/*
 * The CPU time all CPUs spent busy since boot, in microseconds: for each
 * CPU, the monotonic clock less its idle time. s390 updates a CPU's
 * idle_time_us only when the CPU leaves its enabled wait, so read it on
 * the CPU itself: moving there wakes it, and the figure is current.
 */
static double busy_us(void)
{
	cpu_set_t allowed, one;
	double busy = 0;
	char path[64];
	int cpu;

	if (sched_getaffinity(0, sizeof(allowed), &allowed))
		die("sched_getaffinity");
	for (cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		unsigned long long idle_us;
		FILE *f;

		if (!CPU_ISSET(cpu, &allowed))
			continue;
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		if (sched_setaffinity(0, sizeof(one), &one))
			die("sched_setaffinity");
		snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%d/idle_time_us", cpu);
		f = fopen(path, "r");
		if (!f || fscanf(f, "%llu", &idle_us) != 1)
			die(path);
		fclose(f);
		busy += now_ms() * 1e3 - idle_us;
	}
	if (sched_setaffinity(0, sizeof(allowed), &allowed))
		die("sched_setaffinity");
	return busy;
}

/* What cpu-cost writes to the console right before a request to a file. */
#define GPH_REQUEST "GPH-REQUEST"

/*
 * The same as /proc/stat counts it (user, nice, system, irq, softirq), in
 * ms: USER_HZ ticks of 10 ms, each field rounded on its own.
 */
static double stat_busy_ms(void)
{
	unsigned long long user, nice, sys, idle, iowait, irq, softirq;
	FILE *f = fopen("/proc/stat", "r");

	if (!f || fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu",
			 &user, &nice, &sys, &idle, &iowait, &irq, &softirq) != 7)
		die("/proc/stat");
	fclose(f);
	return (user + nice + sys + irq + softirq) * 1000.0 / sysconf(_SC_CLK_TCK);
}

/*
 * The guest CPU time that writing @text to @file costs: the busy time of
 * all CPUs in the @secs seconds from the write, less what the idle guest
 * burned in the @secs seconds before (its timers and kworkers), wherever
 * the cost fell: the writer, kworkers, or nowhere when a hypervisor does
 * the work. The window before writes a console line as long as @text, so
 * that a request written to the console costs nothing of its own; the
 * windows differ only by what the write sets off.  A request written to
 * a file is announced on the console first (GPH_REQUEST, which the host
 * times the reclaim from), and the window before writes as much there.
 */
/* Where cpu-cost leaves the time of its request, for working-set. */
#define REQUEST_AT "/tmp/gph-request-at"

static int cpu_cost(int secs, const char *file, const char *text)
{
	bool console = !strcmp(file, "/dev/console");
	double u0, u1, u2, b0, b1, b2, t0, t1, t2, scale;
	int fd;

	if (secs <= 0) {
		fprintf(stderr, "gph_workload: cpu-cost: SECS must be a positive number\n");
		return 2;
	}
	u0 = busy_us(), b0 = stat_busy_ms(), t0 = now_ms();
	/* A console line as long as the request: its cost is not the host's. */
	fd = open("/dev/console", O_WRONLY);
	if (fd >= 0) {
		dprintf(fd, "%*s\n", (int)strlen(text), "GPH: idle window");
		if (!console)
			dprintf(fd, "%*s\n", (int)strlen(GPH_REQUEST), "GPH: idle");
		close(fd);
	}
	sleep(secs);
	u1 = busy_us(), b1 = stat_busy_ms(), t1 = now_ms();
	fd = console ? -1 : open("/dev/console", O_WRONLY);
	if (fd >= 0) {
		dprintf(fd, "%s\n", GPH_REQUEST);
		close(fd);
	}
	fd = open(REQUEST_AT, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd >= 0) {
		dprintf(fd, "%.3f\n", now_ms());
		close(fd);
	}
	fd = open(file, O_WRONLY);
	if (fd < 0 || dprintf(fd, "%s\n", text) < 0)
		fprintf(stderr, "GPH: cannot write %s: %s\n", file, strerror(errno));
	if (fd >= 0)
		close(fd);
	sleep(secs);
	u2 = busy_us(), b2 = stat_busy_ms(), t2 = now_ms();
	scale = (t2 - t1) / (t1 - t0);
	printf("GPH-RESULT cpu_ms %.0f\n", (b2 - b1) - (b1 - b0) * scale);
	printf("GPH-RESULT cpu_us %.0f\n", (u2 - u1) - (u1 - u0) * scale);
	printf("GPH-RESULT idle_cpu_us %.0f\n", u1 - u0);
	return 0;
}

/* Reads the file at @path into @buf, without its newline; 0 or -1. */
static int read_line(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/* Writes @value to the file at @path; 0 or -1. */
static int write_line(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, value, strlen(value));
	close(fd);
	return n == (ssize_t)strlen(value) ? 0 : -1;
}

/* The decimal number the file at @path holds, or dies. */
static unsigned long long read_count(const char *path)
{
	char buf[32], *end;
	unsigned long long n;

	if (read_line(path, buf, sizeof(buf)))
		die(path);
	n = strtoull(buf, &end, 10);
	if (end == buf || *end) {
		fprintf(stderr, "gph_workload: %s holds '%s'\n", path, buf);
		exit(1);
	}
	return n;
}

#define WS_PERIOD_MS 200
#define WS_PASSES 4096

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/*
 * A working set the guest keeps using while the host reclaims: every
 * WS_PERIOD_MS, all of @dir's files are read and checked.  Once @stop
 * exists, prints the median pass in the @secs before the request that
 * cpu-cost recorded in REQUEST_AT, and the mean and the longest pass
 * that started in the @secs after it, and what those passes read from
 * the disk (/proc/vmstat's pgpgin while they ran): what the method cost a
 * workload that kept running.
 */
static int working_set(const char *dir, int secs, const char *stop)
{
	static double start[WS_PASSES], took[WS_PASSES];
	static long read_kib[WS_PASSES];
	double before[WS_PASSES], at, sum = 0, longest = 0;
	long after_kib = 0;
	size_t mib = 0, bad = 0;
	int n = 0, i, nb = 0, na = 0;
	char line[64];

	if (secs <= 0) {
		fprintf(stderr, "gph_workload: working-set: SECS must be a positive number\n");
		return 2;
	}
	while (access(stop, F_OK)) {
		long kib0 = read_vmstat("pgpgin");
		double t0 = now_ms();

		bad += check_files(dir, &mib);
		if (!mib) {
			fprintf(stderr, "gph_workload: working-set: no files in %s\n", dir);
			return 1;
		}
		if (n < WS_PASSES) {
			start[n] = t0;
			took[n] = now_ms() - t0;
			read_kib[n++] = read_vmstat("pgpgin") - kib0;
		}
		usleep(WS_PERIOD_MS * 1000);
	}
	if (read_line(REQUEST_AT, line, sizeof(line)) || sscanf(line, "%lf", &at) != 1) {
		fprintf(stderr, "gph_workload: working-set: no request in %s\n", REQUEST_AT);
		return 1;
	}
	for (i = 0; i < n; i++) {
		if (start[i] >= at - secs * 1e3 && start[i] + took[i] <= at)
			before[nb++] = took[i];
		if (start[i] >= at && start[i] < at + secs * 1e3) {
			sum += took[i];
			longest = took[i] > longest ? took[i] : longest;
			after_kib += read_kib[i];
			na++;
		}
	}
	qsort(before, nb, sizeof(before[0]), by_value);
	printf("GPH-RESULT ws_mib %zu\n", mib);
	printf("GPH-RESULT ws_passes_before %d\n", nb);
	printf("GPH-RESULT ws_passes_after %d\n", na);
	if (nb)
		printf("GPH-RESULT ws_before_ms %.1f\n", before[nb / 2]);
	if (na) {
		printf("GPH-RESULT ws_after_ms %.1f\n", sum / na);
		printf("GPH-RESULT ws_after_max_ms %.1f\n", longest);
		printf("GPH-RESULT ws_after_read_kib %ld\n", after_kib);
	}
	printf("GPH-RESULT ws_mismatches %zu\n", bad);
	return bad ? 1 : 0;
}

/* Pushes the @pages pages at @p to swap; returns the ms MADV_PAGEOUT took. */
static double timed_page_out_ms(char *p, size_t pages)
{
	double ms = 0, start;
	int tries;

	for (tries = 0; tries < 20; tries++) {
		start = now_ms();
		if (madvise(p, pages << 12, MADV_PAGEOUT))
			die("MADV_PAGEOUT (is swap on?)");
		ms += now_ms() - start;
		if (all_swapped(p, pages))
			return ms;
	}
	die("MADV_PAGEOUT left pages in memory");
	return ms;
}

/* Maps @pages pages of anonymous memory and writes zswap's pattern in. */
static char *zswap_area(size_t pages)
{
	char *p = mmap(NULL, pages << 12, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	size_t i;

	if (p == MAP_FAILED)
		die("mmap");
	madvise(p, pages << 12, MADV_NOHUGEPAGE);
	for (i = 0; i < pages; i++)
		zswap_fill_page(p + (i << 12), i, 0);
	return p;
}

/* The wrong pages of the area at @p, every other one freed if @holes. */
static size_t zswap_check_area(const char *p, size_t pages, bool holes)
{
	size_t i, bad = 0;
	uint64_t want;

	for (i = 0; i < pages; i++)
		bad += zswap_check_page(p + (i << 12), i, holes && i % 2 ? -1 : 0,
					&want) != ZSWAP_WORDS;
	return bad;
}

/* Makes @zpool zswap's allocator and turns zswap on, or dies. */
static void zpool_use(const char *zpool)
{
	char now[64] = "";

	if (write_line(ZSWAP_PARAM "zpool", zpool) ||
	    write_line(ZSWAP_PARAM "enabled", "Y") ||
	    read_line(ZSWAP_PARAM "zpool", now, sizeof(now)) || strcmp(now, zpool)) {
		fprintf(stderr, "gph_workload: zswap does not take %s (has '%s')\n",
			zpool, now);
		exit(1);
	}
}

/*
 * Store and load throughput of zswap on @zpool: ZPOOL_MIB MiB of pages
 * that compress to about 1.6 KiB (zswap_pattern.h) pushed out with
 * MADV_PAGEOUT, then faulted back in (zswap loads them, swap readahead
 * included) and checked; and the pool's bytes per stored page.  Returns
 * the wrong pages.
 */
static size_t zpool_throughput(const char *zpool)
{
	size_t pages = (size_t)ZPOOL_MIB << 8, i, bad;
	unsigned long long pool0, stored0, pool, stored;
	double out_ms, in_ms, start;
	char *p = zswap_area(pages), sum = 0;

	pool0 = read_count(ZSWAP_DEBUG "pool_total_size");
	stored0 = read_count(ZSWAP_DEBUG "stored_pages");
	out_ms = timed_page_out_ms(p, pages);
	pool = read_count(ZSWAP_DEBUG "pool_total_size") - pool0;
	stored = read_count(ZSWAP_DEBUG "stored_pages") - stored0;
	start = now_ms();
	for (i = 0; i < pages; i++) {
		sum += p[i << 12];
		asm volatile("" : "+r" (sum));
	}
	in_ms = now_ms() - start;
	bad = zswap_check_area(p, pages, false);
	printf("GPH-RESULT %s_store_mibs %.1f\n", zpool, ZPOOL_MIB * 1e3 / out_ms);
	printf("GPH-RESULT %s_load_mibs %.1f\n", zpool, ZPOOL_MIB * 1e3 / in_ms);
	printf("GPH-RESULT %s_stored_pages %llu\n", zpool, stored);
	printf("GPH-RESULT %s_bytes_per_page %.0f\n", zpool,
	       stored ? (double)pool / stored : 0);
	printf("GPH-RESULT %s_mismatches %zu\n", zpool, bad);
	munmap(p, pages << 12);
	return bad;
}

/* zbud_rs's counters in debugfs that the fragmentation scenario reports. */
static const char * const zbud_rs_counters[] = {
	"pages", "isolated", "isolate_refused", "migrated",
};

#define ZBUD_RS_COUNTERS ARRAY_SIZE(zbud_rs_counters)

static void read_zbud_rs(unsigned long long *counts)
{
	char path[128];
	size_t i;

	for (i = 0; i < ZBUD_RS_COUNTERS; i++) {
		snprintf(path, sizeof(path), ZBUD_RS_DEBUG "%s", zbud_rs_counters[i]);
		counts[i] = read_count(path);
	}
}

/* Pageblocks of the unmovable type, summed over zones (/proc/pagetypeinfo). */
static long unmovable_blocks(void)
{
	FILE *f = fopen("/proc/pagetypeinfo", "r");
	char line[512];
	bool counts = false;
	long sum = 0, n;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "Number of blocks type", 21)) {
			counts = true;
			continue;
		}
		if (counts && sscanf(line, "Node %*d, zone %*s %ld", &n) == 1)
			sum += n;
		else if (counts)
			break;
	}
	fclose(f);
	return sum;
}

/*
 * The fragmentation scenario of the zswap_compaction kselftest on @zpool:
 * a ballast above, ZPOOL_MIB MiB below pushed to zswap, every other page
 * freed, the ballast freed (whole, or all but a page in each 4 MiB block
 * if @thin; zswap_pattern.h), memory compacted, every page checked.
 * Reports, as @zpool_@variant_KEY: pages migrated and compaction's
 * isolations, the free blocks of order 4, 8 and 10, how many blocks of
 * each of these orders could then be allocated, what reclaim freed
 * meanwhile and the pool's size before them, the free pages and the
 * unmovable pageblocks before and after compaction, where the ballast and
 * the area sat (mean physical MiB), and zbud_rs's counters.  Returns the
 * wrong pages.
 */
static size_t zpool_fragment(const char *zpool, const char *variant, bool thin)
{
	size_t pages = (size_t)ZPOOL_MIB << 8, len = pages << 12, ballast_len, kept = 0;
	unsigned long long zr0[ZBUD_RS_COUNTERS], zr[ZBUD_RS_COUNTERS], stored;
	bool zbud_rs = !strcmp(zpool, "zbud_rs");
	long migrated, isolated, area_mib, ballast_mib, ub0, ub1;
	long long allocated[ZSWAP_PROBED_ORDERS];
	unsigned long long pool_kib;
	struct zswap_high_order h0, h1;
	long reclaimed;
	char *ballast, *p;
	size_t i, bad;

	ballast = zswap_ballast_map(len, &ballast_len);
	if (ballast == MAP_FAILED)
		die("ballast");
	p = zswap_area(pages);
	area_mib = zswap_phys_mib(p, len);
	ballast_mib = ballast ? zswap_phys_mib(ballast, ballast_len) : -1;
	stored = read_count(ZSWAP_DEBUG "stored_pages");
	page_out(p, pages);
	stored = read_count(ZSWAP_DEBUG "stored_pages") - stored;
	for (i = 1; i < pages; i += 2)
		if (madvise(p + (i << 12), 4096, MADV_DONTNEED))
			die("MADV_DONTNEED");
	if (ballast && thin) {
		kept = zswap_ballast_thin(ballast, ballast_len);
	} else if (ballast) {
		munmap(ballast, ballast_len);
		ballast = NULL;
	}
	if (zswap_high_order(&h0))
		die("/proc/buddyinfo");
	ub0 = unmovable_blocks();
	if (zbud_rs)
		read_zbud_rs(zr0);
	migrated = read_vmstat("pgmigrate_success");
	isolated = read_vmstat("compact_isolated");
	if (write_line("/proc/sys/vm/compact_memory", "1"))
		die("compact_memory");
	migrated = read_vmstat("pgmigrate_success") - migrated;
	isolated = read_vmstat("compact_isolated") - isolated;
	if (zbud_rs)
		read_zbud_rs(zr);
	if (zswap_high_order(&h1))
		die("/proc/buddyinfo");
	ub1 = unmovable_blocks();
	pool_kib = read_count(ZSWAP_DEBUG "pool_total_size") >> 10;
	reclaimed = zswap_reclaimed_pages();
	for (i = 0; i < ZSWAP_PROBED_ORDERS; i++) {
		allocated[i] = zswap_allocatable(zswap_probed_orders[i]);
		if (allocated[i] < 0)
			die(ZSWAP_HIGH_ORDER_FILE " (CONFIG_TEST_GPH_HIGH_ORDER)");
	}
	reclaimed = zswap_reclaimed_pages() - reclaimed;
	bad = zswap_check_area(p, pages, true);

#define FRAG_RESULT(key, fmt, value) \
	printf("GPH-RESULT %s_%s_" key " " fmt "\n", zpool, variant, value)
	FRAG_RESULT("ballast_mib", "%zu", ballast_len >> 20);
	FRAG_RESULT("ballast_kept", "%zu", kept);
	FRAG_RESULT("ballast_at_mib", "%ld", ballast_mib);
	FRAG_RESULT("area_at_mib", "%ld", area_mib);
	FRAG_RESULT("stored_pages", "%llu", stored);
	FRAG_RESULT("pgmigrate", "%ld", migrated);
	FRAG_RESULT("compact_isolated", "%ld", isolated);
	FRAG_RESULT("order4_before", "%llu", h0.order4);
	FRAG_RESULT("order8_before", "%llu", h0.order8);
	FRAG_RESULT("order10_before", "%llu", h0.order10);
	FRAG_RESULT("order4", "%llu", h1.order4);
	FRAG_RESULT("order8", "%llu", h1.order8);
	FRAG_RESULT("order10", "%llu", h1.order10);
	for (i = 0; i < ZSWAP_PROBED_ORDERS; i++)
		printf("GPH-RESULT %s_%s_allocated%u %lld\n", zpool, variant,
		       zswap_probed_orders[i], allocated[i]);
	FRAG_RESULT("allocs_reclaimed", "%ld", reclaimed);
	FRAG_RESULT("pool_kib", "%llu", pool_kib);
	FRAG_RESULT("free_pages_before", "%llu", h0.free);
	FRAG_RESULT("free_pages", "%llu", h1.free);
	FRAG_RESULT("unmovable_blocks_before", "%ld", ub0);
	FRAG_RESULT("unmovable_blocks", "%ld", ub1);
	if (zbud_rs) {
		FRAG_RESULT("pool_pages", "%llu", zr0[0]);
		FRAG_RESULT("isolated", "%llu", zr[1] - zr0[1]);
		FRAG_RESULT("refused", "%llu", zr[2] - zr0[2]);
		FRAG_RESULT("migrated", "%llu", zr[3] - zr0[3]);
	}
	FRAG_RESULT("mismatches", "%zu", bad);
#undef FRAG_RESULT
	munmap(p, len);
	if (ballast)
		munmap(ballast, ballast_len);
	return bad;
}

/*
 * How often the fragmentation scenario runs on each allocator: what it
 * leaves of high order depends on where the ballast and the pool happen
 * to sit, which moves by tens of blocks from one run to the next.
 */
#define ZPOOL_ROUNDS 5

/*
 * P4: zswap on zbud_rs, zbud and zsmalloc in turn, in one boot: store and
 * load throughput and bytes per stored page, then ZPOOL_ROUNDS rounds of
 * the fragmentation scenario, with the ballast freed whole and thinned,
 * each round starting with the next allocator, so that none always runs
 * after the same one.  Proactive compaction is off meanwhile, so that
 * compaction runs when asked, and only then; zswap's knobs are put back
 * afterwards.  Exits non-zero if a page read back wrong.
 */
static int zpool_bench(void)
{
	static const char * const zpools[] = { "zbud_rs", "zbud", "zsmalloc" };
	const size_t n = ARRAY_SIZE(zpools);
	char zpool[64], enabled[8], variant[16];
	size_t bad = 0, i, round;
	int proactiveness;

	if (read_line(ZSWAP_PARAM "zpool", zpool, sizeof(zpool)) ||
	    read_line(ZSWAP_PARAM "enabled", enabled, sizeof(enabled)))
		die("zswap (CONFIG_ZSWAP)");
	proactiveness = zswap_set_proactiveness(0);
	for (i = 0; i < n; i++) {
		zpool_use(zpools[i]);
		bad += zpool_throughput(zpools[i]);
	}
	printf("GPH-RESULT zpool_rounds %d\n", ZPOOL_ROUNDS);
	for (round = 0; round < ZPOOL_ROUNDS; round++) {
		for (i = 0; i < n; i++) {
			const char *z = zpools[(round + i) % n];

			zpool_use(z);
			snprintf(variant, sizeof(variant), "whole%zu", round);
			bad += zpool_fragment(z, variant, false);
			snprintf(variant, sizeof(variant), "thin%zu", round);
			bad += zpool_fragment(z, variant, true);
			fflush(stdout);
		}
	}
	write_line(ZSWAP_PARAM "zpool", zpool);
	write_line(ZSWAP_PARAM "enabled", enabled);
	if (proactiveness >= 0)
		zswap_set_proactiveness(proactiveness);
	return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "write"))
		return write_files(argv[2], atoi(argv[3]));
	if (argc == 3 && !strcmp(argv[1], "read"))
		return read_files(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "hotpath"))
		return hotpath(argv[2]);
	if (argc == 2 && !strcmp(argv[1], "coverage"))
		return report_coverage();
	if (argc == 2 && !strcmp(argv[1], "swap-coverage"))
		return report_swap_coverage();
	if (argc == 4 && !strcmp(argv[1], "swap-hold"))
		return swap_hold(atoi(argv[2]), argv[3]);
	if (argc == 5 && !strcmp(argv[1], "cpu-cost"))
		return cpu_cost(atoi(argv[2]), argv[3], argv[4]);
	if (argc == 5 && !strcmp(argv[1], "working-set"))
		return working_set(argv[2], atoi(argv[3]), argv[4]);
	if (argc == 2 && !strcmp(argv[1], "zpool-bench"))
		return zpool_bench();
	fprintf(stderr,
		"usage: gph_workload write DIR MIB | read DIR | hotpath DIR | coverage |\n\t\tswap-coverage | swap-hold MIB FLAG | cpu-cost SECS FILE TEXT |\n\t\tworking-set DIR SECS STOP | zpool-bench\n");
	return 2;
}
