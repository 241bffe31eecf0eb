// The io_uring fixed-buffer DMA device on a real ring: a mapped page is a
// real registered buffer (a fixed write from it works), an unmapped slot is
// not, the table's limits are reported, and a pool over the device maps on
// its slow path and unmaps everything at destroy. Bulk ops: a
// bulk of contiguous slots is one register call per ring, a refusal partway
// maps exactly the pages before it and leaks no slot. Misuse: an unmap that
// names no slot mapped now (twice, kDmaMappingError, never mapped, beyond
// the table, the wrong len) is reported and changes nothing: later maps
// still get every slot, each once.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <liburing.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <vector>

#include "ppool/io_uring_device.h"
#include "ppool/page_pool.h"
#include "support/log_capture.h"
#include "support/pool_fixtures.h"

namespace {

class IoUringDeviceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int ret = io_uring_queue_init(8, &ring_, 0);
    if (ret < 0) GTEST_SKIP() << "io_uring unavailable here: " << std::strerror(-ret);
    ready_ = true;
    ASSERT_EQ(io_uring_queue_init(8, &ring2_, 0), 0);
    ready2_ = true;
    fd_ = memfd_create("ppool-io-uring-test", 0);
    ASSERT_GE(fd_, 0);
  }
  void TearDown() override {
    if (fd_ >= 0) close(fd_);
    if (ready2_) io_uring_queue_exit(&ring2_);
    if (ready_) io_uring_queue_exit(&ring_);
  }
  // A fixed-buffer write of len bytes from buf (registered at slot in ring)
  // to the memfd; returns the completion's result.
  int write_fixed(const void* buf, unsigned len, unsigned slot, io_uring* ring = nullptr) {
    if (!ring) ring = &ring_;
    io_uring_sqe* sqe = io_uring_get_sqe(ring);
    io_uring_prep_write_fixed(sqe, fd_, buf, len, 0, static_cast<int>(slot));
    io_uring_submit(ring);
    io_uring_cqe* cqe = nullptr;
    io_uring_wait_cqe(ring, &cqe);
    int res = cqe->res;
    io_uring_cqe_seen(ring, cqe);
    return res;
  }
  // A fixed write of 4 bytes from page i of pages at its slot, in both rings.
  template <class Pages>
  void expect_registered(const Pages& pages, std::size_t i) {
    const unsigned slot = static_cast<unsigned>(pages.out[i]);
    EXPECT_EQ(write_fixed(pages.addrs[i], 4, slot, &ring_), 4) << "page " << i;
    EXPECT_EQ(write_fixed(pages.addrs[i], 4, slot, &ring2_), 4) << "page " << i;
  }

  io_uring ring_{};
  io_uring ring2_{};  // a device may span rings: a second queue
  bool ready_ = false;
  bool ready2_ = false;
  int fd_ = -1;
};

// n pages of an allocator, with the arrays a bulk map takes; freed at the end.
struct BulkPages {
  BulkPages(ppool::PageAllocator& alloc, std::size_t n)
      : pages(n), addrs(n), lens(n, ppool::kPageSize), out(n, ppool::kDmaMappingError) {
    EXPECT_EQ(alloc.alloc_bulk(pages.data(), n), n);
    for (std::size_t i = 0; i < n; ++i) addrs[i] = ppool::page_address(pages[i]);
  }
  ~BulkPages() {
    for (ppool::Page* page : pages)
      if (page) ppool::put_page(page);
  }
  std::size_t map(ppool::DmaDevice& dev, std::size_t first, std::size_t n,
                  const char* caller = "t") {
    return dev.map_bulk(&addrs[first], &lens[first], &out[first], n,
                        ppool::DmaDirection::kBidirectional, caller);
  }
  void unmap(ppool::DmaDevice& dev, std::size_t first, std::size_t n) {
    dev.unmap_bulk(&out[first], &lens[first], n, ppool::DmaDirection::kBidirectional, "t");
  }

  std::vector<ppool::Page*> pages;
  std::vector<void*> addrs;
  std::vector<std::size_t> lens;
  std::vector<ppool::DmaAddr> out;
};

