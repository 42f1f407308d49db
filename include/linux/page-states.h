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
 * With the branch on, a hook reads the page's byte of the core's state
 * table and calls into the core only when the byte says that the core has
 * something to do: the page-cache hot paths cost a few loads per folio.
 */
#ifndef _LINUX_PAGE_STATES_H
#define _LINUX_PAGE_STATES_H

#include <linux/build_bug.h>
#include <linux/jump_label.h>
#include <linux/mm_types.h>
#include <linux/page-flags.h>
#include <linux/pagevec.h>
#include <linux/pgtable.h>
#include <linux/preempt.h>
#include <linux/types.h>

struct address_space;
struct vm_fault;
struct work_struct;

#ifdef CONFIG_PAGE_STATES
/*
 * The core's state table (mm/page_states/table.rs): one byte per page
 * frame below @pfns, published when the core starts, never with
 * page_states=off.  The hooks below only read it, to skip the call into
 * the core when a page's byte already says that the core has nothing to
 * do.  A byte of PAGE_STATES_STABLE is a stable page whose state nobody
 * is changing; a lookup must go through the core when the byte has a bit
 * of @take_mask set, which the core chooses for its backend.
 *
 * With SPARSEMEM_VMEMMAP a page's pfn is its offset in the memory map, so
 * the byte of the page at address @p is at @by_page + @p / sizeof(struct
 * page): the hooks find it from the page's address alone.  They need no
 * bounds check: @pfns is max_pfn, and on s390 every page lies below it,
 * hotplugged standby memory included (setup_arch() derives max_pfn from
 * the identity mapping, and the SCLP memory code clamps hotplug to it).
 */
struct page_states_table {
	u8 *bytes;
	unsigned long pfns;
	unsigned long by_page;
	u8 take_mask;
};

extern struct page_states_table page_states_table;

#define PAGE_STATES_STABLE	0
/* Set in the byte of every page whose contents the core knows are gone. */
#define PAGE_STATES_CONTENT_ZERO	0x08

/* The core publishes its table; the inline hooks read it from then on. */
void page_states_publish_table(u8 *bytes, unsigned long pfns, u8 take_mask);

void __page_states_free(unsigned long pfn, unsigned int order);
void __page_states_alloc(unsigned long pfn, unsigned int order);

/*
 * @page heads 2^@order pages that are being freed: they become unused.
 * False before the core has published its table: the caller then hints
 * as it would without the core.
 */
static inline bool page_states_free(struct page *page, unsigned int order)
{
	if (!READ_ONCE(page_states_table.bytes))
		return false;
	__page_states_free(page_to_pfn(page), order);
	return true;
}

/*
 * @page heads 2^@order pages that were just allocated: they become stable.
 * False before the core has published its table, as page_states_free().
 */
static inline bool page_states_alloc(struct page *page, unsigned int order)
{
	if (!READ_ONCE(page_states_table.bytes))
		return false;
	__page_states_alloc(page_to_pfn(page), order);
	return true;
}

DECLARE_STATIC_KEY_FALSE(page_states_volatile_key);

/* Between the core's C glue (mm/page_states/glue.c) and its Rust side. */
int page_states_parse_mode(const char *value);
int page_states_parse_discard_faults(const char *value);
bool page_states_folio_clear_young(struct folio *folio);
void page_states_host_tick(struct work_struct *work);
void page_states_enable_volatile_hooks(void);
/* s390's program check 0x1a: discard @folio, whose reference is handed over. */
void page_states_discard_fault(struct folio *folio);
void page_states_host_schedule(unsigned int msecs);
void page_states_host_cancel(void);
void page_states_mark_free(unsigned long pfn, unsigned int order);
void page_states_mark_free_blocks(void);
struct folio *page_states_cache_folio(struct address_space *mapping,
				      pgoff_t index);
bool page_states_swap_cache_remove(struct folio *folio);
int page_states_writes_unseen(struct folio *folio);

