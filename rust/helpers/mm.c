// SPDX-License-Identifier: GPL-2.0

#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/page_idle.h>
#include <linux/pagemap.h>
#include <linux/rmap.h>
#include <linux/sched/mm.h>

void rust_helper_mmgrab(struct mm_struct *mm)
{
	mmgrab(mm);
}

void rust_helper_mmdrop(struct mm_struct *mm)
{
	mmdrop(mm);
}

bool rust_helper_mmget_not_zero(struct mm_struct *mm)
{
	return mmget_not_zero(mm);
}

void rust_helper_mmap_read_lock(struct mm_struct *mm)
{
	mmap_read_lock(mm);
}

void rust_helper_mmap_read_unlock(struct mm_struct *mm)
{
	mmap_read_unlock(mm);
}

struct folio *rust_helper_folio_alloc(gfp_t gfp, unsigned int order)
{
	return folio_alloc(gfp, order);
}

struct folio *rust_helper_page_folio(struct page *page)
{
	return page_folio(page);
}

void rust_helper_folio_get(struct folio *folio)
{
	folio_get(folio);
}

void rust_helper_folio_put(struct folio *folio)
{
	folio_put(folio);
}

void rust_helper_folio_lock(struct folio *folio)
{
	folio_lock(folio);
}

bool rust_helper_folio_trylock(struct folio *folio)
{
	return folio_trylock(folio);
}

bool rust_helper_folio_test_locked(const struct folio *folio)
{
	return folio_test_locked(folio);
}

bool rust_helper_folio_test_anon(const struct folio *folio)
{
	return folio_test_anon(folio);
}

bool rust_helper_folio_test_ksm(const struct folio *folio)
{
	return folio_test_ksm(folio);
}

bool rust_helper_folio_test_swapcache(const struct folio *folio)
{
	return folio_test_swapcache(folio);
}

bool rust_helper_folio_test_swapbacked(const struct folio *folio)
{
	return folio_test_swapbacked(folio);
}

bool rust_helper_folio_test_lru(const struct folio *folio)
{
	return folio_test_lru(folio);
}

bool rust_helper_folio_test_dirty(const struct folio *folio)
{
	return folio_test_dirty(folio);
}

bool rust_helper_folio_test_writeback(const struct folio *folio)
{
	return folio_test_writeback(folio);
}

bool rust_helper_folio_test_uptodate(const struct folio *folio)
{
	return folio_test_uptodate(folio);
}

bool rust_helper_folio_test_private(const struct folio *folio)
{
	return folio_test_private(folio);
}

bool rust_helper_folio_test_mlocked(const struct folio *folio)
{
	return folio_test_mlocked(folio);
}

bool rust_helper_folio_test_unevictable(const struct folio *folio)
{
	return folio_test_unevictable(folio);
}

bool rust_helper_folio_test_large(const struct folio *folio)
{
	return folio_test_large(folio);
}

bool rust_helper_folio_try_get(struct folio *folio)
{
	return folio_try_get(folio);
}

int rust_helper_folio_ref_count(const struct folio *folio)
{
	return folio_ref_count(folio);
}

bool rust_helper_folio_mapped(const struct folio *folio)
{
	return folio_mapped(folio);
}

int rust_helper_folio_mapcount(const struct folio *folio)
{
	return folio_mapcount(folio);
}

long rust_helper_folio_nr_pages(const struct folio *folio)
{
	return folio_nr_pages(folio);
}

unsigned long rust_helper_folio_pfn(struct folio *folio)
{
	return folio_pfn(folio);
}

void rust_helper_i_mmap_lock_read(struct address_space *mapping)
{
	i_mmap_lock_read(mapping);
}

void rust_helper_i_mmap_unlock_read(struct address_space *mapping)
{
	i_mmap_unlock_read(mapping);
}

void rust_helper_i_mmap_lock_write(struct address_space *mapping)
{
	i_mmap_lock_write(mapping);
}

void rust_helper_i_mmap_unlock_write(struct address_space *mapping)
{
	i_mmap_unlock_write(mapping);
}

void rust_helper_get_anon_vma(struct anon_vma *anon_vma)
{
	get_anon_vma(anon_vma);
}

void rust_helper_put_anon_vma(struct anon_vma *anon_vma)
{
	put_anon_vma(anon_vma);
}

void rust_helper_anon_vma_lock_read(struct anon_vma *anon_vma)
{
	anon_vma_lock_read(anon_vma);
}

void rust_helper_anon_vma_unlock_read(struct anon_vma *anon_vma)
{
	anon_vma_unlock_read(anon_vma);
}

unsigned long rust_helper_page_private(struct page *page)
{
	return page_private(page);
}

void rust_helper_set_page_private(struct page *page, unsigned long private)
{
	set_page_private(page, private);
}

#ifdef CONFIG_MMU_NOTIFIER
bool rust_helper_mmu_notifier_range_blockable(const struct mmu_notifier_range *range)
{
	return mmu_notifier_range_blockable(range);
}

void rust_helper_mmu_interval_set_seq(struct mmu_interval_notifier *interval_sub,
				      unsigned long cur_seq)
{
	mmu_interval_set_seq(interval_sub, cur_seq);
}

bool rust_helper_mmu_interval_read_retry(struct mmu_interval_notifier *interval_sub,
					 unsigned long seq)
{
	return mmu_interval_read_retry(interval_sub, seq);
}
#endif /* CONFIG_MMU_NOTIFIER */

#ifdef CONFIG_PAGE_IDLE_FLAG
bool rust_helper_folio_test_idle(const struct folio *folio)
{
	return folio_test_idle(folio);
}

void rust_helper_folio_set_idle(struct folio *folio)
{
	folio_set_idle(folio);
}
#endif /* CONFIG_PAGE_IDLE_FLAG */
