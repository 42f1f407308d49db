/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the page_states kselftests: the page-state core's
 * sysfs directory, its /proc/vmstat counters, its debugfs census, the
 * host that takes volatile pages, and the disk the tests keep their files
 * on.
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
#include <time.h>
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

/* Returns the /proc/meminfo figure @key in KiB, or -1 if there is none. */
static inline long meminfo_kib(const char *key)
{
	char line[256];
	long value = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)) && line[strlen(key)] == ':')
			value = strtol(line + strlen(key) + 1, NULL, 10);
	fclose(f);
	return value;
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

/* Writes @value to the file at @path; returns 0 or -errno. */
static inline int write_path(const char *path, const char *value)
{
	ssize_t n;
	int fd = open(path, O_WRONLY);

	if (fd < 0)
		return -errno;
	n = write(fd, value, strlen(value));
	if (n < 0)
		n = -errno;
	close(fd);
	return n < 0 ? n : n == (ssize_t)strlen(value) ? 0 : -EIO;
}

/* Whether a swap area is on: /proc/swaps has a line after its header. */
static inline bool swap_on(void)
{
	char line[256];
	bool on;
	FILE *f = fopen("/proc/swaps", "r");

	if (!f)
		return false;
	on = fgets(line, sizeof(line), f) && fgets(line, sizeof(line), f);
	fclose(f);
	return on;
}

/* Writes @value to the attribute @name; returns 0 or -errno. */
static inline int write_attr(const char *name, const char *value)
{
	char path[256];

	snprintf(path, sizeof(path), PAGE_STATES_SYSFS "%s", name);
	return write_path(path, value);
}

/*
 * The host that takes volatile pages away, and how a test lets it.
 *
 * The emulated host (no ESSA) discards when told to: a write to
 * host_discard_mib, which reports how many pages it took, and which
 * page_states_discarded counts.  With ESSA the hypervisor drops pages on
 * its own schedule, and the guest can neither ask it to nor hear that it
 * did.  QEMU's CMMA host in the essa boot of make check drops every
 * droppable page every gph_cmma_period_ms (on the kernel command line, or
 * GPH_CMMA_PERIOD_MS in the environment): a test lets it by waiting a few
 * periods.  The guest learns of a hypervisor's drop when a lookup finds it
 * (page_states_stable_failed counts those lookups) or when a touch through
 * a mapping takes a discard fault, and either way takes the folio off the
 * page cache (page_states_refaulted): what a test checks, with ESSA, to
 * know that the host really took pages.  page_states_discarded counts the
 * emulated host's discards only.
 */
enum gph_host {
	GPH_HOST_NONE,		/* no volatile page cache, or no known host */
	GPH_HOST_EMULATED,	/* discards on request (host_discard_mib) */
	GPH_HOST_ESSA,		/* drops every cmma_period_ms() by itself */
};

/* Why a test that needs a host that takes pages skips without one. */
#define GPH_HOST_NEEDED "needs page_states=volatile and the emulated host, or ESSA " \
	"with a host that drops pages every gph_cmma_period_ms"

/* How many of the CMMA host's periods host_take() waits with ESSA. */
#define GPH_HOST_PERIODS 3

/*
 * The period of the ESSA host's reclaim, in milliseconds, from
 * GPH_CMMA_PERIOD_MS or gph_cmma_period_ms= on the kernel command line;
 * 0 when neither says.
 */
static inline long cmma_period_ms(void)
{
	const char *env = getenv("GPH_CMMA_PERIOD_MS");
	char line[4096], *p, *end;
	long ms = 0;
	FILE *f;

	if (env && *env) {
		ms = strtol(env, &end, 10);
		return *end || ms < 0 ? 0 : ms;
	}
	f = fopen("/proc/cmdline", "r");
	if (!f)
		return 0;
	if (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		for (p = strtok(line, " "); p; p = strtok(NULL, " ")) {
			if (strncmp(p, "gph_cmma_period_ms=", 19))
				continue;
			ms = strtol(p + 19, &end, 10);
			if (*end || ms < 0)
				ms = 0;
		}
	}
	fclose(f);
	return ms;
}

/* The host that takes this guest's volatile pages, found once. */
static inline enum gph_host gph_host(void)
{
	static int host = -1;
	char mode[32], backend[32];

	if (host >= 0)
		return host;
	host = GPH_HOST_NONE;
	if (read_attr("mode", mode, sizeof(mode)) ||
	    read_attr("backend", backend, sizeof(backend)) ||
	    strcmp(mode, "volatile"))
		return host;
	if (!strcmp(backend, "emulated"))
		host = GPH_HOST_EMULATED;
	else if (!strcmp(backend, "essa") && cmma_period_ms() > 0)
		host = GPH_HOST_ESSA;
	return host;
}

/*
 * With ESSA, sleeps @periods of the host's reclaim period: every page
 * that was volatile all along is dropped by then.  The emulated host
 * takes nothing unless asked: no wait.
 */
static inline void host_wait(unsigned int periods)
{
	long ms = cmma_period_ms() * periods;
	struct timespec ts = { ms / 1000, ms % 1000 * 1000000 };

	if (gph_host() != GPH_HOST_ESSA)
		return;
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/*
 * Lets the host take the guest's volatile pages: the emulated host
 * discards up to @mib MiB and the number of pages it took is returned;
 * with ESSA the hypervisor has GPH_HOST_PERIODS periods to drop them, and
 * 0 is returned, since the guest cannot know how many it dropped until it
 * looks them up.  -errno when there is no such host.
 */
static inline long host_take(unsigned long mib)
{
	char buf[32];
	int err;

	switch (gph_host()) {
	case GPH_HOST_EMULATED:
		snprintf(buf, sizeof(buf), "%lu\n", mib);
		err = write_attr("host_discard_mib", buf);
		if (err)
			return err;
		err = read_attr("host_discard_mib", buf, sizeof(buf));
		if (err)
			return err;
		return strtol(buf, NULL, 10);
	case GPH_HOST_ESSA:
		host_wait(GPH_HOST_PERIODS);
		return 0;
	default:
		return -EOPNOTSUPP;
	}
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
