// SPDX-License-Identifier: GPL-2.0
/*
 * Discard racing with the users of the pages it takes.
 *
 * Files on a real disk (GPH_DISK, default /mnt/disk) are read, mapped,
 * pinned, spliced, locked and migrated by several tasks at once, while the
 * host discards their clean page cache as fast as it can: the emulated
 * host, told to through /sys/kernel/mm/page_states/host_*, or the
 * hypervisor behind ESSA, which drops every droppable page every
 * gph_cmma_period_ms on its own (see host_take()).  Every byte read back
 * is checked against the pattern it was written with: a discarded page
 * read without going through discard handling shows the emulated host's
 * poison, or the zeros of a page the hypervisor dropped.
 *
 * Discard handling sleeps and retries, so a race can also end in tasks
 * that wait for each other forever, in the kernel, where SIGKILL does not
 * reach them.  Each worker therefore bumps a counter in shared memory, and
 * the test's own process watches the counters: a worker whose counter
 * stands still for WATCHDOG_S seconds fails the test with what the task
 * is doing (/proc/<tid>/stat, wchan and stack), instead of the harness
 * timing out with no word of why.  Stuck workers are sent SIGKILL but not
 * waited for, nothing they might be stuck on is touched again, and they
 * hold none of the kselftest runner's pipes, which would hang it.
 *
 * Each test checks that the host really discarded and, where pages are
 * looked up again, that discard handling really ran (page_states_refaulted):
 * a race that never happened proves nothing.  The emulated host counts its
 * discards (page_states_discarded); a hypervisor's drops show only when a
 * lookup or a discard fault finds them, and discard handling takes the
 * folio off the page cache: with ESSA, page_states_refaulted counts both.
 * With ESSA a mapped page is potentially volatile, and the hypervisor
 * drops it under its mappings: the next touch takes a discard fault.
 *
 * The tests need page_states=volatile and a host that takes pages (the
 * emulated one, or ESSA with gph_cmma_period_ms=); elsewhere they skip.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../kselftest_harness.h"
#include "page_states_util.h"

#define PAGE 4096UL
#define POISON "GPH discarded!!\n"
#define CHUNK ((size_t)64 << 10)

#define NR_FILES 4
#define FILE_SIZE ((size_t)4 << 20)
/* What the tests use each file for. */
#define HOT 0		/* read by everybody; A of the GUP and mlock tests */
#define SOURCE 1	/* B: O_DIRECT reads of it land in A's mapping */
#define CONTROL 2	/* C: unlocked, pinned by O_DIRECT writes and vmsplice */
#define SPARE 3		/* A2 of mlockall, D of the O_DIRECT writes */

/* The page every reader wants, and the range they all read besides. */
#define HOT_OFF (((size_t)2 << 20) + 5 * PAGE)
#define HOT_READS 16
#define RANGE_LEN ((size_t)1 << 20)
#define NR_READERS 4

#define RUN_S 20		/* how long the races run */
#define WATCHDOG_S 20		/* a worker this long without progress is stuck */
#define COMPACT_PATIENCE_S 60	/* one compaction of all memory may take long */
#define STOP_S 90		/* the most a worker takes to leave its loop */
#define MAX_WORKERS 16

/* One task of a race, as the watchdog sees it. */
struct worker {
	char name[32];
	pid_t tid;		/* for /proc/<tid>, set by the worker */
	int patience;		/* seconds without progress that mean stuck */
	int owner;		/* the worker whose pid is its process's */
	int ready;		/* done with its set-up (mlock test) */
	int done;		/* left its loop, or its process is gone */
	unsigned long progress;	/* bumped by the worker whenever it moves */
	long rounds;		/* complete rounds, for the log */
	long faults;		/* page faults of the mlock test's re-touch */
	/* The watchdog's bookkeeping, in the test's process. */
	unsigned long seen;
	double since;
	bool reported;
	bool killed;		/* its process was sent SIGKILL */
};

/* Shared (MAP_SHARED) by the test's process and all its workers. */
struct race {
	int stop;		/* the workers leave their loops */
	int phase;		/* a test's own handshake */
	int nr;
	struct worker w[MAX_WORKERS];
	pid_t pid[MAX_WORKERS];	/* worker processes not reaped yet, or 0 */
	unsigned long bad;	/* words that are not the pattern */
	unsigned long poisoned;	/* pages that show the host's poison */
	unsigned long errors;	/* failed system calls, workers that died */
	int noted;
	char note[160];		/* the first thing that went wrong */
};

typedef void work_fn(struct race *r, int self, void *arg);

/* A file, as a reader reaches it. */
struct target {
	int file;		/* whose pattern it holds */
	int fd;
	const char *map;	/* MAP_SHARED mapping, or NULL: pread() */
};

static void file_path(char *buf, size_t len, int file)
{
	snprintf(buf, len, "%s/discard_race.%d", disk_dir(), file);
}

