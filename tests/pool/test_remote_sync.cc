// Another thread's sync for the device against destroy: destroy does not
// unmap while a sync it could not stop is under way, and a sync that starts
// after destroy has begun is skipped.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
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

}  // namespace
