// SPDX-License-Identifier: GPL-2.0

//! KUnit suite `page_states`: the state machine, the table's guard, ESSA's
//! result decoding, the boot parameter, the backend choice, and that the
//! allocator's hooks reach the core.

use crate::{
    backend::{Backend, StableMode},
    essa,
    mode::{self, Mode},
    state::{Content, Entry, Op, Refused, Usage},
    table::Table,
};
use core::sync::atomic::AtomicU8;
use kernel::{bindings, error::code::EINVAL, kunit::suite::Test, page::Page, prelude::*};

const USAGES: [Usage; 4] = [
    Usage::Stable,
    Usage::Unused,
    Usage::Volatile,
    Usage::PotVolatile,
];
const CONTENTS: [Content; 3] = [Content::Resident, Content::Preserved, Content::Zero];
const OPS: [Op; 7] = [
    Op::SetUnused,
    Op::SetStable,
    Op::SetVolatile { writable: false },
    Op::SetVolatile { writable: true },
    Op::MakeStable,
    Op::HostDiscard,
    Op::HostRestore,
];

fn entry(usage: Usage, content: Content) -> Entry {
    Entry::from_parts(usage, content).expect("a valid pair")
}

fn eight_valid_states(test: &mut Test) {
    let mut valid = 0;
    for usage in USAGES {
        for content in CONTENTS {
            if let Some(e) = Entry::from_parts(usage, content) {
                valid += 1;
                test.expect(
                    Entry::from_bits(e.to_bits()) == Some(e),
                    "an entry survives the table's encoding",
                );
            }
        }
    }
    test.expect(valid == 8, "s390 defines eight valid usage/content pairs");
    test.expect(
        Entry::from_parts(Usage::Volatile, Content::Preserved).is_none(),
        "a volatile page is never preserved",
    );
    test.expect(
        Entry::from_parts(Usage::Stable, Content::Zero).is_none(),
        "a stable page never loses its contents",
    );
    test.expect(Entry::from_bits(0b1100).is_none(), "content 3 is no state");
    test.expect(
        Entry::from_bits(0x10).is_none(),
        "bits 4-7 are not an entry",
    );
}

fn guest_transitions(test: &mut Test) {
    use {Content::*, Usage::*};
    let stable = Entry::STABLE;
    let volatile = entry(Volatile, Resident);
    let discarded = entry(Volatile, Zero);
    test.expect(
        stable.apply(Op::SetVolatile { writable: false }) == Ok(volatile),
        "stable -> volatile",
    );
    test.expect(
        stable.apply(Op::SetVolatile { writable: true }) == Ok(entry(PotVolatile, Resident)),
        "stable -> potentially volatile for a mapped folio",
    );
    test.expect(
        volatile.apply(Op::MakeStable) == Ok(stable),
        "volatile -> stable",
    );
    test.expect(
        discarded.apply(Op::MakeStable) == Err(Refused::Discarded),
        "a discarded page cannot be made stable",
    );
    test.expect(
        Entry::UNUSED.apply(Op::SetVolatile { writable: false }) == Err(Refused::Invalid),
        "a free page cannot become volatile",
    );
    test.expect(
        discarded.apply(Op::SetVolatile { writable: false }) == Err(Refused::Invalid),
        "a discarded page cannot become volatile again",
    );
    test.expect(
        Entry::UNUSED.apply(Op::MakeStable) == Err(Refused::Invalid),
        "a free page is not made stable by a lookup",
    );
    test.expect(
        discarded.apply(Op::SetUnused) == Ok(entry(Unused, Zero)),
        "freeing a discarded page keeps its contents zero",
    );
    test.expect(
        entry(Stable, Preserved).apply(Op::SetUnused) == Ok(entry(Unused, Zero)),
        "a preserved page need not come back once free",
    );
    test.expect(
        discarded.apply(Op::SetStable) == Ok(stable),
        "allocation makes any page stable and resident",
    );
}