/* The 8-byte word at byte @off of file @file. */
static uint64_t word_at(int file, size_t off)
{
	return ((uint64_t)(file + 0x41) << 56) ^ ((off / 8) * 0x9E3779B97F4A7C15ULL);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Keeps a description of the first thing that went wrong in a race. */
static void note(struct race *r, const char *fmt, ...)
{
	va_list ap;

	if (__atomic_exchange_n(&r->noted, 1, __ATOMIC_SEQ_CST))
		return;
	va_start(ap, fmt);
	vsnprintf(r->note, sizeof(r->note), fmt, ap);
	va_end(ap);
}

/* A system call failed in a worker, which reports and gives up. */
static void worker_error(struct race *r, const char *what)
{
	note(r, "%s: %s", what, strerror(errno));
	__atomic_add_fetch(&r->errors, 1, __ATOMIC_SEQ_CST);
}

/*
 * Compares @len bytes at @data with file @file's pattern from byte @off,
 * and adds the words that differ, and the pages among them that carry
 * the host's poison, to @r.  Returns the words that differ.
 */
static size_t check(struct race *r, const void *data, size_t len, int file, size_t off)
{
	const uint64_t *w = data;
	size_t i, bad = 0, poisoned = 0;

	for (i = 0; i < len / 8; i++) {
		if (w[i] == word_at(file, off + i * 8))
			continue;
		if (!bad)
			note(r, "file %d at byte %zu: %#llx instead of %#llx", file,
			     off + i * 8, (unsigned long long)w[i],
			     (unsigned long long)word_at(file, off + i * 8));
		bad++;
	}
	if (!bad)
		return 0;
	for (i = 0; i + strlen(POISON) <= len; i += PAGE)
		if (!memcmp((const char *)data + i, POISON, strlen(POISON)))
			poisoned++;
	__atomic_add_fetch(&r->bad, bad, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&r->poisoned, poisoned, __ATOMIC_SEQ_CST);
	return bad;
}

/* Reads @len bytes of file @file from @off with pread() and checks them. */
static int read_and_check(struct race *r, int fd, int file, size_t off, size_t len)
{
	uint64_t buf[CHUNK / 8];
	size_t done;

	for (done = 0; done < len; done += CHUNK) {
		size_t n = len - done < CHUNK ? len - done : CHUNK;

		if (pread(fd, buf, n, off + done) != (ssize_t)n) {
			worker_error(r, "pread");
			return -1;
		}
		check(r, buf, n, file, off + done);
	}
	return 0;
}

/*
 * Writes file @file with its pattern and returns an open descriptor.
 * Written folios keep the filesystem's buffer heads, which rule out
 * volatility; after a writeback and a drop, the pages the tests read back
 * have none.
 */
static int write_file(int file)
{
	static uint64_t buf[CHUNK / 8];
	char path[256];
	size_t off, i;
	int fd;

	file_path(path, sizeof(path), file);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return -errno;
	for (off = 0; off < FILE_SIZE; off += CHUNK) {
		for (i = 0; i < ARRAY_SIZE(buf); i++)
			buf[i] = word_at(file, off + i * 8);
		if (write(fd, buf, CHUNK) != (ssize_t)CHUNK) {
			close(fd);
			return -EIO;
		}
	}
	if (fsync(fd) || posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)) {
		close(fd);
		return -errno;
	}
	return fd;
}

/*
 * Brings file @file into the page cache: the first read fills it, the
 * second finds it, and both leave its folios idle, which offers them to
 * the host.  The caller sleeps before pressure so that the last of them
 * (in per-CPU LRU batches) get there too.
 */
static void warm_up(struct race *r, int fd, int file)
{
	read_and_check(r, fd, file, 0, FILE_SIZE);
	read_and_check(r, fd, file, 0, FILE_SIZE);
}

/*
 * The host's periodic policy with a target of 0: every @period_ms it
 * discards every volatile page it finds.  0 turns it off.
 */
static int host_periodic(int period_ms)
{
	char buf[16];
	int err;

	err = write_attr("host_target_mib", "0\n");
	if (err)
		return err;
	snprintf(buf, sizeof(buf), "%d\n", period_ms);
	return write_attr("host_period_ms", buf);
}

/*
 * Heavy pressure: 1000 MiB, more than all the page cache there is.  The
 * knob refuses more than the guest's memory (totalram, MemTotal here),
 * so a smaller guest gets nine tenths of its memory instead.
 */
static unsigned long heavy_mib(void)
{
	unsigned long kib = 0;
	char key[64];
	FILE *f = fopen("/proc/meminfo", "r");

	if (f) {
		if (fscanf(f, "%63s %lu", key, &kib) != 2 || strcmp(key, "MemTotal:"))
			kib = 0;
		fclose(f);
	}
	return kib && kib / 1024 < 1000 ? kib / 1024 * 9 / 10 : 1000;
}

/*
 * Lets the host take up to @mib MiB @times (host_take()); returns the
 * pages the emulated host took, 0 with ESSA, or -errno.
 */
static long squeeze(unsigned long mib, int times)
{
	long total = 0, got;

	while (times--) {
		got = host_take(mib);
		if (got < 0)
			return got;
		total += got;
	}
	return total;
}

static bool essa(void)
{
	return gph_host() == GPH_HOST_ESSA;
}

/* The page-state core's counters in /proc/vmstat. */
struct counters {
	long made_volatile;
	long discarded;
	long refaulted;
	long stable_failed;
};

static void counters_read(struct counters *c)
{
	c->made_volatile = read_vmstat("page_states_volatile");
	c->discarded = read_vmstat("page_states_discarded");
	c->refaulted = read_vmstat("page_states_refaulted");
	c->stable_failed = read_vmstat("page_states_stable_failed");
}

/*
 * Pages the host took, as the counters @d show them: the emulated host
 * counts its discards, a hypervisor's drops count as the guest takes the
 * folios off the page cache.
 */
static long host_took(const struct counters *d)
{
	return essa() ? d->refaulted : d->discarded;
}

/* What the counters did since @start. */
static struct counters counters_since(const struct counters *start)
{
	struct counters now;

	counters_read(&now);
	now.made_volatile -= start->made_volatile;
	now.discarded -= start->discarded;
	now.refaulted -= start->refaulted;
	now.stable_failed -= start->stable_failed;
	return now;
}

