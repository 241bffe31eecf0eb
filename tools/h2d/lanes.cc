// The four modes of ppool-h2d and the lanes that run them.
//
//   ppool              the lane owns a pool of 2 MiB pages registered once on
//                      the CudaDmaDevice; it fills a page from its source
//                      (memcpy: the staging a real pipeline does), copies it
//                      to the GPU and queues a host function after the copy;
//                      the host function hands the page to a completion
//                      thread, which puts it back through the pool's ring
//   pageable           copies straight from the source; the driver stages
//                      through its own pinned buffers
//   register_per_copy  registers the source chunk, copies, waits, unregisters:
//                      the cost a pool's recycling removes
//   kept_registered    the source registered once before the clock starts:
//                      the bound, with no staging copy at all
#include "lanes.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "cuda_api.h"
#include "ppool/page_pool.h"
#include "ppool/ring.h"

namespace h2d {
namespace {

const CudaApi& cuda() {
  return cuda_api();
}

void check(CUresult result, const char* what) {
  if (result != kCudaSuccess) throw std::runtime_error(cuda().describe(what, result));
}

// Pages whose copies one host function reports: a host function holds up
// its stream until a driver thread has run it, so one per page would leave
// a gap after every copy.
struct Batch {
  ppool::Page* pages[kMaxBatch];
  unsigned count = 0;
};

// A lane's GPU side and its share of the work. Created and destroyed on the
// main thread, used by the lane's thread (and its counter by the completion
// thread).
struct Lane {
  unsigned index = 0;
  const Source* source = nullptr;
  CUstream stream = nullptr;
  CUdeviceptr dst = 0;
  std::size_t dst_chunks = 0;  // the destination is a ring of chunks
  // ppool only: the lane's pool, pages issued (lane thread) and pages back
  // in the pool's ring (completion thread; release: the ring write first).
  ppool::PagePool* pool = nullptr;
  std::uint64_t issued = 0;
  // A ring of batches: the one being filled, and those whose host functions
  // are pending (at most one per page in flight, so never the whole ring).
  std::vector<Batch> batches;
  std::size_t filling = 0;
  alignas(ppool::kCacheLine) std::atomic<std::uint64_t> completed{0};

  CUdeviceptr dst_chunk(std::uint64_t i) const { return dst + (i % dst_chunks) * kChunk; }
};

// What a mode does on a lane. Every call runs on the lane's thread, with the
// device's context current; errors are thrown.
class Strategy {
 public:
  virtual ~Strategy() = default;
  virtual void setup(Lane&) {}                         // not timed
  virtual void copy(Lane& lane, std::uint64_t i) = 0;  // issues chunk i
  // Waits until every copy issued is done.
  virtual void drain(Lane& lane) { check(cuda().stream_synchronize(lane.stream), "sync"); }
  // Throws unless chunk `last`, the last one copied, is on the GPU intact.
  virtual void verify(Lane& lane, std::uint64_t last);
  // Not timed; also runs after an error, so it must cope with a half-run lane.
  virtual void teardown(Lane&, ModeResult&) {}
};

// The chunk as the GPU holds it, copied back.
std::vector<unsigned char> copy_back(const Lane& lane, std::uint64_t i) {
  std::vector<unsigned char> back(kChunk);
  check(cuda().memcpy_dtoh(back.data(), lane.dst_chunk(i), kChunk), "cuMemcpyDtoH");
  return back;
}

void Strategy::verify(Lane& lane, std::uint64_t last) {
  if (std::memcmp(copy_back(lane, last).data(), lane.source->chunk(last), kChunk) != 0)
    throw std::runtime_error("the data on the GPU differs from the source");
}

// A staging fill: non-temporal stores skip the read-for-ownership of the
// destination and leave the caches alone, one memory write per byte instead
// of a read and a write; the fence makes the stores visible before the copy
// engine is told to read them. Both buffers are chunk-aligned.
void fill_stream(void* dst, const void* src) {
#if defined(__SSE2__)
  auto* d = static_cast<__m128i*>(dst);
  const auto* s = static_cast<const __m128i*>(src);
  for (std::size_t i = 0; i < kChunk / sizeof(__m128i); i += 4) {
    __m128i a = _mm_load_si128(s + i), b = _mm_load_si128(s + i + 1);
    __m128i c = _mm_load_si128(s + i + 2), e = _mm_load_si128(s + i + 3);
    _mm_stream_si128(d + i, a);
    _mm_stream_si128(d + i + 1, b);
    _mm_stream_si128(d + i + 2, c);
    _mm_stream_si128(d + i + 3, e);
  }
  _mm_sfence();
#else
  std::memcpy(dst, src, kChunk);
#endif
}

void copy_async(Lane& lane, std::uint64_t i, const void* from) {
  check(cuda().memcpy_htod_async(lane.dst_chunk(i), from, kChunk, lane.stream),
        "cuMemcpyHtoDAsync");
}

class Pageable final : public Strategy {
  void copy(Lane& lane, std::uint64_t i) override { copy_async(lane, i, lane.source->chunk(i)); }
};

class RegisterPerCopy final : public Strategy {
  void copy(Lane& lane, std::uint64_t i) override {
    void* chunk = lane.source->chunk(i);
    check(cuda().mem_host_register(chunk, kChunk, 0), "cuMemHostRegister");
    CUresult copied = cuda().memcpy_htod_async(lane.dst_chunk(i), chunk, kChunk, lane.stream);
    // The memory may be unregistered only once the copy has read it.
    CUresult synced = cuda().stream_synchronize(lane.stream);
    check(cuda().mem_host_unregister(chunk), "cuMemHostUnregister");
    check(copied, "cuMemcpyHtoDAsync");
    check(synced, "sync");
  }
};

class KeptRegistered final : public Strategy {
  void setup(Lane& lane) override {
    check(cuda().mem_host_register(lane.source->data(), lane.source->bytes(), 0),
          "cuMemHostRegister");
    registered_[lane.index] = true;
  }
  void copy(Lane& lane, std::uint64_t i) override { copy_async(lane, i, lane.source->chunk(i)); }
  void teardown(Lane& lane, ModeResult&) override {
    if (registered_[lane.index]) cuda().mem_host_unregister(lane.source->data());
  }

