// MpscRing: capacity, order, bulk edges, wrap-around and a multi-producer
// stress test where every item is checked to arrive once and in order.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "ppool/ring.h"

namespace ppool {
namespace {

TEST(MpscRingTest, CapacityRoundsUpToAPowerOfTwo) {
  EXPECT_EQ(MpscRing<int*>(1).capacity(), 2u);
  EXPECT_EQ(MpscRing<int*>(2).capacity(), 2u);
  EXPECT_EQ(MpscRing<int*>(3).capacity(), 4u);
  EXPECT_EQ(MpscRing<int*>(64).capacity(), 64u);
  EXPECT_EQ(MpscRing<int*>(65).capacity(), 128u);
  EXPECT_EQ(MpscRing<int*>(1000).capacity(), 1024u);
}

TEST(MpscRingTest, RoundedCapacityIsUsable) {
  MpscRing<int*> ring(5);  // 8 slots
  std::vector<int> v(16);
  std::size_t n = 0;
  while (ring.produce(&v[n])) ++n;
  EXPECT_EQ(n, ring.capacity());
}

TEST(MpscRingTest, FifoSingleThreaded) {
  MpscRing<int*> ring(16);
  std::vector<int> v(10);
  for (int& x : v) EXPECT_TRUE(ring.produce(&x));
  for (int& x : v) {
    int* out = nullptr;
    ASSERT_EQ(ring.consume_bulk(&out, 1), 1u);
    EXPECT_EQ(out, &x);
  }
  EXPECT_TRUE(ring.empty());
}

TEST(MpscRingTest, ProduceBulkPartiallyFillsANearlyFullRing) {
  MpscRing<int*> ring(8);
  std::vector<int> v(20);
  std::vector<int*> ptrs(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) ptrs[i] = &v[i];
  EXPECT_EQ(ring.produce_bulk(ptrs.data(), 5), 5u);
  EXPECT_EQ(ring.produce_bulk(ptrs.data() + 5, 10), 3u) << "only three slots were free";
  EXPECT_EQ(ring.produce_bulk(ptrs.data() + 8, 4), 0u);
  EXPECT_FALSE(ring.produce(ptrs[8]));
  EXPECT_EQ(ring.produce_bulk(ptrs.data(), 0), 0u);

  int* out[16] = {};
  ASSERT_EQ(ring.consume_bulk(out, 16), 8u);
  for (std::size_t i = 0; i < 8; ++i) EXPECT_EQ(out[i], ptrs[i]);
}

TEST(MpscRingTest, ProduceBulkSeesSpaceFreedByTheConsumer) {
  // The producers' cached tail goes stale once the consumer moves on; a bulk
  // produce must still get every slot that is really free.
  MpscRing<int*> ring(8);
  std::vector<int> v(8);
  std::vector<int*> ptrs;
  for (int& x : v) ptrs.push_back(&x);
  EXPECT_EQ(ring.produce_bulk(ptrs.data(), 8), 8u);
  int* out[8];
  EXPECT_EQ(ring.consume_bulk(out, 8), 8u);
  EXPECT_EQ(ring.produce_bulk(ptrs.data(), 3), 3u);
  EXPECT_EQ(ring.consume_bulk(out, 8), 3u);
  EXPECT_EQ(ring.produce_bulk(ptrs.data(), 8), 8u) << "the ring is empty";
}

TEST(MpscRingTest, ConsumeBulkStopsAtAnEmptyRing) {
  MpscRing<int*> ring(32);
  int* out[32] = {};
  EXPECT_EQ(ring.consume_bulk(out, 32), 0u);
  std::vector<int> v(3);
  for (int& x : v) ring.produce(&x);
  EXPECT_EQ(ring.consume_bulk(out, 32), 3u);
  EXPECT_EQ(ring.consume_bulk(out, 32), 0u);
  EXPECT_EQ(ring.consume_bulk(out, 0), 0u);
}

TEST(MpscRingTest, EmptyAndProduced) {
  MpscRing<int*> ring(4);
  int x = 0;
  EXPECT_TRUE(ring.empty());
  EXPECT_EQ(ring.produced(), 0u);
  ring.produce(&x);
  EXPECT_FALSE(ring.empty());
  EXPECT_EQ(ring.produced(), 1u);
  int* ptrs[3] = {&x, &x, &x};
  EXPECT_EQ(ring.produce_bulk(ptrs, 3), 3u);
  EXPECT_EQ(ring.produced(), 4u);
  EXPECT_FALSE(ring.produce(&x)) << "full";
  EXPECT_EQ(ring.produced(), 4u) << "a refused produce is not counted";
  int* out[4];
  EXPECT_EQ(ring.consume_bulk(out, 4), 4u);
  EXPECT_TRUE(ring.empty());
  EXPECT_EQ(ring.produced(), 4u);
}

TEST(MpscRingTest, WrapsAroundManyTimes) {
  MpscRing<int*> ring(8);
  std::vector<int> v(5);
  std::vector<int*> ptrs;
  for (int& x : v) ptrs.push_back(&x);
  // Batches of 5 in 8 slots: every batch straddles the end at a new offset.
  for (int round = 0; round < 1000; ++round) {
    ASSERT_EQ(ring.produce_bulk(ptrs.data(), 5), 5u);
    int* out[8] = {};
    ASSERT_EQ(ring.consume_bulk(out, 3), 3u);
    ASSERT_EQ(ring.consume_bulk(out + 3, 8), 2u);
    for (std::size_t i = 0; i < 5; ++i) ASSERT_EQ(out[i], ptrs[i]) << "round " << round;
    ASSERT_TRUE(ring.empty());
  }
  EXPECT_EQ(ring.produced(), 5000u);
}

struct Item {
  int producer;
  std::uint32_t seq;
  std::atomic<int> consumed{0};
};

TEST(MpscRingTest, StressManyProducersOneConsumer) {
  constexpr int kProducers = 4;
  constexpr std::uint32_t kPerProducer = 50000;
  std::vector<Item> items(kProducers * kPerProducer);
  for (int p = 0; p < kProducers; ++p) {
    for (std::uint32_t s = 0; s < kPerProducer; ++s) {
      items[p * kPerProducer + s].producer = p;
      items[p * kPerProducer + s].seq = s;
    }
  }
  // Small enough that producers often find it full and retry.
  MpscRing<Item*> ring(256);
  // Set when the consumer gives up, so that a lost item fails the test
  // instead of leaving producers spinning on a full ring forever.
  std::atomic<bool> stop{false};

  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      Item* base = &items[p * kPerProducer];
      std::uint32_t next = 0;
      std::uint32_t rng = 0x9e3779b9u * (p + 1);
      Item* batch[64];
      while (next < kPerProducer && !stop.load(std::memory_order_relaxed)) {
        rng = rng * 1664525u + 1013904223u;
        if (rng & 0x10000) {
          if (ring.produce(base + next)) ++next;
        } else {
          // Bulk sizes 1..64 from the generator's top bits.
          std::uint32_t want = std::min<std::uint32_t>(1 + (rng >> 26), kPerProducer - next);
          for (std::uint32_t i = 0; i < want; ++i) batch[i] = base + next + i;
          next += ring.produce_bulk(batch, want);
        }
        if ((rng & 0xf) == 0) std::this_thread::yield();
      }
    });
  }

  // Failures are counted, not asserted, so the consumer keeps draining and
  // every thread is joined whatever happens.
  std::vector<std::uint32_t> expected(kProducers, 0);
  std::size_t total = 0, foreign = 0, twice = 0, out_of_order = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  Item* out[64];
  while (total < items.size()) {
    std::size_t got = ring.consume_bulk(out, 1 + total % 64);
    if (got == 0) {
      if (std::chrono::steady_clock::now() > deadline) break;
      std::this_thread::yield();
      continue;
    }
    for (std::size_t i = 0; i < got; ++i) {
      Item* item = out[i];
      if (item < items.data() || item >= items.data() + items.size()) {
        ++foreign;
        continue;
      }
      if (item->consumed.fetch_add(1, std::memory_order_relaxed) != 0) ++twice;
      if (item->seq != expected[item->producer]) ++out_of_order;
      expected[item->producer] = item->seq + 1;
    }
    total += got;
  }
  stop.store(true);
  for (std::thread& t : producers) t.join();

  EXPECT_EQ(total, items.size()) << "items lost (consumer timed out)";
  EXPECT_EQ(foreign, 0u);
  EXPECT_EQ(twice, 0u);
  EXPECT_EQ(out_of_order, 0u);
  EXPECT_TRUE(ring.empty());
  EXPECT_EQ(ring.produced(), items.size());
  for (int p = 0; p < kProducers; ++p) EXPECT_EQ(expected[p], kPerProducer);
  std::size_t once = 0;
  for (const Item& item : items) once += item.consumed.load() == 1;
  EXPECT_EQ(once, items.size());
}

}  // namespace
}  // namespace ppool
