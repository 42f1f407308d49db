// SPDX-License-Identifier: GPL-2.0

#include <linux/mm.h>
#include <linux/preempt.h>
#include <linux/vmstat.h>

void *rust_helper_page_to_virt(struct page *page)
{
	return page_to_virt(page);
}

unsigned long rust_helper_page_to_pfn(struct page *page)
{
	return page_to_pfn(page);
}

struct page *rust_helper_pfn_to_page(unsigned long pfn)
{
	return pfn_to_page(pfn);
}

unsigned long rust_helper_totalram_pages(void)
{
	return totalram_pages();
}

void rust_helper_preempt_disable(void)
{
	preempt_disable();
}

void rust_helper_preempt_enable(void)
{
	preempt_enable();
}

void rust_helper_cond_resched(void)
{
	cond_resched();
}

void rust_helper_count_vm_events(enum vm_event_item item, long delta)
{
	count_vm_events(item, delta);
}

#ifdef CONFIG_S390
#include <asm/page-states.h>

void rust_helper___set_page_unused(void *addr, unsigned long num_pages)
{
	__set_page_unused(addr, num_pages);
}

void rust_helper___set_page_stable_dat(void *addr, unsigned long num_pages)
{
	__set_page_stable_dat(addr, num_pages);
}

void rust_helper___set_page_stable_nodat(void *addr, unsigned long num_pages)
{
	__set_page_stable_nodat(addr, num_pages);
}

/*
 * ESSA takes its command as an immediate; the page-state core issues
 * these four (essa::Command).  Any other is a bug: it only reads the
 * page's state.
 */
unsigned long rust_helper_page_states_essa(unsigned long paddr, u8 cmd)
{
	switch (cmd) {
	case ESSA_SET_VOLATILE:
		return essa(paddr, ESSA_SET_VOLATILE);
	case ESSA_SET_POT_VOLATILE:
		return essa(paddr, ESSA_SET_POT_VOLATILE);
	case ESSA_SET_STABLE_IF_RESIDENT:
		return essa(paddr, ESSA_SET_STABLE_IF_RESIDENT);
	case ESSA_SET_STABLE_RESIDENT:
		return essa(paddr, ESSA_SET_STABLE_RESIDENT);
	default:
		WARN_ONCE(1, "page_states: unknown ESSA command %u\n", cmd);
		return essa(paddr, ESSA_GET_STATE);
	}
}
#endif /* CONFIG_S390 */
