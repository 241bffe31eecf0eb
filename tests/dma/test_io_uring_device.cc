// The io_uring fixed-buffer DMA device on a real ring: a mapped page is a
// real registered buffer (a fixed write from it works), an unmapped slot is
// not, the table's limits are reported, and a pool over the device maps on
// its slow path and unmaps everything at destroy.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <liburing.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

#include "ppool/io_uring_device.h"
#include "ppool/page_pool.h"
#include "support/log_capture.h"

namespace {

class IoUringDeviceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int ret = io_uring_queue_init(8, &ring_, 0);
    if (ret < 0) GTEST_SKIP() << "io_uring unavailable here: " << std::strerror(-ret);
    ready_ = true;
    fd_ = memfd_create("ppool-io-uring-test", 0);
    ASSERT_GE(fd_, 0);
  }
  void TearDown() override {
    if (fd_ >= 0) close(fd_);
    if (ready_) io_uring_queue_exit(&ring_);
  }
  // A fixed-buffer write of len bytes from buf (registered at slot) to the
  // memfd; returns the completion's result.
  int write_fixed(const void* buf, unsigned len, unsigned slot) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    io_uring_prep_write_fixed(sqe, fd_, buf, len, 0, static_cast<int>(slot));
    io_uring_submit(&ring_);
    io_uring_cqe* cqe = nullptr;
    io_uring_wait_cqe(&ring_, &cqe);
    int res = cqe->res;
    io_uring_cqe_seen(&ring_, cqe);
    return res;
  }

  io_uring ring_{};
  bool ready_ = false;
  int fd_ = -1;
};

TEST_F(IoUringDeviceTest, MappedPageIsARegisteredBuffer) {
  io_uring* rings[] = {&ring_};
  auto dev = ppool::IoUringDmaDevice::create(rings, 4);
  ASSERT_TRUE(dev.ok()) << dev.error().message;
  ppool::PageAllocator alloc;
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

TEST(IoUringDevice, NeedsRingsAndSlots) {
  auto dev = ppool::IoUringDmaDevice::create({}, 4);
  ASSERT_FALSE(dev.ok());
  EXPECT_NE(dev.error().message.find("at least one ring"), std::string::npos);
}

}  // namespace
