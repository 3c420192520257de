//! SQLite's page cache, wrapped so that a commit does not scan the whole cache.
//!
//! **Why.** When SQLite splits a B-tree page it sorts the new pages by number, and it
//! moves a page out of the way under a temporary number: that of the page holding the
//! lock byte at 1 GiB (page 262,145 with 4 KiB pages). Its own cache (`pcache1`)
//! remembers the largest page number it has held since it was last truncated, and every
//! commit truncates the cache to the database's size. When that remembered number lies
//! more than the cache's hash table beyond the database's end — any database under
//! 1 GiB whose transaction split a page — the truncate walks every slot and every page
//! of the cache to find the pages to drop, of which there are none. On the writer of a
//! 450 MB database with a 128 MiB cache that was 17% of the server's CPU under
//! single-event ingest, about a third of the writer thread's (`bench/PROFILE.md`).
//!
//! **What.** [`install`] puts a thin layer over SQLite's own cache methods before SQLite
//! starts. Every method passes through unchanged but one: a truncate that would drop no
//! page is not passed on. To know that, the layer keeps, per cache, a watermark (the
//! last truncate's limit: no page numbered at or above it was left) and the set of page
//! numbers at or above the watermark created or moved to since. A truncate whose limit
//! is at or above the watermark and above every number in that set would find nothing
//! to drop. Pages leave the cache in ways the layer does not see (evicted, discarded),
//! so the set may name pages that are gone; it never misses one that is there, and a
//! truncate it cannot rule out is passed on as before.
//!
//! This is the workspace's one crate with unsafe code: SQLite calls these methods
//! through C function pointers with raw pointers to its own objects.

use libsqlite3_sys as ffi;
use std::collections::BTreeSet;
use std::ffi::{c_int, c_uint, c_void};
use std::ptr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Installs the layer over SQLite's page cache, if SQLite has not started yet in this
/// process (it starts with the first connection opened). Call it before opening any
/// SQLite connection; later calls answer what the first one did. Answers whether the
/// layer is in place; without it SQLite works as it always does.
pub fn install() -> bool {
    // SAFETY: runs once; SQLite requires that no other thread use it meanwhile, which
    // holds if every connection of the process is opened after this call returns (the
    // store calls it before it opens its pools).
    *INSTALLED.get_or_init(|| unsafe { install_now() })
}

/// How many truncates the layer did not pass on to SQLite (each would have dropped
/// nothing), since the process started; None while the layer is not in place.
pub fn truncates_skipped() -> Option<u64> {
    INSTALLED
        .get()
        .is_some_and(|&in_place| in_place)
        .then(|| SKIPPED.load(Ordering::Relaxed))
}

/// Whether [`install`] put the layer in place (unset before its first call).
static INSTALLED: OnceLock<bool> = OnceLock::new();

static SKIPPED: AtomicU64 = AtomicU64::new(0);

/// SQLite's own cache methods, read before the layer replaced them.
static OWN: OnceLock<Own> = OnceLock::new();

/// SQLite's own methods, each known to be there.
struct Own {
    arg: *mut c_void,
    init: unsafe extern "C" fn(*mut c_void) -> c_int,
    shutdown: unsafe extern "C" fn(*mut c_void),
    create: unsafe extern "C" fn(c_int, c_int, c_int) -> *mut ffi::sqlite3_pcache,
    cachesize: unsafe extern "C" fn(*mut ffi::sqlite3_pcache, c_int),
    pagecount: unsafe extern "C" fn(*mut ffi::sqlite3_pcache) -> c_int,
    fetch: unsafe extern "C" fn(
        *mut ffi::sqlite3_pcache,
        c_uint,
        c_int,
    ) -> *mut ffi::sqlite3_pcache_page,
    unpin: unsafe extern "C" fn(*mut ffi::sqlite3_pcache, *mut ffi::sqlite3_pcache_page, c_int),
    rekey: unsafe extern "C" fn(
        *mut ffi::sqlite3_pcache,
        *mut ffi::sqlite3_pcache_page,
        c_uint,
        c_uint,
    ),
    truncate: unsafe extern "C" fn(*mut ffi::sqlite3_pcache, c_uint),
    destroy: unsafe extern "C" fn(*mut ffi::sqlite3_pcache),
    shrink: unsafe extern "C" fn(*mut ffi::sqlite3_pcache),
}

// SAFETY: function pointers, and SQLite's argument for its own init and shutdown, which
// SQLite itself passes from whichever thread starts or stops it; never written after
// they are read.
unsafe impl Send for Own {}
// SAFETY: as above: read-only once set.
unsafe impl Sync for Own {}

impl Own {
    fn of(m: &ffi::sqlite3_pcache_methods2) -> Option<Own> {
        Some(Own {
            arg: m.pArg,
            init: m.xInit?,
            shutdown: m.xShutdown?,
            create: m.xCreate?,
            cachesize: m.xCachesize?,
            pagecount: m.xPagecount?,
            fetch: m.xFetch?,
            unpin: m.xUnpin?,
            rekey: m.xRekey?,
            truncate: m.xTruncate?,
            destroy: m.xDestroy?,
            shrink: m.xShrink?,
        })
    }
}