TEST_F(IoUringDeviceTest, MappedPageIsARegisteredBuffer) {
  io_uring* rings[] = {&ring_};
  auto dev = ppool::IoUringDmaDevice::create(rings, 4);
  ASSERT_TRUE(dev.ok()) << dev.error().message;
  const auto alloc_owner = ppool::PageAllocator::create({}).value();
  ppool::PageAllocator& alloc = *alloc_owner;
  ppool::Page* page = alloc.alloc(0);
  char* data = static_cast<char*>(ppool::page_address(page));
  std::strcpy(data, "fixed");
  ppool::DmaAddr slot =
      dev.value()->map(data, ppool::kPageSize, ppool::DmaDirection::kBidirectional, "t");
  ASSERT_NE(slot, ppool::kDmaMappingError);
  EXPECT_EQ(dev.value()->slots_in_use(), 1u);
  EXPECT_EQ(write_fixed(data, 6, static_cast<unsigned>(slot)), 6);
  char back[8] = {};
  ASSERT_EQ(pread(fd_, back, 6, 0), 6);
  EXPECT_STREQ(back, "fixed");
  dev.value()->unmap(slot, ppool::kPageSize, ppool::DmaDirection::kBidirectional, "t");
  EXPECT_LT(write_fixed(data, 6, static_cast<unsigned>(slot)), 0)
      << "an unmapped slot is no buffer";
  EXPECT_EQ(dev.value()->slots_in_use(), 0u);
  ppool::put_page(page);
}

TEST_F(IoUringDeviceTest, FullTableRefusesWithAReason) {
  io_uring* rings[] = {&ring_};
  auto dev = ppool::IoUringDmaDevice::create(rings, 2);
  ASSERT_TRUE(dev.ok());
  ppool::test::LogCapture logs;
  static char buf[3][4096] __attribute__((aligned(4096)));
  ppool::DmaAddr a = dev.value()->map(buf[0], 4096, ppool::DmaDirection::kFromDevice, "t");
  ppool::DmaAddr b = dev.value()->map(buf[1], 4096, ppool::DmaDirection::kFromDevice, "t");
  EXPECT_NE(a, b);
  EXPECT_EQ(dev.value()->map(buf[2], 4096, ppool::DmaDirection::kFromDevice, "pool-x"),
            ppool::kDmaMappingError);
  EXPECT_TRUE(logs.contains("all 2 slots in use (map for pool-x)"));
  dev.value()->unmap(a, 4096, ppool::DmaDirection::kFromDevice, "t");
  dev.value()->unmap(b, 4096, ppool::DmaDirection::kFromDevice, "t");
}

TEST_F(IoUringDeviceTest, PoolMapsOnItsSlowPathAndUnmapsAtDestroy) {
  io_uring* rings[] = {&ring_};
  auto dev = ppool::IoUringDmaDevice::create(rings, 256);
  ASSERT_TRUE(dev.ok());
  ppool::PagePoolParams params;
  params.name = "uring";
  params.flags = ppool::kDmaMap;
  params.dev = dev.value().get();
  params.dma_dir = ppool::DmaDirection::kBidirectional;
  ppool::PagePool* pool = ppool::PagePool::create(params).value();
  ppool::Page* page = pool->alloc_pages();
  ASSERT_NE(page, nullptr);
  EXPECT_EQ(dev.value()->slots_in_use(), ppool::kAllocCacheRefill);  // one bulk, mapped once
  char* data = static_cast<char*>(ppool::page_address(page));
  std::memcpy(data, "pool", 4);
  EXPECT_EQ(write_fixed(data, 4, static_cast<unsigned>(pool->get_dma_addr(page))), 4);
  for (int i = 0; i < 1000; ++i) {  // cycling costs no more registrations
    pool->recycle_direct(page);
    page = pool->alloc_pages();
  }
  EXPECT_EQ(dev.value()->slots_in_use(), ppool::kAllocCacheRefill);
  pool->recycle_direct(page);
  EXPECT_EQ(ppool::PagePool::destroy(pool), 0u);
  EXPECT_EQ(dev.value()->slots_in_use(), 0u);
}

