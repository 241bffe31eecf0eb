// Destroy racing the return of its pages: exactly one party
// unmaps each page, with the address and length it was mapped with, before
// the page can be freed. Two pools share one DebugDmaDevice and one page
// allocator, so a page freed too early is re-mapped by the other pool while
// its old mapping is still live (an overlap), and a page unmapped late with a
// merged buddy's length or another pool's address is an unmap error. Four
// threads return pages by every path while the owner destroys at a random
// moment; CI runs this under ThreadSanitizer too.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <random>
#include <thread>
#include <vector>

#include "ppool/base.h"
#include "ppool/dma.h"
#include "ppool/page.h"
#include "ppool/page_pool.h"
#include "support/pool_fixtures.h"

namespace {

using ppool::Page;
using ppool::PagePool;
using ppool::test::make_pool;
using ppool::test::wait_for;

constexpr int kIterations = 200;
constexpr int kReturners = 4;
constexpr int kPagesPerReturner = 64;

// One page given back by one of the ways a holder can give it back. The
// pool pointer stays valid while the caller holds a page of it, even after
// destroy: the pool lives until its last page comes home.
void give_back(PagePool* pool, Page* page, unsigned how) {
  switch (how % 8) {
    case 0:
      return pool->put_full_page(page, false);
    case 1:
      return pool->put_page(page, 512, true);  // allow_direct from a non-owner: the ring
    case 2:
      return ppool::put_page(page);  // code that knows no pools
    case 3: {
      ppool::PageRef ref(page);
      return;
    }
    case 4:
      return ppool::put_page_bulk(&page, 1);
    case 5:
      return pool->free_va(static_cast<char*>(ppool::page_address(page)) + 100, false);
    case 6:  // a second holder, then both drop theirs
      ppool::get_page(page);
      ppool::put_page(page);
      return ppool::put_page(page);
    default:  // the page leaves the pool, then its last reference frees it
      pool->release_page(page);
      return ppool::put_page(page);
  }
}

// The survivor's owner: takes pages from the shared allocator (pages the
// doomed pool freed included) and releases them again, so its slow path maps
// fresh pages all the time, until told to stop.
void churn(PagePool* survivor, const std::atomic<bool>& stop) {
  survivor->bind_owner();
  std::vector<Page*> pages;
  while (!stop.load(std::memory_order_relaxed)) {
    for (int i = 0; i < 32; ++i)
      if (Page* page = survivor->alloc_pages()) pages.push_back(page);
    for (Page* page : pages) {
      survivor->release_page(page);
      ppool::put_page(page);
    }
    pages.clear();
  }
}

void run_iteration(std::mt19937& rng) {
  const auto allocator_owner = ppool::PageAllocator::create({}).value();
  ppool::PageAllocator& allocator = *allocator_owner;
  ppool::IdentityDmaDevice identity;
  ppool::DebugDmaDevice dev(identity);
  const std::uint32_t flags = ppool::kDmaMap | ppool::kDmaSyncDev;
  PagePool* doomed = make_pool("race-doomed", &dev, flags, &allocator);
  PagePool* survivor = make_pool("race-survivor", &dev, flags, &allocator);
  ASSERT_NE(doomed, nullptr);
  ASSERT_NE(survivor, nullptr);

  std::vector<std::vector<Page*>> handed(kReturners);
  for (auto& pages : handed)
    for (int i = 0; i < kPagesPerReturner; ++i) {
      Page* page = doomed->alloc_pages();
      ASSERT_NE(page, nullptr);
      pages.push_back(page);
    }
  std::atomic<bool> go{false}, stop{false};
  std::atomic<int> returned{0};
  std::thread survivor_owner(churn, survivor, std::cref(stop));
  std::vector<std::thread> returners;
  for (int t = 0; t < kReturners; ++t)
    returners.emplace_back([&, t, seed = rng()] {
      std::minstd_rand local(seed);
      while (!go.load()) std::this_thread::yield();
      for (Page* page : handed[t]) {
        give_back(doomed, page, static_cast<unsigned>(local()));
        returned.fetch_add(1);
        if (local() % 4 == 0) std::this_thread::yield();
      }
    });
  // Destroy once a random share of the pages is back: some before, most
  // racing the unmap of the rest.
  const int destroy_after = static_cast<int>(rng() % (kReturners * kPagesPerReturner / 2));
  go.store(true);
  while (returned.load() < destroy_after) std::this_thread::yield();
  PagePool::destroy(doomed);
  for (std::thread& t : returners) t.join();
  stop.store(true);
  survivor_owner.join();
  survivor->bind_owner();
  EXPECT_EQ(PagePool::destroy(survivor), 0u);
  EXPECT_TRUE(
      wait_for([] { return ppool::pools_pending_release() == 0; }, std::chrono::seconds(10)))
      << "the doomed pool was not freed after its pages came back";
  EXPECT_EQ(dev.error_count(), 0u) << "a page unmapped twice, with the wrong length or address, "
                                      "or re-mapped before its old mapping was gone";
  EXPECT_EQ(dev.live_mappings(), 0u);
  const ppool::PageAllocatorStats stats = allocator.stats();
  EXPECT_EQ(stats.free_bytes, stats.committed_bytes) << "pages lost";
}

TEST(PoolDestroyRace, EveryReturnPathAgainstDestroy) {
  ppool::set_misuse_policy(ppool::MisusePolicy::kReport);
  const std::uint64_t misuses = ppool::misuse_count();
  ASSERT_EQ(ppool::pools_pending_release(), 0u);
  std::mt19937 rng(20261123);
  for (int i = 0; i < kIterations && !::testing::Test::HasFailure(); ++i) {
    SCOPED_TRACE(::testing::Message() << "iteration " << i);
    run_iteration(rng);
  }
  EXPECT_EQ(ppool::misuse_count(), misuses);
}

}  // namespace
