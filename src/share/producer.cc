// ShareProducer: the pool's side of the zero-copy hand-off (ppool/share.h).
//
// The consumer's pages are tracked in a table with one slot per 4 KiB page
// of the region (the page's Page* while the consumer holds it, else null).
// Every way a page leaves the consumer (a return, a reclaim, the send side
// taking back a page it published after a cut-off) empties its slot with an
// exchange, so exactly one of them puts it home: a bogus or duplicate return
// finds the slot empty and is ignored. The send side fills a slot with a
// release store before the page goes on the hand ring, so whichever thread
// empties it sees the pool's writes to the page's descriptor.
//
// The consumer can refill the return ring as fast as we drain it, so no loop
// here runs until the ring is empty: one call takes at most a ring's worth of
// entries, and a consumer past its allowance of bad returns is cut off.
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>

#include "ppool/share.h"
#include "share/protocol.h"

namespace ppool {

namespace {

constexpr std::size_t kBatch = 64;
constinit LogRateLimit g_bad_return("share: the consumer returned a page it does not hold");

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010  // <linux/fcntl.h>, Linux 5.1
#endif

// A read-only descriptor of the region's memfd (a new open file description
// through /proc), or -1. Not the protection itself (the seals are: any
// descriptor the consumer makes of it, /proc/PID/fd reopened O_RDWR
// included, is bound by them), but nothing writable leaves this process.
int read_only_reopen(int fd) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  return ::open(path, O_RDONLY | O_CLOEXEC);
}

// Makes the region read-only for everyone but the writable mapping this
// process already holds: F_SEAL_FUTURE_WRITE refuses every new writable
// shared mapping and every write() through any descriptor (the mappings
// that exist keep working), F_SEAL_SHRINK and F_SEAL_GROW every resize (a
// shrink would SIGBUS the pool), F_SEAL_SEAL any change to the seals; the
// mode drops to 0400 on top. Sound because create_shared_region() maps the
// whole region writable once, at creation, and never maps it again. For
// good: the region stays sealed after the consumer goes (a later attach finds
// it so), and no process can map it writable again. Fails closed, naming
// why, where the seals cannot be had. A handful of syscalls per attach.
std::optional<Error> seal_region(const SharedRegion& region, const char* pool) {
  constexpr int kSeals = F_SEAL_FUTURE_WRITE | F_SEAL_SHRINK | F_SEAL_GROW;
  const int fd = region.fd;
  const int seals = fcntl(fd, F_GET_SEALS);
  if (seals < 0)
    return detail::share_error(detail::format(
        "pool '%s': cannot read the region's seals (%s): its descriptor is not a memfd", pool,
        std::strerror(errno)));
  if ((seals & kSeals) != kSeals && (seals & F_SEAL_SEAL))
    return detail::share_error(detail::format(
        "pool '%s': the region's memfd takes no more seals (created without MFD_ALLOW_SEALING, "
        "or sealed without F_SEAL_FUTURE_WRITE | F_SEAL_SHRINK | F_SEAL_GROW), so the consumer "
        "could write or shrink it; refusing to share it",
        pool));
  if ((seals & (kSeals | F_SEAL_SEAL)) != (kSeals | F_SEAL_SEAL) &&
      fcntl(fd, F_ADD_SEALS, kSeals | F_SEAL_SEAL) != 0) {
    const int err = errno;
    return detail::share_error(detail::format(
        "pool '%s': sealing the region read-only failed (%s)%s; refusing to share it writable",
        pool, std::strerror(err),
        err == EINVAL ? ": this kernel lacks F_SEAL_FUTURE_WRITE (Linux 5.1)" : ""));
  }
  // Check that the kernel enforces it for this backing (hugetlbfs did not
  // refuse writable mappings of a future-write-sealed file before 5.16).
  const std::size_t probe_bytes = region.page_bytes ? region.page_bytes : kPageSize;
  void* probe = mmap(nullptr, probe_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (probe != MAP_FAILED) {
    munmap(probe, probe_bytes);
    return detail::share_error(detail::format(
        "pool '%s': the kernel still maps the sealed region writable (F_SEAL_FUTURE_WRITE is "
        "not enforced for this backing); refusing to share it",
        pool));
  }
  if (errno != EPERM)  // refused, but not by the seal: nothing is proven
    return detail::share_error(detail::format(
        "pool '%s': checking the region's write seal: a writable mapping failed with %s, not "
        "EPERM; refusing to share it",
        pool, std::strerror(errno)));
  if (fchmod(fd, 0400) != 0)
    return detail::share_error(detail::format("pool '%s': fchmod 0400 of the region failed (%s)",
                                              pool, std::strerror(errno)));
  return std::nullopt;
}

}  // namespace

struct ShareProducer::Impl {
  PagePool* pool = nullptr;
  const SharedRegion* region = nullptr;
  int socket_fd = -1;
  std::uint32_t ring_entries = 0;     // one call's bound on what it takes off the return ring
  std::uint64_t max_bad_returns = 0;  // the consumer's allowance (ShareParams)
  void* rings = MAP_FAILED;
  std::size_t ring_bytes = 0;
  std::size_t slots = 0;  // region pages
  std::unique_ptr<std::atomic<Page*>[]> held;