TEST_F(IoUringDeviceTest, BulkIsOneRegisterCallPerRing) {
  io_uring* rings[] = {&ring_, &ring2_};
  auto created = ppool::IoUringDmaDevice::create(rings, 64);
  ASSERT_TRUE(created.ok()) << created.error().message;
  ppool::IoUringDmaDevice& dev = *created.value();
  const auto alloc_owner = ppool::PageAllocator::create({}).value();
  ppool::PageAllocator& alloc = *alloc_owner;
  BulkPages pages(alloc, 64);
  ASSERT_EQ(pages.map(dev, 0, 64), 64u);
  EXPECT_EQ(dev.register_calls(), 2u) << "64 pages registered one by one";
  EXPECT_EQ(dev.slots_in_use(), 64u);
  for (std::size_t i : {0, 1, 31, 63}) expect_registered(pages, i);

  // Unmapped in another order than mapped (as a pool's record holds them):
  // still one run, one call per ring, and the slots come back as one run.
  std::vector<ppool::DmaAddr> shuffled = pages.out;
  std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937(42));
  dev.unmap_bulk(shuffled.data(), pages.lens.data(), 64, ppool::DmaDirection::kBidirectional, "t");
  EXPECT_EQ(dev.register_calls(), 4u) << "slots cleared one by one";
  EXPECT_EQ(dev.slots_in_use(), 0u);
  EXPECT_LT(write_fixed(pages.addrs[0], 4, static_cast<unsigned>(pages.out[0])), 0)
      << "an unmapped slot is no buffer";
  EXPECT_LT(write_fixed(pages.addrs[63], 4, static_cast<unsigned>(pages.out[63]), &ring2_), 0)
      << "an unmapped slot is no buffer";
  ASSERT_EQ(pages.map(dev, 0, 64), 64u);
  EXPECT_EQ(dev.register_calls(), 6u) << "freed slots came back out of order";
  expect_registered(pages, 17);
  pages.unmap(dev, 0, 64);
  EXPECT_EQ(dev.slots_in_use(), 0u);
}

TEST_F(IoUringDeviceTest, BulkOnANearlyFullTableMapsWhatFits) {
  io_uring* rings[] = {&ring_, &ring2_};
  auto created = ppool::IoUringDmaDevice::create(rings, 16);
  ASSERT_TRUE(created.ok()) << created.error().message;
  ppool::IoUringDmaDevice& dev = *created.value();
  const auto alloc_owner = ppool::PageAllocator::create({}).value();
  ppool::PageAllocator& alloc = *alloc_owner;
  BulkPages pages(alloc, 20);
  ASSERT_EQ(pages.map(dev, 0, 12), 12u);
  ppool::test::LogCapture logs;
  const std::uint64_t calls = dev.register_calls();
  EXPECT_EQ(pages.map(dev, 12, 8, "pool-x"), 4u) << "only 4 slots were free";
  EXPECT_EQ(dev.register_calls() - calls, 2u) << "the 4 that fit: one run, one call per ring";
  EXPECT_EQ(dev.slots_in_use(), 16u);
  EXPECT_TRUE(logs.contains("all 16 slots in use (map for pool-x)"));
  expect_registered(pages, 15);
  pages.unmap(dev, 0, 16);
  EXPECT_EQ(dev.slots_in_use(), 0u);
  ASSERT_EQ(pages.map(dev, 4, 16), 16u) << "a slot leaked";
  pages.unmap(dev, 4, 16);
}

TEST_F(IoUringDeviceTest, BulkStopsAtThePageTheKernelRefuses) {
  io_uring* rings[] = {&ring_, &ring2_};
  auto created = ppool::IoUringDmaDevice::create(rings, 16);
  ASSERT_TRUE(created.ok()) << created.error().message;
  ppool::IoUringDmaDevice& dev = *created.value();
  const auto alloc_owner = ppool::PageAllocator::create({}).value();
  ppool::PageAllocator& alloc = *alloc_owner;
  BulkPages pages(alloc, 8);
  void* const page5 = pages.addrs[5];
  pages.addrs[5] = nullptr;  // no memory there: the kernel will not pin it
  ppool::test::LogCapture logs;
  EXPECT_EQ(pages.map(dev, 0, 8, "pool-x"), 5u);
  EXPECT_EQ(dev.slots_in_use(), 5u) << "a slot leaked";
  EXPECT_TRUE(logs.contains_all({"io_uring device: map of", "for pool-x", "Bad address"}))
      << testing::PrintToString(logs.messages());
  expect_registered(pages, 4);
  EXPECT_LT(write_fixed(page5, 4, 5, &ring_), 0) << "slot 5 kept a registration";
  EXPECT_LT(write_fixed(page5, 4, 5, &ring2_), 0) << "slot 5 kept a registration";

  // The slots of the pages not mapped are free again, in order: the rest of
  // the bulk is one run.
  pages.addrs[5] = page5;
  const std::uint64_t calls = dev.register_calls();
  ASSERT_EQ(pages.map(dev, 5, 3), 3u);
  EXPECT_EQ(dev.register_calls() - calls, 2u);
  EXPECT_EQ(pages.out[5], 5u);
  expect_registered(pages, 7);
  pages.unmap(dev, 0, 8);
  EXPECT_EQ(dev.slots_in_use(), 0u);
}

