/* ppool.h - ppool's C API: the page pool, its page allocators, stats,
 * registry, holder tags, telemetry endpoint and the share producer and
 * consumer, for C programs and for
 * other languages' bindings (bindgen and the like: no macro is needed for a
 * basic call; the constants are enumerators).
 *
 * One C11 header over the same library as the C++ API (<ppool/...>): link
 * with -lppool (pkg-config ppool-c, or CMake's ppool::ppool). The handles
 * are opaque: a struct ppool_pool is a ppool::PagePool, a struct ppool_page
 * a ppool::Page descriptor (64 bytes, one per 4 KiB page, apart from the
 * page's memory), a struct ppool_allocator a ppool::PageAllocator, a struct
 * ppool_dma_device a ppool::DmaDevice. The C++ headers document each
 * function at length; this one says what a C caller needs. The optional
 * libraries have headers of their own that include this one:
 * <ppool_io_uring.h> (-lppool_io_uring, pkg-config ppool-c-io_uring) and
 * <ppool_xsk.h> (-lppool_xsk, pkg-config ppool-c-xsk).
 *
 * Contexts, as in the C++ API: "owner only" functions run on the thread the
 * pool is bound to (the creating thread, or the caller of
 * ppool_pool_bind_owner()); "any thread" functions run anywhere.
 *
 * Errors, one convention per kind of call:
 * - Setup functions (create, start) return 0 on success or a negative errno
 *   (-EINVAL: a parameter out of its domain; -ENOMEM: memory or a kernel
 *   resource exhausted; -EOPNOTSUPP: the machine, the kernel or a permission
 *   lacks what was asked for; -EIO: a DMA device refused a mapping; -ENOENT:
 *   no such pool), and hand their object back through an out parameter.
 *   On failure nothing was built, and ppool_last_error() holds the message
 *   the C++ side gives (it names the field, the call or the limit at fault).
 * - The hot paths (alloc, put, bulk) return NULL or a short count, counted in
 *   the pool's stats and ppool_pool_alloc_failures(), as the kernel's
 *   page_pool does: no message is built at line rate.
 * - Misuse (a page put twice or to the wrong pool, a call from the wrong
 *   thread) is reported through the log hook (ppool_set_log_hook()),
 *   counted (ppool_misuse_count()) and changes nothing, or aborts
 *   (ppool_set_misuse_policy()).
 * A function whose comment names no failure has none.
 *
 * Strings handed back (telemetry replies, holder names) are malloc()ed: the
 * caller free()s them; NULL means out of memory. Like the C++ library, the
 * C layer otherwise treats running out of heap (a std::bad_alloc) as fatal.
 */
#ifndef PPOOL_H
#define PPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct ppool_pool;
struct ppool_page;
struct ppool_allocator;
struct ppool_dma_device;
struct ppool_share_producer;
struct ppool_share_consumer;

/* ---- constants ---- */

enum {
  PPOOL_PAGE_SHIFT = 12,
  PPOOL_PAGE_SIZE = 4096,
  PPOOL_MAX_ORDER = 10,         /* 4 MiB blocks at most */
  PPOOL_ALLOC_CACHE_SIZE = 128, /* PP_ALLOC_CACHE_SIZE */
  PPOOL_POOL_SIZE_MAX = 32768,  /* the ring's largest capacity */
  PPOOL_NO_NODE = -1,           /* nid: the creating CPU's node */
  PPOOL_NAME_MAX = 32,          /* a pool's name, with its terminating NUL */
  PPOOL_DEVICE_NAME_MAX = 64    /* ppool_pool_info.dma_device, with its NUL */
};

/* Pool flags (the kernel's PP_FLAG_*). */
enum ppool_pool_flags {
  PPOOL_F_DMA_MAP = 1 << 0,      /* map pages on entry, unmap them on leaving */
  PPOOL_F_DMA_SYNC_DEV = 1 << 1, /* sync [offset, +max_len) for the device on recycle */
  PPOOL_F_ZERO_PAGES = 1 << 2    /* zero pages as they enter from the allocator */
};

