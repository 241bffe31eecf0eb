// What the producer and the consumer of ppool/share.h agree on (layer share,
// internal): the header sent with the descriptors, the ring memfd's layout
// and the ring entries.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "ppool/base.h"
#include "share/shm_ring.h"

namespace ppool::detail {

inline constexpr std::uint32_t kShareMagic = 0x48535050;  // "PPSH"

// Both sides' refusals: kInvalidArgument, the message prefixed "share: ".
inline Error share_error(std::string message) {
  return Error{Errc::kInvalidArgument, "share: " + std::move(message)};
}

// Sent once, with two descriptors (SCM_RIGHTS): the region (read-only), then
// the ring memfd.
struct ShareHello {
  std::uint32_t magic;
  std::uint32_t version;
  std::uint64_t region_bytes;
  std::uint64_t region_page_bytes;  // a mapping's alignment (the backing's page)
  std::uint32_t ring_entries;
  std::uint32_t ring_bytes;  // the ring memfd's size
};
static_assert(sizeof(ShareHello) == 32);

// A hand ring entry: data at page + offset, len bytes (offsets in the region).
struct ShareDesc {
  std::uint64_t page;
  std::uint32_t offset;
  std::uint32_t len;
};
static_assert(sizeof(ShareDesc) == 16);

// The ring memfd: the two controls, then the slots.
struct ShareRingLayout {
  std::size_t hand_control = 0;
  std::size_t return_control = sizeof(ShmRingControl);
  std::size_t hand_slots = 2 * sizeof(ShmRingControl);
  std::size_t return_slots;
  std::size_t bytes;

  explicit ShareRingLayout(std::uint32_t entries)
      : return_slots(hand_slots + entries * sizeof(ShareDesc)),
        bytes((return_slots + entries * sizeof(std::uint64_t) + kPageSize - 1) & ~(kPageSize - 1)) {
  }
};

inline constexpr std::uint32_t kShareRingMin = 2, kShareRingMax = 65536;
inline bool valid_ring_entries(std::uint32_t n) {
  return n >= kShareRingMin && n <= kShareRingMax && (n & (n - 1)) == 0;
}

// "what: strerror(errno)".
std::string errno_text(const char* what);

}  // namespace ppool::detail
