// SPDX-License-Identifier: GPL-2.0

//! KUnit suite `page_states`: the state machine, the table's guard, the
//! ESSA backend's decisions against a model
//! hypervisor, the boot parameter, and that the allocator's hooks reach
//! the core.

use crate::{
    backend::{self, Backend, StableMode},
    essa::{Command, Hypervisor},
    mode::{self, Mode},
    state::{Content, Entry, Op, Refused, Usage},
    table::Table,
};
use core::{
    cell::Cell,
    sync::atomic::{AtomicU8, Ordering},
};
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

/// A hypervisor with z/VM's semantics for the commands the core issues, a
/// page at a time, that checks that the core issues every command under
/// the page's guard, and whose answer a test can script.
struct ModelHypervisor {
    table: Table,
    /// The hypervisor's own view of each page.
    state: [Cell<Entry>; 4],
    /// Commands issued.
    issued: Cell<usize>,
    /// Commands issued without the page's guard held.
    unguarded: Cell<usize>,
    /// The result the next command returns instead of the model's.
    answer: Cell<Option<usize>>,
}

impl ModelHypervisor {
    fn new(table: Table) -> Self {
        Self {
            table,
            state: [const { Cell::new(Entry::STABLE) }; 4],
            issued: Cell::new(0),
            unguarded: Cell::new(0),
            answer: Cell::new(None),
        }
    }

    /// ESSA's encoding of `entry`: usage in bits 2-3, content in 0-1.
    fn encode(entry: Entry) -> usize {
        let usage = match entry.usage() {
            Usage::Stable => 0,
            Usage::Unused => 1,
            Usage::PotVolatile => 2,
            Usage::Volatile => 3,
        };
        let content = match entry.content() {
            Content::Resident => 0,
            Content::Preserved => 2,
            Content::Zero => 3,
        };
        usage << 2 | content
    }
}

impl Hypervisor for ModelHypervisor {
    unsafe fn execute(&self, pfn: usize, command: Command) -> usize {
        self.issued.set(self.issued.get() + 1);
        if let Some(guard) = self.table.try_guard(pfn) {
            drop(guard);
            self.unguarded.set(self.unguarded.get() + 1);
        }
        let old = self.state[pfn].get();
        let op = match command {
            Command::SetVolatile => Op::SetVolatile { writable: false },
            Command::SetPotVolatile => Op::SetVolatile { writable: true },
            Command::SetStableIfResident => Op::MakeStable,
            Command::SetStableResident => Op::SetStable,
        };
        if let Ok(new) = old.apply(op) {
            self.state[pfn].set(new);
        }
        self.answer.take().unwrap_or(Self::encode(old))
    }
}

static ESSA_BYTES: [AtomicU8; 4] = [const { AtomicU8::new(0) }; 4];

/// Makes page frame `pfn` volatile (`mapped`: potentially volatile) in the
/// table and in `hv`, under the guard, as `Core::make_volatile` does.
fn offer_as(hv: &ModelHypervisor, table: &Table, pfn: usize, mapped: bool) {
    let guard = table.try_guard(pfn).expect("nobody holds the guard");
    let command = if mapped {
        Command::SetPotVolatile
    } else {
        Command::SetVolatile
    };
    // SAFETY: the guard is held; the model drops nothing real.
    unsafe { hv.execute(pfn, command) };
    let _ = guard.apply(Op::SetVolatile { writable: mapped });
}

fn offer(hv: &ModelHypervisor, table: &Table, pfn: usize) {
    offer_as(hv, table, pfn, false);
}

fn reset(table: &Table) {
    for pfn in 0..table.len() {
        ESSA_BYTES[pfn].store(0, Ordering::Relaxed);
    }
}

