// DebugDmaDevice: every kind of finding is detected, counted and logged with
// the DMA address and the caller; correct use produces none.
#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "ppool/base.h"
#include "ppool/dma.h"
#include "support/log_capture.h"

namespace ppool {
namespace {

std::string hex(DmaAddr addr) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(addr));
  return buf;
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// An inner device that counts what reaches it, to check what the checker
// forwards and what it keeps from a real device.
class CountingDevice final : public DmaDevice {
 public:
  std::string_view name() const override { return "counting"; }
  DmaAddr map(void* addr, std::size_t, DmaDirection, std::string_view) override {
    ++maps;
    return fail_maps ? kDmaMappingError : reinterpret_cast<DmaAddr>(addr);
  }
  void unmap(DmaAddr, std::size_t len, DmaDirection dir, std::string_view) override {
    ++unmaps;
    last_len = len;
    last_dir = dir;
  }
  void sync_for_device(DmaAddr, std::size_t, std::size_t, DmaDirection, std::string_view) override {
    ++syncs;
  }
  void sync_for_cpu(DmaAddr, std::size_t, std::size_t, DmaDirection, std::string_view) override {
    ++syncs;
  }
  bool needs_sync() const override { return true; }

  bool fail_maps = false;
  int maps = 0, unmaps = 0, syncs = 0;
  std::size_t last_len = 0;
  DmaDirection last_dir = DmaDirection::kNone;
};

class DebugDmaTest : public ::testing::Test {
 protected:
  // Expects exactly one new finding, naming the address and the caller.
  void expect_one_finding(const DebugDmaDevice& dev, DmaAddr addr, const std::string& caller,
                          const std::string& what) {
    EXPECT_EQ(dev.error_count(), 1u);
    auto l = capture_.entries();
    ASSERT_EQ(l.size(), 1u);
    const std::string& m = l[0].message;
    EXPECT_TRUE(m.starts_with("dma-debug: ")) << m;
    EXPECT_TRUE(contains(m, what)) << m;
    EXPECT_TRUE(contains(m, hex(addr))) << m;
    EXPECT_TRUE(contains(m, caller)) << m;
    EXPECT_EQ(l[0].level, LogLevel::kError);
  }

  std::vector<std::string> logs() const { return capture_.messages(); }

  test::LogCapture capture_;

