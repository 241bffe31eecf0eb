// XskQueue: one AF_XDP socket and its pool; the four rings' traffic.
#include <linux/if_xdp.h>
#include <net/if.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "xsk/ledger.h"

namespace ppool {
namespace {

constexpr std::size_t kBatch = 64;  // a pool's bulk, and the put batch

Error socket_error(const XskQueueParams& params, int err) {
  const char* name = params.ifname.c_str();
  switch (err) {
    case ENODEV:
    case ENXIO:
      return {Errc::kInvalidArgument,
              detail::format("xsk queue %s:%u: no such interface or queue (%s)", name,
                             params.queue_id, std::strerror(err))};
    case EPERM:
    case EACCES:
      return {Errc::kUnsupported,
              detail::format("xsk queue %s:%u: not permitted (%s): AF_XDP needs CAP_NET_RAW "
                             "and CAP_NET_ADMIN",
                             name, params.queue_id, std::strerror(err))};
    case EOPNOTSUPP:
    case EPROTONOSUPPORT:
    case EAFNOSUPPORT:
      return {Errc::kUnsupported, detail::format("xsk queue %s:%u: %s (%s)", name, params.queue_id,
                                                 params.mode == XskBindMode::kZeroCopy
                                                     ? "zero-copy is not supported by this driver"
                                                     : "AF_XDP is not supported here",
                                                 std::strerror(err))};
    case EBUSY:
      return {Errc::kInvalidArgument,
              detail::format("xsk queue %s:%u: another socket is bound to this queue (%s)", name,
                             params.queue_id, std::strerror(err))};
    default:
      return {Errc::kUnsupported, detail::format("xsk queue %s:%u: socket creation failed: %s",
                                                 name, params.queue_id, std::strerror(err))};
  }
}

}  // namespace

struct XskQueue::Rings {
  xsk_ring_prod* fill = nullptr;  // the UMEM's (first socket) or own_fill
  xsk_ring_cons* comp = nullptr;
  xsk_ring_prod own_fill{};
  xsk_ring_cons own_comp{};
  xsk_ring_cons rx{};
  xsk_ring_prod tx{};
};

XskQueue::XskQueue(XskUmem& umem, const XskQueueParams& params)
    : umem_(umem),
      params_(params),
      rings_(std::make_unique<Rings>()),
      rxq_(params.ifname, params.queue_id) {}

Result<std::unique_ptr<XskQueue>> XskQueue::create(XskUmem& umem, const XskQueueParams& params) {
  auto invalid = [&](const char* what) {
    return Error{
        Errc::kInvalidArgument,
        detail::format("xsk queue %s:%u: %s", params.ifname.c_str(), params.queue_id, what)};
  };
  auto pow2 = [](std::uint32_t v) { return v && !(v & (v - 1)); };
  if (params.ifname.empty() || params.ifname.size() >= IFNAMSIZ)
    return invalid("XskQueueParams.ifname: empty or too long");
  if (!pow2(params.rx_size)) return invalid("XskQueueParams.rx_size: not a power of two");
  if (!pow2(params.tx_size)) return invalid("XskQueueParams.tx_size: not a power of two");
  if (!umem.raw()) return invalid("the UMEM is not registered");

  std::unique_ptr<XskQueue> q(new XskQueue(umem, params));
  auto slot = umem.attach_queue(q.get());
  if (!slot) {
    q->closed_ = true;  // it never had a slot: nothing to close
    return slot.error();
  }
  q->slot_ = slot.value();
  // From here every failure detaches the slot (close() does, as for an
  // open queue; nothing was posted yet).
  auto fail = [&](Error error) -> Result<std::unique_ptr<XskQueue>> {
    umem.detach_queue(q->slot_, false);
    q->closed_ = true;
    return error;
  };

  xsk_socket_config config{};
  config.rx_size = params.rx_size;
  config.tx_size = params.tx_size;
  config.libxdp_flags = params.load_program ? 0 : XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD;
  config.xdp_flags = 0;
  std::uint16_t bind = params.need_wakeup ? XDP_USE_NEED_WAKEUP : 0;
  if (params.mode == XskBindMode::kCopy) bind |= XDP_COPY;
  if (params.mode == XskBindMode::kZeroCopy) bind |= XDP_ZEROCOPY;
  config.bind_flags = bind;

  // libxdp's first socket on a UMEM is the registration's own fd and uses
  // the UMEM's fill and completion rings; later ones get a socket and rings
  // of their own (XDP_SHARED_UMEM).
  const bool first = !umem.registration_socket_taken_;
  int err;
  if (first) {
    q->rings_->fill = &umem.ledger_->fill;
    q->rings_->comp = &umem.ledger_->comp;
    err = xsk_socket__create(&q->xsk_, params.ifname.c_str(), params.queue_id, umem.raw(),
                             &q->rings_->rx, &q->rings_->tx, &config);
  } else {
    q->rings_->fill = &q->rings_->own_fill;
    q->rings_->comp = &q->rings_->own_comp;
    err = xsk_socket__create_shared(&q->xsk_, params.ifname.c_str(), params.queue_id, umem.raw(),
                                    &q->rings_->rx, &q->rings_->tx, q->rings_->fill,
                                    q->rings_->comp, &config);
  }
  if (err) {
    q->xsk_ = nullptr;
    return fail(socket_error(params, -err));
  }
  if (first) {
    umem.registration_socket_taken_ = true;
    q->registration_socket_ = true;
  }
  xdp_options options{};
  socklen_t len = sizeof options;
  if (getsockopt(xsk_socket__fd(q->xsk_), SOL_XDP, XDP_OPTIONS, &options, &len) == 0)
    q->zero_copy_ = options.flags & XDP_OPTIONS_ZEROCOPY;

  PagePoolParams pp;
  pp.pool_size = params.pool_size;
  pp.dev = &umem.device();
  pp.dma_dir = DmaDirection::kBidirectional;
  pp.flags = kDmaMap;
  pp.name = params.pool_name;
  pp.queue = params.queue_id;
  pp.allocator = &umem.allocator();
  pp.max_inflight = params.max_inflight;
  auto pool = PagePool::create(pp);
  if (!pool) {
    xsk_socket__delete(q->xsk_);
    q->xsk_ = nullptr;
    return fail(pool.error());
  }
  q->pool_ = pool.value();
  auto mem = q->rxq_.reg_mem_model(MemType::kXskBuffPool, q->pool_);
  if (!mem) {
    xsk_socket__delete(q->xsk_);
    q->xsk_ = nullptr;
    PagePool::destroy(q->pool_);
    q->pool_ = nullptr;
    return fail(mem.error());
  }
  return q;
}

XskQueue::~XskQueue() {
  close();
}

int XskQueue::fd() const {
  return xsk_ ? xsk_socket__fd(xsk_) : -1;
}

XskRingCounts XskQueue::ring_counts() const {
  if (!xsk_) return {};
  auto entries = [](const auto& ring) {
    return __atomic_load_n(ring.producer, __ATOMIC_ACQUIRE) -
           __atomic_load_n(ring.consumer, __ATOMIC_ACQUIRE);
  };
  return {entries(*rings_->fill), entries(rings_->rx), entries(rings_->tx), entries(*rings_->comp)};
}

std::size_t XskQueue::refill(std::size_t n) {
  xsk_ring_prod* fill = rings_->fill;
  std::size_t posted = 0;
  while (posted < n) {
    const std::uint32_t want = static_cast<std::uint32_t>(std::min(n - posted, kBatch));
    const std::uint32_t room = xsk_prod_nb_free(fill, want);
    if (room == 0) break;
    Page* pages[kBatch];
    const std::size_t got = pool_->alloc_pages_bulk(pages, std::min(want, room));
    if (got == 0) {
      ++stats_.alloc_short;
      break;
    }
    std::uint32_t idx = 0;
    // Cannot fail: xsk_prod_nb_free said there is room, and only we produce.
    (void)xsk_ring_prod__reserve(fill, static_cast<std::uint32_t>(got), &idx);
    for (std::size_t i = 0; i < got; ++i)
      *xsk_ring_prod__fill_addr(fill, idx + static_cast<std::uint32_t>(i)) =
          pool_->get_dma_addr(pages[i]);
    // The ledger first: once submitted the kernel may fill the frame and we
    // may receive it.
    umem_.set_state(pages, got, XskUmem::kFill, slot_);
    in_fill_.fetch_add(static_cast<std::uint32_t>(got), std::memory_order_relaxed);
    xsk_ring_prod__submit(fill, static_cast<std::uint32_t>(got));
    posted += got;
    if (got < std::min(want, room)) {
      ++stats_.alloc_short;
      break;
    }
  }
  stats_.fill_posted += posted;
  // A zero-copy driver that ran out of fill entries waits to be woken.
  if (posted && params_.need_wakeup && xsk_ring_prod__needs_wakeup(fill))
    (void)recvfrom(fd(), nullptr, 0, MSG_DONTWAIT, nullptr, nullptr);
  return posted;
}

std::size_t XskQueue::receive(XskDesc* out, std::size_t max) {
  std::uint32_t idx = 0;
  const std::uint32_t n = xsk_ring_cons__peek(
      &rings_->rx, static_cast<std::uint32_t>(std::min<std::size_t>(max, UINT32_MAX)), &idx);
  if (n == 0) return 0;
  std::size_t got = 0;
  for (std::uint32_t i = 0; i < n; ++i) {
    const xdp_desc* d = xsk_ring_cons__rx_desc(&rings_->rx, idx + i);
    Page* page = umem_.take_from_kernel(d->addr, XskUmem::kFill, XskUmem::kApp, slot_);
    if (PPOOL_UNLIKELY(!page)) {
      ++stats_.rejected;
      detail::report_misuse(detail::format(
          "xsk queue %s:%u: RX descriptor at UMEM address 0x%llx names no frame this socket "
          "posted to its fill ring (ignored: the frame stays where the ledger has it)",
          params_.ifname.c_str(), params_.queue_id, static_cast<unsigned long long>(d->addr)));
      continue;
    }
    out[got++] = {page, static_cast<std::uint32_t>(d->addr & (kXskFrameSize - 1)), d->len};
  }
  xsk_ring_cons__release(&rings_->rx, n);
  // Only the frames the ledger moved leave the count: a rejected entry was
  // never counted in it.
  in_fill_.fetch_sub(static_cast<std::uint32_t>(got), std::memory_order_relaxed);
  stats_.rx += got;
  return got;
}

void XskQueue::kick() {
  ++stats_.tx_kicks;
  if (sendto(fd(), nullptr, 0, MSG_DONTWAIT, nullptr, 0) < 0) {
    // EAGAIN/EBUSY: the kernel is busy with the ring and will go on;
    // ENOBUFS: the device's queue is full; ENETDOWN: the link went down.
    // All leave the descriptors in the ring for the next kick.
  }
}

namespace {

// Why take_for_tx() refused a frame of the UMEM (cold: a misuse's message).
const char* not_held_reason(XskUmem::FrameState state) {
  switch (state) {
    case XskUmem::kFill:
      return "the frame is in a fill ring (the kernel's until received): sent, it would be "
             "stranded there";
    case XskUmem::kTx:
      return "the frame is already in a TX ring, not yet completed";
    case XskUmem::kHome:
      return "the frame is home in its pool (given back, or never handed out)";
    case XskUmem::kApp:
      break;
  }
  return "the frame is not the application's";
}

}  // namespace

std::size_t XskQueue::transmit(const XskDesc* descs, std::size_t n) {
  const auto want = static_cast<std::uint32_t>(std::min<std::size_t>(n, UINT32_MAX));
  const std::uint32_t room = std::min(xsk_prod_nb_free(&rings_->tx, want), want);
  // Each frame is checked and its ledger entry moved to "TX" before it is
  // posted (as refill() does for the fill ring), so the same frame twice in
  // one batch is refused the second time; the first refusal ends the batch.
  std::uint32_t take = 0;
  for (; take < room; ++take) {
    const XskDesc& d = descs[take];
    const char* why = nullptr;
    if (PPOOL_UNLIKELY(!d.page)) {
      why = "no page";
    } else if (PPOOL_UNLIKELY(!umem_.contains(d.page))) {
      why = "the page is not in this UMEM (only frames of the UMEM can be sent without a copy)";
    } else if (PPOOL_UNLIKELY(std::uint64_t{d.offset} + d.len > kXskFrameSize)) {
      why = "the packet runs past the frame's end";
    } else if (PPOOL_UNLIKELY(!umem_.take_for_tx(d.page, slot_))) {
      why = not_held_reason(umem_.state_of(d.page));
    }
    if (PPOOL_UNLIKELY(why != nullptr)) {
      ++stats_.tx_refused;
      detail::report_misuse(
          detail::format("xsk queue %s:%u: transmit of page %p (offset %u, len %u) refused: %s",
                         params_.ifname.c_str(), params_.queue_id,
                         d.page ? page_address(d.page) : nullptr, d.offset, d.len, why));
      break;
    }
  }
  if (take) {
    std::uint32_t idx = 0;
    (void)xsk_ring_prod__reserve(&rings_->tx, take, &idx);  // room: only we produce
    for (std::uint32_t i = 0; i < take; ++i) {
      xdp_desc* d = xsk_ring_prod__tx_desc(&rings_->tx, idx + i);
      d->addr = umem_.addr_of(descs[i].page) + descs[i].offset;
      d->len = descs[i].len;
      d->options = 0;
    }
    in_tx_.fetch_add(take, std::memory_order_relaxed);
    xsk_ring_prod__submit(&rings_->tx, take);
    stats_.tx += take;
  }
  // Copy mode sends only from sendto(); zero-copy asks with the flag.
  if (take && (!params_.need_wakeup || xsk_ring_prod__needs_wakeup(&rings_->tx))) kick();
  return take;
}

std::size_t XskQueue::complete(std::size_t max) {
  std::size_t done = 0, consumed = 0;  // frames sent home; entries taken off the ring
  while (consumed < max) {
    std::uint32_t idx = 0;
    const std::uint32_t n = xsk_ring_cons__peek(
        rings_->comp, static_cast<std::uint32_t>(std::min(max - consumed, kBatch)), &idx);
    if (n == 0) break;
    Page* pages[kBatch];
    std::size_t got = 0;
    for (std::uint32_t i = 0; i < n; ++i) {
      const std::uint64_t addr = *xsk_ring_cons__comp_addr(rings_->comp, idx + i);
      Page* page = umem_.take_from_kernel(addr, XskUmem::kTx, XskUmem::kHome, slot_);
      if (PPOOL_UNLIKELY(!page)) {
        ++stats_.rejected;
        detail::report_misuse(detail::format(
            "xsk queue %s:%u: completion of UMEM address 0x%llx names no frame this socket "
            "posted to its TX ring (ignored: the frame stays where the ledger has it)",
            params_.ifname.c_str(), params_.queue_id, static_cast<unsigned long long>(addr)));
        continue;
      }
      // put_page_bulk() reads and writes each descriptor, which has gone
      // cold since the frame was posted: starting the misses for the whole
      // batch here overlaps them (measured: a put ~20 ns a frame less).
      __builtin_prefetch(page, 1);
      pages[got++] = page;
    }
    xsk_ring_cons__release(rings_->comp, n);
    // A rejected entry was never in the count: only the frames taken leave it.
    in_tx_.fetch_sub(static_cast<std::uint32_t>(got), std::memory_order_relaxed);
    put_page_bulk(pages, got);
    consumed += n;
    done += got;
  }
  stats_.completed += done;
  return done;
}

namespace {

// Why a frame given back (recycle(), note_returned()) was refused (cold: a
// misuse's message).
const char* not_returnable_reason(XskUmem::FrameState state) {
  switch (state) {
    case XskUmem::kFill:
      return "the frame is in a fill ring (the kernel's until received): given back, it would "
             "be in the pool and the ring at once";
    case XskUmem::kTx:
      return "the frame is in a TX ring, not yet completed: its completion sends it home";
    case XskUmem::kHome:
      return "the frame is home in its pool (given back already, or never handed out)";
    case XskUmem::kApp:
      break;
  }
  return "the frame is not the application's";
}

}  // namespace

const char* XskQueue::accept_return(Page* page, Page* const* earlier, std::size_t count) {
  if (PPOOL_UNLIKELY(!page)) return "no page";
  if (PPOOL_UNLIKELY(!umem_.contains(page))) return "the page is not in this UMEM";
  switch (umem_.take_for_home(page)) {
    case XskUmem::Held::kReceived:
      return nullptr;
    case XskUmem::Held::kAllocated:
      // A received frame given twice in one call lands here the second
      // time (the first moved its entry home, and the pool has not had it
      // yet): the call's accepted frames are looked through, on this path
      // only (frames the application allocated itself), at most kBatch.
      for (std::size_t i = 0; i < count; ++i)
        if (earlier[i] == page) return "the frame is given back twice in one call";
      return nullptr;
    case XskUmem::Held::kNo:
      break;
  }
  return not_returnable_reason(umem_.state_of(page));
}

void XskQueue::refuse_return(const char* op, const Page* page, const char* why) {
  returns_refused_.fetch_add(1, std::memory_order_relaxed);
  detail::report_misuse(detail::format(
      "xsk queue %s:%u: %s of page %p refused: %s (the frame stays where it was)",
      params_.ifname.c_str(), params_.queue_id, op, page ? page_address(page) : nullptr, why));
}

std::size_t XskQueue::recycle(const XskDesc* descs, std::size_t n) {
  Page* pages[kBatch];
  std::size_t done = 0;
  for (std::size_t i = 0; i < n;) {
    const std::size_t k = std::min(n - i, kBatch);
    std::size_t got = 0;
    for (std::size_t j = 0; j < k; ++j) {
      Page* page = descs[i + j].page;
      const char* why = accept_return(page, pages, got);
      if (PPOOL_UNLIKELY(why != nullptr)) {
        refuse_return("recycle", page, why);
        continue;
      }
      pages[got++] = page;
    }
    put_page_bulk(pages, got);
    done += got;
    i += k;
  }
  return done;
}

Frame* XskQueue::to_frame(const XskDesc& desc) const {
  char* start = static_cast<char*>(page_address(desc.page));
  return build_frame(start, start + desc.offset, desc.len, kXskFrameSize, rxq_.mem());
}

XskDesc XskQueue::desc_of(const Frame* frame) {
  Page* page = page_of(frame->data);
  if (!page) return {};
  const auto offset = static_cast<std::uint32_t>(static_cast<const char*>(frame->data) -
                                                 static_cast<const char*>(page_address(page)));
  return {page, offset, frame->len};
}

std::size_t XskQueue::note_returned(const Frame* const* frames, std::size_t n) {
  std::size_t noted = 0;
  for (std::size_t i = 0; i < n; ++i) {
    Page* page = frames[i] ? page_of(frames[i]->data) : nullptr;
    // No look through the call's earlier frames: a Frame noted twice
    // changes no entry the second time, and its second return is the
    // pool's to report.
    const char* why = accept_return(page, nullptr, 0);
    if (PPOOL_UNLIKELY(why != nullptr)) {
      refuse_return("note_returned", page, why);
      continue;
    }
    ++noted;
  }
  return noted;
}

void XskQueue::bind_owner() {
  pool_->bind_owner();
}

std::uint32_t XskQueue::close() {
  if (closed_) return 0;
  closed_ = true;
  if (xsk_) {
    xsk_socket__delete(xsk_);
    xsk_ = nullptr;
  }
  // A socket of its own is closed now, and the kernel holds nothing of it:
  // its fill, RX, TX and completion frames go home. The registration's
  // socket stays bound until the UMEM is deleted, which reclaims its frames.
  if (!registration_socket_) {
    umem_.reclaim(slot_);
    in_fill_.store(0, std::memory_order_relaxed);
    in_tx_.store(0, std::memory_order_relaxed);
  }
  umem_.detach_queue(slot_, registration_socket_);
  rxq_.unreg_mem_model();
  std::uint32_t left = 0;
  if (pool_) {
    const std::uint32_t id = pool_->id();
    left = PagePool::destroy(pool_);
    pool_ = nullptr;
    if (left) umem_.pool_pending(id);
  }
  return left;
}

}  // namespace ppool