 public:
  explicit KeptRegistered(unsigned lanes) : registered_(lanes) {}

 private:
  std::vector<char> registered_;  // one entry per lane, each its lane's own
};

// ---- ppool ----

// Where host functions leave copied pages. Host functions run on a driver
// thread that must not call CUDA: pushing a pointer is all they do.
ppool::MpscRing<ppool::Page*>* g_copied = nullptr;

void on_copied(void* batch) {
  // The ring holds every page in flight: a full ring is a bug, not load.
  const Batch& b = *static_cast<const Batch*>(batch);
  if (g_copied->produce_bulk(b.pages, b.count) != b.count) std::abort();
}

class Ppool final : public Strategy {
 public:
  Ppool(const Options& options, ppool::CudaDmaDevice& dev, std::span<Lane* const> lanes)
      : options_(options),
        dev_(dev),
        lanes_(lanes.begin(), lanes.end()),
        copied_(lanes.size() * options.depth) {
    g_copied = &copied_;
    completer_ = std::thread([this] { complete(); });
  }
  ~Ppool() override {
    stop_.store(true, std::memory_order_release);
    completer_.join();
    g_copied = nullptr;
  }

  void setup(Lane& lane) override {
    ppool::PagePoolParams params;
    params.name = "h2d-" + std::to_string(lane.index);
    params.queue = lane.index;  // how the completion thread finds the lane
    params.order = kOrder;
    params.pool_size = std::max(64u, options_.depth);
    params.flags = ppool::kDmaMap;
    params.dev = &dev_;
    params.dma_dir = ppool::DmaDirection::kBidirectional;  // a pool maps FROM_DEVICE or both
    auto pool = ppool::PagePool::create(params);
    if (!pool) throw std::runtime_error(pool.error().message);
    lane.pool = pool.value();  // owned by this thread: alloc and destroy are owner-only
    // Each pending batch holds a page in flight (flushes while waiting may be
    // partial): depth of them, the one being filled, and one spare.
    lane.batches.resize(options_.depth + 2);
  }

  void copy(Lane& lane, std::uint64_t i) override {
    // The bound on pages in flight: the pool grows only during the warm-up,
    // and in steady state every allocation is a recycled, registered page.
    if (lane.issued - lane.completed.load(std::memory_order_acquire) >= options_.depth) {
      flush(lane);  // the pages waited for may be in the batch being filled
      while (lane.issued - lane.completed.load(std::memory_order_acquire) >= options_.depth)
        std::this_thread::yield();
    }
    ppool::Page* page = lane.pool->alloc_pages();
    if (!page) throw std::runtime_error("the pool could not allocate or register a page");
    void* data = ppool::page_address(page);
    produce(data, lane.source->chunk(i), i);
    CUresult r = cuda().memcpy_htod_async(lane.dst_chunk(i), data, kChunk, lane.stream);
    if (r != kCudaSuccess) {
      cuda().stream_synchronize(lane.stream);
      lane.pool->recycle_direct(page);  // the stream never took it
      check(r, "cuMemcpyHtoDAsync");
    }
    Batch& batch = lane.batches[lane.filling];
    batch.pages[batch.count++] = page;
    ++lane.issued;
    if (batch.count == options_.batch) flush(lane);
  }