TEST_F(IoUringDeviceTest, PoolRefillIsOneRegisterCallPerRing) {
  io_uring* rings[] = {&ring_, &ring2_};
  auto created = ppool::IoUringDmaDevice::create(rings, 128);
  ASSERT_TRUE(created.ok()) << created.error().message;
  ppool::IoUringDmaDevice& dev = *created.value();
  ppool::PagePool* pool = ppool::test::make_pool("uring-bulk", &dev, ppool::kDmaMap);
  ASSERT_NE(pool, nullptr);
  std::vector<ppool::Page*> held;
  for (unsigned i = 0; i < ppool::kAllocCacheRefill; ++i) held.push_back(pool->alloc_pages());
  for (ppool::Page* page : held) ASSERT_NE(page, nullptr);
  EXPECT_EQ(dev.slots_in_use(), ppool::kAllocCacheRefill);
  EXPECT_EQ(dev.register_calls(), 2u) << "a refill registered page by page";
  char* data = static_cast<char*>(ppool::page_address(held.back()));
  const unsigned slot = static_cast<unsigned>(pool->get_dma_addr(held.back()));
  EXPECT_EQ(write_fixed(data, 4, slot, &ring2_), 4);

  // Destroy unmaps the pages in flight in one bulk: one call per ring.
  const std::size_t pending = ppool::pools_pending_release();
  EXPECT_EQ(ppool::PagePool::destroy(pool), held.size());
  EXPECT_EQ(dev.slots_in_use(), 0u);
  EXPECT_EQ(dev.register_calls(), 4u) << "destroy unmapped page by page";
  for (ppool::Page* page : held) pool->put_full_page(page, false);
  EXPECT_TRUE(ppool::test::wait_for([&] { return ppool::pools_pending_release() == pending; },
                                    std::chrono::milliseconds(5000)));
  EXPECT_EQ(dev.register_calls(), 4u);
}

TEST_F(IoUringDeviceTest, DestroyWithEveryPageHomeIsOneCallPerRing) {
  io_uring* rings[] = {&ring_, &ring2_};
  auto created = ppool::IoUringDmaDevice::create(rings, 128);
  ASSERT_TRUE(created.ok()) << created.error().message;
  ppool::IoUringDmaDevice& dev = *created.value();
  ppool::PagePool* pool = ppool::test::make_pool("uring-home", &dev, ppool::kDmaMap);
  ASSERT_NE(pool, nullptr);
  ppool::Page* pages[ppool::kAllocCacheRefill];
  ASSERT_EQ(pool->alloc_pages_bulk(pages, ppool::kAllocCacheRefill), ppool::kAllocCacheRefill);
  ppool::put_page_bulk(pages, ppool::kAllocCacheRefill / 2);  // into the cache
  ppool::test::on_other_thread([&] {                          // into the ring
    ppool::put_page_bulk(pages + ppool::kAllocCacheRefill / 2, ppool::kAllocCacheRefill / 2);
  });
  EXPECT_EQ(dev.register_calls(), 2u);
  EXPECT_EQ(ppool::PagePool::destroy(pool), 0u);
  EXPECT_EQ(dev.slots_in_use(), 0u);
  EXPECT_EQ(dev.register_calls(), 4u)
      << "destroy unmapped the cache's and the ring's pages one by one";
}

// The slots of pages `held` are distinct: no two pages share a registered
// buffer (expect_registered() then shows each slot holds its own page).
template <class Pages>
void expect_distinct_slots(Pages& pages, const std::vector<std::size_t>& held) {
  std::vector<ppool::DmaAddr> seen;
  for (std::size_t i : held) seen.push_back(pages.out[i]);
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(std::adjacent_find(seen.begin(), seen.end()), seen.end())
      << "two pages share a registered buffer: " << testing::PrintToString(seen);
}

