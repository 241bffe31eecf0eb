// Concurrency (each function's stated thread context), meant for ThreadSanitizer: one owner
// thread allocates from two pools and recycles some pages directly; four
// returner threads give the rest back singly, in mixed-pool bulks, through the
// generic put_page, and with allow_direct from a non-owner thread (which must
// take the ring). A sequence number written into each page by the owner shows
// that no page is ever given to two holders at once. Bounded in time, not in
// iterations, so it stays short under TSan.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <latch>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "ppool/base.h"
#include "ppool/dma.h"
#include "ppool/page.h"
#include "ppool/page_pool.h"
#include "support/pool_fixtures.h"
#include "support/stats.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kReturners = 4;
// Pages each returner keeps back in the destroy test, so some are in flight.
constexpr std::uint32_t kRetain = 16;

struct Item {
  ppool::PagePool* pool;
  ppool::Page* page;
  std::uint64_t token;
};

// A mutex-protected hand-off queue; pop waits a little, then reports empty.
class Queue {
 public:
  void push(const Item& item) {
    {
      std::lock_guard lock(mu_);
      items_.push_back(item);
    }
    cv_.notify_one();
  }
  void close() {
    {
      std::lock_guard lock(mu_);
      closed_ = true;
    }
    cv_.notify_all();
  }
  // Moves up to max items into out; false once closed and empty.
  bool pop(std::vector<Item>& out, std::size_t max) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(2), [&] { return closed_ || !items_.empty(); });
    while (!items_.empty() && out.size() < max) {
      out.push_back(items_.front());
      items_.pop_front();
    }
    return !(closed_ && items_.empty());
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> items_;
  bool closed_ = false;
};

std::uint64_t read_token(ppool::Page* page) {
  std::uint64_t v;
  std::memcpy(&v, ppool::page_address(page), sizeof v);
  return v;
}

void write_token(ppool::Page* page, std::uint64_t v) {
  std::memcpy(ppool::page_address(page), &v, sizeof v);
}

ppool::PagePool* make_pool(const std::string& name, ppool::DmaDevice* dev, std::uint32_t flags) {
  return ppool::test::make_pool(name, dev, flags, nullptr, /*pool_size=*/512);
}

// What the threads found; checked on the test's thread after the joins.
struct Findings {
  std::atomic<std::uint64_t> token_mismatch{0};
  std::atomic<std::uint64_t> alloc_null{0};
  std::atomic<std::uint64_t> returned{0};
  std::atomic<std::uint64_t> bulk_calls{0};
  std::atomic<std::uint64_t> bulk_mixed{0};
  std::atomic<std::uint64_t> direct_from_other{0};
};

// A returner: takes pages from its queue, checks each still carries the
// token the owner wrote, and gives it back in the way its mode and the dice
// say. With retain > 0 it keeps its newest `retain` pages until the queue is
// closed (so pages are still held when the owner destroys the pools).
void returner(int index, Queue& queue, Findings& f, std::atomic<std::int64_t>& outstanding,
              std::size_t retain) {
  std::mt19937 rng(1234 + index);
  std::vector<Item> got, bulk, kept;
  std::vector<ppool::Page*> bulk_pages;
  std::size_t bulk_target = 1 + rng() % 64;

  auto check = [&](const Item& item) {
    if (read_token(item.page) != item.token) f.token_mismatch.fetch_add(1);
  };
  auto done = [&](std::size_t n) {
    f.returned.fetch_add(n, std::memory_order_relaxed);
    outstanding.fetch_sub(static_cast<std::int64_t>(n), std::memory_order_relaxed);
  };
  auto flush_bulk = [&] {
    if (bulk.empty()) return;
    bulk_pages.clear();
    bool mixed = false;
    for (const Item& item : bulk) {
      check(item);
      mixed |= item.pool != bulk.front().pool;
      bulk_pages.push_back(item.page);
    }
    ppool::put_page_bulk(bulk_pages.data(), bulk_pages.size());
    f.bulk_calls.fetch_add(1, std::memory_order_relaxed);
    if (mixed) f.bulk_mixed.fetch_add(1, std::memory_order_relaxed);
    done(bulk.size());
    bulk.clear();
    bulk_target = 1 + rng() % 64;
  };
  auto give_back = [&](const Item& item) {
    switch ((index + rng()) % 4) {
      case 0:
        check(item);
        item.pool->put_full_page(item.page, false);
        done(1);
        break;
      case 1:
        // allow_direct from a thread that is not the owner: must go to the ring.
        check(item);
        item.pool->put_page(item.page, 64, true);
        f.direct_from_other.fetch_add(1, std::memory_order_relaxed);
        done(1);
        break;
      case 2:
        check(item);
        ppool::put_page(item.page);  // the generic path: home through the ring
        done(1);
        break;
      default:
        bulk.push_back(item);
        if (bulk.size() >= bulk_target) flush_bulk();
        break;
    }
  };

  bool open = true;
  while (open) {
    got.clear();
    open = queue.pop(got, 32);
    for (const Item& item : got) {
      check(item);
      if (retain) {
        kept.push_back(item);
        if (kept.size() <= retain) continue;
        Item oldest = kept.front();
        kept.erase(kept.begin());
        give_back(oldest);
      } else {
        give_back(item);
      }
    }
    if (got.empty()) flush_bulk();  // idle: do not sit on pages
  }
  for (const Item& item : kept) {
    give_back(item);
    if (rng() % 8 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  flush_bulk();
}

class PoolStressTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ppool::set_misuse_policy(ppool::MisusePolicy::kReport);
    misuses_before_ = ppool::misuse_count();
    pending_before_ = ppool::pools_pending_release();
  }
  std::uint64_t misuses_before_ = 0;
  std::size_t pending_before_ = 0;
};