  void verify(Lane& lane, std::uint64_t last) override {
    if (options_.fill != Fill::kNone) return Strategy::verify(lane, last);
    if (std::memcmp(copy_back(lane, last).data(), &last, sizeof last) != 0)
      throw std::runtime_error("the page stamp on the GPU is not the last chunk's");
  }

  void drain(Lane& lane) override {
    flush(lane);
    Strategy::drain(lane);  // every host function has run
    while (lane.completed.load(std::memory_order_acquire) != lane.issued) std::this_thread::yield();
  }

  void teardown(Lane& lane, ModeResult& result) override {
    if (!lane.pool) return;
    cuda().stream_synchronize(lane.stream);  // after an error too: nothing may still read a page
    recycle_unreported(lane);
    while (lane.completed.load(std::memory_order_acquire) != lane.issued) std::this_thread::yield();
    std::lock_guard guard(result_lock_);
    result.pages_registered += lane.pool->stats().alloc.slow_high_order;
    if (std::uint32_t left = ppool::PagePool::destroy(lane.pool))
      result.error += "pool " + std::to_string(lane.index) + " destroyed with " +
                      std::to_string(left) + " pages in flight; ";
    lane.pool = nullptr;
  }

 private:
  void produce(void* page, const void* source, std::uint64_t i) {
    switch (options_.fill) {
      case Fill::kStream:
        return fill_stream(page, source);
      case Fill::kMemcpy:
        std::memcpy(page, source, kChunk);
        return;
      case Fill::kNone:
        std::memcpy(page, &i, sizeof i);
        return;
    }
  }

  // Hands the batch being filled to a host function after its copies.
  void flush(Lane& lane) {
    Batch& batch = lane.batches[lane.filling];
    if (!batch.count) return;
    check(cuda().launch_host_func(lane.stream, on_copied, &batch), "cuLaunchHostFunc");
    lane.filling = (lane.filling + 1) % lane.batches.size();
    lane.batches[lane.filling].count = 0;  // its host function has run: pages bound it
  }

  // After an error: pages copied (the stream is idle) whose batch no host
  // function will report go straight back to the cache.
  void recycle_unreported(Lane& lane) {
    Batch& batch = lane.batches[lane.filling];  // sized with the pool
    for (unsigned k = 0; k < batch.count; ++k) lane.pool->recycle_direct(batch.pages[k]);
    lane.issued -= batch.count;
    batch.count = 0;
  }

  // The completion thread: copied pages back into their pools' rings (not
  // the owner, so never direct), then counted for their lane.
  void complete() {
    ppool::Page* batch[ppool::kAllocCacheRefill];
    while (!stop_.load(std::memory_order_acquire)) {
      std::size_t n = copied_.consume_bulk(batch, std::size(batch));
      if (n == 0) {
        std::this_thread::yield();
        continue;
      }
      for (std::size_t k = 0; k < n; ++k) {
        ppool::PagePool* pool = ppool::page_pool_of(batch[k]);
        Lane* lane = lanes_[pool->params().queue];
        pool->put_full_page(batch[k], false);
        lane->completed.fetch_add(1, std::memory_order_release);
      }
    }
  }

  const Options& options_;
  ppool::CudaDmaDevice& dev_;
  std::vector<Lane*> lanes_;
  ppool::MpscRing<ppool::Page*> copied_;
  std::atomic<bool> stop_{false};
  std::thread completer_;
  std::mutex result_lock_;
};

std::unique_ptr<Strategy> make_strategy(Mode mode, const Options& options,
                                        ppool::CudaDmaDevice& dev, std::span<Lane* const> lanes) {
  switch (mode) {
    case Mode::kPpool:
      return std::make_unique<Ppool>(options, dev, lanes);
    case Mode::kPageable:
      return std::make_unique<Pageable>();
    case Mode::kRegisterPerCopy:
      return std::make_unique<RegisterPerCopy>();
    case Mode::kKeptRegistered:
      return std::make_unique<KeptRegistered>(static_cast<unsigned>(lanes.size()));
  }
  return nullptr;
}

// ---- running a mode ----

struct Plan {
  std::uint64_t warmup;  // chunks per lane before the clock starts
  std::uint64_t chunks;  // timed chunks per lane
};

// Errors from the lanes' threads, for the report.
class Errors {
 public:
  void add(unsigned lane, const std::string& what) {
    std::lock_guard guard(lock_);
    text_ += "lane " + std::to_string(lane) + ": " + what + "; ";
  }
  std::string take() {
    std::lock_guard guard(lock_);
    return std::move(text_);
  }

