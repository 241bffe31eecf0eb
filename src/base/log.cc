// The logging hook and the misuse reporter.
#include <algorithm>
#include <atomic>
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

}  // namespace

void set_log_hook(LogHook hook) {
  g_hook.store(hook ? hook : stderr_hook);
}

void log(LogLevel level, std::string_view message) {
  g_hook.load()(level, message);
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
  log(LogLevel::kError, message);
  if (g_policy.load() == MisusePolicy::kAbort) std::abort();
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