enum ppool_dma_dir {
  PPOOL_DMA_BIDIRECTIONAL,
  PPOOL_DMA_TO_DEVICE,
  PPOOL_DMA_FROM_DEVICE,
  PPOOL_DMA_NONE
};

/* What a page allocator's memory is made of (ppool/backing.h). */
enum ppool_backing {
  PPOOL_BACKING_4K,
  PPOOL_BACKING_THP,
  PPOOL_BACKING_HUGETLB_2M,
  PPOOL_BACKING_HUGETLB_1G
};

enum ppool_log_level { PPOOL_LOG_DEBUG, PPOOL_LOG_INFO, PPOOL_LOG_WARNING, PPOOL_LOG_ERROR };

enum ppool_misuse_policy { PPOOL_MISUSE_REPORT, PPOOL_MISUSE_ABORT };

/* ---- errors, reports and misuse ---- */

/* The message of the calling thread's last failing setup call ("" when none
 * failed yet). Valid until the thread's next failing call. Thread context:
 * any thread (each thread has its own). */
const char* ppool_last_error(void);

/* Where ppool's reports go (misuse, stalled shutdowns, DMA debug findings);
 * message is len bytes, not NUL-terminated. NULL restores the default
 * (stderr). The hook runs on any thread and must not call into ppool.
 * Thread context: any thread. */
typedef void (*ppool_log_fn)(enum ppool_log_level level, const char* message, size_t len);
void ppool_set_log_hook(ppool_log_fn hook);
/* Misuses reported so far in this process. Thread context: any thread. */
uint64_t ppool_misuse_count(void);
/* Report and go on (the default), or report and abort. Thread context: any thread. */
void ppool_set_misuse_policy(enum ppool_misuse_policy policy);

/* ---- DMA devices ---- */

/* The identity device: a coherent device without an IOMMU (the DMA address is
 * the virtual address). Process-wide, never freed. Thread context: any thread. */
struct ppool_dma_device* ppool_dma_identity(void);
/* A checking device over inner (CONFIG_DMA_API_DEBUG's checks, each finding
 * logged and counted). Thread context: any thread.
 * @return 0 and *out, or -EINVAL (inner is NULL). */
int ppool_dma_debug_create(struct ppool_dma_device* inner, struct ppool_dma_device** out);
/* Reports every mapping still live as an error. @return how many there were
 * (0: clean). Thread context: any thread, once no pool maps through it. */
size_t ppool_dma_debug_close(struct ppool_dma_device* dev);
/* The findings so far. Thread context: any thread. */
uint64_t ppool_dma_debug_errors(const struct ppool_dma_device* dev);
/* Frees a device of ppool_dma_debug_create() (closing it first). Thread
 * context: any thread, once no pool uses it. NULL: nothing. */
void ppool_dma_debug_destroy(struct ppool_dma_device* dev);

/* ---- page allocators and shared regions ---- */

struct ppool_allocator_opts {
  int nid;             /* node to bind chunks to (best effort); PPOOL_NO_NODE */
  size_t max_bytes;    /* committed memory limit; a shared region's size */
  size_t retain_bytes; /* free memory kept before giving back to the OS */
  enum ppool_backing backing;
  bool hugetlb_fallback_thp; /* hugetlb short: commit THP instead, logged once */
  bool shared;               /* the pages live in one memfd region of max_bytes */
  bool lock;                 /* shared: commit and mlock the whole region now */
};
/* The defaults: no node, the arena's size, 64 MiB retained, 4 KiB pages,
 * private. Thread context: any thread. */
void ppool_allocator_opts_init(struct ppool_allocator_opts* opts);
/* A private allocator (a memory limit, a backing, a shared region). Thread
 * context: any thread.
 * @return 0 and *out, or -EINVAL (an option out of its domain, named),
 *   -EOPNOTSUPP (huge pages short; a memfd the kernel cannot make), -ENOMEM
 *   (a region that cannot be locked or mapped, the arena full); nothing is
 *   left allocated then. */
