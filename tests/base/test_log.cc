// The logging hook, the misuse reporter and detail::format.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ppool/base.h"

namespace ppool {
namespace {

// The hook is a plain function pointer, so what it captures is static.
std::mutex g_mu;
std::vector<std::pair<LogLevel, std::string>> g_seen;
std::atomic<int> g_calls{0};

void capture(LogLevel level, std::string_view message) {
  g_calls.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard lock(g_mu);
  g_seen.emplace_back(level, std::string(message));
}

std::vector<std::pair<LogLevel, std::string>> seen() {
  std::lock_guard lock(g_mu);
  return g_seen;
}

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    {
      std::lock_guard lock(g_mu);
      g_seen.clear();
    }
    g_calls = 0;
    // Tests may run with PPOOL_MISUSE=abort in the environment.
    set_misuse_policy(MisusePolicy::kReport);
  }
  void TearDown() override {
    set_log_hook(nullptr);
    set_misuse_policy(MisusePolicy::kReport);
  }
};

TEST_F(LogTest, HookReceivesMessageAndLevel) {
  set_log_hook(capture);
  log(LogLevel::kInfo, "hello");
  log(LogLevel::kError, "world");
  log(LogLevel::kDebug, "");
  auto s = seen();
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].first, LogLevel::kInfo);
  EXPECT_EQ(s[0].second, "hello");
  EXPECT_EQ(s[1].first, LogLevel::kError);
  EXPECT_EQ(s[1].second, "world");
  EXPECT_EQ(s[2].first, LogLevel::kDebug);
  EXPECT_EQ(s[2].second, "");
}

TEST_F(LogTest, MessageIsNotNulTerminatedOrTruncatedByTheHook) {
  set_log_hook(capture);
  std::string_view part = std::string_view("abcdef").substr(1, 3);
  log(LogLevel::kWarning, part);
  std::string long_message(10000, 'x');
  log(LogLevel::kWarning, long_message);
  auto s = seen();
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].second, "bcd");
  EXPECT_EQ(s[1].second, long_message);
}

TEST_F(LogTest, NullHookRestoresTheDefault) {
  set_log_hook(capture);
  set_log_hook(nullptr);
  ::testing::internal::CaptureStderr();
  log(LogLevel::kWarning, "to stderr");
  log(LogLevel::kError, std::string_view("partial-view", 7));
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(g_calls.load(), 0);
  EXPECT_NE(err.find("ppool warning: to stderr\n"), std::string::npos) << err;
  EXPECT_NE(err.find("ppool error: partial\n"), std::string::npos) << err;
}

TEST_F(LogTest, ReportMisuseCountsAndReachesTheHook) {
  set_log_hook(capture);
  std::uint64_t before = misuse_count();
  detail::report_misuse("page 0x1000 put twice to pool rx0");
  detail::report_misuse("page 0x2000 is not a pool page");
  EXPECT_EQ(misuse_count(), before + 2);
  auto s = seen();
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].first, LogLevel::kError);
  EXPECT_EQ(s[0].second, "page 0x1000 put twice to pool rx0");
  EXPECT_EQ(s[1].second, "page 0x2000 is not a pool page");
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
  set_log_hook(capture);
  detail::report_misuse("still alive");
  EXPECT_EQ(seen().size(), 1u);
}

TEST_F(LogTest, HookMayChangeWhileOtherThreadsLog) {
  set_log_hook(capture);
  std::atomic<bool> go{true};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&go] {
      while (go.load(std::memory_order_relaxed)) log(LogLevel::kDebug, "spin");
    });
  }
  // Swap the hook until the loggers have been seen through it many times.
  while (g_calls.load(std::memory_order_relaxed) < 1000) set_log_hook(capture);
  go = false;
  for (std::thread& t : threads) t.join();
  EXPECT_GE(g_calls.load(), 1000);
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