  // ---- the send side ----
  alignas(kCacheLine) detail::ShmRingProducer<detail::ShareDesc> hand;
  std::atomic<std::uint64_t> handed{0};  // written by the send side only
  // One RMW per hand batch, after its slots are filled: reclaim() reads it
  // after raising cut_off, so it sees every slot filled by a batch that did
  // not see the flag (Dekker; see hand_bulk).
  std::atomic<std::uint64_t> hand_batches{0};

  // ---- the reap side ----
  alignas(kCacheLine) detail::ShmRingConsumer<std::uint64_t> ret;
  std::atomic<std::uint64_t> returned{0};     // written by the reap side only
  std::atomic<std::uint64_t> bad_returns{0};  // written by the reap side only

  // ---- either ----
  alignas(kCacheLine) std::atomic<std::uint64_t> reclaimed{0};
  std::atomic<bool> cut_off{false};   // reclaim() ran: hand nothing more
  std::atomic<bool> gone{false};      // the socket hung up, or the peer was cut off
  std::atomic<bool> violated{false};  // the consumer broke the protocol
  std::atomic<bool> violation_said{false};

  ~Impl() {
    if (rings != MAP_FAILED) munmap(rings, ring_bytes);
  }

  std::size_t slot_of(const void* addr) const {
    return static_cast<std::size_t>(static_cast<const char*>(addr) -
                                    static_cast<const char*>(region->base)) >>
           kPageShift;
  }

  // The consumer broke the protocol (an impossible index, too many bad
  // returns): report once, shut the socket so it sees us gone, and let the
  // reap side reclaim (reap() does at once; peer_gone() says so). A log
  // line, not a misuse report: the peer is not this process's code, and it
  // must not be able to make PPOOL_MISUSE=abort kill the producer.
  void violation(const std::string& what) {
    violated.store(true, std::memory_order_release);
    if (violation_said.exchange(true)) return;
    log(LogLevel::kError,
        detail::format("share (pool '%s'): the consumer %s; it is cut off and its pages reclaimed",
                       pool->name(), what.c_str()));
    ::shutdown(socket_fd, SHUT_RDWR);
  }

  // Takes up to min(max, ring_entries) returns off the return ring and puts
  // home the pages the consumer held; returns how many. Bounded by the ring,
  // not by the ring being empty: the consumer refills it as fast as we drain
  // it, so one call costs O(ring_entries) whatever it does. An offset it
  // does not hold (bogus, or a duplicate of one already returned) is counted
  // and reported (rate-limited); the one past its allowance cuts it off, and
  // the rest of the ring is not looked at. The reap side.
  std::size_t drain(std::size_t max) {
    max = std::min<std::size_t>(max, ring_entries);
    std::size_t home = 0, popped = 0;
    std::uint64_t bad = 0;
    const std::uint64_t bad_before = bad_returns.load(std::memory_order_relaxed);
    bool over = false;
    while (popped < max && !over) {
      std::uint64_t offsets[kBatch];
      const auto n = ret.pop(offsets, static_cast<std::uint32_t>(std::min(max - popped, kBatch)));
      if (!n) break;
      popped += n;
      Page* pages[kBatch];
      std::size_t m = 0;
      for (std::uint32_t i = 0; i < n; ++i) {
        const std::uint64_t offset = offsets[i];
        Page* page = nullptr;
        if (offset < region->bytes && offset % kPageSize == 0)
          page = held[offset >> kPageShift].exchange(nullptr, std::memory_order_acq_rel);
        if (PPOOL_LIKELY(page)) {
          pages[m++] = page;
          continue;
        }
        ++bad;
        if (g_bad_return.allow())
          log(LogLevel::kWarning,
              detail::format("share (pool '%s'): the consumer returned offset %#llx, which it "
                             "does not hold; ignored",
                             pool->name(), static_cast<unsigned long long>(offset)));
        if (PPOOL_UNLIKELY(bad_before + bad > max_bad_returns)) {
          over = true;
          break;
        }
      }
      put_page_bulk(pages, m);
      home += m;
    }
    if (home)
      returned.store(returned.load(std::memory_order_relaxed) + home, std::memory_order_relaxed);
    if (PPOOL_UNLIKELY(bad)) bad_returns.store(bad_before + bad, std::memory_order_relaxed);
    if (PPOOL_UNLIKELY(ret.broken())) violation("moved the return ring's tail out of range");
    if (PPOOL_UNLIKELY(over))
      violation(detail::format("returned %llu offsets it did not hold (max_bad_returns is %llu)",
                               static_cast<unsigned long long>(bad_before + bad),
                               static_cast<unsigned long long>(max_bad_returns)));
    return home;
  }

