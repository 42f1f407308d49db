// SPDX-License-Identifier: GPL-2.0

//! `/dev/gph_mirror`: a secondary MMU in software, to test GPH's Rust mm
//! abstractions where lib/test_hmm.c cannot run (s390 has no
//! DEVICE_PRIVATE).
//!
//! Each open file belongs to the opener's address space.  It can mirror a
//! range of it (an interval notifier keeps the mirror's pfn table coherent),
//! count what a whole-mm MMU notifier sees, and probe the reverse map of a
//! page.  The ioctl interface is lib/gph/test_mirror_uapi.h.

use core::{
    ops::ControlFlow,
    sync::atomic::{AtomicU64, Ordering},
};
use kernel::{
    bindings, c_str,
    ioctl::{_IO, _IOR, _IOW, _IOWR},
    miscdevice::{MiscDevice, MiscDeviceRegistration},
    mm::{
        folio::{Folio, UnmapMlocked},
        interval_notifier::{IntervalInvalidate, IntervalNotifier},
        mm_struct::Mm,
        mmu_notifier::{MmuNotifier, MmuNotifierOps, Range},
        rmap::RmapLock,
    },
    new_mutex,
    page::PAGE_SIZE,
    prelude::*,
    sync::{Arc, ArcBorrow, Mutex},
    types::{ARef, AsBytes, FromBytes},
    uaccess::UserSlice,
};

module! {
    type: GphMirrorModule,
    name: "test_gph_mirror",
    author: "GPH developers",
    description: "Test driver for the Rust mm abstractions (rmap walks, MMU notifiers)",
    license: "GPL",
}

// The ioctl interface; keep in sync with lib/gph/test_mirror_uapi.h.

#[repr(C)]
#[derive(Default)]
struct MirrorRange {
    start: u64,
    npages: u64,
}

#[repr(C)]
#[derive(Default)]
struct MirrorRead {
    first: u64,
    npages: u64,
    ptr: u64,
}

#[repr(C)]
#[derive(Default)]
struct MirrorCounts {
    range_starts: u64,
    range_ends: u64,
    releases: u64,
    mirror_invalidations: u64,
    clear_young: u64,
}

#[repr(C)]
#[derive(Default)]
struct RmapMapping {
    mm_id: u64,
    address: u64,
}

#[repr(C)]
#[derive(Default)]
struct RmapProbe {
    address: u64,
    mode: u64,
    max: u64,
    mappings: u64,
    found: u64,
    lock: u64,
    flags: u64,
    contended: u64,
}

// SAFETY: these are `repr(C)` structs of `u64`s: no padding, and any bit
// pattern is valid.
unsafe impl FromBytes for MirrorRange {}
// SAFETY: as above.
unsafe impl FromBytes for MirrorRead {}
// SAFETY: as above.
unsafe impl FromBytes for RmapProbe {}
// SAFETY: as above.
unsafe impl AsBytes for MirrorCounts {}
// SAFETY: as above.
unsafe impl AsBytes for RmapMapping {}
// SAFETY: as above.
unsafe impl AsBytes for RmapProbe {}
// SAFETY: as above.
unsafe impl AsBytes for MirrorRange {}

const REGISTER: u32 = _IOW::<MirrorRange>('G' as u32, 0);
const FAULT: u32 = _IOW::<MirrorRange>('G' as u32, 1);
const READ: u32 = _IOW::<MirrorRead>('G' as u32, 2);
const NOTIFIER: u32 = _IO('G' as u32, 3);
const COUNTS: u32 = _IOR::<MirrorCounts>('G' as u32, 4);
const RMAP_PROBE: u32 = _IOWR::<RmapProbe>('G' as u32, 5);
const MM_ID: u32 = _IOR::<u64>('G' as u32, 6);
const MIGRATE: u32 = _IOW::<u64>('G' as u32, 7);
const UNMAP: u32 = _IOW::<u64>('G' as u32, 8);

