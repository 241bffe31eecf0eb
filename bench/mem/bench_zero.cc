// The clear for kZeroPages, candidate by candidate (src/mem/zero.cc picks one
// from these figures): glibc's memset, `rep stosb` (ERMS/FSRM), SSE2, AVX2 and
// AVX-512 non-temporal stores (+ sfence), and CLZERO (AMD), for one page, 16
// pages and a refill's 64 pages (256 KiB).
//
// The memset row is ppool's clear: zero.cc calls memset and nothing else, so
// a row of its own would time the same code. The clear stays internal (a
// user who wants zeroed pages asks for kZeroPages; one who zeroes memory
// has memset), so what kZeroPages costs a pool is measured through the
// pool's public API instead: ppool-bench's slow_path_zero and fresh_zero
// against slow_path and fresh_4k, and scripts/icount.sh's slow_zero.
//
// Two things decide which clear is cheapest, so each is an argument:
//   dst: hot  - the same buffer every iteration (in cache: what a clear
//               costs when the page was just freed);
//        cold - the next buffer of a 256 MiB region every iteration (not in
//               any cache: a page that sat free in the allocator, the
//               refill's usual case);
//   use: 0    - the clear alone;
//        1    - then every cache line read back, as the device or the CPU
//               uses the page soon after it is handed out: a clear that
//               bypasses the cache (non-temporal stores, CLZERO) pays a miss
//               per line here instead.
// per_page (time per 4 KiB page) is the figure zero.cc quotes.
//
//   ./build/bench/bench_zero --benchmark_min_time=0.2
//   ./build/bench/bench_zero --benchmark_filter=bytes:262144
#include <benchmark/benchmark.h>
#include <cpuid.h>
#include <immintrin.h>
#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

constexpr std::size_t kPage = 4096;
constexpr std::size_t kLine = 64;
constexpr std::size_t kColdBytes = std::size_t{256} << 20;  // far past any L3

// The candidates. Each clears [p, p + n): p page-aligned, n a multiple of
// the page size, as a kZeroPages pool clears a refill.

void clear_memset(void* p, std::size_t n) {
  std::memset(p, 0, n);
}

void clear_rep_stosb(void* p, std::size_t n) {
  asm volatile("rep stosb" : "+D"(p), "+c"(n) : "a"(0) : "memory");
}

void clear_sse2_nt(void* p, std::size_t n) {
  const __m128i zero = _mm_setzero_si128();
  for (char *c = static_cast<char*>(p), *end = c + n; c < end; c += kLine) {
    _mm_stream_si128(reinterpret_cast<__m128i*>(c), zero);
    _mm_stream_si128(reinterpret_cast<__m128i*>(c + 16), zero);
    _mm_stream_si128(reinterpret_cast<__m128i*>(c + 32), zero);
    _mm_stream_si128(reinterpret_cast<__m128i*>(c + 48), zero);
  }
  _mm_sfence();
}

__attribute__((target("avx2"))) void clear_avx2_nt(void* p, std::size_t n) {
  const __m256i zero = _mm256_setzero_si256();
  for (char *c = static_cast<char*>(p), *end = c + n; c < end; c += kLine) {
    _mm256_stream_si256(reinterpret_cast<__m256i*>(c), zero);
    _mm256_stream_si256(reinterpret_cast<__m256i*>(c + 32), zero);
  }
  _mm_sfence();
}

// Temporal 32-byte stores: what memset's vector loop does below its
// `rep stosb` threshold, without the call and the size dispatch.
__attribute__((target("avx2"))) void clear_avx2(void* p, std::size_t n) {
  const __m256i zero = _mm256_setzero_si256();
  for (char *c = static_cast<char*>(p), *end = c + n; c < end; c += kLine) {
    _mm256_store_si256(reinterpret_cast<__m256i*>(c), zero);
    _mm256_store_si256(reinterpret_cast<__m256i*>(c + 32), zero);
  }
}

