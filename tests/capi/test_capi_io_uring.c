/* The io_uring DMA device from C (include/ppool_io_uring.h): two real rings
 * (liburing), a pool mapping its pages through the device, each page's DMA
 * address a fixed-buffer slot that a READ_FIXED and a WRITE_FIXED really
 * use, bad input refused with its errno and message, the device destroyed
 * with every slot free. C11 with -pedantic -Werror; a failed check exits 1
 * naming its line; exits 77 where the kernel has no io_uring. */
#define _GNU_SOURCE /* memfd_create */

#include <errno.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <ppool_io_uring.h>

#include "check.h"

enum { SLOTS = 256, PAGES = 8 };

/* One fixed-buffer op of len bytes at buf, slot in ring, against fd at
 * offset 0; the completion's result. */
static int fixed_op(struct io_uring* ring, int write, int fd, void* buf, unsigned len,
                    uint64_t slot) {
  struct io_uring_sqe* sqe = io_uring_get_sqe(ring);
  struct io_uring_cqe* cqe = NULL;
  int res;
  if (write)
    io_uring_prep_write_fixed(sqe, fd, buf, len, 0, (int)slot);
  else
    io_uring_prep_read_fixed(sqe, fd, buf, len, 0, (int)slot);
  if (io_uring_submit(ring) != 1 || io_uring_wait_cqe(ring, &cqe) != 0) return -9999;
  res = cqe->res;
  io_uring_cqe_seen(ring, cqe);
  return res;
}

static void test_bad_input(struct io_uring* ring) {
  struct ppool_dma_device* dev = NULL;
  struct io_uring* rings[1] = {ring};
  struct io_uring* none[1] = {NULL};
  CHECK(ppool_io_uring_device_create(rings, 1, 0, &dev) == -EINVAL);
  CHECK(dev == NULL);
  CHECK(strstr(ppool_last_error(), "one ring and one slot") != NULL);
  CHECK(ppool_io_uring_device_create(rings, 0, SLOTS, &dev) == -EINVAL);
  CHECK(ppool_io_uring_device_create(NULL, 1, SLOTS, &dev) == -EINVAL);
  CHECK(strstr(ppool_last_error(), "rings is NULL") != NULL);
  CHECK(ppool_io_uring_device_create(none, 1, SLOTS, &dev) == -EINVAL);
  CHECK(ppool_io_uring_device_create(rings, 1, SLOTS, NULL) == -EINVAL);
  CHECK(strstr(ppool_last_error(), "out is NULL") != NULL);
  ppool_io_uring_device_destroy(NULL);
}

static void test_pool_on_the_device(struct io_uring* ring0, struct io_uring* ring1) {
  struct io_uring* rings[2] = {ring0, ring1};
  struct ppool_dma_device* dev = NULL;
  struct ppool_dma_device* again = NULL;
  struct ppool_pool_params params;
  struct ppool_pool* pool = NULL;
  struct ppool_page* pages[PAGES];
  int fd = memfd_create("ppool-capi-io-uring", 0);
  CHECK(fd >= 0);

  CHECK(ppool_io_uring_device_create(rings, 2, SLOTS, &dev) == 0);
  if (!dev) {
    fprintf(stderr, "ppool_io_uring_device_create: %s\n", ppool_last_error());
    exit(1);
  }
  CHECK(ppool_io_uring_device_slots(dev) == SLOTS);
  CHECK(ppool_io_uring_device_slots_in_use(dev) == 0);
  /* A ring holds one table: a second device on it is refused by the kernel. */
  CHECK(ppool_io_uring_device_create(rings, 1, SLOTS, &again) == -EOPNOTSUPP);
  CHECK(again == NULL);
  CHECK(strstr(ppool_last_error(), "registering 256 fixed buffers") != NULL);

  ppool_pool_params_init(&params);
  params.flags = PPOOL_F_DMA_MAP;
  params.dev = dev;
  params.dma_dir = PPOOL_DMA_BIDIRECTIONAL;
  params.pool_size = 64;
  params.name = "io_uring-c";
  CHECK(ppool_pool_create(&params, &pool) == 0);
  if (!pool) exit(1);

  CHECK(ppool_alloc_pages_bulk(pool, pages, PAGES) == PAGES);
  CHECK(ppool_io_uring_device_slots_in_use(dev) >= PAGES);
  /* The refill mapped its pages as runs of slots: a call per ring per run,
   * far fewer than a call per page per ring. */
  CHECK(ppool_io_uring_device_register_calls(dev) >= 2);
  CHECK(ppool_io_uring_device_register_calls(dev) < 2 * ppool_io_uring_device_slots_in_use(dev));
  for (size_t i = 0; i < PAGES; ++i) {
    const uint64_t slot = ppool_get_dma_addr(pages[i]);
    char text[32], back[32] = {0};
    CHECK(slot < SLOTS);
    for (size_t j = 0; j < i; ++j) CHECK(ppool_get_dma_addr(pages[j]) != slot);
    /* The device writes the page: a READ_FIXED into it through its slot,
     * in the second ring. */
    snprintf(text, sizeof text, "slot %llu", (unsigned long long)slot);
    CHECK(pwrite(fd, text, sizeof text, 0) == (ssize_t)sizeof text);
    CHECK(fixed_op(ring1, 0, fd, ppool_page_address(pages[i]), sizeof text, slot) ==
          (int)sizeof text);
    CHECK(memcmp(ppool_page_address(pages[i]), text, sizeof text) == 0);
    /* And reads it: a WRITE_FIXED from it in the first ring. */
    memcpy(ppool_page_address(pages[i]), "from the page", 14);
    CHECK(fixed_op(ring0, 1, fd, ppool_page_address(pages[i]), 14, slot) == 14);
    CHECK(pread(fd, back, 14, 0) == 14 && memcmp(back, "from the page", 14) == 0);
  }
  /* A buffer outside its slot's page is refused by the kernel. */
  {
    static char elsewhere[64];
    CHECK(fixed_op(ring0, 1, fd, elsewhere, sizeof elsewhere, ppool_get_dma_addr(pages[0])) < 0);
  }

  ppool_put_page_bulk(pages, PAGES);
  CHECK(ppool_pool_destroy(pool) == 0);
  CHECK(ppool_io_uring_device_slots_in_use(dev) == 0);
  ppool_io_uring_device_destroy(dev);
  /* The tables are gone: the ring takes a new one. */
  dev = NULL;
  CHECK(ppool_io_uring_device_create(rings, 1, 8, &dev) == 0);
  ppool_io_uring_device_destroy(dev);
  close(fd);
}

int main(void) {
  struct io_uring ring0, ring1;
  int ret = io_uring_queue_init(8, &ring0, 0);
  if (ret < 0) {
    printf("skipped: io_uring unavailable here: %s\n", strerror(-ret));
    return 77;
  }
  if (io_uring_queue_init(8, &ring1, 0) < 0) {
    printf("skipped: a second io_uring refused\n");
    io_uring_queue_exit(&ring0);
    return 77;
  }
  test_bad_input(&ring0);
  test_pool_on_the_device(&ring0, &ring1);
  io_uring_queue_exit(&ring1);
  io_uring_queue_exit(&ring0);
  if (g_failures) {
    fprintf(stderr, "%d check(s) failed\n", g_failures);
    return 1;
  }
  printf("capi io_uring: ok\n");
  return 0;
}
