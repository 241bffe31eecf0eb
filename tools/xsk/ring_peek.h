// Frames on each ring of a libxdp socket, for the report at teardown.
//
// A workaround: XskQueue (ppool/xsk.h) says how many frames the kernel holds
// for a socket per pair of rings (in_fill: fill + RX, in_tx: TX +
// completion) but not per ring, and a bound AF_XDP socket refuses a second
// mmap of its rings. So this reads libxdp 1.x's socket handle, whose first
// members are its RX and TX rings and the context holding the fill and
// completion rings, and checks what it reads (ring sizes as configured,
// masks size - 1) before trusting it; a mismatch reads as "unknown".
#pragma once

#include <cstdint>

struct xsk_socket;

namespace xsk {

struct SocketRings {
  bool known = false;
  std::uint32_t fill = 0, rx = 0, tx = 0, completion = 0;
};

// rx_size/tx_size/fq_size: the sizes the socket was created with (0: that
// ring was not asked for).
SocketRings peek_rings(const xsk_socket* socket, std::uint32_t rx_size, std::uint32_t tx_size,
                       std::uint32_t fq_size);

}  // namespace xsk
