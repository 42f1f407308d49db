// SPDX-License-Identifier: GPL-2.0
/*
 * essa-test: a bare-metal s390x program that checks QEMU's TCG ESSA
 * (EXTRACT AND SET STORAGE ATTRIBUTES, CMMA with z/VM semantics).
 *
 * QEMU boots it with -kernel; it writes TAP-like lines to the SCLP ASCII
 * console and stops in a disabled wait.  host/qemu/test-essa.sh boots it
 * with cmm off, with cmm on, and with cmm and cmmnt on; the program finds
 * out which on its own and says so in a "essa-test: cmm=..." line that the
 * script compares.  A fourth boot, with cmm on and 65 MiB of memory, runs
 * only the test of which pages the host drops first ("essa-test: aging").
 *
 * Real addresses are absolute addresses here except for the two lowcore
 * pages (DAT is off), and ESSA takes a real address.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "essa-test.h"

#define PAGE_SIZE		4096UL
#define WORDS_PER_PAGE		(PAGE_SIZE / sizeof(unsigned long))

/* Test pages: above the image, below the 64 MiB the script gives. */
#define CHAIN_PAGE		0x1000000UL
#define EXC_PAGE		0x1001000UL
#define DROP_BASE		0x1100000UL
#define CONC_BASE0		0x1200000UL
#define CONC_BASE1		0x1300000UL
#define SHARED_PAGE		0x1400000UL

/* ESSA order codes (M3). */
enum {
	GET_STATE,
	SET_STABLE,
	SET_UNUSED,
	SET_VOLATILE,
	SET_POT_VOLATILE,
	SET_STABLE_RESIDENT,
	SET_STABLE_IF_RESIDENT,
	SET_STABLE_NODAT,
};

static const char *const order_names[] = {
	"GET_STATE", "SET_STABLE", "SET_UNUSED", "SET_VOLATILE",
	"SET_POT_VOLATILE", "SET_STABLE_RESIDENT", "SET_STABLE_IF_RESIDENT",
	"SET_STABLE_NODAT",
};

/* The state ESSA returns in R1: content, usage, no-DAT flag. */
#define ST_ZERO			0x03
#define ST_CONTENT		0x03
#define ST_STABLE		(0 << 2)
#define ST_UNUSED		(1 << 2)
#define ST_POT_VOLATILE		(2 << 2)
#define ST_VOLATILE		(3 << 2)
#define ST_USAGE		(3 << 2)
#define ST_NODAT		0x20

/* essa() returns this plus the code when ESSA raised a program check. */
#define ESSA_CHECK		0x10000UL

#define PGM_OPERATION		0x01
#define PGM_PRIVILEGED		0x02
#define PGM_SPECIFICATION	0x06
#define PGM_DISCARD		0x1a

#define SIGP_RESTART		0x06
#define SIGP_SET_PREFIX		0x0d

/* TOD clock: bit 51 is one microsecond. */
#define TOD_US			4096UL
#define TOD_MS			(1000 * TOD_US)

#define CONC_PAGES		16
#define CONC_MS			3000

#define __aligned(x)		__attribute__((__aligned__(x)))
#define __packed		__attribute__((__packed__))
#define ARRAY_SIZE(a)		(sizeof(a) / sizeof((a)[0]))

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;

/* ---- lowcore, clock, facilities ---- */

static unsigned long lc_read(unsigned long off)
{
	return *(volatile unsigned long *)off;
}

static void lc_write(unsigned long off, unsigned long val)
{
	*(volatile unsigned long *)off = val;
}

static unsigned int lc_read16(unsigned long off)
{
	return *(volatile u16 *)off;
}

static unsigned long tod(void)
{
	unsigned long clk;

	asm volatile("stckf %0" : "=Q" (clk) : : "cc");
	return clk;
}

static void spin_tod(unsigned long ticks)
{
	unsigned long end = tod() + ticks;

	while (tod() < end)
		;
}

static bool facility(unsigned int nr)
{
	struct {
		unsigned long w[4];
	} list = { { 0 } };
	register unsigned long r0 asm("0") = 3;

	asm volatile("stfle %0" : "=Q" (list), "+d" (r0) : : "cc");
	if (nr / 64 > r0)
		return false;
	return list.w[nr / 64] & (1UL << (63 - nr % 64));
}

static void set_prefix(unsigned long addr)
{
	u32 pfx = addr;

	asm volatile("spx %0" : : "Q" (pfx) : "memory");
}

static int sigp(unsigned int cpu, unsigned int order, unsigned long param)
{
	register unsigned long r1 asm("1") = param;
	int cc;

	asm volatile("sigp %[r1],%[cpu],0(%[order])\n"
		     "ipm %[cc]\n"
		     "srl %[cc],28"
		     : [cc] "=d" (cc), [r1] "+d" (r1)
		     : [cpu] "d" (cpu), [order] "a" (order)
		     : "cc", "memory");
	return cc;
}

/* Order code busy (cc 2): another SIGP holds QEMU's lock, try again. */
static int sigp_retry(unsigned int cpu, unsigned int order, unsigned long param)
{
	int cc;

	do {
		cc = sigp(cpu, order, param);
	} while (cc == 2);
	return cc;
}

/* clang may turn loops into calls to these even when freestanding. */
void *memset(void *s, int c, size_t n)
{
	volatile unsigned char *p = s;

	while (n--)
		*p++ = c;
	return s;
}

void *memcpy(void *d, const void *s, size_t n)
{
	volatile unsigned char *dp = d;
	const unsigned char *sp = s;

	while (n--)
		*dp++ = *sp++;
	return d;
}

/* ---- SCLP ASCII console (what Linux's ttysclp0 writes to) ---- */