int ppool_allocator_create(const struct ppool_allocator_opts* opts, struct ppool_allocator** out);
/* Frees an allocator of ppool_allocator_create() (never one of
 * ppool_allocator_for_node()); chunks with pages still allocated are leaked
 * and logged. Thread context: any thread, once no other thread and no pool
 * uses it. NULL: nothing. */
void ppool_allocator_destroy(struct ppool_allocator* allocator);
/* The process-wide allocator for a node and backing, created on first use
 * and never freed. Cannot fail (a backing the machine cannot supply gives an
 * allocator that refuses everything, and pool creation on it fails). Thread
 * context: any thread. */
struct ppool_allocator* ppool_allocator_for_node(int nid, enum ppool_backing backing);
/* The backing in effect (THP after a hugetlb fallback). Thread context: any thread. */
enum ppool_backing ppool_allocator_backing(const struct ppool_allocator* allocator);
/* "4k", "thp", "hugetlb-2m", "hugetlb-1g". Thread context: any thread. */
const char* ppool_backing_name(enum ppool_backing backing);

struct ppool_allocator_stats {
  size_t committed_bytes;  /* chunks in use by the allocator */
  size_t free_bytes;       /* committed and free */
  size_t released_bytes;   /* given back to the OS, reusable */
  uint64_t alloc_failures; /* allocations refused */
};
/* Thread context: any thread. */
void ppool_allocator_get_stats(const struct ppool_allocator* allocator,
                               struct ppool_allocator_stats* stats);

/* A shared allocator's region (opts.shared): its memfd (pass it on with
 * SCM_RIGHTS to share the pages), where this process maps it and its size.
 * -1, NULL and 0 for an allocator without one. Thread context: any thread. */
int ppool_region_fd(const struct ppool_allocator* allocator);
void* ppool_region_base(const struct ppool_allocator* allocator);
size_t ppool_region_size(const struct ppool_allocator* allocator);
/* A page's offset in the region: its name for whoever else maps it. The page
 * must be one of the region's. Thread context: any thread. */
uint64_t ppool_region_offset(const struct ppool_allocator* allocator,
                             const struct ppool_page* page);
/* The allocated page at offset, NULL when offset is outside the region or
 * names no allocated page (or the allocator has no region). Thread context:
 * any thread. */
struct ppool_page* ppool_region_page_at(const struct ppool_allocator* allocator, uint64_t offset);

/* ---- pages ---- */

/* The first byte of the page. Thread context: any thread. */
void* ppool_page_address(const struct ppool_page* page);
/* The page containing addr (the head page of a compound one), NULL when addr
 * is no allocated page of ppool's. Thread context: any thread. */
struct ppool_page* ppool_page_of(const void* addr);
/* The page's size in bytes (4 KiB << order). Thread context: any thread. */
size_t ppool_page_bytes(const struct ppool_page* page);
/* The page's DMA address while its pool maps it (the kernel's
 * page_pool_get_dma_addr). Thread context: any thread holding the page. */
uint64_t ppool_get_dma_addr(const struct ppool_page* page);
/* Takes one more page reference. Thread context: any thread holding one. */
void ppool_get_page(struct ppool_page* page);
/* Drops a reference; the last one sends a pool page home to its pool (or
 * frees a plain page): the generic put of code that knows no pools. Thread
 * context: any thread. Cannot fail; a put with no reference left is a
 * reported misuse. */
void ppool_put_page(struct ppool_page* page);

/* ---- pools ---- */