static struct race *race_new(void)
{
	struct race *r = mmap(NULL, sizeof(*r), PROT_READ | PROT_WRITE,
			      MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return r == MAP_FAILED ? NULL : r;
}

static bool stopping(struct race *r)
{
	return __atomic_load_n(&r->stop, __ATOMIC_SEQ_CST);
}

/* Tells the watchdog that worker @self is alive and moving. */
static void bump(struct race *r, int self)
{
	__atomic_add_fetch(&r->w[self].progress, 1, __ATOMIC_SEQ_CST);
}

/* A worker completed a round of its work. */
static void round_done(struct race *r, int self)
{
	r->w[self].rounds++;
	bump(r, self);
}

/*
 * Registers a worker of the process that worker @owner names (-1: its
 * own); the watchdog's clock for it starts now.
 */
static int add_worker(struct race *r, const char *name, int patience, int owner)
{
	struct worker *w = &r->w[r->nr];

	snprintf(w->name, sizeof(w->name), "%s", name);
	w->patience = patience;
	w->owner = owner < 0 ? r->nr : owner;
	w->since = now_s();
	return r->nr++;
}

/*
 * A worker stuck in the kernel outlives the test, and the kselftest
 * runner reads the test's output until every writer is gone: a worker
 * process must not hold the runner's pipes open (stdout, stderr and the
 * runner's descriptor for the exit code).  It keeps the files the test
 * opened, and prints nothing anyway: it reports through struct race.
 */
static void leave_runner_pipes(void)
{
	int fd, null = open("/dev/null", O_RDWR);
	struct stat st;

	for (fd = 0; fd < 1024; fd++) {
		if (fd == null || fstat(fd, &st) || S_ISREG(st.st_mode))
			continue;
		if (fd <= 2 && null >= 0)
			dup2(null, fd);
		else
			close(fd);
	}
	if (null > 2)
		close(null);
}

static void run_worker(struct race *r, int self, work_fn *fn, void *arg)
{
	r->w[self].tid = gettid();
	fn(r, self, arg);
	__atomic_store_n(&r->w[self].done, 1, __ATOMIC_SEQ_CST);
}

/*
 * Runs @fn in a new process, as a worker named @name; returns its index
 * in @r, or -1.
 */
static int spawn(struct race *r, const char *name, int patience, work_fn *fn, void *arg)
{
	int self;
	pid_t pid;

	if (r->nr == MAX_WORKERS)
		return -1;
	self = add_worker(r, name, patience, -1);
	pid = fork();
	if (pid < 0) {
		r->w[self].done = 1;
		return -1;
	}
	if (!pid) {
		leave_runner_pipes();
		run_worker(r, self, fn, arg);
		_exit(0);
	}
	r->pid[self] = pid;
	return self;
}

struct thread_start {
	struct race *r;
	int self;
	work_fn *fn;
	void *arg;
};

static void *thread_main(void *p)
{
	struct thread_start *ts = p;

	run_worker(ts->r, ts->self, ts->fn, ts->arg);
	return NULL;
}

/*
 * Runs @fn in @nr threads of one new process: threads share the mm, so
 * they also meet on the same page tables.  The process, not the test's,
 * holds them: a thread stuck in the kernel keeps its process from
 * exiting, and the test's process must be able to.
 */
static int spawn_threads(struct race *r, const char *name, int nr, work_fn *fn, void *arg)
{
	struct thread_start ts[MAX_WORKERS];
	bool started[MAX_WORKERS] = { false };
	pthread_t th[MAX_WORKERS];
	char label[32];
	int i, first = r->nr;
	pid_t pid;

	if (r->nr + nr > MAX_WORKERS)
		return -1;
	for (i = 0; i < nr; i++) {
		snprintf(label, sizeof(label), "%s %d", name, i);
		add_worker(r, label, WATCHDOG_S, first);
	}
	pid = fork();
	if (pid < 0) {
		for (i = 0; i < nr; i++)
			r->w[first + i].done = 1;
		return -1;
	}
	if (!pid) {
		leave_runner_pipes();
		for (i = 0; i < nr; i++) {
			ts[i] = (struct thread_start){ r, first + i, fn, arg };
			errno = pthread_create(&th[i], NULL, thread_main, &ts[i]);
			started[i] = !errno;
			if (!started[i]) {
				worker_error(r, "pthread_create");
				r->w[first + i].done = 1;
			}
		}
		for (i = 0; i < nr; i++)
			if (started[i])
				pthread_join(th[i], NULL);
		_exit(0);
	}
	/* The process goes with its first worker, which owns the others. */
	r->pid[first] = pid;
	return 0;
}

/* Logs what task @tid is doing: its state, where it sleeps, its stack. */
static void describe_task(struct __test_metadata *_metadata, pid_t tid)
{
	char path[64], line[256], wchan[64] = "?", state = '?';
	FILE *f;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/stat", tid);
	f = fopen(path, "r");
	if (f) {
		if (fgets(line, sizeof(line), f) && strrchr(line, ')'))
			state = strrchr(line, ')')[2];
		fclose(f);
	}
	snprintf(path, sizeof(path), "/proc/%d/wchan", tid);
	f = fopen(path, "r");
	if (f) {
		if (!fgets(wchan, sizeof(wchan), f))
			snprintf(wchan, sizeof(wchan), "?");
		fclose(f);
	}
	TH_LOG("  tid %d: state %c, wchan %s", tid, state, wchan);
	snprintf(path, sizeof(path), "/proc/%d/stack", tid);
	f = fopen(path, "r");
	if (!f)
		return;
	while (n++ < 12 && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		TH_LOG("    %s", line);
	}
	fclose(f);
}

/*
 * Reaps worker @i's process if it has exited.  A process that died with
 * workers still running, not by our SIGKILL (a SIGBUS from a mapping,
 * say), is an error.
 */
static void reap_one(struct __test_metadata *_metadata, struct race *r, int i)
{
	int status, j;

	if (!r->pid[i] || waitpid(r->pid[i], &status, WNOHANG) != r->pid[i])
		return;
	r->pid[i] = 0;
	for (j = 0; j < r->nr; j++) {
		struct worker *w = &r->w[j];

		if (w->owner != i || __atomic_load_n(&w->done, __ATOMIC_SEQ_CST))
			continue;
		__atomic_store_n(&w->done, 1, __ATOMIC_SEQ_CST);
		if (r->w[i].killed)
			continue;
		TH_LOG("%s died: %s", w->name, WIFSIGNALED(status) ?
		       strsignal(WTERMSIG(status)) : "exit before it was done");
		note(r, "%s died", w->name);
		__atomic_add_fetch(&r->errors, 1, __ATOMIC_SEQ_CST);
	}
}

/*
 * Returns how many workers still running have not moved for longer than
 * their patience, and logs each the first time.
 */
static int stalled(struct __test_metadata *_metadata, struct race *r)
{
	double now = now_s();
	int i, stuck = 0;

	for (i = 0; i < r->nr; i++)
		reap_one(_metadata, r, i);
	for (i = 0; i < r->nr; i++) {
		struct worker *w = &r->w[i];
		unsigned long p = __atomic_load_n(&w->progress, __ATOMIC_SEQ_CST);

		if (__atomic_load_n(&w->done, __ATOMIC_SEQ_CST))
			continue;
		if (p != w->seen) {
			w->seen = p;
			w->since = now;
			continue;
		}
		if (now - w->since < w->patience)
			continue;
		stuck++;
		if (w->reported)
			continue;
		w->reported = true;
		TH_LOG("watchdog: %s made no progress for %.0f s (%lu steps before): livelock?",
		       w->name, now - w->since, p);
		describe_task(_metadata, w->tid ? w->tid : r->pid[i]);
	}
	return stuck;
}

static bool all_done(const struct race *r)
{
	int i;

	for (i = 0; i < r->nr; i++)
		if (!__atomic_load_n(&r->w[i].done, __ATOMIC_SEQ_CST))
			return false;
	return true;
}

static bool all_ready(const struct race *r)
{
	int i;

	for (i = 0; i < r->nr; i++)
		if (!__atomic_load_n(&r->w[i].ready, __ATOMIC_SEQ_CST) &&
		    !__atomic_load_n(&r->w[i].done, __ATOMIC_SEQ_CST))
			return false;
	return true;
}

/*
 * Watches the workers for @seconds, or until @until holds, checking four
 * times a second that each moves.  Returns how many are stuck.
 */
static int watch(struct __test_metadata *_metadata, struct race *r, int seconds,
		 bool (*until)(const struct race *r))
{
	double end = now_s() + seconds;
	int stuck;

	for (;;) {
		stuck = stalled(_metadata, r);
		if (stuck || (until && until(r)) || now_s() >= end)
			return stuck;
		usleep(250000);
	}
}

/*
 * Reaps the worker processes as they exit, for up to @seconds; returns
 * how many are left.
 */
static int reap(struct __test_metadata *_metadata, struct race *r, int seconds)
{
	double end = now_s() + seconds;
	int i, left;

	for (;;) {
		left = 0;
		for (i = 0; i < r->nr; i++) {
			reap_one(_metadata, r, i);
			left += !!r->pid[i];
		}
		if (!left || now_s() >= end)
			return left;
		usleep(100000);
	}
}

/*
 * Sends SIGKILL to every worker process still there and reaps what
 * exits.  A task stuck in the kernel may never exit: it is left behind,
 * not waited for.  Returns how many processes are left.
 */
static int kill_workers(struct __test_metadata *_metadata, struct race *r)
{
	int i;

	for (i = 0; i < r->nr; i++) {
		if (!r->pid[i])
			continue;
		r->w[i].killed = true;
		kill(r->pid[i], SIGKILL);
	}
	return reap(_metadata, r, 2);
}

/*
 * Tells the workers to stop and waits for them to leave, watching them as
 * before.  Returns how many were stuck, or could not be made to exit.
 */
static int stop_workers(struct __test_metadata *_metadata, struct race *r)
{
	int stuck, left;

	__atomic_store_n(&r->stop, 1, __ATOMIC_SEQ_CST);
	stuck = watch(_metadata, r, STOP_S, all_done);
	if (!stuck && !all_done(r)) {
		TH_LOG("watchdog: workers still running %d s after being told to stop",
		       STOP_S);
		stuck = 1;
	}
	if (!stuck)
		reap(_metadata, r, 5);
	left = kill_workers(_metadata, r);
	if (left)
		TH_LOG("watchdog: %d worker processes would not exit, even killed", left);
	return stuck ? stuck : left;
}

static void log_race(struct __test_metadata *_metadata, struct race *r,
		     const struct counters *d)
{
	int i;

	for (i = 0; i < r->nr; i++)
		TH_LOG("%s: %ld rounds", r->w[i].name, r->w[i].rounds);
	TH_LOG("%ld made volatile, %ld discarded, %ld refaulted, %ld failed to go stable",
	       d->made_volatile, d->discarded, d->refaulted, d->stable_failed);
	TH_LOG("%lu wrong words, %lu poisoned pages, %lu errors%s%s", r->bad,
	       r->poisoned, r->errors, r->noted ? "; first: " : "", r->noted ? r->note : "");
}

/* A host under steady pressure: it discards again the moment it is done. */
static void discarder(struct race *r, int self, void *arg)
{
	int err;

	while (!stopping(r)) {
		err = write_attr("host_discard_mib", "16\n");
		if (err) {
			errno = -err;
			worker_error(r, "host_discard_mib");
			return;
		}
		round_done(r, self);
	}
}

/*
 * Keeps the host discarding: the emulated host's periodic policy, every
 * 10 ms, and with @worker also a worker process that asks for more.  The
 * hypervisor behind ESSA drops every droppable page every period anyway.
 * Returns 0, or -1.
 */
static int start_discarding(struct race *r, bool worker)
{
	if (essa())
		return 0;
	if (host_periodic(10))
		return -1;
	if (worker && spawn(r, "discarder", WATCHDOG_S, discarder, NULL) < 0)
		return -1;
	return 0;
}

/* Stops what start_discarding() started; returns 0 or -errno. */
static int stop_discarding(void)
{
	return essa() ? 0 : host_periodic(0);
}

/* Has @len bytes of @t at @off read into @buf, or finds them in its mapping. */
static const void *fetch(struct race *r, const struct target *t, char *buf,
			 size_t off, size_t len)
{
	if (t->map)
		return t->map + off;
	if (pread(t->fd, buf, len, off) != (ssize_t)len) {
		worker_error(r, "pread");
		return NULL;
	}
	return buf;
}

/*
 * same_page_*: the hot page over and over, then the range.  Through the
 * mapping, every word read is a touch, and a page that went faults.
 */
static void hot_reader(struct race *r, int self, void *arg)
{
	const struct target *t = arg;
	char *buf = t->map ? NULL : malloc(RANGE_LEN);
	const void *data;
	int i;

	if (!t->map && !buf) {
		worker_error(r, "malloc");
		return;
	}
	while (!stopping(r)) {
		for (i = 0; i < HOT_READS; i++) {
			data = fetch(r, t, buf, HOT_OFF, PAGE);
			if (!data)
				goto out;
			check(r, data, PAGE, t->file, HOT_OFF);
		}
		data = fetch(r, t, buf, 0, RANGE_LEN);
		if (!data)
			goto out;
		check(r, data, RANGE_LEN, t->file, 0);
		round_done(r, self);
	}
out:
	free(buf);
}

/* Four reader processes and four threads of a fifth, all on @t. */
static int spawn_hot_readers(struct race *r, struct target *t)
{
	char name[32];
	int i;

	for (i = 0; i < NR_READERS; i++) {
		snprintf(name, sizeof(name), "reader process %d", i);
		if (spawn(r, name, WATCHDOG_S, hot_reader, t) < 0)
			return -1;
	}
	return spawn_threads(r, "reader thread", NR_READERS, hot_reader, t);
}

/* Every word the test read was the file's, and no system call failed. */
static void expect_intact(struct __test_metadata *_metadata, const struct race *r)
{
	EXPECT_EQ(0UL, r->errors) TH_LOG("%s", r->note);
	EXPECT_EQ(0UL, r->bad) TH_LOG("%s", r->note);
	EXPECT_EQ(0UL, r->poisoned);
}

/*
 * Races the hot readers of @t against a host that keeps taking pages, for
 * RUN_S seconds after the folios settled.  Returns how many workers got
 * stuck, or -1 when the race could not start or stop; @d gets what the
 * counters did meanwhile.
 */
static int race_hot_readers(struct __test_metadata *_metadata, struct race *r,
			    struct target *t, struct counters *d)
{
	struct counters start;
	int stuck;