  bool valid_hand(const ShareBuf& buf) const {
    const void* addr = buf.page ? page_address(buf.page) : nullptr;
    const char* why = nullptr;
    if (!buf.page || !detail::valid_descriptor(buf.page) || !region->contains(addr))
      why = "is not an allocated page of the pool's shared region";
    else if (std::uint64_t{buf.offset} + buf.len > page_bytes(buf.page))
      why = "has offset + len beyond the page";
    else if (held[slot_of(addr)].load(std::memory_order_relaxed))
      why = "is already with the consumer";
    if (!why) return true;
    detail::report_misuse(
        detail::format("share (pool '%s'): hand of page %p (offset %u, len %u) %s", pool->name(),
                       static_cast<void*>(buf.page), buf.offset, buf.len, why));
    return false;
  }
};

ShareProducer::ShareProducer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ShareProducer::~ShareProducer() {
  if (impl_) reclaim();
}

Result<std::unique_ptr<ShareProducer>> ShareProducer::attach(PagePool* pool, int socket_fd,
                                                             const ShareParams& params) {
  if (!pool) return detail::share_error("pool is null");
  PageAllocator* allocator = pool->params().allocator;
  const SharedRegion* region = allocator ? allocator->region() : nullptr;
  if (!region || region->fd < 0 || !region->bytes)
    return detail::share_error(
        detail::format("pool '%s' does not draw from a shared region (give it an allocator made by "
                       "PageAllocator::create() with .shared = true)",
                       pool->name()));
  if (!detail::valid_ring_entries(params.ring_entries))
    return detail::share_error(detail::format("ring_entries %u is not a power of two in %u..%u",
                                              params.ring_entries, detail::kShareRingMin,
                                              detail::kShareRingMax));
  int domain = 0, type = 0;
  socklen_t len = sizeof domain;
  if (getsockopt(socket_fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0 || domain != AF_UNIX)
    return detail::share_error(detail::format("socket_fd %d is not an AF_UNIX socket", socket_fd));
  len = sizeof type;
  if (getsockopt(socket_fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 ||
      (type != SOCK_STREAM && type != SOCK_SEQPACKET))
    return detail::share_error(
        detail::format("socket_fd %d is neither SOCK_STREAM nor SOCK_SEQPACKET", socket_fd));

  // Before anything of it leaves this process: the region read-only for
  // good, and a read-only descriptor of it (or no share at all).
  if (auto error = seal_region(*region, pool->name())) return *error;
  const int region_fd = read_only_reopen(region->fd);
  if (region_fd < 0)
    return detail::share_error(detail::format(
        "pool '%s': cannot reopen the region read-only through /proc/self/fd (%s; is /proc "
        "mounted?)",
        pool->name(), std::strerror(errno)));
  struct FdCloser {
    int fd;
    ~FdCloser() { close(fd); }
  } region_fd_closer{region_fd};

  auto impl = std::make_unique<Impl>();
  impl->pool = pool;
  impl->region = region;
  impl->socket_fd = socket_fd;
  impl->ring_entries = params.ring_entries;
  impl->max_bad_returns = params.max_bad_returns;
  const detail::ShareRingLayout layout(params.ring_entries);

  // The rings: sealed at their size, so the consumer cannot shrink the file
  // under our mapping (SIGBUS) or grow it.
  const int ring_fd = memfd_create("ppool-share-rings", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (ring_fd < 0) return detail::share_error(detail::errno_text("memfd_create for the rings"));
  if (ftruncate(ring_fd, static_cast<off_t>(layout.bytes)) != 0 ||
      fcntl(ring_fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
    Error error = detail::share_error(detail::errno_text("sizing and sealing the ring memfd"));
    close(ring_fd);
    return error;
  }
  impl->rings = mmap(nullptr, layout.bytes, PROT_READ | PROT_WRITE, MAP_SHARED, ring_fd, 0);
  if (impl->rings == MAP_FAILED) {
    Error error = detail::share_error(detail::errno_text("mapping the ring memfd"));
    close(ring_fd);
    return error;
  }
  impl->ring_bytes = layout.bytes;
  char* base = static_cast<char*>(impl->rings);
  impl->hand.init(reinterpret_cast<detail::ShmRingControl*>(base + layout.hand_control),
                  reinterpret_cast<detail::ShareDesc*>(base + layout.hand_slots),
                  params.ring_entries);
  impl->ret.init(reinterpret_cast<detail::ShmRingControl*>(base + layout.return_control),
                 reinterpret_cast<const std::uint64_t*>(base + layout.return_slots),
                 params.ring_entries);
  impl->slots = region->bytes >> kPageShift;
  impl->held.reset(new std::atomic<Page*>[impl->slots]());

  detail::ShareHello hello{};
  hello.magic = detail::kShareMagic;
  hello.version = kShareVersion;
  hello.region_bytes = region->bytes;
  hello.region_page_bytes = region->page_bytes ? region->page_bytes : kPageSize;
  hello.ring_entries = params.ring_entries;
  hello.ring_bytes = static_cast<std::uint32_t>(layout.bytes);
  const int fds[2] = {region_fd, ring_fd};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof fds)] = {};
  iovec iov{&hello, sizeof hello};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof fds);
  std::memcpy(CMSG_DATA(cmsg), fds, sizeof fds);
  ssize_t sent;
  do {
    sent = sendmsg(socket_fd, &msg, MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  const int send_errno = errno;
  close(ring_fd);  // the mapping keeps the rings; the consumer has its own descriptor
  if (sent != static_cast<ssize_t>(sizeof hello)) {
    errno = sent < 0 ? send_errno : EPIPE;
    return detail::share_error(
        detail::errno_text("sending the region and the rings to the consumer"));
  }
  return std::unique_ptr<ShareProducer>(new ShareProducer(std::move(impl)));
}

std::size_t ShareProducer::hand_bulk(const ShareBuf* bufs, std::size_t n) {
  Impl& s = *impl_;
  std::size_t done = 0;
  while (done < n) {
    if (PPOOL_UNLIKELY(s.cut_off.load(std::memory_order_acquire))) break;
    const std::size_t want = std::min(n - done, kBatch);
    std::uint32_t room = s.hand.room(static_cast<std::uint32_t>(want));
    if (PPOOL_UNLIKELY(s.hand.broken())) {
      s.violation("moved the hand ring's head past its tail");
      break;
    }
    const std::size_t take = std::min<std::size_t>(want, room);
    if (!take) break;
    detail::ShareDesc descs[kBatch];
    std::size_t m = 0;
    for (; m < take; ++m) {
      const ShareBuf& buf = bufs[done + m];
      if (PPOOL_UNLIKELY(!s.valid_hand(buf))) break;
      const void* addr = page_address(buf.page);
      s.held[s.slot_of(addr)].store(buf.page, std::memory_order_release);
      descs[m] = {s.region->offset_of(buf.page), buf.offset, buf.len};
    }
    if (!m) break;
    s.handed.store(s.handed.load(std::memory_order_relaxed) + m, std::memory_order_relaxed);
    // The slots are filled: announce the batch, then look at the flag. If
    // reclaim() raised it meanwhile, it may or may not have seen these
    // slots: take back what it did not (each slot is emptied exactly once).
    s.hand_batches.fetch_add(1, std::memory_order_seq_cst);
    if (PPOOL_UNLIKELY(s.cut_off.load(std::memory_order_seq_cst))) {
      Page* back[kBatch];
      std::size_t k = 0;
      for (std::size_t i = 0; i < m; ++i) {
        Page* page = s.held[s.slot_of(page_address(bufs[done + i].page))].exchange(
            nullptr, std::memory_order_acq_rel);
        if (page) back[k++] = page;
      }
      put_page_bulk(back, k);
      s.reclaimed.fetch_add(k, std::memory_order_relaxed);
      return done + m;  // handed, and home already
    }
    s.hand.push(descs, static_cast<std::uint32_t>(m));
    done += m;
    if (m < take) break;  // a bad buffer stops the batch
  }
  return done;
}

bool ShareProducer::wait_room(int timeout_ms) {
  Impl& s = *impl_;
  if (s.cut_off.load(std::memory_order_acquire)) return false;
  const bool room = s.hand.wait_room(timeout_ms);
  if (s.hand.broken()) s.violation("moved the hand ring's head past its tail");
  return room;
}

std::size_t ShareProducer::reap(std::size_t max) {
  Impl& s = *impl_;
  // A consumer cut off has nothing more to say: whatever it still writes on
  // the ring is not looked at (its pages came home by reclaim()).
  if (PPOOL_UNLIKELY(s.cut_off.load(std::memory_order_acquire))) return 0;
  const std::size_t home = s.drain(max);
  if (PPOOL_UNLIKELY(s.violated.load(std::memory_order_acquire))) reclaim();
  return home;
}

bool ShareProducer::wait_returns(int timeout_ms) {
  // Cut off: nothing it writes will be reaped, so nothing to wait for.
  if (impl_->cut_off.load(std::memory_order_acquire)) return false;
  return impl_->ret.wait_data(timeout_ms);
}

bool ShareProducer::peer_gone() {
  Impl& s = *impl_;
  if (s.gone.load(std::memory_order_acquire) || s.violated.load(std::memory_order_acquire))
    return true;
  pollfd p{s.socket_fd, POLLRDHUP, 0};
  if (poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLRDHUP | POLLERR | POLLNVAL)))
    s.gone.store(true, std::memory_order_release);
  return s.gone.load(std::memory_order_acquire);
}

std::size_t ShareProducer::reclaim() {
  Impl& s = *impl_;
  const bool first = !s.cut_off.exchange(true, std::memory_order_seq_cst);
  // Reading the batch count after raising the flag orders every slot filled
  // by a batch that missed the flag before the scan below (hand_bulk).
  (void)s.hand_batches.load(std::memory_order_seq_cst);
  s.gone.store(true, std::memory_order_release);
  // What it gave back before it went counts as returned: once, one ring's
  // worth at most (a live consumer could keep refilling it), and not from a
  // consumer that broke the protocol. The scan takes back the rest.
  if (first && !s.violated.load(std::memory_order_acquire)) s.drain(SIZE_MAX);
  std::size_t taken = 0;
  Page* pages[kBatch];
  std::size_t m = 0;
  for (std::size_t i = 0; i < s.slots; ++i) {
    if (!s.held[i].load(std::memory_order_relaxed)) continue;
    Page* page = s.held[i].exchange(nullptr, std::memory_order_acq_rel);
    if (!page) continue;
    pages[m++] = page;
    if (m == kBatch) {
      put_page_bulk(pages, m);
      taken += m;
      m = 0;
    }
  }
  put_page_bulk(pages, m);
  taken += m;
  s.reclaimed.fetch_add(taken, std::memory_order_relaxed);
  return taken;
}

bool ShareProducer::reclaim_if_gone() {
  if (!peer_gone()) return false;
  reclaim();
  return true;
}

ShareProducerStats ShareProducer::stats() const {
  const Impl& s = *impl_;
  ShareProducerStats st{};
  st.reclaimed = s.reclaimed.load(std::memory_order_relaxed);
  st.returned = s.returned.load(std::memory_order_relaxed);
  st.bad_returns = s.bad_returns.load(std::memory_order_relaxed);
  st.handed = s.handed.load(std::memory_order_relaxed);
  const std::uint64_t away = st.returned + st.reclaimed;
  st.holding = st.handed > away ? st.handed - away : 0;
  return st;
}

const SharedRegion& ShareProducer::region() const {
  return *impl_->region;
}

PagePool* ShareProducer::pool() const {
  return impl_->pool;
}

}  // namespace ppool