struct ppool_pool_params {
  unsigned order;               /* 2^order pages per allocation */
  unsigned pool_size;           /* ring capacity, 1..PPOOL_POOL_SIZE_MAX */
  int nid;                      /* preferred node; PPOOL_NO_NODE */
  struct ppool_dma_device* dev; /* needed with PPOOL_F_DMA_MAP */
  enum ppool_dma_dir dma_dir;
  uint32_t max_len;                  /* bytes synced for the device on recycle */
  uint32_t offset;                   /* where in the page the device writes */
  uint32_t flags;                    /* enum ppool_pool_flags */
  const char* name;                  /* for reports, at most 31 characters; copied; NULL: "pool" */
  unsigned queue;                    /* the queue index, for reports */
  struct ppool_allocator* allocator; /* NULL: the process-wide one for nid and backing */
  enum ppool_backing backing;
  uint32_t max_inflight;  /* at most this many pages in flight; 0: no limit */
  uint32_t inflight_high; /* watermarks of ppool_pool_watermark_fd(); 0, 0: none */
  uint32_t inflight_low;
};
/* The defaults of the C++ PagePoolParams: order 0, pool_size 1024, no node,
 * no device, from the device, no flags, "pool", 4 KiB pages, no limits.
 * Thread context: any thread. */
void ppool_pool_params_init(struct ppool_pool_params* params);
/* Validates params and builds the pool, bound to the calling thread. Thread
 * context: any thread.
 * @return 0 and *out, or nothing built and:
 *   -EINVAL: the first bad field in the kernel's order, named in
 *     ppool_last_error() ("page_pool_create: pool_size: ...");
 *   -EOPNOTSUPP: the process-wide allocator's huge pages are short;
 *   -ENOMEM: watermarks asked for and no eventfd could be had. */
int ppool_pool_create(const struct ppool_pool_params* params, struct ppool_pool** out);
/* Drains and unmaps the pool; frees it once no page is in flight (a release
 * worker retries until then). A second destroy is a reported misuse. Thread
 * context: owner only.
 * @return the pages still in flight (0: the pool is freed). */
uint32_t ppool_pool_destroy(struct ppool_pool* pool);
/* Makes the calling thread the owner (a hand-over). Thread context: the new owner. */
void ppool_pool_bind_owner(struct ppool_pool* pool);
/* The queue moved to another node. Thread context: owner only. */
void ppool_pool_nid_changed(struct ppool_pool* pool, int nid);
/* The pool that owns the page, NULL for a page no pool owns. Thread context:
 * any thread holding the page. */
struct ppool_pool* ppool_page_pool_of(const struct ppool_page* page);
/* The pool's id (its registry and telemetry key), name and node. Thread
 * context: any thread. */
uint32_t ppool_pool_id(const struct ppool_pool* pool);
const char* ppool_pool_name(const struct ppool_pool* pool);
int ppool_pool_nid(const struct ppool_pool* pool);

/* ---- alloc (hot paths: one call into the C++ inline fast path) ---- */

/* A page with refcount 1, mapped and synced as the flags say. Thread
 * context: owner only.
 * @return the page, or NULL (counted in ppool_pool_alloc_failures()) when
 *   memory runs out, max_inflight pages are out, or the device refused the
 *   refill's first mapping; NULL and a reported misuse from another thread
 *   or after destroy. */
struct ppool_page* ppool_alloc_pages(struct ppool_pool* pool);
/* Up to n pages into out[]. Thread context: owner only.
 * @return how many are in out[0, result): fewer than n as ppool_alloc_pages()
 *   fails (counted once). */
size_t ppool_alloc_pages_bulk(struct ppool_pool* pool, struct ppool_page** out, size_t n);
/* A fragment of size bytes (rounded up to a cache line) at *offset of the
 * pool's current page. Thread context: owner only.
 * @return the page, or NULL: size 0 or over a page (not counted), or a fresh
 *   page needed and none to be had (counted). */
struct ppool_page* ppool_alloc_frag(struct ppool_pool* pool, uint32_t size, uint32_t* offset);
/* A whole page when *size * 2 exceeds the page, else a fragment (the last
 * one that fits grows *size to the page's end). Thread context: owner only.
 * @return the page, or NULL as ppool_alloc_frag(). */
