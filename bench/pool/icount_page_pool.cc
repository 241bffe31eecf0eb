// Runs one page-pool path for a given number of iterations, in a function of
// its own, so that callgrind can count its instructions alone:
//
//   bench/icount.sh        (instructions per op for each path)
#include <cstdio>
#include <cstdlib>
#include <cstring>

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

__attribute__((noinline)) void icount_ring_path(ppool::PagePool* pool, long iters) {
  for (long i = 0; i < iters; ++i) {
    ppool::Page* page = pool->alloc_pages();
    asm volatile("" : : "r"(page) : "memory");
    pool->put_full_page(page, false);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 || (std::strcmp(argv[1], "fast") && std::strcmp(argv[1], "ring"))) {
    std::fprintf(stderr, "usage: %s fast|ring ITERATIONS\n", argv[0]);
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
  if (argv[1][0] == 'f')
    icount_fast_path(pool, iters);
  else
    icount_ring_path(pool, iters);
  ppool::PagePool::destroy(pool);
  return 0;
}