	sleep(1);
	counters_read(&start);
	if (start_discarding(r, true) || spawn_hot_readers(r, t))
		return -1;
	stuck = watch(_metadata, r, RUN_S, NULL);
	stuck += stop_workers(_metadata, r);
	if (stop_discarding())
		return -1;
	*d = counters_since(&start);
	log_race(_metadata, r, d);
	return stuck;
}

FIXTURE(race)
{
	int fd[NR_FILES];
	struct race *r;
};

FIXTURE_SETUP(race)
{
	int i;

	if (gph_host() == GPH_HOST_NONE)
		SKIP(return, GPH_HOST_NEEDED);
	for (i = 0; i < NR_FILES; i++) {
		self->fd[i] = write_file(i);
		ASSERT_LE(0, self->fd[i]) TH_LOG("creating a file on %s", disk_dir());
	}
	self->r = race_new();
	ASSERT_NE(NULL, self->r);
}

FIXTURE_TEARDOWN(race)
{
	char path[256];
	int i;

	/* Whatever happened, the host stops discarding on its own. */
	stop_discarding();
	if (self->r) {
		/* An assertion may have left workers running. */
		__atomic_store_n(&self->r->stop, 1, __ATOMIC_SEQ_CST);
		kill_workers(_metadata, self->r);
		munmap(self->r, sizeof(*self->r));
	}
	for (i = 0; i < NR_FILES; i++) {
		if (self->fd[i] > 0)
			close(self->fd[i]);
		file_path(path, sizeof(path), i);
		unlink(path);
	}
}

/*
 * Readers that all want the same pages while the host keeps taking them:
 * whenever a page was discarded, several lookups find it at once, and
 * each must either send it through discard or see another task do so.
 * Two lookups that each hold a reference while waiting for the other to
 * drop its own never finish: the watchdog reports them.
 */
TEST_F_TIMEOUT(race, same_page_readers, 180)
{
	struct target t = { .file = HOT, .fd = self->fd[HOT] };
	struct race *r = self->r;
	struct counters d;
	int stuck;

	warm_up(r, t.fd, HOT);
	stuck = race_hot_readers(_metadata, r, &t, &d);
	ASSERT_LE(0, stuck) TH_LOG("the race did not start");
	/* The stuck tasks hold the page: a read of it now would join them. */
	ASSERT_EQ(0, stuck) TH_LOG("readers of one page stopped making progress");

	read_and_check(r, t.fd, HOT, 0, FILE_SIZE);
	expect_intact(_metadata, r);
	EXPECT_LT(0, host_took(&d));
	EXPECT_LT(0, d.refaulted);
}

/*
 * The same through a shared mapping: the host takes the mappings away
 * with the pages, and the readers' faults meet in the page cache lookup
 * (processes) or on the same page table too (threads).  With ESSA the
 * mappings stay, and the readers' discard faults meet instead.
 */
TEST_F_TIMEOUT(race, same_page_faulters, 180)
{
	struct target t = { .file = HOT, .fd = self->fd[HOT] };
	struct race *r = self->r;
	struct counters d;
	int stuck;
	char *map;

	warm_up(r, t.fd, HOT);
	map = mmap(NULL, FILE_SIZE, PROT_READ, MAP_SHARED, t.fd, 0);
	ASSERT_NE(MAP_FAILED, map);
	t.map = map;
	check(r, map, FILE_SIZE, HOT, 0);
	stuck = race_hot_readers(_metadata, r, &t, &d);
	ASSERT_LE(0, stuck) TH_LOG("the race did not start");
	ASSERT_EQ(0, stuck) TH_LOG("faulters on one page stopped making progress");

	check(r, map, FILE_SIZE, HOT, 0);
	read_and_check(r, t.fd, HOT, 0, FILE_SIZE);
	EXPECT_EQ(0, munmap(map, FILE_SIZE));
	expect_intact(_metadata, r);
	EXPECT_LT(0, host_took(&d));
	EXPECT_LT(0, d.refaulted);
}

/* What the GUP workers work on. */
struct gup_files {
	int a;			/* A: buffered, mapped as the O_DIRECT buffer */
	int b_direct;		/* B, opened O_DIRECT: the data for A */
	int c;			/* C: mapped, the source of pins */
	int d_direct;		/* D, opened O_DIRECT: where C's pins are written */
	unsigned long heavy;	/* MiB of heavy pressure */
};

#define DIO_LEN RANGE_LEN

/*
 * gup_pins_race_discards (a): O_DIRECT reads of B land in a shared
 * mapping of A, so the block layer writes A's page-cache pages through
 * GUP pins.  Before a round A's pages are clean, without buffer heads and
 * volatile, and the host keeps discarding them: the pins fault them in
 * through discard handling.  A pinned page is never discarded, and
 * afterwards A holds B's data, in memory and on disk.
 */
static void dio_into_mapping(struct race *r, int self, void *arg)
{
	const struct gup_files *g = arg;
	size_t off;
	char *a;

	while (!stopping(r)) {
		a = mmap(NULL, DIO_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, g->a, 0);
		if (a == MAP_FAILED) {
			worker_error(r, "mmap A");
			return;
		}
		for (off = 0; off < DIO_LEN; off += CHUNK) {
			if (pread(g->b_direct, a + off, CHUNK, off) != (ssize_t)CHUNK) {
				worker_error(r, "O_DIRECT pread of B into A's mapping");
				munmap(a, DIO_LEN);
				return;
			}
			bump(r, self);
		}
		check(r, a, DIO_LEN, SOURCE, 0);
		munmap(a, DIO_LEN);
		/*
		 * Written back and dropped, then read again, A's pages are
		 * clean and have no buffer heads: the host may take them
		 * before the next round pins them.  The hypervisor behind
		 * ESSA gets two of its periods for that.
		 */
		if (fsync(g->a) || posix_fadvise(g->a, 0, DIO_LEN, POSIX_FADV_DONTNEED)) {
			worker_error(r, "fsync A");
			return;
		}
		read_and_check(r, g->a, SOURCE, 0, DIO_LEN);
		bump(r, self);
		read_and_check(r, g->a, SOURCE, 0, DIO_LEN);
		host_wait(2);
		round_done(r, self);
	}
}

/*
 * The other direction: O_DIRECT writes from a read-only mapping of C pin
 * clean, volatile page-cache pages while the device reads them.  A page
 * the host discarded under the pin would put its poison on D's disk
 * blocks; they are read back past the page cache.
 */
static void dio_from_mapping(struct race *r, int self, void *arg)
{
	const struct gup_files *g = arg;
	char *c, *buf;
	size_t off;

	buf = mmap(NULL, CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED) {
		worker_error(r, "mmap");
		return;
	}
	while (!stopping(r)) {
		c = mmap(NULL, DIO_LEN, PROT_READ, MAP_SHARED, g->c, 0);
		if (c == MAP_FAILED) {
			worker_error(r, "mmap C");
			break;
		}
		for (off = 0; off < DIO_LEN; off += CHUNK) {
			if (pwrite(g->d_direct, c + off, CHUNK, off) != (ssize_t)CHUNK) {
				worker_error(r, "O_DIRECT pwrite from C's mapping to D");
				munmap(c, DIO_LEN);
				goto out;
			}
			bump(r, self);
		}
		munmap(c, DIO_LEN);
		for (off = 0; off < DIO_LEN; off += CHUNK) {
			if (pread(g->d_direct, buf, CHUNK, off) != (ssize_t)CHUNK) {
				worker_error(r, "O_DIRECT pread of D");
				goto out;
			}
			check(r, buf, CHUNK, CONTROL, off);
		}
		round_done(r, self);
	}
out:
	munmap(buf, CHUNK);
}

/*
 * Puts up to @len bytes of a read-only mapping of @fd in the pipe @wfd
 * with vmsplice(), then unmaps them: the pipe alone holds the pages.
 * Returns how many bytes went in.
 */
static size_t splice_mapping(int fd, int wfd, size_t len)
{
	struct iovec iov;
	char *map;
	ssize_t n;

	map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return 0;
	iov = (struct iovec){ map, len };
	/* Non-blocking: a full pipe must not look like a stuck worker. */
	while (iov.iov_len) {
		n = vmsplice(wfd, &iov, 1, SPLICE_F_NONBLOCK);
		if (n <= 0)
			break;
		iov.iov_base = (char *)iov.iov_base + n;
		iov.iov_len -= n;
	}
	munmap(map, len);
	return len - iov.iov_len;
}

/* Reads exactly @len bytes from @fd; returns 0 or -1. */
static int read_full(int fd, char *buf, size_t len)
{
	ssize_t n;

	for (; len; buf += n, len -= n) {
		n = read(fd, buf, len);
		if (n <= 0)
			return -1;
	}
	return 0;
}

/*
 * gup_pins_race_discards (b): vmsplice() without SPLICE_F_GIFT puts
 * references to C's page-cache pages in a pipe.  Unmapped, those pages
 * are held only by the pipe, and the host must leave them alone under
 * heavy pressure: what comes out of the pipe is C's data.
 */
static void splicer(struct race *r, int self, void *arg)
{
	const struct gup_files *g = arg;
	const char *failed = NULL;
	int pipefd[2];
	size_t len;
	char *buf;
	long size;

	buf = malloc(RANGE_LEN);
	if (!buf) {
		worker_error(r, "malloc");
		return;
	}
	while (!failed && !stopping(r)) {
		if (pipe(pipefd)) {
			failed = "pipe";
			break;
		}
		/* 1 MiB if pipe-max-size allows; what the pipe holds otherwise. */
		fcntl(pipefd[1], F_SETPIPE_SZ, RANGE_LEN);
		size = fcntl(pipefd[1], F_GETPIPE_SZ);
		len = size > 0 && (size_t)size < RANGE_LEN ? (size_t)size : RANGE_LEN;
		len = splice_mapping(g->c, pipefd[1], len);
		bump(r, self);
		if (!len)
			failed = "vmsplice";
		else if (squeeze(g->heavy, 2) < 0)
			failed = "host_discard_mib";
		else if (read_full(pipefd[0], buf, len))
			failed = "read from the pipe";
		else
			check(r, buf, len, CONTROL, 0);
		close(pipefd[0]);
		close(pipefd[1]);
		if (!failed)
			round_done(r, self);
	}
	if (failed)
		worker_error(r, failed);
	free(buf);
}

static int open_direct(int file)
{
	char path[256];

	file_path(path, sizeof(path), file);
	return open(path, O_RDWR | O_DIRECT);
}

/*
 * GUP pins (O_DIRECT in both directions) and vmsplice's references race
 * a host that discards all the time.  Mappings are page aligned, which
 * O_DIRECT on ext4 needs of its buffers, and the offsets are 64 KiB ones.
 */
TEST_F_TIMEOUT(race, gup_pins_race_discards, 180)
{
	struct gup_files g = {
		.a = self->fd[HOT],
		.c = self->fd[CONTROL],
		.heavy = heavy_mib(),
	};
	struct race *r = self->r;
	int stuck, into, from, splice;
	struct counters start, d;
	char *a;

	g.b_direct = open_direct(SOURCE);
	ASSERT_LE(0, g.b_direct) TH_LOG("O_DIRECT on %s: %s", disk_dir(), strerror(errno));
	g.d_direct = open_direct(SPARE);
	ASSERT_LE(0, g.d_direct);
	warm_up(r, g.a, HOT);
	warm_up(r, g.c, CONTROL);
	sleep(1);
	counters_read(&start);
	ASSERT_EQ(0, start_discarding(r, true));
	into = spawn(r, "O_DIRECT read into A's mapping", WATCHDOG_S, dio_into_mapping, &g);
	ASSERT_LE(0, into);
	from = spawn(r, "O_DIRECT write from C's mapping", WATCHDOG_S, dio_from_mapping, &g);
	ASSERT_LE(0, from);
	splice = spawn(r, "vmsplice of C's mapping", WATCHDOG_S, splicer, &g);
	ASSERT_LE(0, splice);
	stuck = watch(_metadata, r, RUN_S, NULL);
	stuck += stop_workers(_metadata, r);
	ASSERT_EQ(0, stop_discarding());
	d = counters_since(&start);
	log_race(_metadata, r, &d);
	ASSERT_EQ(0, stuck) TH_LOG("pinning workers stopped making progress");

	/* A holds B's data where the reads went, its own elsewhere... */
	a = mmap(NULL, FILE_SIZE, PROT_READ, MAP_SHARED, g.a, 0);
	ASSERT_NE(MAP_FAILED, a);
	check(r, a, DIO_LEN, SOURCE, 0);
	check(r, a + DIO_LEN, FILE_SIZE - DIO_LEN, HOT, DIO_LEN);
	EXPECT_EQ(0, munmap(a, FILE_SIZE));
	/* ...and so does the file, read after a writeback. */
	EXPECT_EQ(0, fsync(g.a));
	read_and_check(r, g.a, SOURCE, 0, DIO_LEN);
	read_and_check(r, g.a, HOT, DIO_LEN, FILE_SIZE - DIO_LEN);
	close(g.b_direct);
	close(g.d_direct);

	expect_intact(_metadata, r);
	EXPECT_LT(0, r->w[into].rounds);
	EXPECT_LT(0, r->w[from].rounds);
	EXPECT_LT(0, r->w[splice].rounds);
	EXPECT_LT(0, host_took(&d));
	EXPECT_LT(0, d.refaulted);
}

/* Minor and major page faults of the calling thread so far. */
static long thread_faults(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_THREAD, &ru))
		return -1;
	return ru.ru_minflt + ru.ru_majflt;
}

