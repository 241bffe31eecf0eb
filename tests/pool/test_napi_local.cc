// Napi-local recycling (the kernel's page_pool_napi_local, 6.4+): a put on the
// pool's owner thread goes into the lockless cache whatever the caller says,
// on every put path; a put from any other thread goes through the ring, even
// one that claims allow_direct.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "ppool/dma.h"
#include "ppool/page.h"
#include "ppool/page_pool.h"
#include "ppool/xdp.h"
#include "support/pool_fixtures.h"

namespace {

using ppool::Page;
using ppool::PagePool;

ppool::IdentityDmaDevice g_identity;

// One way of giving a page back, as code of each kind would.
struct PutPath {
  const char* name;
  std::function<void(PagePool*, Page*)> put;
};

std::vector<PutPath> put_paths() {
  return {
      {"put_page", [](PagePool* pool, Page* page) { pool->put_page(page, 256, false); }},
      {"put_full_page", [](PagePool* pool, Page* page) { pool->put_full_page(page, false); }},
      {"generic_put_page", [](PagePool*, Page* page) { ppool::put_page(page); }},
      {"page_ref", [](PagePool*, Page* page) { ppool::PageRef ref(page); }},
      {"put_page_bulk", [](PagePool*, Page* page) { ppool::put_page_bulk(&page, 1); }},
      {"free_va",
       [](PagePool* pool, Page* page) {
         pool->free_va(static_cast<char*>(ppool::page_address(page)) + 64, false);
       }},
      {"return_frame",
       [](PagePool* pool, Page* page) {
         ppool::RxQueueInfo rxq("napi", 0);
         ppool::MemInfo mem = rxq.reg_mem_model(ppool::MemType::kPagePool, pool).value();
         char* start = static_cast<char*>(ppool::page_address(page));
         ppool::return_frame(ppool::build_frame(start, start + 256, 64, ppool::kPageSize, mem));
         rxq.unreg_mem_model();
       }},
      {"frame_bulk",
       [](PagePool* pool, Page* page) {
         ppool::RxQueueInfo rxq("napi", 1);
         ppool::MemInfo mem = rxq.reg_mem_model(ppool::MemType::kPagePool, pool).value();
         char* start = static_cast<char*>(ppool::page_address(page));
         ppool::FrameBulk bulk;
         ppool::return_frame_bulk(ppool::build_frame(start, start + 256, 64, ppool::kPageSize, mem),
                                  bulk);
         bulk.flush();
         rxq.unreg_mem_model();
       }},
  };
}

class NapiLocal : public ::testing::TestWithParam<PutPath> {};

TEST_P(NapiLocal, OnTheOwnerThePutGoesIntoTheCache) {
  PagePool* pool = ppool::test::make_pool("napi-owner", &g_identity, ppool::kDmaMap);
  ASSERT_NE(pool, nullptr);
  Page* page = pool->alloc_pages();
  ASSERT_NE(page, nullptr);
  GetParam().put(pool, page);
  EXPECT_EQ(pool->stats().recycle.ring, 0u) << "an owner's put took the ring";
  EXPECT_EQ(pool->alloc_pages(), page) << "the cache is LIFO: the page put last comes first";
  pool->recycle_direct(page);
  EXPECT_EQ(PagePool::destroy(pool), 0u);
}

TEST_P(NapiLocal, FromAnotherThreadThePutGoesThroughTheRing) {
  PagePool* pool = ppool::test::make_pool("napi-remote", &g_identity, ppool::kDmaMap);
  ASSERT_NE(pool, nullptr);
  Page* page = pool->alloc_pages();
  ASSERT_NE(page, nullptr);
  ppool::test::on_other_thread([&] { GetParam().put(pool, page); });
  EXPECT_EQ(pool->stats().recycle.ring, 1u);
  EXPECT_EQ(pool->inflight(), ppool::kAllocCacheRefill) << "the page is still the pool's";
  EXPECT_EQ(PagePool::destroy(pool), 0u);
}

INSTANTIATE_TEST_SUITE_P(EveryPutPath, NapiLocal, ::testing::ValuesIn(put_paths()),
                         [](const ::testing::TestParamInfo<PutPath>& info) {
                           return std::string(info.param.name);
                         });

// allow_direct from a thread that is not the owner is checked, not trusted.
TEST(NapiLocalRule, AllowDirectFromAnotherThreadTakesTheRing) {
  PagePool* pool = ppool::test::make_pool("napi-claim", &g_identity, ppool::kDmaMap);
  ASSERT_NE(pool, nullptr);
  Page* page = pool->alloc_pages();
  ASSERT_NE(page, nullptr);
  ppool::test::on_other_thread([&] { pool->put_full_page(page, /*allow_direct=*/true); });
  EXPECT_EQ(pool->stats().recycle.ring, 1u);
  EXPECT_EQ(PagePool::destroy(pool), 0u);
}

// A bulk put on the owner fills the cache and overflows into the ring.
TEST(NapiLocalRule, BulkPutOnTheOwnerFillsTheCacheThenTheRing) {
  PagePool* pool = ppool::test::make_pool("napi-bulk", &g_identity, ppool::kDmaMap);
  ASSERT_NE(pool, nullptr);
  std::vector<Page*> pages;
  for (unsigned i = 0; i < ppool::kAllocCacheSize + 16; ++i) {
    pages.push_back(pool->alloc_pages());
    ASSERT_NE(pages.back(), nullptr);
  }
  // The last refill's leftovers are in the cache already.
  const std::size_t room = ppool::kAllocCacheSize - (pool->inflight() - pages.size());
  ppool::put_page_bulk(pages.data(), pages.size());
  EXPECT_EQ(pool->stats().recycle.ring, pages.size() - room) << "only what the cache cannot hold";
  EXPECT_EQ(pool->inflight(), 3 * ppool::kAllocCacheRefill) << "every page still the pool's";
  EXPECT_EQ(PagePool::destroy(pool), 0u);
}

}  // namespace
