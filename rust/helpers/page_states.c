// SPDX-License-Identifier: GPL-2.0

#include <linux/mm.h>

void *rust_helper_page_to_virt(struct page *page)
{
	return page_to_virt(page);
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
#endif /* CONFIG_S390 */
