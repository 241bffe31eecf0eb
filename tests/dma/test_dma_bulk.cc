// The DMA ops table's bulk ops: DmaDevice's default loops stop at
// the first refusal and say how many they mapped; coherent devices get their
// no-op syncs from CoherentDmaDevice; the identity device maps a bulk in one
// call; DebugDmaDevice finds in a bulk what it finds in single calls and
// hands the bulk to its inner device as a bulk.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "ppool/base.h"
#include "ppool/dma.h"
#include "support/log_capture.h"

namespace ppool {
namespace {

// Identity mappings, refusing the refuse_at-th map asked for (0: none), and
// a record of what reached it. Its bulk ops are DmaDevice's, counted.
class RecordingDevice final : public DmaDevice {
 public:
  struct Unmapped {
    DmaAddr addr;
    std::size_t len;
    DmaDirection dir;
    bool operator==(const Unmapped&) const = default;
  };

  std::string_view name() const override { return "recording"; }
  DmaAddr map(void* addr, std::size_t, DmaDirection, std::string_view) override {
    return ++maps == refuse_at ? kDmaMappingError : reinterpret_cast<DmaAddr>(addr);
  }
  void unmap(DmaAddr addr, std::size_t len, DmaDirection dir, std::string_view) override {
    unmapped.push_back({addr, len, dir});
  }
  std::size_t map_bulk(void* const* addrs, const std::size_t* lens, DmaAddr* out, std::size_t n,
                       DmaDirection dir, std::string_view caller) override {
    ++map_bulks;
    return DmaDevice::map_bulk(addrs, lens, out, n, dir, caller);
  }
  void unmap_bulk(const DmaAddr* addrs, const std::size_t* lens, std::size_t n, DmaDirection dir,
                  std::string_view caller) override {
    ++unmap_bulks;
    DmaDevice::unmap_bulk(addrs, lens, n, dir, caller);
  }
  void sync_for_device(DmaAddr, std::size_t, std::size_t, DmaDirection, std::string_view) override {
  }
  void sync_for_cpu(DmaAddr, std::size_t, std::size_t, DmaDirection, std::string_view) override {}
  bool needs_sync() const override { return true; }

  int refuse_at = 0;
  int maps = 0;
  int map_bulks = 0;
  int unmap_bulks = 0;
  std::vector<Unmapped> unmapped;
};

// A bulk of n entries of buf, entry i at i * stride with length len + i
// (distinct lengths, so a mix-up shows).
struct Bulk {
  Bulk(std::vector<char>& buf, std::size_t n, std::size_t stride, std::size_t len)
      : addrs(n), lens(n), out(n, kDmaMappingError) {
    for (std::size_t i = 0; i < n; ++i) {
      addrs[i] = buf.data() + i * stride;
      lens[i] = len + i;
    }
  }
  DmaAddr addr(std::size_t i) const { return reinterpret_cast<DmaAddr>(addrs[i]); }

