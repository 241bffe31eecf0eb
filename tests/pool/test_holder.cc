// Holder tags (ppool/holder.h) and the holder report: the pages of a pool
// out with users, grouped by who holds them, for a live pool and for a
// destroyed one whose shutdown stalls.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include "ppool/dma.h"
#include "ppool/holder.h"
#include "ppool/page.h"
#include "ppool/page_pool.h"
#include "ppool/registry.h"
#include "support/log_capture.h"
#include "support/pool_fixtures.h"

namespace {

using ppool::test::make_pool;
using ppool::test::wait_for;

class HolderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ppool::set_misuse_policy(ppool::MisusePolicy::kReport);
    misuses_ = ppool::misuse_count();
  }
  void TearDown() override {
    ppool::set_stall_report_interval(60);
    EXPECT_EQ(ppool::misuse_count(), misuses_);
  }

  std::vector<ppool::Page*> alloc(ppool::PagePool* pool, int n) {
    std::vector<ppool::Page*> pages;
    for (int i = 0; i < n; ++i) {
      pages.push_back(pool->alloc_pages());
      EXPECT_NE(pages.back(), nullptr);
    }
    return pages;
  }

  ppool::IdentityDmaDevice dev_;
  std::uint64_t misuses_ = 0;
};

TEST_F(HolderTest, TagsAndNames) {
  ppool::PagePool* pool = make_pool("holder-tags", &dev_, 0);
  ppool::Page* page = pool->alloc_pages();
  ASSERT_NE(page, nullptr);
  EXPECT_EQ(ppool::page_holder(page), 0u) << "a fresh page has no holder";
  ppool::set_page_holder(page, 17);
  EXPECT_EQ(ppool::page_holder(page), 17u);
  ppool::set_page_holder(page, 0);
  EXPECT_EQ(ppool::page_holder(page), 0u);
  ppool::name_holder(17, "socket 17");
  EXPECT_EQ(ppool::holder_name(17), "socket 17");
  ppool::name_holder(17, "");
  EXPECT_EQ(ppool::holder_name(17), "");
  pool->recycle_direct(page);
  EXPECT_EQ(ppool::PagePool::destroy(pool), 0u);

  ppool::test::LogCapture capture;
  int not_a_page = 0;
  ppool::set_page_holder(reinterpret_cast<ppool::Page*>(&not_a_page), 5);
  EXPECT_EQ(ppool::misuse_count(), misuses_ + 1);
  EXPECT_TRUE(capture.contains("set_page_holder"));
  misuses_ = ppool::misuse_count();
}

TEST_F(HolderTest, LivePoolGroupsPagesOutWithUsers) {
  ppool::PagePool* pool = make_pool("holder-live", &dev_, 0);
  ASSERT_NE(pool, nullptr);
  std::vector<ppool::Page*> pages = alloc(pool, 11);
  for (int i = 0; i < 6; ++i) ppool::set_page_holder(pages[i], 7);
  for (int i = 6; i < 9; ++i) ppool::set_page_holder(pages[i], 9);
  ppool::name_holder(7, "socket 7");
  // Two of holder 7's pages come home: their tags stay, but they are not
  // out with a user any more and must not be counted.
  pool->recycle_direct(pages[4]);
  pool->recycle_direct(pages[5]);
  std::this_thread::sleep_for(std::chrono::milliseconds(30));

  std::optional<ppool::HolderReport> report = ppool::pool_holders(pool->id());
  ASSERT_TRUE(report);
  EXPECT_EQ(report->pool_id, pool->id());
  EXPECT_EQ(report->pages, 9u);
  ASSERT_EQ(report->groups.size(), 3u);
  EXPECT_EQ(report->groups[0].holder, 7u);
  EXPECT_EQ(report->groups[0].name, "socket 7");
  EXPECT_EQ(report->groups[0].pages, 4u);
  EXPECT_GE(report->groups[0].oldest_age_ms, 20u);
  EXPECT_EQ(report->groups[1].holder, 9u);
  EXPECT_EQ(report->groups[1].pages, 3u);
  EXPECT_EQ(report->groups[2].holder, 0u) << "untagged pages are grouped too";
  EXPECT_EQ(report->groups[2].pages, 2u);

  for (int i = 0; i < 11; ++i)
    if (i != 4 && i != 5) pool->recycle_direct(pages[i]);
  report = ppool::pool_holders(pool->id());
  EXPECT_EQ(report->pages, 0u);
  EXPECT_TRUE(report->groups.empty());
  EXPECT_EQ(ppool::PagePool::destroy(pool), 0u);
  EXPECT_FALSE(ppool::pool_holders(pool->id() + 1000000));
  ppool::name_holder(7, "");
}

