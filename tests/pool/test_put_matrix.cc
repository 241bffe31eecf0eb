// One test over the matrix of put paths: every way a page goes home
//   x the pool's owner thread / another thread
//   x a device that needs syncs / a coherent one
//   x a whole page / fragments (the last fragment's put brings the page home)
// and every cell checks the same invariants, so that a path that forgot one
// of them (a sync, the cache, a counter) shows as a failing cell instead of
// hiding in a test written for that path alone:
//   - the syncs for the device: exactly one per page that went home, at
//     params.offset, of min(dma_sync_size, max_len) bytes (put_page), max_len
//     for the full-page paths (the kernel's page_pool_put_page passes the
//     size, its bulk and full-page puts pass -1); none on a coherent device;
//   - where the pages went: the owner's cache on the owner (napi-local, the
//     cache has room), the ring from another thread, never released
//     (recycle_cached, recycle_ring, ring_full, cache_full, released_refcnt);
//   - the pool's inflight unchanged by the puts (home is still in flight);
//   - no DebugDmaDevice finding, no misuse, nothing logged as an error;
//   - destroying the pools leaves 0 in flight and 0 live mappings.
// A new put path is one row of put_paths(); a path that cannot take a cell
// says why in its row, and the cell is not made (cells() leaves it out: a
// skipped cell would read as a test that ran).
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "ppool/dma.h"
#include "ppool/page.h"
#include "ppool/page_pool.h"
#include "ppool/share.h"
#include "ppool/xdp.h"
#include "support/log_capture.h"
#include "support/pool_fixtures.h"
#include "support/recording_device.h"
#include "support/stats.h"

namespace {

using ppool::Page;
using ppool::PagePool;
using ppool::test::RecordingDmaDevice;

constexpr std::uint32_t kOffset = 64;               // params.offset: where every sync starts
constexpr std::uint32_t kMaxLen = 2048;             // params.max_len: the most a sync covers
constexpr std::uint32_t kShortSync = 1000;          // a put_page size under max_len
constexpr std::uint32_t kLongSync = 1u << 20;       // one over it: clamped to max_len
constexpr std::uint32_t kFull = ~std::uint32_t{0};  // the full-page paths: max_len
// Pages put per pool and cell: more than one, so a path that syncs or
// counts only its first page shows.
constexpr int kPagesPerPool = 4;
constexpr std::uint32_t kFragBytes = ppool::kPageSize / 2;  // two fragments a page
constexpr std::uint32_t kHeadroom = 256;                    // frames: data after it

enum class Ctx { kOwner, kOther };
enum class Dev { kSyncing, kCoherent };
enum class Unit { kWhole, kFragment };

// What one put gives back: a whole page, or one fragment of it.
struct Piece {
  int pool;  // index into Cell::pools
  Page* page;
  std::uint32_t offset, size;
  void* address() const { return static_cast<char*>(ppool::page_address(page)) + offset; }
};

// One cell's pools, what it puts, and what a path set up for its puts.
struct Cell {
  std::vector<PagePool*> pools;
  std::vector<Piece> pieces;  // in put order (two pools: interleaved)
  std::vector<std::unique_ptr<ppool::RxQueueInfo>> rxqs;
  std::vector<ppool::MemInfo> mems;
  std::vector<ppool::Frame*> frames;  // one per piece, built on the owner
  std::unique_ptr<ppool::ShareProducer> producer;
  std::unique_ptr<ppool::ShareConsumer> consumer;
  int sockets[2] = {-1, -1};

