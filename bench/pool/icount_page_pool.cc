// Runs one page-pool path for a given number of iterations, in a function of
// its own, so that callgrind can count its instructions alone:
//
//   bench/icount.sh        (instructions per op for each path)
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "pool/remote_context.h"
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

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 || (std::strcmp(argv[1], "fast") && std::strcmp(argv[1], "ring") &&
                    std::strcmp(argv[1], "bulk"))) {
    std::fprintf(stderr, "usage: %s fast|ring|bulk ITERATIONS\n", argv[0]);
    return 2;
  }
  long iters = std::atol(argv[2]);
  ppool::PagePoolParams params;
  params.name = "icount";
  params.flags = ppool::kDmaMap;
  params.dev = &g_identity;
  ppool::PagePool* pool = ppool::PagePool::create(params).value();
  // Warm the cache and the ring so the counted loop sees steady state.
  icount_fast_path(pool, 1000);
  icount_ring_path(pool, 1000);
  icount_bulk_path(pool, 10);
  switch (argv[1][0]) {
    case 'f':
      icount_fast_path(pool, iters);
      break;
    case 'r':
      icount_ring_path(pool, iters);
      break;
    default:
      icount_bulk_path(pool, iters);
      break;
  }
  ppool::PagePool::destroy(pool);
  return 0;
}
