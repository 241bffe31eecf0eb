// Fragments: several packets per page with the kernel's bias-based
// pp_ref_count. A fragment page is recycled when its last fragment is put,
// never before; the pool's partly used page is drained at destroy.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "ppool/page_pool.h"
#include "support/pool_fixtures.h"
#include "support/stats.h"

namespace {

using ppool::Page;
using ppool::PagePool;

ppool::IdentityDmaDevice g_identity;

PagePool* make_pool(const char* name) {
  return ppool::test::make_pool(name, &g_identity, ppool::kDmaMap);
}

// Pages the pool took back (cache + ring); recycle.cached is an owner
// counter, compiled out with PPOOL_STATS=0, so checks of it are guarded.
std::uint64_t recycles(const PagePool* pool) {
  auto s = pool->stats();
  return s.recycle.cached + s.recycle.ring;
}

// The page is back in its pool (cache or ring) and not yet handed out again:
// what the counters show, seen on the page itself, in every build.
bool back_in_pool(const Page* page) {
  return page->pp_tag != 0 &&
         (page->pp_tag & ppool::detail::kTagStateMask) == ppool::detail::kTagRecycled;
}

TEST(PoolFrag, TwoHalfPagePacketsShareAPage) {
  PagePool* pool = make_pool("frag-half");
  std::uint32_t off1 = 0, size1 = 2048, off2 = 0, size2 = 2048, off3 = 0, size3 = 2048;
  Page* a = pool->alloc(&off1, &size1);
  Page* b = pool->alloc(&off2, &size2);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a, b);  // the kernel documentation's "conserve memory": two packets, one page
  EXPECT_EQ(off1, 0u);
  EXPECT_EQ(off2, 2048u);
  EXPECT_EQ(size2, 2048u);
  Page* c = pool->alloc(&off3, &size3);
  EXPECT_NE(c, a);  // full: a fresh page
  EXPECT_EQ(off3, 0u);

  const std::uint64_t before = recycles(pool);
  pool->recycle_direct(a);  // one of two fragments back: the page stays out
  EXPECT_FALSE(back_in_pool(a));
  PPOOL_IF_STATS {
    EXPECT_EQ(recycles(pool), before);
  }
  EXPECT_EQ(a->pp_ref_count.load(), 1);
  pool->recycle_direct(b);  // the last: recycled now
  EXPECT_TRUE(back_in_pool(a));
  PPOOL_IF_STATS {
    EXPECT_EQ(recycles(pool), before + 1);
  }
  EXPECT_EQ(a->pp_ref_count.load(), 1);  // reset for its next life
  pool->recycle_direct(c);
  EXPECT_EQ(PagePool::destroy(pool), 0u);
}

TEST(PoolFrag, LargeRequestsTakeAWholePage) {
  PagePool* pool = make_pool("frag-whole");
  std::uint32_t offset = 99, size = 2049;
  Page* page = pool->alloc(&offset, &size);
  ASSERT_NE(page, nullptr);
  EXPECT_EQ(offset, 0u);
  EXPECT_EQ(size, ppool::kPageSize);
  EXPECT_EQ(page->pp_tag, reinterpret_cast<std::uintptr_t>(pool));  // a whole page
  pool->recycle_direct(page);
  EXPECT_TRUE(back_in_pool(page));
  PPOOL_IF_STATS {
    EXPECT_EQ(pool->stats().recycle.cached, 1u);
  }
  EXPECT_EQ(PagePool::destroy(pool), 0u);
}

TEST(PoolFrag, TheLastFragmentThatFitsIsExtendedToThePageEnd) {
  PagePool* pool = make_pool("frag-extend");
  std::uint32_t off1 = 0, size1 = 1500, off2 = 0, size2 = 1500;
  Page* a = pool->alloc(&off1, &size1);
  Page* b = pool->alloc(&off2, &size2);
  EXPECT_EQ(a, b);
  EXPECT_EQ(off1, 0u);
  EXPECT_EQ(size1, 1500u);
  EXPECT_EQ(off2, 1536u);                     // rounded to a cache line
  EXPECT_EQ(size2, ppool::kPageSize - 1536);  // no room for a third: it takes the rest
  std::uint32_t off3 = 0, size3 = 64;
  Page* c = pool->alloc(&off3, &size3);
  EXPECT_NE(c, a);
  for (Page* p : {a, b, c}) pool->recycle_direct(p);
  EXPECT_EQ(PagePool::destroy(pool), 0u);
}

