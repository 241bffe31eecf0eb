// The C API of AF_XDP (include/ppool_xsk.h). Built into libppool_xsk, not
// libppool: the core needs no libxdp. A handle is the C++ object; the
// descriptor arrays are XskDesc arrays, the same layout (checked below), so
// receive, transmit and recycle copy nothing.
#include <cstddef>
#include <memory>

#include "capi/capi.h"
#include "ppool/xsk.h"
#include "ppool/xsk_redirect.h"
#include "ppool_xsk.h"

using namespace ppool::capi;

template <>
struct ppool::capi::Handle<ppool_xsk_umem> {
  using Cxx = ppool::XskUmem;
};
template <>
struct ppool::capi::Handle<ppool_xsk_queue> {
  using Cxx = ppool::XskQueue;
};
template <>
struct ppool::capi::Handle<ppool_xsk_redirect> {
  using Cxx = ppool::XskRedirect;
};
template <>
struct ppool::capi::Handle<ppool_xsk_desc> {
  using Cxx = ppool::XskDesc;
};

namespace {
static_assert(sizeof(ppool_xsk_desc) == sizeof(ppool::XskDesc) &&
              offsetof(ppool_xsk_desc, page) == offsetof(ppool::XskDesc, page) &&
              offsetof(ppool_xsk_desc, offset) == offsetof(ppool::XskDesc, offset) &&
              offsetof(ppool_xsk_desc, len) == offsetof(ppool::XskDesc, len));
static_assert(PPOOL_XSK_FRAME_SIZE == ppool::kXskFrameSize &&
              PPOOL_XSK_PACKET_HEADROOM == ppool::kXskPacketHeadroom);
static_assert(static_cast<int>(ppool::XskBindMode::kAuto) == PPOOL_XSK_BIND_AUTO &&
              static_cast<int>(ppool::XskBindMode::kCopy) == PPOOL_XSK_BIND_COPY &&
              static_cast<int>(ppool::XskBindMode::kZeroCopy) == PPOOL_XSK_BIND_ZEROCOPY);

// Success, or the error's negative errno with its message kept.
int done(const ppool::Result<void>& result) {
  return result ? 0 : fail(result.error());
}
}  // namespace

// ---- the UMEM ----

extern "C" void ppool_xsk_umem_params_init(ppool_xsk_umem_params* params) {
  const ppool::XskUmemParams d;
  params->frames = d.frames;
  params->frame_size = d.frame_size;
  params->frame_headroom = d.frame_headroom;
  params->hugetlb = d.hugetlb;
  params->lock = d.lock;
  params->fill_size = d.fill_size;
  params->comp_size = d.comp_size;
}

extern "C" int ppool_xsk_umem_create(const ppool_xsk_umem_params* params, ppool_xsk_umem** out) {
  if (!params || !out)
    return fail(ppool::Errc::kInvalidArgument, params ? "ppool_xsk_umem_create: out is NULL"
                                                      : "ppool_xsk_umem_create: params is NULL");
  ppool::XskUmemParams p;
  p.frames = params->frames;
  p.frame_size = params->frame_size;
  p.frame_headroom = params->frame_headroom;
  p.hugetlb = params->hugetlb;
  p.lock = params->lock;
  p.fill_size = params->fill_size;
  p.comp_size = params->comp_size;
  auto created = ppool::XskUmem::create(p);
  if (!created) return fail(created.error());
  *out = reinterpret_cast<ppool_xsk_umem*>(created.value().release());
  return 0;
}

extern "C" void ppool_xsk_umem_destroy(ppool_xsk_umem* umem) {
  delete cxx(umem);
}

extern "C" ppool_allocator* ppool_xsk_umem_allocator(ppool_xsk_umem* umem) {
  return c(&cxx(umem)->allocator());
}

extern "C" ppool_dma_device* ppool_xsk_umem_device(ppool_xsk_umem* umem) {
  return c(static_cast<ppool::DmaDevice*>(&cxx(umem)->device()));
}