fn host_transitions(test: &mut Test) {
    use {Content::*, Usage::*};
    test.expect(
        entry(Volatile, Resident).apply(Op::HostDiscard) == Ok(entry(Volatile, Zero)),
        "the host discards a volatile page",
    );
    test.expect(
        entry(PotVolatile, Resident).apply(Op::HostDiscard) == Ok(entry(Volatile, Zero)),
        "a discarded potentially volatile page is volatile zero",
    );
    test.expect(
        Entry::STABLE.apply(Op::HostDiscard) == Err(Refused::Invalid),
        "the host never discards a stable page",
    );
    test.expect(
        entry(Volatile, Zero).apply(Op::HostDiscard) == Err(Refused::Invalid),
        "a page is discarded once",
    );
    test.expect(
        entry(Volatile, Zero).apply(Op::HostRestore) == Ok(entry(Volatile, Resident)),
        "the emulated host takes back a discard it lost a race for",
    );
    test.expect(
        Entry::STABLE.apply(Op::HostRestore) == Err(Refused::Invalid),
        "only a discarded page is restored",
    );
}

fn every_transition_stays_valid(test: &mut Test) {
    for usage in USAGES {
        for content in CONTENTS {
            let Some(from) = Entry::from_parts(usage, content) else {
                continue;
            };
            for op in OPS {
                match from.apply(op) {
                    Ok(to) => test.expect(
                        Entry::valid(to.usage(), to.content()),
                        "a transition ends in a valid state",
                    ),
                    Err(_) => true,
                };
            }
        }
    }
}

static BYTES: [AtomicU8; 4] = [const { AtomicU8::new(0) }; 4];

fn table_guard_and_updates(test: &mut Test) {
    let table = Table::from_static(&BYTES);
    test.expect(table.is_stable(1), "a new table is all stable");
    let guard = table.try_guard(1);
    test.expect(guard.is_some(), "the guard of a page is free");
    test.expect(table.try_guard(1).is_none(), "the guard has one holder");
    test.expect(table.try_guard(2).is_some(), "guards are per page");
    test.expect(!table.is_stable(1), "a guarded page takes the slow path");
    if let Some(guard) = guard {
        let result = guard.apply(Op::SetVolatile { writable: false });
        test.expect(result.is_ok(), "the guard holder makes the page volatile");
    }
    test.expect(
        table.get(1) == Entry::from_parts(Usage::Volatile, Content::Resident).unwrap(),
        "releasing the guard publishes the new state",
    );
    test.expect(
        table.update(1, Op::HostDiscard).is_ok(),
        "the host discards the volatile page",
    );
    test.expect(
        table.update(1, Op::MakeStable) == Err(Refused::Discarded),
        "making it stable then fails, and says why",
    );
    test.expect(table.get(1).discarded(), "a refused update changes nothing");
    test.expect(
        table.update(4, Op::SetStable) == Err(Refused::Invalid),
        "a page frame beyond the table is refused",
    );
    let _ = table.update(1, Op::SetStable);
}

fn essa_results_decode(test: &mut Test) {
    use {Content::*, Usage::*};
    test.expect(essa::decode(0) == Some(Entry::STABLE), "0: stable resident");
    test.expect(
        essa::decode(0b1100) == Some(entry(Volatile, Resident)),
        "usage 3: volatile",
    );
    test.expect(
        essa::decode(0b1111) == Some(entry(Volatile, Zero)),
        "volatile and zero: discarded",
    );
    test.expect(
        essa::decode(0b1000) == Some(entry(PotVolatile, Resident)),
        "usage 2: potentially volatile",
    );
    test.expect(
        essa::decode(0b0110) == Some(entry(Unused, Preserved)),
        "unused, paged out by the host",
    );
    test.expect(
        essa::decode(0x20 | 0b0100) == Some(Entry::UNUSED),
        "the no-DAT bit does not change the state",
    );
    test.expect(essa::decode(0b0001).is_none(), "content 1 is not defined");
    test.expect(
        essa::decode(0b1110).is_none(),
        "volatile pages are never preserved",
    );
}

