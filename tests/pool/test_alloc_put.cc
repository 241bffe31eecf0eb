// The kernel semantics that the core covers: the alloc cache, the
// ring and its refill, the slow path with DMA map and sync, the put paths,
// the refcount > 1 rule, release_page, bulk put across pools, the NUMA waive,
// in-flight accounting, stats, allocation failure and generic put.
#include <gtest/gtest.h>

#include <mutex>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "ppool/page_pool.h"
#include "support/pool_fixtures.h"
#include "support/stats.h"

namespace {

using ppool::Page;
using ppool::PagePool;
using ppool::PagePoolParams;
using ppool::test::create_pool;

// An identity device that counts its calls and keeps the last sync's range.
class CountingDevice final : public ppool::DmaDevice {
 public:
  std::string_view name() const override { return "counting"; }
  ppool::DmaAddr map(void* addr, std::size_t, ppool::DmaDirection, std::string_view) override {
    std::lock_guard guard(lock_);
    if (refuse_maps) return ppool::kDmaMappingError;
    ++maps;
    return reinterpret_cast<ppool::DmaAddr>(addr);
  }
  void unmap(ppool::DmaAddr, std::size_t, ppool::DmaDirection, std::string_view) override {
    std::lock_guard guard(lock_);
    ++unmaps;
  }
  void sync_for_device(ppool::DmaAddr addr, std::size_t offset, std::size_t len,
                       ppool::DmaDirection, std::string_view) override {
    std::lock_guard guard(lock_);
    ++device_syncs;
    last_sync = {addr, offset, len};
    device_sync_log.push_back(last_sync);
  }
  void sync_for_cpu(ppool::DmaAddr addr, std::size_t offset, std::size_t len, ppool::DmaDirection,
                    std::string_view) override {
    std::lock_guard guard(lock_);
    ++cpu_syncs;
    last_sync = {addr, offset, len};
  }
  bool needs_sync() const override { return true; }

  struct Sync {
    ppool::DmaAddr addr;
    std::size_t offset, len;
  };
  // The syncs for the device since the last call, forgetting them.
  std::vector<Sync> take_device_syncs() {
    std::lock_guard guard(lock_);
    return std::exchange(device_sync_log, {});
  }
  bool refuse_maps = false;
  int maps = 0, unmaps = 0, device_syncs = 0, cpu_syncs = 0;
  Sync last_sync{};
  std::vector<Sync> device_sync_log;