extern "C" uint32_t ppool_xsk_umem_frames(const ppool_xsk_umem* umem) {
  return cxx(umem)->frames();
}

extern "C" bool ppool_xsk_umem_hugetlb(const ppool_xsk_umem* umem) {
  return cxx(umem)->hugetlb();
}

extern "C" int ppool_xsk_umem_fd(const ppool_xsk_umem* umem) {
  return cxx(umem)->fd();
}

extern "C" uint64_t ppool_xsk_umem_addr_of(const ppool_xsk_umem* umem, const ppool_page* page) {
  return cxx(umem)->addr_of(ppool::capi::cxx(page));
}

extern "C" ppool_page* ppool_xsk_umem_page_at(const ppool_xsk_umem* umem, uint64_t addr) {
  return c(cxx(umem)->page_at(addr));
}

extern "C" void ppool_xsk_umem_counts(const ppool_xsk_umem* umem, ppool_xsk_frame_counts* counts) {
  const ppool::XskFrameCounts n = cxx(umem)->counts();
  counts->frames = n.frames;
  counts->home = n.home;
  counts->app = n.app;
  counts->fill = n.fill;
  counts->tx = n.tx;
  counts->committed = n.committed;
}

extern "C" unsigned ppool_xsk_umem_open_queues(const ppool_xsk_umem* umem) {
  return cxx(umem)->open_queues();
}

// ---- queues ----

extern "C" void ppool_xsk_queue_params_init(ppool_xsk_queue_params* params) {
  const ppool::XskQueueParams d;
  params->ifname = nullptr;
  params->queue_id = d.queue_id;
  params->rx_size = d.rx_size;
  params->tx_size = d.tx_size;
  params->mode = static_cast<ppool_xsk_bind_mode>(d.mode);
  params->need_wakeup = d.need_wakeup;
  params->load_program = d.load_program;
  params->pool_name = nullptr;  // the C++ default, "xsk"
  params->pool_size = d.pool_size;
  params->max_inflight = d.max_inflight;
}

extern "C" int ppool_xsk_queue_create(ppool_xsk_umem* umem, const ppool_xsk_queue_params* params,
                                      ppool_xsk_queue** out) {
  if (!umem || !params || !out)
    return fail(ppool::Errc::kInvalidArgument, !umem     ? "ppool_xsk_queue_create: umem is NULL"
                                               : !params ? "ppool_xsk_queue_create: params is NULL"
                                                         : "ppool_xsk_queue_create: out is NULL");
  if (!params->ifname)
    return fail(ppool::Errc::kInvalidArgument, "ppool_xsk_queue_create: params.ifname is NULL");
  ppool::XskQueueParams p;
  p.ifname = params->ifname;
  p.queue_id = params->queue_id;
  p.rx_size = params->rx_size;
  p.tx_size = params->tx_size;
  p.mode = static_cast<ppool::XskBindMode>(params->mode);
  p.need_wakeup = params->need_wakeup;
  p.load_program = params->load_program;
  if (params->pool_name) p.pool_name = params->pool_name;
  p.pool_size = params->pool_size;
  p.max_inflight = params->max_inflight;
  auto created = ppool::XskQueue::create(*cxx(umem), p);
  if (!created) return fail(created.error());
  *out = reinterpret_cast<ppool_xsk_queue*>(created.value().release());
  return 0;
}

extern "C" uint32_t ppool_xsk_queue_close(ppool_xsk_queue* queue) {
  return cxx(queue)->close();
}

extern "C" void ppool_xsk_queue_destroy(ppool_xsk_queue* queue) {
  delete cxx(queue);
}

extern "C" void ppool_xsk_queue_bind_owner(ppool_xsk_queue* queue) {
  cxx(queue)->bind_owner();
}

extern "C" size_t ppool_xsk_refill(ppool_xsk_queue* queue, size_t n) {
  return cxx(queue)->refill(n);
}

extern "C" size_t ppool_xsk_receive(ppool_xsk_queue* queue, ppool_xsk_desc* out, size_t max) {
  return cxx(queue)->receive(reinterpret_cast<ppool::XskDesc*>(out), max);
}

