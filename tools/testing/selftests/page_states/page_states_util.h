/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the page_states kselftests: the page-state core's
 * sysfs directory, its /proc/vmstat counters, its debugfs census, and the
 * disk the tests keep their files on.
 */
#ifndef PAGE_STATES_UTIL_H
#define PAGE_STATES_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define PAGE_STATES_SYSFS "/sys/kernel/mm/page_states/"
#define CENSUS "/sys/kernel/debug/page_states/census"

/* Returns the /proc/vmstat counter @name, or -1 if there is none. */
static inline long read_vmstat(const char *name)
{
	char key[64];
	long value;
	FILE *f = fopen("/proc/vmstat", "r");

	if (!f)
		return -1;
	while (fscanf(f, "%63s %ld", key, &value) == 2) {
		if (!strcmp(key, name)) {
			fclose(f);
			return value;
		}
	}
	fclose(f);
	return -1;
}

/*
 * Returns the census count of page frames in state @usage @content, summed
 * over every content when @content is NULL, or -1 without a census.
 */
static inline long census(const char *usage, const char *content)
{
	char u[32], c[32];
	long n, sum = -1;
	FILE *f = fopen(CENSUS, "r");

	if (!f)
		return -1;
	while (fscanf(f, "%31s %31s %ld", u, c, &n) == 3) {
		if (strcmp(u, usage) || (content && strcmp(c, content)))
			continue;
		sum = (sum < 0 ? 0 : sum) + n;
	}
	fclose(f);
	return sum;
}

/*
 * Reads the attribute @name of the page-state core into @buf, without its
 * newline; returns 0 or -errno.
 */
static inline int read_attr(const char *name, char *buf, size_t len)
{
	char path[256];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), PAGE_STATES_SYSFS "%s", name);
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

/* Writes @value to the attribute @name; returns 0 or -errno. */
static inline int write_attr(const char *name, const char *value)
{
	char path[256];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), PAGE_STATES_SYSFS "%s", name);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	n = write(fd, value, strlen(value));
	close(fd);
	return n < 0 ? -errno : 0;
}

/* The directory on a real disk for page-cache work: GPH_DISK, or /mnt/disk. */
static inline const char *disk_dir(void)
{
	const char *d = getenv("GPH_DISK");

	return d && *d ? d : "/mnt/disk";
}

/*
 * Reads completed and sectors read by the disk that holds @dir, from the
 * block layer's statistics (/sys/dev/block/MAJ:MIN/stat); false if it has
 * none.
 */
static inline bool disk_reads(const char *dir, unsigned long *ios,
			      unsigned long *sectors)
{
	char path[128];
	struct stat st;
	FILE *f;
	int n;

	if (stat(dir, &st))
		return false;
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/stat",
		 major(st.st_dev), minor(st.st_dev));
	f = fopen(path, "r");
	if (!f)
		return false;
	n = fscanf(f, "%lu %*u %lu", ios, sectors);
	fclose(f);
	return n == 2;
}

#endif /* PAGE_STATES_UTIL_H */