__attribute__((target("avx512f"))) void clear_avx512_nt(void* p, std::size_t n) {
  const __m512i zero = _mm512_setzero_si512();
  for (char *c = static_cast<char*>(p), *end = c + n; c < end; c += kLine)
    _mm512_stream_si512(reinterpret_cast<__m512i*>(c), zero);
  _mm_sfence();
}

// CLZERO zeroes the whole cache line holding rAX; weakly ordered like
// non-temporal stores, hence the sfence.
void clear_clzero(void* p, std::size_t n) {
  for (char *c = static_cast<char*>(p), *end = c + n; c < end; c += kLine)
    asm volatile("clzero" : : "a"(c) : "memory");
  _mm_sfence();
}

bool has_clzero() {
  unsigned a, b, c, d;
  return __get_cpuid(0x80000008, &a, &b, &c, &d) && (b & 1u);
}

// The region the buffers come from, faulted in once (4 KiB pages, as a
// pool's pages on the default backing).
char* region() {
  static char* base = [] {
    void* p = mmap(nullptr, kColdBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      std::perror("bench_zero: mmap");
      std::exit(1);
    }
    std::memset(p, 1, kColdBytes);
    return static_cast<char*>(p);
  }();
  return base;
}

// Reads one word of every line: the first use of the page after the clear.
std::uint64_t read_back(const char* p, std::size_t n) {
  std::uint64_t sum = 0;
  for (std::size_t off = 0; off < n; off += kLine)
    sum += *reinterpret_cast<const volatile std::uint64_t*>(p + off);
  return sum;
}

// Args: bytes, cold (0: hot), use (1: read every line back).
template <void (*Clear)(void*, std::size_t)>
void BM_zero(benchmark::State& state) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  const bool cold = state.range(1) != 0, use = state.range(2) != 0;
  char* base = region();
  std::size_t off = 0;
  std::uint64_t sum = 0;
  for (auto _ : state) {
    char* p = base + off;
    Clear(p, bytes);
    if (use) sum += read_back(p, bytes);
    benchmark::ClobberMemory();
    if (cold && (off += bytes) == kColdBytes) off = 0;
  }
  benchmark::DoNotOptimize(sum);
  if (sum) state.SkipWithError("a cleared buffer read back non-zero");
  const double pages = static_cast<double>(bytes / kPage);
  // Seconds per page, printed with its SI prefix ("36.4ns").
  state.counters["per_page"] = benchmark::Counter(
      pages, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
}

void sizes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"bytes", "cold", "use"});
  for (std::int64_t cold : {0, 1})
    for (std::int64_t use : {0, 1})
      for (std::int64_t bytes : {4096, 65536, 262144}) b->Args({bytes, cold, use});
}

// Registered at run time: a candidate this CPU lacks is left out, saying so.
const bool registered = [] {
  benchmark::RegisterBenchmark("memset", BM_zero<clear_memset>)->Apply(sizes);
  benchmark::RegisterBenchmark("rep_stosb", BM_zero<clear_rep_stosb>)->Apply(sizes);
  benchmark::RegisterBenchmark("sse2_nt", BM_zero<clear_sse2_nt>)->Apply(sizes);
  if (__builtin_cpu_supports("avx2")) {
    benchmark::RegisterBenchmark("avx2", BM_zero<clear_avx2>)->Apply(sizes);
    benchmark::RegisterBenchmark("avx2_nt", BM_zero<clear_avx2_nt>)->Apply(sizes);
  } else {
    std::printf("# avx2, avx2_nt: skipped, the CPU has no AVX2\n");
  }
  if (__builtin_cpu_supports("avx512f"))
    benchmark::RegisterBenchmark("avx512_nt", BM_zero<clear_avx512_nt>)->Apply(sizes);
  else
    std::printf("# avx512_nt: skipped, the CPU has no AVX-512F\n");
  if (has_clzero())
    benchmark::RegisterBenchmark("clzero", BM_zero<clear_clzero>)->Apply(sizes);
  else
    std::printf("# clzero: skipped, the CPU has no CLZERO (CPUID 0x80000008 EBX bit 0)\n");
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