struct locked_file {
	int file;
	int fd;
	bool all;	/* mlockall(MCL_CURRENT | MCL_FUTURE) before mapping */
};

/*
 * mlocked_mappings_keep_their_pages: maps and locks a file, touches it,
 * waits for the test to apply pressure, then touches every page again
 * and counts the faults that took.  A page the host took from the
 * locked mapping would have to fault back in.
 */
static void locked_toucher(struct race *r, int self, void *arg)
{
	const struct locked_file *l = arg;
	long before;
	char *p;

	if (l->all && mlockall(MCL_CURRENT | MCL_FUTURE)) {
		worker_error(r, "mlockall");
		return;
	}
	p = mmap(NULL, FILE_SIZE, PROT_READ, MAP_SHARED, l->fd, 0);
	if (p == MAP_FAILED) {
		worker_error(r, "mmap");
		return;
	}
	if (!l->all && mlock(p, FILE_SIZE)) {
		worker_error(r, "mlock");
		return;
	}
	/* Also faults in the code and stack the second touch runs on. */
	before = thread_faults();
	check(r, p, FILE_SIZE, l->file, 0);
	r->w[self].faults = thread_faults() - before;
	__atomic_store_n(&r->w[self].ready, 1, __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(&r->phase, __ATOMIC_SEQ_CST)) {
		if (stopping(r))
			return;
		bump(r, self);
		usleep(100000);
	}
	before = thread_faults();
	check(r, p, FILE_SIZE, l->file, 0);
	r->w[self].faults = thread_faults() - before;
	round_done(r, self);
}

