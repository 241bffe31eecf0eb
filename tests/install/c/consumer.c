/* A C consumer of the installed library: <ppool.h>, a pool, a page
 * allocated, written, put and counted, a bad parameter refused. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <ppool.h>

int main(void) {
  struct ppool_pool_params params;
  struct ppool_pool* pool;
  struct ppool_pool_stats stats;
  struct ppool_page* page;
  ppool_pool_params_init(&params);
  params.pool_size = 0;
  if (ppool_pool_create(&params, &pool) != -EINVAL || !strstr(ppool_last_error(), "pool_size")) {
    fprintf(stderr, "c consumer: a bad pool_size was not refused: %s\n", ppool_last_error());
    return 1;
  }
  ppool_pool_params_init(&params);
  params.name = "c consumer";
  if (ppool_pool_create(&params, &pool) < 0) {
    fprintf(stderr, "c consumer: %s\n", ppool_last_error());
    return 1;
  }
  page = ppool_alloc_pages(pool);
  if (!page) return 1;
  memset(ppool_page_address(page), 0x5a, PPOOL_PAGE_SIZE);
  ppool_recycle_direct(pool, page);
  ppool_pool_get_stats(pool, &stats);
  if (stats.recycle_cached != 1 || ppool_pool_destroy(pool) != 0) return 1;
  printf("c consumer: ok\n");
  return 0;
}
