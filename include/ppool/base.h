// ppool/base.h - the bottom layer: branch hints, cache-line constants, the
// error type, the logging hook and the misuse reporter.
//
// Every other layer includes this one; it includes nothing of ppool.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#define PPOOL_LIKELY(x) __builtin_expect(!!(x), 1)
#define PPOOL_UNLIKELY(x) __builtin_expect(!!(x), 0)
// Slow paths live out of line so the fast path stays a handful of instructions
// in the caller (mimalloc's and the kernel's split).
#define PPOOL_NOINLINE __attribute__((noinline))
#define PPOOL_COLD __attribute__((noinline, cold))
#define PPOOL_ALWAYS_INLINE inline __attribute__((always_inline))

// Statistics cost two unlocked increments on the fast path
// (detail::owner_add); -DPPOOL_STATS=0 compiles them out entirely.
#ifndef PPOOL_STATS
#define PPOOL_STATS 1
#endif

#if defined(__SANITIZE_THREAD__)
#define PPOOL_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PPOOL_TSAN 1
#endif
#endif
#ifndef PPOOL_TSAN
#define PPOOL_TSAN 0
#endif

namespace ppool {

namespace detail {

// A counter one thread writes and any thread reads (a pool's owner counters,
// read by telemetry): on x86-64 one unlocked add to memory, as the kernel's
// this_cpu_add, whose aligned 64-bit store no reader can see torn; the
// fast path keeps the single instruction a plain ++ had. Elsewhere, and
// under ThreadSanitizer (which must see the write as atomic), a relaxed
// atomic load and store. Readers use load_counter().
PPOOL_ALWAYS_INLINE void owner_add(std::uint64_t& counter, std::uint64_t n) {
#if defined(__x86_64__) && !PPOOL_TSAN
  asm("addq %1, %0" : "+m"(counter) : "er"(n));
#else
  __atomic_store_n(&counter, __atomic_load_n(&counter, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
#endif
}
inline std::uint64_t load_counter(const std::uint64_t& counter) {
  return __atomic_load_n(&counter, __ATOMIC_RELAXED);
}

}  // namespace detail

inline constexpr std::size_t kCacheLine = 64;
inline constexpr unsigned kPageShift = 12;
inline constexpr std::size_t kPageSize = std::size_t{1} << kPageShift;

// How ppool fails, one way per kind of call:
// - Setup (create, register, start, attach: a few times per process or
//   queue) returns Result<T> or Result<void>, an Error on failure: a code
//   for programs, a message for people that names the field, the call or
//   the limit at fault. Nothing was built or changed when it fails, unless
//   its comment says otherwise.
// - The hot paths (alloc_pages, alloc_frag, put, map) return nullptr, 0 or
//   kDmaMappingError, and count the failure where stats or a counter shows
//   it, as the kernel's page_pool and DPDK's rte_mempool do there: no
//   message is built at line rate, and the caller's one compare is the
//   check it makes anyway.
// - Misuse (a page put twice or to the wrong pool, a call from the wrong
//   thread) is no error the caller handles: it is reported through the log
//   hook, counted, and changes nothing (or aborts: set_misuse_policy()).
// Each public function's comment gives its thread context and, under
// "@return", its outcomes as rte_mempool.h does: each Errc it can return,
// what it means, and what the caller holds afterwards. A function whose
// comment names no failure has none.
//
// Error codes, in the spirit of errno: a code for programs, a message for people.
enum class Errc {
  kInvalidArgument,  // a parameter is out of its domain; the message names it
  kOutOfMemory,      // the page allocator, the heap or a kernel resource is exhausted
  kMapFailed,        // the DMA device refused a mapping (no setup call returns it
                     // today: a refused map is counted, PagePool::map_failures())
  kUnsupported,      // the machine, the kernel or a permission lacks what was asked for
};

struct Error {
  Errc code;
  std::string message;
};

namespace detail {
// A Result accessor called on the wrong alternative: a bug in the caller.
// Says so on stderr, with the error's message when there is one, and aborts
// (no exception: ppool and its users may be built with -fno-exceptions).
[[noreturn]] PPOOL_COLD inline void result_misuse(const char* accessor, const char* message) {
  std::fprintf(stderr, "ppool: Result::%s called on %s%s\n", accessor,
               message ? "an error: " : "a value", message ? message : "");
  std::abort();
}
}  // namespace detail

// A value or an Error (std::expected arrives with C++23): what every fallible
// setup function returns; the hot paths return nullptr and count instead (see
// page_pool.h). value() on an error and error() on a value print what was
// asked and abort: check ok() first. The class is [[nodiscard]]: a dropped
// Result is a compile-time warning (an error under -Werror); a caller that
// means to drop one says so with (void) and a comment.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Error error) : v_(std::move(error)) {}
  [[nodiscard]] bool ok() const { return v_.index() == 0; }
  [[nodiscard]] explicit operator bool() const { return ok(); }
  [[nodiscard]] T& value() & { return *checked_value(); }
  [[nodiscard]] const T& value() const& { return *checked_value(); }
  [[nodiscard]] T&& value() && { return std::move(*checked_value()); }
  [[nodiscard]] const Error& error() const {
    const Error* error = std::get_if<1>(&v_);
    if (PPOOL_UNLIKELY(!error)) detail::result_misuse("error()", nullptr);
    return *error;
  }

 private:
  T* checked_value() {
    if (PPOOL_UNLIKELY(!ok())) value_on_error();
    return std::get_if<0>(&v_);
  }
  const T* checked_value() const {
    if (PPOOL_UNLIKELY(!ok())) value_on_error();
    return std::get_if<0>(&v_);
  }
  [[noreturn]] void value_on_error() const {
    detail::result_misuse("value()", std::get_if<1>(&v_)->message.c_str());
  }

  std::variant<T, Error> v_;
};

// Success with nothing to return, or an Error: the same ok()/error() as
// Result<T>, no value(). Result<void>{} is success.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), failed_(true) {}
  [[nodiscard]] bool ok() const { return !failed_; }
  [[nodiscard]] explicit operator bool() const { return ok(); }
  [[nodiscard]] const Error& error() const {
    if (PPOOL_UNLIKELY(!failed_)) detail::result_misuse("error()", nullptr);
    return error_;
  }

