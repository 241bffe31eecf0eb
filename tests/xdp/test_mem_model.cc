// The XDP memory model: registration, frames, return paths, FrameBulk across
// pools, generic put and PageRef, unregistering with frames in flight, and a
// redirect stress test between two drivers' queues (run under TSan in CI).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "ppool/ring.h"
#include "ppool/xdp.h"
#include "support/pool_fixtures.h"
#include "support/stats.h"

namespace {

using ppool::Frame;
using ppool::MemType;
using ppool::Page;
using ppool::PagePool;

constexpr std::uint32_t kHeadroom = 256;

ppool::IdentityDmaDevice g_identity;

PagePool* make_pool(const char* name) {
  return ppool::test::make_pool(name, &g_identity, ppool::kDmaMap);
}

// "Receives" a packet into a pool page and builds its frame in the headroom.
Frame* receive(PagePool* pool, ppool::MemInfo mem, std::uint32_t len = 100) {
  Page* page = pool->alloc_pages();
  if (!page) return nullptr;
  char* start = static_cast<char*>(ppool::page_address(page));
  return ppool::build_frame(start, start + kHeadroom, len, ppool::kPageSize, mem);
}

void wait_for_pending(std::size_t expected) {
  EXPECT_TRUE(ppool::test::wait_for([&] { return ppool::pools_pending_release() == expected; },
                                    std::chrono::seconds(5)));
}

TEST(XdpMemModel, RegisterLookupUnregister) {
  PagePool* pool = make_pool("xdp-reg");
  ppool::RxQueueInfo rxq("eth0", 3);
  auto mem = rxq.reg_mem_model(MemType::kPagePool, pool);
  ASSERT_TRUE(mem.ok()) << mem.error().message;
  EXPECT_EQ(mem.value().type, MemType::kPagePool);
  EXPECT_NE(mem.value().id, 0u);
  EXPECT_EQ(ppool::mem_id_allocator(mem.value().id), pool);
  EXPECT_EQ(rxq.mem().id, mem.value().id);

  auto again = rxq.reg_mem_model(MemType::kPagePool, pool);
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.error().message.find("eth0 queue 3"), std::string::npos);
  EXPECT_NE(again.error().message.find("already registered"), std::string::npos);

  const std::uint32_t id = mem.value().id;
  rxq.unreg_mem_model();
  EXPECT_EQ(ppool::mem_id_allocator(id), nullptr);
  // Ids are cyclic: the next registration does not reuse the stale one.
  auto next = rxq.reg_mem_model(MemType::kPagePool, pool);
  ASSERT_TRUE(next.ok());
  EXPECT_NE(next.value().id, id);
  rxq.unreg_mem_model();
  EXPECT_EQ(PagePool::destroy(pool), 0u);
}

TEST(XdpMemModel, BadRegistrationsAreRefused) {
  PagePool* pool = make_pool("xdp-bad");
  ppool::RxQueueInfo rxq("eth1", 0);
  auto no_pool = rxq.reg_mem_model(MemType::kPagePool, nullptr);
  ASSERT_FALSE(no_pool.ok());
  EXPECT_NE(no_pool.error().message.find("needs its pool"), std::string::npos);
  auto stray_pool = rxq.reg_mem_model(MemType::kPageOrder0, pool);
  ASSERT_FALSE(stray_pool.ok());
  EXPECT_NE(stray_pool.error().message.find("take no pool"), std::string::npos);
  auto order0 = rxq.reg_mem_model(MemType::kPageOrder0, nullptr);
  ASSERT_TRUE(order0.ok());
  EXPECT_EQ(order0.value().id, 0u);
  EXPECT_EQ(PagePool::destroy(pool), 0u);
}

TEST(XdpMemModel, BuildFrameLivesInTheHeadroom) {
  alignas(64) char buffer[512];
  auto mem = ppool::MemInfo{MemType::kPageShared, 0};
  Frame* frame = ppool::build_frame(buffer, buffer + 128, 60, sizeof buffer, mem);
  ASSERT_EQ(static_cast<void*>(frame), static_cast<void*>(buffer));
  EXPECT_EQ(frame->data, buffer + 128);
  EXPECT_EQ(frame->len, 60u);
  EXPECT_EQ(frame->headroom, 128 - sizeof(Frame));
  EXPECT_EQ(ppool::build_frame(buffer, buffer + 8, 60, sizeof buffer, mem), nullptr);
  // No buffer (an allocation that returned nullptr): no frame, no write.
  EXPECT_EQ(ppool::build_frame(nullptr, nullptr, 60, sizeof buffer, mem), nullptr);
  EXPECT_EQ(ppool::build_frame(nullptr, buffer + 128, 60, sizeof buffer, mem), nullptr);
}

