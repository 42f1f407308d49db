// SPDX-License-Identifier: GPL-2.0

//! Pairing lone buddies: when a free leaves a page with one object, that
//! object moves into another page that holds one object and has room for
//! it, and its own page goes back to the page allocator.
//!
//! Without it a pool keeps a page for each object that lost its buddy
//! until a new object of the right size comes along: freeing every other
//! object of a full pool frees no page at all.
//!
//! A lone page often empties by itself soon: zswap frees the objects of
//! pages read back from swap, and swap readahead reads neighbours
//! together, whose objects share pages.  Moving such an object would be
//! a copy for nothing, so pairing waits until more than one page in
//! [`LONE_SHARE`] of the pool holds one object.  From there on, a free
//! that leaves a page with one object pairs it if another page has room:
//! whether two lone objects fit together (`a + b <= NCHUNKS` chunks) does
//! not depend on which one moves, so the search below finds either page
//! from the other.  A pool therefore keeps at most about one page in
//! `LONE_SHARE` with one object whose object would fit beside another's.
//! A mapped object does not move, and no object moves in beside one: that
//! pairing waits for the next free.
//!
//! The move is a copy of at most `MAX_SIZE` bytes under the pool's lock,
//! and the slot's new place: the handle stays.  It runs only from
//! [`crate::pool::ZbudPool::free`], which never sleeps, and never sleeps
//! itself.

use crate::{
    geometry::{offset_of, CHUNK_SIZE, NCHUNKS},
    pool::{Lists, Place, ZPage},
    stats,
};
use core::ptr::NonNull;
use kernel::list::ListArc;

/// Pairing starts once more than one page in `LONE_SHARE` of the pool
/// holds one object.
pub(crate) const LONE_SHARE: u64 = 16;

/// The first unmapped page with one object and at least `chunks` free
/// chunks, fewest free chunks first.
fn partner(lists: &Lists, chunks: u8) -> Option<NonNull<ZPage>> {
    (usize::from(chunks)..NCHUNKS).find_map(|free| {
        lists.by_free[free]
            .iter()
            .find(|zpage| !zpage.buddies.access(lists).is_mapped())
            .map(|zpage| NonNull::from(&*zpage))
    })
}

/// Moves the object of `lone`, a descriptor with one object just taken
/// off its list, into a partner page, and returns `lone`, now empty, for
/// the caller to release.  If its object is mapped, or no page has room
/// for it, or `pages`, the pool's pages, are few enough for `lists.lone`
/// and `lone` ([`LONE_SHARE`]), lists `lone` again and returns `None`.
///
/// The caller holds the pool's lock, of which `lists` is the data.
pub(crate) fn pair_or_relist(
    lists: &mut Lists,
    lone: ListArc<ZPage>,
    pages: u64,
) -> Option<ListArc<ZPage>> {
    if (lists.lone + 1) * LONE_SHARE <= pages {
        lists.relist(lone);
        return None;
    }
    let b = lone.buddies.access(lists);
    let (src, bud, object) = match (b.lone(), b.page.as_ref()) {
        (Some((bud, object)), Some(page)) if object.mapped == 0 => (page.addr(), bud, object),
        _ => {
            lists.relist(lone);
            return None;
        }
    };
    let Some(partner) = partner(lists, object.chunks) else {
        lists.relist(lone);
        return None;
    };
    // SAFETY: `partner` found the descriptor on a list, which owns it,
    // under the lock we still hold.
    let Some(partner) = lists.unlist(unsafe { partner.as_ref() }) else {
        lists.relist(lone);
        return None;
    };
    let p = partner.buddies.access_mut(lists);
    // Pages on `by_free[1..]` are published and hold one object.
    let (Some((partner_bud, _)), Some(page)) = (p.lone(), p.page.as_ref()) else {
        lists.relist(partner);
        lists.relist(lone);
        return None;
    };
    let to = partner_bud.other();
    let len = usize::from(object.chunks) * CHUNK_SIZE;
    // SAFETY: both pages are ours and published, and distinct (`lone` was
    // on no list).  The object lies at `offset_of(bud, ..)` in its page;
    // the partner, found on `by_free[free]` for some `free >=
    // object.chunks`, has room for it at its `to` end.
    // No mapping is counted on either page, so nobody else reads or writes
    // their objects' bytes, and the migration core copies pages only under
    // the pool's lock, which we hold.
    unsafe {
        core::ptr::copy_nonoverlapping(
            src.as_ptr().add(offset_of(bud, object.chunks.into())),
            page.addr()
                .as_ptr()
                .add(offset_of(to, object.chunks.into())),
            len,
        )
    };
    p.objects[to.index()] = Some(object);
    // SAFETY: `object` is what `lone`'s descriptor held a moment ago,
    // under the lock we hold: it is not freed.
    let slot = unsafe { object.slot.slot() };
    *slot.place.access_mut(lists) = Place {
        zpage: NonNull::from(&*partner),
        bud: to,
    };
    lists.relist(partner);
    lone.buddies.access_mut(lists).objects[bud.index()] = None;
    stats::PAIRED.inc();
    Some(lone)
}
