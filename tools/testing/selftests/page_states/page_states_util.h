/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the page_states kselftests: the page-state core's
 * sysfs directory, its /proc/vmstat counters and its debugfs census.
 */
#ifndef PAGE_STATES_UTIL_H
#define PAGE_STATES_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
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

#endif /* PAGE_STATES_UTIL_H */
