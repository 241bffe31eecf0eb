// Other threads' calls into the device against destroy: destroy does not
// unmap while a sync it could not stop is under way, a sync that starts
// after destroy has begun is skipped, and destroy does not return while
// another thread is still inside the device (a returning page's unmap, a
// sync for the CPU): once it returns the device may go away.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <latch>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ppool/page_pool.h"
#include "support/pool_fixtures.h"

namespace {

using namespace std::chrono_literals;

// Needs syncs; a sync for the device blocks while `hold` is set, and every
// call is recorded in order.
class BlockingSyncDevice final : public ppool::DmaDevice {
 public:
  std::string_view name() const override { return "blocking-sync"; }
  ppool::DmaAddr map(void* addr, std::size_t, ppool::DmaDirection, std::string_view) override {
    return reinterpret_cast<ppool::DmaAddr>(addr);
  }
  void unmap(ppool::DmaAddr, std::size_t, ppool::DmaDirection, std::string_view) override {
    record("unmap");
  }
  void sync_for_device(ppool::DmaAddr, std::size_t, std::size_t, ppool::DmaDirection,
                       std::string_view) override {
    record("sync begin");
    syncing.store(true);
    while (hold.load()) std::this_thread::sleep_for(1ms);
    record("sync end");
  }
  void sync_for_cpu(ppool::DmaAddr, std::size_t, std::size_t, ppool::DmaDirection,
                    std::string_view) override {}
  bool needs_sync() const override { return true; }

  std::vector<std::string> events() {
    std::lock_guard guard(lock_);
    return events_;
  }
  std::atomic<bool> hold{false}, syncing{false};

 private:
  void record(const char* what) {
    std::lock_guard guard(lock_);
    events_.push_back(what);
  }
  std::mutex lock_;
  std::vector<std::string> events_;
};

TEST(RemoteSync, DestroyWaitsForASyncUnderWayBeforeUnmapping) {
  BlockingSyncDevice dev;
  ppool::PagePool* pool =
      ppool::test::make_pool("remote-sync", &dev, ppool::kDmaMap | ppool::kDmaSyncDev);
  ppool::Page* page = pool->alloc_pages();  // the refill's syncs do not block
  ASSERT_NE(page, nullptr);
  dev.syncing = false;
  dev.hold = true;
  std::thread remote([&] { pool->put_full_page(page, false); });  // syncs, then the ring
  while (!dev.syncing.load()) std::this_thread::sleep_for(1ms);
  std::thread release([&] {
    std::this_thread::sleep_for(100ms);  // time for a destroy that did not wait to unmap
    dev.hold = false;
  });
  // The remote put goes on to the ring after its sync: the page may still
  // be on its way when destroy drains, and the release worker takes it.
  EXPECT_LE(ppool::PagePool::destroy(pool), 1u);
  remote.join();
  release.join();
  EXPECT_TRUE(ppool::test::wait_for([] { return ppool::pools_pending_release() == 0; }, 5000ms));
  const std::vector<std::string> events = dev.events();
  std::size_t last_sync_end = 0, first_unmap = events.size();
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (events[i] == "sync end") last_sync_end = i;
    if (events[i] == "unmap" && first_unmap == events.size()) first_unmap = i;
  }
  ASSERT_LT(first_unmap, events.size());
  EXPECT_LT(last_sync_end, first_unmap) << "destroy unmapped while another thread's sync ran";
}

TEST(RemoteSync, ASyncAfterDestroyBeganIsSkipped) {
  BlockingSyncDevice dev;
  ppool::PagePool* pool =
      ppool::test::make_pool("remote-skip", &dev, ppool::kDmaMap | ppool::kDmaSyncDev);
  ppool::Page* page = pool->alloc_pages();
  ASSERT_NE(page, nullptr);
  const std::size_t syncs_before = dev.events().size();
  EXPECT_EQ(ppool::PagePool::destroy(pool), 1u);  // the page is still out
  ppool::test::on_other_thread([&] { pool->put_full_page(page, false); });
  for (std::size_t i = syncs_before; i < dev.events().size(); ++i)
    EXPECT_NE(dev.events()[i], "sync begin") << "a sync after destroy's unmap";
  EXPECT_TRUE(ppool::test::wait_for([] { return ppool::pools_pending_release() == 0; }, 5000ms));
}