TEST(XdpMemModel, PoolFramesGoHome) {
  PagePool* pool = make_pool("xdp-home");
  ppool::RxQueueInfo rxq("eth0", 0);
  ppool::MemInfo mem = rxq.reg_mem_model(MemType::kPagePool, pool).value();
  ppool::return_frame_rx_napi(receive(pool, mem));  // owner: into the cache
  EXPECT_EQ(pool->stats().recycle.ring, 0u);
  PPOOL_IF_STATS {
    EXPECT_EQ(pool->stats().recycle.cached, 1u);
  }
  ppool::return_frame(receive(pool, mem));  // any context, but on the owner: napi-local
  EXPECT_EQ(pool->stats().recycle.ring, 0u);
  PPOOL_IF_STATS {
    EXPECT_EQ(pool->stats().recycle.cached, 2u);
  }
  Frame* frame = receive(pool, mem);
  std::thread([frame] { ppool::return_frame(frame); }).join();  // not the owner: the ring
  EXPECT_EQ(pool->stats().recycle.ring, 1u);
  frame = receive(pool, mem);
  std::thread([frame] { ppool::return_frame_rx_napi(frame); }).join();  // not the owner
  EXPECT_EQ(pool->stats().recycle.ring, 2u);
  PPOOL_IF_STATS {
    EXPECT_EQ(pool->stats().recycle.cached, 2u);
  }
  rxq.unreg_mem_model();
  EXPECT_EQ(PagePool::destroy(pool), 0u);
}

TEST(XdpMemModel, PageTypesFreeToTheAllocator) {
  const auto allocator_owner = ppool::PageAllocator::create({.nid = ppool::kNoNode,
                                                             .max_bytes = ppool::kChunkBytes,
                                                             .retain_bytes = ppool::kChunkBytes})
                                   .value();
  ppool::PageAllocator& allocator = *allocator_owner;
  for (MemType type : {MemType::kPageOrder0, MemType::kPageShared}) {
    Page* page = allocator.alloc(0);
    char* start = static_cast<char*>(ppool::page_address(page));
    Frame* frame = ppool::build_frame(start, start + kHeadroom, 64, ppool::kPageSize, {type, 0});
    ppool::return_frame(frame);
    EXPECT_EQ(ppool::page_of(start), nullptr) << ppool::to_string(type);
  }
  auto s = allocator.stats();
  EXPECT_EQ(s.free_bytes + s.released_bytes, s.committed_bytes);
}

TEST(XdpMemModel, FrameBulkSortsMixedPools) {
  PagePool* pools[3] = {make_pool("bulk-0"), make_pool("bulk-1"), make_pool("bulk-2")};
  ppool::RxQueueInfo rxqs[3] = {{"a", 0}, {"a", 1}, {"b", 0}};
  ppool::MemInfo mems[3];
  for (int i = 0; i < 3; ++i) mems[i] = rxqs[i].reg_mem_model(MemType::kPagePool, pools[i]).value();
  std::vector<Frame*> frames;
  int per_pool[3] = {0, 0, 0};
  for (int i = 0; i < 40; ++i) {
    int p = (i * 7) % 3;
    frames.push_back(receive(pools[p], mems[p]));
    ++per_pool[p];
  }
  std::thread([&] {  // the TX completion thread: owns none of the pools
    ppool::FrameBulk bulk;
    for (std::size_t i = 0; i < frames.size(); ++i) {
      ppool::return_frame_bulk(frames[i], bulk);
      EXPECT_EQ(bulk.count(), i % ppool::FrameBulk::kSize + 1);  // flushed every 16
    }
    EXPECT_EQ(bulk.count(), 40 % ppool::FrameBulk::kSize);
  })
      .join();  // the rest flushed on destruction
  for (int p = 0; p < 3; ++p) {
    EXPECT_EQ(pools[p]->stats().recycle.ring, static_cast<std::uint64_t>(per_pool[p]));
    rxqs[p].unreg_mem_model();
    EXPECT_EQ(PagePool::destroy(pools[p]), 0u);
  }
}

TEST(XdpMemModel, FrameBulkReturnsOtherTypesAtOnce) {
  const auto allocator_owner = ppool::PageAllocator::create({.nid = ppool::kNoNode,
                                                             .max_bytes = ppool::kChunkBytes,
                                                             .retain_bytes = ppool::kChunkBytes})
                                   .value();
  ppool::PageAllocator& allocator = *allocator_owner;
  Page* page = allocator.alloc(0);
  char* start = static_cast<char*>(ppool::page_address(page));
  ppool::FrameBulk bulk;
  bulk.add(ppool::build_frame(start, start + kHeadroom, 64, ppool::kPageSize,
                              {MemType::kPageOrder0, 0}));
  EXPECT_EQ(bulk.count(), 0u);
  EXPECT_EQ(ppool::page_of(start), nullptr);
}

TEST(XdpMemModel, UnregisterWithFramesInFlight) {
  const std::size_t pending = ppool::pools_pending_release();
  const std::uint64_t misuses = ppool::misuse_count();
  PagePool* pool = make_pool("xdp-inflight");
  std::vector<Frame*> frames;
  {
    ppool::RxQueueInfo rxq("eth2", 0);
    ppool::MemInfo mem = rxq.reg_mem_model(MemType::kPagePool, pool).value();
    for (int i = 0; i < 50; ++i) frames.push_back(receive(pool, mem));
  }  // the queue goes away: its model is unregistered
  EXPECT_EQ(ppool::mem_id_allocator(frames[0]->mem.id), nullptr);
  EXPECT_GT(PagePool::destroy(pool), 0u);  // driver unload with frames out
  std::thread([&frames] {
    ppool::FrameBulk bulk;
    for (Frame* f : frames) bulk.add(f);
  }).join();
  wait_for_pending(pending);
  EXPECT_EQ(ppool::misuse_count(), misuses);
}