#define SCLP_CMD_WRITE_EVENT_DATA	0x00760005
#define SCLP_CMD_WRITE_EVENT_MASK	0x00780005
#define SCLP_EVENT_ASCII		0x1a
#define SCLP_MASK_ASCII			0x00000040

struct sccb_header {
	u16 length;
	u8 function_code;
	u8 control_mask[3];
	u16 response_code;
} __packed;

struct event_header {
	u16 length;
	u8 type;
	u8 flags;
	u16 reserved;
} __packed;

struct write_event_mask {
	struct sccb_header h;
	u16 reserved;
	u16 mask_length;
	u32 cp_receive_mask;
	u32 cp_send_mask;
	u32 send_mask;
	u32 receive_mask;
} __packed;

struct write_event_data {
	struct sccb_header h;
	struct event_header e;
	char data[];
} __packed;

/* One page, as the SCCB must not cross a page boundary. */
static u8 sccb_page[PAGE_SIZE] __aligned(PAGE_SIZE);

static int servc(u32 cmd, void *sccb)
{
	int cc;

	/*
	 * QEMU completes the command before SERVC returns; the service
	 * signal it then makes pending stays pending, as external
	 * interruptions stay disabled.
	 */
	asm volatile(".insn rre,0xb2200000,%[cmd],%[sccb]\n"
		     "ipm %[cc]\n"
		     "srl %[cc],28"
		     : [cc] "=&d" (cc)
		     : [cmd] "d" (cmd), [sccb] "a" (sccb)
		     : "cc", "memory");
	return cc;
}

static void sclp_init(void)
{
	struct write_event_mask *m = (void *)sccb_page;

	memset(sccb_page, 0, sizeof(*m));
	m->h.length = sizeof(*m);
	m->mask_length = sizeof(u32);
	m->cp_send_mask = SCLP_MASK_ASCII;
	servc(SCLP_CMD_WRITE_EVENT_MASK, m);
}

static void sclp_write(const char *s, size_t len)
{
	struct write_event_data *w = (void *)sccb_page;
	size_t max = PAGE_SIZE - sizeof(*w);

	if (len > max)
		len = max;
	memset(w, 0, sizeof(*w));
	memcpy(w->data, s, len);
	w->h.length = sizeof(*w) + len;
	w->e.length = sizeof(w->e) + len;
	w->e.type = SCLP_EVENT_ASCII;
	while (servc(SCLP_CMD_WRITE_EVENT_DATA, w) == 2)
		;
}

/* ---- formatting: just what the messages need ---- */

struct buf {
	char *p;
	size_t left;
};

static void put(struct buf *b, char c)
{
	if (b->left > 1) {
		*b->p++ = c;
		b->left--;
	}
}

static void put_num(struct buf *b, unsigned long v, unsigned int base,
		    int width, char pad, bool neg)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	if (neg)
		tmp[n++] = '-';
	while (width-- > n)
		put(b, pad);
	while (n)
		put(b, tmp[--n]);
}

static void vformat(char *out, size_t size, const char *fmt, va_list ap)
{
	struct buf b = { out, size };

	for (; *fmt; fmt++) {
		int width = 0;
		bool is_long = false;
		char pad = ' ';
		unsigned long v;

		if (*fmt != '%') {
			put(&b, *fmt);
			continue;
		}
		fmt++;
		if (*fmt == '0')
			pad = '0';
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + *fmt++ - '0';
		if (*fmt == 'l') {
			is_long = true;
			fmt++;
		}
		switch (*fmt) {
		case 'd': {
			long s = is_long ? va_arg(ap, long) : va_arg(ap, int);

			put_num(&b, s < 0 ? -s : s, 10, width, pad, s < 0);
			break;
		}
		case 'u':
		case 'x':
			v = is_long ? va_arg(ap, unsigned long) :
				      va_arg(ap, unsigned int);
			put_num(&b, v, *fmt == 'x' ? 16 : 10, width, pad, false);
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);

			while (*s)
				put(&b, *s++);
			break;
		}
		case '\0':
			fmt--;
			break;
		default:
			put(&b, *fmt);
		}
	}
	*b.p = '\0';
}