TEST_F(HolderTest, FragmentsAreCountedAsTheirPage) {
  ppool::PagePool* pool = make_pool("holder-frag", &dev_, 0);
  std::uint32_t off1 = 0, off2 = 0;
  ppool::Page* a = pool->alloc_frag(1024, &off1);
  ppool::Page* b = pool->alloc_frag(1024, &off2);
  ASSERT_EQ(a, b) << "two fragments of one page";
  ppool::set_page_holder(a, 3);
  std::optional<ppool::HolderReport> report = ppool::pool_holders(pool->id());
  ASSERT_TRUE(report);
  ASSERT_EQ(report->groups.size(), 1u);
  EXPECT_EQ(report->groups[0].holder, 3u);
  EXPECT_EQ(report->groups[0].pages, 1u);
  pool->put_full_page(a, true);
  pool->put_full_page(b, true);
  EXPECT_EQ(ppool::PagePool::destroy(pool), 0u);
}

// The scan reads descriptors the owner is writing (pp_tag on every alloc and
// put, holder tags): relaxed atomics on both sides, so ThreadSanitizer (CI)
// sees no race, and every report counts at most the pages out.
TEST_F(HolderTest, ScanWhileTheOwnerRuns) {
  ppool::PagePool* pool = make_pool("holder-race", &dev_, 0);
  ASSERT_NE(pool, nullptr);
  std::atomic<bool> stop{false};
  std::thread owner([&] {
    pool->bind_owner();
    std::vector<ppool::Page*> held;
    std::uint32_t offset = 0;
    for (unsigned i = 0; !stop.load(std::memory_order_relaxed); ++i) {
      ppool::Page* page = i % 3 ? pool->alloc_pages() : pool->alloc_frag(2048, &offset);
      if (!page) continue;
      ppool::set_page_holder(page, 1 + i % 4);
      held.push_back(page);
      if (held.size() == 32) {
        for (ppool::Page* p : held) pool->put_full_page(p, true);
        held.clear();
      }
    }
    for (ppool::Page* p : held) pool->put_full_page(p, true);
  });
  for (int i = 0; i < 200; ++i) {
    std::optional<ppool::HolderReport> report = ppool::pool_holders(pool->id());
    ASSERT_TRUE(report);
    // 32 held, and the page being cut into fragments (the pool's own).
    EXPECT_LE(report->pages, 33u) << "more pages out than the owner ever holds";
  }
  stop = true;
  owner.join();
  pool->bind_owner();
  EXPECT_EQ(ppool::PagePool::destroy(pool), 0u);
}

// The case holder tags exist for: a destroyed pool whose remaining pages all sit with one
// holder; the stalled-shutdown report names it, and the holder report of
// the pending pool shows it.
TEST_F(HolderTest, StalledShutdownNamesTheHolder) {
  ppool::test::LogCapture capture;
  ppool::set_stall_report_interval(0.05);
  ppool::PagePool* pool = make_pool("holder-stalled", &dev_, ppool::kDmaMap);
  ASSERT_NE(pool, nullptr);
  const std::uint32_t id = pool->id();
  std::vector<ppool::Page*> pages = alloc(pool, 5);
  for (ppool::Page* page : pages) ppool::set_page_holder(page, 42);
  ppool::name_holder(42, "disk queue 2");
  EXPECT_EQ(ppool::PagePool::destroy(pool), 5u);

  EXPECT_TRUE(wait_for(
      [&] {
        return capture.contains_all(
            {"stalled", "holder-stalled", "5 pages holder 42 'disk queue 2'"});
      },
      std::chrono::milliseconds(3000)))
      << "the stalled-shutdown report does not name the holder";
  std::optional<ppool::HolderReport> report = ppool::pool_holders(id);
  ASSERT_TRUE(report) << "a pending pool is still reported";
  ASSERT_EQ(report->groups.size(), 1u);
  EXPECT_EQ(report->groups[0].holder, 42u);
  EXPECT_EQ(report->groups[0].pages, 5u);

  for (ppool::Page* page : pages) ppool::put_page(page);
  EXPECT_TRUE(wait_for([&] { return !ppool::find_pool(id); }, std::chrono::milliseconds(5000)));
  ppool::name_holder(42, "");
}