 private:
  std::mutex lock_;
};

ppool::IdentityDmaDevice g_identity;

PagePoolParams params_named(const char* name) {
  PagePoolParams p;
  p.name = name;
  p.flags = ppool::kDmaMap;
  p.dev = &g_identity;
  return p;
}

TEST(PoolAlloc, FirstAllocTakesABulkFromTheAllocatorAndMapsIt) {
  PagePool* pool = create_pool(params_named("alloc"));
  Page* page = pool->alloc_pages();
  ASSERT_NE(page, nullptr);
  EXPECT_EQ(page->refcount.load(), 1u);
  EXPECT_EQ(ppool::page_of(ppool::page_address(page)), page);
  // Identity device: the DMA address is the virtual address.
  EXPECT_EQ(pool->get_dma_addr(page), reinterpret_cast<ppool::DmaAddr>(ppool::page_address(page)));
  EXPECT_EQ(pool->inflight(), ppool::kAllocCacheRefill);  // a whole bulk left the allocator
  PPOOL_IF_STATS {
    auto s = pool->stats();
    EXPECT_EQ(s.alloc.slow, 1u);
    EXPECT_EQ(s.alloc.fast, 0u);
    EXPECT_EQ(s.alloc.empty, 1u);  // the ring was looked at first
  }
  pool->recycle_direct(page);
  EXPECT_EQ(PagePool::destroy(pool), 0u);
}

TEST(PoolAlloc, RecycleDirectFeedsTheFastPath) {
  PagePool* pool = create_pool(params_named("fast"));
  Page* first = pool->alloc_pages();
  pool->recycle_direct(first);
  Page* again = pool->alloc_pages();
  EXPECT_EQ(again, first);  // LIFO cache: the hot page comes back
  pool->recycle_direct(again);
  auto s = pool->stats();
  EXPECT_EQ(s.recycle.ring, 0u);
  EXPECT_EQ(pool->inflight(), ppool::kAllocCacheRefill);  // no second trip to the allocator
  PPOOL_IF_STATS {
    EXPECT_EQ(s.alloc.fast, 1u);
    EXPECT_EQ(s.recycle.cached, 2u);
  }
  EXPECT_EQ(PagePool::destroy(pool), 0u);
}

TEST(PoolAlloc, NonDirectPutGoesThroughTheRingAndRefills) {
  PagePool* pool = create_pool(params_named("ring"));
  std::vector<Page*> pages;
  for (unsigned i = 0; i < ppool::kAllocCacheRefill; ++i) pages.push_back(pool->alloc_pages());
  ppool::test::on_other_thread([&] {
    for (Page* page : pages) pool->put_full_page(page, false);
  });
  auto s = pool->stats();
  EXPECT_EQ(s.recycle.ring, ppool::kAllocCacheRefill);
  EXPECT_EQ(s.recycle.cached, 0u);
  // The cache is empty: the next alloc refills from the ring, not the allocator.
  std::set<Page*> returned(pages.begin(), pages.end());
  Page* page = pool->alloc_pages();
  EXPECT_TRUE(returned.count(page));
  EXPECT_EQ(pool->inflight(), ppool::kAllocCacheRefill);  // nothing new taken
  PPOOL_IF_STATS {
    s = pool->stats();
    EXPECT_EQ(s.alloc.refill, 1u);
    EXPECT_EQ(s.alloc.slow, 1u);
  }
  pool->recycle_direct(page);
  EXPECT_EQ(PagePool::destroy(pool), 0u);
}

TEST(PoolAlloc, DirectPutFromAForeignThreadGoesToTheRing) {
  PagePool* pool = create_pool(params_named("foreign"));
  Page* page = pool->alloc_pages();
  std::thread([&] { pool->put_full_page(page, /*allow_direct=*/true); }).join();
  auto s = pool->stats();
  EXPECT_EQ(s.recycle.cached, 0u) << "a foreign thread must not touch the owner's cache";
  EXPECT_EQ(s.recycle.ring, 1u);
  // bind_owner() hands the pool to another thread: its direct puts now cache.
  std::thread([&] {
    pool->bind_owner();
    Page* p = pool->alloc_pages();
    pool->recycle_direct(p);
    EXPECT_EQ(pool->stats().recycle.ring, 1u);  // still 1: the direct put was cached
    PPOOL_IF_STATS {
      EXPECT_EQ(pool->stats().recycle.cached, 1u);
    }
    EXPECT_EQ(pool->alloc_pages(), p);  // LIFO cache: the page just recycled
    pool->recycle_direct(p);
  }).join();
  pool->bind_owner();
  EXPECT_EQ(PagePool::destroy(pool), 0u);
}

TEST(PoolAlloc, FullCacheOverflowsToTheRing) {
  PagePool* pool = create_pool(params_named("cachefull"));
  const unsigned n = ppool::kAllocCacheSize + 1;
  std::vector<Page*> pages;
  for (unsigned i = 0; i < n; ++i) pages.push_back(pool->alloc_pages());
  // Three bulks of 64 came in; what was not handed out still sits in the cache.
  const unsigned room = ppool::kAllocCacheSize - (3 * ppool::kAllocCacheRefill - n);
  for (Page* page : pages) pool->recycle_direct(page);
  auto s = pool->stats();
  EXPECT_EQ(pool->inflight(), 3 * ppool::kAllocCacheRefill);
  EXPECT_EQ(s.recycle.ring, n - room);
  PPOOL_IF_STATS {
    EXPECT_EQ(s.alloc.slow, 3u);
    EXPECT_EQ(s.recycle.cached, room);
    EXPECT_EQ(s.recycle.cache_full, n - room);
  }
  EXPECT_EQ(PagePool::destroy(pool), 0u);
}

TEST(PoolAlloc, FullRingReleasesToTheAllocator) {
  PagePoolParams p = params_named("ringfull");
  p.pool_size = 4;
  PagePool* pool = create_pool(p);
  std::vector<Page*> pages;
  for (int i = 0; i < 10; ++i) pages.push_back(pool->alloc_pages());
  const std::uint32_t before = pool->inflight();
  ppool::test::on_other_thread([&] {
    for (Page* page : pages) pool->put_full_page(page, false);
  });
  auto s = pool->stats();
  EXPECT_EQ(s.recycle.ring, 4u);
  EXPECT_EQ(s.recycle.ring_full, 6u);
  EXPECT_EQ(pool->inflight(), before - 6);  // released pages left the pool's books
  EXPECT_EQ(PagePool::destroy(pool), 0u);
}

TEST(PoolAlloc, SharedPageIsReleasedNotRecycled) {
  const auto allocator_owner =
      ppool::PageAllocator::create(
          {.nid = ppool::kNoNode, .max_bytes = 8 << 20, .retain_bytes = 8 << 20})
          .value();
  ppool::PageAllocator& allocator = *allocator_owner;
  PagePoolParams p = params_named("refcnt");
  p.allocator = &allocator;
  PagePool* pool = create_pool(p);
  Page* page = pool->alloc_pages();
  const std::uint32_t before = pool->inflight();
  ppool::get_page(page);  // e.g. an skb still points at it
  char* data = static_cast<char*>(ppool::page_address(page));
  data[0] = 'x';
  pool->recycle_direct(page);
  auto s = pool->stats();
  EXPECT_EQ(s.recycle.released_refcnt, 1u);
  EXPECT_EQ(s.recycle.cached, 0u);
  EXPECT_EQ(pool->inflight(), before - 1);
  // Still a live page for its other holder, no longer the pool's.
  EXPECT_EQ(page->refcount.load(), 1u);
  EXPECT_EQ(page->pp_tag, 0u);
  EXPECT_EQ(data[0], 'x');
  EXPECT_EQ(PagePool::destroy(pool), 0u);
  // The last reference frees it to the allocator: everything is free again.
  ppool::put_page(page);
  auto a = allocator.stats();
  EXPECT_EQ(a.free_bytes + a.released_bytes, a.committed_bytes);
}

TEST(PoolAlloc, ReleasePageMakesANormalPage) {
  CountingDevice dev;
  PagePoolParams p = params_named("release");
  p.dev = &dev;
  PagePool* pool = create_pool(p);
  Page* page = pool->alloc_pages();
  const std::uint32_t before = pool->inflight();
  pool->release_page(page);
  EXPECT_EQ(dev.unmaps, 1);
  EXPECT_EQ(pool->inflight(), before - 1);
  EXPECT_EQ(page->refcount.load(), 1u);  // the caller still holds it
  ppool::put_page(page);                 // now it is the allocator's
  EXPECT_EQ(ppool::page_of(ppool::page_address(page)), nullptr);
  EXPECT_EQ(PagePool::destroy(pool), 0u);
  EXPECT_EQ(dev.maps, dev.unmaps);
}

TEST(PoolAlloc, SyncForDeviceIsClampedToMaxLenAndSkippedWhenCoherent) {
  CountingDevice dev;
  PagePoolParams p = params_named("sync");
  p.dev = &dev;
  p.flags = ppool::kDmaMap | ppool::kDmaSyncDev;
  p.offset = 64;
  p.max_len = 1024;
  PagePool* pool = create_pool(p);
  Page* page = pool->alloc_pages();
  EXPECT_EQ(dev.device_syncs, dev.maps);  // each page synced when mapped
  EXPECT_EQ(dev.last_sync.len, 1024u);
  const int syncs = dev.device_syncs;
  pool->put_page(page, 100, true);
  EXPECT_EQ(dev.device_syncs, syncs + 1);
  EXPECT_EQ(dev.last_sync.addr, pool->get_dma_addr(page));
  EXPECT_EQ(dev.last_sync.offset, 64u);
  EXPECT_EQ(dev.last_sync.len, 100u);
  page = pool->alloc_pages();
  pool->put_page(page, 1 << 20, true);  // more than max_len: clamped
  EXPECT_EQ(dev.last_sync.len, 1024u);
  EXPECT_EQ(pool->stats().recycle.ring, 0u);
  PPOOL_IF_STATS {
    EXPECT_EQ(pool->stats().recycle.cached, 2u);
  }
  pool->dma_sync_for_cpu(page, 10, 20);
  EXPECT_EQ(dev.cpu_syncs, 1);
  EXPECT_EQ(dev.last_sync.offset, 74u);
  EXPECT_EQ(dev.last_sync.len, 20u);
  EXPECT_EQ(PagePool::destroy(pool), 0u);
  EXPECT_EQ(dev.maps, dev.unmaps);

  // A coherent device (identity) needs no sync: the flag costs nothing.
  PagePoolParams q = params_named("coherent");
  q.flags = ppool::kDmaMap | ppool::kDmaSyncDev;
  q.max_len = 1024;
  pool = create_pool(q);
  page = pool->alloc_pages();
  pool->recycle_direct(page);
  EXPECT_EQ(pool->stats().recycle.ring, 0u);
  PPOOL_IF_STATS {
    EXPECT_EQ(pool->stats().recycle.cached, 1u);
  }
  EXPECT_EQ(PagePool::destroy(pool), 0u);
}

// A bulk put syncs every page for the device exactly as the single put does
// (from params.offset, max_len bytes: the size a full put asks for,
// clamped), on the owner, where the pages go into the cache in runs, as from
// another thread, where they go through the ring.
TEST(PoolAlloc, BulkPutSyncsEveryPageOnTheOwnerAndFromAnotherThread) {
  CountingDevice dev;
  PagePoolParams p = params_named("bulk-sync");
  p.dev = &dev;
  p.flags = ppool::kDmaMap | ppool::kDmaSyncDev;
  p.offset = 64;
  p.max_len = 1024;
  PagePool* pool = create_pool(p);
  ASSERT_NE(pool, nullptr);
  for (const bool on_owner : {true, false}) {
    SCOPED_TRACE(on_owner ? "on the owner" : "from another thread");
    std::vector<Page*> pages(48);
    ASSERT_EQ(pool->alloc_pages_bulk(pages.data(), pages.size()), pages.size());
    std::multiset<ppool::DmaAddr> expected;
    for (Page* page : pages) expected.insert(pool->get_dma_addr(page));
    dev.take_device_syncs();  // the refill's, when mapped
    const std::uint64_t cached = pool->stats().recycle.cached;
    if (on_owner)
      ppool::put_page_bulk(pages.data(), pages.size());
    else
      ppool::test::on_other_thread([&] { ppool::put_page_bulk(pages.data(), pages.size()); });
    std::multiset<ppool::DmaAddr> synced;
    for (const CountingDevice::Sync& sync : dev.take_device_syncs()) {
      EXPECT_EQ(sync.offset, 64u);
      EXPECT_EQ(sync.len, 1024u);
      synced.insert(sync.addr);
    }
    EXPECT_EQ(synced, expected) << "each page put must be synced once for the device";
    PPOOL_IF_STATS {
      EXPECT_EQ(pool->stats().recycle.cached - cached, on_owner ? pages.size() : 0u);
    }
  }
  EXPECT_EQ(PagePool::destroy(pool), 0u);
}

TEST(PoolAlloc, BulkPutSortsMixedPoolsIntoTheirRings) {
  PagePool* a = create_pool(params_named("bulk-a"));
  PagePool* b = create_pool(params_named("bulk-b"));
  std::vector<Page*> pages;
  for (int i = 0; i < 40; ++i) pages.push_back((i % 3 ? a : b)->alloc_pages());
  std::vector<Page*> from_a, from_b;
  for (int i = 0; i < 40; ++i) (i % 3 ? from_a : from_b).push_back(pages[i]);
  ppool::test::on_other_thread([&] { ppool::put_page_bulk(pages.data(), pages.size()); });
  EXPECT_EQ(a->stats().recycle.ring, from_a.size());
  EXPECT_EQ(b->stats().recycle.ring, from_b.size());
  // A shared page inside a bulk is released, the rest recycled.
  Page* shared = a->alloc_pages();
  Page* plain = a->alloc_pages();
  ppool::get_page(shared);
  Page* two[] = {shared, plain};
  ppool::test::on_other_thread([&] { ppool::put_page_bulk(two, 2); });
  EXPECT_EQ(a->stats().recycle.released_refcnt, 1u);
  EXPECT_EQ(a->stats().recycle.ring, from_a.size() + 1);
  ppool::put_page(shared);
  EXPECT_EQ(PagePool::destroy(a), 0u);
  EXPECT_EQ(PagePool::destroy(b), 0u);
}

TEST(PoolAlloc, HighOrderPagesComeOneAtATime) {
  PagePoolParams p = params_named("order9");
  p.order = 9;
  PagePool* pool = create_pool(p);
  Page* page = pool->alloc_pages();
  ASSERT_NE(page, nullptr);
  EXPECT_EQ(ppool::page_bytes(page), std::size_t{2} << 20);
  char* mid = static_cast<char*>(ppool::page_address(page)) + (1 << 20) + 5;
  EXPECT_EQ(ppool::page_of(mid), page);
  EXPECT_EQ(pool->inflight(), 1u);  // one compound page, not a bulk
  PPOOL_IF_STATS {
    EXPECT_EQ(pool->stats().alloc.slow_high_order, 1u);
    EXPECT_EQ(pool->stats().alloc.slow, 0u);
  }
  pool->recycle_direct(page);
  EXPECT_EQ(pool->alloc_pages(), page);
  pool->recycle_direct(page);
  EXPECT_EQ(PagePool::destroy(pool), 0u);
}

TEST(PoolAlloc, PagesOfAnotherNodeAreWaivedOnRefill) {
  PagePoolParams p = params_named("numa");
  p.nid = 0;
  PagePool* pool = create_pool(p);
  std::vector<Page*> pages;
  for (int i = 0; i < 8; ++i) pages.push_back(pool->alloc_pages());
  ppool::test::on_other_thread([&] {
    for (Page* page : pages) pool->put_full_page(page, false);  // into the ring
  });
  // Drain the cache so that the next alloc refills from the ring.
  std::vector<Page*> cached;
  const std::uint32_t in_cache = ppool::kAllocCacheRefill - 8;
  for (std::uint32_t i = 0; i < in_cache; ++i) cached.push_back(pool->alloc_pages());
  pool->nid_changed(1);  // the queue moved: node-0 pages are now remote
  Page* page = pool->alloc_pages();
  ASSERT_NE(page, nullptr);
  EXPECT_EQ(page->nid, 1);
  // The 8 waived pages left the pool's books; a fresh bulk came in.
  EXPECT_EQ(pool->inflight(), 2 * ppool::kAllocCacheRefill - 8);
  PPOOL_IF_STATS {
    auto s = pool->stats();
    EXPECT_EQ(s.alloc.waive, 8u);
    EXPECT_EQ(s.alloc.slow, 2u);
  }
  EXPECT_EQ(pool->nid(), 1);
  pool->recycle_direct(page);
  for (Page* c : cached) pool->recycle_direct(c);
  EXPECT_EQ(PagePool::destroy(pool), 0u);
}

TEST(PoolAlloc, ExhaustionReturnsNullAndRecovers) {
  const auto allocator_owner = ppool::PageAllocator::create({.nid = ppool::kNoNode,
                                                             .max_bytes = ppool::kChunkBytes,
                                                             .retain_bytes = ppool::kChunkBytes})
                                   .value();
  ppool::PageAllocator& allocator = *allocator_owner;
  PagePoolParams p = params_named("oom");
  p.allocator = &allocator;
  PagePool* pool = create_pool(p);
  std::vector<Page*> held;
  while (Page* page = pool->alloc_pages()) held.push_back(page);
  EXPECT_EQ(held.size(), ppool::kChunkBytes / ppool::kPageSize);
  EXPECT_EQ(pool->alloc_failures(), 1u);
  EXPECT_EQ(pool->alloc_pages(), nullptr);
  EXPECT_EQ(pool->alloc_failures(), 2u);
  // Memory comes back (released to the allocator): the pool works again.
  for (int i = 0; i < 10; ++i) {
    pool->release_page(held.back());
    ppool::put_page(held.back());
    held.pop_back();
  }
  Page* page = pool->alloc_pages();
  ASSERT_NE(page, nullptr);
  held.push_back(page);
  for (Page* h : held) pool->recycle_direct(h);
  EXPECT_EQ(PagePool::destroy(pool), 0u);
}

TEST(PoolAlloc, RefusedMappingsReturnNullAndLoseNoPage) {
  const auto allocator_owner = ppool::PageAllocator::create({.nid = ppool::kNoNode,
                                                             .max_bytes = ppool::kChunkBytes,
                                                             .retain_bytes = ppool::kChunkBytes})
                                   .value();
  ppool::PageAllocator& allocator = *allocator_owner;
  CountingDevice dev;
  dev.refuse_maps = true;
  PagePoolParams p = params_named("mapfail");
  p.dev = &dev;
  p.allocator = &allocator;
  PagePool* pool = create_pool(p);
  EXPECT_EQ(pool->alloc_pages(), nullptr);
  EXPECT_EQ(pool->alloc_failures(), 1u);
  EXPECT_EQ(pool->inflight(), 0u);
  auto a = allocator.stats();
  EXPECT_EQ(a.free_bytes + a.released_bytes, a.committed_bytes);  // every page went back
  dev.refuse_maps = false;
  Page* page = pool->alloc_pages();
  ASSERT_NE(page, nullptr);
  pool->recycle_direct(page);
  EXPECT_EQ(PagePool::destroy(pool), 0u);
}

TEST(PoolAlloc, GenericPutPageSendsAPoolPageHome) {
  PagePool* pool = create_pool(params_named("generic"));
  Page* page = pool->alloc_pages();
  const std::uint32_t before = pool->inflight();
  ppool::test::on_other_thread([&] { ppool::put_page(page); });  // code that knows no pools
  EXPECT_EQ(pool->stats().recycle.ring, 1u);
  EXPECT_EQ(pool->inflight(), before);  // still the pool's, recycled
  EXPECT_EQ(page->refcount.load(), 1u);
  EXPECT_EQ(PagePool::destroy(pool), 0u);
}

// With PPOOL_STATS=0 the owner's counters read 0 while the ring's and the
// release counters, off the fast path, still count.
TEST(PoolAlloc, CompiledOutCountersReadZero) {
  if (ppool::test::kStatsCompiledIn) GTEST_SKIP() << "counters compiled in (PPOOL_STATS=1)";
  PagePool* pool = create_pool(params_named("nostats"));
  Page* page = pool->alloc_pages();
  pool->recycle_direct(page);
  Page* remote = pool->alloc_pages();
  ppool::test::on_other_thread([&] { pool->put_full_page(remote, false); });  // the ring
  auto s = pool->stats();
  EXPECT_EQ(s.alloc.slow + s.alloc.fast + s.alloc.empty + s.recycle.cached, 0u);
  EXPECT_EQ(s.recycle.ring, 1u);
  EXPECT_EQ(PagePool::destroy(pool), 0u);
}

TEST(PoolAlloc, StatsJsonUsesTheKernelNames) {
  PagePool* pool = create_pool(params_named("json"));
  pool->recycle_direct(pool->alloc_pages());
  std::string json = pool->stats().to_json();
  for (const char* name : {"alloc_fast", "alloc_slow", "alloc_slow_high_order", "alloc_empty",
                           "alloc_refill", "alloc_waive", "recycle_cached", "recycle_cache_full",
                           "recycle_ring", "recycle_ring_full", "recycle_released_refcnt"})
    EXPECT_NE(json.find(std::string("\"") + name + "\": "), std::string::npos) << name;
  EXPECT_NE(json.find("\"recycle_ring\": 0"), std::string::npos) << json;
  PPOOL_IF_STATS {
    EXPECT_NE(json.find("\"recycle_cached\": 1"), std::string::npos) << json;
  }
  EXPECT_EQ(PagePool::destroy(pool), 0u);
}

}  // namespace
