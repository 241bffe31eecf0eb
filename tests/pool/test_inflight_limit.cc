// OOM feedback: max_inflight caps the pages a pool takes from the allocator
// (alloc returns nullptr past it and counts alloc_limited), and the extra
// counters say how much is in flight and the most there ever was.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "ppool/page.h"
#include "ppool/page_pool.h"
#include "support/pool_fixtures.h"

namespace {

using ppool::kPageSize;
using ppool::Page;
using ppool::PagePool;
using ppool::PagePoolParams;

PagePoolParams limited(std::uint32_t max_inflight, unsigned order = 0) {
  PagePoolParams params;
  params.name = "limited";
  params.order = order;
  params.max_inflight = max_inflight;
  return params;
}

// Allocates one by one until the pool refuses (or `cap` pages).
std::vector<Page*> drain_pool(PagePool* pool, std::size_t cap = 100000) {
  std::vector<Page*> pages;
  while (pages.size() < cap) {
    Page* page = pool->alloc_pages();
    if (!page) break;
    pages.push_back(page);
  }
  return pages;
}

void put_all(PagePool* pool, std::vector<Page*>& pages) {
  for (Page* page : pages) pool->recycle_direct(page);
  pages.clear();
}

TEST(InflightLimit, AllocStopsAtTheLimitAndCountsIt) {
  for (std::uint32_t limit : {1u, 10u, 64u, 100u, 300u}) {
    SCOPED_TRACE(limit);
    PagePool* pool = ppool::test::create_pool(limited(limit));
    std::vector<Page*> pages = drain_pool(pool);
    EXPECT_EQ(pages.size(), limit);
    EXPECT_EQ(pool->inflight(), limit);
    auto extra = pool->extra_stats();
    EXPECT_EQ(extra.alloc_limited, 1u);
    EXPECT_EQ(extra.inflight_peak, limit);
    EXPECT_EQ(extra.inflight_mem, std::uint64_t{limit} * kPageSize);
    EXPECT_EQ(pool->alloc_failures(), 1u);
    EXPECT_EQ(pool->alloc_pages(), nullptr);
    EXPECT_EQ(pool->extra_stats().alloc_limited, 2u);
    // A page home again is allocatable again: the limit is on pages out of
    // the allocator, not on recycling.
    pool->recycle_direct(pages.back());
    pages.pop_back();
    Page* again = pool->alloc_pages();
    ASSERT_NE(again, nullptr);
    pages.push_back(again);
    put_all(pool, pages);
    EXPECT_EQ(PagePool::destroy(pool), 0u);
  }
}

TEST(InflightLimit, BulkAllocStopsAtTheLimit) {
  PagePool* pool = ppool::test::create_pool(limited(100));
  std::vector<Page*> pages(300);
  EXPECT_EQ(pool->alloc_pages_bulk(pages.data(), pages.size()), 100u);
  EXPECT_EQ(pool->inflight(), 100u);
  EXPECT_EQ(pool->extra_stats().alloc_limited, 1u);
  pages.resize(100);
  put_all(pool, pages);
  EXPECT_EQ(PagePool::destroy(pool), 0u);
}

TEST(InflightLimit, HighOrderPagesCountAsOneEach) {
  PagePool* pool = ppool::test::create_pool(limited(3, 2));
  std::vector<Page*> pages = drain_pool(pool);
  EXPECT_EQ(pages.size(), 3u);
  EXPECT_EQ(pool->extra_stats().inflight_mem, 3 * (kPageSize << 2));
  put_all(pool, pages);
  EXPECT_EQ(PagePool::destroy(pool), 0u);
}

// A consumer on another thread gives pages back through the ring: the
// refill finds them there, so the pool keeps going at its limit.
TEST(InflightLimit, PagesFromTheRingServePastTheLimit) {
  PagePool* pool = ppool::test::create_pool(limited(64));
  std::vector<Page*> pages = drain_pool(pool);
  ASSERT_EQ(pages.size(), 64u);
  ppool::test::on_other_thread([&] {
    for (Page* page : pages) pool->put_full_page(page, false);
  });
  pages = drain_pool(pool);
  EXPECT_EQ(pages.size(), 64u);
  EXPECT_EQ(pool->inflight(), 64u);
  EXPECT_EQ(pool->extra_stats().inflight_peak, 64u);
  put_all(pool, pages);
  EXPECT_EQ(PagePool::destroy(pool), 0u);
}

TEST(InflightLimit, NoLimitByDefault) {
  PagePoolParams params;
  params.name = "unlimited";
  PagePool* pool = ppool::test::create_pool(params);
  std::vector<Page*> pages = drain_pool(pool, 5000);
  EXPECT_EQ(pages.size(), 5000u);
  EXPECT_EQ(pool->extra_stats().alloc_limited, 0u);
  EXPECT_EQ(pool->extra_stats().inflight_peak, pool->inflight());
  put_all(pool, pages);
  EXPECT_EQ(PagePool::destroy(pool), 0u);
}

TEST(InflightLimit, ExtraStatsJson) {
  ppool::PagePoolExtraStats extra{1, 2, 3, 4};
  EXPECT_EQ(extra.to_json(),
            "{\"alloc_limited\": 1, \"inflight_mem\": 2, \"inflight_peak\": 3, "
            "\"pages_zeroed\": 4}");
}

}  // namespace