  PagePool* pool_of(const Piece& p) const { return pools[p.pool]; }
  // Before the pools are destroyed: the producer first (share.h), the queues'
  // registrations.
  void teardown() {
    producer.reset();
    consumer.reset();
    for (int& fd : sockets)
      if (fd >= 0) close(std::exchange(fd, -1));
    rxqs.clear();
  }
  ~Cell() { teardown(); }
};

// A way home. sync_size is what the path asks to sync: the cell expects
// min(sync_size, max_len) bytes per page.
struct PutPath {
  const char* name;
  std::uint32_t sync_size;
  void (*put)(Cell&);                // gives every piece back, on the cell's thread
  void (*prepare)(Cell&) = nullptr;  // on the owner, before the cell's baseline
  int pools = 1;                     // 2: pages of two pools, interleaved in one call
  bool shared_region = false;        // the pool draws from a shared region
  const char* owner_only = nullptr;  // why there is no other-thread cell
  const char* whole_only = nullptr;  // why there is no fragment cell
};

void PrintTo(const PutPath& path, std::ostream* os) {
  *os << path.name;
}
void PrintTo(Ctx ctx, std::ostream* os) {
  *os << (ctx == Ctx::kOwner ? "owner" : "other thread");
}
void PrintTo(Dev dev, std::ostream* os) {
  *os << (dev == Dev::kSyncing ? "syncing device" : "coherent device");
}
void PrintTo(Unit unit, std::ostream* os) {
  *os << (unit == Unit::kWhole ? "whole page" : "fragments");
}

// ---- the paths' pieces of code ----

void register_queues(Cell& c) {
  for (PagePool* pool : c.pools) {
    c.rxqs.push_back(
        std::make_unique<ppool::RxQueueInfo>("matrix", static_cast<std::uint32_t>(c.rxqs.size())));
    auto mem = c.rxqs.back()->reg_mem_model(ppool::MemType::kPagePool, pool);
    ASSERT_TRUE(mem.ok()) << (mem.ok() ? "" : mem.error().message);
    c.mems.push_back(mem.value());
  }
}

// The driver's RX side: a frame in each piece, built on the queue's thread.
void build_frames(Cell& c) {
  ASSERT_NO_FATAL_FAILURE(register_queues(c));
  for (const Piece& p : c.pieces) {
    char* start = static_cast<char*>(p.address());
    ppool::Frame* frame = ppool::build_frame(start, start + kHeadroom, 64, p.size, c.mems[p.pool]);
    ASSERT_NE(frame, nullptr);
    c.frames.push_back(frame);
  }
}

std::vector<Page*> pages_of(const Cell& c) {
  std::vector<Page*> pages;
  for (const Piece& p : c.pieces) pages.push_back(p.page);
  return pages;
}

// A consumer in this process: the producer hands each page, the consumer
// reads it and gives it back; the cell's put is the producer's reap().
void share_hand_and_give_back(Cell& c) {
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, c.sockets), 0);
  auto attached = ppool::ShareProducer::attach(c.pools[0], c.sockets[0], {.ring_entries = 64});
  ASSERT_TRUE(attached.ok()) << (attached.ok() ? "" : attached.error().message);
  c.producer = std::move(attached).value();
  auto connected = ppool::ShareConsumer::connect(c.sockets[1], 5000);
  ASSERT_TRUE(connected.ok()) << (connected.ok() ? "" : connected.error().message);
  c.consumer = std::move(connected).value();
  for (const Piece& p : c.pieces) ASSERT_TRUE(c.producer->hand(p.page, 0, 64));
  std::vector<ppool::ShareMsg> msgs(c.pieces.size());
  ASSERT_EQ(c.consumer->receive(msgs.data(), msgs.size()), msgs.size());
  std::vector<std::uint64_t> back;
  for (const ppool::ShareMsg& m : msgs) back.push_back(m.page);
  ASSERT_EQ(c.consumer->give_back(back.data(), back.size()), back.size());
}

constexpr const char* kOwnerOnly = "owner only: recycle_direct is the pool's own thread's call";
constexpr const char* kShareWhole =
    "the share protocol hands whole pages: one slot per region page, a page handed once";
constexpr const char* kXskWhole = "AF_XDP completions return whole UMEM frames, never fragments";