struct ppool_page* ppool_alloc(struct ppool_pool* pool, uint32_t* offset, uint32_t* size);
/* ppool_alloc() returning the fragment's address; ppool_free_va() puts it.
 * Thread context: owner only / any thread (allow_direct: owner only). */
void* ppool_alloc_va(struct ppool_pool* pool, uint32_t* size);
void ppool_free_va(struct ppool_pool* pool, void* va, bool allow_direct);

/* ---- put (hot paths; cannot fail: a bad put is a reported misuse) ---- */

/* Gives a page back (the kernel's page_pool_put_page): synced for the device
 * (min(dma_sync_size, max_len), PPOOL_F_DMA_SYNC_DEV only) and recycled into
 * the cache on the owner's thread, else into the ring, else (ring full)
 * released; a page with other references is released to them; a fragment
 * drops one fragment reference. Thread context: any thread. */
void ppool_pool_put_page(struct ppool_pool* pool, struct ppool_page* page, uint32_t dma_sync_size,
                         bool allow_direct);
/* ppool_pool_put_page() syncing the whole max_len. Thread context: any thread. */
void ppool_pool_put_full_page(struct ppool_pool* pool, struct ppool_page* page, bool allow_direct);
/* Into the cache (XDP_DROP). Thread context: owner only. */
void ppool_recycle_direct(struct ppool_pool* pool, struct ppool_page* page);
/* Puts count pages, of any pools; pages[] is reordered (do not use it
 * afterwards). Thread context: any thread. */
void ppool_put_page_bulk(struct ppool_page** pages, size_t count);
/* Unmaps the page and stops counting it in flight: the caller keeps it as a
 * plain page, freed by its last ppool_put_page(). Thread context: any thread. */
void ppool_release_page(struct ppool_pool* pool, struct ppool_page* page);
/* Fragment references (the kernel's pp_ref_count): set n on a page the
 * caller alone holds, drop n (@return the references left; 0: the caller
 * dropped the last), take one more. Thread context: any thread holding one. */
void ppool_pp_ref_count_set(struct ppool_page* page, int64_t n);
int64_t ppool_pp_ref_count_sub(struct ppool_page* page, int64_t n);
void ppool_pp_ref_count_inc(struct ppool_page* page);

/* ---- DMA ---- */

/* Hands [offset + params.offset, +len) of the page back to the CPU (nothing
 * once destroy began). Thread context: any thread holding the page. */
void ppool_dma_sync_for_cpu(struct ppool_pool* pool, struct ppool_page* page, uint32_t offset,
                            uint32_t len);
enum ppool_dma_dir ppool_get_dma_dir(const struct ppool_pool* pool);

/* ---- stats ---- */

/* The kernel's page_pool stats, under its names. */
struct ppool_pool_stats {
  uint64_t alloc_fast, alloc_slow, alloc_slow_high_order, alloc_empty, alloc_refill, alloc_waive;
  uint64_t recycle_cached, recycle_cache_full, recycle_ring, recycle_ring_full,
      recycle_released_refcnt;
};
/* What ppool counts beyond them. */
struct ppool_pool_extra_stats {
  uint64_t alloc_limited; /* allocations refused at max_inflight */
  uint64_t inflight_mem;  /* bytes in flight now */
  uint32_t inflight_peak; /* the most pages in flight at once */
  uint64_t pages_zeroed;  /* pages cleared (PPOOL_F_ZERO_PAGES) */
};
/* Whether the library counts the kernel's eleven (built with PPOOL_STATS,
 * the default): false, they read 0. Thread context: any thread. */
bool ppool_stats_enabled(void);
/* The counters, as they stand (from another thread than the owner slightly
 * stale, never torn). Thread context: any thread. */
void ppool_pool_get_stats(const struct ppool_pool* pool, struct ppool_pool_stats* stats);
void ppool_pool_get_extra_stats(const struct ppool_pool* pool,
                                struct ppool_pool_extra_stats* extra);
