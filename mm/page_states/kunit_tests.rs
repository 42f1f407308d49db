// SPDX-License-Identifier: GPL-2.0

//! KUnit suite `page_states`: the backend choice, and that the allocator's
//! hooks reach the core.

use crate::{
    backend::{Backend, StableMode},
    stats,
};
use kernel::{kunit::suite::Test, page::Page, prelude::*};

fn backend_follows_cmma_flag(test: &mut Test) {
    test.expect(
        Backend::from_cmma_flag(0) == Backend::None,
        "cmma_flag 0: none",
    );
    test.expect(
        Backend::from_cmma_flag(1) == Backend::Essa(StableMode::Dat),
        "cmma_flag 1: ESSA, stable with DAT",
    );
    test.expect(
        Backend::from_cmma_flag(2) == Backend::Essa(StableMode::NoDat),
        "cmma_flag 2: ESSA, stable without DAT",
    );
}

fn hooks_count_allocation_and_free(test: &mut Test) {
    let allocated = stats::PAGES_ALLOCATED.get();
    let freed = stats::PAGES_FREED.get();
    let Ok(page) = Page::alloc_page(GFP_KERNEL) else {
        test.expect(false, "a page can be allocated");
        return;
    };
    test.expect(
        stats::PAGES_ALLOCATED.get() > allocated,
        "allocating a page goes through page_states_alloc()",
    );
    drop(page);
    test.expect(
        stats::PAGES_FREED.get() > freed,
        "freeing a page goes through page_states_free()",
    );
}

fn hints_only_with_a_backend(test: &mut Test) {
    let hinted = stats::PAGES_HINTED.get();
    if let Ok(page) = Page::alloc_page(GFP_KERNEL) {
        drop(page);
    }
    let more = stats::PAGES_HINTED.get() > hinted;
    if Backend::current() == Backend::None {
        test.expect(!more, "no backend: no page is hinted");
    } else {
        test.expect(more, "a backend hints allocated and freed pages");
    }
}

kernel::kunit_test_suite!(
    "page_states",
    [
        backend_follows_cmma_flag,
        hooks_count_allocation_and_free,
        hints_only_with_a_backend,
    ]
);