std::vector<PutPath> put_paths() {
  return {
      {.name = "PutPageShort",
       .sync_size = kShortSync,
       .put =
           [](Cell& c) {
             for (const Piece& p : c.pieces) c.pool_of(p)->put_page(p.page, kShortSync, false);
           }},
      {.name = "PutPageLong",
       .sync_size = kLongSync,
       .put =
           [](Cell& c) {
             for (const Piece& p : c.pieces) c.pool_of(p)->put_page(p.page, kLongSync, false);
           }},
      {.name = "PutFullPage",
       .sync_size = kFull,
       .put =
           [](Cell& c) {
             for (const Piece& p : c.pieces) c.pool_of(p)->put_full_page(p.page, false);
           }},
      {.name = "PutFullPageDirect",
       .sync_size = kFull,
       .put =
           [](Cell& c) {
             for (const Piece& p : c.pieces) c.pool_of(p)->put_full_page(p.page, true);
           }},
      {.name = "RecycleDirect",
       .sync_size = kFull,
       .put =
           [](Cell& c) {
             for (const Piece& p : c.pieces) c.pool_of(p)->recycle_direct(p.page);
           },
       .owner_only = kOwnerOnly},
      {.name = "GenericPutPage",
       .sync_size = kFull,
       .put =
           [](Cell& c) {
             for (const Piece& p : c.pieces) ppool::put_page(p.page);
           }},
      {.name = "PageRef",
       .sync_size = kFull,
       .put =
           [](Cell& c) {
             for (const Piece& p : c.pieces) {
               ppool::PageRef ref(p.page);  // adopts the last reference, puts it here
             }
           }},
      {.name = "PutPageBulk",
       .sync_size = kFull,
       .put =
           [](Cell& c) {
             std::vector<Page*> pages = pages_of(c);
             ppool::put_page_bulk(pages.data(), pages.size());
           }},
      {.name = "PutPageBulkMixedPools",
       .sync_size = kFull,
       .put =
           [](Cell& c) {
             std::vector<Page*> pages = pages_of(c);
             ppool::put_page_bulk(pages.data(), pages.size());
           },
       .pools = 2},
      {.name = "FreeVa",
       .sync_size = kFull,
       .put =
           [](Cell& c) {
             for (const Piece& p : c.pieces)
               c.pool_of(p)->free_va(static_cast<char*>(p.address()) + 100, false);
           }},
      {.name = "ReturnFrame",
       .sync_size = kFull,
       .put =
           [](Cell& c) {
             for (ppool::Frame* frame : c.frames) ppool::return_frame(frame);
           },
       .prepare = build_frames},
      {.name = "ReturnFrameRxNapi",
       .sync_size = kFull,
       .put =
           [](Cell& c) {
             for (ppool::Frame* frame : c.frames) ppool::return_frame_rx_napi(frame);
           },
       .prepare = build_frames},
      {.name = "FrameBulkMixedPools",
       .sync_size = kFull,
       .put =
           [](Cell& c) {
             ppool::FrameBulk bulk;
             for (ppool::Frame* frame : c.frames) ppool::return_frame_bulk(frame, bulk);
             bulk.flush();
           },
       .prepare = build_frames,
       .pools = 2},
      // The producer's reap() puts what the consumer gave back with
      // put_page_bulk: into the cache on the owner, the ring elsewhere.
      {.name = "ShareReturn",
       .sync_size = kFull,
       .put = [](Cell& c) { EXPECT_EQ(c.producer->reap(), c.pieces.size()); },
       .prepare = share_hand_and_give_back,
       .shared_region = true,
       .whole_only = kShareWhole},
      // XskQueue::complete() gives the pages of a completion batch (whole
      // frames of the UMEM's one pool) to put_page_bulk in one call. A real
      // completion needs an AF_XDP socket (tests/xsk runs those in a network
      // namespace); this cell makes the same call with the same shape.
      {.name = "XskCompleteBulk",
       .sync_size = kFull,
       .put =
           [](Cell& c) {
             std::vector<Page*> pages = pages_of(c);
             ppool::put_page_bulk(pages.data(), pages.size());
           },
       .whole_only = kXskWhole},
  };
}

using Param = std::tuple<PutPath, Ctx, Dev, Unit>;

std::string cell_name(const ::testing::TestParamInfo<Param>& info) {
  const auto& [path, ctx, dev, unit] = info.param;
  return std::string(path.name) + (ctx == Ctx::kOwner ? "_Owner" : "_OtherThread") +
         (dev == Dev::kSyncing ? "_SyncingDevice" : "_CoherentDevice") +
         (unit == Unit::kWhole ? "_WholePage" : "_Fragments");
}

// The syncs as the test reads them: "pool page#k +offset len dir".
std::vector<std::string> describe(const std::vector<RecordingDmaDevice::Sync>& syncs,
                                  const std::map<ppool::DmaAddr, int>& page_index) {
  std::vector<std::string> out;
  for (const RecordingDmaDevice::Sync& s : syncs) {
    auto it = page_index.find(s.addr);
    char text[160];
    std::snprintf(text, sizeof text, "%s %s%d +%zu len %zu %s", s.caller.c_str(),
                  it == page_index.end() ? "unknown page " : "page#",
                  it == page_index.end() ? -1 : it->second, s.offset, s.len,
                  ppool::to_string(s.dir));
    out.emplace_back(text);
  }
  std::sort(out.begin(), out.end());
  return out;
}

