// Destroy and deferred release (the kernel's page_pool_destroy): a pool with
// nothing in flight is freed at once; one with pages in flight unmaps them,
// waits for them on the release worker, reports a stalled shutdown, and frees
// each returned page to the allocator exactly once.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "ppool/base.h"
#include "ppool/dma.h"
#include "ppool/page.h"
#include "ppool/page_pool.h"
#include "support/log_capture.h"
#include "support/pool_fixtures.h"

namespace {

using ppool::test::make_pool;
using ppool::test::wait_for;

class PoolDestroyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ppool::set_misuse_policy(ppool::MisusePolicy::kReport);
    misuses_before_ = ppool::misuse_count();
    pending_before_ = ppool::pools_pending_release();
  }
  void TearDown() override {
    ppool::set_stall_report_interval(60);
    EXPECT_EQ(ppool::misuse_count(), misuses_before_);
  }

  bool wait_released() {
    return wait_for([&] { return ppool::pools_pending_release() == pending_before_; },
                    std::chrono::milliseconds(5000));
  }

  ppool::test::LogCapture capture_;
  std::uint64_t misuses_before_ = 0;
  std::size_t pending_before_ = 0;
  ppool::IdentityDmaDevice identity_;
};

TEST_F(PoolDestroyTest, NothingInFlightFreesAtOnce) {
  ppool::PagePool* pool = make_pool("destroy-idle", &identity_, ppool::kDmaMap);
  ASSERT_NE(pool, nullptr);
  std::vector<ppool::Page*> pages;
  for (int i = 0; i < 200; ++i) pages.push_back(pool->alloc_pages());
  for (std::size_t i = 0; i < pages.size(); ++i) {
    ASSERT_NE(pages[i], nullptr);
    if (i % 2)
      pool->recycle_direct(pages[i]);
    else
      pool->put_full_page(pages[i], false);
  }
  EXPECT_EQ(ppool::PagePool::destroy(pool), 0u);
  EXPECT_EQ(ppool::pools_pending_release(), pending_before_);
}

TEST_F(PoolDestroyTest, NeverUsedPoolFreesAtOnce) {
  ppool::PagePool* pool = make_pool("destroy-unused", &identity_, ppool::kDmaMap);
  ASSERT_NE(pool, nullptr);
  EXPECT_EQ(ppool::PagePool::destroy(pool), 0u);
  EXPECT_EQ(ppool::pools_pending_release(), pending_before_);
}

