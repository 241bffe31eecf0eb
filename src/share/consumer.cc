// ShareConsumer: the other process's side of the zero-copy hand-off
// (ppool/share.h). It maps the region once, read-only, and the rings
// read-write; every message is checked against the region's bounds before
// it becomes a pointer.
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "ppool/share.h"
#include "share/protocol.h"

namespace ppool {

namespace {

constexpr std::uint32_t kBatch = 64;
constinit LogRateLimit g_bad_message("share: the producer handed a message outside the region");

}  // namespace

struct ShareConsumer::Impl {
  int socket_fd = -1;
  void* region = MAP_FAILED;
  std::size_t region_bytes = 0;
  void* rings = MAP_FAILED;
  std::size_t ring_bytes = 0;
  detail::ShmRingConsumer<detail::ShareDesc> hand;
  detail::ShmRingProducer<std::uint64_t> ret;
  std::uint64_t bad = 0;
  bool gone = false;

  ~Impl() {
    if (region != MAP_FAILED) munmap(region, region_bytes);
    if (rings != MAP_FAILED) munmap(rings, ring_bytes);
  }
};

ShareConsumer::ShareConsumer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ShareConsumer::~ShareConsumer() = default;

Result<std::unique_ptr<ShareConsumer>> ShareConsumer::connect(int socket_fd, int timeout_ms) {
  pollfd p{socket_fd, POLLIN, 0};
  int ready;
  do {
    ready = poll(&p, 1, timeout_ms);
  } while (ready < 0 && errno == EINTR);
  if (ready < 0)
    return detail::share_error(detail::errno_text("waiting for the producer's header"));
  if (ready == 0)
    return detail::share_error(
        detail::format("no header from the producer within %d ms", timeout_ms));

  detail::ShareHello hello{};
  alignas(cmsghdr) char control[CMSG_SPACE(4 * sizeof(int))] = {};
  iovec iov{&hello, sizeof hello};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t got;
  do {
    got = recvmsg(socket_fd, &msg, MSG_WAITALL | MSG_CMSG_CLOEXEC);
  } while (got < 0 && errno == EINTR);
  const int recv_errno = errno;
  // Whatever descriptors came are ours to close, whatever happens next.
  int fds[4] = {-1, -1, -1, -1};
  std::size_t nfds = 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const std::size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < n && nfds < 4; ++i)
      std::memcpy(&fds[nfds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
  }
  struct Closer {
    int* fds;
    ~Closer() {
      for (int i = 0; i < 4; ++i)
        if (fds[i] >= 0) close(fds[i]);
    }
  } closer{fds};

  if (got < 0) {
    errno = recv_errno;
    return detail::share_error(detail::errno_text("receiving the producer's header"));
  }
  if (got == 0) return detail::share_error("the producer hung up before its header");
  if (got != static_cast<ssize_t>(sizeof hello))
    return detail::share_error(
        detail::format("a short header (%zd of %zu bytes)", got, sizeof hello));
  if (hello.magic != detail::kShareMagic)
    return detail::share_error("the peer is not a ppool share producer");
  if (hello.version != kShareVersion)
    return detail::share_error(detail::format(
        "the producer speaks protocol version %u, this consumer %u", hello.version, kShareVersion));
  if ((msg.msg_flags & MSG_CTRUNC) || nfds != 2)
    return detail::share_error(detail::format("expected 2 descriptors with the header, got %zu%s",
                                              nfds,
                                              (msg.msg_flags & MSG_CTRUNC) ? " (truncated)" : ""));
  const std::uint64_t page_bytes = hello.region_page_bytes;
  if (!detail::valid_ring_entries(hello.ring_entries) ||
      hello.ring_bytes != detail::ShareRingLayout(hello.ring_entries).bytes ||
      page_bytes < kPageSize || (page_bytes & (page_bytes - 1)) || !hello.region_bytes ||
      hello.region_bytes % page_bytes || hello.region_bytes > (std::uint64_t{1} << 46))
    return detail::share_error("the header's sizes are impossible");
  struct stat region_st {
  }, ring_st{};
  if (fstat(fds[0], &region_st) != 0 || fstat(fds[1], &ring_st) != 0 ||
      static_cast<std::uint64_t>(region_st.st_size) < hello.region_bytes ||
      static_cast<std::uint64_t>(ring_st.st_size) < hello.ring_bytes)
    return detail::share_error("the region or the ring descriptor is smaller than the header says");

  auto impl = std::make_unique<Impl>();
  impl->socket_fd = socket_fd;
  impl->region = mmap(nullptr, hello.region_bytes, PROT_READ, MAP_SHARED, fds[0], 0);
  if (impl->region == MAP_FAILED)
    return detail::share_error(detail::errno_text("mapping the region"));
  impl->region_bytes = hello.region_bytes;
  impl->rings = mmap(nullptr, hello.ring_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fds[1], 0);
  if (impl->rings == MAP_FAILED)
    return detail::share_error(detail::errno_text("mapping the rings"));
  impl->ring_bytes = hello.ring_bytes;
  const detail::ShareRingLayout layout(hello.ring_entries);
  char* base = static_cast<char*>(impl->rings);
  impl->hand.init(reinterpret_cast<detail::ShmRingControl*>(base + layout.hand_control),
                  reinterpret_cast<const detail::ShareDesc*>(base + layout.hand_slots),
                  hello.ring_entries);
  impl->ret.init(reinterpret_cast<detail::ShmRingControl*>(base + layout.return_control),
                 reinterpret_cast<std::uint64_t*>(base + layout.return_slots), hello.ring_entries);
  return std::unique_ptr<ShareConsumer>(new ShareConsumer(std::move(impl)));
}

std::size_t ShareConsumer::receive(ShareMsg* out, std::size_t max) {
  Impl& s = *impl_;
  std::size_t k = 0;
  while (k < max) {
    detail::ShareDesc descs[kBatch];
    const std::uint32_t n =
        s.hand.pop(descs, static_cast<std::uint32_t>(std::min<std::size_t>(max - k, kBatch)));
    if (!n) break;
    const auto* base = static_cast<const std::byte*>(s.region);
    for (std::uint32_t i = 0; i < n; ++i) {
      const detail::ShareDesc& d = descs[i];
      if (PPOOL_LIKELY(d.page < s.region_bytes && d.page % kPageSize == 0 &&
                       d.page + d.offset + d.len <= s.region_bytes)) {
        out[k++] = ShareMsg{base + d.page + d.offset, d.len, d.page};
        continue;
      }
      ++s.bad;
      if (g_bad_message.allow())
        log(LogLevel::kWarning,
            detail::format("share: the producer handed page %#llx + %u, %u bytes, outside the "
                           "%zu-byte region; skipped",
                           static_cast<unsigned long long>(d.page), d.offset, d.len,
                           s.region_bytes));
    }
    if (n < kBatch) break;
  }
  return k;
}

std::size_t ShareConsumer::give_back(const std::uint64_t* pages, std::size_t n) {
  Impl& s = *impl_;
  std::size_t done = 0;
  while (done < n) {
    const auto want = static_cast<std::uint32_t>(std::min<std::size_t>(n - done, kBatch * 16));
    const std::uint32_t take = std::min(want, s.ret.room(want));
    if (!take) break;
    s.ret.push(pages + done, take);
    done += take;
  }
  return done;
}

bool ShareConsumer::wait_data(int timeout_ms) {
  return impl_->hand.wait_data(timeout_ms);
}

bool ShareConsumer::wait_room(int timeout_ms) {
  return impl_->ret.wait_room(timeout_ms);
}

bool ShareConsumer::producer_gone() {
  Impl& s = *impl_;
  if (s.gone || s.hand.broken() || s.ret.broken()) return true;
  pollfd p{s.socket_fd, POLLRDHUP, 0};
  if (poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLRDHUP | POLLERR | POLLNVAL)))
    s.gone = true;
  return s.gone;
}

const std::byte* ShareConsumer::region_base() const {
  return static_cast<const std::byte*>(impl_->region);
}

std::size_t ShareConsumer::region_bytes() const {
  return impl_->region_bytes;
}

std::uint64_t ShareConsumer::bad_messages() const {
  return impl_->bad;
}

}  // namespace ppool
