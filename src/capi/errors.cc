// The C API's errors (a negative errno, the message kept per thread), and
// the log hook and misuse policy as C sees them.
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

#include "capi/capi.h"

namespace ppool::capi {
namespace {
// The message of the thread's last failing call. A std::string per thread
// that has failed once: its buffer is reused, so a failure allocates only
// when a message outgrows the last.
thread_local std::string t_last_error;
std::atomic<ppool_log_fn> g_log_hook{nullptr};

void log_trampoline(LogLevel level, std::string_view message) {
  ppool_log_fn hook = g_log_hook.load(std::memory_order_acquire);
  if (hook) hook(static_cast<ppool_log_level>(level), message.data(), message.size());
}
}  // namespace

int errno_of(Errc code) {
  switch (code) {
    case Errc::kInvalidArgument:
      return EINVAL;
    case Errc::kOutOfMemory:
      return ENOMEM;
    case Errc::kMapFailed:
      return EIO;
    case Errc::kUnsupported:
      return EOPNOTSUPP;
  }
  return EINVAL;
}

int fail(Errc code, const char* message) {
  t_last_error = message;
  return -errno_of(code);
}

int fail(const Error& error) {
  return fail(error.code, error.message.c_str());
}

char* c_string(std::string_view text) {
  char* copy = static_cast<char*>(std::malloc(text.size() + 1));
  if (!copy) return nullptr;
  std::memcpy(copy, text.data(), text.size());
  copy[text.size()] = '\0';
  return copy;
}

}  // namespace ppool::capi

using namespace ppool::capi;

static_assert(static_cast<int>(ppool::LogLevel::kDebug) == PPOOL_LOG_DEBUG &&
              static_cast<int>(ppool::LogLevel::kError) == PPOOL_LOG_ERROR);

extern "C" const char* ppool_last_error(void) {
  return t_last_error.c_str();
}

extern "C" void ppool_set_log_hook(ppool_log_fn hook) {
  g_log_hook.store(hook, std::memory_order_release);
  ppool::set_log_hook(hook ? log_trampoline : nullptr);
}

extern "C" uint64_t ppool_misuse_count(void) {
  return ppool::misuse_count();
}

extern "C" void ppool_set_misuse_policy(ppool_misuse_policy policy) {
  ppool::set_misuse_policy(policy == PPOOL_MISUSE_ABORT ? ppool::MisusePolicy::kAbort
                                                        : ppool::MisusePolicy::kReport);
}
