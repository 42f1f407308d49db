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
 *                                file mapping and swap-ins from the swap
 *                                cache (P2 of make bench)
 *   gph_workload coverage        volatile coverage against the ideal, free
 *                                memory plus clean page cache (P3)
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

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

#define FILE_MIB 8
#define CHUNK 65536
#define HOT_MIB 16
#define HOT_REPS 7
#define SWAP_MIB 32

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

static int read_files(const char *dir)
{
	static uint64_t buf[CHUNK / 8];
	size_t off, i, bad = 0, mib = 0;
	unsigned long ios0, sectors0, ios1, sectors1;
	bool io = disk_reads(dir, &ios0, &sectors0);
	double start = now_ms(), sys = sys_ms();
	char path[256];
	int idx, fd;

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
		mib += FILE_MIB;
	}
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
 * windows differ only by what the write sets off.
 */
static int cpu_cost(int secs, const char *file, const char *text)
{
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
		close(fd);
	}
	sleep(secs);
	u1 = busy_us(), b1 = stat_busy_ms(), t1 = now_ms();
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
	fprintf(stderr,
		"usage: gph_workload write DIR MIB | read DIR | hotpath DIR | coverage |\n\t\tswap-coverage | swap-hold MIB FLAG | cpu-cost SECS FILE TEXT\n");
	return 2;
}
