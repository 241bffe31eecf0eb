#include "pool/release_worker.h"

#include <chrono>
#include <thread>

#include "pool/holder_scan.h"
#include "pool/pool_internal.h"

namespace ppool {
namespace detail {
namespace {

// How often a waiting pool is retried when nothing wakes the worker. The
// kernel waits a second; a page returned through the ring after destroy
// waits at most this long.
constexpr auto kRetryInterval = std::chrono::milliseconds(100);

}  // namespace

ReleaseWorker& ReleaseWorker::instance() {
  static ReleaseWorker* worker = new ReleaseWorker;  // never destroyed: see the class comment
  return *worker;
}

void ReleaseWorker::adopt(PagePool* pool) {
  std::lock_guard guard(lock_);
  pending_.push_back({pool, now_ns()});
  if (!started_) {
    started_ = true;
    std::thread([this] { run(); }).detach();
  }
  woken_.store(true, std::memory_order_relaxed);
  cv_.notify_one();
}

// Called from release paths that may run inside retry_all() (which holds
// lock_), so it takes no lock; a wake-up lost to that race costs at most one
// retry interval.
void ReleaseWorker::wake() {
  woken_.store(true, std::memory_order_relaxed);
  cv_.notify_one();
}

std::size_t ReleaseWorker::pending() {
  std::lock_guard guard(lock_);
  return pending_.size();
}

void ReleaseWorker::set_report_interval(double seconds) {
  std::lock_guard guard(lock_);
  report_interval_ns_ = static_cast<std::int64_t>(seconds * 1e9);
}

void ReleaseWorker::run() {
  std::unique_lock guard(lock_);
  for (;;) {
    cv_.wait_for(guard, kRetryInterval, [this] { return woken_.load(std::memory_order_relaxed); });
    woken_.store(false, std::memory_order_relaxed);
    retry_all(now_ns());
  }
}

// The worker is the ring's consumer once a pool is destroyed: it drains what
// came back, frees the pools with nothing in flight, and reports the others.
void ReleaseWorker::retry_all(std::int64_t now) {
  for (std::size_t i = 0; i < pending_.size();) {
    Pending& p = pending_[i];
    p.pool->drain();
    std::uint32_t inflight = p.pool->inflight();
    if (p.pool->try_finish_release()) {
      pending_[i] = pending_.back();
      pending_.pop_back();
      continue;
    }
    if (now - p.last_report_ns >= report_interval_ns_) {
      p.last_report_ns = now;
      const double since = (now - p.pool->detach_time_ns_.load(std::memory_order_relaxed)) / 1e9;
      std::string message =
          format("pool %u '%s' stalled shutdown: %u pages in flight %.0f s after destroy",
                 p.pool->id(), p.pool->name(), inflight, since);
      message += describe_top_holders(holders_of(*p.pool));
      log(LogLevel::kWarning, message);
    }
    ++i;
  }
}

}  // namespace detail

void set_stall_report_interval(double seconds) {
  detail::ReleaseWorker::instance().set_report_interval(seconds);
}

std::size_t pools_pending_release() {
  return detail::ReleaseWorker::instance().pending();
}

}  // namespace ppool