TEST(PoolFrag, OversizedFragmentIsRefused) {
  PagePool* pool = make_pool("frag-big");
  std::uint32_t offset = 0;
  EXPECT_EQ(pool->alloc_frag(ppool::kPageSize + 1, &offset), nullptr);
  EXPECT_EQ(pool->alloc_frag(0, &offset), nullptr);
  EXPECT_EQ(PagePool::destroy(pool), 0u);
}

// Random sizes, random put order: after every put, the pool has recycled a
// page exactly when that put dropped the last fragment of a page the pool
// no longer cuts from; a drained page with nothing out is reused at once.
TEST(PoolFrag, RandomSplitsRecycleExactlyOnTheLastFragment) {
  PagePool* pool = make_pool("frag-random");
  std::mt19937 rng(1234);
  struct Frag {
    Page* page;
    std::uint32_t offset, size;
    unsigned char pattern;
  };
  std::vector<Frag> out;
  std::map<Page*, int> outstanding;
  Page* current = nullptr;
  std::uint64_t expected = recycles(pool);
  for (int step = 0; step < 20000; ++step) {
    if (out.size() < 64 && (out.empty() || rng() % 2)) {
      std::uint32_t size = 1 + rng() % 3000, offset = 0;
      Page* page = pool->alloc_frag(size, &offset);
      ASSERT_NE(page, nullptr);
      // A full page with nothing out is drained and reused at once (a cache hit).
      if (page == current && outstanding[page] == 0 && offset == 0) ++expected;
      current = page;
      ASSERT_EQ(offset % ppool::kCacheLine, 0u);
      ASSERT_LE(offset + size, ppool::kPageSize);
      auto pattern = static_cast<unsigned char>(step);
      std::memset(static_cast<char*>(ppool::page_address(page)) + offset, pattern, size);
      out.push_back({page, offset, size, pattern});
      ++outstanding[page];
    } else {
      std::size_t i = rng() % out.size();
      Frag f = out[i];
      out[i] = out.back();
      out.pop_back();
      // Nobody else wrote into this fragment.
      const auto* data = static_cast<const unsigned char*>(ppool::page_address(f.page)) + f.offset;
      for (std::uint32_t b = 0; b < f.size; ++b) ASSERT_EQ(data[b], f.pattern) << "step " << step;
      const bool last = --outstanding[f.page] == 0 && f.page != current;
      if (last) ++expected;
      if (rng() % 2)
        pool->recycle_direct(f.page);
      else
        pool->put_full_page(f.page, false);
      ASSERT_EQ(back_in_pool(f.page), last) << "step " << step;
      PPOOL_IF_STATS {
        ASSERT_EQ(recycles(pool), expected) << "step " << step;
      }
    }
  }
  for (const Frag& f : out) pool->recycle_direct(f.page);
  EXPECT_EQ(PagePool::destroy(pool), 0u);
}

TEST(PoolFrag, VaInterface) {
  PagePool* pool = make_pool("frag-va");
  std::uint32_t size1 = 2048, size2 = 2048;
  void* a = pool->alloc_va(&size1);
  void* b = pool->alloc_va(&size2);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(ppool::page_of(a), ppool::page_of(b));
  EXPECT_EQ(static_cast<char*>(b) - static_cast<char*>(a), 2048);
  pool->free_va(a, true);
  pool->free_va(b, true);
  // The pool still holds the page's bias: the next request drains the page
  // and, nothing being out, reuses it at once.
  EXPECT_FALSE(back_in_pool(ppool::page_of(a)));
  EXPECT_EQ(pool->stats().recycle.cached, 0u);
  std::uint32_t size3 = 2048;
  void* c = pool->alloc_va(&size3);
  EXPECT_EQ(c, a);
  PPOOL_IF_STATS {
    EXPECT_EQ(pool->stats().recycle.cached, 1u);
  }
  pool->free_va(c, true);
  EXPECT_EQ(PagePool::destroy(pool), 0u);
}

