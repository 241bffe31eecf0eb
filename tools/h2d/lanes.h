// ppool-h2d's measurement: one way of moving data host to device ("mode"),
// run on S lanes at once. A lane is a thread with its own CUDA stream, its
// own pageable source buffer (the data set, as an application holds it) and
// its own destination on the GPU.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "ppool/cuda_device.h"

namespace h2d {

inline constexpr unsigned kOrder = 9;  // pool pages of 2 MiB
inline constexpr std::size_t kChunk = std::size_t{4096} << kOrder;
inline constexpr unsigned kMaxBatch = 64;

// How the ppool lane produces a page's data: from the pageable source with
// plain memcpy, with non-temporal stores (a staging fill: the CPU never reads
// the page again), or in place (the application writes its data straight
// into the pool page; here only an 8-byte stamp, so the run measures the
// pool and the copy engines, not the CPU's copy).
enum class Fill { kStream, kMemcpy, kNone };
const char* to_string(Fill fill);

struct Options {
  double gib = 4;               // measured bytes in all, warm-up excluded
  unsigned streams = 4;         // lanes
  unsigned depth = 16;          // ppool: pages in flight per lane
  unsigned batch = 4;           // ppool: pages per host function, <= depth
  std::size_t source_mib = 64;  // pageable source per lane (larger than caches)
  Fill fill = Fill::kMemcpy;    // faster than kStream on the H100 host measured
};

enum class Mode { kPpool, kPageable, kRegisterPerCopy, kKeptRegistered };
inline constexpr Mode kModes[] = {Mode::kPpool, Mode::kPageable, Mode::kRegisterPerCopy,
                                  Mode::kKeptRegistered};
const char* to_string(Mode mode);  // the JSON key's stem: "ppool", "pageable", ...

// A lane's pageable source: page-aligned heap memory, filled with a pattern
// that differs per lane and per byte so a misplaced chunk is caught.
class Source {
 public:
  Source(unsigned lane, std::size_t bytes);
  unsigned char* chunk(std::uint64_t i) const { return data_.get() + (i % chunks_) * kChunk; }
  unsigned char* data() const { return data_.get(); }
  std::size_t bytes() const { return chunks_ * kChunk; }

 private:
  struct Free {
    void operator()(unsigned char* p) const;
  };
  std::size_t chunks_;
  std::unique_ptr<unsigned char, Free> data_;
};

struct ModeResult {
  double gbps = 0;
  std::uint64_t bytes = 0;
  double seconds = 0;
  std::uint64_t pages_registered = 0;  // ppool: registrations (the pools' slow paths)
  std::string error;                   // empty: measured, verified and cleaned up
};

// Runs `mode` on one lane per source: set-up and a warm-up, then the timed
// copies of options.gib on all lanes at once, then a check that the last
// chunk of each lane arrived intact (copied back), then tear-down (for
// ppool: every pool destroyed with nothing in flight). Thread context: the
// main thread; it starts and joins the lanes' threads.
ModeResult run_mode(Mode mode, const Options& options, ppool::CudaDmaDevice& dev,
                    std::span<const Source> sources);

}  // namespace h2d
