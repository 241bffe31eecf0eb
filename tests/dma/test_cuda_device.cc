// The CUDA DMA device on a real GPU: a mapped page has a device address the
// GPU can copy from, a pool over the device maps on its slow path and
// unmaps everything at destroy, and data staged in a pool page arrives on
// the GPU. Where there is no GPU every GPU test skips with create()'s reason,
// and one test checks that reason names the missing driver.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "dma/cuda_driver.h"
#include "ppool/cuda_device.h"
#include "ppool/page_pool.h"
#include "support/log_capture.h"

namespace {

using ppool::detail::CUdeviceptr;
using ppool::detail::kCudaSuccess;

constexpr unsigned kOrder = 9;  // 2 MiB: the staging size of ppool-h2d
constexpr std::size_t kBytes = ppool::kPageSize << kOrder;

class CudaDeviceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dev = ppool::CudaDmaDevice::create();
    if (!dev) GTEST_SKIP() << "no GPU here: " << dev.error().message;
    dev_ = std::move(dev.value());
    driver_ = ppool::detail::cuda_driver().value();
    const ppool::Result<void> current = dev_->make_current();
    ASSERT_TRUE(current) << current.error().message;
    ASSERT_EQ(driver_->mem_alloc(&gpu_, kBytes), kCudaSuccess);
  }
  void TearDown() override {
    if (gpu_) driver_->mem_free(gpu_);
  }

  // A pattern that differs per byte and per call.
  static void fill(void* data, std::size_t len, unsigned seed) {
    auto* bytes = static_cast<unsigned char*>(data);
    for (std::size_t i = 0; i < len; ++i) bytes[i] = static_cast<unsigned char>(i * 31 + seed);
  }
  // The first len bytes of the GPU buffer, copied back.
  std::vector<unsigned char> gpu_bytes(std::size_t len) {
    std::vector<unsigned char> back(len);
    EXPECT_EQ(driver_->memcpy_dtoh(back.data(), gpu_, len), kCudaSuccess);
    return back;
  }

  std::unique_ptr<ppool::CudaDmaDevice> dev_;
  const ppool::detail::CudaDriver* driver_ = nullptr;
  CUdeviceptr gpu_ = 0;
};

TEST(CudaDevice, CreateWithoutDriverNamesLibcuda) {
  if (ppool::detail::cuda_driver())
    GTEST_SKIP() << "an NVIDIA driver is present here: the no-driver error cannot be seen";
  auto dev = ppool::CudaDmaDevice::create();
  ASSERT_FALSE(dev.ok());
  EXPECT_EQ(dev.error().code, ppool::Errc::kUnsupported);
  const std::string& why = dev.error().message;
  // Either no driver at all, or a driver that cannot start (no GPU): the
  // message must say which, and name the library when it is missing.
  if (why.find("no NVIDIA driver") != std::string::npos)
    EXPECT_NE(why.find("libcuda.so.1"), std::string::npos) << why;
  else
    EXPECT_NE(why.find("cuInit"), std::string::npos) << why;
}

TEST_F(CudaDeviceTest, BadOrdinalIsRefused) {
  auto dev = ppool::CudaDmaDevice::create(1 << 20);
  ASSERT_FALSE(dev.ok());
  EXPECT_EQ(dev.error().code, ppool::Errc::kInvalidArgument);
  EXPECT_NE(dev.error().message.find("out of range"), std::string::npos) << dev.error().message;
}

TEST_F(CudaDeviceTest, MappedPageHasADeviceAddress) {
  const auto alloc_owner = ppool::PageAllocator::create({}).value();
  ppool::PageAllocator& alloc = *alloc_owner;
  ppool::Page* page = alloc.alloc(kOrder);
  ASSERT_NE(page, nullptr);
  void* data = ppool::page_address(page);
  fill(data, kBytes, 1);
  ppool::DmaAddr dma = dev_->map(data, kBytes, ppool::DmaDirection::kToDevice, "t");
  ASSERT_NE(dma, ppool::kDmaMappingError);
  EXPECT_EQ(dev_->live_mappings(), 1u);
  // The GPU reads the page through its DMA address: a device-to-device copy
  // from it is a copy from host memory over the bus.
  ASSERT_EQ(driver_->memcpy_dtod(gpu_, dma, kBytes), kCudaSuccess);
  EXPECT_EQ(std::memcmp(gpu_bytes(kBytes).data(), data, kBytes), 0);
  dev_->unmap(dma, kBytes, ppool::DmaDirection::kToDevice, "t");
  EXPECT_EQ(dev_->live_mappings(), 0u);
  ppool::put_page(page);
}

TEST_F(CudaDeviceTest, UnknownUnmapIsReported) {
  ppool::test::LogCapture logs;
  dev_->unmap(0x1000, kBytes, ppool::DmaDirection::kToDevice, "pool-x");
  EXPECT_TRUE(logs.contains("not a mapping of this device"));
  EXPECT_TRUE(logs.contains("pool-x"));
}

TEST_F(CudaDeviceTest, PoolStagesPagesToTheGpuAndUnmapsAtDestroy) {
  ppool::PagePoolParams params;
  params.name = "cuda";
  params.order = kOrder;
  params.pool_size = 64;
  params.flags = ppool::kDmaMap;
  params.dev = dev_.get();
  params.dma_dir = ppool::DmaDirection::kBidirectional;  // a pool maps FROM_DEVICE or both
  ppool::PagePool* pool = ppool::PagePool::create(params).value();
  ppool::Page* page = pool->alloc_pages();
  ASSERT_NE(page, nullptr);
  EXPECT_EQ(dev_->live_mappings(), 1u);  // one compound page, registered once
  for (unsigned round = 0; round < 3; ++round) {
    void* data = ppool::page_address(page);
    fill(data, kBytes, round);
    ASSERT_EQ(driver_->memcpy_htod(gpu_, data, kBytes), kCudaSuccess);
    EXPECT_EQ(std::memcmp(gpu_bytes(kBytes).data(), data, kBytes), 0) << "round " << round;
    pool->put_full_page(page, false);  // through the ring, as a completion thread does
    page = pool->alloc_pages();
    ASSERT_NE(page, nullptr);
  }
  EXPECT_EQ(dev_->live_mappings(), 1u) << "a recycled page is not registered again";
  EXPECT_EQ(pool->stats().alloc.slow_high_order, 1u);
  pool->recycle_direct(page);
  EXPECT_EQ(ppool::PagePool::destroy(pool), 0u);
  EXPECT_EQ(dev_->live_mappings(), 0u);
}

}  // namespace
