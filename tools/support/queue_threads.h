// support/queue_threads.h - how a forwarder (ppool-fwd, ppool-xsk) starts
// its queues: a thread each, and no traffic until every queue has set up
// (its pool, its rings) or one has failed. Header-only (a template over the
// forwarder's Queue, which has `std::atomic<bool> ready, failed`).
// Thread context: the forwarder's owner.
#pragma once

#include <memory>
#include <thread>
#include <vector>

namespace ppool::tools {

// Starts run(queue) on a thread per queue into threads, then waits until each
// queue is ready or failed; the first failed queue, or nullptr when all are
// ready. The wait spins with yield: set-up takes milliseconds, once a run.
template <class Queue, class Run>
Queue* start_queue_threads(std::vector<std::unique_ptr<Queue>>& queues,
                           std::vector<std::thread>& threads, Run run) {
  for (auto& queue : queues) threads.emplace_back(run, queue.get());
  for (auto& queue : queues) {
    while (!queue->ready && !queue->failed) std::this_thread::yield();
    if (queue->failed) return queue.get();
  }
  return nullptr;
}

}  // namespace ppool::tools
