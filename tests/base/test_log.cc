// The logging hook, rate-limited reports, the misuse reporter and
// detail::format.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "ppool/base.h"
#include "support/log_capture.h"

namespace ppool {
namespace {

class LogTest : public ::testing::Test {
 protected:
  // Tests may run with PPOOL_MISUSE=abort in the environment.
  void SetUp() override { set_misuse_policy(MisusePolicy::kReport); }
  void TearDown() override { set_misuse_policy(MisusePolicy::kReport); }

  test::LogCapture capture_;  // installed for every test; the default is back after it
};

TEST_F(LogTest, HookReceivesMessageAndLevel) {
  log(LogLevel::kInfo, "hello");
  log(LogLevel::kError, "world");
  log(LogLevel::kDebug, "");
  auto s = capture_.entries();
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].level, LogLevel::kInfo);
  EXPECT_EQ(s[0].message, "hello");
  EXPECT_EQ(s[1].level, LogLevel::kError);
  EXPECT_EQ(s[1].message, "world");
  EXPECT_EQ(s[2].level, LogLevel::kDebug);
  EXPECT_EQ(s[2].message, "");
}

TEST_F(LogTest, MessageIsNotNulTerminatedOrTruncatedByTheHook) {
  std::string_view part = std::string_view("abcdef").substr(1, 3);
  log(LogLevel::kWarning, part);
  std::string long_message(10000, 'x');
  log(LogLevel::kWarning, long_message);
  auto s = capture_.messages();
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0], "bcd");
  EXPECT_EQ(s[1], long_message);
}

TEST_F(LogTest, NullHookRestoresTheDefault) {
  // capture_'s hook is installed; nullptr replaces it with the default.
  set_log_hook(nullptr);
  ::testing::internal::CaptureStderr();
  log(LogLevel::kWarning, "to stderr");
  log(LogLevel::kError, std::string_view("partial-view", 7));
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(capture_.count(), 0u);
  EXPECT_NE(err.find("ppool warning: to stderr\n"), std::string::npos) << err;
  EXPECT_NE(err.find("ppool error: partial\n"), std::string::npos) << err;
}

TEST_F(LogTest, ReportMisuseCountsAndReachesTheHook) {
  std::uint64_t before = misuse_count();
  detail::report_misuse("page 0x1000 put twice to pool rx0");
  detail::report_misuse("page 0x2000 is not a pool page");
  EXPECT_EQ(misuse_count(), before + 2);
  auto s = capture_.entries();
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].level, LogLevel::kError);
  EXPECT_EQ(s[0].message, "page 0x1000 put twice to pool rx0");
  EXPECT_EQ(s[1].message, "page 0x2000 is not a pool page");
}

TEST_F(LogTest, AbortPolicyAborts) {
  // The child inherits the parent's hook; the default one writes to stderr,
  // which is what the death test matches.
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  set_log_hook(nullptr);
  EXPECT_DEATH(
      {
        set_misuse_policy(MisusePolicy::kAbort);
        detail::report_misuse("page 0x3000 freed after its pool");
      },
      "ppool error: page 0x3000 freed after its pool");
  // The parent keeps its policy: a report still returns.
  set_log_hook(test::LogCapture::hook);
  detail::report_misuse("still alive");
  EXPECT_EQ(capture_.count(), 1u);
}

TEST_F(LogTest, HookMayChangeWhileOtherThreadsLog) {
  std::atomic<bool> go{true};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&go] {
      while (go.load(std::memory_order_relaxed)) log(LogLevel::kDebug, "spin");
    });
  }
  // Swap the hook until the loggers have been seen through it many times.
  while (capture_.count() < 1000) set_log_hook(test::LogCapture::hook);
  go = false;
  for (std::thread& t : threads) t.join();
  EXPECT_GE(capture_.count(), 1000u);
}

// The kernel's net_ratelimit(): 10 a second, the rest counted and reported.
TEST_F(LogTest, RateLimitLetsTenThroughASecondAndCountsTheRest) {
  LogRateLimit limit("io_uring device: map");
  for (int i = 0; i < 1000; ++i) limit.log(LogLevel::kWarning, "map refused");
  EXPECT_EQ(capture_.count(), 10u);
  EXPECT_EQ(limit.suppressed(), 990u);
}