fn own() -> &'static Own {
    // The layer's methods are handed to SQLite only after OWN is set.
    OWN.get()
        .expect("SQLite's own page cache methods are read before the layer's")
}

/// One cache: SQLite's own, and what the layer knows of the page numbers in it.
struct Cache {
    own: *mut ffi::sqlite3_pcache,
    /// Every page numbered at or above this is in `high` (`c_uint::MAX` before the first
    /// truncate and after one that emptied the cache: nothing is tracked).
    watermark: c_uint,
    /// Page numbers at or above the watermark created or moved to since the last
    /// truncate; some may have left the cache since.
    high: BTreeSet<c_uint>,
}

impl Cache {
    fn created(&mut self, key: c_uint) {
        if key >= self.watermark {
            self.high.insert(key);
        }
    }

    /// A page renumbered: keys are unique in a cache, so nothing is numbered `old` any
    /// more.
    fn moved(&mut self, old: c_uint, new: c_uint) {
        self.high.remove(&old);
        self.created(new);
    }

    /// Whether a truncate to `limit` (dropping pages numbered `limit` and above) could
    /// find a page to drop.
    fn may_hold_from(&self, limit: c_uint) -> bool {
        limit < self.watermark || self.high.range(limit..).next().is_some()
    }

    /// After a truncate to `limit`: no page numbered `limit` or above is left. A cache
    /// emptied (`limit` 1: a reader's, each time another connection has written) tracks
    /// nothing until its next truncate, which then goes through: its truncates are all
    /// clears, and tracking would cost each page it reads a set insert.
    fn truncated(&mut self, limit: c_uint) {
        self.watermark = if limit <= 1 { c_uint::MAX } else { limit };
        self.high.clear();
    }
}

/// # Safety
/// Before SQLite starts, with no other thread using SQLite.
unsafe fn install_now() -> bool {
    let mut methods = ffi::sqlite3_pcache_methods2 {
        iVersion: 0,
        pArg: ptr::null_mut(),
        xInit: None,
        xShutdown: None,
        xCreate: None,
        xCachesize: None,
        xPagecount: None,
        xFetch: None,
        xUnpin: None,
        xRekey: None,
        xTruncate: None,
        xDestroy: None,
        xShrink: None,
    };
    // SAFETY: GETPCACHE2 writes SQLite's current methods into the struct it is given;
    // it answers SQLITE_MISUSE, writing nothing, once SQLite has started.
    let got = unsafe {
        ffi::sqlite3_config(
            ffi::SQLITE_CONFIG_GETPCACHE2,
            &mut methods as *mut ffi::sqlite3_pcache_methods2,
        )
    };
    if got != ffi::SQLITE_OK {
        return false;
    }
    let Some(own) = Own::of(&methods) else {
        return false;
    };
    if OWN.set(own).is_err() {
        return false;
    }
    let layer = ffi::sqlite3_pcache_methods2 {
        iVersion: 1,
        pArg: ptr::null_mut(),
        xInit: Some(init),
        xShutdown: Some(shutdown),
        xCreate: Some(create),
        xCachesize: Some(cachesize),
        xPagecount: Some(pagecount),
        xFetch: Some(fetch),
        xUnpin: Some(unpin),
        xRekey: Some(rekey),
        xTruncate: Some(truncate),
        xDestroy: Some(destroy),
        xShrink: Some(shrink),
    };
    // SAFETY: PCACHE2 copies the struct it is given; before SQLite starts, with nobody
    // else using it (this function's contract).
    let set = unsafe {
        ffi::sqlite3_config(
            ffi::SQLITE_CONFIG_PCACHE2,
            &layer as *const ffi::sqlite3_pcache_methods2,
        )
    };
    set == ffi::SQLITE_OK
}

/// # Safety
/// `p` is a cache [`create`] made and [`destroy`] has not freed; SQLite calls a cache's
/// methods one at a time.
unsafe fn cache<'a>(p: *mut ffi::sqlite3_pcache) -> &'a mut Cache {
    // SAFETY: the caller's contract.
    unsafe { &mut *p.cast::<Cache>() }
}

unsafe extern "C" fn init(_: *mut c_void) -> c_int {
    let own = own();
    // SAFETY: SQLite's own init, with its own argument, called where SQLite calls ours.
    unsafe { (own.init)(own.arg) }
}

unsafe extern "C" fn shutdown(_: *mut c_void) {
    let own = own();
    // SAFETY: as `init`.
    unsafe { (own.shutdown)(own.arg) }
}

unsafe extern "C" fn create(
    page_size: c_int,
    extra_size: c_int,
    purgeable: c_int,
) -> *mut ffi::sqlite3_pcache {
    // SAFETY: passed through as SQLite called it.
    let own_cache = unsafe { (own().create)(page_size, extra_size, purgeable) };
    if own_cache.is_null() {
        return ptr::null_mut();
    }
    let cache = Box::new(Cache {
        own: own_cache,
        watermark: c_uint::MAX,
        high: BTreeSet::new(),
    });
    Box::into_raw(cache).cast()
}