void __page_states_folio_put(struct folio *folio);
void __page_states_lru_add(struct folio *folio);
void __page_states_folio_idle(struct folio *folio);
void __page_states_cache_delete(struct folio *folio);
bool __page_states_get_folio(struct folio *folio, bool nowait);
void __page_states_get_batch(struct folio_batch *fbatch, unsigned int first,
			     bool nowait);
bool __page_states_make_stable(struct folio *folio);
bool __page_states_take_back(struct folio *folio);
bool __page_states_swap_get(struct folio *folio);
bool __page_states_swap_peek(struct folio *folio);
void __page_states_pte_dirtied(struct folio *folio);
bool __page_states_write_pte(struct vm_fault *vmf, pte_t pte);
bool __page_states_migrate(struct folio *folio);
void __page_states_migrate_failed(struct folio *folio);

/* @folio's byte in the table. */
static inline u8 page_states_byte(const struct folio *folio)
{
	unsigned long page = (unsigned long)&folio->page;

	return READ_ONCE(*(u8 *)(page_states_table.by_page +
				 page / sizeof(struct page)));
}

/*
 * Whether the core may want to make @folio volatile: a stable folio of a
 * file's page cache or of the swap cache, not anonymous or shmem memory
 * in use (swap-backed, not in the swap cache).  A cached folio in use is
 * volatile already, and costs the load of its byte.  The hooks only run
 * with the volatile key on, after the table is published.
 */
static inline bool page_states_may_offer(struct folio *folio)
{
	unsigned long flags;

	if (page_states_byte(folio) != PAGE_STATES_STABLE)
		return false;
	flags = READ_ONCE(folio->flags);
	/*
	 * Never offered while busy or dirty (a write fault's folio_put()), or
	 * with private data: ext4 keeps its buffer heads on the pages it
	 * wrote, and a cached read() puts such a folio at every call.
	 */
	if (flags & (BIT(PG_locked) | BIT(PG_dirty) | BIT(PG_writeback) |
		     BIT(PG_private)))
		return false;
	/* PG_swapcache means the swap cache only with PG_swapbacked. */
	return !(flags & BIT(PG_swapbacked)) ||
	       (IS_ENABLED(CONFIG_SWAP) && (flags & BIT(PG_swapcache)));
}

/* Whether a lookup of @folio must go through the core: see take_mask. */
static inline bool page_states_must_take(struct folio *folio)
{
	return page_states_byte(folio) & page_states_table.take_mask;
}

/* The caller is about to drop its reference: the folio may go volatile. */
static inline void page_states_folio_put(struct folio *folio)
{
	if (static_branch_unlikely(&page_states_volatile_key) &&
	    page_states_may_offer(folio))
		__page_states_folio_put(folio);
}

/* An LRU batch, holding one reference, put @folio on its LRU list. */
static inline void page_states_lru_add(struct folio *folio)
{
	if (static_branch_unlikely(&page_states_volatile_key) &&
	    page_states_may_offer(folio))
		__page_states_lru_add(folio);
}

/*
 * @folio was unlocked after a read or a fault mapped it.  The caller need
 * not hold a reference, so the folio may be freed and reused meanwhile:
 * only its byte in the table is read here (by its address), the core
 * takes a reference before it looks at the folio.
 */
static inline void page_states_folio_idle(struct folio *folio)
{
	if (static_branch_unlikely(&page_states_volatile_key) &&
	    page_states_byte(folio) == PAGE_STATES_STABLE)
		__page_states_folio_idle(folio);
}

/*
 * @folio, locked, leaves the page cache (under its lock) and will be
 * freed.  The allocator may write a page it frees (page poisoning,
 * init_on_free) before page_states_free() tells the host: the core takes
 * the page back from a host that would raise a discard fault.
 */
static inline void page_states_cache_delete(struct folio *folio)
{
	if (static_branch_unlikely(&page_states_volatile_key) &&
	    page_states_must_take(folio))
		__page_states_cache_delete(folio);
}