/*
 * The host never takes a page of a VM_LOCKED mapping: after heavy
 * pressure, which took the pages of an unlocked control file, touching
 * every page of the locked mappings (mlock() in one process, mlockall()
 * with MCL_FUTURE in another) faults not once, and the data is right.
 * With ESSA the pressure is the hypervisor's periods going by, and what
 * it took shows when the control file is read again.
 */
TEST_F_TIMEOUT(race, mlocked_mappings_keep_their_pages, 180)
{
	struct locked_file locked = { .file = HOT, .fd = self->fd[HOT] };
	struct locked_file all = { .file = SPARE, .fd = self->fd[SPARE], .all = true };
	struct race *r = self->r;
	long taken, refaulted;
	struct counters start, d;
	int stuck, one, every;

	one = spawn(r, "mlock()", WATCHDOG_S, locked_toucher, &locked);
	ASSERT_LE(0, one);
	every = spawn(r, "mlockall()", WATCHDOG_S, locked_toucher, &all);
	ASSERT_LE(0, every);
	warm_up(r, self->fd[CONTROL], CONTROL);
	stuck = watch(_metadata, r, 60, all_ready);
	ASSERT_EQ(0, stuck);
	ASSERT_TRUE(all_ready(r));
	TH_LOG("first touch of the locked mappings: %ld and %ld faults",
	       r->w[one].faults, r->w[every].faults);
	sleep(1);

	counters_read(&start);
	taken = squeeze(heavy_mib(), 3);
	ASSERT_LE(0, taken);
	/* The control file's pages went, and its first read finds that. */
	refaulted = read_vmstat("page_states_refaulted");
	read_and_check(r, self->fd[CONTROL], CONTROL, 0, FILE_SIZE);
	refaulted = read_vmstat("page_states_refaulted") - refaulted;
	__atomic_store_n(&r->phase, 1, __ATOMIC_SEQ_CST);
	stuck = watch(_metadata, r, 60, all_done);
	stuck += stop_workers(_metadata, r);
	d = counters_since(&start);
	log_race(_metadata, r, &d);
	if (essa())
		TH_LOG("re-reading the control file refaulted %ld pages", refaulted);
	else
		TH_LOG("the host took %ld pages; re-reading the control file refaulted %ld",
		       taken, refaulted);
	ASSERT_EQ(0, stuck) TH_LOG("a process with a locked mapping stopped making progress");

	expect_intact(_metadata, r);
	EXPECT_EQ(1, r->w[one].rounds);
	EXPECT_EQ(1, r->w[every].rounds);
	EXPECT_EQ(0, r->w[one].faults) TH_LOG("faults touching the mlock()ed mapping");
	EXPECT_EQ(0, r->w[every].faults) TH_LOG("faults touching the mlockall()ed mapping");
	if (!essa())
		EXPECT_LT(0, taken);
	EXPECT_LT(0, host_took(&d));
	EXPECT_LT(0, refaulted);
}