struct OwnerResult {
  bool created = false;
  ppool::PagePoolStats stats[2]{};
  std::uint32_t inflight_before_destroy[2]{};
  std::uint32_t destroy_result[2]{};
  std::uint64_t allocated = 0;
  std::uint64_t recycled_direct = 0;
};

// The owner: creates both pools on its own thread, allocates in a loop for
// `run_for`, writes a fresh token in each page, recycles every fifth page
// directly and hands the rest out round-robin. Then either waits for the
// returners and destroys (destroy_early = false), or destroys first and
// lets the returners finish afterwards.
void owner(ppool::DmaDevice* dev, std::uint32_t flags, std::chrono::milliseconds run_for,
           bool destroy_early, Queue* queues, std::latch& returners_done,
           std::atomic<std::int64_t>& outstanding, Findings& f, OwnerResult& r) {
  ppool::PagePool* pools[2] = {make_pool("stress-a", dev, flags),
                               make_pool("stress-b", dev, flags)};
  r.created = pools[0] && pools[1];
  if (!r.created) {
    for (int q = 0; q < kReturners; ++q) queues[q].close();
    return;
  }
  std::uint64_t seq = 0;
  const auto deadline = Clock::now() + run_for;
  for (std::uint64_t i = 0;; ++i) {
    if ((i & 63) == 0 && Clock::now() >= deadline) break;
    if (outstanding.load(std::memory_order_relaxed) > 2048) {
      std::this_thread::yield();
      continue;
    }
    ppool::PagePool* pool = pools[(i >> 2) & 1];
    ppool::Page* page = pool->alloc_pages();
    if (!page) {
      f.alloc_null.fetch_add(1);
      continue;
    }
    ++r.allocated;
    write_token(page, ++seq);
    if (i % 5 == 0) {
      if (read_token(page) != seq) f.token_mismatch.fetch_add(1);
      pool->recycle_direct(page);
      ++r.recycled_direct;
      continue;
    }
    outstanding.fetch_add(1, std::memory_order_relaxed);
    queues[i % kReturners].push({pool, page, seq});
  }
  for (int p = 0; p < 2; ++p) r.stats[p] = pools[p]->stats();
  if (destroy_early) {
    for (int p = 0; p < 2; ++p) r.destroy_result[p] = ppool::PagePool::destroy(pools[p]);
    for (int q = 0; q < kReturners; ++q) queues[q].close();
    returners_done.wait();
    return;
  }
  for (int q = 0; q < kReturners; ++q) queues[q].close();
  returners_done.wait();
  for (int p = 0; p < 2; ++p) {
    r.stats[p] = pools[p]->stats();
    r.inflight_before_destroy[p] = pools[p]->inflight();
    r.destroy_result[p] = ppool::PagePool::destroy(pools[p]);
  }
}

void run(ppool::DmaDevice* dev, std::uint32_t flags, std::chrono::milliseconds run_for,
         bool destroy_early, std::size_t retain, Findings& f, OwnerResult& r) {
  Queue queues[kReturners];
  std::latch returners_done(kReturners);
  std::atomic<std::int64_t> outstanding{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kReturners; ++i)
    threads.emplace_back([&, i] {
      returner(i, queues[i], f, outstanding, retain);
      returners_done.count_down();
    });
  std::thread owner_thread(owner, dev, flags, run_for, destroy_early, queues,
                           std::ref(returners_done), std::ref(outstanding), std::ref(f),
                           std::ref(r));
  owner_thread.join();
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(outstanding.load(), 0);
}