 private:
  std::mutex lock_;
  std::string text_;
};

void open_lane(Lane& lane, ppool::CudaDmaDevice& dev) {
  if (ppool::Result<void> current = dev.make_current(); !current)
    throw std::runtime_error(current.error().message);
  check(cuda().stream_create(&lane.stream, kCuStreamNonBlocking), "cuStreamCreate");
  check(cuda().mem_alloc(&lane.dst, lane.dst_chunks * kChunk), "cuMemAlloc");
}

void close_lane(Lane& lane) {
  if (lane.stream) cuda().stream_destroy(lane.stream);
  if (lane.dst) cuda().mem_free(lane.dst);
  lane.stream = nullptr;
  lane.dst = 0;
}

// One lane's thread. The barrier's two phases bracket the timed part; a lane
// that fails drops out of the barrier so the others and the clock go on.
void run_lane(Strategy& strategy, Lane& lane, ppool::CudaDmaDevice& dev, const Plan& plan,
              std::barrier<>& clock, Errors& errors, ModeResult& result) {
  int phase = 0;
  try {
    open_lane(lane, dev);
    strategy.setup(lane);
    for (std::uint64_t i = 0; i < plan.warmup; ++i) strategy.copy(lane, i);
    strategy.drain(lane);
    clock.arrive_and_wait();
    phase = 1;
    for (std::uint64_t i = plan.warmup; i < plan.warmup + plan.chunks; ++i) strategy.copy(lane, i);
    strategy.drain(lane);
    clock.arrive_and_wait();
    phase = 2;
    strategy.verify(lane, plan.warmup + plan.chunks - 1);
  } catch (const std::exception& e) {
    errors.add(lane.index, e.what());
    if (phase < 2) clock.arrive_and_drop();
  }
  strategy.teardown(lane, result);
  close_lane(lane);
}

}  // namespace

const char* to_string(Mode mode) {
  switch (mode) {
    case Mode::kPpool:
      return "ppool";
    case Mode::kPageable:
      return "pageable";
    case Mode::kRegisterPerCopy:
      return "register_per_copy";
    case Mode::kKeptRegistered:
      return "kept_registered";
  }
  return "?";
}

const char* to_string(Fill fill) {
  switch (fill) {
    case Fill::kStream:
      return "stream";
    case Fill::kMemcpy:
      return "memcpy";
    case Fill::kNone:
      return "none";
  }
  return "?";
}

Source::Source(unsigned lane, std::size_t bytes)
    : chunks_(std::max<std::size_t>(1, bytes / kChunk)) {
  void* p = std::aligned_alloc(kChunk, chunks_ * kChunk);
  if (!p) throw std::bad_alloc();
  data_.reset(static_cast<unsigned char*>(p));
  // Ordinary pageable memory as an application has it; every byte written,
  // so the timed part takes no page fault.
  for (std::size_t i = 0; i < chunks_ * kChunk; ++i)
    data_.get()[i] = static_cast<unsigned char>((i >> 12) * 7 + i + lane * 13);
}

void Source::Free::operator()(unsigned char* p) const {
  std::free(p);
}

ModeResult run_mode(Mode mode, const Options& options, ppool::CudaDmaDevice& dev,
                    std::span<const Source> sources) {
  const std::uint64_t total = static_cast<std::uint64_t>(options.gib * (1ull << 30)) / kChunk;
  const Plan plan{std::max<std::uint64_t>(16, 2ull * options.depth),
                  std::max<std::uint64_t>(1, total / sources.size())};
  std::vector<std::unique_ptr<Lane>> lanes;
  std::vector<Lane*> lane_ptrs;
  for (unsigned i = 0; i < sources.size(); ++i) {
    lanes.push_back(std::make_unique<Lane>());
    lanes.back()->index = i;
    lanes.back()->source = &sources[i];
    lanes.back()->dst_chunks = std::max(2u, options.depth);
    lane_ptrs.push_back(lanes.back().get());
  }
  ModeResult result;
  Errors errors;
  {
    std::unique_ptr<Strategy> strategy = make_strategy(mode, options, dev, lane_ptrs);
    std::barrier<> clock(static_cast<std::ptrdiff_t>(lanes.size() + 1));
    std::vector<std::thread> threads;
    for (auto& lane : lanes)
      threads.emplace_back(run_lane, std::ref(*strategy), std::ref(*lane), std::ref(dev),
                           std::cref(plan), std::ref(clock), std::ref(errors), std::ref(result));
    clock.arrive_and_wait();
    const auto start = std::chrono::steady_clock::now();
    clock.arrive_and_wait();
    result.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    for (auto& t : threads) t.join();
  }
  result.bytes = plan.chunks * lanes.size() * kChunk;
  result.error = errors.take() + result.error;
  if (result.error.empty() && result.seconds > 0)  // a failed mode measures nothing
    result.gbps = static_cast<double>(result.bytes) / result.seconds / 1e9;
  return result;
}

}  // namespace h2d
