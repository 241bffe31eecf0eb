// The chunk arena (layer mem, internal): the process's one reservation of
// address space, handed out in 4 MiB chunks to page allocators.
//
// A chunk is kChunkBytes of data, kChunkBytes-aligned, plus its 1024 page
// descriptors in the descriptor array. The arena only moves chunks between
// "never used" (PROT_NONE), "handed out" and "returned" (RW, plain anonymous
// memory, discarded, all descriptors kUnused); what a chunk's memory is made
// of while an allocator owns it is the backing's business (mem/backing.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

#include "ppool/page.h"

namespace ppool::detail {

inline constexpr std::uint32_t kNoChunk = UINT32_MAX;
inline constexpr std::uint32_t kPagesPerChunk = 1u << kMaxOrder;

inline void* chunk_address(std::uint32_t chunk) {
  return reinterpret_cast<void*>(g_arena.base + std::size_t{chunk} * kChunkBytes);
}

// The arena's chunk bookkeeping. Chunk traffic is rare (4 MiB and more at a
// time, on allocators' slow paths), so one mutex is enough.
class ChunkArena {
 public:
  // Reserves on first call (before main, see arena.cc). Never destroyed:
  // allocators with static storage duration may give chunks back after main
  // returns. Thread context: any thread.
  static ChunkArena& get();

  // One chunk, RW, or kNoChunk when the arena is exhausted or missing. The
  // chunk returned last is handed out first (it is likely still cached and
  // its descriptors are faulted in). Thread context: any thread.
  std::uint32_t take() { return take_run(1, 1); }

  // `count` consecutive chunks, RW, the first at an address aligned to
  // `align` chunks (a 1 GiB huge page needs 256 chunks 1 GiB-aligned), or
  // kNoChunk. Looks among returned chunks first, then past the bump index;
  // chunks skipped there for alignment go on the returned list, still usable.
  // Thread context: any thread.
  std::uint32_t take_run(std::uint32_t count, std::uint32_t align);

  // Gives back `count` chunks from `first`: plain anonymous RW memory,
  // discarded, every descriptor kUnused. Thread context: any thread.
  void give_run(std::uint32_t first, std::uint32_t count);

 private:
  ChunkArena();
  // A run among the returned chunks, removed from the list, or kNoChunk.
  std::uint32_t take_returned_run(std::uint32_t count, std::uint32_t align);
  // A run past the bump index, or kNoChunk.
  std::uint32_t take_fresh_run(std::uint32_t count, std::uint32_t align);

  std::mutex mu_;
  std::uint32_t next_ = 0;               // first chunk never handed out
  std::vector<std::uint32_t> returned_;  // reusable, last returned at the back
};

}  // namespace ppool::detail