/* Pages taken from the allocator and not given back. Thread context: any thread. */
uint32_t ppool_pool_inflight(const struct ppool_pool* pool);
/* Allocations that returned NULL. Thread context: any thread. */
uint64_t ppool_pool_alloc_failures(const struct ppool_pool* pool);
/* Maps the DMA device refused. Thread context: any thread. */
uint64_t ppool_pool_map_failures(const struct ppool_pool* pool);

/* ---- limits and backpressure ---- */

/* An eventfd that becomes readable when the pages out with users rise to
 * inflight_high and again when they fall to inflight_low: poll it, read it,
 * then ask ppool_pool_above_high_watermark(). -1 without watermarks. Thread
 * context: any thread. */
int ppool_pool_watermark_fd(const struct ppool_pool* pool);
bool ppool_pool_above_high_watermark(const struct ppool_pool* pool);
/* Stalled-shutdown reports every seconds (default 60). Thread context: any thread. */
void ppool_set_stall_report_interval(double seconds);
/* Destroyed pools still waiting for pages in flight. Thread context: any thread. */
size_t ppool_pools_pending_release(void);

/* ---- the registry: every pool of the process ---- */

struct ppool_pool_info {
  uint32_t id;
  char name[PPOOL_NAME_MAX];
  uint32_t queue;
  int nid;
  unsigned order;
  char dma_device[PPOOL_DEVICE_NAME_MAX]; /* "" without one; truncated */
  int64_t created_ns;                     /* CLOCK_REALTIME at creation */
  int64_t detach_time_s;                  /* CLOCK_REALTIME seconds at destroy, 0 while live */
  uint32_t inflight;
  uint64_t inflight_mem;
  struct ppool_pool_stats stats;
  struct ppool_pool_extra_stats extra;
};
/* A snapshot of every registered pool (live, or destroyed and waiting for
 * pages), in creation order: the first max into out[] (out may be NULL when
 * max is 0). Thread context: any thread.
 * @return how many pools there are (more than max: out holds the first
 *   max). */
size_t ppool_list_pools(struct ppool_pool_info* out, size_t max);
/* One pool by id. Thread context: any thread.
 * @return 0 and *out, or -ENOENT: no such pool registered. */
int ppool_find_pool(uint32_t id, struct ppool_pool_info* out);

/* ---- holder tags: who holds a page ---- */

/* Tags the page with holder (0 clears it) and the time. Thread context: the
 * thread holding the page. */
void ppool_set_page_holder(struct ppool_page* page, uint32_t holder);
/* The page's holder, 0 when none. Thread context: any thread. */
uint32_t ppool_page_holder(const struct ppool_page* page);
/* A name for holder's reports; "" or NULL forgets it. Thread context: any thread. */
void ppool_name_holder(uint32_t holder, const char* name);
/* The holder's name (malloc()ed, "" when none; free() it), NULL when out of
 * memory. Thread context: any thread. */
char* ppool_holder_name(uint32_t holder);

struct ppool_holder_group {
  uint32_t holder; /* 0: pages no one tagged */
  uint64_t pages;
  uint64_t oldest_age_ms; /* since the oldest page's tag was set */
};
/* Scans every allocator for the pool's pages out with users, grouped by
 * holder, most pages first: the first max groups into out[], the pages found
 * into *pages (when not NULL). O(pages committed): for reports. Thread
 * context: any thread.
 * @return how many groups there are, or -ENOENT: no such pool registered. */
long ppool_pool_holders(uint32_t id, struct ppool_holder_group* out, size_t max, uint64_t* pages);

/* ---- the telemetry endpoint (ppool/telemetry.h) ---- */

/* Listens on a Unix socket at path. Thread context: any thread.
 * @return 0, or -EINVAL (already started, a bad or occupied path: named),
 *   -ENOMEM (no socket, eventfd or thread). */
int ppool_telemetry_start(const char* path);
/* Stops it and removes the socket; nothing when not started. Thread context:
 * any thread. */