const WALK: u64 = 0;
const TRY_WALK: u64 = 1;
const LOCKED_WALK: u64 = 2;

const FOLIO_ANON: u64 = 1 << 0;
const FOLIO_SWAPCACHE: u64 = 1 << 1;

/// Largest range one file mirrors.
const MAX_MIRROR_PAGES: u64 = 1 << 16;
/// Largest number of mappings one probe reports.
const MAX_PROBE_MAPPINGS: u64 = 256;

/// HMM keeps its flags in the top byte of each pfn entry.
const HMM_PFN_MASK: u64 = (1 << bindings::hmm_pfn_flags_HMM_PFN_ORDER_SHIFT) - 1;

/// The key that turns `mm_struct` addresses into ids for user space.
static mut MM_ID_KEY: bindings::siphash_key_t = bindings::siphash_key_t { key: [0; 2] };

/// An id for `mm` that is stable while it lives and reveals no address.
fn mm_id(mm: &Mm) -> u64 {
    // SAFETY: the key is written once, in module init, before the device
    // exists; afterwards it is only read.
    unsafe { bindings::siphash_1u64(mm.as_raw() as u64, &raw const MM_ID_KEY) }
}

/// The mirror's pfn table, kept coherent by the interval notifier.
struct Table {
    start: usize,
    pfns: KVec<u64>,
    invalidations: u64,
}

impl IntervalInvalidate for Table {
    fn invalidate(&mut self, range: &Range<'_>) {
        let end = self.start + self.pfns.len() * PAGE_SIZE;
        let from = range.start().clamp(self.start, end);
        let to = range.end().clamp(self.start, end);
        for pfn in &mut self.pfns[(from - self.start) / PAGE_SIZE..(to - self.start) / PAGE_SIZE] {
            *pfn = 0;
        }
        self.invalidations += 1;
    }
}

/// Counts what a whole-mm MMU notifier sees.
#[derive(Default)]
struct Counter {
    starts: AtomicU64,
    ends: AtomicU64,
    releases: AtomicU64,
    clear_young: AtomicU64,
}

// Counting never sleeps, so the notifier handles ranges that may not
// block, and its start cannot fail: it has `invalidate_range_end`.
#[vtable]
impl MmuNotifierOps for Counter {
    fn invalidate_range_start(&self, _range: &Range<'_>) {
        self.starts.fetch_add(1, Ordering::Relaxed);
    }

    fn invalidate_range_end(&self, _range: &Range<'_>) {
        self.ends.fetch_add(1, Ordering::Relaxed);
    }

    fn release(&self, _mm: &Mm) {
        self.releases.fetch_add(1, Ordering::Relaxed);
    }

    fn clear_young(&self, _mm: &Mm, _start: usize, _end: usize) -> bool {
        self.clear_young.fetch_add(1, Ordering::Relaxed);
        // This mirror keeps no accessed bits: nothing was young in it.
        false
    }
}

/// One open file.
#[pin_data]
struct MirrorFile {
    mm: ARef<Mm>,
    #[pin]
    mirror: Mutex<Option<Pin<KBox<IntervalNotifier<Table>>>>>,
    #[pin]
    counter: Mutex<Option<Pin<KBox<MmuNotifier<Counter>>>>>,
}

struct MirrorDevice;

impl MiscDevice for MirrorDevice {
    type Ptr = Arc<MirrorFile>;

    fn open() -> Result<Arc<MirrorFile>> {
        let mm = Mm::current().ok_or(EINVAL)?;
        Arc::pin_init(
            pin_init!(MirrorFile {
                mm,
                mirror <- new_mutex!(None, "MirrorFile::mirror"),
                counter <- new_mutex!(None, "MirrorFile::counter"),
            }),
            GFP_KERNEL,
        )
    }

