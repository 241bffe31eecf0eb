// Runs one page-pool path for a given number of iterations, in a function of
// its own, so that callgrind can count its instructions alone:
//
//   scripts/icount.sh        (instructions per op for each path)
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "pool/counting_sync_device.h"
#include "pool/remote_context.h"
#include "ppool/holder.h"
#include "ppool/page_pool.h"

namespace {

ppool::IdentityDmaDevice g_identity;

// The loops the instructions are counted in. noinline keeps them whole.
__attribute__((noinline)) void icount_fast_path(ppool::PagePool* pool, long iters) {
  for (long i = 0; i < iters; ++i) {
    ppool::Page* page = pool->alloc_pages();
    asm volatile("" : : "r"(page) : "memory");
    pool->recycle_direct(page);
  }
}

// The fast path with a holder tag set on every page handed out
// (ppool/holder.h): the tag's cost is this count minus the fast path's.
__attribute__((noinline)) void icount_holder_path(ppool::PagePool* pool, long iters) {
  for (long i = 0; i < iters; ++i) {
    ppool::Page* page = pool->alloc_pages();
    ppool::set_page_holder(page, 7);
    pool->recycle_direct(page);
  }
}

// The put as another thread's (RemoteContext: two stores of the thread id
// included in the count), so it takes the ring.
__attribute__((noinline)) void icount_ring_path(ppool::PagePool* pool, long iters) {
  ppool::bench::RemoteContext remote;
  for (long i = 0; i < iters; ++i) {
    ppool::Page* page = pool->alloc_pages();
    asm volatile("" : : "r"(page) : "memory");
    remote.run([&] { pool->put_full_page(page, false); });
  }
}

// 64 allocs, then one bulk put of the 64 on the owner (napi-local: into the
// cache): icount.sh counts put_page_bulk alone.
__attribute__((noinline)) void icount_bulk_path(ppool::PagePool* pool, long iters) {
  ppool::Page* pages[64];
  for (long i = 0; i < iters; ++i) {
    for (auto& page : pages) page = pool->alloc_pages();
    ppool::put_page_bulk(pages, 64);
  }
}

// One bulk alloc of 64 and one bulk put of the 64 on the owner:
// icount.sh counts alloc_pages_bulk alone.
__attribute__((noinline)) void icount_bulk_alloc_path(ppool::PagePool* pool, long iters) {
  ppool::Page* pages[64];
  for (long i = 0; i < iters; ++i) {
    if (pool->alloc_pages_bulk(pages, 64) != 64) std::abort();
    ppool::put_page_bulk(pages, 64);
  }
}

// The slow path, a page at a time: each page leaves the pool for the page
// allocator, so every alloc finds the cache empty once in 64 and refills it
// from the allocator (one bulk, mapped at once; cleared with kZeroPages).
// icount.sh counts the whole loop, per page.
__attribute__((noinline)) void icount_slow_path(ppool::PagePool* pool, long iters) {
  for (long i = 0; i < iters; ++i) {
    ppool::Page* page = pool->alloc_pages();
    asm volatile("" : : "r"(page) : "memory");
    pool->release_page(page);
    ppool::put_page(page);
  }
}

// The fast path's loop on a pool whose device needs syncs (kDmaSyncDev).
__attribute__((noinline)) void icount_sync_path(ppool::PagePool* pool, long iters) {
  icount_fast_path(pool, iters);
}

// The ring path's loop on a pool whose device needs syncs: another thread's
// sync (announced to destroy) before the ring.
__attribute__((noinline)) void icount_ring_sync_path(ppool::PagePool* pool, long iters) {
  icount_ring_path(pool, iters);
}

ppool::PagePool* make_pool(ppool::DmaDevice& dev, std::uint32_t flags) {
  ppool::PagePoolParams params;
  params.name = "icount";
  params.flags = flags;
  params.max_len = (flags & ppool::kDmaSyncDev) ? ppool::kPageSize : 0;
  params.dev = &dev;
  return ppool::PagePool::create(params).value();
}

}  // namespace

// PATH_zero: the same path on a kZeroPages pool. sync, ring_sync and
// bulk_sync: the fast, ring and bulk paths on a device that needs syncs.
int main(int argc, char** argv) {
  std::string_view path = argc == 3 ? argv[1] : "";
  const bool zero = path.ends_with("_zero");
  if (zero) path.remove_suffix(5);
  if (path != "fast" && path != "ring" && path != "bulk" && path != "bulk_alloc" &&
      path != "sync" && path != "ring_sync" && path != "bulk_sync" && path != "slow" &&
      path != "holder") {
    std::fprintf(stderr,
                 "usage: %s fast|ring|bulk|bulk_alloc|sync|ring_sync|bulk_sync|slow|holder[_zero] "
                 "ITERATIONS\n",
                 argv[0]);
    return 2;
  }
  const bool syncs = path == "sync" || path == "ring_sync" || path == "bulk_sync";
  const long iters = std::atol(argv[2]);
  std::uint32_t flags = ppool::kDmaMap;
  if (zero) flags |= ppool::kZeroPages;
  ppool::bench::CountingSyncDevice sync_dev;
  ppool::PagePool* pool =
      syncs ? make_pool(sync_dev, flags | ppool::kDmaSyncDev) : make_pool(g_identity, flags);
  // Warm the cache and the ring so the counted loop sees steady state.
  icount_fast_path(pool, 1000);
  icount_ring_path(pool, 1000);
  icount_bulk_path(pool, 10);
  icount_bulk_alloc_path(pool, 10);
  if (path == "slow") icount_slow_path(pool, 1000);  // the other paths start as they always did
  if (path == "fast") icount_fast_path(pool, iters);
  if (path == "ring") icount_ring_path(pool, iters);
  if (path == "bulk" || path == "bulk_sync") icount_bulk_path(pool, iters);
  if (path == "bulk_alloc") icount_bulk_alloc_path(pool, iters);
  if (path == "sync") icount_sync_path(pool, iters);
  if (path == "ring_sync") icount_ring_sync_path(pool, iters);
  if (path == "slow") icount_slow_path(pool, iters);
  if (path == "holder") icount_holder_path(pool, iters);
  ppool::PagePool::destroy(pool);
  return 0;
}