extern "C" size_t ppool_xsk_transmit(ppool_xsk_queue* queue, const ppool_xsk_desc* descs,
                                     size_t n) {
  return cxx(queue)->transmit(cxx(descs), n);
}

extern "C" void ppool_xsk_kick(ppool_xsk_queue* queue) {
  cxx(queue)->kick();
}

extern "C" size_t ppool_xsk_complete(ppool_xsk_queue* queue, size_t max) {
  return cxx(queue)->complete(max);
}

extern "C" size_t ppool_xsk_recycle(ppool_xsk_queue* queue, const ppool_xsk_desc* descs, size_t n) {
  return cxx(queue)->recycle(cxx(descs), n);
}

extern "C" void* ppool_xsk_desc_data(const ppool_xsk_desc* desc) {
  return cxx(desc)->data();
}

extern "C" ppool_pool* ppool_xsk_queue_pool(ppool_xsk_queue* queue) {
  return c(&cxx(queue)->pool());
}

extern "C" int ppool_xsk_queue_fd(const ppool_xsk_queue* queue) {
  return cxx(queue)->fd();
}

extern "C" bool ppool_xsk_queue_zero_copy(const ppool_xsk_queue* queue) {
  return cxx(queue)->zero_copy();
}

extern "C" uint32_t ppool_xsk_queue_in_fill(const ppool_xsk_queue* queue) {
  return cxx(queue)->in_fill();
}

extern "C" uint32_t ppool_xsk_queue_in_tx(const ppool_xsk_queue* queue) {
  return cxx(queue)->in_tx();
}

extern "C" void ppool_xsk_queue_ring_counts(const ppool_xsk_queue* queue,
                                            ppool_xsk_ring_counts* counts) {
  const ppool::XskRingCounts n = cxx(queue)->ring_counts();
  counts->fill = n.fill;
  counts->rx = n.rx;
  counts->tx = n.tx;
  counts->completion = n.completion;
}

extern "C" void ppool_xsk_queue_get_stats(const ppool_xsk_queue* queue,
                                          ppool_xsk_queue_stats* stats) {
  const ppool::XskQueueStats& s = cxx(queue)->stats();
  stats->fill_posted = s.fill_posted;
  stats->rx = s.rx;
  stats->tx = s.tx;
  stats->tx_kicks = s.tx_kicks;
  stats->completed = s.completed;
  stats->tx_refused = s.tx_refused;
  stats->rejected = s.rejected;
  stats->alloc_short = s.alloc_short;
}

extern "C" uint64_t ppool_xsk_queue_returns_refused(const ppool_xsk_queue* queue) {
  return cxx(queue)->returns_refused();
}

// ---- the redirect program ----

extern "C" int ppool_xsk_redirect_create(unsigned queues, ppool_xsk_redirect** out) {
  if (!out) return fail(ppool::Errc::kInvalidArgument, "ppool_xsk_redirect_create: out is NULL");
  auto redirect = std::make_unique<ppool::XskRedirect>();
  if (int err = done(redirect->load(queues))) return err;  // its destructor closes the map
  *out = reinterpret_cast<ppool_xsk_redirect*>(redirect.release());
  return 0;
}

extern "C" int ppool_xsk_redirect_attach(ppool_xsk_redirect* redirect, int ifindex,
                                         bool generic_only) {
  return done(cxx(redirect)->attach(ifindex, generic_only));
}

extern "C" int ppool_xsk_redirect_add_socket(ppool_xsk_redirect* redirect, unsigned queue,
                                             int socket_fd) {
  return done(cxx(redirect)->add_socket(queue, socket_fd));
}

extern "C" const char* ppool_xsk_redirect_mode(const ppool_xsk_redirect* redirect) {
  return cxx(redirect)->mode();
}

extern "C" void ppool_xsk_redirect_destroy(ppool_xsk_redirect* redirect) {
  delete cxx(redirect);
}
