// Result: the value or the error, and a clear death when the caller asks for
// the one it does not hold; Result<void>: success or the error.
#include <memory>
#include <type_traits>

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

Result<void> check(int v) {
  if (v < 0) return Error{Errc::kInvalidArgument, "queues: negative"};
  return {};
}

TEST(ResultVoidTest, DefaultIsSuccess) {
  Result<void> r;
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(static_cast<bool>(r));
  EXPECT_TRUE(check(1).ok());
}

TEST(ResultVoidTest, HoldsTheError) {
  Result<void> r = check(-1);
  ASSERT_FALSE(r.ok());
  EXPECT_FALSE(static_cast<bool>(r));
  EXPECT_EQ(r.error().code, Errc::kInvalidArgument);
  EXPECT_EQ(r.error().message, "queues: negative");
}

// Steps chained through one variable, as a caller of several setup calls
// writes them: an assignment replaces the outcome, success included.
TEST(ResultVoidTest, AssignmentReplacesTheOutcome) {
  Result<void> r = check(-1);
  r = check(2);
  EXPECT_TRUE(r.ok());
  r = check(-3);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "queues: negative");
  Result<void> copy = r;
  ASSERT_FALSE(copy.ok());
  EXPECT_EQ(copy.error().code, Errc::kInvalidArgument);
}

// Result<void> has ok() and error() as Result<T> has, and no value().
template <class R>
concept HasValue = requires(R r) {
  r.value();
};
static_assert(HasValue<Result<int>>);
static_assert(!HasValue<Result<void>>);
// From an Error, or {} for success; nothing else converts to it.
static_assert(std::is_convertible_v<Error, Result<void>>);
static_assert(!std::is_convertible_v<bool, Result<void>>);
static_assert(!std::is_convertible_v<int, Result<void>>);

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
  Result<void> done;
  EXPECT_DEATH((void)done.error(), "ppool: Result::error\\(\\) called on a value");
}

}  // namespace