TEST_F(IoUringDeviceTest, DoubleUnmapIsReportedAndChangesNothing) {
  io_uring* rings[] = {&ring_, &ring2_};
  auto created = ppool::IoUringDmaDevice::create(rings, 8);
  ASSERT_TRUE(created.ok()) << created.error().message;
  ppool::IoUringDmaDevice& dev = *created.value();
  const auto alloc_owner = ppool::PageAllocator::create({}).value();
  ppool::PageAllocator& alloc = *alloc_owner;
  BulkPages pages(alloc, 9);
  ASSERT_EQ(pages.map(dev, 0, 1), 1u);
  ASSERT_EQ(pages.map(dev, 1, 1), 1u);
  dev.unmap(pages.out[0], ppool::kPageSize, ppool::DmaDirection::kBidirectional, "pool-x");

  ppool::test::LogCapture logs;
  const std::uint64_t misuses = ppool::misuse_count();
  const std::uint64_t calls = dev.register_calls();
  dev.unmap(pages.out[0], ppool::kPageSize, ppool::DmaDirection::kBidirectional, "pool-x");
  EXPECT_EQ(ppool::misuse_count(), misuses + 1);
  EXPECT_TRUE(logs.contains_all(
      {"io_uring device: unmap of DMA address 0x0, len 4096 (pool-x)", "double unmap"}))
      << testing::PrintToString(logs.messages());
  EXPECT_EQ(dev.slots_in_use(), 1u);
  EXPECT_EQ(dev.register_calls(), calls) << "a refused unmap reached the kernel";
  expect_registered(pages, 1);

  // The 7 free slots, and no more: each page gets its own.
  for (std::size_t i = 2; i < 9; ++i) ASSERT_EQ(pages.map(dev, i, 1), 1u) << "page " << i;
  EXPECT_EQ(dev.slots_in_use(), 8u);
  expect_distinct_slots(pages, {1, 2, 3, 4, 5, 6, 7, 8});
  for (std::size_t i = 1; i < 9; ++i) expect_registered(pages, i);
  EXPECT_EQ(pages.map(dev, 0, 1, "pool-y"), 0u) << "a slot was handed out twice";
  EXPECT_TRUE(logs.contains("all 8 slots in use (map for pool-y)"));
  pages.unmap(dev, 1, 8);
  EXPECT_EQ(dev.slots_in_use(), 0u);
  EXPECT_EQ(ppool::misuse_count(), misuses + 1);
}

TEST_F(IoUringDeviceTest, UnmapOfNoMappedSlotIsReportedAndHarmless) {
  io_uring* rings[] = {&ring_, &ring2_};
  auto created = ppool::IoUringDmaDevice::create(rings, 4);
  ASSERT_TRUE(created.ok()) << created.error().message;
  ppool::IoUringDmaDevice& dev = *created.value();
  const auto alloc_owner = ppool::PageAllocator::create({}).value();
  ppool::PageAllocator& alloc = *alloc_owner;
  BulkPages pages(alloc, 4);
  ASSERT_EQ(pages.map(dev, 0, 1), 1u);  // slot 0, mapped with kPageSize

  ppool::test::LogCapture logs;
  const std::uint64_t misuses = ppool::misuse_count();
  const std::uint64_t calls = dev.register_calls();
  const auto dir = ppool::DmaDirection::kBidirectional;
  dev.unmap(ppool::kDmaMappingError, ppool::kPageSize, dir, "pool-x");
  dev.unmap(2, ppool::kPageSize, dir, "pool-x");
  dev.unmap(4, ppool::kPageSize, dir, "pool-x");
  dev.unmap(pages.out[0], ppool::kPageSize / 2, dir, "pool-x");
  EXPECT_EQ(ppool::misuse_count(), misuses + 4);
  for (const char* report :
       {"unmap of DMA address 0xffffffffffffffff, len 4096 (pool-x) refused: kDmaMappingError",
        "unmap of DMA address 0x2, len 4096 (pool-x) refused: the slot was never mapped",
        "unmap of DMA address 0x4, len 4096 (pool-x) refused: the device has 4 slots",
        "unmap of DMA address 0x0, len 2048 (pool-x) refused: the slot is mapped with len 4096"})
    EXPECT_TRUE(logs.contains(report)) << report << testing::PrintToString(logs.messages());
  EXPECT_EQ(dev.register_calls(), calls) << "a refused unmap reached the kernel";
  EXPECT_EQ(dev.slots_in_use(), 1u);
  expect_registered(pages, 0);  // the wrong len left the mapping in place

  ASSERT_EQ(pages.map(dev, 1, 3), 3u) << "a bad unmap disabled the device";
  EXPECT_EQ(dev.slots_in_use(), 4u);
  expect_distinct_slots(pages, {0, 1, 2, 3});
  for (std::size_t i = 0; i < 4; ++i) expect_registered(pages, i);
  pages.unmap(dev, 0, 4);
  EXPECT_EQ(dev.slots_in_use(), 0u);
  EXPECT_EQ(ppool::misuse_count(), misuses + 4);
}

