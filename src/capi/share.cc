// The C API's share producer and consumer (ppool/share.h): a C handle is
// the C++ object; the message and buffer arrays are the C++ ones, the same
// layout (checked below), so hand, receive and give back copy nothing.
#include <cstddef>
#include <memory>

#include "capi/capi.h"
#include "ppool/share.h"

using namespace ppool::capi;

template <>
struct ppool::capi::Handle<ppool_share_producer> {
  using Cxx = ppool::ShareProducer;
};
template <>
struct ppool::capi::Handle<ppool_share_consumer> {
  using Cxx = ppool::ShareConsumer;
};

namespace {
static_assert(sizeof(ppool_share_buf) == sizeof(ppool::ShareBuf) &&
              offsetof(ppool_share_buf, page) == offsetof(ppool::ShareBuf, page) &&
              offsetof(ppool_share_buf, offset) == offsetof(ppool::ShareBuf, offset) &&
              offsetof(ppool_share_buf, len) == offsetof(ppool::ShareBuf, len));
static_assert(sizeof(ppool_share_msg) == sizeof(ppool::ShareMsg) &&
              offsetof(ppool_share_msg, data) == offsetof(ppool::ShareMsg, data) &&
              offsetof(ppool_share_msg, len) == offsetof(ppool::ShareMsg, len) &&
              offsetof(ppool_share_msg, page) == offsetof(ppool::ShareMsg, page));
}  // namespace

// ---- the producer ----

extern "C" void ppool_share_params_init(ppool_share_params* params) {
  const ppool::ShareParams d;
  params->ring_entries = d.ring_entries;
  params->max_bad_returns = d.max_bad_returns;
}

extern "C" int ppool_share_producer_attach(ppool_pool* pool, int socket_fd,
                                           const ppool_share_params* params,
                                           ppool_share_producer** out) {
  if (!pool || !out)
    return fail(ppool::Errc::kInvalidArgument, pool ? "ppool_share_producer_attach: out is NULL"
                                                    : "ppool_share_producer_attach: pool is NULL");
  ppool::ShareParams p;
  if (params) {
    p.ring_entries = params->ring_entries;
    p.max_bad_returns = params->max_bad_returns;
  }
  auto attached = ppool::ShareProducer::attach(ppool::capi::cxx(pool), socket_fd, p);
  if (!attached) return fail(attached.error());
  *out = reinterpret_cast<ppool_share_producer*>(attached.value().release());
  return 0;
}

extern "C" void ppool_share_producer_destroy(ppool_share_producer* producer) {
  delete cxx(producer);
}

extern "C" size_t ppool_share_hand_bulk(ppool_share_producer* producer, const ppool_share_buf* bufs,
                                        size_t n) {
  return cxx(producer)->hand_bulk(reinterpret_cast<const ppool::ShareBuf*>(bufs), n);
}

extern "C" bool ppool_share_producer_wait_room(ppool_share_producer* producer, int timeout_ms) {
  return cxx(producer)->wait_room(timeout_ms);
}

extern "C" size_t ppool_share_reap(ppool_share_producer* producer, size_t max) {
  return cxx(producer)->reap(max);
}

extern "C" bool ppool_share_wait_returns(ppool_share_producer* producer, int timeout_ms) {
  return cxx(producer)->wait_returns(timeout_ms);
}

extern "C" bool ppool_share_peer_gone(ppool_share_producer* producer) {
  return cxx(producer)->peer_gone();
}

extern "C" size_t ppool_share_reclaim(ppool_share_producer* producer) {
  return cxx(producer)->reclaim();
}

extern "C" bool ppool_share_reclaim_if_gone(ppool_share_producer* producer) {
  return cxx(producer)->reclaim_if_gone();
}

extern "C" void ppool_share_producer_get_stats(const ppool_share_producer* producer,
                                               ppool_share_producer_stats* stats) {
  const ppool::ShareProducerStats s = cxx(producer)->stats();
  stats->handed = s.handed;
  stats->returned = s.returned;
  stats->reclaimed = s.reclaimed;
  stats->bad_returns = s.bad_returns;
  stats->holding = s.holding;
}

// ---- the consumer ----

extern "C" int ppool_share_consumer_connect(int socket_fd, int timeout_ms,
                                            ppool_share_consumer** out) {
  if (!out) return fail(ppool::Errc::kInvalidArgument, "ppool_share_consumer_connect: out is NULL");
  auto connected = ppool::ShareConsumer::connect(socket_fd, timeout_ms);
  if (!connected) return fail(connected.error());
  *out = reinterpret_cast<ppool_share_consumer*>(connected.value().release());
  return 0;
}

extern "C" void ppool_share_consumer_destroy(ppool_share_consumer* consumer) {
  delete cxx(consumer);
}

extern "C" size_t ppool_share_receive(ppool_share_consumer* consumer, ppool_share_msg* out,
                                      size_t max) {
  return cxx(consumer)->receive(reinterpret_cast<ppool::ShareMsg*>(out), max);
}

extern "C" size_t ppool_share_give_back(ppool_share_consumer* consumer, const uint64_t* pages,
                                        size_t n) {
  return cxx(consumer)->give_back(pages, n);
}

extern "C" bool ppool_share_wait_data(ppool_share_consumer* consumer, int timeout_ms) {
  return cxx(consumer)->wait_data(timeout_ms);
}

extern "C" bool ppool_share_consumer_wait_room(ppool_share_consumer* consumer, int timeout_ms) {
  return cxx(consumer)->wait_room(timeout_ms);
}

extern "C" bool ppool_share_producer_gone(ppool_share_consumer* consumer) {
  return cxx(consumer)->producer_gone();
}

extern "C" const void* ppool_share_region_base(const ppool_share_consumer* consumer) {
  return cxx(consumer)->region_base();
}

extern "C" size_t ppool_share_region_bytes(const ppool_share_consumer* consumer) {
  return cxx(consumer)->region_bytes();
}

extern "C" uint64_t ppool_share_bad_messages(const ppool_share_consumer* consumer) {
  return cxx(consumer)->bad_messages();
}