/* Which files a sweeper reads, and how. */
struct sweep {
	const int *fd;
	int first, nr;
	bool mapped;
};

/*
 * compaction_races_discards: reads whole files, one MiB at a time, with
 * pread() or through mappings it keeps, over and over.
 */
static void sweeper(struct race *r, int self, void *arg)
{
	const struct sweep *s = arg;
	const char *map[NR_FILES] = { NULL };
	size_t off;
	int i;

	for (i = 0; s->mapped && i < s->nr; i++) {
		map[i] = mmap(NULL, FILE_SIZE, PROT_READ, MAP_SHARED, s->fd[s->first + i], 0);
		if (map[i] == MAP_FAILED) {
			worker_error(r, "mmap");
			return;
		}
	}
	while (!stopping(r)) {
		for (i = 0; i < s->nr; i++) {
			for (off = 0; off < FILE_SIZE; off += RANGE_LEN) {
				if (map[i])
					check(r, map[i] + off, RANGE_LEN, s->first + i, off);
				else if (read_and_check(r, s->fd[s->first + i], s->first + i,
							off, RANGE_LEN))
					return;
				bump(r, self);
			}
		}
		round_done(r, self);
	}
}

#define COMPACT_MEMORY "/proc/sys/vm/compact_memory"

/* Compacts all memory, again and again: migration moves the files' pages. */
static void compactor(struct race *r, int self, void *arg)
{
	int fd;

	while (!stopping(r)) {
		fd = open(COMPACT_MEMORY, O_WRONLY);
		if (fd < 0 || write(fd, "1", 1) != 1) {
			worker_error(r, COMPACT_MEMORY);
			if (fd >= 0)
				close(fd);
			return;
		}
		close(fd);
		round_done(r, self);
	}
}