fn essa_make_stable_under_the_guard(test: &mut Test) {
    let table = Table::from_static(&ESSA_BYTES);
    let hv = ModelHypervisor::new(table);
    offer(&hv, &table, 1);
    test.expect(
        backend::make_stable_with(&hv, &table, 1) == Ok(true),
        "a volatile page is taken back",
    );
    test.expect(
        table.get(1) == Entry::STABLE && hv.state[1].get() == Entry::STABLE,
        "the table and the hypervisor both say stable",
    );
    let issued = hv.issued.get();
    test.expect(
        backend::make_stable_with(&hv, &table, 1) == Ok(false) && hv.issued.get() == issued,
        "a stable page costs no ESSA",
    );
    offer_as(&hv, &table, 3, true);
    test.expect(
        hv.state[3].get() == entry(Usage::PotVolatile, Content::Resident),
        "a mapped page is offered potentially volatile",
    );
    test.expect(
        backend::make_stable_with(&hv, &table, 3) == Ok(true)
            && table.get(3) == Entry::STABLE
            && hv.state[3].get() == Entry::STABLE,
        "and taken back like a volatile one",
    );
    offer(&hv, &table, 2);
    hv.state[2].set(entry(Usage::Volatile, Content::Zero));
    test.expect(
        backend::make_stable_with(&hv, &table, 2) == Err(Refused::Discarded),
        "a page the hypervisor dropped is refused",
    );
    test.expect(table.get(2).discarded(), "and recorded as discarded");
    let issued = hv.issued.get();
    test.expect(
        backend::make_stable_with(&hv, &table, 2) == Err(Refused::Discarded)
            && hv.issued.get() == issued,
        "the table remembers the discard without asking again",
    );
    test.expect(
        hv.unguarded.get() == 0,
        "every ESSA was issued under the page's guard",
    );
    reset(&table);
}

fn essa_every_if_resident_result(test: &mut Test) {
    let table = Table::from_static(&ESSA_BYTES);
    let hv = ModelHypervisor::new(table);
    for result in 0..32usize {
        let result = result & 0xf | (result & 0x10) << 1; // with and without no-DAT
        reset(&table);
        offer(&hv, &table, 3);
        hv.answer.set(Some(result));
        let taken = backend::make_stable_with(&hv, &table, 3);
        let intact = result & 3 == 0 || result & 0xf == 0b0010;
        test.expect(
            taken.is_ok() == intact,
            "only a resident (or stable and preserved) page is taken back",
        );
        test.expect(
            if intact {
                table.get(3) == Entry::STABLE
            } else {
                table.get(3).discarded()
            },
            "the table records what the hypervisor did",
        );
    }
    reset(&table);
    offer(&hv, &table, 3);
    hv.answer.set(Some(0b1110));
    test.expect(
        backend::make_stable_with(&hv, &table, 3) == Err(Refused::Discarded),
        "KVM's volatile and not resident (0b1110) is a page to read again",
    );
    reset(&table);
}

fn essa_discard_fault_makes_progress(test: &mut Test) {
    let table = Table::from_static(&ESSA_BYTES);
    let hv = ModelHypervisor::new(table);
    // The table says stable, the hypervisor says discarded: trusting the
    // table alone would retry the access forever.
    hv.state[1].set(entry(Usage::Volatile, Content::Zero));
    test.expect(
        backend::resolve_discard_fault_with(&hv, &table, 1) == Err(Refused::Discarded),
        "a discard fault on a page the table thought stable discards it",
    );
    test.expect(
        table.get(1).discarded(),
        "and the table follows the hypervisor",
    );
    // A page that is stable after all: the access is retried.
    test.expect(
        backend::resolve_discard_fault_with(&hv, &table, 2) == Ok(())
            && table.get(2) == Entry::STABLE,
        "a page the hypervisor still has is stable, and the access retried",
    );
    let issued = hv.issued.get();
    test.expect(
        backend::resolve_discard_fault_with(&hv, &table, 1) == Err(Refused::Discarded)
            && hv.issued.get() == issued,
        "a page the table knows is discarded needs no ESSA",
    );
    test.expect(
        hv.unguarded.get() == 0,
        "every ESSA was issued under the guard",
    );
    reset(&table);
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
        boot_parameter,
        take_mask_sends_what_the_core_must_see,
        essa_make_stable_under_the_guard,
        essa_every_if_resident_result,
        essa_discard_fault_makes_progress,
        allocator_hooks_reach_the_table,
    ]
);
