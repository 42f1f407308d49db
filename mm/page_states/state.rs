// SPDX-License-Identifier: GPL-2.0

//! A page's state: what the guest declared, and what the host did with it.
//!
//! The guest sets the *usage* state (stable, unused, volatile, potentially
//! volatile); the host owns the *content* state (resident, preserved, zero).
//! s390's collaborative memory management defines eight valid pairs, and
//! [`Entry::apply`] is the one place that moves a page between them.  Both
//! backends follow it: the emulated host stores the pairs in its table, and
//! the ESSA backend records in it what the hypervisor reported.

/// What the guest says about a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Usage {
    /// The contents are needed.
    Stable = 0,
    /// The page is free: the contents are not needed.
    Unused = 1,
    /// Clean page cache: the host may drop the contents, and the guest
    /// reloads them from the backing store.
    Volatile = 2,
    /// Mapped writable: the host may drop the contents only while the
    /// page is clean.
    PotVolatile = 3,
}

/// What the host did with a page's contents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Content {
    /// The contents are in memory.
    Resident = 0,
    /// The host paged the contents out and will bring them back.
    Preserved = 1,
    /// The host dropped the contents: the page reads as zeros, or, for a
    /// volatile page, the guest must take the discard path.
    Zero = 2,
}

/// What a page's state is asked to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    /// The guest frees the page.
    SetUnused,
    /// The guest allocates the page; old contents do not matter.
    SetStable,
    /// The guest offers a clean page-cache page (writably mapped or not).
    SetVolatile { writable: bool },
    /// The guest takes a volatile page back for use.
    MakeStable,
    /// The host drops the contents of a page it may drop.
    HostDiscard,
    /// The emulated host takes back a discard it lost a race for, before
    /// it touched the contents.  A real host never does.
    HostRestore,
}

/// Why an [`Op`] left a page's state as it was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The host discarded the page: the guest must go through discard
    /// handling and reload it.
    Discarded,
    /// The operation does not apply to a page in this state (a free page
    /// made volatile, a stable page discarded, ...).
    Invalid,
}

/// A page's usage and content state.
///
/// # Invariants
///
/// The pair is one of the eight that s390 allows, see [`Entry::valid`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    usage: Usage,
    content: Content,
}

impl Entry {
    /// A page in use with its contents in memory.
    pub(crate) const STABLE: Self = Self::new(Usage::Stable, Content::Resident);
    /// A free page with its contents in memory.
    pub(crate) const UNUSED: Self = Self::new(Usage::Unused, Content::Resident);
    /// A page-cache page whose contents the host dropped.
    pub(crate) const DISCARDED: Self = Self::new(Usage::Volatile, Content::Zero);

    const fn new(usage: Usage, content: Content) -> Self {
        Self { usage, content }
    }

    /// Whether `usage` and `content` form one of the eight valid pairs:
    /// stable resident or preserved; unused resident, preserved or zero;
    /// volatile resident or zero; potentially volatile resident.  A
    /// volatile page is never preserved (the host drops it instead of
    /// paging it out), and a potentially volatile page that the host drops
    /// becomes volatile zero.
    pub(crate) const fn valid(usage: Usage, content: Content) -> bool {
        matches!(
            (usage, content),
            (Usage::Stable, Content::Resident | Content::Preserved)
                | (Usage::Unused, _)
                | (Usage::Volatile, Content::Resident | Content::Zero)
                | (Usage::PotVolatile, Content::Resident)
        )
    }

    /// Builds an entry from its parts, if the pair is valid.
    pub(crate) fn from_parts(usage: Usage, content: Content) -> Option<Self> {
        // INVARIANT: only valid pairs pass.
        Self::valid(usage, content).then_some(Self::new(usage, content))
    }

    /// The guest's usage state.
    #[inline]
    pub(crate) fn usage(self) -> Usage {
        self.usage
    }

    /// The host's content state.
    #[inline]
    pub(crate) fn content(self) -> Content {
        self.content
    }

    /// Whether the host dropped a page the guest still holds in its cache.
    #[inline]
    pub(crate) fn discarded(self) -> bool {
        self.usage == Usage::Volatile && self.content == Content::Zero
    }

    /// The state after `op`, or why the state stays as it is.
    ///
    /// The guest's side of the machine: freeing and allocating always work
    /// (a freed page keeps whatever the host did to its contents, an
    /// allocated one starts over as resident); only a stable resident page
    /// becomes volatile; making a page stable fails once the host has
    /// discarded it.  The host's side: only volatile, potentially volatile
    /// and unused pages may lose their contents.  (A host that pages a
    /// stable page out marks it preserved; the emulated host never does,
    /// but ESSA may report it.)
    pub(crate) fn apply(self, op: Op) -> Result<Self, Refused> {
        use {Content::*, Usage::*};
        let next = match (op, self.usage, self.content) {
            (Op::SetUnused, _, content) => {
                // A preserved page need not come back once it is free.
                let content = if content == Preserved { Zero } else { content };
                Self::new(Unused, content)
            }
            (Op::SetStable, _, _) => Self::STABLE,
            (Op::SetVolatile { writable }, Stable, Resident) => {
                Self::new(if writable { PotVolatile } else { Volatile }, Resident)
            }
            // Already volatile: nothing changes, and nothing is lost.
            (Op::SetVolatile { .. }, Volatile | PotVolatile, Resident) => self,
            (Op::SetVolatile { .. }, _, _) => return Err(Refused::Invalid),
            (Op::MakeStable, Stable, _) => self,
            (Op::MakeStable, Volatile | PotVolatile, Resident) => Self::STABLE,
            (Op::MakeStable, Volatile, Zero) => return Err(Refused::Discarded),
            (Op::MakeStable, _, _) => return Err(Refused::Invalid),
            (Op::HostDiscard, Volatile | PotVolatile, Resident) => Self::new(Volatile, Zero),
            (Op::HostDiscard, Unused, _) => Self::new(Unused, Zero),
            (Op::HostDiscard, _, _) => return Err(Refused::Invalid),
            (Op::HostRestore, Volatile, Zero) => Self::new(Volatile, Resident),
            (Op::HostRestore, _, _) => return Err(Refused::Invalid),
        };
        // INVARIANT: every arm above yields a valid pair.
        debug_assert!(Self::valid(next.usage, next.content));
        Ok(next)
    }

    /// The bit that every entry whose contents the host dropped has in
    /// [`Entry::to_bits`]: content [`Content::Zero`].
    pub(crate) const CONTENT_ZERO: u8 = (Content::Zero as u8) << 2;

    /// The entry as one byte of the emulated host's table: usage in bits
    /// 0-1, content in bits 2-3.
    #[inline]
    pub(crate) const fn to_bits(self) -> u8 {
        self.usage as u8 | (self.content as u8) << 2
    }

    /// The entry a byte of the table holds, if it is a valid one.
    pub(crate) fn from_bits(bits: u8) -> Option<Self> {
        let usage = match bits & 3 {
            0 => Usage::Stable,
            1 => Usage::Unused,
            2 => Usage::Volatile,
            _ => Usage::PotVolatile,
        };
        let content = match (bits >> 2) & 3 {
            0 => Content::Resident,
            1 => Content::Preserved,
            2 => Content::Zero,
            _ => return None,
        };
        if bits >> 4 != 0 {
            return None;
        }
        Self::from_parts(usage, content)
    }
}
