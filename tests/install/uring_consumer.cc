// Builds against an installed ppool::io_uring: a pool on io_uring fixed buffers.
#include <liburing.h>

#include <cstdio>

#include <ppool/io_uring_device.h>
#include <ppool/page_pool.h>

int main() {
  io_uring ring;
  if (io_uring_queue_init(8, &ring, 0) < 0) {
    std::printf("uring consumer: io_uring unavailable here; linked fine\n");
    return 0;
  }
  io_uring* rings[] = {&ring};
  auto dev = ppool::IoUringDmaDevice::create(rings, 128);
  if (!dev) return std::fprintf(stderr, "%s\n", dev.error().message.c_str()), 1;
  ppool::PagePoolParams params;
  params.name = "uring-consumer";
  params.flags = ppool::kDmaMap;
  params.dev = dev.value().get();
  params.dma_dir = ppool::DmaDirection::kBidirectional;
  ppool::PagePool* pool = ppool::PagePool::create(params).value();
  ppool::Page* page = pool->alloc_pages();
  std::printf("uring consumer: page registered at fixed buffer %llu\n",
              static_cast<unsigned long long>(pool->get_dma_addr(page)));
  pool->recycle_direct(page);
  int rc = ppool::PagePool::destroy(pool) == 0 ? 0 : 1;
  dev.value().reset();
  io_uring_queue_exit(&ring);
  return rc;
}