/*
 * A page cache lookup holds a reference to @folio.  False: the host had
 * discarded it, the reference is gone; look up again.  Unless @nowait,
 * the folio went through discard first, which may sleep; with @nowait,
 * give up with -EAGAIN instead (the blocking retry discards it).
 *
 * The swap cache is looked up through the same function, by callers that
 * hold page table locks or must not sleep and never read the contents:
 * a swap-backed folio is left alone here, and the swap cache's own
 * lookups that hand a folio out call page_states_swap_get() instead.
 */
static inline bool page_states_get_folio(struct folio *folio, bool nowait)
{
	if (static_branch_unlikely(&page_states_volatile_key) &&
	    page_states_must_take(folio) && !folio_test_swapbacked(folio))
		return __page_states_get_folio(folio, nowait);
	return true;
}

/*
 * A swap cache lookup that hands @folio out (to a swap-in, shmem, swapoff
 * or readahead) holds a reference to it, and takes it back as a page
 * cache lookup does.  False: the host had discarded it, so it went through
 * discard, which removed it from the swap cache (its swap slot keeps the
 * data) and took the reference; look up again, which reads it back from
 * swap.  Sleeps.
 */
static inline bool page_states_swap_get(struct folio *folio)
{
	if (static_branch_unlikely(&page_states_volatile_key) &&
	    page_states_must_take(folio))
		return __page_states_swap_get(folio);
	return true;
}

/*
 * page_states_swap_get() for a read fault, which maps @folio and reads
 * nothing of it: the folio stays as the host has it.  If the host drops it
 * later, the next access through the mapping takes a discard fault; a
 * write through the clean entry faults first (on s390, the only machine
 * with a hypervisor that drops pages, every write to a clean entry
 * faults), and the write hooks take the folio back.  The kernel paths that
 * read a mapped folio take it back themselves (GUP, copy-on-write, KSM's
 * copy at swap-in).  False: the core already knew that the host had
 * discarded it, so it went through discard, and the reference is gone;
 * look up again.  Sleeps.
 */
static inline bool page_states_swap_peek(struct folio *folio)
{
	if (static_branch_unlikely(&page_states_volatile_key) &&
	    (page_states_byte(folio) & PAGE_STATES_CONTENT_ZERO))
		return __page_states_swap_peek(folio);
	return true;
}

/*
 * @folio, which the caller holds (locked, or under a page table lock), is
 * about to leave the swap cache while in use, or to be written: it must
 * be stable at the host from now on, not only until its next offer.
 * False: the host had discarded it; the caller keeps it in the swap cache,
 * whose slot holds the data, or refaults.  Never sleeps.
 */
static inline bool page_states_take_back(struct folio *folio)
{
	if (static_branch_unlikely(&page_states_volatile_key) &&
	    page_states_byte(folio) != PAGE_STATES_STABLE)
		return __page_states_take_back(folio);
	return true;
}

/*
 * The write fault the caller handles under the page table lock gives
 * @folio a dirty page table entry, and @folio stays in the swap cache.  The
 * caller has handed it out (page_states_swap_get()) or taken it back
 * (page_states_take_back() in do_wp_page()) already: the host has not
 * dropped it, and, marked dirty, it is not offered again.
 */
static inline void page_states_pte_dirtied(struct folio *folio)
{
	if (static_branch_unlikely(&page_states_volatile_key) &&
	    folio_test_swapcache(folio) && !folio_test_dirty(folio))
		__page_states_pte_dirtied(folio);
}

/*
 * A write faulted on @pte, which is writable and maps its page, and the
 * caller, which holds vmf->ptl, is about to make it dirty.  False: the
 * host had dropped the page; vmf->ptl was released, and the caller
 * returns to retry the fault.
 */
static inline bool page_states_write_pte(struct vm_fault *vmf, pte_t pte)
{
	if (static_branch_unlikely(&page_states_volatile_key) && !pte_dirty(pte))
		return __page_states_write_pte(vmf, pte);
	return true;
}

/*
 * A page cache read holds @fbatch; it is cut at a discarded folio, which
 * goes through discard (may sleep) unless @nowait.
 */