TEST(PoolFrag, DestroyDrainsThePartlyUsedPage) {
  PagePool* pool = make_pool("frag-destroy");
  std::uint32_t offset = 0;
  Page* page = pool->alloc_frag(512, &offset);
  pool->recycle_direct(page);  // the pool still holds the page's bias
  EXPECT_EQ(PagePool::destroy(pool), 0u);

  // With a fragment still out, destroy waits for it.
  const std::size_t pending = ppool::pools_pending_release();
  pool = make_pool("frag-destroy2");
  page = pool->alloc_frag(512, &offset);
  EXPECT_EQ(PagePool::destroy(pool), 1u);
  EXPECT_EQ(ppool::pools_pending_release(), pending + 1);
  ppool::put_page(page);  // the generic put of the last fragment sends it home
  EXPECT_TRUE(ppool::test::wait_for([&] { return ppool::pools_pending_release() == pending; },
                                    std::chrono::seconds(5)));
}

TEST(PoolFrag, DriverManagedFragmentReferences) {
  PagePool* pool = make_pool("frag-driver");
  Page* page = pool->alloc_pages();
  ppool::pp_ref_count_set(page, 4);  // the driver cuts the page in four
  EXPECT_EQ(ppool::page_pool_of(page), pool);
  const std::uint64_t before = recycles(pool);
  for (int i = 0; i < 3; ++i) pool->put_full_page(page, false);
  EXPECT_FALSE(back_in_pool(page));
  PPOOL_IF_STATS {
    EXPECT_EQ(recycles(pool), before);
  }
  EXPECT_EQ(page->pp_ref_count.load(), 1);
  pool->put_full_page(page, false);
  EXPECT_TRUE(back_in_pool(page));
  PPOOL_IF_STATS {
    EXPECT_EQ(recycles(pool), before + 1);
  }

  // pp_ref_count_inc on a whole page: two puts needed.
  page = pool->alloc_pages();
  ppool::pp_ref_count_inc(page);
  pool->recycle_direct(page);
  EXPECT_FALSE(back_in_pool(page));
  PPOOL_IF_STATS {
    EXPECT_EQ(recycles(pool), before + 1);
  }
  pool->recycle_direct(page);
  EXPECT_TRUE(back_in_pool(page));
  PPOOL_IF_STATS {
    EXPECT_EQ(recycles(pool), before + 2);
  }

  // pp_ref_count_sub reports what is left and resets on the last.
  page = pool->alloc_pages();
  ppool::pp_ref_count_set(page, 10);
  EXPECT_EQ(ppool::pp_ref_count_sub(page, 3), 7);
  EXPECT_EQ(ppool::pp_ref_count_sub(page, 6), 1);
  EXPECT_FALSE(back_in_pool(page));
  pool->recycle_direct(page);  // the last
  EXPECT_TRUE(back_in_pool(page));
  PPOOL_IF_STATS {
    EXPECT_EQ(recycles(pool), before + 3);
  }
  EXPECT_EQ(PagePool::destroy(pool), 0u);
}

// Fragments put back from several threads at once: each page comes home once.
TEST(PoolFrag, FragmentsPutFromManyThreads) {
  PagePool* pool = make_pool("frag-threads");
  constexpr int kThreads = 3;
  constexpr int kFrags = 6000;
  std::vector<std::vector<Page*>> per_thread(kThreads);
  for (int i = 0; i < kFrags; ++i) {
    std::uint32_t size = 700, offset = 0;
    per_thread[i % kThreads].push_back(pool->alloc_frag(size, &offset));
  }
  std::vector<std::thread> threads;
  for (auto& frags : per_thread)
    threads.emplace_back([&frags] {
      for (Page* page : frags) ppool::put_page(page);
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(PagePool::destroy(pool), 0u);
}

}  // namespace
