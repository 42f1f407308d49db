// SPDX-License-Identifier: GPL-2.0
/*
 * Guest page hinting: what the Rust core needs from C-only kernel
 * facilities.  The static key behind the volatile hooks, the table they
 * read, the boot parameter, the emulated host's periodic work, a walk of
 * the free pages, a page cache lookup without the core's hook, and the
 * removal of a folio from the swap cache.  Everything else is in the Rust core (page_states.rs).
 */
#include <linux/init.h>
#include <linux/jump_label.h>
#include <linux/mm.h>
#include <linux/mmzone.h>
#include <linux/page-states.h>
#include <linux/pagemap.h>
#include <linux/swap.h>
#include <linux/workqueue.h>

#include "../internal.h"
#include "../swap.h"

DEFINE_STATIC_KEY_FALSE(page_states_volatile_key);

struct page_states_table page_states_table __read_mostly;

/*
 * The volatile hooks in <linux/page-states.h> are enabled after this, and
 * the static key's text patching orders them behind it.
 */
void page_states_publish_table(u8 *bytes, unsigned long pfns, u8 take_mask)
{
	/* page_to_pfn(page) == page - pfn_to_page(0) (SPARSEMEM_VMEMMAP). */
	unsigned long map = (unsigned long)pfn_to_page(0);

	page_states_table.pfns = pfns;
	page_states_table.by_page = (unsigned long)bytes -
				    map / sizeof(struct page);
	page_states_table.take_mask = take_mask;
	/*
	 * The allocator's hooks and the core test the bytes pointer before
	 * they read the rest (the core with an acquire load): publish it last.
	 */
	smp_store_release(&page_states_table.bytes, bytes);
}

void page_states_enable_volatile_hooks(void)
{
	static_branch_enable(&page_states_volatile_key);
}

static int __init page_states_setup(char *value)
{
	return page_states_parse_mode(value);
}
early_param("page_states", page_states_setup);

static int __init page_states_discard_faults_setup(char *value)
{
	return page_states_parse_discard_faults(value);
}
early_param("page_states_discard_faults", page_states_discard_faults_setup);

static DECLARE_DELAYED_WORK(page_states_host_work, page_states_host_tick);

void page_states_host_schedule(unsigned int msecs)
{
	mod_delayed_work(system_wq, &page_states_host_work,
			 msecs_to_jiffies(msecs));
}

void page_states_host_cancel(void)
{
	cancel_delayed_work_sync(&page_states_host_work);
}

/*
 * Marks every free buddy block unused in the core's table, at start-up.
 * The zone lock keeps a block free while it is marked, so that a
 * concurrent allocation marks its pages stable after.  The lock is taken
 * for one pageblock at a time, so that interrupts stay off for a bounded
 * time however large the zone.
 */
void page_states_mark_free_blocks(void)
{
	struct zone *zone;

	for_each_populated_zone(zone) {
		unsigned long pfn = zone->zone_start_pfn;
		unsigned long end = zone_end_pfn(zone);

		while (pfn < end) {
			unsigned long block_end = min(end, pageblock_end_pfn(pfn));
			unsigned long flags;

			spin_lock_irqsave(&zone->lock, flags);
			for (; pfn < block_end; pfn++) {
				struct page *page = pfn_to_online_page(pfn);
				unsigned int order;

				if (!page || !PageBuddy(page) ||
				    page_zone(page) != zone)
					continue;
				/* A block may reach past this pageblock. */
				order = buddy_order(page);
				page_states_mark_free(pfn, order);
				pfn += (1UL << order) - 1;
			}
			spin_unlock_irqrestore(&zone->lock, flags);
			cond_resched();
		}
	}
}

/*
 * The folio at @index of @mapping, with a reference, or NULL for none (a
 * hole or a shadow entry).  Unlike the page cache's own lookups it does not
 * go through the core's hooks: the core looks at the folio's state itself.
 */
struct folio *page_states_cache_folio(struct address_space *mapping,
				      pgoff_t index)
{
	struct folio *folio = filemap_get_entry(mapping, index);

	return xa_is_value(folio) ? NULL : folio;
}

/*
 * Takes the locked @folio, whose contents the host discarded, out of the
 * swap cache.  Only the swap cache's hold on the slot goes: the swap
 * entries in page tables and in shmem's page cache keep the slot and the
 * data in it, and the next fault reads it back.  False, changing nothing,
 * unless @folio is in the swap cache, unmapped, clean and not under
 * writeback.
 */
bool page_states_swap_cache_remove(struct folio *folio)
{
	if (WARN_ON_ONCE(!folio_test_locked(folio)))
		return false;
	if (!folio_test_swapcache(folio) || folio_mapped(folio) ||
	    folio_test_dirty(folio) || folio_test_writeback(folio))
		return false;
	delete_from_swap_cache(folio);
	return true;
}