void ppool_telemetry_stop(void);
/* The socket's path ("" when off), malloc()ed; NULL when out of memory.
 * Thread context: any thread. */
char* ppool_telemetry_path(void);
/* The reply to one command ("/ppool/list", "/ppool/stats,1", ...) as the
 * socket sends it, malloc()ed; NULL when out of memory. Thread context: any
 * thread. */
char* ppool_telemetry_command(const char* command);
/* Every pool's counters in Prometheus' text format, malloc()ed; NULL when
 * out of memory. Thread context: any thread. */
char* ppool_prometheus_text(void);

/* ---- share: pool pages lent to another process (ppool/share.h) ----
 *
 * The producer's pool draws from a shared region (ppool_allocator_opts.shared);
 * ppool_share_producer_attach() seals the region read-only and sends it, and
 * two rings, over a connected AF_UNIX socket to the consumer, which maps
 * them with ppool_share_consumer_connect(). Pages go over by their offset
 * in the region and come back the same way; the consumer is untrusted
 * (every offset it writes is checked; one that breaks the protocol is cut
 * off and its pages reclaimed). No lock and no syscall per message.
 *
 * The producer has two contexts: the send side (hand, wait_room) is one
 * thread, the pool's owner when it allocates the pages it hands; the reap
 * side (reap, wait_returns, reclaim, reclaim_if_gone, destroy) is one
 * thread, the same or another. The consumer is one thread. */

struct ppool_share_params {
  uint32_t ring_entries;    /* entries of each ring, a power of two in 2..65536 */
  uint64_t max_bad_returns; /* bad returns ignored before the consumer is cut off */
};
/* One piece of data to hand over: len bytes at offset in page. */
struct ppool_share_buf {
  struct ppool_page* page;
  uint32_t offset;
  uint32_t len;
};
/* What the consumer receives: the data in place in its read-only mapping,
 * and the page's region offset, which it gives back. */
struct ppool_share_msg {
  const void* data;
  uint32_t len;
  uint64_t page;
};
struct ppool_share_producer_stats {
  uint64_t handed;      /* pages put on the hand ring */
  uint64_t returned;    /* pages given back and put home by reap */
  uint64_t reclaimed;   /* pages taken back by reclaim */
  uint64_t bad_returns; /* returned offsets the consumer did not hold (ignored) */
  uint64_t holding;     /* with the consumer now */
};

/* The defaults: 1024 entries, 1024 bad returns. Thread context: any thread. */
void ppool_share_params_init(struct ppool_share_params* params);
/* Attaches to pool (whose allocator must be a shared region), seals the
 * region and sends it and the rings to the consumer at the other end of
 * socket_fd (a connected AF_UNIX stream or seqpacket socket; it stays the
 * caller's). params NULL: the defaults. Thread context: the send side.
 * @return 0 and *out, or -EINVAL naming what in ppool_last_error(): a NULL
 *   argument, a pool not on a shared region, a bad ring size, a socket that
 *   is not a connected AF_UNIX one, a region that cannot be sealed, a send
 *   that failed (the C++ layer does not tell the caller's mistakes from the
 *   system's refusals; the message does). Nothing is attached then. */
int ppool_share_producer_attach(struct ppool_pool* pool, int socket_fd,
                                const struct ppool_share_params* params,
                                struct ppool_share_producer** out);
/* Reclaims what the consumer still holds and frees the producer: before the
 * pool's destroy. Thread context: the reap side, once the send side
 * stopped. NULL: nothing. */
void ppool_share_producer_destroy(struct ppool_share_producer* producer);
/* Hands bufs[0, n) over in order until the hand ring is full or a buffer
 * cannot be handed (its page not in the region or already with the
 * consumer, offset + len beyond the page: reported, and it stops the batch).
 * Thread context: the send side.
 * @return how many were handed (a prefix; the rest stay the caller's); 0
 *   after the consumer was cut off. */