fn boot_parameter(test: &mut Test) {
    test.expect(Mode::parse(b"off") == Ok(Mode::Off), "off");
    test.expect(Mode::parse(b"unused") == Ok(Mode::Unused), "unused");
    test.expect(Mode::parse(b"volatile") == Ok(Mode::Volatile), "volatile");
    for bad in [&b""[..], b"Volatile", b"volatile ", b"1", b"on"] {
        test.expect(Mode::parse(bad).is_err(), "an unknown mode is refused");
    }
    let before = Mode::current();
    // SAFETY: a NUL-terminated string.
    let ret = unsafe { mode::page_states_parse_mode(kernel::c_str!("bogus").as_char_ptr()) };
    test.expect(ret == EINVAL.to_errno(), "page_states=bogus is malformed");
    test.expect(Mode::current() == before, "and changes nothing");
}

fn backend_follows_cmma_flag(test: &mut Test) {
    test.expect(
        Backend::from_cmma_flag(0) == Backend::Emulated,
        "cmma_flag 0: emulated host",
    );
    test.expect(
        Backend::from_cmma_flag(1) == Backend::Essa(StableMode::Dat),
        "cmma_flag 1: ESSA, stable with DAT",
    );
    test.expect(
        Backend::from_cmma_flag(2) == Backend::Essa(StableMode::NoDat),
        "cmma_flag 2: ESSA, stable without DAT",
    );
    test.expect(
        Backend::Emulated.allows_mapped() && !Backend::Essa(StableMode::Dat).allows_mapped(),
        "only the emulated host takes mapped folios",
    );
}

static MASK_BYTES: [AtomicU8; 1] = [const { AtomicU8::new(0) }; 1];

fn take_mask_sends_what_the_core_must_see(test: &mut Test) {
    let table = Table::from_static(&MASK_BYTES);
    let emulated = Backend::Emulated.take_mask();
    let essa = Backend::Essa(StableMode::Dat).take_mask();
    for usage in USAGES {
        for content in CONTENTS {
            let Some(entry) = Entry::from_parts(usage, content) else {
                continue;
            };
            let bits = entry.to_bits();
            if entry.discarded() {
                test.expect(
                    bits & emulated != 0,
                    "a discarded page's lookup goes through the core",
                );
            }
            test.expect(
                (bits & essa == 0) == (entry == Entry::STABLE),
                "with ESSA, every page but a stable one goes through the core",
            );
        }
    }
    // The states a page-cache folio can be in, and what the emulated
    // host's lookup makes of them when the hooks skip the core.
    let _ = table.update(0, Op::SetVolatile { writable: false });
    test.expect(
        table.get(0).to_bits() & emulated == 0
            && Backend::Emulated.make_stable(&table, 0) == Ok(false),
        "a volatile page the host kept needs nothing from the core",
    );
    let _ = table.update(0, Op::HostDiscard);
    test.expect(
        table.get(0).to_bits() & emulated != 0
            && Backend::Emulated.make_stable(&table, 0) == Err(Refused::Discarded),
        "a discarded one does",
    );
    let _ = table.update(0, Op::SetStable);
}

fn allocator_hooks_reach_the_table(test: &mut Test) {
    let Some(table) = Table::published() else {
        test.expect(
            Mode::current() == Mode::Off,
            "only page_states=off runs without a table",
        );
        return;
    };
    // A freed page may be handed out again at once, by another task or an
    // interrupt, and is stable again then: a few tries see it unused.
    let mut seen_unused = false;
    for _ in 0..16 {
        let Ok(page) = Page::alloc_page(GFP_KERNEL) else {
            test.expect(false, "a page can be allocated");
            return;
        };
        // SAFETY: `page` is a page of the memory map.
        let pfn = unsafe { bindings::page_to_pfn(page.as_ptr()) } as usize;
        test.expect(
            table.get(pfn) == Entry::STABLE,
            "page_states_alloc() makes an allocated page stable",
        );
        drop(page);
        if table.get(pfn).usage() == Usage::Unused {
            seen_unused = true;
            break;
        }
    }
    test.expect(seen_unused, "page_states_free() makes a freed page unused");
}

kernel::kunit_test_suite!(
    "page_states",
    [
        eight_valid_states,
        guest_transitions,
        host_transitions,
        every_transition_stays_valid,
        table_guard_and_updates,
        essa_results_decode,
        boot_parameter,
        backend_follows_cmma_flag,
        take_mask_sends_what_the_core_must_see,
        allocator_hooks_reach_the_table,
    ]
);