    fn ioctl(file: ArcBorrow<'_, MirrorFile>, cmd: u32, arg: usize) -> Result<isize> {
        let user = UserSlice::new(arg, kernel::ioctl::_IOC_SIZE(cmd));
        match cmd {
            REGISTER => file.register(user.reader().read()?)?,
            FAULT => file.fault(user.reader().read()?)?,
            READ => file.read(user.reader().read()?)?,
            NOTIFIER => file.register_notifier()?,
            COUNTS => user.writer().write(&file.counts())?,
            RMAP_PROBE => {
                let (mut reader, mut writer) = user.reader_writer();
                let probe = rmap_probe(reader.read()?)?;
                writer.write(&probe)?;
            }
            MM_ID => user.writer().write(&mm_id(&file.mm))?,
            UNMAP => {
                let address: u64 = user.reader().read()?;
                let folio = Folio::get_user(address as usize)?;
                let locked = folio.lock();
                // The GUP reference does not keep mappings in place.
                if !locked.unmap_all(UnmapMlocked::Unmap) {
                    return Err(EBUSY);
                }
            }
            MIGRATE => {
                let address: u64 = user.reader().read()?;
                Folio::migrate(Folio::get_user(address as usize)?)?;
            }
            _ => return Err(ENOTTY),
        }
        Ok(0)
    }
}

impl MirrorFile {
    fn register(&self, range: MirrorRange) -> Result {
        if range.npages == 0
            || range.npages > MAX_MIRROR_PAGES
            || range.start % PAGE_SIZE as u64 != 0
        {
            return Err(EINVAL);
        }
        let start = range.start as usize;
        let length = range.npages as usize * PAGE_SIZE;
        start.checked_add(length).ok_or(EINVAL)?;
        let mut mirror = self.mirror.lock();
        if mirror.is_some() {
            return Err(EBUSY);
        }
        let users = self.mm.users().ok_or(ESRCH)?;
        let table = Table {
            start,
            pfns: KVec::from_elem(0, range.npages as usize, GFP_KERNEL)?,
            invalidations: 0,
        };
        *mirror = Some(KBox::pin_init(
            IntervalNotifier::insert(&users, start, length, table),
            GFP_KERNEL,
        )?);
        Ok(())
    }

    /// Mirrors `range` (a subrange of the registered one), faulting pages in.
    fn fault(&self, range: MirrorRange) -> Result {
        let guard = self.mirror.lock();
        let mirror = guard.as_ref().ok_or(ENOENT)?;
        let (first, npages) = {
            let table = mirror.lock();
            let first = (range.start as usize)
                .checked_sub(table.start)
                .filter(|off| off % PAGE_SIZE == 0)
                .ok_or(EINVAL)?
                / PAGE_SIZE;
            let npages = range.npages as usize;
            if npages == 0 || first + npages > table.pfns.len() {
                return Err(EINVAL);
            }
            (first, npages)
        };
        let users = self.mm.users().ok_or(ESRCH)?;
        let mut pfns = KVec::from_elem(0, npages, GFP_KERNEL)?;
        loop {
            let seq = mirror.hmm_fault(&users, range.start as usize, &mut pfns, false)?;
            if let Some(mut table) = mirror.lock_if_unchanged(seq) {
                for (slot, entry) in table.pfns[first..first + npages]
                    .iter_mut()
                    .zip(pfns.iter())
                {
                    *slot = *entry as u64 & HMM_PFN_MASK;
                }
                return Ok(());
            }
        }
    }

    fn read(&self, read: MirrorRead) -> Result {
        let guard = self.mirror.lock();
        let mirror = guard.as_ref().ok_or(ENOENT)?;
        let (first, npages) = (read.first as usize, read.npages as usize);
        let mut out = KVec::with_capacity(npages, GFP_KERNEL)?;
        {
            let table = mirror.lock();
            if npages == 0
                || first
                    .checked_add(npages)
                    .is_none_or(|end| end > table.pfns.len())
            {
                return Err(EINVAL);
            }
            for pfn in &table.pfns[first..first + npages] {
                out.push(*pfn, GFP_ATOMIC)?;
            }
        }
        let mut writer = UserSlice::new(read.ptr as usize, npages * 8).writer();
        for pfn in out.iter() {
            writer.write(pfn)?;
        }
        Ok(())
    }

