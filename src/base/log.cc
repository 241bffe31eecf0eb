// The logging hook, rate-limited reports and the misuse reporter.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "ppool/base.h"

namespace ppool {
namespace {

const char* level_name(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "?";
}

void stderr_hook(LogLevel level, std::string_view message) {
  std::fprintf(stderr, "ppool %s: %.*s\n", level_name(level), static_cast<int>(message.size()),
               message.data());
}

MisusePolicy initial_policy() {
  const char* env = std::getenv("PPOOL_MISUSE");
  return env && std::strcmp(env, "abort") == 0 ? MisusePolicy::kAbort : MisusePolicy::kReport;
}

std::atomic<LogHook> g_hook{stderr_hook};
std::atomic<MisusePolicy> g_policy{initial_policy()};
std::atomic<std::uint64_t> g_misuses{0};
// A flood of misuse (a loop putting one page twice) is all counted, but
// logged ten a second: formatting and writing a line per misuse would turn a
// bug into a full disk and a stalled data path.
constinit LogRateLimit g_misuse_limit{"misuse reports"};
constinit std::atomic<detail::RateLimitHook> g_rate_limit_hook{nullptr};

}  // namespace

void set_log_hook(LogHook hook) {
  g_hook.store(hook ? hook : stderr_hook);
}

void log(LogLevel level, std::string_view message) {
  g_hook.load()(level, message);
}

bool LogRateLimit::allow(LogLevel level) {
  auto now = std::chrono::steady_clock::now().time_since_epoch();
  return allow_at(level, std::chrono::duration_cast<std::chrono::milliseconds>(now).count());
}

// The kernel's ___ratelimit() takes a spinlock (and suppresses when it is
// contended); here the interval's start and its count share one word, so a
// compare-and-swap either starts a new interval or counts one more message
// in the current one, and exactly `burst` get through per interval.
//
// The count reported when an interval starts must be the earlier intervals'
// alone: it is taken (exchanged to 0) before the compare-and-swap that ends
// them, so a message suppressed in the new interval, which can only be
// counted after that swap, is never in it (the swap releases, the loads
// acquire). When the swap fails (another thread started the interval, or a
// spurious failure) the count goes back and stays pending. Cost: one more
// atomic exchange per interval start; while it is held, suppressed() reads
// it short.
bool LogRateLimit::allow_at(LogLevel level, std::int64_t now_ms) {
  constexpr std::uint64_t kCountMask = 0xffff;
  const std::uint64_t now = static_cast<std::uint64_t>(now_ms < 0 ? 0 : now_ms);
  std::uint64_t s = state_.load(std::memory_order_acquire);
  for (;;) {
    const std::uint64_t begin = s >> 16;
    const bool expired =
        s == 0 || (now >= begin && now - begin >= static_cast<std::uint64_t>(interval_ms_));
    if (expired) {
      const std::uint64_t earlier = missed_.exchange(0, std::memory_order_acq_rel);
      if (state_.compare_exchange_weak(s, (now << 16) | 1, std::memory_order_acq_rel,
                                       std::memory_order_acquire)) {
        if (detail::RateLimitHook hook = g_rate_limit_hook.load(std::memory_order_relaxed))
          hook(*this);
        report(level, earlier);
        return true;
      }
      if (earlier) missed_.fetch_add(earlier, std::memory_order_relaxed);
      continue;  // s was reloaded
    }
    if ((s & kCountMask) >= burst_) {
      missed_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    if (state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel,
                                     std::memory_order_acquire))
      return true;
  }
}

void LogRateLimit::log(LogLevel level, std::string_view message) {
  if (allow(level)) ppool::log(level, message);
}

std::uint64_t LogRateLimit::flush(LogLevel level) {
  const std::uint64_t missed = missed_.exchange(0, std::memory_order_acq_rel);
  report(level, missed);
  return missed;
}

void LogRateLimit::restart() {
  state_.store(0, std::memory_order_release);
}

void LogRateLimit::report(LogLevel level, std::uint64_t missed) {
  if (!missed) return;
  reported_.fetch_add(missed, std::memory_order_relaxed);
  ppool::log(level, detail::format("%s: %llu messages suppressed", site_,
                                   static_cast<unsigned long long>(missed)));
}

void set_misuse_policy(MisusePolicy policy) {
  g_policy.store(policy);
}

std::uint64_t misuse_count() {
  return g_misuses.load(std::memory_order_relaxed);
}

namespace detail {

void report_misuse(std::string_view message) {
  g_misuses.fetch_add(1, std::memory_order_relaxed);
  if (g_policy.load() == MisusePolicy::kAbort) {
    log(LogLevel::kError, message);  // never suppressed: it is the last word
    std::abort();
  }
  if (g_misuse_limit.allow(LogLevel::kError)) log(LogLevel::kError, message);
}

void restart_misuse_reports() {
  g_misuse_limit.flush(LogLevel::kError);
  g_misuse_limit.restart();
}

void set_rate_limit_hook(RateLimitHook hook) {
  g_rate_limit_hook.store(hook, std::memory_order_relaxed);
}

std::string format(const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return std::string(buf, n < 0 ? 0 : std::min<std::size_t>(n, sizeof buf - 1));
}

}  // namespace detail
}  // namespace ppool