bool wait_pending(std::size_t target) {
  return ppool::test::wait_for([&] { return ppool::pools_pending_release() == target; },
                               std::chrono::seconds(5));
}

TEST_F(PoolStressTest, OwnerAndFourReturners) {
  ppool::IdentityDmaDevice identity;
  Findings f;
  OwnerResult r;
  run(&identity, ppool::kDmaMap, std::chrono::milliseconds(1000), false, 0, f, r);
  ASSERT_TRUE(r.created);
  RecordProperty("allocated", std::to_string(r.allocated));
  RecordProperty("bulk_calls", std::to_string(f.bulk_calls.load()));
  RecordProperty("ring_a", std::to_string(r.stats[0].recycle.ring));
  EXPECT_EQ(f.token_mismatch.load(), 0u) << "a page was given to two holders at once";
  EXPECT_EQ(f.alloc_null.load(), 0u);
  EXPECT_GT(r.allocated, 1000u);
  EXPECT_EQ(f.returned.load() + r.recycled_direct, r.allocated);
  EXPECT_GT(f.bulk_calls.load(), 0u);
  EXPECT_GT(f.bulk_mixed.load(), 0u) << "no bulk mixed pages of both pools";
  EXPECT_GT(f.direct_from_other.load(), 0u);
  for (int p = 0; p < 2; ++p) {
    SCOPED_TRACE(p);
    const ppool::PagePoolStats& s = r.stats[p];
    EXPECT_GT(s.recycle.ring, 0u);
    EXPECT_EQ(s.recycle.released_refcnt, 0u);
    PPOOL_IF_STATS {
      EXPECT_GT(s.alloc.fast, 0u);
      EXPECT_GT(s.alloc.refill, 0u);
      EXPECT_GT(s.recycle.cached, 0u);
      // Every allocation is fast, a refill or a slow-path one.
      EXPECT_GT(s.alloc.fast + s.alloc.refill + s.alloc.slow, 0u);
    }
    EXPECT_EQ(r.destroy_result[p], 0u) << "pages lost: all were returned before destroy";
  }
  PPOOL_IF_STATS {
    EXPECT_EQ(r.stats[0].alloc.fast + r.stats[0].alloc.refill + r.stats[0].alloc.slow +
                  r.stats[1].alloc.fast + r.stats[1].alloc.refill + r.stats[1].alloc.slow,
              r.allocated);
  }
  EXPECT_EQ(ppool::misuse_count(), misuses_before_);
  EXPECT_EQ(ppool::pools_pending_release(), pending_before_);
}

TEST_F(PoolStressTest, DestroyWhileReturnersHoldPages) {
  ppool::IdentityDmaDevice identity;
  ppool::DebugDmaDevice dev(identity);
  Findings f;
  OwnerResult r;
  run(&dev, ppool::kDmaMap | ppool::kDmaSyncDev, std::chrono::milliseconds(300), true, kRetain, f,
      r);
  ASSERT_TRUE(r.created);
  EXPECT_EQ(f.token_mismatch.load(), 0u) << "a page was given to two holders at once";
  EXPECT_EQ(f.alloc_null.load(), 0u);
  EXPECT_EQ(f.returned.load() + r.recycled_direct, r.allocated);
  RecordProperty("allocated", std::to_string(r.allocated));
  RecordProperty("inflight_at_destroy", std::to_string(r.destroy_result[0] + r.destroy_result[1]));
  // Each returner kept its newest pages past destroy.
  EXPECT_GE(r.destroy_result[0] + r.destroy_result[1], kReturners * kRetain);
  for (int p = 0; p < 2; ++p) {
    SCOPED_TRACE(p);
    EXPECT_GT(r.stats[p].recycle.ring, 0u);
    PPOOL_IF_STATS {
      EXPECT_GT(r.stats[p].alloc.fast, 0u);
    }
  }
  EXPECT_TRUE(wait_pending(pending_before_))
      << "destroyed pools not freed 5 s after their pages came back";
  EXPECT_EQ(dev.error_count(), 0u) << "a page unmapped twice or synced while unmapped";
  EXPECT_EQ(dev.live_mappings(), 0u);
  EXPECT_EQ(dev.close(), 0u);
  EXPECT_EQ(ppool::misuse_count(), misuses_before_);
}

}  // namespace