TEST(XdpMemModel, PageRefPutsOnDestructionOnAnyThread) {
  PagePool* pool = make_pool("xdp-ref");
  ppool::PageRef ref(pool->alloc_pages());
  ASSERT_TRUE(ref);
  static_cast<char*>(ref.data())[0] = 1;
  std::thread([moved = std::move(ref)]() mutable { moved.reset(); }).join();
  EXPECT_FALSE(ref);
  EXPECT_EQ(pool->stats().recycle.ring, 1u);  // home through the ring
  ppool::PageRef kept(pool->alloc_pages());
  Page* page = kept.release();
  EXPECT_FALSE(kept);
  pool->recycle_direct(page);
  EXPECT_EQ(PagePool::destroy(pool), 0u);
}

// Two drivers, two queues each, a thread and a pool per queue. Each queue
// receives frames, redirects every other one to a queue of the other driver
// (an MPSC ring standing for its TX ring) and drops the rest; each queue
// also completes what was redirected to it, returning it with FrameBulk.
void redirect_stress(bool frags) {
  constexpr int kQueues = 4;  // 0,1: driver A; 2,3: driver B
  constexpr int kFramesPerQueue = 20000;
  const std::size_t pending = ppool::pools_pending_release();
  const std::uint64_t misuses = ppool::misuse_count();
  PagePool* pools[kQueues];
  std::vector<std::unique_ptr<ppool::MpscRing<Frame*>>> tx;
  for (int q = 0; q < kQueues; ++q) tx.push_back(std::make_unique<ppool::MpscRing<Frame*>>(256));
  std::atomic<int> running{kQueues};
  std::atomic<std::uint64_t> redirected{0};
  auto queue = [&](int q) {
    pools[q] = make_pool(q < 2 ? "drvA" : "drvB");
    ppool::RxQueueInfo rxq(q < 2 ? "drvA" : "drvB", q % 2);
    ppool::MemInfo mem = rxq.reg_mem_model(MemType::kPagePool, pools[q]).value();
    ppool::FrameBulk completions;
    auto complete = [&] {
      Frame* done[32];
      while (std::size_t n = tx[q]->consume_bulk(done, 32))
        for (std::size_t i = 0; i < n; ++i) completions.add(done[i]);
      completions.flush();
    };
    for (int i = 0; i < kFramesPerQueue; ++i) {
      Frame* frame;
      if (frags) {
        std::uint32_t size = 2048, offset = 0;
        Page* page = pools[q]->alloc(&offset, &size);
        ASSERT_NE(page, nullptr);
        char* start = static_cast<char*>(ppool::page_address(page)) + offset;
        frame = ppool::build_frame(start, start + 192, 64, size, mem);
      } else {
        frame = receive(pools[q], mem);
        ASSERT_NE(frame, nullptr);
      }
      // Every other frame goes to the peer queue of the other driver; a full
      // TX ring is waited on for a while (backpressure), then the frame is
      // dropped.
      const int target = (q + 2) % kQueues;
      bool sent = false;
      for (int tries = 0; i % 2 && !sent && tries < 1000; ++tries) {
        sent = tx[target]->produce(frame);
        if (!sent) {
          complete();
          std::this_thread::yield();
        }
      }
      if (sent)
        redirected.fetch_add(1, std::memory_order_relaxed);
      else
        ppool::return_frame_rx_napi(frame);  // XDP_DROP
      if (i % 64 == 0) complete();
    }
    running.fetch_sub(1);
    while (running.load() > 0) complete();  // drain what the others still send
    complete();
    rxq.unreg_mem_model();
  };
  std::vector<std::thread> threads;
  for (int q = 0; q < kQueues; ++q) threads.emplace_back(queue, q);
  for (auto& t : threads) t.join();
  for (int q = 0; q < kQueues; ++q) {
    Frame* left[256];
    ppool::FrameBulk bulk;
    while (std::size_t n = tx[q]->consume_bulk(left, 256))
      for (std::size_t i = 0; i < n; ++i) bulk.add(left[i]);
  }
  EXPECT_GT(redirected.load(), 0u);
  for (PagePool* pool : pools) {
    EXPECT_GT(pool->stats().recycle.ring, 0u)
        << "redirected frames come home through the ring: " << pool->stats().to_json();
    pool->bind_owner();
    PagePool::destroy(pool);
  }
  wait_for_pending(pending);
  EXPECT_EQ(ppool::misuse_count(), misuses);
}

TEST(XdpMemModel, RedirectStressWholePages) {
  redirect_stress(false);
}
TEST(XdpMemModel, RedirectStressFragments) {
  redirect_stress(true);
}

}  // namespace
