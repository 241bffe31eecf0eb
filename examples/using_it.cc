// examples/using_it.cc: the README's "Using it", built and run by the tests.
#include <cstdio>
#include <thread>

#include <ppool/page_pool.h>
#include <ppool/xdp.h>

int main() {
  ppool::IdentityDmaDevice dev;  // no IOMMU: DMA address = virtual address
  ppool::PagePoolParams params;
  params.flags = ppool::kDmaMap | ppool::kDmaSyncDev;
  params.dev = &dev;
  params.dma_dir = ppool::DmaDirection::kFromDevice;
  params.max_len = ppool::kPageSize;
  params.pool_size = 256;  // ring size
  params.name = "eth0 rxq0";
  auto created = ppool::PagePool::create(params);
  if (!created) {  // the message names the bad field
    std::fprintf(stderr, "%s\n", created.error().message.c_str());
    return 1;
  }
  ppool::PagePool* pool = created.value();  // bound to this thread (bind_owner() moves it)

  // On the queue's thread (the kernel's NAPI context):
  ppool::Page* page = pool->alloc_pages();  // nullptr when memory runs out
  std::printf("page at %p, DMA address %#llx\n", ppool::page_address(page),
              static_cast<unsigned long long>(pool->get_dma_addr(page)));
  pool->recycle_direct(page);  // XDP_DROP: straight into the cache

  // From any thread: through the pool's ring.
  page = pool->alloc_pages();
  std::thread([pool, page] { pool->put_full_page(page, /*allow_direct=*/false); }).join();
  // On the owner's thread every put is napi-local: into the cache.
  ppool::Page* pages[8];
  if (pool->alloc_pages_bulk(pages, 8) != 8) return 1;  // fewer only when memory runs out
  ppool::put_page_bulk(pages, 8);                       // many pages, of any pools
  ppool::put_page(pool->alloc_pages());  // code that knows no pools: the page goes home

  // Fragments: two 2 KiB packets per 4 KiB page; the page recycles after both.
  std::uint32_t offset_a, size_a = 2048, offset_b, size_b = 2048;
  ppool::Page* frag_a = pool->alloc(&offset_a, &size_a);
  ppool::Page* frag_b = pool->alloc(&offset_b, &size_b);  // the same page, at 2048
  pool->put_full_page(frag_a, true);
  pool->put_full_page(frag_b, true);

  // The XDP memory model: frames find their home pool from any driver's thread.
  ppool::RxQueueInfo rxq("eth0", 0);
  ppool::MemInfo mem = rxq.reg_mem_model(ppool::MemType::kPagePool, pool).value();
  ppool::Frame* frames[4];
  for (ppool::Frame*& frame : frames) {
    auto* hard_start = static_cast<char*>(ppool::page_address(pool->alloc_pages()));
    frame = ppool::build_frame(hard_start, hard_start + 256, /*len=*/60, ppool::kPageSize, mem);
  }
  std::thread tx_completion([&frames] {
    ppool::FrameBulk bulk;
    for (ppool::Frame* frame : frames) ppool::return_frame_bulk(frame, bulk);  // 16 at a time
    bulk.flush();
  });
  tx_completion.join();

  // Driver unload, on the owner thread:
  rxq.unreg_mem_model();
  std::uint32_t inflight = ppool::PagePool::destroy(pool);  // 0: every page came home
  std::printf("inflight %u, misuses %llu\n", inflight,
              static_cast<unsigned long long>(ppool::misuse_count()));
  return inflight == 0 && ppool::misuse_count() == 0 ? 0 : 1;
}
