// The registry (ppool/registry.h): every live pool and every destroyed one
// still waiting for pages is listed, with its state and the kernel's eleven
// counters, readable from any thread while the owner runs.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "ppool/dma.h"
#include "ppool/page_pool.h"
#include "ppool/registry.h"
#include "support/pool_fixtures.h"
#include "support/stats.h"

namespace {

using ppool::test::make_pool;
using ppool::test::wait_for;

bool listed(std::uint32_t id) {
  const std::vector<ppool::PoolInfo> pools = ppool::list_pools();
  return std::any_of(pools.begin(), pools.end(),
                     [id](const ppool::PoolInfo& p) { return p.id == id; });
}

TEST(Registry, ListsLiveAndPendingPoolsUntilFreed) {
  ppool::IdentityDmaDevice dev;
  ppool::PagePoolParams params;
  params.name = "registry-a";
  params.queue = 3;
  params.dev = &dev;
  params.flags = ppool::kDmaMap;
  auto created = ppool::PagePool::create(params);
  ASSERT_TRUE(created) << created.error().message;
  ppool::PagePool* pool = created.value();
  const std::uint32_t id = pool->id();

  std::optional<ppool::PoolInfo> info = ppool::find_pool(id);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->name, "registry-a");
  EXPECT_EQ(info->queue, 3u);
  EXPECT_EQ(info->nid, pool->nid());
  EXPECT_EQ(info->order, 0u);
  EXPECT_EQ(info->dma_device, std::string(dev.name()));
  EXPECT_GT(info->created_ns, 0);
  EXPECT_EQ(info->detach_time_s, 0) << "live";
  EXPECT_TRUE(listed(id));

  ppool::Page* held = pool->alloc_pages();
  ASSERT_NE(held, nullptr);
  info = ppool::find_pool(id);
  EXPECT_EQ(info->inflight, pool->inflight());
  EXPECT_EQ(info->inflight_mem, std::uint64_t{pool->inflight()} * ppool::kPageSize);
  PPOOL_IF_STATS {
    EXPECT_EQ(info->stats.alloc.slow, 1u);
  }

  // Destroyed with a page out: still listed, with its detach time.
  EXPECT_EQ(ppool::PagePool::destroy(pool), 1u);
  info = ppool::find_pool(id);
  ASSERT_TRUE(info) << "a pool waiting for pages in flight stays listed";
  EXPECT_GT(info->detach_time_s, 0);
  EXPECT_EQ(info->inflight, 1u);

  ppool::put_page(held);
  EXPECT_TRUE(wait_for([&] { return !ppool::find_pool(id); }, std::chrono::milliseconds(5000)))
      << "freed once the page came back";
  EXPECT_FALSE(listed(id));
  EXPECT_FALSE(ppool::find_pool(0xffffffffu));
}

// A device that fails the test when anything asks for its name after it was
// unplugged: the registry must describe a pool from what it copied.
class UnpluggableDevice final : public ppool::CoherentDmaDevice {
 public:
  std::string_view name() const override {
    if (unplugged) ADD_FAILURE() << "name() of a device that is gone";
    return "unpluggable";
  }
  ppool::DmaAddr map(void* addr, std::size_t, ppool::DmaDirection, std::string_view) override {
    return reinterpret_cast<ppool::DmaAddr>(addr);
  }
  void unmap(ppool::DmaAddr, std::size_t, ppool::DmaDirection, std::string_view) override {}
  bool unplugged = false;
};

// The stalled shutdown the registry exists to diagnose: destroy() returned
// (so the device may go away, page_pool.h) with a page still out. Listing
// the pending pool still names its device, without calling into it.
TEST(Registry, APendingPoolIsDescribedAfterItsDeviceIsGone) {
  auto dev = std::make_unique<UnpluggableDevice>();
  ppool::PagePool* pool = make_pool("registry-gone", dev.get(), ppool::kDmaMap);
  ASSERT_NE(pool, nullptr);
  const std::uint32_t id = pool->id();
  ppool::Page* held = pool->alloc_pages();
  ASSERT_NE(held, nullptr);
  EXPECT_EQ(ppool::PagePool::destroy(pool), 1u);
  dev->unplugged = true;
  std::optional<ppool::PoolInfo> info = ppool::find_pool(id);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->dma_device, "unpluggable");
  dev.reset();  // gone (AddressSanitizer catches a read of it)
  const std::vector<ppool::PoolInfo> pools = ppool::list_pools();
  auto it = std::find_if(pools.begin(), pools.end(),
                         [id](const ppool::PoolInfo& p) { return p.id == id; });
  ASSERT_NE(it, pools.end());
  EXPECT_EQ(it->dma_device, "unpluggable");
  EXPECT_EQ(it->inflight, 1u);
  ppool::put_page(held);  // nothing of the device is called on the way home
  EXPECT_TRUE(wait_for([&] { return !ppool::find_pool(id); }, std::chrono::milliseconds(5000)));
}

// Another thread reads the counters while the owner allocates and recycles:
// never torn, never backwards, and the last read (after the owner stopped)
// is the owner's own count. Runs under ThreadSanitizer in CI.
TEST(Registry, CountersReadWhileTheOwnerRuns) {
  PPOOL_REQUIRE_STATS();
  ppool::IdentityDmaDevice dev;
  ppool::PagePool* pool = make_pool("registry-live", &dev, 0);
  ASSERT_NE(pool, nullptr);
  const std::uint32_t id = pool->id();
  std::atomic<bool> stop{false};
  std::thread owner([&] {
    pool->bind_owner();
    while (!stop.load(std::memory_order_relaxed)) {
      ppool::Page* page = pool->alloc_pages();
      if (page) pool->recycle_direct(page);
    }
  });
  std::uint64_t last_fast = 0, last_cached = 0;
  for (int i = 0; i < 2000; ++i) {
    std::optional<ppool::PoolInfo> info = ppool::find_pool(id);
    ASSERT_TRUE(info);
    EXPECT_GE(info->stats.alloc.fast, last_fast);
    EXPECT_GE(info->stats.recycle.cached, last_cached);
    last_fast = info->stats.alloc.fast;
    last_cached = info->stats.recycle.cached;
  }
  EXPECT_TRUE(wait_for([&] { return ppool::find_pool(id)->stats.alloc.fast > last_fast; },
                       std::chrono::milliseconds(5000)))
      << "the counters move while the owner runs";
  stop = true;
  owner.join();
  pool->bind_owner();
  EXPECT_EQ(ppool::find_pool(id)->stats.alloc.fast, pool->stats().alloc.fast);
  EXPECT_EQ(ppool::PagePool::destroy(pool), 0u);
  EXPECT_FALSE(ppool::find_pool(id));
}

}  // namespace