TEST_F(PoolDestroyTest, InFlightPagesUnmappedAndReturnedLater) {
  ppool::DebugDmaDevice dev(identity_);
  ppool::PagePool* pool = make_pool("destroy-inflight", &dev, ppool::kDmaMap | ppool::kDmaSyncDev);
  ASSERT_NE(pool, nullptr);
  std::vector<ppool::Page*> held;
  for (int i = 0; i < 100; ++i) {
    ppool::Page* page = pool->alloc_pages();
    ASSERT_NE(page, nullptr);
    held.push_back(page);
  }
  // Some cycle first, so the cache and the ring are not empty at destroy.
  for (int i = 0; i < 30; ++i) {
    if (i % 2)
      pool->recycle_direct(held.back());
    else
      pool->put_full_page(held.back(), false);
    held.pop_back();
  }
  EXPECT_GT(dev.live_mappings(), held.size());
  const std::uint32_t inflight = ppool::PagePool::destroy(pool);
  EXPECT_EQ(inflight, held.size());
  EXPECT_EQ(dev.live_mappings(), 0u) << "in-flight pages must be unmapped at destroy";
  EXPECT_EQ(ppool::pools_pending_release(), pending_before_ + 1);
  EXPECT_EQ(dev.error_count(), 0u);

  std::thread returner([&] {
    for (std::size_t i = 0; i < held.size(); ++i) {
      pool->put_full_page(held[i], false);
      if (i % 16 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  returner.join();
  EXPECT_TRUE(wait_released()) << "pool not freed 5 s after its last page came back";
  EXPECT_EQ(dev.error_count(), 0u) << "a page unmapped twice or synced while unmapped";
  EXPECT_EQ(dev.live_mappings(), 0u);
  EXPECT_EQ(dev.close(), 0u);
}

TEST_F(PoolDestroyTest, StalledShutdownIsReported) {
  ppool::set_stall_report_interval(0.05);
  ppool::PagePool* pool = make_pool("destroy-stalled", &identity_, ppool::kDmaMap);
  ASSERT_NE(pool, nullptr);
  ppool::Page* page = pool->alloc_pages();
  ASSERT_NE(page, nullptr);
  EXPECT_EQ(ppool::PagePool::destroy(pool), 1u);
  EXPECT_TRUE(wait_for(
      [&] {
        return capture_.contains_all({"stalled", "destroy-stalled"});
      },
      std::chrono::milliseconds(3000)))
      << "no stalled-shutdown report within 3 s";
  EXPECT_EQ(ppool::pools_pending_release(), pending_before_ + 1);
  pool->put_full_page(page, false);
  EXPECT_TRUE(wait_released());
  ppool::set_stall_report_interval(60);
}

TEST_F(PoolDestroyTest, ExtraReferenceFreedOnLastPut) {
  const auto alloc_owner = ppool::PageAllocator::create({}).value();
  ppool::PageAllocator& alloc = *alloc_owner;
  ppool::PagePool* pool = make_pool("destroy-extra-ref", &identity_, ppool::kDmaMap, &alloc);
  ASSERT_NE(pool, nullptr);
  ppool::Page* page = pool->alloc_pages();
  ASSERT_NE(page, nullptr);
  void* addr = ppool::page_address(page);
  ppool::get_page(page);  // another holder (the stack)
  EXPECT_EQ(ppool::PagePool::destroy(pool), 1u);
  pool->put_full_page(page, false);  // the driver's reference: released, not freed
  EXPECT_TRUE(wait_released());
  EXPECT_EQ(ppool::page_of(addr), page) << "the page was freed while still referenced";
  EXPECT_EQ(page->refcount.load(), 1u);
  EXPECT_EQ(static_cast<std::uintptr_t>(page->pp_tag), 0u) << "a released page is a normal page";
  EXPECT_LT(alloc.stats().free_bytes, alloc.stats().committed_bytes);
  ppool::put_page(page);  // the last reference
  EXPECT_EQ(ppool::page_of(addr), nullptr) << "the last put must free the page";
  EXPECT_EQ(alloc.stats().free_bytes, alloc.stats().committed_bytes);
}

TEST_F(PoolDestroyTest, ExtraReferenceDroppedBeforeDriver) {
  const auto alloc_owner = ppool::PageAllocator::create({}).value();
  ppool::PageAllocator& alloc = *alloc_owner;
  ppool::PagePool* pool = make_pool("destroy-ref-first", &identity_, ppool::kDmaMap, &alloc);
  ASSERT_NE(pool, nullptr);
  ppool::Page* page = pool->alloc_pages();
  ASSERT_NE(page, nullptr);
  ppool::get_page(page);
  EXPECT_EQ(ppool::PagePool::destroy(pool), 1u);
  ppool::put_page(page);  // the other holder first: refcount back to 1
  EXPECT_EQ(ppool::pools_pending_release(), pending_before_ + 1);
  ppool::put_page(page);  // the pool's last reference, through the generic path
  EXPECT_TRUE(wait_released());
  EXPECT_EQ(alloc.stats().free_bytes, alloc.stats().committed_bytes);
}

TEST_F(PoolDestroyTest, ReturnedPagesGoBackToAllocator) {
  const auto alloc_owner = ppool::PageAllocator::create({}).value();
  ppool::PageAllocator& alloc = *alloc_owner;
  ppool::DebugDmaDevice dev(identity_);
  ppool::PagePool* pool =
      make_pool("destroy-to-alloc", &dev, ppool::kDmaMap | ppool::kDmaSyncDev, &alloc);
  ASSERT_NE(pool, nullptr);
  std::vector<ppool::Page*> held;
  for (int i = 0; i < 300; ++i) {
    ppool::Page* page = pool->alloc_pages();
    ASSERT_NE(page, nullptr);
    held.push_back(page);
  }
  const std::size_t committed = alloc.stats().committed_bytes;
  EXPECT_GT(committed, 0u);
  EXPECT_LE(alloc.stats().free_bytes, committed - held.size() * ppool::kPageSize);
  EXPECT_EQ(ppool::PagePool::destroy(pool), held.size());
  EXPECT_EQ(dev.live_mappings(), 0u);
  // Back in every way: singly, in bulk and through the generic put.
  std::thread returner([&] {
    std::size_t i = 0;
    for (; i < 100; ++i) pool->put_full_page(held[i], false);
    ppool::put_page_bulk(held.data() + i, 100);
    i += 100;
    for (; i < held.size(); ++i) ppool::put_page(held[i]);
  });
  returner.join();
  EXPECT_TRUE(wait_released());
  const ppool::PageAllocatorStats stats = alloc.stats();
  EXPECT_EQ(stats.committed_bytes, committed);
  EXPECT_EQ(stats.free_bytes, stats.committed_bytes) << "pages lost after destroy";
  EXPECT_EQ(dev.error_count(), 0u);
  EXPECT_EQ(dev.close(), 0u);
}

// A second destroy of a pool still waiting for its pages is a misuse: it is
// reported, naming the pool, and changes nothing (the pool is pending once,
// and freed once its page comes back).
TEST_F(PoolDestroyTest, DestroyTwiceWhilePendingIsReported) {
  ppool::PagePool* pool = make_pool("destroy-twice-pending", &identity_, ppool::kDmaMap);
  ASSERT_NE(pool, nullptr);
  const std::uint32_t id = pool->id();
  ppool::Page* page = pool->alloc_pages();
  ASSERT_NE(page, nullptr);
  ASSERT_EQ(ppool::PagePool::destroy(pool), 1u);
  capture_.clear();
  EXPECT_EQ(ppool::PagePool::destroy(pool), 0u);
  EXPECT_EQ(ppool::misuse_count(), misuses_before_ + 1);
  const std::vector<std::string> seen = capture_.take();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], "destroy of pool " + std::to_string(id) +
                         " 'destroy-twice-pending': already destroyed");
  EXPECT_EQ(ppool::pools_pending_release(), pending_before_ + 1);
  EXPECT_EQ(pool->inflight(), 1u);
  pool->put_full_page(page, false);
  EXPECT_TRUE(wait_released());
  misuses_before_ = ppool::misuse_count();
}

// A second destroy of a freed pool (its storage reads as a dead pool) is
// reported with the freed pool's name, and touches nothing.
TEST_F(PoolDestroyTest, DestroyTwiceAfterFreeIsReported) {
  ppool::PagePool* pool = make_pool("destroy-twice-freed", &identity_, ppool::kDmaMap);
  ASSERT_NE(pool, nullptr);
  const std::uint32_t id = pool->id();
  ppool::Page* page = pool->alloc_pages();
  ASSERT_NE(page, nullptr);
  pool->recycle_direct(page);
  ASSERT_EQ(ppool::PagePool::destroy(pool), 0u);  // freed
  EXPECT_EQ(ppool::PagePool::destroy(pool), 0u);
  EXPECT_EQ(ppool::misuse_count(), misuses_before_ + 1);
  const std::vector<std::string> seen = capture_.take();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], "destroy of pool " + std::to_string(id) +
                         " 'destroy-twice-freed' (freed): already destroyed");
  EXPECT_EQ(ppool::pools_pending_release(), pending_before_);
  misuses_before_ = ppool::misuse_count();
}

}  // namespace