static inline void page_states_get_batch(struct folio_batch *fbatch,
					 bool nowait)
{
	unsigned int i;

	if (!static_branch_unlikely(&page_states_volatile_key))
		return;
	for (i = 0; i < folio_batch_count(fbatch); i++) {
		if (page_states_must_take(fbatch->folios[i])) {
			__page_states_get_batch(fbatch, i, nowait);
			return;
		}
	}
}

/*
 * Fault-around is about to map @folio, which it holds locked, and reads
 * nothing of it.  False: the core knows that the host discarded it; leave
 * it to the fault's own lookup, which discards it.  Any other folio is
 * mapped as the host has it (see page_states_swap_peek()).
 */
static inline bool page_states_may_map(struct folio *folio)
{
	return !static_branch_unlikely(&page_states_volatile_key) ||
	       !(page_states_byte(folio) & PAGE_STATES_CONTENT_ZERO);
}

/*
 * The caller holds @folio (locked, or where it may not sleep) and will use
 * its contents.  False: the host discarded it; leave it alone.
 */
static inline bool page_states_make_stable(struct folio *folio)
{
	if (static_branch_unlikely(&page_states_volatile_key) &&
	    page_states_must_take(folio))
		return __page_states_make_stable(folio);
	return true;
}

/*
 * page_states_make_stable() for GUP-fast: interrupts are off, and it may
 * run in an interrupt (get_user_page_fast_only()), where it must not wait
 * for a page's guard, whose holder it may have interrupted.  False: leave
 * the page to the slow path.
 */
static inline bool page_states_make_stable_fast(struct folio *folio)
{
	if (static_branch_unlikely(&page_states_volatile_key) &&
	    page_states_must_take(folio))
		return !in_interrupt() && __page_states_make_stable(folio);
	return true;
}

/*
 * Migration has locked and unmapped @folio and is about to copy it.  False:
 * the host discarded it; migration must fail on it (see below).
 */
static inline bool page_states_migrate(struct folio *folio)
{
	if (static_branch_unlikely(&page_states_volatile_key) &&
	    page_states_must_take(folio))
		return __page_states_migrate(folio);
	return true;
}

/*
 * Migration gave up on @folio, which it holds locked, and has put its
 * mappings back.  A folio the host discarded leaves its mappings and the
 * page cache: its contents are gone, and its page is free once migration
 * puts the folio back, for the compaction or CMA that wanted it.  Sleeps.
 */
static inline void page_states_migrate_failed(struct folio *folio)
{
	if (static_branch_unlikely(&page_states_volatile_key) &&
	    page_states_must_take(folio))
		__page_states_migrate_failed(folio);
}
#else
static inline bool page_states_free(struct page *page, unsigned int order)
{
	return false;
}

static inline bool page_states_alloc(struct page *page, unsigned int order)
{
	return false;
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

static inline void page_states_cache_delete(struct folio *folio)
{
}

static inline bool page_states_get_folio(struct folio *folio, bool nowait)
{
	return true;
}

static inline void page_states_get_batch(struct folio_batch *fbatch,
					 bool nowait)
{
}

static inline bool page_states_make_stable(struct folio *folio)
{
	return true;
}

static inline bool page_states_swap_get(struct folio *folio)
{
	return true;
}

static inline bool page_states_swap_peek(struct folio *folio)
{
	return true;
}

static inline bool page_states_may_map(struct folio *folio)
{
	return true;
}

static inline bool page_states_take_back(struct folio *folio)
{
	return true;
}

static inline bool page_states_migrate(struct folio *folio)
{
	return true;
}

static inline void page_states_migrate_failed(struct folio *folio)
{
}

static inline void page_states_pte_dirtied(struct folio *folio)
{
}

static inline bool page_states_write_pte(struct vm_fault *vmf, pte_t pte)
{
	return true;
}

static inline bool page_states_make_stable_fast(struct folio *folio)
{
	return true;
}

/* Only called when page_states_make_stable() is false: never. */
static inline void page_states_discard_fault(struct folio *folio)
{
	BUILD_BUG();
}
#endif

#endif /* _LINUX_PAGE_STATES_H */
