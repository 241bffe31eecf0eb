#include "ring_peek.h"

#include <xdp/xsk.h>

namespace xsk {
namespace {

// libxdp 1.x (xsk.c): struct xsk_socket { struct xsk_ring_cons *rx;
// struct xsk_ring_prod *tx; struct xsk_ctx *ctx; ... } and struct xsk_ctx {
// struct xsk_ring_prod *fill; struct xsk_ring_cons *comp; ... }.
struct LibxdpSocket {
  xsk_ring_cons* rx;
  xsk_ring_prod* tx;
  const void* ctx;
};
struct LibxdpCtx {
  xsk_ring_prod* fill;
  xsk_ring_cons* comp;
};

template <class Ring>
bool plausible(const Ring* ring, std::uint32_t size) {
  return ring && ring->size == size && ring->mask == size - 1 && ring->producer && ring->consumer;
}

template <class Ring>
std::uint32_t occupancy(const Ring* ring) {
  return __atomic_load_n(ring->producer, __ATOMIC_ACQUIRE) -
         __atomic_load_n(ring->consumer, __ATOMIC_ACQUIRE);
}

}  // namespace

SocketRings peek_rings(const xsk_socket* socket, std::uint32_t rx_size, std::uint32_t tx_size,
                       std::uint32_t fq_size) {
  SocketRings r;
  if (!socket) return r;
  const auto* s = reinterpret_cast<const LibxdpSocket*>(socket);
  if ((rx_size && !plausible(s->rx, rx_size)) || (tx_size && !plausible(s->tx, tx_size)) || !s->ctx)
    return r;
  const auto* ctx = static_cast<const LibxdpCtx*>(s->ctx);
  if (!plausible(ctx->fill, fq_size) || !plausible(ctx->comp, fq_size)) return r;
  r.known = true;
  r.rx = rx_size ? occupancy(s->rx) : 0;
  r.tx = tx_size ? occupancy(s->tx) : 0;
  r.fill = occupancy(ctx->fill);
  r.completion = occupancy(ctx->comp);
  return r;
}

}  // namespace xsk
