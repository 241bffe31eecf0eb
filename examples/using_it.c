/* examples/using_it.c: the README's "Using it from C", built and run by the tests. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>

#include <ppool.h>

static struct ppool_pool* pool;

static void* put_from_another_thread(void* page) {
  ppool_pool_put_full_page(pool, page, false); /* through the pool's ring */
  return NULL;
}

int main(void) {
  struct ppool_pool_params params;
  ppool_pool_params_init(&params); /* the C++ PagePoolParams' defaults */
  params.flags = PPOOL_F_DMA_MAP | PPOOL_F_DMA_SYNC_DEV;
  params.dev = ppool_dma_identity(); /* no IOMMU: DMA address = virtual address */
  params.dma_dir = PPOOL_DMA_FROM_DEVICE;
  params.max_len = PPOOL_PAGE_SIZE;
  params.pool_size = 256; /* ring size */
  params.name = "eth0 rxq0";
  if (ppool_pool_create(&params, &pool) < 0) {   /* a negative errno */
    fprintf(stderr, "%s\n", ppool_last_error()); /* names the bad field */
    return 1;
  }

  /* On the queue's thread (the kernel's NAPI context): */
  struct ppool_page* page = ppool_alloc_pages(pool); /* NULL when memory runs out */
  printf("page at %p, DMA address %#llx\n", ppool_page_address(page),
         (unsigned long long)ppool_get_dma_addr(page));
  ppool_recycle_direct(pool, page); /* XDP_DROP: straight into the cache */

  /* From any thread: through the pool's ring. */
  pthread_t thread;
  pthread_create(&thread, NULL, put_from_another_thread, ppool_alloc_pages(pool));
  pthread_join(thread, NULL);
  /* On the owner's thread every put is napi-local: into the cache. */
  struct ppool_page* pages[8];
  if (ppool_alloc_pages_bulk(pool, pages, 8) != 8) return 1; /* fewer only when memory runs out */
  ppool_put_page_bulk(pages, 8);                             /* many pages, of any pools */
  ppool_put_page(ppool_alloc_pages(pool)); /* code that knows no pools: the page goes home */

  /* Fragments: two 2 KiB packets per 4 KiB page; the page recycles after both. */
  uint32_t offset_a, size_a = 2048, offset_b, size_b = 2048;
  struct ppool_page* frag_a = ppool_alloc(pool, &offset_a, &size_a);
  struct ppool_page* frag_b = ppool_alloc(pool, &offset_b, &size_b); /* the same page, at 2048 */
  ppool_pool_put_full_page(pool, frag_a, true);
  ppool_pool_put_full_page(pool, frag_b, true);

  struct ppool_pool_stats stats;
  ppool_pool_get_stats(pool, &stats); /* the kernel's counters, under its names */
  printf("alloc_fast %llu, recycle_ring %llu\n", (unsigned long long)stats.alloc_fast,
         (unsigned long long)stats.recycle_ring);

  /* Driver unload, on the owner thread: */
  uint32_t inflight = ppool_pool_destroy(pool); /* 0: every page came home */
  printf("inflight %u, misuses %llu\n", inflight, (unsigned long long)ppool_misuse_count());
  return inflight == 0 && ppool_misuse_count() == 0 ? 0 : 1;
}