 private:
  Error error_{};
  bool failed_ = false;
};

enum class LogLevel { kDebug, kInfo, kWarning, kError };

// Where ppool's reports go (misuse, stalled shutdowns, DMA debug findings).
// The default hook writes to stderr. Thread context: any thread; the hook
// itself must be safe to call from any thread and must not call into ppool.
using LogHook = void (*)(LogLevel level, std::string_view message);
void set_log_hook(LogHook hook);  // nullptr restores the default
void log(LogLevel level, std::string_view message);

// Rate-limited reports for a message that can repeat at line rate (a DMA map
// refused on every refill), like the kernel's net_ratelimit(): one limiter
// per message site lets at most `burst` messages through per interval (10 a
// second by default) and counts the rest; the count goes out through the hook
// as "<site>: N messages suppressed" before the next message it lets through,
// or when flush() is called. Thread context: any thread. No lock: a
// suppressed message costs a load and an atomic increment, and nothing is
// formatted for it when the caller asks allow() first.
class LogRateLimit {
 public:
  static constexpr unsigned kDefaultBurst = 10;
  static constexpr std::uint32_t kDefaultIntervalMs = 1000;

  // site names the message in the suppressed count; it must outlive the
  // limiter (a string literal). burst is capped at 65535.
  constexpr explicit LogRateLimit(const char* site, unsigned burst = kDefaultBurst,
                                  std::uint32_t interval_ms = kDefaultIntervalMs) noexcept
      : site_(site),
        burst_(burst > 0xffff ? 0xffff : burst),
        interval_ms_(interval_ms ? interval_ms : 1) {}
  LogRateLimit(const LogRateLimit&) = delete;
  LogRateLimit& operator=(const LogRateLimit&) = delete;

  // True when a message may go out now (build it, then log it); false when
  // it is counted instead. Reports a pending suppressed count first, at level.
  bool allow(LogLevel level = LogLevel::kWarning);
  // The same at now_ms on the steady clock (for tests and callers that
  // already read it).
  bool allow_at(LogLevel level, std::int64_t now_ms);
  // allow() and log() of an already built message.
  void log(LogLevel level, std::string_view message);
  // Reports the messages suppressed and not yet reported; returns how many.
  std::uint64_t flush(LogLevel level = LogLevel::kWarning);
  // Ends the current interval: the next allow() starts a new one (and
  // reports the pending count first), as if the interval had passed. For
  // tests, and for a caller that knows a flood is over.
  void restart();
  // Messages suppressed since construction, reported or not (exact once the
  // callers stopped; while an interval starts, its thread holds the earlier
  // count for a moment and this reads short).
  std::uint64_t suppressed() const {
    return reported_.load(std::memory_order_relaxed) + missed_.load(std::memory_order_relaxed);
  }

 private:
  void report(LogLevel level, std::uint64_t missed);

  const char* site_;
  unsigned burst_;
  std::uint32_t interval_ms_;
  // (interval start in ms << 16) | messages let through in it; 0: never.
  // One word, so starting an interval and counting in it cannot interleave.
  std::atomic<std::uint64_t> state_{0};
  std::atomic<std::uint64_t> missed_{0};    // suppressed, not yet reported
  std::atomic<std::uint64_t> reported_{0};  // suppressed and reported
};

namespace detail {
// Test hook: called on the thread whose allow() has just started an
// interval, between the swap that starts it and the report of the earlier
// intervals' suppressed count, so that a test can run other allows in
// exactly that window. nullptr (the default): none. Costs a relaxed load
// per interval start. Thread context: any thread; set it while no limiter
// is in use.
using RateLimitHook = void (*)(LogRateLimit& limit);
void set_rate_limit_hook(RateLimitHook hook);
}  // namespace detail

// What happens after a misuse is reported (a page put twice, to the wrong pool,
// after its pool was freed, a pointer that is not a pool page). kReport logs,
// counts and leaves the page untouched (the kernel's WARN); kAbort logs and
// aborts. The environment variable PPOOL_MISUSE=abort selects kAbort at start.
// Every misuse is counted, but a flood (a loop putting the same page twice)
// is logged at a bounded rate, as the kernel's WARN_RATELIMIT: the first of
// a burst always, ten a second, then "misuse reports: N messages
// suppressed" when the next one is logged. Under kAbort the first is the last.
enum class MisusePolicy { kReport, kAbort };
void set_misuse_policy(MisusePolicy policy);
// Misuses reported so far in this process. Thread context: any thread.
std::uint64_t misuse_count();

namespace detail {
// Reports a misuse through the log hook (rate-limited), counts it, applies
// the policy.
PPOOL_COLD void report_misuse(std::string_view message);
// Test hook: logs the misuse reports' pending suppressed count now and
// restarts their rate limit, so that the next misuse is logged whatever came
// before it. The tests' LogCapture calls it when it starts and ends, so a
// test that checks a report sees it, alone, even after a flood in an
// earlier test. Thread context: any thread.
void restart_misuse_reports();
// printf-style formatting for reports (slow paths only).
std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
}  // namespace detail

}  // namespace ppool
