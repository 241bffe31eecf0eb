// alloc_pages_bulk(): runs out of the cache, the ring's refill, the page
// allocator's bulk, short counts when memory runs out, the owner rule, and
// that every page comes out as alloc_pages() gives it (checked on its put).
#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "ppool/page_pool.h"
#include "support/log_capture.h"
#include "support/pool_fixtures.h"
#include "support/stats.h"

namespace {

using ppool::Page;
using ppool::PagePool;
using ppool::test::make_pool;
using ppool::test::on_other_thread;

ppool::IdentityDmaDevice g_identity;

// The counters add up to the pages handed out: one per refill or slow
// allocation, one per cache hit.
std::uint64_t pages_counted(const PagePool* pool) {
  const ppool::PagePoolStats s = pool->stats();
  return s.alloc.fast + s.alloc.slow + s.alloc.refill;
}

void expect_distinct_and_whole(const std::vector<Page*>& pages) {
  EXPECT_EQ(std::set<Page*>(pages.begin(), pages.end()).size(), pages.size());
  for (Page* page : pages) {
    ASSERT_NE(page, nullptr);
    EXPECT_EQ(page->refcount.load(), 1);
    EXPECT_EQ(page->dma_addr, reinterpret_cast<ppool::DmaAddr>(ppool::page_address(page)));
  }
}

TEST(PoolAllocBulk, FromAnEmptyPoolSpansSeveralRefills) {
  PagePool* pool = make_pool("bulk-empty", &g_identity, ppool::kDmaMap);
  std::vector<Page*> pages(200);
  EXPECT_EQ(pool->alloc_pages_bulk(pages.data(), pages.size()), pages.size());
  expect_distinct_and_whole(pages);
  EXPECT_EQ(pool->inflight(), 256u);  // four bulks of 64 from the allocator
  PPOOL_IF_STATS {
    EXPECT_EQ(pool->stats().alloc.slow, 4u);
    EXPECT_EQ(pages_counted(pool), pages.size());
  }
  ppool::put_page_bulk(pages.data(), pages.size());
  EXPECT_EQ(PagePool::destroy(pool), 0u);
}

TEST(PoolAllocBulk, TakesBackWhatTheOwnerPutInTheCache) {
  PagePool* pool = make_pool("bulk-cache", &g_identity, ppool::kDmaMap);
  std::vector<Page*> first(64), again(64);
  ASSERT_EQ(pool->alloc_pages_bulk(first.data(), 64), 64u);
  const std::set<Page*> put(first.begin(), first.end());
  ppool::put_page_bulk(first.data(), 64);  // on the owner: into the cache
  const auto before = pool->stats();
  ASSERT_EQ(pool->alloc_pages_bulk(again.data(), 64), 64u);
  EXPECT_EQ(std::set<Page*>(again.begin(), again.end()), put);
  PPOOL_IF_STATS {
    EXPECT_EQ(pool->stats().alloc.fast - before.alloc.fast, 64u);
    EXPECT_EQ(pool->stats().alloc.slow, before.alloc.slow);
  }
  for (Page* page : again) pool->recycle_direct(page);
  EXPECT_EQ(PagePool::destroy(pool), 0u);
}

TEST(PoolAllocBulk, RefillsFromTheRingBeforeTheAllocator) {
  PagePool* pool = make_pool("bulk-ring", &g_identity, ppool::kDmaMap);
  std::vector<Page*> pages(64);
  ASSERT_EQ(pool->alloc_pages_bulk(pages.data(), 64), 64u);
  on_other_thread([&] { ppool::put_page_bulk(pages.data(), 64); });  // into the ring
  EXPECT_EQ(pool->stats().recycle.ring, 64u);
  std::vector<Page*> again(64);
  ASSERT_EQ(pool->alloc_pages_bulk(again.data(), 64), 64u);
  expect_distinct_and_whole(again);
  EXPECT_EQ(pool->inflight(), 64u);  // no page from the allocator
  PPOOL_IF_STATS {
    EXPECT_EQ(pool->stats().alloc.refill, 1u);
    EXPECT_EQ(pool->stats().alloc.slow, 1u);
    EXPECT_EQ(pages_counted(pool), 128u);
  }
  ppool::put_page_bulk(again.data(), 64);
  EXPECT_EQ(PagePool::destroy(pool), 0u);
}

TEST(PoolAllocBulk, ComesBackShortWhenMemoryRunsOutAndRecovers) {
  const auto allocator_owner = ppool::PageAllocator::create({.nid = ppool::kNoNode,
                                                             .max_bytes = ppool::kChunkBytes,
                                                             .retain_bytes = ppool::kChunkBytes})
                                   .value();
  ppool::PageAllocator& allocator = *allocator_owner;
  PagePool* pool = make_pool("bulk-oom", &g_identity, ppool::kDmaMap, &allocator);
  const std::size_t fit = ppool::kChunkBytes / ppool::kPageSize;
  std::vector<Page*> pages(fit + 10);
  EXPECT_EQ(pool->alloc_pages_bulk(pages.data(), pages.size()), fit);
  EXPECT_EQ(pool->alloc_failures(), 1u);
  pages.resize(fit);
  // Memory comes back: the next bulk is whole.
  ppool::put_page_bulk(pages.data(), pages.size());
  std::vector<Page*> again(fit);
  EXPECT_EQ(pool->alloc_pages_bulk(again.data(), fit), fit);
  ppool::put_page_bulk(again.data(), fit);
  EXPECT_EQ(pool->alloc_failures(), 1u);
  EXPECT_EQ(PagePool::destroy(pool), 0u);
}

TEST(PoolAllocBulk, AnotherThreadGetsNothingAndIsReported) {
  PagePool* pool = make_pool("bulk-owner", &g_identity, ppool::kDmaMap);
  ppool::test::LogCapture log;
  Page* pages[8];
  std::size_t got = 1;
  on_other_thread([&] { got = pool->alloc_pages_bulk(pages, 8); });
  EXPECT_EQ(got, 0u);
  EXPECT_TRUE(log.contains_all({"alloc on", "bulk-owner", "not its owner"}));
  EXPECT_EQ(pool->inflight(), 0u);
  EXPECT_EQ(PagePool::destroy(pool), 0u);
}

TEST(PoolAllocBulk, EveryPageIsMarkedInUse) {
  PagePool* pool = make_pool("bulk-mark", &g_identity, ppool::kDmaMap);
  Page* pages[16];
  ASSERT_EQ(pool->alloc_pages_bulk(pages, 16), 16u);
  pool->recycle_direct(pages[5]);
  ppool::test::LogCapture log;
  pool->recycle_direct(pages[5]);  // back already: the mark says so
  EXPECT_TRUE(log.contains_all({"bulk-mark", "already"}));
  for (int i = 0; i < 16; ++i)
    if (i != 5) pool->recycle_direct(pages[i]);
  EXPECT_EQ(PagePool::destroy(pool), 0u);
}

TEST(PoolAllocBulk, ZeroPagesIsNoAllocation) {
  PagePool* pool = make_pool("bulk-zero", &g_identity, ppool::kDmaMap);
  EXPECT_EQ(pool->alloc_pages_bulk(nullptr, 0), 0u);
  EXPECT_EQ(pool->inflight(), 0u);
  EXPECT_EQ(pool->alloc_failures(), 0u);
  EXPECT_EQ(PagePool::destroy(pool), 0u);
}

}  // namespace
