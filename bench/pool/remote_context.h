// Benchmarks only: one thread posing as another for a put.
//
// A put on a pool's owner thread is napi-local (into the cache); the ring
// path is a put from any other thread. To time that path alone, without the
// cache-line transfers of a real second core (cross_core measures those),
// a benchmark swaps its thread's ppool id for a put: the put then takes
// exactly the code a remote thread's would. Costs a load and two stores per
// put, in the figures. Thread context: the calling thread only.
#pragma once

#include <cstdint>

#include "ppool/page_pool.h"

namespace ppool::bench {

class RemoteContext {
 public:
  // An id of its own, taken once: no pool's owner has it.
  RemoteContext() {
    const std::uint64_t self = detail::tls_thread_id;
    detail::tls_thread_id = 0;
    remote_id_ = detail::current_thread_id();
    detail::tls_thread_id = self;
  }
  // Runs put as the remote thread, then is the calling thread again.
  template <class Put>
  void run(Put put) {
    const std::uint64_t self = detail::tls_thread_id;
    detail::tls_thread_id = remote_id_;
    put();
    detail::tls_thread_id = self;
  }

 private:
  std::uint64_t remote_id_;
};

}  // namespace ppool::bench