/*
 * Compaction migrates page-cache folios that the host discards and that
 * readers look up, all at once: migration, discard and discard handling
 * each lock the folio and mind each other's references.
 */
TEST_F_TIMEOUT(race, compaction_races_discards, 240)
{
	struct sweep by_read = { .fd = self->fd, .first = 0, .nr = 2 };
	struct sweep by_map = { .fd = self->fd, .first = 2, .nr = 2, .mapped = true };
	long migrated = read_vmstat("pgmigrate_success");
	bool compaction = !access(COMPACT_MEMORY, W_OK);
	struct race *r = self->r;
	int stuck, i, compacting = -1;
	struct counters start, d;

	for (i = 0; i < NR_FILES; i++)
		warm_up(r, self->fd[i], i);
	sleep(1);
	counters_read(&start);
	ASSERT_EQ(0, start_discarding(r, false));
	ASSERT_LE(0, spawn(r, "pread() sweeper", WATCHDOG_S, sweeper, &by_read));
	ASSERT_LE(0, spawn(r, "mapping sweeper", WATCHDOG_S, sweeper, &by_map));
	if (compaction) {
		compacting = spawn(r, "compactor", COMPACT_PATIENCE_S, compactor, NULL);
		ASSERT_LE(0, compacting);
	} else {
		TH_LOG("no %s: readers and discards only", COMPACT_MEMORY);
	}
	stuck = watch(_metadata, r, RUN_S, NULL);
	stuck += stop_workers(_metadata, r);
	ASSERT_EQ(0, stop_discarding());
	d = counters_since(&start);
	log_race(_metadata, r, &d);
	if (migrated >= 0)
		TH_LOG("%ld pages migrated", read_vmstat("pgmigrate_success") - migrated);
	ASSERT_EQ(0, stuck) TH_LOG("readers or compaction stopped making progress");

	for (i = 0; i < NR_FILES; i++)
		read_and_check(r, self->fd[i], i, 0, FILE_SIZE);
	expect_intact(_metadata, r);
	if (compacting >= 0)
		EXPECT_LT(0, r->w[compacting].rounds);
	EXPECT_LT(0, host_took(&d));
	EXPECT_LT(0, d.refaulted);
}

TEST_HARNESS_MAIN