  IdentityDmaDevice identity_;
  std::vector<char> buf_ = std::vector<char>(3 * kPageSize);
  void* page_ = buf_.data();
  std::size_t len_ = kPageSize;
};

TEST(DmaDirectionTest, NamesMatchTheKernel) {
  EXPECT_STREQ(to_string(DmaDirection::kBidirectional), "BIDIRECTIONAL");
  EXPECT_STREQ(to_string(DmaDirection::kToDevice), "TO_DEVICE");
  EXPECT_STREQ(to_string(DmaDirection::kFromDevice), "FROM_DEVICE");
  EXPECT_STREQ(to_string(DmaDirection::kNone), "NONE");
}

TEST(IdentityDmaTest, ReturnsTheVirtualAddress) {
  IdentityDmaDevice dev;
  std::vector<char> buf(64);
  EXPECT_EQ(dev.map(buf.data(), buf.size(), DmaDirection::kFromDevice, "p"),
            reinterpret_cast<DmaAddr>(buf.data()));
  EXPECT_FALSE(dev.needs_sync());
  EXPECT_EQ(dev.name(), "identity");
}

TEST_F(DebugDmaTest, CleanCycleHasNoFindings) {
  DebugDmaDevice dev(identity_);
  EXPECT_TRUE(dev.needs_sync());
  for (int round = 0; round < 3; ++round) {
    DmaAddr dma = dev.map(page_, len_, DmaDirection::kFromDevice, "pool-a");
    EXPECT_EQ(dma, reinterpret_cast<DmaAddr>(page_));
    EXPECT_EQ(dev.live_mappings(), 1u);
    EXPECT_EQ(dev.live_mappings("pool-a"), 1u);
    EXPECT_EQ(dev.live_mappings("pool-b"), 0u);
    dev.sync_for_device(dma, 0, len_, DmaDirection::kFromDevice, "pool-a");
    dev.sync_for_cpu(dma, 256, 1500, DmaDirection::kFromDevice, "pool-a");
    dev.sync_for_cpu(dma, len_ - 1, 1, DmaDirection::kFromDevice, "pool-a");
    dev.sync_for_cpu(dma, 0, 0, DmaDirection::kFromDevice, "pool-a");
    dev.unmap(dma, len_, DmaDirection::kFromDevice, "pool-a");
  }
  EXPECT_EQ(dev.live_mappings(), 0u);
  EXPECT_EQ(dev.close(), 0u);
  EXPECT_EQ(dev.error_count(), 0u);
  EXPECT_TRUE(logs().empty());
}

TEST_F(DebugDmaTest, AdjacentMappingsDoNotOverlap) {
  DebugDmaDevice dev(identity_);
  char* p = buf_.data();
  DmaAddr a = dev.map(p, kPageSize, DmaDirection::kToDevice, "pool-a");
  DmaAddr b = dev.map(p + kPageSize, kPageSize, DmaDirection::kFromDevice, "pool-a");
  DmaAddr c = dev.map(p + 2 * kPageSize, kPageSize, DmaDirection::kBidirectional, "pool-a");
  dev.sync_for_device(b, 0, kPageSize, DmaDirection::kFromDevice, "pool-a");
  dev.unmap(b, kPageSize, DmaDirection::kFromDevice, "pool-a");
  dev.unmap(a, kPageSize, DmaDirection::kToDevice, "pool-a");
  dev.unmap(c, kPageSize, DmaDirection::kBidirectional, "pool-a");
  EXPECT_EQ(dev.error_count(), 0u);
  EXPECT_TRUE(logs().empty());
}

TEST_F(DebugDmaTest, BidirectionalMappingAcceptsEverySyncDirection) {
  DebugDmaDevice dev(identity_);
  DmaAddr dma = dev.map(page_, len_, DmaDirection::kBidirectional, "pool-a");
  for (DmaDirection d :
       {DmaDirection::kBidirectional, DmaDirection::kToDevice, DmaDirection::kFromDevice}) {
    dev.sync_for_device(dma, 0, len_, d, "pool-a");
    dev.sync_for_cpu(dma, 0, len_, d, "pool-a");
  }
  dev.unmap(dma, len_, DmaDirection::kBidirectional, "pool-a");
  EXPECT_EQ(dev.error_count(), 0u);
}

TEST_F(DebugDmaTest, UnmapOfUnknownAddress) {
  CountingDevice inner;
  DebugDmaDevice dev(inner);
  DmaAddr bogus = reinterpret_cast<DmaAddr>(page_) + 0x40;
  dev.unmap(bogus, len_, DmaDirection::kFromDevice, "pool-unknown");
  expect_one_finding(dev, bogus, "(pool-unknown)", "unmap of unknown DMA address");
  EXPECT_EQ(inner.unmaps, 0) << "an unknown address must not reach the device";
}

TEST_F(DebugDmaTest, UnmapInsideAMappingNamesTheMapping) {
  DebugDmaDevice dev(identity_);
  DmaAddr dma = dev.map(page_, len_, DmaDirection::kFromDevice, "owner");
  dev.unmap(dma + 128, len_, DmaDirection::kFromDevice, "pool-b");
  expect_one_finding(dev, dma + 128, "pool-b", "unmap of unknown DMA address");
  EXPECT_TRUE(contains(logs()[0], hex(dma))) << logs()[0];
  EXPECT_TRUE(contains(logs()[0], "owner")) << logs()[0];
  EXPECT_EQ(dev.live_mappings(), 1u) << "the real mapping is untouched";
  dev.unmap(dma, len_, DmaDirection::kFromDevice, "owner");
}

TEST_F(DebugDmaTest, DoubleUnmap) {
  CountingDevice inner;
  DebugDmaDevice dev(inner);
  DmaAddr dma = dev.map(page_, len_, DmaDirection::kFromDevice, "pool-a");
  dev.unmap(dma, len_, DmaDirection::kFromDevice, "pool-a");
  EXPECT_EQ(dev.error_count(), 0u);
  dev.unmap(dma, len_, DmaDirection::kFromDevice, "pool-dbl");
  expect_one_finding(dev, dma, "pool-dbl", "double unmap");
  EXPECT_EQ(inner.unmaps, 1) << "the second unmap must not reach the device";
}

TEST_F(DebugDmaTest, DoubleUnmapAfterRemap) {
  DebugDmaDevice dev(identity_);
  for (int i = 0; i < 3; ++i) {
    DmaAddr dma = dev.map(page_, len_, DmaDirection::kFromDevice, "pool-a");
    dev.unmap(dma, len_, DmaDirection::kFromDevice, "pool-a");
  }
  EXPECT_EQ(dev.error_count(), 0u);
  dev.unmap(reinterpret_cast<DmaAddr>(page_), len_, DmaDirection::kFromDevice, "pool-a");
  expect_one_finding(dev, reinterpret_cast<DmaAddr>(page_), "pool-a", "double unmap");
}

TEST_F(DebugDmaTest, OldUnmapsAreForgottenButStillReported) {
  DebugDmaDevice dev(identity_);
  std::vector<char> many(8192);
  DmaAddr first = dev.map(page_, len_, DmaDirection::kFromDevice, "pool-a");
  dev.unmap(first, len_, DmaDirection::kFromDevice, "pool-a");
  // Push the first unmap out of the bounded memory of recent unmaps.
  for (std::size_t i = 0; i < many.size(); ++i) {
    DmaAddr d = dev.map(&many[i], 1, DmaDirection::kToDevice, "pool-a");
    dev.unmap(d, 1, DmaDirection::kToDevice, "pool-a");
  }
  EXPECT_EQ(dev.error_count(), 0u);
  dev.unmap(first, len_, DmaDirection::kFromDevice, "pool-a");
  expect_one_finding(dev, first, "pool-a", "unmap of unknown DMA address");
  // A recent one is still known as a double unmap.
  dev.unmap(reinterpret_cast<DmaAddr>(&many.back()), 1, DmaDirection::kToDevice, "pool-a");
  EXPECT_EQ(dev.error_count(), 2u);
  EXPECT_TRUE(contains(logs().back(), "double unmap")) << logs().back();
}

TEST_F(DebugDmaTest, UnmapWithAnotherLength) {
  CountingDevice inner;
  DebugDmaDevice dev(inner);
  DmaAddr dma = dev.map(page_, len_, DmaDirection::kFromDevice, "pool-len");
  dev.unmap(dma, len_ / 2, DmaDirection::kFromDevice, "pool-len");
  expect_one_finding(dev, dma, "pool-len", "len");
  EXPECT_TRUE(contains(logs()[0], std::to_string(len_ / 2))) << logs()[0];
  EXPECT_TRUE(contains(logs()[0], std::to_string(len_))) << logs()[0];
  // The mapping that exists is released, with its real length, and only once.
  EXPECT_EQ(inner.unmaps, 1);
  EXPECT_EQ(inner.last_len, len_);
  EXPECT_EQ(dev.live_mappings(), 0u);
  EXPECT_EQ(dev.close(), 0u);
}

TEST_F(DebugDmaTest, UnmapWithAnotherDirection) {
  CountingDevice inner;
  DebugDmaDevice dev(inner);
  DmaAddr dma = dev.map(page_, len_, DmaDirection::kFromDevice, "pool-dir");
  dev.unmap(dma, len_, DmaDirection::kToDevice, "pool-dir");
  expect_one_finding(dev, dma, "pool-dir", "direction TO_DEVICE");
  EXPECT_TRUE(contains(logs()[0], "FROM_DEVICE")) << logs()[0];
  EXPECT_EQ(inner.unmaps, 1);
  EXPECT_EQ(inner.last_dir, DmaDirection::kFromDevice);
  EXPECT_EQ(dev.live_mappings(), 0u);
}

TEST_F(DebugDmaTest, SyncPastTheEndOfAMapping) {
  CountingDevice inner;
  DebugDmaDevice dev(inner);
  DmaAddr dma = dev.map(page_, len_, DmaDirection::kFromDevice, "pool-a");
  dev.sync_for_device(dma, 100, len_, DmaDirection::kFromDevice, "pool-sync");
  expect_one_finding(dev, dma, "pool-sync", "sync_for_device outside a mapping");
  EXPECT_EQ(inner.syncs, 0) << "a sync outside a mapping must not reach the device";
  dev.unmap(dma, len_, DmaDirection::kFromDevice, "pool-a");
}

TEST_F(DebugDmaTest, SyncOfAnUnmappedAddress) {
  DebugDmaDevice dev(identity_);
  DmaAddr bogus = reinterpret_cast<DmaAddr>(page_);
  dev.sync_for_cpu(bogus, 0, 64, DmaDirection::kFromDevice, "pool-cpu");
  expect_one_finding(dev, bogus, "pool-cpu", "sync_for_cpu outside a mapping");
}

TEST_F(DebugDmaTest, SyncAfterUnmapSaysWhoUnmapped) {
  DebugDmaDevice dev(identity_);
  DmaAddr dma = dev.map(page_, len_, DmaDirection::kFromDevice, "pool-a");
  dev.unmap(dma, len_, DmaDirection::kFromDevice, "pool-unmapper");
  dev.sync_for_cpu(dma, 0, 64, DmaDirection::kFromDevice, "pool-late");
  expect_one_finding(dev, dma, "pool-late", "outside a mapping");
  EXPECT_TRUE(contains(logs()[0], "pool-unmapper")) << logs()[0];
}

TEST_F(DebugDmaTest, SyncWithWrappingOffsetIsReportedNotFatal) {
  DebugDmaDevice dev(identity_);
  DmaAddr dma = dev.map(page_, len_, DmaDirection::kFromDevice, "pool-a");
  dev.sync_for_cpu(dma, ~std::size_t{0}, 16, DmaDirection::kFromDevice, "pool-wrap");
  dev.sync_for_cpu(dma, 16, ~std::size_t{0}, DmaDirection::kFromDevice, "pool-wrap");
  EXPECT_EQ(dev.error_count(), 2u);
  for (const std::string& l : logs()) EXPECT_TRUE(contains(l, hex(dma))) << l;
  dev.unmap(dma, len_, DmaDirection::kFromDevice, "pool-a");
  EXPECT_EQ(dev.error_count(), 2u);
}

TEST_F(DebugDmaTest, SyncInADirectionTheMappingDoesNotAllow) {
  CountingDevice inner;
  DebugDmaDevice dev(inner);
  DmaAddr dma = dev.map(page_, len_, DmaDirection::kFromDevice, "pool-a");
  dev.sync_for_device(dma, 0, len_, DmaDirection::kToDevice, "pool-wrongdir");
  expect_one_finding(dev, dma, "pool-wrongdir", "direction TO_DEVICE");
  EXPECT_TRUE(contains(logs()[0], "FROM_DEVICE")) << logs()[0];
  EXPECT_EQ(inner.syncs, 0);
  dev.unmap(dma, len_, DmaDirection::kFromDevice, "pool-a");
}

TEST_F(DebugDmaTest, SyncWithDirectionNoneIsAlwaysWrong) {
  DebugDmaDevice dev(identity_);
  DmaAddr dma = dev.map(page_, len_, DmaDirection::kBidirectional, "pool-a");
  dev.sync_for_cpu(dma, 0, len_, DmaDirection::kNone, "pool-none");
  expect_one_finding(dev, dma, "pool-none", "direction NONE");
  dev.unmap(dma, len_, DmaDirection::kBidirectional, "pool-a");
}

TEST_F(DebugDmaTest, OverlappingMapIsReported) {
  DebugDmaDevice dev(identity_);
  char* p = buf_.data();
  DmaAddr dma = dev.map(p, len_, DmaDirection::kFromDevice, "pool-first");
  DmaAddr inner = dev.map(p + 100, 100, DmaDirection::kFromDevice, "pool-second");
  expect_one_finding(dev, inner, "pool-second", "overlaps");
  EXPECT_TRUE(contains(logs()[0], "pool-first")) << logs()[0];
  // A mapping that starts before and reaches into the live one overlaps too.
  std::vector<char> before(2 * kPageSize);
  DebugDmaDevice dev2(identity_);
  DmaAddr hi = dev2.map(&before[kPageSize], kPageSize, DmaDirection::kToDevice, "a");
  dev2.map(&before[kPageSize - 8], 16, DmaDirection::kToDevice, "b");
  EXPECT_EQ(dev2.error_count(), 1u);
  dev2.unmap(hi, kPageSize, DmaDirection::kToDevice, "a");
  EXPECT_EQ(dev.live_mappings(), 1u) << "the older mapping stays the record";
  dev.unmap(dma, len_, DmaDirection::kFromDevice, "pool-first");
  EXPECT_EQ(dev.live_mappings(), 0u);
}

TEST_F(DebugDmaTest, ZeroLengthMapIsReported) {
  DebugDmaDevice dev(identity_);
  DmaAddr dma = dev.map(page_, 0, DmaDirection::kFromDevice, "pool-zero");
  expect_one_finding(dev, dma, "pool-zero", "invalid len 0");
  EXPECT_EQ(dev.live_mappings(), 0u);
}

TEST_F(DebugDmaTest, RefusedMapIsNotRecorded) {
  CountingDevice inner;
  inner.fail_maps = true;
  DebugDmaDevice dev(inner);
  EXPECT_EQ(dev.map(page_, len_, DmaDirection::kFromDevice, "pool-a"), kDmaMappingError);
  EXPECT_EQ(dev.live_mappings(), 0u);
  EXPECT_EQ(dev.error_count(), 0u);
}

TEST_F(DebugDmaTest, CloseReportsEveryLiveMapping) {
  DebugDmaDevice dev(identity_);
  char* p = buf_.data();
  DmaAddr a = dev.map(p, kPageSize, DmaDirection::kFromDevice, "pool-leak");
  DmaAddr b = dev.map(p + kPageSize, 512, DmaDirection::kBidirectional, "pool-leak");
  DmaAddr c = dev.map(p + 2 * kPageSize, kPageSize, DmaDirection::kToDevice, "pool-ok");
  dev.unmap(c, kPageSize, DmaDirection::kToDevice, "pool-ok");
  EXPECT_EQ(dev.close(), 2u);
  EXPECT_EQ(dev.error_count(), 2u);
  auto l = logs();
  ASSERT_EQ(l.size(), 2u);
  for (const std::string& s : l) {
    EXPECT_TRUE(s.starts_with("dma-debug: mapping still live at close: DMA address ")) << s;
    EXPECT_TRUE(contains(s, "mapped by pool-leak")) << s;
  }
  EXPECT_TRUE(contains(l[0], hex(a)) && contains(l[0], "len 4096, dir FROM_DEVICE")) << l[0];
  EXPECT_TRUE(contains(l[1], hex(b)) && contains(l[1], "len 512, dir BIDIRECTIONAL")) << l[1];
  EXPECT_EQ(dev.live_mappings(), 0u);
  // Idempotent: nothing is reported twice.
  EXPECT_EQ(dev.close(), 0u);
  EXPECT_EQ(dev.error_count(), 2u);
  EXPECT_EQ(logs().size(), 2u);
}

TEST_F(DebugDmaTest, DestructorClosesAndReportsLeaks) {
  DmaAddr dma;
  {
    DebugDmaDevice dev(identity_);
    dma = dev.map(page_, len_, DmaDirection::kFromDevice, "pool-dtor");
  }
  auto l = logs();
  ASSERT_EQ(l.size(), 1u);
  EXPECT_TRUE(contains(l[0], "mapping still live at close")) << l[0];
  EXPECT_TRUE(contains(l[0], hex(dma)) && contains(l[0], "pool-dtor")) << l[0];
}

TEST_F(DebugDmaTest, DestructorAfterCloseReportsNothingMore) {
  {
    DebugDmaDevice dev(identity_);
    dev.map(page_, len_, DmaDirection::kFromDevice, "pool-a");
    EXPECT_EQ(dev.close(), 1u);
  }
  EXPECT_EQ(logs().size(), 1u);
}

TEST_F(DebugDmaTest, ManyThreadsCleanUseHasNoFindings) {
  DebugDmaDevice dev(identity_);
  constexpr int kThreads = 4;
  constexpr int kBuffers = 16;
  constexpr int kRounds = 500;
  constexpr std::size_t kLen = 2048;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&dev, t] {
      std::vector<char> mem(kBuffers * kLen);
      const std::string name = "pool-" + std::to_string(t);
      std::vector<DmaAddr> dma(kBuffers);
      for (int r = 0; r < kRounds; ++r) {
        for (int i = 0; i < kBuffers; ++i)
          dma[i] = dev.map(&mem[i * kLen], kLen, DmaDirection::kFromDevice, name);
        for (int i = 0; i < kBuffers; ++i) {
          dev.sync_for_device(dma[i], 0, kLen, DmaDirection::kFromDevice, name);
          dev.sync_for_cpu(dma[i], 64, 1000, DmaDirection::kFromDevice, name);
        }
        for (int i = 0; i < kBuffers; ++i) dev.unmap(dma[i], kLen, DmaDirection::kFromDevice, name);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(dev.error_count(), 0u);
  EXPECT_EQ(dev.live_mappings(), 0u);
  EXPECT_EQ(dev.close(), 0u);
  EXPECT_TRUE(logs().empty());
}

}  // namespace
}  // namespace ppool