TEST_F(LogTest, RateLimitReportsTheSuppressedCountWhenTheNextIntervalLetsOneThrough) {
  LogRateLimit limit("site");
  const std::int64_t t0 = 1000000;
  int allowed = 0;
  for (int i = 0; i < 100; ++i) allowed += limit.allow_at(LogLevel::kWarning, t0 + i);
  EXPECT_EQ(allowed, 10);
  // Still in the first second: counted, nothing logged.
  EXPECT_FALSE(limit.allow_at(LogLevel::kWarning, t0 + 999));
  EXPECT_EQ(capture_.count(), 0u);
  EXPECT_EQ(limit.suppressed(), 91u);
  // A second later: the count goes out first, then the message may.
  EXPECT_TRUE(limit.allow_at(LogLevel::kError, t0 + 1000));
  auto s = capture_.entries();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].level, LogLevel::kError);
  EXPECT_EQ(s[0].message, "site: 91 messages suppressed");
  EXPECT_EQ(limit.suppressed(), 91u);
  // The new interval has nine more; nothing is pending, so nothing repeats.
  for (int i = 0; i < 9; ++i) EXPECT_TRUE(limit.allow_at(LogLevel::kWarning, t0 + 1001));
  EXPECT_FALSE(limit.allow_at(LogLevel::kWarning, t0 + 1002));
  EXPECT_EQ(capture_.count(), 1u);
  // A quiet interval: the next message passes with one pending to report.
  EXPECT_TRUE(limit.allow_at(LogLevel::kWarning, t0 + 5000));
  EXPECT_EQ(capture_.messages().back(), "site: 1 messages suppressed");
  EXPECT_EQ(limit.suppressed(), 92u);
}

TEST_F(LogTest, RateLimitFlushReportsWhatIsPendingOnce) {
  LogRateLimit limit("flush site", 2, 1000);
  EXPECT_EQ(limit.flush(), 0u);  // nothing suppressed: says nothing
  EXPECT_EQ(capture_.count(), 0u);
  for (int i = 0; i < 7; ++i) limit.allow_at(LogLevel::kWarning, 10);
  EXPECT_EQ(limit.flush(), 5u);
  EXPECT_EQ(limit.flush(), 0u);
  auto s = capture_.messages();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0], "flush site: 5 messages suppressed");
}

TEST_F(LogTest, RateLimitOnTheRealClock) {
  LogRateLimit limit("clock site", 10, 200);
  for (int i = 0; i < 500; ++i) limit.log(LogLevel::kWarning, "flood");
  EXPECT_EQ(capture_.count(), 10u);
  std::this_thread::sleep_for(std::chrono::milliseconds(250));
  limit.log(LogLevel::kWarning, "after");
  auto s = capture_.messages();
  ASSERT_EQ(s.size(), 12u);
  EXPECT_EQ(s[10], "clock site: 490 messages suppressed");
  EXPECT_EQ(s[11], "after");
}

// The thread whose allow starts an interval reports the earlier intervals'
// suppressed count; other threads keep counting meanwhile, and what they
// count belongs to the new interval. The hook holds that window open until
// they are all done (on a machine that happens to preempt the starting
// thread there, the window is as wide): the count taken at the start must
// not include theirs, so nothing is reported then and the final flush has
// every suppressed message.
std::atomic<int> g_contenders_done{0};
constexpr int kContenders = 4;

TEST_F(LogTest, RateLimitIsExactUnderContention) {
  LogRateLimit limit("contended", 10, 1000);
  g_contenders_done = 0;
  detail::set_rate_limit_hook([](LogRateLimit&) {
    while (g_contenders_done.load() < kContenders - 1) std::this_thread::yield();
  });
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kContenders; ++t) {
    threads.emplace_back([&] {
      int mine = 0;
      for (int i = 0; i < 20000; ++i) mine += limit.allow_at(LogLevel::kWarning, 42);
      allowed += mine;
      ++g_contenders_done;
    });
  }
  for (std::thread& t : threads) t.join();
  detail::set_rate_limit_hook(nullptr);
  EXPECT_EQ(allowed.load(), 10);
  EXPECT_EQ(capture_.count(), 0u) << "the interval's start reported its own suppressed messages";
  EXPECT_EQ(limit.suppressed(), kContenders * 20000u - 10);
  EXPECT_EQ(limit.flush(), kContenders * 20000u - 10);
}

