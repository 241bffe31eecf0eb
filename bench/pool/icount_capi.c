/* The C API's fast path (ppool_alloc_pages + ppool_recycle_direct, each a
 * call into libppool) in a function of its own, so that callgrind counts
 * it alone; icount_page_pool's "fast" is the same loop on the inline C++
 * fast path:
 *
 *   scripts/icount.sh        (instructions per op for each path) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ppool.h>

__attribute__((noinline)) static void icount_c_fast_path(struct ppool_pool* pool, long iters) {
  long i;
  for (i = 0; i < iters; ++i) {
    struct ppool_page* page = ppool_alloc_pages(pool);
    __asm__ volatile("" : : "r"(page) : "memory");
    ppool_recycle_direct(pool, page);
  }
}

int main(int argc, char** argv) {
  struct ppool_pool_params params;
  struct ppool_pool* pool;
  if (argc != 3 || strcmp(argv[1], "fast") != 0) {
    fprintf(stderr, "usage: %s fast ITERATIONS\n", argv[0]);
    return 2;
  }
  ppool_pool_params_init(&params);
  params.flags = PPOOL_F_DMA_MAP;
  params.dev = ppool_dma_identity();
  params.pool_size = 4096;
  if (ppool_pool_create(&params, &pool) < 0) {
    fprintf(stderr, "%s\n", ppool_last_error());
    return 1;
  }
  icount_c_fast_path(pool, 1000); /* warm: the counted loop sees steady state */
  icount_c_fast_path(pool, atol(argv[2]));
  ppool_pool_destroy(pool);
  return 0;
}
