// SPDX-License-Identifier: GPL-2.0
/*
 * Guest page hinting: what the Rust core needs from C-only kernel
 * facilities.  The static key behind the volatile hooks, the table they
 * read, the boot parameter, the emulated host's periodic work, a walk of
 * the free pages, a page cache lookup without the core's hook, the
 * removal of a folio from the swap cache, whether a file's mappings see
 * writes, the write fault hooks' folio handling, and the accessed bits of
 * a folio's mappings for the emulated host.  Everything else is in the
 * Rust core (page_states.rs).
 */
#include <linux/backing-dev.h>
#include <linux/init.h>
#include <linux/jump_label.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/mmzone.h>
#include <linux/page_idle.h>
#include <linux/page-states.h>
#include <linux/pagemap.h>
#include <linux/rmap.h>
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

/*
 * Whether a task may write @folio, a mapped page-cache folio, through a
 * clean page table entry without a fault the kernel sees: its file is
 * mapped shared and writable, and cannot write back, so its mappings are
 * not write-protected for dirty tracking (writenotify).  A file with
 * page_mkwrite but no writeback is counted in too, which is only more
 * careful.  @folio is locked here, briefly, for its mapping and inode;
 * -EBUSY when somebody else holds the lock (the folio is in use, and is
 * not offered).  Never sleeps; callable from any context.
 */
int page_states_writes_unseen(struct folio *folio)
{
	struct address_space *mapping;
	int unseen = -EBUSY;

	if (!folio_trylock(folio))
		return unseen;
	mapping = folio->mapping;
	if (mapping && !folio_test_anon(folio))
		unseen = mapping_writably_mapped(mapping) &&
			 !mapping_can_writeback(mapping);
	folio_unlock(folio);
	return unseen;
}

/*
 * A page table entry of @folio becomes dirty while the folio stays in the
 * swap cache: its contents will differ from its swap slot.  Marking it
 * dirty keeps it from being offered until reclaim writes it out again,
 * which it would do anyway once unmapping moved the entry's dirty bit to
 * the folio.  The caller holds the page table lock, which keeps the folio
 * mapped.
 */
void __page_states_pte_dirtied(struct folio *folio)
{
	folio_mark_dirty(folio);
}

/*
 * A write through @pte, a clean writable page table entry, faulted: the
 * entry is about to become dirty.  Its folio is taken back for good, and
 * one that the host may offer again is marked dirty (see above), so that
 * a dirty entry always means a dirty folio, and no folio is offered while
 * it differs from its backing store.  False: the host had dropped the
 * folio; the page table lock is released, the folio discarded, and the
 * caller returns to retry the fault.  Never sleeps while it holds the
 * lock.
 */
bool __page_states_write_pte(struct vm_fault *vmf, pte_t pte)
{
	struct folio *folio = vm_normal_folio(vmf->vma, vmf->address, pte);

	if (!folio || (folio_test_anon(folio) && !folio_test_swapcache(folio)))
		return true;
	if (!page_states_take_back(folio)) {
		folio_get(folio);
		pte_unmap_unlock(vmf->pte, vmf->ptl);
		page_states_discard_fault(folio);
		return false;
	}
	if (!folio_test_dirty(folio))
		folio_mark_dirty(folio);
	return true;
}

static bool page_states_clear_young_one(struct folio *folio,
					struct vm_area_struct *vma,
					unsigned long address, void *arg)
{
	DEFINE_FOLIO_VMA_WALK(pvmw, folio, vma, address, 0);
	bool *young = arg;

	while (page_vma_mapped_walk(&pvmw)) {
		/* The emulated host only takes small folios: no PMD maps one. */
		if (WARN_ON_ONCE(!pvmw.pte)) {
			page_vma_mapped_walk_done(&pvmw);
			break;
		}
		if (ptep_clear_young_notify(vma, pvmw.address, pvmw.pte))
			*young = true;
	}
	return true;
}

/*
 * Clears the accessed bits of the page table entries that map the locked
 * @folio, in secondary MMUs too (through the MMU notifiers), and tells
 * whether any was set: what the emulated host sees of the accesses
 * through mappings, as a hypervisor sees its own page tables' bits.  An
 * access it finds goes where idle page tracking puts one: the idle mark
 * is cleared, and PG_young keeps the access for reclaim, which
 * folio_referenced() counts, so that the host's looks take nothing from
 * the guest's LRU decisions.
 *
 * A host never waits for its guest: when a reverse map's lock is held,
 * the walk gives up and the folio counts as used.  The anon_vma is found
 * and held by folio_lock_anon_vma_read(), since the folio lock does not
 * keep a racing munmap from freeing it.
 */
bool page_states_folio_clear_young(struct folio *folio)
{
	bool young = false;
	struct rmap_walk_control rwc = {
		.rmap_one = page_states_clear_young_one,
		.arg = &young,
		.anon_lock = folio_lock_anon_vma_read,
		.try_lock = true,
	};

	if (WARN_ON_ONCE(!folio_test_locked(folio)) || !folio_mapped(folio))
		return false;
	rmap_walk(folio, &rwc);
	if (rwc.contended)
		return true;
	if (young) {
		folio_clear_idle(folio);
		folio_set_young(folio);
	}
	return young;
}
