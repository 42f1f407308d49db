/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Guest page hinting: the C interface of the page-state core.
 *
 * The core is written in Rust (mm/page_states/); these functions are its
 * extern "C" entry points, and the Rust side checks its definitions against
 * these declarations at build time.
 */
#ifndef _LINUX_PAGE_STATES_H
#define _LINUX_PAGE_STATES_H

struct page;

#ifdef CONFIG_PAGE_STATES
/* @page heads 2^@order pages that are being freed: they become unused. */
void page_states_free(struct page *page, unsigned int order);
/* @page heads 2^@order pages that were just allocated: they become stable. */
void page_states_alloc(struct page *page, unsigned int order);
#else
static inline void page_states_free(struct page *page, unsigned int order)
{
}

static inline void page_states_alloc(struct page *page, unsigned int order)
{
}
#endif

#endif /* _LINUX_PAGE_STATES_H */
