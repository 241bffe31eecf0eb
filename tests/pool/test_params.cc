// page_pool_create's validation: each bad field gets an error naming it, and
// a valid set of params builds a working pool.
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "ppool/page_pool.h"

namespace {

using ppool::PagePool;
using ppool::PagePoolParams;

ppool::IdentityDmaDevice g_identity;

PagePoolParams valid_params() {
  PagePoolParams p;
  p.name = "params";
  p.flags = ppool::kDmaMap | ppool::kDmaSyncDev;
  p.dev = &g_identity;
  p.dma_dir = ppool::DmaDirection::kFromDevice;
  p.max_len = ppool::kPageSize;
  return p;
}

struct BadParams {
  const char* what;
  std::function<void(PagePoolParams&)> spoil;
  const char* field;  // the message must start with this field's name
};

// Test names and failure messages show what was spoiled, not the bytes.
void PrintTo(const BadParams& bad, std::ostream* os) {
  *os << bad.what;
}

class PoolParamsTest : public ::testing::TestWithParam<BadParams> {};

TEST_P(PoolParamsTest, RejectsWithTheFieldNamed) {
  PagePoolParams p = valid_params();
  GetParam().spoil(p);
  auto created = PagePool::create(p);
  ASSERT_FALSE(created.ok()) << GetParam().what;
  EXPECT_EQ(created.error().code, ppool::Errc::kInvalidArgument);
  const std::string& msg = created.error().message;
  EXPECT_NE(msg.find(std::string("page_pool_create: ") + GetParam().field + ":"), std::string::npos)
      << GetParam().what << ": " << msg;
}

INSTANTIATE_TEST_SUITE_P(
    EachField, PoolParamsTest,
    ::testing::Values(
        BadParams{"unknown flag bits", [](PagePoolParams& p) { p.flags |= 1u << 7; }, "flags"},
        BadParams{"order too large", [](PagePoolParams& p) { p.order = ppool::kMaxOrder + 1; },
                  "order"},
        BadParams{"pool_size 0", [](PagePoolParams& p) { p.pool_size = 0; }, "pool_size"},
        BadParams{"pool_size over the cap",
                  [](PagePoolParams& p) { p.pool_size = ppool::kPoolSizeMax + 1; }, "pool_size"},
        BadParams{"nid out of range", [](PagePoolParams& p) { p.nid = ppool::kMaxNodes; }, "nid"},
        BadParams{"negative nid", [](PagePoolParams& p) { p.nid = -5; }, "nid"},
        BadParams{"empty name", [](PagePoolParams& p) { p.name.clear(); }, "name"},
        BadParams{"long name", [](PagePoolParams& p) { p.name.assign(32, 'x'); }, "name"},
        BadParams{"DMA_MAP without a device", [](PagePoolParams& p) { p.dev = nullptr; }, "dev"},
        BadParams{"DMA_MAP to the device",
                  [](PagePoolParams& p) { p.dma_dir = ppool::DmaDirection::kToDevice; }, "dma_dir"},
        BadParams{"DMA_MAP with no direction",
                  [](PagePoolParams& p) { p.dma_dir = ppool::DmaDirection::kNone; }, "dma_dir"},
        BadParams{"DMA_SYNC_DEV without DMA_MAP",
                  [](PagePoolParams& p) { p.flags = ppool::kDmaSyncDev; }, "flags"},
        BadParams{"DMA_SYNC_DEV with max_len 0", [](PagePoolParams& p) { p.max_len = 0; },
                  "max_len"},
        BadParams{"offset + max_len past the page", [](PagePoolParams& p) { p.offset = 256; },
                  "offset + max_len"}),
    [](const auto& info) {
      std::string name = info.param.what;
      for (char& c : name)
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
      return name;
    });

TEST(PoolParams, ValidParamsBuildAWorkingPool) {
  auto created = PagePool::create(valid_params());
  ASSERT_TRUE(created.ok()) << created.error().message;
  PagePool* pool = created.value();
  EXPECT_STREQ(pool->name(), "params");
  EXPECT_EQ(pool->get_dma_dir(), ppool::DmaDirection::kFromDevice);
  ppool::Page* page = pool->alloc_pages();
  ASSERT_NE(page, nullptr);
  pool->recycle_direct(page);
  EXPECT_EQ(PagePool::destroy(pool), 0u);
}

TEST(PoolParams, BidirectionalAndUnmappedPoolsAreValid) {
  PagePoolParams p = valid_params();
  p.dma_dir = ppool::DmaDirection::kBidirectional;
  auto bidi = PagePool::create(p);
  ASSERT_TRUE(bidi.ok()) << bidi.error().message;
  EXPECT_EQ(PagePool::destroy(bidi.value()), 0u);

  PagePoolParams plain;  // no DMA at all: dev, dir and max_len do not matter
  plain.dma_dir = ppool::DmaDirection::kNone;
  auto unmapped = PagePool::create(plain);
  ASSERT_TRUE(unmapped.ok()) << unmapped.error().message;
  EXPECT_EQ(PagePool::destroy(unmapped.value()), 0u);
}

TEST(PoolParams, LargestOrderAndPoolSizeAreAccepted) {
  PagePoolParams p = valid_params();
  p.order = ppool::kMaxOrder;
  p.pool_size = ppool::kPoolSizeMax;
  auto created = PagePool::create(p);
  ASSERT_TRUE(created.ok()) << created.error().message;
  EXPECT_EQ(PagePool::destroy(created.value()), 0u);
}

}  // namespace