unsafe extern "C" fn cachesize(p: *mut ffi::sqlite3_pcache, pages: c_int) {
    // SAFETY: `p` is ours (SQLite hands back what `create` made); passed through.
    unsafe { (own().cachesize)(cache(p).own, pages) }
}

unsafe extern "C" fn pagecount(p: *mut ffi::sqlite3_pcache) -> c_int {
    // SAFETY: as `cachesize`.
    unsafe { (own().pagecount)(cache(p).own) }
}

unsafe extern "C" fn fetch(
    p: *mut ffi::sqlite3_pcache,
    key: c_uint,
    create_flag: c_int,
) -> *mut ffi::sqlite3_pcache_page {
    // SAFETY: as `cachesize`.
    let cache = unsafe { cache(p) };
    // SAFETY: passed through.
    let page = unsafe { (own().fetch)(cache.own, key, create_flag) };
    if create_flag != 0 && !page.is_null() {
        cache.created(key);
    }
    page
}

unsafe extern "C" fn unpin(
    p: *mut ffi::sqlite3_pcache,
    page: *mut ffi::sqlite3_pcache_page,
    discard: c_int,
) {
    // SAFETY: as `cachesize`. A discarded page stays in `high`: a name too many.
    unsafe { (own().unpin)(cache(p).own, page, discard) }
}

unsafe extern "C" fn rekey(
    p: *mut ffi::sqlite3_pcache,
    page: *mut ffi::sqlite3_pcache_page,
    old_key: c_uint,
    new_key: c_uint,
) {
    // SAFETY: as `cachesize`.
    let cache = unsafe { cache(p) };
    // SAFETY: passed through.
    unsafe { (own().rekey)(cache.own, page, old_key, new_key) };
    cache.moved(old_key, new_key);
}

unsafe extern "C" fn truncate(p: *mut ffi::sqlite3_pcache, limit: c_uint) {
    // SAFETY: as `cachesize`.
    let cache = unsafe { cache(p) };
    if cache.may_hold_from(limit) {
        // SAFETY: passed through.
        unsafe { (own().truncate)(cache.own, limit) };
    } else {
        SKIPPED.fetch_add(1, Ordering::Relaxed);
    }
    cache.truncated(limit);
}

unsafe extern "C" fn destroy(p: *mut ffi::sqlite3_pcache) {
    // SAFETY: `p` came from `Box::into_raw` in `create`, and SQLite destroys a cache
    // once, after its last use.
    let cache = unsafe { Box::from_raw(p.cast::<Cache>()) };
    // SAFETY: passed through.
    unsafe { (own().destroy)(cache.own) }
}

unsafe extern "C" fn shrink(p: *mut ffi::sqlite3_pcache) {
    // SAFETY: as `cachesize`.
    unsafe { (own().shrink)(cache(p).own) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh() -> Cache {
        Cache {
            own: ptr::null_mut(),
            watermark: c_uint::MAX,
            high: BTreeSet::new(),
        }
    }

    #[test]
    fn before_its_first_truncate_a_cache_may_hold_anything() {
        let mut c = fresh();
        c.created(5);
        assert!(c.may_hold_from(1));
        assert!(c.may_hold_from(100));
    }

    #[test]
    fn after_a_truncate_only_pages_made_since_at_or_above_it_count() {
        let mut c = fresh();
        c.truncated(101);
        assert!(!c.may_hold_from(101), "nothing made since");
        c.created(50); // below the watermark: an old page, read again
        assert!(!c.may_hold_from(101));
        c.created(101); // the database grew by a page
        assert!(c.may_hold_from(101), "a rollback to 100 pages must drop it");
        assert!(!c.may_hold_from(102), "a commit at 101 pages drops nothing");
        c.truncated(102);
        assert!(!c.may_hold_from(102));
    }

    #[test]
    fn a_page_moved_away_from_a_number_no_longer_counts_under_it() {
        let mut c = fresh();
        c.truncated(101);
        c.created(101);
        c.created(102);
        // A split swaps pages 102 and 90 through the lock byte's page number.
        c.moved(102, 262_145);
        c.moved(90, 102);
        c.moved(262_145, 90);
        assert!(!c.may_hold_from(103));
        assert!(c.may_hold_from(102));
    }

    #[test]
    fn an_emptied_cache_tracks_nothing_and_passes_its_next_truncate_on() {
        let mut c = fresh();
        c.truncated(1);
        c.created(7);
        assert!(c.high.is_empty(), "no set insert per page read");
        assert!(c.may_hold_from(1));
        assert!(c.may_hold_from(500));
    }

    #[test]
    fn a_truncate_below_the_watermark_is_always_passed_on() {
        let mut c = fresh();
        c.truncated(101);
        assert!(c.may_hold_from(1), "clearing the cache");
        assert!(c.may_hold_from(100));
    }
}
