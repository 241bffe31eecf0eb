// Helpers shared by the pool tests: building a pool and waiting on the
// release worker.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "ppool/dma.h"
#include "ppool/page.h"
#include "ppool/page_pool.h"

namespace ppool::test {

// Builds a pool; a refusal is a test failure (with its message) and nullptr.
inline PagePool* create_pool(const PagePoolParams& params) {
  auto created = PagePool::create(params);
  EXPECT_TRUE(created.ok()) << (created.ok() ? "" : created.error().message);
  return created.ok() ? created.value() : nullptr;
}

// A pool named name on dev with flags; with kDmaSyncDev it syncs a whole page.
inline PagePool* make_pool(const std::string& name, DmaDevice* dev, std::uint32_t flags,
                           PageAllocator* alloc = nullptr, unsigned pool_size = 256) {
  PagePoolParams params;
  params.name = name;
  params.dev = dev;
  params.flags = flags;
  params.max_len = (flags & kDmaSyncDev) ? kPageSize : 0;
  params.pool_size = pool_size;
  params.allocator = alloc;
  return create_pool(params);
}

// Runs f on a thread of its own and waits for it: a put from a thread that
// is not the pool's owner goes through the ring (on the owner it would be
// napi-local, into the cache).
template <class F>
void on_other_thread(F f) {
  std::thread(f).join();
}

// Polls pred every millisecond for up to timeout; true once it holds.
template <class Pred>
bool wait_for(Pred pred, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

}  // namespace ppool::test