size_t ppool_share_hand_bulk(struct ppool_share_producer* producer,
                             const struct ppool_share_buf* bufs, size_t n);
/* Sleeps until the hand ring has room, up to timeout_ms; true when it has.
 * Thread context: the send side. */
bool ppool_share_producer_wait_room(struct ppool_share_producer* producer, int timeout_ms);
/* Puts home up to max pages the consumer gave back (SIZE_MAX: a ring's
 * worth). An offset it did not hold is reported, counted in bad_returns and
 * never put. Thread context: the reap side.
 * @return how many went home. */
size_t ppool_share_reap(struct ppool_share_producer* producer, size_t max);
/* Sleeps until there is something to reap, up to timeout_ms; true when
 * there is; false at once after the consumer was cut off. Thread context:
 * the reap side. */
bool ppool_share_wait_returns(struct ppool_share_producer* producer, int timeout_ms);
/* True once the consumer hung up or was cut off (sticky). Thread context:
 * any thread. */
bool ppool_share_peer_gone(struct ppool_share_producer* producer);
/* Cuts the consumer off for good and puts home every page it held.
 * @return the pages taken back. Thread context: the reap side. */
size_t ppool_share_reclaim(struct ppool_share_producer* producer);
/* ppool_share_peer_gone(), and ppool_share_reclaim() when it is: the reap
 * side's periodic check. @return whether the peer is gone. Thread context:
 * the reap side. */
bool ppool_share_reclaim_if_gone(struct ppool_share_producer* producer);
/* Thread context: any thread (a moment's snapshot). */
void ppool_share_producer_get_stats(const struct ppool_share_producer* producer,
                                    struct ppool_share_producer_stats* stats);

/* Receives the region and the rings on socket_fd (waiting up to timeout_ms)
 * and maps them read-only. Thread context: the consumer's thread.
 * @return 0 and *out, or -EINVAL naming what in ppool_last_error(): a NULL
 *   out, a timeout, a hang-up, a peer that is no ppool producer, a header of
 *   another version or of impossible sizes, a mapping refused. Nothing is
 *   mapped then; socket_fd stays the caller's. */
int ppool_share_consumer_connect(int socket_fd, int timeout_ms, struct ppool_share_consumer** out);
/* Unmaps; pages not given back are the producer's to reclaim. NULL:
 * nothing. Thread context: the consumer's thread. */
void ppool_share_consumer_destroy(struct ppool_share_consumer* consumer);
/* Takes up to max messages off the hand ring into out[]; a message pointing
 * outside the region is reported and skipped (bad_messages). Thread
 * context: the consumer's thread. @return how many. */
size_t ppool_share_receive(struct ppool_share_consumer* consumer, struct ppool_share_msg* out,
                           size_t max);
/* Gives pages back by their region offsets (ppool_share_msg.page). Thread
 * context: the consumer's thread.
 * @return how many fit on the return ring (the rest: wait for room and give
 *   them again). */
size_t ppool_share_give_back(struct ppool_share_consumer* consumer, const uint64_t* pages,
                             size_t n);
/* Sleep until there is something to receive / room to give back, up to
 * timeout_ms; true when there is. Thread context: the consumer's thread. */
bool ppool_share_wait_data(struct ppool_share_consumer* consumer, int timeout_ms);
bool ppool_share_consumer_wait_room(struct ppool_share_consumer* consumer, int timeout_ms);
/* True once the producer hung up (sticky). Thread context: the consumer's thread. */
bool ppool_share_producer_gone(struct ppool_share_consumer* consumer);
/* The consumer's read-only mapping of the region, its size, and the
 * messages skipped as pointing outside it. Thread context: any thread. */
const void* ppool_share_region_base(const struct ppool_share_consumer* consumer);
size_t ppool_share_region_bytes(const struct ppool_share_consumer* consumer);
uint64_t ppool_share_bad_messages(const struct ppool_share_consumer* consumer);

#ifdef __cplusplus
}
#endif

#endif /* PPOOL_H */
