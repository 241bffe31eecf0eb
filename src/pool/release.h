// The release path's worker (layer pool, internal): destroyed pools whose
// pages are still in flight wait here (the kernel's page_pool_release_retry
// delayed work). The release path itself, destroy to the final free, is
// release.cc, which this header serves.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <vector>

namespace ppool {
class PagePool;
namespace detail {

// Thread context: any thread. Started on first adopt(), never stopped (it
// lives as long as the process, so a page returned during exit still finds it).
class ReleaseWorker {
 public:
  static ReleaseWorker& instance();
  // Takes a destroyed pool with pages in flight; frees it once they are back.
  void adopt(PagePool* pool);
  // A page of a destroyed pool came back: retry now rather than at the next tick.
  void wake();
  std::size_t pending();
  void set_report_interval(double seconds);

 private:
  struct Pending {
    PagePool* pool;
    std::int64_t last_report_ns;
  };
  void run();
  void retry_all(std::int64_t now);

  std::mutex lock_;
  std::condition_variable cv_;
  std::vector<Pending> pending_;
  bool started_ = false;
  std::atomic<bool> woken_{false};
  std::int64_t report_interval_ns_ = std::int64_t{60} * 1000000000;
};

}  // namespace detail
}  // namespace ppool