// A device on which one unmap, or one sync for the CPU, once armed, blocks
// until `proceed` opens; `entered` opens when it is inside, and `*_returned`
// is set as it leaves.
class BlockingCallDevice final : public ppool::DmaDevice {
 public:
  std::string_view name() const override { return "blocking-call"; }
  ppool::DmaAddr map(void* addr, std::size_t, ppool::DmaDirection, std::string_view) override {
    return reinterpret_cast<ppool::DmaAddr>(addr);
  }
  void unmap(ppool::DmaAddr, std::size_t, ppool::DmaDirection, std::string_view) override {
    if (!block_unmap.exchange(false)) return;
    entered.count_down();
    proceed.wait();
    unmap_returned.store(true);
  }
  void sync_for_device(ppool::DmaAddr, std::size_t, std::size_t, ppool::DmaDirection,
                       std::string_view) override {}
  void sync_for_cpu(ppool::DmaAddr, std::size_t, std::size_t, ppool::DmaDirection,
                    std::string_view) override {
    cpu_syncs.fetch_add(1);
    if (!block_cpu_sync.exchange(false)) return;
    entered.count_down();
    proceed.wait();
    cpu_sync_returned.store(true);
  }
  bool needs_sync() const override { return true; }

  std::atomic<bool> block_unmap{false}, block_cpu_sync{false};
  std::latch entered{1}, proceed{1};
  std::atomic<bool> unmap_returned{false}, cpu_sync_returned{false};
  std::atomic<int> cpu_syncs{0};
};

// Runs destroy() while another thread is blocked inside the device, and
// returns whether the device call had returned when destroy did. The
// blocked call is let go once destroy returns, or after a grace period: a
// destroy that waits for it is then still waiting (whatever the period, it
// cannot return first), while one that does not has long returned (the
// period only bounds how long a broken destroy takes to show).
bool call_returned_before_destroy(ppool::PagePool* pool, BlockingCallDevice& dev,
                                  const std::atomic<bool>& call_returned, std::uint32_t* inflight) {
  std::mutex lock;
  std::condition_variable cv;
  bool destroyed = false;
  std::thread releaser([&] {
    std::unique_lock guard(lock);
    cv.wait_for(guard, 200ms, [&] { return destroyed; });
    dev.proceed.count_down();
  });
  *inflight = ppool::PagePool::destroy(pool);
  const bool returned = call_returned.load();
  {
    std::lock_guard guard(lock);
    destroyed = true;
  }
  cv.notify_one();
  releaser.join();
  return returned;
}

TEST(DeviceCallsAgainstDestroy, DestroyWaitsForAReturningPagesUnmap) {
  BlockingCallDevice dev;
  ppool::PagePool* pool = ppool::test::make_pool("unmap-race", &dev, ppool::kDmaMap);
  ASSERT_NE(pool, nullptr);
  ppool::Page* page = pool->alloc_pages();  // the rest of the refill stays in the cache
  ASSERT_NE(page, nullptr);
  dev.block_unmap = true;
  std::thread holder([&] { pool->release_page(page); });  // unmaps it, outside the record's lock
  dev.entered.wait();
  std::uint32_t inflight = 0;
  EXPECT_TRUE(call_returned_before_destroy(pool, dev, dev.unmap_returned, &inflight))
      << "destroy returned while another thread was inside the device's unmap";
  holder.join();
  EXPECT_LE(inflight, 1u);
  ppool::put_page(page);  // released: a normal page, freed by its last put
  EXPECT_TRUE(ppool::test::wait_for([] { return ppool::pools_pending_release() == 0; }, 5000ms));
}

TEST(DeviceCallsAgainstDestroy, DestroyWaitsForASyncForTheCpuAndLaterOnesAreSkipped) {
  BlockingCallDevice dev;
  ppool::PagePool* pool = ppool::test::make_pool("cpu-sync-race", &dev, ppool::kDmaMap);
  ASSERT_NE(pool, nullptr);
  ppool::Page* page = pool->alloc_pages();
  ASSERT_NE(page, nullptr);
  pool->dma_sync_for_cpu(page, 0, 64);  // the owner's: straight to the device
  EXPECT_EQ(dev.cpu_syncs.load(), 1);
  dev.block_cpu_sync = true;
  std::thread holder([&] { pool->dma_sync_for_cpu(page, 0, 64); });
  dev.entered.wait();
  std::uint32_t inflight = 0;
  EXPECT_TRUE(call_returned_before_destroy(pool, dev, dev.cpu_sync_returned, &inflight))
      << "destroy returned while another thread was inside the device's sync_for_cpu";
  holder.join();
  EXPECT_EQ(inflight, 1u);
  // The page is unmapped and the device may be gone: a sync now, from any
  // thread, does nothing.
  ppool::test::on_other_thread([&] { pool->dma_sync_for_cpu(page, 0, 64); });
  pool->dma_sync_for_cpu(page, 0, 64);
  EXPECT_EQ(dev.cpu_syncs.load(), 2) << "a sync for the CPU reached the device after destroy";
  pool->put_full_page(page, false);
  EXPECT_TRUE(ppool::test::wait_for([] { return ppool::pools_pending_release() == 0; }, 5000ms));
}

}  // namespace