TEST_F(IoUringDeviceTest, BulkUnmapWithABadEntryUnmapsTheGoodOnes) {
  io_uring* rings[] = {&ring_, &ring2_};
  auto created = ppool::IoUringDmaDevice::create(rings, 8);
  ASSERT_TRUE(created.ok()) << created.error().message;
  ppool::IoUringDmaDevice& dev = *created.value();
  const auto alloc_owner = ppool::PageAllocator::create({}).value();
  ppool::PageAllocator& alloc = *alloc_owner;
  BulkPages pages(alloc, 14);
  ASSERT_EQ(pages.map(dev, 0, 6), 6u);  // slots 0-5
  const auto dir = ppool::DmaDirection::kBidirectional;
  dev.unmap(pages.out[2], ppool::kPageSize, dir, "pool-x");

  ppool::test::LogCapture logs;
  const std::uint64_t misuses = ppool::misuse_count();
  const std::uint64_t calls = dev.register_calls();
  // Page 2's slot again, among good ones.
  const ppool::DmaAddr bulk[] = {pages.out[3], pages.out[0], pages.out[2], pages.out[4],
                                 pages.out[1]};
  dev.unmap_bulk(bulk, pages.lens.data(), 5, dir, "pool-x");
  EXPECT_EQ(ppool::misuse_count(), misuses + 1);
  EXPECT_TRUE(logs.contains_all({"unmap of DMA address 0x2, len 4096 (pool-x)", "double unmap"}))
      << testing::PrintToString(logs.messages());
  EXPECT_EQ(dev.slots_in_use(), 1u) << "only page 5 is mapped";
  EXPECT_EQ(dev.register_calls() - calls, 4u) << "slots 0-1 and 3-4: two runs, two rings";
  for (std::size_t i : {0, 1, 3, 4})
    EXPECT_LT(write_fixed(pages.addrs[i], 4, static_cast<unsigned>(pages.out[i])), 0)
        << "page " << i << " is still registered";
  expect_registered(pages, 5);

  // A slot named twice in one bulk: unmapped once, the second refused.
  const ppool::DmaAddr twice[] = {pages.out[5], pages.out[5]};
  dev.unmap_bulk(twice, pages.lens.data(), 2, dir, "pool-x");
  EXPECT_EQ(ppool::misuse_count(), misuses + 2);
  EXPECT_TRUE(
      logs.contains("unmap of DMA address 0x5, len 4096 (pool-x) refused: the slot is "
                    "being mapped or unmapped"))
      << testing::PrintToString(logs.messages());
  EXPECT_EQ(dev.slots_in_use(), 0u);

  // Every slot once, and then the table is full.
  ASSERT_EQ(pages.map(dev, 6, 8), 8u);
  EXPECT_EQ(dev.slots_in_use(), 8u);
  expect_distinct_slots(pages, {6, 7, 8, 9, 10, 11, 12, 13});
  for (std::size_t i = 6; i < 14; ++i) expect_registered(pages, i);
  EXPECT_EQ(pages.map(dev, 0, 1), 0u) << "a slot was handed out twice";
  pages.unmap(dev, 6, 8);
  EXPECT_EQ(dev.slots_in_use(), 0u);
}

TEST(IoUringDevice, NeedsRingsAndSlots) {
  auto dev = ppool::IoUringDmaDevice::create({}, 4);
  ASSERT_FALSE(dev.ok());
  EXPECT_NE(dev.error().message.find("at least one ring"), std::string::npos);
}

}  // namespace