// The holder scan visits the allocator's blocks in bounded chunks and calls
// visit with the allocator's lock dropped: an owner refilling from or
// freeing to that allocator waits at most for one chunk, never for a whole
// scan (a client scanning in a loop used to starve the pools' slow paths).
// Checked structurally: from inside visit, another thread allocates from the
// very allocator being scanned and finishes while visit waits for it. With
// the lock held across the scan that thread blocks until the scan ends, and
// the 10 s bound (generous: it takes microseconds) fails the test instead
// of hanging it.
TEST_F(HolderTest, VisitLetsTheAllocatorServeBetweenChunks) {
  auto created = ppool::PageAllocator::create({});
  ASSERT_TRUE(created) << created.error().message;
  std::unique_ptr<ppool::PageAllocator> allocator = std::move(created).value();
  std::vector<ppool::Page*> pages;
  for (int i = 0; i < 3000; ++i) pages.push_back(allocator->alloc(0));  // three chunks' worth
  ASSERT_NE(pages.back(), nullptr);

  bool asked = false;
  bool served = false;
  std::thread other;
  std::promise<ppool::Page*> taken;
  std::future<ppool::Page*> got = taken.get_future();
  ppool::PageAllocator::visit_allocated([&](const ppool::PageAllocator::VisitedBlock& block) {
    if (asked || std::find(pages.begin(), pages.end(), block.head) == pages.end()) return;
    asked = true;
    other = std::thread([&] { taken.set_value(allocator->alloc(0)); });
    served = got.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
  });
  ASSERT_TRUE(asked);
  other.join();
  EXPECT_TRUE(served) << "an allocation from the scanned allocator waited for the whole scan";
  ppool::Page* extra = got.get();
  ASSERT_NE(extra, nullptr);
  ppool::put_page(extra);
  for (ppool::Page* page : pages) ppool::put_page(page);
}

// Chunked, the scan still visits every allocated block once when nothing
// changes meanwhile: blocks of several orders, every other one freed, over
// more descriptors than one chunk reads.
TEST_F(HolderTest, VisitSeesEveryBlockOnceAcrossChunks) {
  auto created = ppool::PageAllocator::create({});
  ASSERT_TRUE(created) << created.error().message;
  std::unique_ptr<ppool::PageAllocator> allocator = std::move(created).value();
  std::vector<ppool::Page*> kept;
  std::vector<ppool::Page*> freed;
  for (int i = 0; i < 2400; ++i) {
    ppool::Page* page = allocator->alloc(static_cast<unsigned>(i % 4));
    ASSERT_NE(page, nullptr);
    (i % 2 ? freed : kept).push_back(page);
  }
  for (ppool::Page* page : freed) ppool::put_page(page);
  std::vector<const ppool::Page*> expected(kept.begin(), kept.end());
  std::sort(expected.begin(), expected.end());
  std::vector<const ppool::Page*> seen;
  ppool::PageAllocator::visit_allocated([&](const ppool::PageAllocator::VisitedBlock& block) {
    if (std::binary_search(expected.begin(), expected.end(), block.head))
      seen.push_back(block.head);
  });
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, expected) << "each of the allocator's blocks once";
  for (ppool::Page* page : kept) ppool::put_page(page);
}

}  // namespace
