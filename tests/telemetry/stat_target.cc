// A process for tests/telemetry/stat.sh to read with ppool-stat: two pools
// whose counters keep moving, three pages held by a named holder, a third
// pool and a holder whose names carry terminal escapes (which ppool-stat
// must show escaped), and the telemetry endpoint started by the environment
// (PPOOL_TELEMETRY=PATH) at the first pool's creation, as an application
// would get it.
//   PPOOL_TELEMETRY=PATH stat_target SECONDS
// Prints "ready ID0 ID1 ID2" once the endpoint answers, churns until SECONDS
// have passed, then exits 0. Exits 3 when the environment did not start
// the endpoint.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "ppool/holder.h"
#include "ppool/page_pool.h"
#include "ppool/telemetry.h"

namespace {

ppool::PagePool* make(const char* name, unsigned queue) {
  ppool::PagePoolParams params;
  params.name = name;
  params.queue = queue;
  auto created = ppool::PagePool::create(params);
  if (!created) {
    std::fprintf(stderr, "stat_target: %s\n", created.error().message.c_str());
    std::exit(1);
  }
  return created.value();
}

// Allocations from the allocator and the cache, recycles into the cache
// and, from another thread, into the ring: every build's counters move
// (recycle_ring counts even with PPOOL_STATS=OFF).
void churn(ppool::PagePool* pool) {
  ppool::Page* pages[32];
  for (ppool::Page*& page : pages) page = pool->alloc_pages();
  for (int i = 0; i < 16; ++i) pool->recycle_direct(pages[i]);
  std::thread([&] {
    for (int i = 16; i < 32; ++i) pool->put_full_page(pages[i], /*allow_direct=*/false);
  }).join();
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 30;
  ppool::PagePool* pools[] = {make("stat rxq0", 0), make("stat rxq1", 1)};
  ppool::PagePool* evil = make("evil\x1b[2J\nname", 2);
  if (ppool::telemetry_path().empty()) {
    std::fprintf(stderr, "stat_target: PPOOL_TELEMETRY did not start the endpoint\n");
    return 3;
  }
  std::vector<ppool::Page*> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(pools[0]->alloc_pages());
    ppool::set_page_holder(held.back(), 9);
  }
  ppool::name_holder(9, "stat holder");
  held.push_back(pools[0]->alloc_pages());
  ppool::set_page_holder(held.back(), 10);
  ppool::name_holder(10, "evil\x1b]0;title\x07holder");
  std::printf("ready %u %u %u\n", pools[0]->id(), pools[1]->id(), evil->id());
  std::fflush(stdout);

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    for (ppool::PagePool* pool : pools) churn(pool);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  for (ppool::Page* page : held) pools[0]->recycle_direct(page);
  for (ppool::PagePool* pool : pools) ppool::PagePool::destroy(pool);
  ppool::PagePool::destroy(evil);
  return 0;
}
