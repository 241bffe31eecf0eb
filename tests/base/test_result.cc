// Result: the value or the error, and a clear death when the caller asks for
// the one it does not hold.
#include <memory>

#include <gtest/gtest.h>

#include "ppool/base.h"

namespace {

using ppool::Errc;
using ppool::Error;
using ppool::Result;

Result<int> parse(int v) {
  if (v < 0) return Error{Errc::kInvalidArgument, "pool_size: -1 is negative"};
  return v;
}

TEST(ResultTest, HoldsTheValue) {
  auto r = parse(42);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(static_cast<bool>(r));
  EXPECT_EQ(r.value(), 42);
  r.value() = 7;
  const auto& cr = r;
  EXPECT_EQ(cr.value(), 7);
}

TEST(ResultTest, HoldsTheError) {
  auto r = parse(-1);
  ASSERT_FALSE(r.ok());
  EXPECT_FALSE(static_cast<bool>(r));
  EXPECT_EQ(r.error().code, Errc::kInvalidArgument);
  EXPECT_EQ(r.error().message, "pool_size: -1 is negative");
}

TEST(ResultTest, MovesAMoveOnlyValueOut) {
  Result<std::unique_ptr<int>> r(std::make_unique<int>(5));
  std::unique_ptr<int> p = std::move(r).value();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(*p, 5);
  std::unique_ptr<int> q = Result<std::unique_ptr<int>>(std::make_unique<int>(6)).value();
  EXPECT_EQ(*q, 6);
}

TEST(ResultDeathTest, ValueOnAnErrorAbortsWithItsMessage) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto r = parse(-1);
  EXPECT_DEATH((void)r.value(),
               "ppool: Result::value\\(\\) called on an error: pool_size: -1 is negative");
  EXPECT_DEATH((void)parse(-1).value(), "called on an error: pool_size: -1 is negative");
}

TEST(ResultDeathTest, ErrorOnAValueAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto r = parse(1);
  EXPECT_DEATH((void)r.error(), "ppool: Result::error\\(\\) called on a value");
}

}  // namespace
