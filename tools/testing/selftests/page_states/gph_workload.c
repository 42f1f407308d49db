// SPDX-License-Identifier: GPL-2.0
/*
 * The workloads of `make run` and `make bench` (not a test):
 *
 *   gph_workload write DIR MIB   write MIB MiB of files into DIR, sync them
 *                                and drop them from the page cache
 *   gph_workload read DIR        read them back, check every byte, and
 *                                print the time it took, the system time,
 *                                and the read I/Os of the files' disk
 *   gph_workload hotpath DIR     time anonymous faults, file faults and
 *                                cached read() (P2 of make bench)
 *   gph_workload coverage        volatile coverage against the ideal, free
 *                                memory plus clean page cache (P3)
 *
 * Each prints "GPH-RESULT key value" lines for the host to collect.
 */
#define _GNU_SOURCE
#include <dirent.h>
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

#define FILE_MIB 8
#define CHUNK 65536
#define HOT_MIB 16
#define HOT_REPS 7

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
	close(fd);
	unlink(path);
	return 0;
}

static long meminfo_kib(const char *key)
{
	char line[256];
	long value = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		die("/proc/meminfo");
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)) && line[strlen(key)] == ':')
			value = strtol(line + strlen(key) + 1, NULL, 10);
	fclose(f);
	return value;
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
	fprintf(stderr, "usage: gph_workload write DIR MIB | read DIR | hotpath DIR | coverage\n");
	return 2;
}
