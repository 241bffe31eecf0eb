// Backpressure: the watermark eventfd becomes readable when the pages out
// with users rise to inflight_high and again when they fall to inflight_low,
// whoever returns them (the owner, another thread, a bulk put).
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "ppool/page.h"
#include "ppool/page_pool.h"
#include "support/pool_fixtures.h"
#include "support/stats.h"

namespace {

using ppool::Page;
using ppool::PagePool;
using ppool::PagePoolParams;

constexpr std::uint32_t kHigh = 200;
constexpr std::uint32_t kLow = 50;

PagePool* watermarked(std::uint32_t high = kHigh, std::uint32_t low = kLow) {
  PagePoolParams params;
  params.name = "watermarked";
  params.inflight_high = high;
  params.inflight_low = low;
  return ppool::test::create_pool(params);
}

// Readable now? Reads (clears) it when it is.
bool signalled(const PagePool* pool) {
  pollfd pfd{pool->watermark_fd(), POLLIN, 0};
  if (::poll(&pfd, 1, 0) != 1) return false;
  std::uint64_t value = 0;
  EXPECT_EQ(::read(pool->watermark_fd(), &value, sizeof value), 8);
  return value > 0;
}

// Allocates until the pool says it is above the high mark, as a driver
// posting receive buffers would, and stops there.
std::vector<Page*> allocate_to_high(PagePool* pool) {
  std::vector<Page*> pages;
  while (!pool->above_high_watermark() && pages.size() < 10 * kHigh) {
    Page* page = pool->alloc_pages();
    if (!page) break;
    pages.push_back(page);
  }
  return pages;
}

TEST(Watermarks, NoneByDefault) {
  PagePoolParams params;
  params.name = "plain";
  PagePool* pool = ppool::test::create_pool(params);
  EXPECT_EQ(pool->watermark_fd(), -1);
  EXPECT_FALSE(pool->above_high_watermark());
  EXPECT_EQ(PagePool::destroy(pool), 0u);
}

TEST(Watermarks, RiseIsSignalledWithinACacheOfTheMark) {
  PagePool* pool = watermarked();
  ASSERT_GE(pool->watermark_fd(), 0);
  std::vector<Page*> pages = allocate_to_high(pool);
  ASSERT_TRUE(pool->above_high_watermark());
  EXPECT_GE(pages.size(), kHigh);
  EXPECT_LE(pages.size(), kHigh + ppool::kAllocCacheSize);
  EXPECT_TRUE(signalled(pool));
  EXPECT_FALSE(signalled(pool));  // once per crossing
  for (Page* page : pages) pool->recycle_direct(page);
  EXPECT_EQ(PagePool::destroy(pool), 0u);
}

// The fall: exactly at the low mark, for returns by the owner, by another
// thread one at a time, and by another thread in bulk.
enum class Returner { kOwner, kOtherThread, kOtherThreadBulk };

class WatermarkFall : public testing::TestWithParam<Returner> {};

TEST_P(WatermarkFall, SignalledExactlyAtTheLowMark) {
  PagePool* pool = watermarked();
  std::vector<Page*> pages = allocate_to_high(pool);
  ASSERT_TRUE(signalled(pool));
  const std::size_t out = pages.size();
  auto give_back = [&](std::size_t n) {
    auto put = [&] {
      if (GetParam() == Returner::kOtherThreadBulk) {
        ppool::put_page_bulk(pages.data() + pages.size() - n, n);
      } else {
        for (std::size_t i = 0; i < n; ++i) pool->put_full_page(pages[pages.size() - 1 - i], false);
      }
    };
    if (GetParam() == Returner::kOwner)
      put();
    else
      ppool::test::on_other_thread(put);
    pages.resize(pages.size() - n);
  };
  give_back(out - kLow - 1);  // one above the low mark
  EXPECT_TRUE(pool->above_high_watermark());
  EXPECT_FALSE(signalled(pool));
  give_back(1);
  EXPECT_FALSE(pool->above_high_watermark());
  EXPECT_TRUE(signalled(pool));
  // Armed again: the next rise is signalled too.
  std::vector<Page*> more = allocate_to_high(pool);
  EXPECT_TRUE(pool->above_high_watermark());
  EXPECT_TRUE(signalled(pool));
  for (Page* page : more) pool->recycle_direct(page);
  for (Page* page : pages) pool->recycle_direct(page);
  EXPECT_EQ(PagePool::destroy(pool), 0u);
}

INSTANTIATE_TEST_SUITE_P(Returners, WatermarkFall,
                         testing::Values(Returner::kOwner, Returner::kOtherThread,
                                         Returner::kOtherThreadBulk));

// Once below again the owner's puts take the inline path again: the cache
// counts them as before and nothing is lost either way.
TEST(Watermarks, OwnerPutsResumeAfterTheFall) {
  PagePool* pool = watermarked(100, 10);
  std::vector<Page*> pages = allocate_to_high(pool);
  ASSERT_TRUE(signalled(pool));
  for (Page* page : pages) pool->recycle_direct(page);
  EXPECT_FALSE(pool->above_high_watermark());
  EXPECT_TRUE(signalled(pool));
  const auto before = pool->stats().recycle.cached;
  Page* page = pool->alloc_pages();
  pool->recycle_direct(page);
  PPOOL_IF_STATS {
    EXPECT_EQ(pool->stats().recycle.cached, before + 1);
  }
  EXPECT_EQ(PagePool::destroy(pool), 0u);
}

TEST(Watermarks, ParamsAreChecked) {
  PagePoolParams params;
  params.name = "bad";
  params.inflight_low = 5;
  auto created = PagePool::create(params);
  ASSERT_FALSE(created.ok());
  EXPECT_NE(created.error().message.find("inflight_low"), std::string::npos);
  params.inflight_high = 5;
  created = PagePool::create(params);
  ASSERT_FALSE(created.ok());
  EXPECT_NE(created.error().message.find("inflight_low: 5 must be below inflight_high 5"),
            std::string::npos)
      << created.error().message;
  params.inflight_low = 1;
  params.max_inflight = 4;
  created = PagePool::create(params);
  ASSERT_FALSE(created.ok());
  EXPECT_NE(created.error().message.find("inflight_high: 5 exceeds max_inflight 4"),
            std::string::npos)
      << created.error().message;
}

// A driver and a consumer thread at once: the driver allocates while below
// the high mark and waits on the eventfd above it; the consumer returns
// everything. Every rise is followed by a fall; nothing is lost (TSan runs
// this in CI). The consumer starts once the driver has seen the first rise:
// a consumer that keeps pace from the start may hold the pool below the high
// mark for the whole run (seen once in 150 runs), and the test would then
// not test a rise at all.
TEST(Watermarks, DriverAndConsumerStress) {
  PagePool* pool = watermarked(256, 64);
  constexpr int kPages = 200000;
  ppool::MpscRing<Page*> handoff(4096);  // more than the high mark: it is reached
  std::atomic<bool> done{false}, risen{false};
  std::thread consumer([&] {
    while (!risen.load(std::memory_order_acquire)) std::this_thread::yield();
    Page* batch[32];
    while (!done.load(std::memory_order_acquire) || !handoff.empty()) {
      std::size_t n = handoff.consume_bulk(batch, 32);
      if (n) ppool::put_page_bulk(batch, n);
    }
  });
  int rises = 0;
  for (int sent = 0; sent < kPages;) {
    if (pool->above_high_watermark()) {
      pollfd pfd{pool->watermark_fd(), POLLIN, 0};
      ASSERT_GE(::poll(&pfd, 1, 1000), 0);
      std::uint64_t value;
      if (::read(pool->watermark_fd(), &value, sizeof value) == 8) ++rises;
      risen.store(true, std::memory_order_release);
      continue;
    }
    Page* page = pool->alloc_pages();
    if (!page) continue;
    while (!handoff.produce(page)) {
    }
    ++sent;
  }
  done.store(true, std::memory_order_release);
  consumer.join();
  EXPECT_GT(rises, 0);
  Page* page = pool->alloc_pages();  // a slow path: the owner looks again
  pool->recycle_direct(page);
  EXPECT_EQ(PagePool::destroy(pool), 0u);
}

}  // namespace