static size_t str_len(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

static void print(const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vformat(line, sizeof(line), fmt, ap);
	va_end(ap);
	sclp_write(line, str_len(line));
}

/* ---- TAP-like results ---- */

static unsigned int test_nr, passed, failed;

static void ok(bool cond, const char *fmt, ...)
{
	char text[400];
	va_list ap;

	va_start(ap, fmt);
	vformat(text, sizeof(text), fmt, ap);
	va_end(ap);
	test_nr++;
	if (cond)
		passed++;
	else
		failed++;
	print("%sok %u - %s\n", cond ? "" : "not ", test_nr, text);
}

static void __noreturn finish(void)
{
	print("essa-test: done, %u passed, %u failed\n", passed, failed);
	disabled_wait(0xfff);
}

/* ---- ESSA and the probes ---- */

/* The page's state before the command, or ESSA_CHECK | code. */
static unsigned long essa(unsigned int m3, unsigned long addr)
{
	unsigned long state;
	unsigned int code = essa_try(addr, m3, &state);

	if (code)
		return ESSA_CHECK | code;
	/* Bits above the state are not defined; 0xff: R1 not written. */
	return state & 0xff;
}

/* The length of the instruction at addr, from its first two bits. */
static unsigned int insn_len(unsigned long addr)
{
	static const unsigned int len[4] = { 2, 4, 4, 6 };

	return len[*(volatile u8 *)addr >> 6];
}

/*
 * Check the record of the last probe: code, instruction length, and where
 * the old PSW points.  Nullifying checks (discard fault) leave it at the
 * instruction, the suppressing ones here after it.
 */
static bool check_recorded(unsigned int code, unsigned int want,
			   bool nullified)
{
	unsigned long insn = lc_read(LC_INSN);
	unsigned long addr = lc_read(LC_REC_ADDR);
	unsigned int ilc = lc_read16(LC_REC_ILC);
	unsigned int len = insn_len(insn);

	if (code == want && addr == (nullified ? insn : insn + len) &&
	    ilc == len)
		return true;
	if (!code) {
		print("# no program check (want 0x%02x), insn at 0x%lx\n",
		      want, insn);
		return false;
	}
	print("# program check 0x%02x (want 0x%02x), old PSW 0x%lx, insn at 0x%lx,",
	      code, want, addr, insn);
	print(" ILC %u (want %u)\n", ilc, len);
	return false;
}

/* A discard fault on the page of addr, reported as the spec says. */
static bool check_discard(unsigned int code, unsigned long addr)
{
	unsigned long tec = lc_read(LC_REC_TEC);

	if (!check_recorded(code, PGM_DISCARD, true))
		return false;
	if ((tec & ~0xfffUL) == (addr & ~0xfffUL))
		return true;
	print("# discard fault TEC 0x%lx, want the page of 0x%lx\n", tec, addr);
	return false;
}

static unsigned long pattern(unsigned long page, unsigned long i,
			     unsigned long seed)
{
	return (page + i * 8) ^ (seed * 0x9e3779b97f4a7c15UL);
}

static void fill(unsigned long page, unsigned long seed)
{
	volatile unsigned long *p = (void *)page;
	unsigned long i;

	for (i = 0; i < WORDS_PER_PAGE; i++)
		p[i] = pattern(page, i, seed);
}

/* Index of the first word that differs, or -1. */
static long verify(unsigned long page, unsigned long seed, bool zero)
{
	volatile unsigned long *p = (void *)page;
	unsigned long i;

	for (i = 0; i < WORDS_PER_PAGE; i++)
		if (p[i] != (zero ? 0 : pattern(page, i, seed)))
			return i;
	return -1;
}

/*
 * Make a page potentially volatile and write to it, so that the host must
 * keep it.  The host may drop the page between the two, and the write then
 * faults: make it stable and try again.  Returns the state before.
 */
static unsigned long set_pot_volatile_written(unsigned long page)
{
	unsigned long st = 0;
	unsigned int tries;

	for (tries = 0; tries < 100; tries++) {
		st = essa(SET_POT_VOLATILE, page);
		if (!probe_store(page, 0))
			break;
		essa(SET_STABLE, page);
	}
	return st;
}

static const char *check_name(unsigned long st)
{
	switch (st & 0xff) {
	case PGM_OPERATION:
		return "operation";
	case PGM_PRIVILEGED:
		return "privileged-operation";
	case PGM_SPECIFICATION:
		return "specification";
	case PGM_DISCARD:
		return "discard";
	}
	return "other";
}

/* ---- unexpected program checks ---- */

struct cpu1_state {
	int started;
	int go;
	int done;
	unsigned long fatal_code;
	unsigned long fatal_addr;
	unsigned long fatal_tec;
	unsigned long deadline;
};

static struct cpu1_state cpu1;

void pgm_unexpected(void)
{
	unsigned long code = lc_read16(LC_REC_CODE);
	unsigned long addr = lc_read(LC_REC_ADDR);
	unsigned long tec = lc_read(LC_REC_TEC);

	if (lc_read(LC_CPU) != 0) {
		cpu1.fatal_tec = tec;
		cpu1.fatal_addr = addr;
		__atomic_store_n(&cpu1.fatal_code, code | 0x10000,
				 __ATOMIC_SEQ_CST);
		disabled_wait(0xfff);
	}
	ok(false, "unexpected program check 0x%02lx, old PSW address 0x%lx, TEC 0x%lx",
	   code, addr, tec);
	finish();
}

/* ---- per-CPU set-up ---- */

static u8 emerg_stacks[2][PAGE_SIZE] __aligned(8);
static u8 cpu1_lowcore[8192] __aligned(8192);
/* CPU 0's lowcore while test_prefix moves it away from absolute 0. */
static u8 alt_lowcore[8192] __aligned(8192);


static void set_psw(unsigned long lowcore, unsigned long off,
		    unsigned long mask, void (*fn)(void))
{
	lc_write(lowcore + off, mask);
	lc_write(lowcore + off + 8, (unsigned long)fn);
}

/* lowcore is 0 for the running CPU (prefixing), or CPU 1's absolute. */
static void init_lowcore(unsigned long lowcore, unsigned int cpu)
{
	set_psw(lowcore, LC_PGM_NEW_PSW, PSW_MASK_KERNEL, pgm_handler);
	set_psw(lowcore, LC_RESTART_NEW_PSW, PSW_MASK_KERNEL, cpu1_entry);
	lc_write(lowcore + LC_RECOVER, 0);
	lc_write(lowcore + LC_EMERG_SP,
		 (unsigned long)emerg_stacks[cpu] + PAGE_SIZE - 160);
	lc_write(lowcore + LC_CPU, cpu);
}

/* ---- 1: the order codes on a resident page ---- */

struct step {
	unsigned int m3;
	unsigned long before;	/* expected previous state */
};

/* Stable at the start and at the end; resident all along. */
static const struct step chain[] = {
	{ GET_STATE, ST_STABLE },
	{ SET_UNUSED, ST_STABLE },
	{ GET_STATE, ST_UNUSED },
	{ SET_VOLATILE, ST_UNUSED },
	{ GET_STATE, ST_VOLATILE },
	{ SET_POT_VOLATILE, ST_VOLATILE },
	{ GET_STATE, ST_POT_VOLATILE },
	{ SET_STABLE, ST_POT_VOLATILE },
	{ SET_VOLATILE, ST_STABLE },
	{ SET_STABLE_RESIDENT, ST_VOLATILE },
	{ SET_STABLE_RESIDENT, ST_STABLE },
	{ SET_POT_VOLATILE, ST_STABLE },
	{ SET_STABLE_IF_RESIDENT, ST_POT_VOLATILE },
	{ SET_VOLATILE, ST_STABLE },
	{ SET_STABLE_IF_RESIDENT, ST_VOLATILE },
	{ SET_UNUSED, ST_STABLE },
	{ SET_STABLE_IF_RESIDENT, ST_UNUSED },
	{ SET_STABLE_IF_RESIDENT, ST_STABLE },
	{ SET_STABLE, ST_STABLE },
	{ GET_STATE, ST_STABLE },
};

static const struct step chain_nodat[] = {
	{ SET_STABLE_NODAT, ST_STABLE },
	{ GET_STATE, ST_NODAT },
	{ SET_STABLE_NODAT, ST_NODAT },
	{ SET_STABLE, ST_NODAT },
	{ GET_STATE, ST_STABLE },
};

/*
 * The host drops unused and volatile pages every few milliseconds, so a
 * drop may slip in between two steps: then the step sees the expected
 * usage but zero content.  That is no error; run the chain again.
 */
static bool raced_with_drop(unsigned long got, unsigned long want)
{
	return (got & ST_CONTENT) == ST_ZERO &&
	       (got & ~ST_CONTENT) == want && (want & ST_USAGE) != ST_STABLE;
}

/* 1: all steps as expected, 0: a drop raced, retry, -1: mismatch */
static int run_chain(const struct step *s, unsigned int n,
		     unsigned long *got)
{
	unsigned int i;

	essa(SET_STABLE, CHAIN_PAGE);
	fill(CHAIN_PAGE, 1);
	for (i = 0; i < n; i++) {
		got[i] = essa(s[i].m3, CHAIN_PAGE);
		if (got[i] == s[i].before)
			continue;
		return raced_with_drop(got[i], s[i].before) ? 0 : -1;
	}
	return 1;
}

static void test_chain(const char *what, const struct step *s, unsigned int n)
{
	unsigned long got[32];
	unsigned int i, tries = 0;
	int res;

	do {
		res = run_chain(s, n, got);
	} while (res == 0 && ++tries < 10);
	if (tries)
		print("# %s: %u runs raced with a host drop\n", what, tries);
	for (i = 0; i < n; i++) {
		bool good = got[i] == s[i].before;

		ok(good, "%s step %u: %s returns previous state 0x%02lx (got 0x%02lx)",
		   what, i + 1, order_names[s[i].m3], s[i].before, got[i]);
		if (!good)
			return;
	}
	ok(verify(CHAIN_PAGE, 1, false) < 0,
	   "%s: the page kept its contents through every order", what);
}

/* ---- prefixing: R2 is a real address ---- */

/*
 * Move CPU 0's lowcore to alt_lowcore, so that real address alt_lowcore is
 * absolute 0, and mark it potentially volatile through that real address;
 * back at prefix 0, absolute 0 must be the page that changed.  The page is
 * written right away so that the host may not drop it: copy_8k rewrites
 * the lowcore before prefix 0 is back anyway.
 */
static void test_prefix(void)
{
	unsigned long alt = (unsigned long)alt_lowcore;
	unsigned long set, other, abs0, absalt;

	copy_8k(alt, 0);
	set_prefix(alt);
	set = set_pot_volatile_written(alt);
	other = essa(GET_STATE, 0);
	copy_8k(alt, 0);
	set_prefix(0);
	abs0 = essa(GET_STATE, 0);
	absalt = essa(GET_STATE, alt);
	essa(SET_STABLE, 0);
	essa(SET_STABLE, alt);
	ok(set == ST_STABLE && other == ST_STABLE && abs0 == ST_POT_VOLATILE &&
	   absalt == ST_STABLE,
	   "prefixing applies to R2: set 0x%02lx, real 0 0x%02lx, then absolute 0 0x%02lx (want 0x08), absolute alt 0x%02lx (want 0x00)",
	   set, other, abs0, absalt);
}

/* ---- 2: exceptions ---- */

static void test_privileged(void)
{
	unsigned long before = essa(GET_STATE, EXC_PAGE);
	unsigned int code = essa_try_problem_state(EXC_PAGE);
	bool good = check_recorded(code, PGM_PRIVILEGED, false);

	ok(good && essa(GET_STATE, EXC_PAGE) == before,
	   "ESSA in problem state: privileged-operation exception (0x%02x), suppressed",
	   code);
}

static void test_specification(bool cmmnt)
{
	unsigned int m3, first = cmmnt ? 8 : 7;
	bool good = true;

	essa(SET_STABLE, EXC_PAGE);
	/* Written: the host keeps the page, its state stays 0x08. */
	set_pot_volatile_written(EXC_PAGE);
	for (m3 = first; m3 < 16; m3++) {
		unsigned long st;
		unsigned int code = essa_try(EXC_PAGE, m3, &st);

		if (!check_recorded(code, PGM_SPECIFICATION, false)) {
			print("# ESSA with M3=%u\n", m3);
			good = false;
		}
	}
	ok(good && essa(SET_STABLE, EXC_PAGE) == ST_POT_VOLATILE,
	   "ESSA with M3=%u..15: specification exception, suppressed, state unchanged%s",
	   first, cmmnt ? "" : " (7: no cmmnt)");
}

/* ---- 3: pages the host drops ---- */

#define DROP_PAGES	64
#define DROP_UNUSED	0	/* 16 each, in this order */
#define DROP_VOLATILE	16
#define DROP_POTVOL	32
#define DROP_WRITTEN	40	/* pot-volatile written after setting */
/*
 * Reading a dropped unused page may make it resident again (the spec
 * leaves that open): the pages from here on are not read before the
 * checks that want them dropped.
 */
#define DROP_UNUSED_READ	12
#define DROP_STABLE	48

static unsigned long drop_page(unsigned int i)
{
	return DROP_BASE + i * PAGE_SIZE;
}

static unsigned long drop_want(unsigned int i)
{
	if (i < DROP_VOLATILE)
		return ST_UNUSED | ST_ZERO;
	if (i < DROP_POTVOL)
		return ST_VOLATILE | ST_ZERO;
	if (i < DROP_WRITTEN)
		return ST_POT_VOLATILE | ST_ZERO;
	if (i < DROP_STABLE)
		return ST_POT_VOLATILE;
	return ST_STABLE;
}

static void drop_setup(void)
{
	unsigned int i, fresh = 0, set = 0;

	for (i = 0; i < DROP_PAGES; i++) {
		fresh += essa(GET_STATE, drop_page(i)) == ST_STABLE;
		fill(drop_page(i), 2);
	}
	ok(fresh == DROP_PAGES, "%u of %u fresh pages are stable and resident",
	   fresh, DROP_PAGES);
	for (i = 0; i < DROP_WRITTEN; i++) {
		unsigned int m3 = i < DROP_VOLATILE ? SET_UNUSED :
				  i < DROP_POTVOL ? SET_VOLATILE :
				  SET_POT_VOLATILE;

		set += essa(m3, drop_page(i)) == ST_STABLE;
	}
	for (i = DROP_WRITTEN; i < DROP_STABLE; i++) {
		set += set_pot_volatile_written(drop_page(i)) == ST_STABLE;
		fill(drop_page(i), 3);
	}
	ok(set == DROP_STABLE,
	   "16 pages set unused, 16 volatile, 16 potentially volatile: %u return stable",
	   set);
}

/* Poll until every droppable page is gone; kept pages must stay. */
static void drop_wait(void)
{
	unsigned long start = tod(), now;
	unsigned int i, dropped, kept_lost = 0;
	unsigned long bad = 0;

	do {
		dropped = 0;
		for (i = 0; i < DROP_PAGES; i++) {
			unsigned long st = essa(GET_STATE, drop_page(i));

			if (i >= DROP_WRITTEN && st != drop_want(i)) {
				kept_lost++;
				bad = st;
			}
			dropped += i < DROP_WRITTEN && st == drop_want(i);
		}
		now = tod();
	} while (dropped < DROP_WRITTEN && now - start < 20000 * TOD_MS);
	ok(dropped == DROP_WRITTEN,
	   "host dropped %u of 40 unused, volatile, unwritten pot-volatile pages in %lu ms",
	   dropped, (now - start) / TOD_MS);
	ok(kept_lost == 0,
	   "stable and written pot-volatile pages kept their state meanwhile (%u bad, last 0x%02lx)",
	   kept_lost, bad);
}

static void drop_check_kept(void)
{
	unsigned int i, good = 0;

	for (i = DROP_WRITTEN; i < DROP_PAGES; i++)
		good += essa(GET_STATE, drop_page(i)) == drop_want(i) &&
			verify(drop_page(i), i < DROP_STABLE ? 3 : 2, false) < 0;
	ok(good == DROP_PAGES - DROP_WRITTEN,
	   "%u of 24 stable and written pot-volatile pages resident, contents intact",
	   good);
}

static void drop_check_unused(void)
{
	unsigned int i, good = 0;

	for (i = DROP_UNUSED; i < DROP_UNUSED_READ; i++) {
		unsigned long page = drop_page(i), v = 1;
		unsigned int code = probe_load(page + 0x100, &v);

		if (code)
			print("# dropped unused page 0x%lx: program check 0x%02x\n",
			      page, code);
		good += !code && v == 0 && verify(page, 0, true) < 0;
	}
	ok(good == DROP_UNUSED_READ,
	   "%u of %u dropped unused pages read zero without a fault", good,
	   DROP_UNUSED_READ);
}

static void drop_check_faults(void)
{
	unsigned long page = drop_page(DROP_VOLATILE), v = 0;
	unsigned int code;

	code = probe_load(page + 0x328, &v);
	ok(check_discard(code, page + 0x328),
	   "load from a dropped volatile page: discard fault, TEC, nullified");
	code = probe_store(page + 0x7f0, 0x5555aaaa5555aaaaUL);
	ok(check_discard(code, page + 0x7f0),
	   "store to a dropped volatile page: discard fault, TEC, nullified");
	ok(essa(GET_STATE, page) == (ST_VOLATILE | ST_ZERO),
	   "the faulting accesses left the page volatile and dropped");
	page = drop_page(DROP_POTVOL);
	code = probe_load(page + 0xff8, &v);
	ok(check_discard(code, page + 0xff8),
	   "load from a dropped pot-volatile page: discard fault, TEC, nullified");
}

static void drop_check_if_resident(void)
{
	unsigned long vol = drop_page(DROP_VOLATILE + 1);
	unsigned long pv = drop_page(DROP_POTVOL + 1);
	unsigned long r1 = essa(SET_STABLE_IF_RESIDENT, vol);
	unsigned long s1 = essa(GET_STATE, vol);
	unsigned long r2 = essa(SET_STABLE_IF_RESIDENT, pv);
	unsigned long s2 = essa(GET_STATE, pv);

	ok(r1 == (ST_VOLATILE | ST_ZERO) && s1 == r1,
	   "SET_STABLE_IF_RESIDENT on a dropped volatile page returns 0x%02lx, page stays 0x%02lx (want 0x0f)",
	   r1, s1);
	ok(r2 == (ST_POT_VOLATILE | ST_ZERO) && s2 == r2,
	   "SET_STABLE_IF_RESIDENT on a dropped pot-volatile page returns 0x%02lx, page stays 0x%02lx (want 0x0b)",
	   r2, s2);
}

/* An order that makes the dropped page i stable, resident, zero-filled. */
static void drop_check_revive(unsigned int i, unsigned int m3,
			      unsigned long now)
{
	unsigned long page = drop_page(i);
	unsigned long before = essa(m3, page);
	unsigned long after = essa(GET_STATE, page);
	long diff = -1;

	/* Reading a page that is still dropped would fault. */
	if (after == now)
		diff = verify(page, 0, true);
	if (diff >= 0)
		print("# page 0x%lx word %ld: 0x%lx\n", page, diff,
		      ((volatile unsigned long *)page)[diff]);
	ok(before == drop_want(i) && after == now && diff < 0,
	   "%s on dropped page %u returns 0x%02lx, then 0x%02lx (want 0x%02lx), zero-filled",
	   order_names[m3], i, before, after, now);
}

/*
 * SET_UNUSED, SET_VOLATILE and SET_POT_VOLATILE keep the content state of
 * a dropped page: an unused one reads zero, the others fault.
 */
static void drop_check_to_unused(void)
{
	unsigned long page = drop_page(DROP_VOLATILE + 2), v = 1;
	unsigned long before = essa(SET_UNUSED, page);
	unsigned long after = essa(GET_STATE, page);
	unsigned int code = probe_load(page, &v);

	ok(before == (ST_VOLATILE | ST_ZERO) && after == (ST_UNUSED | ST_ZERO) &&
	   !code && !v,
	   "SET_UNUSED on a dropped volatile page: 0x%02lx, then 0x%02lx, reads zero (check 0x%02x)",
	   before, after, code);
}

static void drop_check_to_volatile(void)
{
	unsigned long page = drop_page(DROP_UNUSED_READ), v;
	unsigned long before = essa(SET_VOLATILE, page);
	unsigned long after = essa(GET_STATE, page);
	unsigned int code = probe_load(page + 8, &v);

	ok(before == (ST_UNUSED | ST_ZERO) &&
	   after == (ST_VOLATILE | ST_ZERO) && check_discard(code, page + 8),
	   "SET_VOLATILE on a dropped unused page: 0x%02lx, then 0x%02lx, access faults",
	   before, after);
}

static void drop_check_to_pot_volatile(void)
{
	unsigned long page = drop_page(DROP_VOLATILE + 5), v;
	unsigned long before = essa(SET_POT_VOLATILE, page);
	unsigned long after = essa(GET_STATE, page);
	unsigned int code = probe_load(page + 0x800, &v);

	ok(before == (ST_VOLATILE | ST_ZERO) &&
	   after == (ST_POT_VOLATILE | ST_ZERO) &&
	   check_discard(code, page + 0x800),
	   "SET_POT_VOLATILE on a dropped volatile page: 0x%02lx, then 0x%02lx, access faults",
	   before, after);
}

static void test_drops(bool cmmnt)
{
	unsigned int i;

	drop_setup();
	drop_wait();
	drop_check_kept();
	drop_check_unused();
	drop_check_faults();
	drop_check_if_resident();
	/* The store of drop_check_faults must not show up: zero-filled. */
	drop_check_revive(DROP_VOLATILE, SET_STABLE, ST_STABLE);
	drop_check_revive(DROP_VOLATILE + 3, SET_STABLE_RESIDENT, ST_STABLE);
	drop_check_revive(DROP_POTVOL + 2, SET_STABLE, ST_STABLE);
	drop_check_revive(DROP_UNUSED_READ + 1, SET_STABLE, ST_STABLE);
	if (cmmnt)
		drop_check_revive(DROP_VOLATILE + 4, SET_STABLE_NODAT,
				  ST_NODAT);
	drop_check_to_unused();
	drop_check_to_volatile();
	drop_check_to_pot_volatile();
	for (i = 0; i < DROP_PAGES; i++)
		essa(SET_STABLE, drop_page(i));
}

/* ---- 4: both CPUs at once ---- */

struct conc {
	unsigned long base;
	unsigned long rnd;
	unsigned long iterations, resident, dropped, shared;
	unsigned long errors;
	char error[200];
};

static struct conc conc[2];

static unsigned long rnd(struct conc *c)
{
	c->rnd ^= c->rnd << 13;
	c->rnd ^= c->rnd >> 7;
	c->rnd ^= c->rnd << 17;
	return c->rnd;
}

/* Keep the first error's text; CPU 1 cannot print. */
static void conc_error(struct conc *c, const char *fmt, ...)
{
	va_list ap;

	if (!c->errors++) {
		va_start(ap, fmt);
		vformat(c->error, sizeof(c->error), fmt, ap);
		va_end(ap);
	}
}

/* A dropped volatile page: the access faults; SET_STABLE revives it. */
static void conc_dropped(struct conc *c, unsigned long page)
{
	unsigned long off = (rnd(c) % WORDS_PER_PAGE) * 8, v;
	unsigned int code = probe_load(page + off, &v);
	unsigned long st;

	if (code != PGM_DISCARD || lc_read(LC_REC_ADDR) != lc_read(LC_INSN) ||
	    (lc_read(LC_REC_TEC) & ~0xfffUL) != page)
		conc_error(c, "page 0x%lx dropped: load gave check 0x%02x, TEC 0x%lx",
			   page, code, lc_read(LC_REC_TEC));
	st = essa(SET_STABLE, page);
	if (st != (ST_VOLATILE | ST_ZERO))
		conc_error(c, "page 0x%lx: SET_STABLE after drop returned 0x%02lx",
			   page, st);
	if (verify(page, 0, true) >= 0)
		conc_error(c, "page 0x%lx: not zero-filled after drop", page);
	c->dropped++;
}

static void conc_page(struct conc *c, unsigned long page)
{
	unsigned long seed = c->iterations + 7;
	unsigned long st;

	fill(page, seed);
	st = essa(SET_VOLATILE, page);
	if (st != ST_STABLE)
		conc_error(c, "page 0x%lx: SET_VOLATILE returned 0x%02lx",
			   page, st);
	/* 0 to 8 ms: the host's 5 ms period drops some, misses others. */
	spin_tod(rnd(c) % (8 * TOD_MS));
	st = essa(SET_STABLE_IF_RESIDENT, page);
	if (st == ST_VOLATILE) {
		if (verify(page, seed, false) >= 0)
			conc_error(c, "page 0x%lx: resident but contents changed",
				   page);
		c->resident++;
	} else if (st == (ST_VOLATILE | ST_ZERO)) {
		conc_dropped(c, page);
	} else {
		conc_error(c, "page 0x%lx: SET_STABLE_IF_RESIDENT returned 0x%02lx",
			   page, st);
		essa(SET_STABLE, page);
	}
}

/* The shared page only ever is stable, volatile, or volatile and dropped. */
static void conc_shared(struct conc *c)
{
	static const unsigned int ops[8] = {
		SET_VOLATILE, SET_VOLATILE, SET_VOLATILE,
		SET_STABLE_IF_RESIDENT, SET_STABLE_IF_RESIDENT,
		SET_STABLE_IF_RESIDENT, GET_STATE, SET_STABLE,
	};
	unsigned int m3 = ops[rnd(c) % 8];
	unsigned long st = essa(m3, SHARED_PAGE);

	if (st != ST_STABLE && st != ST_VOLATILE &&
	    st != (ST_VOLATILE | ST_ZERO))
		conc_error(c, "shared page: %s returned 0x%02lx",
			   order_names[m3], st);
	c->shared++;
}

static void conc_run(struct conc *c, unsigned long deadline)
{
	while (tod() < deadline) {
		conc_page(c, c->base + (c->iterations % CONC_PAGES) * PAGE_SIZE);
		conc_shared(c);
		c->iterations++;
	}
}

void main1(void)
{
	__atomic_store_n(&cpu1.started, 1, __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(&cpu1.go, __ATOMIC_SEQ_CST))
		;
	conc_run(&conc[1], cpu1.deadline);
	__atomic_store_n(&cpu1.done, 1, __ATOMIC_SEQ_CST);
	disabled_wait(0xfff);
}

/* Wait for CPU 1 to set *flag, unless it died or took too long. */
static bool wait_cpu1(int *flag, unsigned long ms)
{
	unsigned long end = tod() + ms * TOD_MS;

	while (!__atomic_load_n(flag, __ATOMIC_SEQ_CST)) {
		if (__atomic_load_n(&cpu1.fatal_code, __ATOMIC_SEQ_CST) ||
		    tod() > end)
			return false;
	}
	return true;
}

static bool start_cpu1(void)
{
	unsigned long lc = (unsigned long)cpu1_lowcore;
	int cc1, cc2;

	init_lowcore(lc, 1);
	cc1 = sigp_retry(1, SIGP_SET_PREFIX, lc);
	cc2 = sigp_retry(1, SIGP_RESTART, 0);
	ok(cc1 == 0 && cc2 == 0 && wait_cpu1(&cpu1.started, 5000),
	   "CPU 1 started (SIGP SET PREFIX cc %d, RESTART cc %d)", cc1, cc2);
	return cpu1.started;
}

static void conc_report(unsigned int cpu)
{
	struct conc *c = &conc[cpu];

	print("# CPU %u: %lu rounds, %lu resident, %lu dropped, %lu shared-page orders\n",
	      cpu, c->iterations, c->resident, c->dropped, c->shared);
	ok(c->errors == 0, "CPU %u: %lu mismatches%s%s", cpu, c->errors,
	   c->errors ? ", first: " : "", c->error);
}

static void test_concurrency(void)
{
	bool done;

	conc[0].base = CONC_BASE0;
	conc[0].rnd = 0x2545f4914f6cdd1dUL;
	conc[1].base = CONC_BASE1;
	conc[1].rnd = 0x9e3779b97f4a7c15UL;
	if (!start_cpu1())
		return;
	cpu1.deadline = tod() + CONC_MS * TOD_MS;
	__atomic_store_n(&cpu1.go, 1, __ATOMIC_SEQ_CST);
	conc_run(&conc[0], cpu1.deadline);
	done = wait_cpu1(&cpu1.done, 30000);
	if (cpu1.fatal_code)
		print("# CPU 1: unexpected program check 0x%02lx, old PSW 0x%lx, TEC 0x%lx\n",
		      cpu1.fatal_code & 0xffff, cpu1.fatal_addr,
		      cpu1.fatal_tec);
	ok(done, "CPU 1 finished its %u ms of ESSA", CONC_MS);
	conc_report(0);
	if (done)
		conc_report(1);
	ok(conc[0].dropped + conc[1].dropped > 0 &&
	   conc[0].resident + conc[1].resident > 0,
	   "the host dropped some volatile pages (%lu) and left others (%lu)",
	   conc[0].dropped + conc[1].dropped,
	   conc[0].resident + conc[1].resident);
}

/* ---- 5: the host drops cold pages first ---- */

/*
 * Only the 65 MiB boot runs this, with a host that keeps 64 MiB resident
 * and ages its pages every 50 ms: it wants 256 pages.  The program offers
 * it 512 volatile pages it keeps reading (hot, at the lower addresses a
 * host scanning upwards takes first) and 512 it left alone long enough
 * to age twice (cold).  All 256 must come from the cold ones.
 */
#define AGE_HOT_BASE	0x1600000UL
#define AGE_COLD_BASE	0x1800000UL
#define AGE_PAGES	512
#define AGE_WANT	256
#define AGE_SETTLE_MS	500
#define AGE_MEMORY	(64UL << 20)

static unsigned long age_page(bool hot, unsigned int i)
{
	return (hot ? AGE_HOT_BASE : AGE_COLD_BASE) + i * PAGE_SIZE;
}

/*
 * Reads a word of every hot page, over and over, for @ms; returns how
 * many reads raised a discard fault (each page that faults is revived).
 */
static unsigned int age_read_hot(unsigned long ms)
{
	unsigned long end = tod() + ms * TOD_MS, v;
	unsigned int i, faults = 0;

	while (tod() < end) {
		for (i = 0; i < AGE_PAGES; i++) {
			if (probe_load(age_page(true, i), &v)) {
				faults++;
				essa(SET_STABLE, age_page(true, i));
			}
		}
	}
	return faults;
}

/* Whether this boot has the aging test's memory: more than 64 MiB. */
static bool aging_boot(void)
{
	unsigned long v;

	return probe_load(AGE_MEMORY, &v) == 0;
}

/* Whether the host has dropped volatile @page; ESSA GET_STATE keeps it. */
static bool age_dropped(unsigned long page)
{
	return essa(GET_STATE, page) == (ST_VOLATILE | ST_ZERO);
}

/*
 * Makes @page stable and checks its contents: the seed's if the host kept
 * it, zeros if it dropped it.  A page counted dropped before must still be.
 */
static void age_take_back(unsigned long page, unsigned long seed,
			  bool was_dropped, unsigned int *bad)
{
	unsigned long st = essa(SET_STABLE, page);
	bool dropped = st == (ST_VOLATILE | ST_ZERO);

	if ((!dropped && st != ST_VOLATILE) || (was_dropped && !dropped) ||
	    verify(page, seed, dropped) >= 0)
		(*bad)++;
}

static void test_aging(void)
{
	unsigned int i, set = 0, faults, hot = 0, cold = 0, bad = 0;
	static bool hot_dropped[AGE_PAGES], cold_dropped[AGE_PAGES];

	for (i = 0; i < AGE_PAGES; i++) {
		fill(age_page(true, i), 5);
		fill(age_page(false, i), 6);
	}
	faults = age_read_hot(AGE_SETTLE_MS);
	/* Cold first: a reclaim in between finds no hot page to take. */
	for (i = 0; i < AGE_PAGES; i++)
		set += essa(SET_VOLATILE, age_page(false, i)) == ST_STABLE;
	for (i = 0; i < AGE_PAGES; i++)
		set += essa(SET_VOLATILE, age_page(true, i)) == ST_STABLE;
	ok(set == 2 * AGE_PAGES, "%u of %u pages set volatile from stable",
	   set, 2 * AGE_PAGES);
	faults += age_read_hot(AGE_SETTLE_MS);
	/*
	 * Count before taking any page back: a dropped page made stable is
	 * resident again, and the host, back over its target, drops another
	 * volatile page.  Reading the states makes nothing resident.
	 */
	for (i = 0; i < AGE_PAGES; i++) {
		hot_dropped[i] = age_dropped(age_page(true, i));
		cold_dropped[i] = age_dropped(age_page(false, i));
		hot += hot_dropped[i];
		cold += cold_dropped[i];
	}
	for (i = 0; i < AGE_PAGES; i++) {
		age_take_back(age_page(true, i), 5, hot_dropped[i], &bad);
		age_take_back(age_page(false, i), 6, cold_dropped[i], &bad);
	}
	ok(faults == 0 && hot == 0,
	   "the host took none of the %u pages read throughout: %u dropped, %u discard faults",
	   AGE_PAGES, hot, faults);
	ok(cold == AGE_WANT,
	   "it took the %u pages it wanted from the %u left alone: %u",
	   AGE_WANT, AGE_PAGES, cold);
	ok(bad == 0,
	   "kept pages kept their contents, dropped ones read zeros: %u wrong",
	   bad);
}

/* ---- main ---- */

/*
 * The first ESSA tells whether the CPU model has cmm: without it, ESSA is
 * an invalid opcode.  Returns whether the rest can run.
 */
static bool probe_cmm(void)
{
	unsigned long raw = 0;
	unsigned int code = essa_try(CHAIN_PAGE, GET_STATE, &raw);

	if (code == PGM_OPERATION) {
		print("essa-test: cmm=off\n");
		ok(check_recorded(code, PGM_OPERATION, false),
		   "ESSA without cmm: operation exception, suppressed");
		return false;
	}
	if (code) {
		print("essa-test: cmm=unknown\n");
		ok(false, "first ESSA: %s exception 0x%02x", check_name(code),
		   code);
		return false;
	}
	print("essa-test: cmm=on cmmnt=%d\n", facility(147));
	print("# first ESSA: R1 = 0x%lx\n", raw);
	ok((raw & 0xff) == ST_STABLE,
	   "a freshly booted page is stable and resident (0x%02lx)", raw & 0xff);
	return true;
}

void main0(void)
{
	bool cmmnt;

	init_lowcore(0, 0);
	sclp_init();
	print("essa-test: start\n");
	if (!probe_cmm())
		finish();
	if (aging_boot()) {
		print("essa-test: aging\n");
		test_aging();
		finish();
	}
	cmmnt = facility(147);
	test_chain("orders", chain, ARRAY_SIZE(chain));
	if (cmmnt)
		test_chain("no-DAT orders", chain_nodat,
			   ARRAY_SIZE(chain_nodat));
	test_prefix();
	test_privileged();
	test_specification(cmmnt);
	test_drops(cmmnt);
	test_concurrency();
	finish();
}