    fn register_notifier(&self) -> Result {
        let mut counter = self.counter.lock();
        if counter.is_some() {
            return Err(EBUSY);
        }
        let users = self.mm.users().ok_or(ESRCH)?;
        *counter = Some(KBox::pin_init(
            MmuNotifier::register(&users, Counter::default()),
            GFP_KERNEL,
        )?);
        Ok(())
    }

    fn counts(&self) -> MirrorCounts {
        let mut counts = MirrorCounts::default();
        if let Some(c) = self.counter.lock().as_ref() {
            counts.range_starts = c.starts.load(Ordering::Relaxed);
            counts.range_ends = c.ends.load(Ordering::Relaxed);
            counts.releases = c.releases.load(Ordering::Relaxed);
            counts.clear_young = c.clear_young.load(Ordering::Relaxed);
        }
        if let Some(m) = self.mirror.lock().as_ref() {
            counts.mirror_invalidations = m.lock().invalidations;
        }
        counts
    }
}

/// Walks the reverse map of the caller's page at `probe.address`.
fn rmap_probe(mut probe: RmapProbe) -> Result<RmapProbe> {
    if probe.max > MAX_PROBE_MAPPINGS || probe.mode > LOCKED_WALK {
        return Err(EINVAL);
    }
    // Room for the results, allocated before the walk: allocating under
    // the rmap lock could recurse into reclaim, which walks rmaps too.
    let mut mappings = KVec::with_capacity(probe.max as usize, GFP_KERNEL)?;
    let mut found = 0u64;
    let folio = Folio::get_user(probe.address as usize)?;
    let locked = folio.lock();
    let mut record = |vma: &kernel::mm::rmap::Vma, address: usize| {
        found += 1;
        if (mappings.len() as u64) < probe.max {
            let m = RmapMapping {
                mm_id: mm_id(vma.mm()),
                address: address as u64,
            };
            // Within the capacity reserved above: this does not allocate.
            let _ = mappings.push(m, GFP_NOWAIT);
        }
        ControlFlow::Continue(())
    };
    probe.contended = 0;
    match probe.mode {
        WALK => locked.rmap_walk(&mut record),
        TRY_WALK => {
            if locked.try_rmap_walk(&mut record).is_err() {
                probe.contended = 1;
            }
        }
        _ => locked
            .lock_rmap_read()
            .ok_or(ENOENT)?
            .rmap_walk_locked(&mut record),
    }
    probe.lock = match locked.rmap_lock() {
        RmapLock::AnonVma => 1,
        RmapLock::IMmap => 2,
        RmapLock::Ksm => 3,
    };
    probe.flags = 0;
    if locked.test_anon() {
        probe.flags |= FOLIO_ANON;
    }
    if locked.test_swapcache() {
        probe.flags |= FOLIO_SWAPCACHE;
    }
    drop(locked);
    probe.found = found;
    let mut writer = UserSlice::new(probe.mappings as usize, mappings.len() * 16).writer();
    for m in mappings.iter() {
        writer.write(m)?;
    }
    Ok(probe)
}

struct GphMirrorModule {
    _misc: Pin<KBox<MiscDeviceRegistration<MirrorDevice>>>,
}

impl kernel::Module for GphMirrorModule {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: no file is open yet, so nobody reads the key while it is
        // written; the buffer is the key's size.
        unsafe {
            bindings::get_random_bytes(
                (&raw mut MM_ID_KEY).cast(),
                core::mem::size_of::<bindings::siphash_key_t>(),
            )
        };
        Ok(Self {
            _misc: KBox::pin_init(
                MiscDeviceRegistration::register(c_str!("gph_mirror")),
                GFP_KERNEL,
            )?,
        })
    }
}
