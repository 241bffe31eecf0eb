// Page pool paths, each timed on its own, after the baselines (the kernel's
// bench_page_pool_simple order): the fast path (alloc + recycle_direct), the
// ring path (put from another context, refill on alloc), the slow path
// (page allocator + identity DMA map per page) and bulk put.
//
//   ./build/bench/bench_page_pool --benchmark_min_time=0.5
#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <vector>

#include "pool/remote_context.h"

#include "ppool/page_pool.h"

namespace {

ppool::IdentityDmaDevice g_identity;

ppool::PagePool* make_pool(unsigned pool_size = 1024) {
  ppool::PagePoolParams params;
  params.name = "bench";
  params.flags = ppool::kDmaMap;
  params.dev = &g_identity;
  params.pool_size = pool_size;
  return ppool::PagePool::create(params).value();
}

void BM_baseline_empty_loop(benchmark::State& state) {
  for (auto _ : state) benchmark::ClobberMemory();
}
BENCHMARK(BM_baseline_empty_loop);

void BM_baseline_atomic_inc(benchmark::State& state) {
  std::atomic<std::uint64_t> counter{0};
  for (auto _ : state) counter.fetch_add(1, std::memory_order_relaxed);
  benchmark::DoNotOptimize(counter.load());
}
BENCHMARK(BM_baseline_atomic_inc);

void BM_baseline_spin_lock(benchmark::State& state) {
  std::mutex lock;
  for (auto _ : state) {
    lock.lock();
    lock.unlock();
  }
}
BENCHMARK(BM_baseline_spin_lock);

// Owner allocates and recycles straight into the cache.
void BM_fast_path(benchmark::State& state) {
  ppool::PagePool* pool = make_pool();
  for (auto _ : state) {
    ppool::Page* page = pool->alloc_pages();
    benchmark::DoNotOptimize(page);
    pool->recycle_direct(page);
  }
  ppool::PagePool::destroy(pool);
}
BENCHMARK(BM_fast_path);

// A put as another thread's (RemoteContext): the page goes through the
// ring, and the next alloc refills the cache from it (64 at a time).
void BM_ring_path(benchmark::State& state) {
  ppool::PagePool* pool = make_pool();
  ppool::bench::RemoteContext remote;
  for (auto _ : state) {
    ppool::Page* page = pool->alloc_pages();
    benchmark::DoNotOptimize(page);
    remote.run([&] { pool->put_full_page(page, false); });
  }
  ppool::PagePool::destroy(pool);
}
BENCHMARK(BM_ring_path);

// Every page leaves the pool: each alloc is served by a bulk of 64 from the
// page allocator, DMA-mapped one by one (identity device).
void BM_slow_path(benchmark::State& state) {
  ppool::PagePool* pool = make_pool();
  for (auto _ : state) {
    ppool::Page* page = pool->alloc_pages();
    benchmark::DoNotOptimize(page);
    pool->release_page(page);
    ppool::put_page(page);
  }
  ppool::PagePool::destroy(pool);
}
BENCHMARK(BM_slow_path);

// put_page_bulk of N pages on the owner: napi-local, into the cache.
void BM_put_page_bulk(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  ppool::PagePool* pool = make_pool();
  std::vector<ppool::Page*> pages(n);
  for (auto _ : state) {
    for (auto& page : pages) page = pool->alloc_pages();
    ppool::put_page_bulk(pages.data(), n);
  }
  state.SetItemsProcessed(state.iterations() * n);
  ppool::PagePool::destroy(pool);
}
BENCHMARK(BM_put_page_bulk)->Arg(1)->Arg(16)->Arg(64);

// The bulk put alone, timed by hand around put_page_bulk (the allocs that
// refill the pages are outside the timed region); items are pages.
void BM_put_page_bulk_only(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  ppool::PagePool* pool = make_pool();
  std::vector<ppool::Page*> pages(n);
  for (auto _ : state) {
    for (auto& page : pages) page = pool->alloc_pages();
    auto t0 = std::chrono::steady_clock::now();
    ppool::put_page_bulk(pages.data(), n);
    auto t1 = std::chrono::steady_clock::now();
    state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
  }
  state.SetItemsProcessed(state.iterations() * n);
  ppool::PagePool::destroy(pool);
}
BENCHMARK(BM_put_page_bulk_only)->Arg(16)->Arg(64)->UseManualTime();

}  // namespace

BENCHMARK_MAIN();