// Across intervals: the count the start of one reports is exactly what the
// earlier one suppressed, with another thread counting in the new interval
// inside the window (run from the hook, so the interleaving is fixed).
std::atomic<int> g_window_allowed{0};
constexpr std::int64_t kWindowStart = 5000;

TEST_F(LogTest, RateLimitReportsOnlyTheEarlierIntervalsWhenOneStarts) {
  LogRateLimit limit("window", 10, 1000);
  for (int i = 0; i < 15; ++i) limit.allow_at(LogLevel::kWarning, kWindowStart);
  EXPECT_EQ(limit.suppressed(), 5u);
  g_window_allowed = 0;
  detail::set_rate_limit_hook([](LogRateLimit& window) {
    detail::set_rate_limit_hook(nullptr);  // once
    std::thread([&window] {
      for (int i = 0; i < 20; ++i)
        g_window_allowed += window.allow_at(LogLevel::kWarning, kWindowStart + 1000);
    }).join();
  });
  EXPECT_TRUE(limit.allow_at(LogLevel::kWarning, kWindowStart + 1000));
  detail::set_rate_limit_hook(nullptr);
  EXPECT_EQ(g_window_allowed.load(), 9);  // the new interval's other nine
  auto s = capture_.messages();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0], "window: 5 messages suppressed");
  EXPECT_EQ(limit.suppressed(), 16u);
  EXPECT_EQ(limit.flush(), 11u) << "the new interval's suppressed messages stay pending";
}

// Misuse reports are rate-limited, but every one is counted, and the abort
// policy still aborts on the first: a report the limit would suppress too.
TEST_F(LogTest, MisuseFloodIsCountedAndAbortStillAborts) {
  const std::uint64_t before = misuse_count();
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 1000; ++i) detail::report_misuse("flooded");
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(misuse_count(), before + 1000);
  if (took < std::chrono::seconds(1)) {  // one interval: its burst alone
    EXPECT_EQ(capture_.count(), LogRateLimit::kDefaultBurst);
  } else {  // a machine slow enough to span several: a burst and a count line each
    const auto intervals = std::chrono::duration_cast<std::chrono::seconds>(took).count() + 1;
    EXPECT_LE(capture_.count(), (LogRateLimit::kDefaultBurst + 1) * intervals);
  }
  EXPECT_EQ(capture_.messages().front(), "flooded");
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  set_log_hook(nullptr);
  EXPECT_DEATH(
      {
        for (int i = 0; i < 1000; ++i) detail::report_misuse("flooded");
        set_misuse_policy(MisusePolicy::kAbort);
        detail::report_misuse("page 0x4000 put twice after a flood");
      },
      "ppool error: page 0x4000 put twice after a flood");
  set_log_hook(test::LogCapture::hook);
}

TEST(FormatTest, Formats) {
  EXPECT_EQ(detail::format("%d-%s-%#llx", 42, "pool", 0xabcULL), "42-pool-0xabc");
  EXPECT_EQ(detail::format("%s", ""), "");
  EXPECT_EQ(detail::format("%zu%%", std::size_t{100}), "100%");
}

TEST(FormatTest, TruncatesLongOutputSafely) {
  std::string exact(511, 'a');
  EXPECT_EQ(detail::format("%s", exact.c_str()), exact);
  std::string over(512, 'b');
  std::string got = detail::format("%s", over.c_str());
  EXPECT_EQ(got, std::string(511, 'b'));
  std::string huge(100000, 'c');
  got = detail::format("[%s]", huge.c_str());
  ASSERT_EQ(got.size(), 511u);
  EXPECT_EQ(got[0], '[');
  EXPECT_EQ(got.find('\0'), std::string::npos);
  EXPECT_EQ(got.substr(1), std::string(510, 'c'));
}

}  // namespace
}  // namespace ppool
