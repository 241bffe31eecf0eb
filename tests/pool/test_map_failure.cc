// A DMA device that refuses mappings: a refusal inside a
// bulk refill is counted and ends the bulk (the pages mapped before it serve,
// the rest go back to the allocator); an allocation whose first map is
// refused returns nullptr and is counted; the pool works again once the
// device maps.
#include <gtest/gtest.h>

#include <atomic>
#include <vector>

#include "ppool/dma.h"
#include "ppool/page.h"
#include "ppool/page_pool.h"
#include "support/pool_fixtures.h"

namespace {

// Identity mappings, refusing every refuse_every-th map asked for (1: all of
// them, 0: none), as an IOMMU out of space or an io_uring out of locked
// memory would.
class RefusingDevice final : public ppool::DmaDevice {
 public:
  std::string_view name() const override { return "refusing"; }
  ppool::DmaAddr map(void* addr, std::size_t, ppool::DmaDirection, std::string_view) override {
    const unsigned n = ++maps_;
    if (refuse_every && n % refuse_every == 0) return ppool::kDmaMappingError;
    return reinterpret_cast<ppool::DmaAddr>(addr);
  }
  void unmap(ppool::DmaAddr, std::size_t, ppool::DmaDirection, std::string_view) override {}
  void sync_for_device(ppool::DmaAddr, std::size_t, std::size_t, ppool::DmaDirection,
                       std::string_view) override {}
  void sync_for_cpu(ppool::DmaAddr, std::size_t, std::size_t, ppool::DmaDirection,
                    std::string_view) override {}
  bool needs_sync() const override { return false; }

  unsigned maps() const { return maps_.load(); }

  std::atomic<unsigned> refuse_every{0};

 private:
  std::atomic<unsigned> maps_{0};
};

TEST(PoolMapFailure, PartialAndWholeRefusalsAreCounted) {
  const auto allocator_owner = ppool::PageAllocator::create({.nid = ppool::kNoNode,
                                                             .max_bytes = ppool::kChunkBytes,
                                                             .retain_bytes = ppool::kChunkBytes})
                                   .value();
  ppool::PageAllocator& allocator = *allocator_owner;
  RefusingDevice dev;
  ppool::PagePool* pool =
      ppool::test::make_pool("mapfail-partial", &dev, ppool::kDmaMap, &allocator);
  ASSERT_NE(pool, nullptr);

  // The 33rd map of a bulk refill refused: 32 pages serve, one refusal is
  // counted, and the refill asks the device for nothing more.
  dev.refuse_every = 33;
  ppool::Page* page = pool->alloc_pages();
  ASSERT_NE(page, nullptr);
  EXPECT_EQ(pool->map_failures(), 1u);
  EXPECT_EQ(dev.maps(), 33u) << "the bulk went on after a refusal";
  EXPECT_EQ(pool->alloc_failures(), 0u);
  EXPECT_EQ(pool->inflight(), 32u) << "unmapped pages are not the pool's";
  std::vector<ppool::Page*> held{page};
  for (unsigned i = 1; i < 32; ++i) held.push_back(pool->alloc_pages());
  for (ppool::Page* p : held) ASSERT_NE(p, nullptr);

  // Everything refused: nullptr after one refused map, counted as a failed
  // allocation.
  dev.refuse_every = 1;
  EXPECT_EQ(pool->alloc_pages(), nullptr);
  EXPECT_EQ(pool->alloc_failures(), 1u);
  EXPECT_EQ(pool->map_failures(), 2u);
  EXPECT_EQ(dev.maps(), 34u);

  // The device maps again: so does the pool; nothing was lost.
  dev.refuse_every = 0;
  ppool::Page* again = pool->alloc_pages();
  ASSERT_NE(again, nullptr);
  held.push_back(again);
  for (ppool::Page* p : held) pool->recycle_direct(p);
  EXPECT_EQ(ppool::PagePool::destroy(pool), 0u);
  const ppool::PageAllocatorStats stats = allocator.stats();
  EXPECT_EQ(stats.free_bytes + stats.released_bytes, stats.committed_bytes) << "pages lost";
}

}  // namespace
