/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Guest page hinting: the C interface of the page-state core.
 *
 * The core is written in Rust (mm/page_states/); the __page_states_*()
 * and page_states_*() functions declared here are its extern "C" entry
 * points, and the Rust side checks its definitions against these
 * declarations at build time.  The inline wrappers are the hooks that mm
 * calls: each is a static branch that is off unless the core runs with
 * page_states=volatile, and nothing at all without CONFIG_PAGE_STATES.
 */
#ifndef _LINUX_PAGE_STATES_H
#define _LINUX_PAGE_STATES_H

#include <linux/jump_label.h>
#include <linux/types.h>

struct page;
struct folio;
struct folio_batch;
struct work_struct;

#ifdef CONFIG_PAGE_STATES
/* @page heads 2^@order pages that are being freed: they become unused. */
void page_states_free(struct page *page, unsigned int order);
/* @page heads 2^@order pages that were just allocated: they become stable. */
void page_states_alloc(struct page *page, unsigned int order);

DECLARE_STATIC_KEY_FALSE(page_states_volatile_key);

/* Between the core's C glue (mm/page_states/glue.c) and its Rust side. */
int page_states_parse_mode(const char *value);
void page_states_host_tick(struct work_struct *work);
void page_states_enable_volatile_hooks(void);
/* s390's program check 0x1a: discard @folio, whose reference is handed over. */
void page_states_discard_fault(struct folio *folio);
void page_states_host_schedule(unsigned int msecs);
void page_states_host_cancel(void);
void page_states_mark_free(unsigned long pfn, unsigned int order);
void page_states_mark_free_blocks(void);

void __page_states_folio_put(struct folio *folio);
void __page_states_lru_add(struct folio *folio);
void __page_states_folio_idle(struct folio *folio);
bool __page_states_get_folio(struct folio *folio);
void __page_states_get_batch(struct folio_batch *fbatch);
bool __page_states_make_stable(struct folio *folio);

/* The caller is about to drop its reference: the folio may go volatile. */
static inline void page_states_folio_put(struct folio *folio)
{
	if (static_branch_unlikely(&page_states_volatile_key))
		__page_states_folio_put(folio);
}

/* An LRU batch, holding one reference, put @folio on its LRU list. */
static inline void page_states_lru_add(struct folio *folio)
{
	if (static_branch_unlikely(&page_states_volatile_key))
		__page_states_lru_add(folio);
}

/* @folio was unlocked or finished I/O; the caller need not hold a reference. */
static inline void page_states_folio_idle(struct folio *folio)
{
	if (static_branch_unlikely(&page_states_volatile_key))
		__page_states_folio_idle(folio);
}

/*
 * A page cache lookup holds a reference to @folio.  False: the host had
 * discarded it, it went through discard, the reference is gone, look up
 * again.  May sleep.
 */
static inline bool page_states_get_folio(struct folio *folio)
{
	if (static_branch_unlikely(&page_states_volatile_key))
		return __page_states_get_folio(folio);
	return true;
}

/* A page cache read holds @fbatch; it is cut at a discarded folio. */
static inline void page_states_get_batch(struct folio_batch *fbatch)
{
	if (static_branch_unlikely(&page_states_volatile_key))
		__page_states_get_batch(fbatch);
}

/*
 * The caller holds @folio (locked, or where it may not sleep) and will use
 * its contents.  False: the host discarded it; leave it alone.
 */
static inline bool page_states_make_stable(struct folio *folio)
{
	if (static_branch_unlikely(&page_states_volatile_key))
		return __page_states_make_stable(folio);
	return true;
}
#else
static inline void page_states_free(struct page *page, unsigned int order)
{
}

static inline void page_states_alloc(struct page *page, unsigned int order)
{
}

static inline void page_states_folio_put(struct folio *folio)
{
}

static inline void page_states_lru_add(struct folio *folio)
{
}

static inline void page_states_folio_idle(struct folio *folio)
{
}

static inline bool page_states_get_folio(struct folio *folio)
{
	return true;
}

static inline void page_states_get_batch(struct folio_batch *fbatch)
{
}

static inline bool page_states_make_stable(struct folio *folio)
{
	return true;
}
#endif

#endif /* _LINUX_PAGE_STATES_H */
