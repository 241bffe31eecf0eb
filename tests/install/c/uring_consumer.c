/* A C consumer of the installed io_uring device (<ppool_io_uring.h>): a
 * pool's page mapped to a fixed-buffer slot of a real ring. */
#include <liburing.h>
#include <stdio.h>

#include <ppool_io_uring.h>

int main(void) {
  struct io_uring ring;
  struct io_uring* rings[1] = {&ring};
  struct ppool_dma_device* dev = NULL;
  struct ppool_pool_params params;
  struct ppool_pool* pool = NULL;
  struct ppool_page* page;
  int ok;
  if (io_uring_queue_init(4, &ring, 0) < 0) {
    printf("c io_uring consumer: no io_uring here, linked only\n");
    return 0;
  }
  if (ppool_io_uring_device_create(rings, 1, 64, &dev) != 0) {
    fprintf(stderr, "c io_uring consumer: %s\n", ppool_last_error());
    return 1;
  }
  ppool_pool_params_init(&params);
  params.flags = PPOOL_F_DMA_MAP;
  params.dev = dev;
  params.pool_size = 64;
  if (ppool_pool_create(&params, &pool) != 0) return 1;
  page = ppool_alloc_pages(pool);
  ok = page && ppool_get_dma_addr(page) < 64;
  if (page) ppool_pool_put_full_page(pool, page, true);
  ok = ppool_pool_destroy(pool) == 0 && ok;
  ppool_io_uring_device_destroy(dev);
  io_uring_queue_exit(&ring);
  printf("c io_uring consumer: %s\n", ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