  std::vector<void*> addrs;
  std::vector<std::size_t> lens;
  std::vector<DmaAddr> out;
};

TEST(DmaBulkDefault, MapStopsAtTheFirstRefusal) {
  std::vector<char> buf(8 * 64);
  RecordingDevice dev;
  DmaDevice& ops = dev;
  Bulk bulk(buf, 8, 64, 16);
  dev.refuse_at = 5;
  EXPECT_EQ(ops.map_bulk(bulk.addrs.data(), bulk.lens.data(), bulk.out.data(), 8,
                         DmaDirection::kFromDevice, "p"),
            4u);
  EXPECT_EQ(dev.maps, 5) << "the bulk asked for pages after a refusal";
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(bulk.out[i], bulk.addr(i));

  dev.maps = 0;
  dev.refuse_at = 1;
  EXPECT_EQ(ops.map_bulk(bulk.addrs.data(), bulk.lens.data(), bulk.out.data(), 8,
                         DmaDirection::kFromDevice, "p"),
            0u);
  EXPECT_EQ(dev.maps, 1);

  dev.maps = 0;
  dev.refuse_at = 0;
  EXPECT_EQ(ops.map_bulk(bulk.addrs.data(), bulk.lens.data(), bulk.out.data(), 8,
                         DmaDirection::kFromDevice, "p"),
            8u);
  EXPECT_EQ(dev.maps, 8);
  EXPECT_EQ(bulk.out[7], bulk.addr(7));
}

TEST(DmaBulkDefault, UnmapIsEveryEntryInOrderWithItsLength) {
  std::vector<char> buf(3 * 64);
  RecordingDevice dev;
  Bulk bulk(buf, 3, 64, 16);
  const DmaAddr addrs[] = {bulk.addr(2), bulk.addr(0), bulk.addr(1)};
  const std::size_t lens[] = {18, 16, 17};
  dev.unmap_bulk(addrs, lens, 3, DmaDirection::kToDevice, "p");
  const std::vector<RecordingDevice::Unmapped> want = {{bulk.addr(2), 18, DmaDirection::kToDevice},
                                                       {bulk.addr(0), 16, DmaDirection::kToDevice},
                                                       {bulk.addr(1), 17, DmaDirection::kToDevice}};
  EXPECT_EQ(dev.unmapped, want);
}

// Only name, map and unmap: the syncs come from CoherentDmaDevice.
class MinimalCoherentDevice final : public CoherentDmaDevice {
 public:
  std::string_view name() const override { return "minimal"; }
  DmaAddr map(void* addr, std::size_t, DmaDirection, std::string_view) override {
    return reinterpret_cast<DmaAddr>(addr);
  }
  void unmap(DmaAddr, std::size_t, DmaDirection, std::string_view) override {}
};

TEST(CoherentDmaDevice, SyncsAreNoOpsAndNotNeeded) {
  static_assert(std::is_base_of_v<CoherentDmaDevice, IdentityDmaDevice>);
  MinimalCoherentDevice dev;
  DmaDevice& ops = dev;
  EXPECT_FALSE(ops.needs_sync());
  ops.sync_for_device(0, 0, 64, DmaDirection::kFromDevice, "p");
  ops.sync_for_cpu(0, 0, 64, DmaDirection::kFromDevice, "p");
}

TEST(IdentityDmaBulk, MapsEveryEntryToItsAddress) {
  std::vector<char> buf(4 * 64);
  IdentityDmaDevice identity;
  DmaDevice& ops = identity;
  Bulk bulk(buf, 4, 64, 32);
  EXPECT_EQ(ops.map_bulk(bulk.addrs.data(), bulk.lens.data(), bulk.out.data(), 4,
                         DmaDirection::kBidirectional, "p"),
            4u);
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(bulk.out[i], bulk.addr(i));
  ops.unmap_bulk(bulk.out.data(), bulk.lens.data(), 4, DmaDirection::kBidirectional, "p");
  EXPECT_FALSE(ops.needs_sync());
}

class DebugDmaBulkTest : public ::testing::Test {
 protected:
  std::vector<char> buf_ = std::vector<char>(8 * kPageSize);
  RecordingDevice inner_;
  test::LogCapture capture_;
};

TEST_F(DebugDmaBulkTest, CleanBulkReachesTheInnerDeviceAsABulk) {
  DebugDmaDevice dev(inner_);
  Bulk bulk(buf_, 4, kPageSize, kPageSize - 8);
  ASSERT_EQ(dev.map_bulk(bulk.addrs.data(), bulk.lens.data(), bulk.out.data(), 4,
                         DmaDirection::kFromDevice, "pool-a"),
            4u);
  EXPECT_EQ(inner_.map_bulks, 1) << "the inner device's bulk op was not used";
  EXPECT_EQ(dev.live_mappings("pool-a"), 4u);
  for (std::size_t i = 0; i < 4; ++i)
    dev.sync_for_cpu(bulk.out[i], 0, bulk.lens[i], DmaDirection::kFromDevice, "pool-a");
  dev.unmap_bulk(bulk.out.data(), bulk.lens.data(), 4, DmaDirection::kFromDevice, "pool-a");
  EXPECT_EQ(inner_.unmap_bulks, 1) << "the inner device's bulk op was not used";
  EXPECT_EQ(inner_.unmapped.size(), 4u);
  EXPECT_EQ(dev.live_mappings(), 0u);
  EXPECT_EQ(dev.close(), 0u);
  EXPECT_EQ(dev.error_count(), 0u);
  EXPECT_TRUE(capture_.messages().empty());
}

TEST_F(DebugDmaBulkTest, RefusalPartwayRecordsOnlyWhatWasMapped) {
  DebugDmaDevice dev(inner_);
  Bulk bulk(buf_, 4, kPageSize, kPageSize - 8);
  inner_.refuse_at = 3;
  EXPECT_EQ(dev.map_bulk(bulk.addrs.data(), bulk.lens.data(), bulk.out.data(), 4,
                         DmaDirection::kFromDevice, "pool-a"),
            2u);
  EXPECT_EQ(dev.live_mappings(), 2u);
  dev.unmap_bulk(bulk.out.data(), bulk.lens.data(), 2, DmaDirection::kFromDevice, "pool-a");
  EXPECT_EQ(dev.error_count(), 0u) << "a refusal is the device's answer, not a mistake";
}

// Each misuse done with single calls and again with bulk ones: the findings
// (messages, count) and what reaches the inner device must be the same.
enum class Mode { kSingle, kBulk };

std::size_t map_n(DmaDevice& dev, Mode mode, Bulk& bulk, std::size_t first, std::size_t n,
                  DmaDirection dir) {
  if (mode == Mode::kBulk)
    return dev.map_bulk(&bulk.addrs[first], &bulk.lens[first], &bulk.out[first], n, dir, "pool-a");
  std::size_t m = 0;
  for (; m < n; ++m) {
    bulk.out[first + m] = dev.map(bulk.addrs[first + m], bulk.lens[first + m], dir, "pool-a");
    if (bulk.out[first + m] == kDmaMappingError) break;
  }
  return m;
}

void unmap_n(DmaDevice& dev, Mode mode, const std::vector<DmaAddr>& addrs,
             const std::vector<std::size_t>& lens, DmaDirection dir) {
  if (mode == Mode::kBulk) {
    dev.unmap_bulk(addrs.data(), lens.data(), addrs.size(), dir, "pool-a");
  } else {
    for (std::size_t i = 0; i < addrs.size(); ++i) dev.unmap(addrs[i], lens[i], dir, "pool-a");
  }
}

struct Outcome {
  std::vector<std::string> findings;
  std::uint64_t errors;
  std::vector<RecordingDevice::Unmapped> unmapped;
  std::size_t live;
};

// Maps entries 0-2 (FROM_DEVICE) and 3 (TO_DEVICE), then unmaps with
// mistakes: 2 twice (double unmap), 6 never mapped (unknown), 1 with a
// wrong length, 3 with a wrong direction; then maps 4 and 5 overlapping:
// five findings.
Outcome misuse(Mode mode, std::vector<char>& buf) {
  test::LogCapture capture;
  RecordingDevice inner;
  DebugDmaDevice dev(inner);
  Bulk bulk(buf, 7, 2 * kPageSize, kPageSize);
  EXPECT_EQ(map_n(dev, mode, bulk, 0, 3, DmaDirection::kFromDevice), 3u);
  EXPECT_EQ(map_n(dev, mode, bulk, 3, 1, DmaDirection::kToDevice), 1u);
  unmap_n(dev, mode, {bulk.out[2]}, {kPageSize + 2}, DmaDirection::kFromDevice);
  unmap_n(dev, mode, {bulk.out[0], bulk.addr(6), bulk.out[2], bulk.out[1], bulk.out[3]},
          {kPageSize, kPageSize, kPageSize + 2, kPageSize, kPageSize + 3},
          DmaDirection::kFromDevice);
  bulk.addrs[5] = static_cast<char*>(bulk.addrs[4]) + 64;
  EXPECT_EQ(map_n(dev, mode, bulk, 4, 2, DmaDirection::kFromDevice), 2u);
  unmap_n(dev, mode, {bulk.out[4]}, {kPageSize + 4}, DmaDirection::kFromDevice);
  if (mode == Mode::kBulk) {
    EXPECT_EQ(inner.maps, 6);
    EXPECT_GT(inner.map_bulks, 0);
    EXPECT_GT(inner.unmap_bulks, 0);
  }
  return {capture.take(), dev.error_count(), inner.unmapped, dev.live_mappings()};
}

bool has(const std::vector<std::string>& findings, const std::string& part) {
  for (const std::string& f : findings)
    if (f.find(part) != std::string::npos) return true;
  return false;
}

TEST(DebugDmaBulk, FindsWhatSingleCallsFind) {
  std::vector<char> buf(14 * kPageSize);
  const Outcome single = misuse(Mode::kSingle, buf);
  const Outcome bulk = misuse(Mode::kBulk, buf);
  EXPECT_EQ(single.errors, 5u);
  EXPECT_TRUE(has(single.findings, "double unmap")) << testing::PrintToString(single.findings);
  EXPECT_TRUE(has(single.findings, "unmap of unknown DMA address"));
  EXPECT_TRUE(has(single.findings, "with len"));
  EXPECT_TRUE(has(single.findings, "with direction FROM_DEVICE"));
  EXPECT_TRUE(has(single.findings, "overlaps the live mapping"));
  EXPECT_EQ(bulk.findings, single.findings);
  EXPECT_EQ(bulk.errors, single.errors);
  EXPECT_EQ(bulk.unmapped, single.unmapped) << "the inner device saw other unmaps";
  EXPECT_EQ(bulk.live, single.live);
}

}  // namespace
}  // namespace ppool