class PutMatrix : public ::testing::TestWithParam<Param> {};

TEST_P(PutMatrix, EveryPageGoesHomeOnceSyncedAndCounted) {
  const PutPath& path = std::get<0>(GetParam());
  const Ctx ctx = std::get<1>(GetParam());
  const Dev dev_kind = std::get<2>(GetParam());
  const Unit unit = std::get<3>(GetParam());
  ppool::test::LogCapture log;
  const std::uint64_t misuses = ppool::misuse_count();

  // The syncing device is the recorder behind the DMA checker; the coherent
  // one is the recorder alone (the checker always needs syncs), which still
  // records a sync the pool should not have made.
  const bool syncing = dev_kind == Dev::kSyncing;
  RecordingDmaDevice recorder(syncing);
  ppool::DebugDmaDevice checker(recorder);
  ppool::DmaDevice* dev = syncing ? static_cast<ppool::DmaDevice*>(&checker) : &recorder;

  std::unique_ptr<ppool::PageAllocator> region;
  if (path.shared_region) {
    auto created = ppool::PageAllocator::create({.max_bytes = ppool::kChunkBytes, .shared = true});
    ASSERT_TRUE(created) << created.error().message;
    region = std::move(created).value();
  }

  Cell c;
  for (int i = 0; i < path.pools; ++i) {
    ppool::PagePoolParams params;
    params.name = "matrix-" + std::to_string(i);
    params.dev = dev;
    params.flags = ppool::kDmaMap | ppool::kDmaSyncDev;
    params.offset = kOffset;
    params.max_len = kMaxLen;
    params.pool_size = 256;
    params.allocator = region.get();
    PagePool* pool = ppool::test::create_pool(params);
    ASSERT_NE(pool, nullptr);
    c.pools.push_back(pool);
  }

  // The pieces, per pool; with fragments, one more fragment starts a fresh
  // page, so the pool has dropped its own reference on every page put here
  // and each page's last fragment put brings it home.
  std::vector<std::vector<Piece>> per_pool(c.pools.size());
  std::vector<Piece> kept;  // those extra fragments: put after the checks
  for (int i = 0; i < path.pools; ++i) {
    PagePool* pool = c.pools[i];
    for (int k = 0; k < kPagesPerPool; ++k) {
      if (unit == Unit::kWhole) {
        Page* page = pool->alloc_pages();
        ASSERT_NE(page, nullptr);
        per_pool[i].push_back({i, page, 0, static_cast<std::uint32_t>(ppool::kPageSize)});
        continue;
      }
      std::uint32_t first = 0, second = 0;
      Page* a = pool->alloc_frag(kFragBytes, &first);
      Page* b = pool->alloc_frag(kFragBytes, &second);
      ASSERT_NE(a, nullptr);
      ASSERT_EQ(a, b) << "two halves of one page";
      ASSERT_EQ(first, 0u);
      ASSERT_EQ(second, kFragBytes);
      per_pool[i].push_back({i, a, first, kFragBytes});
      per_pool[i].push_back({i, b, second, kFragBytes});
    }
    if (unit == Unit::kFragment) {
      std::uint32_t offset = 0;
      Page* page = pool->alloc_frag(kFragBytes, &offset);
      ASSERT_NE(page, nullptr);
      ASSERT_EQ(offset, 0u) << "a fresh page";
      kept.push_back({i, page, offset, kFragBytes});
    }
  }
  for (std::size_t k = 0; k < per_pool[0].size(); ++k)
    for (const std::vector<Piece>& pieces : per_pool) c.pieces.push_back(pieces[k]);
  if (path.prepare) {
    ASSERT_NO_FATAL_FAILURE(path.prepare(c));
  }

  // What every cell expects: each page home once, synced once at
  // params.offset for min(sync_size, max_len) bytes on the syncing device.
  std::map<ppool::DmaAddr, int> page_index;
  std::vector<RecordingDmaDevice::Sync> expected;
  std::vector<std::uint64_t> home(c.pools.size(), 0);
  for (const Piece& p : c.pieces) {
    const ppool::DmaAddr addr = c.pool_of(p)->get_dma_addr(p.page);
    if (!page_index.emplace(addr, static_cast<int>(page_index.size())).second) continue;
    ++home[p.pool];
    if (syncing)
      expected.push_back({addr, kOffset, std::min(path.sync_size, kMaxLen),
                          ppool::DmaDirection::kFromDevice, c.pool_of(p)->name()});
  }

  std::vector<ppool::PagePoolStats> before;
  std::vector<std::uint32_t> inflight_before;
  for (PagePool* pool : c.pools) {
    before.push_back(pool->stats());
    inflight_before.push_back(pool->inflight());
  }
  recorder.clear_syncs();
  if (ctx == Ctx::kOwner)
    path.put(c);
  else
    std::thread([&] { path.put(c); }).join();

  EXPECT_EQ(describe(recorder.device_syncs(), page_index), describe(expected, page_index))
      << (syncing ? "every page home synced once, at params.offset, for min(size, max_len)"
                  : "a coherent device gets no syncs");
  EXPECT_EQ(recorder.cpu_syncs(), 0u);
  for (std::size_t i = 0; i < c.pools.size(); ++i) {
    SCOPED_TRACE(c.pools[i]->name());
    const ppool::PagePoolStats after = c.pools[i]->stats();
    EXPECT_EQ(after.recycle.ring - before[i].recycle.ring, ctx == Ctx::kOther ? home[i] : 0)
        << "from another thread every page goes through the ring, on the owner none";
    EXPECT_EQ(after.recycle.ring_full - before[i].recycle.ring_full, 0u);
    EXPECT_EQ(after.recycle.released_refcnt - before[i].recycle.released_refcnt, 0u)
        << "a page held by nobody else is recycled, not released";
    PPOOL_IF_STATS {
      EXPECT_EQ(after.recycle.cached - before[i].recycle.cached, ctx == Ctx::kOwner ? home[i] : 0)
          << "on the owner every page goes into the cache (it has room)";
      EXPECT_EQ(after.recycle.cache_full - before[i].recycle.cache_full, 0u);
    }
    EXPECT_EQ(c.pools[i]->inflight(), inflight_before[i])
        << "pages home in the cache or the ring are still the pool's";
  }
  EXPECT_EQ(checker.error_count(), 0u) << "the DMA checker found an error";
  EXPECT_EQ(ppool::misuse_count(), misuses) << "a put was reported as a misuse";
  for (const ppool::test::LogCapture::Entry& e : log.entries())
    EXPECT_LT(e.level, ppool::LogLevel::kError) << e.message;
  if (c.producer) {
    const ppool::ShareProducerStats st = c.producer->stats();
    EXPECT_EQ(st.returned, c.pieces.size());
    EXPECT_EQ(st.holding, 0u);
  }

  // The pools' current fragment pages hold the pool's reference: the put
  // drops the harness's, destroy the pool's.
  c.teardown();
  for (const Piece& p : kept) c.pool_of(p)->put_full_page(p.page, true);
  for (PagePool* pool : c.pools) EXPECT_EQ(PagePool::destroy(pool), 0u) << "pages left in flight";
  EXPECT_EQ(recorder.live_mappings(), 0u) << "mappings left after destroy";
  EXPECT_EQ(recorder.bad_unmaps(), 0u);
  EXPECT_EQ(checker.live_mappings(), 0u);
  EXPECT_EQ(checker.error_count(), 0u);
}

// Every (path, thread, device, unit) a path can take: owner-only paths have
// no other-thread cells, whole-page paths no fragment cells (their rows say
// why).
std::vector<Param> cells() {
  std::vector<Param> out;
  for (const PutPath& path : put_paths())
    for (Ctx ctx : {Ctx::kOwner, Ctx::kOther})
      for (Dev dev : {Dev::kSyncing, Dev::kCoherent})
        for (Unit unit : {Unit::kWhole, Unit::kFragment})
          if (!(ctx == Ctx::kOther && path.owner_only) &&
              !(unit == Unit::kFragment && path.whole_only))
            out.emplace_back(path, ctx, dev, unit);
  return out;
}

INSTANTIATE_TEST_SUITE_P(Paths, PutMatrix, ::testing::ValuesIn(cells()), cell_name);

}  // namespace
