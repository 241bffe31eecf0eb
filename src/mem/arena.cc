// The chunk arena: the address space reserved before main, the descriptor
// array, and which chunks are free to hand out.
#include "mem/arena.h"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace ppool {

namespace detail {
Arena g_arena;
}  // namespace detail

namespace detail {
namespace {

// PROT_NONE + MAP_NORESERVE costs address space only; the descriptor array
// is touched (64 bytes per page) only for chunks in use, and untouched
// descriptors read zero = kUnused.
bool reserve(std::size_t bytes) {
  const int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
  const std::size_t span = bytes + kChunkBytes;
  void* data = ::mmap(nullptr, span, PROT_NONE, flags, -1, 0);
  if (data == MAP_FAILED) return false;
  const std::size_t desc_bytes = (bytes >> kPageShift) * sizeof(Page);
  void* descs = ::mmap(nullptr, desc_bytes, PROT_READ | PROT_WRITE, flags, -1, 0);
  if (descs == MAP_FAILED) {
    ::munmap(data, span);
    return false;
  }
  // Chunk alignment keeps buddies inside one chunk; trim the slack.
  const auto start = reinterpret_cast<std::uintptr_t>(data);
  const std::uintptr_t base = (start + kChunkBytes - 1) & ~(std::uintptr_t{kChunkBytes} - 1);
  if (base != start) ::munmap(data, base - start);
  if (const std::size_t tail = start + span - (base + bytes); tail != 0) {
    ::munmap(reinterpret_cast<void*>(base + bytes), tail);
  }
  g_arena.base = base;
  g_arena.descs = static_cast<Page*>(descs);
  g_arena.bytes = bytes;  // last: page_of() tests only this
  return true;
}

// The largest span the process may reserve, halving from kArenaBytes down to
// 1 GiB: under valgrind or a tight RLIMIT_AS 64 GiB is refused.
void reserve() {
  for (std::size_t bytes = kArenaBytes; bytes >= (std::size_t{1} << 30); bytes /= 2) {
    if (reserve(bytes)) return;
  }
  log(LogLevel::kError,
      format("cannot reserve a page arena of even 1 GiB: %s", std::strerror(errno)));
}

// True when the chunk's address is a multiple of `align` chunks.
bool aligned(std::uint64_t chunk, std::uint32_t align) {
  return (g_arena.base / kChunkBytes + chunk) % align == 0;
}

// Reserve before main, so g_arena is read-only by the time threads exist.
[[maybe_unused]] const bool g_arena_reserved = (ChunkArena::get(), true);

}  // namespace

ChunkArena::ChunkArena() {
  reserve();
}

ChunkArena& ChunkArena::get() {
  static ChunkArena* arena = new ChunkArena;
  return *arena;
}

std::uint32_t ChunkArena::take_run(std::uint32_t count, std::uint32_t align) {
  if (count == 0 || align == 0) return kNoChunk;
  std::lock_guard lock(mu_);
  const std::uint32_t first = take_returned_run(count, align);
  return first != kNoChunk ? first : take_fresh_run(count, align);
}

// A single chunk is the list's last; a longer run costs a sort of a copy of
// the list, which only allocators with 1 GiB pages or a shared region ask
// for, once per unit of growth.
std::uint32_t ChunkArena::take_returned_run(std::uint32_t count, std::uint32_t align) {
  if (returned_.empty()) return kNoChunk;
  if (count == 1 && align == 1) {
    const std::uint32_t chunk = returned_.back();
    returned_.pop_back();
    return chunk;
  }
  std::vector<std::uint32_t> sorted = returned_;
  std::sort(sorted.begin(), sorted.end());
  for (std::size_t i = 0; i + count <= sorted.size(); ++i) {
    if (!aligned(sorted[i], align) || sorted[i + count - 1] != sorted[i] + count - 1) continue;
    const std::uint32_t first = sorted[i];
    std::erase_if(returned_, [&](std::uint32_t c) { return c - first < count; });
    return first;
  }
  return kNoChunk;
}

std::uint32_t ChunkArena::take_fresh_run(std::uint32_t count, std::uint32_t align) {
  const std::uint64_t total = g_arena.bytes / kChunkBytes;
  std::uint64_t first = next_;
  while (!aligned(first, align)) ++first;  // at most align - 1 steps
  if (first + count > total) return kNoChunk;
  // First commit of this range: one mprotect for the whole run, never per
  // page. MAP_NORESERVE keeps it free of commit charge until touched.
  const std::size_t bytes = static_cast<std::size_t>(first + count - next_) * kChunkBytes;
  if (::mprotect(chunk_address(next_), bytes, PROT_READ | PROT_WRITE) != 0) {
    log(LogLevel::kError, format("mprotect of %zu MiB of the page arena failed: %s", bytes >> 20,
                                 std::strerror(errno)));
    return kNoChunk;
  }
  // Skipped chunks go to the front: the back is for warm, recently used ones.
  std::vector<std::uint32_t> skipped;
  for (std::uint32_t c = next_; c < first; ++c) skipped.push_back(c);
  returned_.insert(returned_.begin(), skipped.begin(), skipped.end());
  next_ = static_cast<std::uint32_t>(first + count);
  return static_cast<std::uint32_t>(first);
}

void ChunkArena::give_run(std::uint32_t first, std::uint32_t count) {
  std::lock_guard lock(mu_);
  for (std::uint32_t c = first; c < first + count; ++c) returned_.push_back(c);
}

}  // namespace detail
}  // namespace ppool
