// XskUmem: a shared-region page allocator registered as an AF_XDP UMEM.
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include "ppool/registry.h"
#include "xsk/ledger.h"

namespace ppool {
namespace {

// Free 2 MiB huge pages in the reserved pool, or 0 when unknown.
std::uint64_t free_huge_pages_2m() {
  std::FILE* f = std::fopen("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "r");
  if (!f) return 0;
  unsigned long long n = 0;
  if (std::fscanf(f, "%llu", &n) != 1) n = 0;
  std::fclose(f);
  return n;
}

Error umem_error(int err, std::size_t bytes) {
  switch (err) {
    case EAFNOSUPPORT:
    case EPROTONOSUPPORT:
    case ENOPROTOOPT:
      return {Errc::kUnsupported,
              detail::format("xsk umem: the kernel has no AF_XDP (%s)", std::strerror(err))};
    case EPERM:
    case EACCES:
      return {Errc::kUnsupported,
              detail::format("xsk umem: AF_XDP sockets need CAP_NET_RAW (%s)", std::strerror(err))};
    case ENOMEM:
    case ENOBUFS:
      return {Errc::kOutOfMemory,
              detail::format("xsk umem: the kernel would not pin %zu bytes (%s): raise "
                             "RLIMIT_MEMLOCK (ulimit -l) or run with CAP_IPC_LOCK",
                             bytes, std::strerror(err))};
    default:
      return {Errc::kUnsupported,
              detail::format("xsk umem: xsk_umem__create failed: %s", std::strerror(err))};
  }
}

}  // namespace

Result<std::unique_ptr<XskUmem>> XskUmem::create(const XskUmemParams& params) {
  auto invalid = [](const char* what) { return Error{Errc::kInvalidArgument, what}; };
  if (params.frames == 0) return invalid("XskUmemParams.frames: 0 frames");
  if (params.frame_size != kXskFrameSize)
    return invalid("XskUmemParams.frame_size: only 4096 (one page per frame) is supported");
  if (params.frame_headroom > kXskFrameSize / 2)
    return invalid("XskUmemParams.frame_headroom: more than half a frame");
  auto pow2 = [](std::uint32_t v) { return v && !(v & (v - 1)); };
  if (!pow2(params.fill_size)) return invalid("XskUmemParams.fill_size: not a power of two");
  if (!pow2(params.comp_size)) return invalid("XskUmemParams.comp_size: not a power of two");

  std::unique_ptr<XskUmem> umem(new XskUmem);
  umem->params_ = params;
  const std::size_t bytes = std::size_t{params.frames} * kXskFrameSize;
  PageAllocatorOptions options;
  options.shared = true;
  options.lock = params.lock;
  options.max_bytes = bytes;
  if (params.hugetlb) {
    const std::uint64_t need = (bytes + kChunkBytes - 1) / kChunkBytes * (kChunkBytes >> 21);
    const std::uint64_t free = free_huge_pages_2m();
    if (free >= need) {
      options.backing = Backing::kHugetlb2M;
      auto allocator = PageAllocator::create(options);
      if (allocator) {
        umem->allocator_ = std::move(allocator.value());
        umem->hugetlb_ = true;
      } else {
        log(LogLevel::kWarning,
            detail::format("xsk umem: 2 MiB huge pages refused (%s); using 4 KiB pages",
                           allocator.error().message.c_str()));
      }
    } else {
      log(LogLevel::kInfo,
          detail::format("xsk umem: %llu free 2 MiB huge pages, %llu needed; using 4 KiB pages",
                         static_cast<unsigned long long>(free),
                         static_cast<unsigned long long>(need)));
    }
  }
  if (!umem->allocator_) {
    options.backing = Backing::k4K;
    auto allocator = PageAllocator::create(options);
    if (!allocator) return allocator.error();
    umem->allocator_ = std::move(allocator.value());
  }
  umem->region_ = umem->allocator_->region();
  umem->first_page_ =
      detail::g_arena.descs +
      ((reinterpret_cast<std::uintptr_t>(umem->region_->base) - detail::g_arena.base) >>
       kPageShift);
  umem->frames_ = static_cast<std::uint32_t>(umem->region_->bytes / kXskFrameSize);
  umem->device_ = std::make_unique<XskUmemDevice>(*umem->region_);
  umem->ledger_ = std::make_unique<Ledger>(umem->frames_);

  xsk_umem_config config{};
  config.fill_size = params.fill_size;
  config.comp_size = params.comp_size;
  config.frame_size = kXskFrameSize;
  config.frame_headroom = params.frame_headroom;
  config.flags = 0;
  int err = xsk_umem__create(&umem->umem_, umem->region_->base, umem->region_->bytes,
                             &umem->ledger_->fill, &umem->ledger_->comp, &config);
  if (err) {
    umem->umem_ = nullptr;
    return umem_error(-err, umem->region_->bytes);
  }
  return umem;
}

int XskUmem::fd() const {
  return umem_ ? xsk_umem__fd(umem_) : -1;
}

XskUmem::~XskUmem() {
  if (open_queues_.load() != 0) {
    detail::report_misuse(detail::format(
        "xsk umem: destroyed with %u sockets open: the region stays mapped and registered "
        "(leaked) rather than freed under the kernel",
        open_queues_.load()));
    (void)allocator_.release();
    (void)ledger_.release();
    device_.release();
    return;
  }
  if (umem_) {
    // Closes the registration's socket: the kernel lets go of the frames it
    // held for the first socket, which go home now.
    int err = xsk_umem__delete(umem_);
    if (err)
      log(LogLevel::kError, detail::format("xsk umem: xsk_umem__delete: %s", std::strerror(-err)));
    umem_ = nullptr;
  }
  if (ledger_) reclaim(~0u);
  if (!allocator_) return;
  // Pools destroyed with frames out free them as they come back; give a
  // release in progress a moment, then refuse to unmap pages still held.
  //
  // Frames home is not enough: the release worker gives a pool's last page
  // to the allocator and only then frees the pool, which stays in the
  // registry, naming this UMEM's device, until its destructor removes it. A
  // registry reader (list_pools, find_pool, the telemetry endpoint) in that
  // window would read a device destroyed under it. So the wait is also for
  // every pending pool of the UMEM's queues to have left the registry: after
  // that no reader can reach a pool that points at the device. Costs a
  // registry look-up per pending pool per 10 ms, at teardown only.
  auto used = [this] {
    PageAllocatorStats s = allocator_->stats();
    return s.committed_bytes - s.free_bytes;
  };
  for (int i = 0; i < 100 && (used() != 0 || !pending_pools_gone()); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const std::size_t held = used();
  if (held != 0 || !pending_pools_gone()) {
    log(LogLevel::kError,
        detail::format("xsk umem: destroyed with %zu frames still allocated (with the "
                       "application, or in a pool not destroyed or not yet freed): the region "
                       "and the device are leaked, not freed under them",
                       held / kXskFrameSize));
    (void)allocator_.release();
    (void)ledger_.release();
    device_.release();
  }
}

bool XskUmem::pending_pools_gone() const {
  std::lock_guard guard(ledger_->lock);
  auto& ids = ledger_->pending_pools;
  std::erase_if(ids, [](std::uint32_t id) { return !find_pool(id).has_value(); });
  return ids.empty();
}

}  // namespace ppool
