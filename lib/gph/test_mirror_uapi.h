/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * The ioctl interface of /dev/gph_mirror (lib/gph/test_mirror.rs), the test
 * driver for GPH's Rust mm abstractions.  Used by
 * tools/testing/selftests/page_states/.  Every field is a __u64, so the
 * layout is the same on every architecture; the Rust driver mirrors it.
 */
#ifndef _LIB_GPH_TEST_MIRROR_UAPI_H
#define _LIB_GPH_TEST_MIRROR_UAPI_H

#include <linux/types.h>
#include <linux/ioctl.h>

/* A page range of the opener's address space. */
struct gph_mirror_range {
	__u64 start;
	__u64 npages;
};

/* Copies npages mirror entries from index first to the array at ptr. */
struct gph_mirror_read {
	__u64 first;
	__u64 npages;
	__u64 ptr;
};

/* What the whole-mm MMU notifier has seen. */
struct gph_mirror_counts {
	__u64 range_starts;
	__u64 range_ends;
	__u64 releases;
	__u64 mirror_invalidations;
	__u64 clear_young;	/* clear_young callbacks (idle page tracking) */
};

/* The reverse-map probe. */
enum {
	GPH_RMAP_WALK = 0,		/* rmap_walk(): the walk takes the lock */
	GPH_RMAP_TRY_WALK = 1,		/* try-lock mode */
	GPH_RMAP_LOCKED_WALK = 2,	/* rmap_walk_locked() under our lock */
};

enum {
	GPH_RMAP_LOCK_ANON_VMA = 1,	/* the anon_vma rwsem, read */
	GPH_RMAP_LOCK_I_MMAP = 2,	/* the file's i_mmap_rwsem, read */
	GPH_RMAP_LOCK_KSM = 3,
};

struct gph_rmap_mapping {
	__u64 mm_id;
	__u64 address;
};

struct gph_rmap_probe {
	__u64 address;		/* in: a mapped address of the caller */
	__u64 mode;		/* in: GPH_RMAP_* */
	__u64 max;		/* in: room at mappings */
	__u64 mappings;		/* in: user pointer to struct gph_rmap_mapping[] */
	__u64 found;		/* out: mappings found (may exceed max) */
	__u64 lock;		/* out: GPH_RMAP_LOCK_* */
	__u64 flags;		/* out: GPH_RMAP_FOLIO_* */
	__u64 contended;	/* out: try-lock mode found the lock taken */
};

#define GPH_RMAP_FOLIO_ANON		0x1
#define GPH_RMAP_FOLIO_SWAPCACHE	0x2

#define GPH_MIRROR_REGISTER	_IOW('G', 0, struct gph_mirror_range)
#define GPH_MIRROR_FAULT	_IOW('G', 1, struct gph_mirror_range)
#define GPH_MIRROR_READ		_IOW('G', 2, struct gph_mirror_read)
#define GPH_MIRROR_NOTIFIER	_IO('G', 3)
#define GPH_MIRROR_COUNTS	_IOR('G', 4, struct gph_mirror_counts)
#define GPH_MIRROR_RMAP_PROBE	_IOWR('G', 5, struct gph_rmap_probe)
#define GPH_MIRROR_MM_ID	_IOR('G', 6, __u64)
/* Migrates the caller's page at the given address. */
#define GPH_MIRROR_MIGRATE	_IOW('G', 7, __u64)
/* Unmaps the caller's page at the given address from every process. */
#define GPH_MIRROR_UNMAP	_IOW('G', 8, __u64)

#endif /* _LIB_GPH_TEST_MIRROR_UAPI_H */
