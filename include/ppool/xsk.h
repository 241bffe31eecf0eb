// ppool/xsk.h - AF_XDP on ppool (layer dma + pool; built when libxdp and
// libbpf are found, library ppool::xsk).
//
// An AF_XDP UMEM is a memory region registered with the kernel once and kept
// mapped; the rings carry offsets into it. libxdp ships no allocator for it:
// ppool is that allocator. XskUmem is a shared-region PageAllocator (one
// memfd, 4 KiB frames, 2 MiB hugetlb pages when free) registered as the UMEM,
// and an XskUmemDevice whose "DMA address" for a page is its offset in the
// region, which is what the fill, RX, TX and completion rings carry. Each
// queue (XskQueue: one AF_XDP socket on one netdev queue) owns a PagePool on
// that allocator and device; every socket of a UMEM shares it
// (XDP_SHARED_UMEM), so a frame received on one socket is transmitted on
// another with no copy and no move: its UMEM address stays the same.
//
// Ledger: the UMEM keeps one entry per frame saying where the frame is as
// far as the kernel boundary goes: home (in a pool or the allocator), with
// the application, in a socket's fill ring (or its RX ring, not yet
// received), or in a socket's TX ring (or its completion ring, not yet
// completed). The kernel-held states are exact at every moment; closing a
// socket reclaims the frames the kernel held for it, so after the sockets
// close every frame is home or with the application, and the pools reach 0
// in flight once the application has given its frames back.
//
// Failures (ppool/base.h): the creates return a Result; the ring
// operations are the per-packet path and return counts, with what they
// could not do counted in XskQueueStats or returns_refused() (a frame the
// application does not hold is a reported misuse).
//
// API history (keep this list when the API changes):
//   2026-11-23: first version.
//   2026-12-02: transmit() refuses frames the application does not hold;
//               XskQueueStats.rejected.
//   2026-12-02: recycle() and note_returned() refuse frames the application
//               does not hold and return how many they took;
//               returns_refused().
//   2026-12-02: XskRedirect's load/attach/add_socket return Result<void>.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "ppool/base.h"
#include "ppool/dma.h"
#include "ppool/page.h"
#include "ppool/page_pool.h"
#include "ppool/xdp.h"

struct xsk_umem;
struct xsk_socket;

namespace ppool {

inline constexpr std::uint32_t kXskFrameSize = 4096;  // one page per frame
static_assert(kXskFrameSize == std::uint32_t{1} << kPageShift, "a frame is a page");
// The headroom the kernel leaves before a received packet (XDP_PACKET_HEADROOM):
// an RX descriptor's address is the frame's + this + the UMEM's frame_headroom.
inline constexpr std::uint32_t kXskPacketHeadroom = 256;

class XskUmem;
class XskQueue;

// The UMEM's DMA device: mapping a page gives its offset in the UMEM (the
// address the rings carry); a page outside the UMEM is refused with a
// message (logged, rate-limited) and counted. Coherent: no syncs.
// Thread context of every call: any thread.
// map() @return the page's UMEM offset, or kDmaMappingError for a page
//   outside the UMEM, counted in refused() (the pool counts it in
//   map_failures()); unmap() cannot fail.
class XskUmemDevice final : public CoherentDmaDevice {
 public:
  explicit XskUmemDevice(const SharedRegion& region) : region_(region) {}
  std::string_view name() const override { return "xsk_umem"; }
  DmaAddr map(void* addr, std::size_t len, DmaDirection dir, std::string_view caller) override;
  void unmap(DmaAddr addr, std::size_t len, DmaDirection dir, std::string_view caller) override;
  // Maps refused because the page was not in the UMEM.
  [[nodiscard]] std::uint64_t refused() const { return refused_.load(std::memory_order_relaxed); }
  // The last refusal's message ("" before any). Thread context: any thread
  // (copies under a lock; for tests and reports).
  [[nodiscard]] std::string last_refusal() const;

 private:
  const SharedRegion& region_;
  std::atomic<std::uint64_t> refused_{0};
  mutable std::mutex lock_;  // last_
  std::string last_;
};

struct XskUmemParams {
  // Frames of kXskFrameSize bytes. The region is rounded up to whole 4 MiB
  // chunks; frames() says how many the UMEM really has.
  std::uint32_t frames = 4096;
  std::uint32_t frame_size = kXskFrameSize;  // only 4096 is supported
  // Bytes the kernel leaves at the start of each frame before its
  // XDP_PACKET_HEADROOM (the UMEM's frame_headroom).
  std::uint32_t frame_headroom = 0;
  // 2 MiB hugetlb pages when enough are free; else 4 KiB pages, logged.
  bool hugetlb = true;
  // Commit and mlock the whole region up front (a UMEM is pinned whole).
  bool lock = true;
  // The first socket's fill and completion rings (the UMEM's own); a
  // socket of another netdev or queue gets its own of the same sizes.
  std::uint32_t fill_size = 2048;
  std::uint32_t comp_size = 2048;
};

// Where the UMEM's frames are (a snapshot; each field exact at the moment it
// was read).
struct XskFrameCounts {
  std::uint32_t frames = 0;     // in the UMEM
  std::uint32_t home = 0;       // free in the allocator or home in a pool
  std::uint32_t app = 0;        // with the application (received or allocated)
  std::uint32_t fill = 0;       // posted to a fill ring, not yet received (fill + RX rings)
  std::uint32_t tx = 0;         // posted to a TX ring, not yet completed (TX + completion)
  std::uint64_t committed = 0;  // frames committed by the allocator (bytes / 4096)
};

// The UMEM. Thread context: create, destruction: any thread, once no queue
// of it is open; the accessors: any thread.
class XskUmem {
 public:
  // Creates the shared region (hugetlb 2M when asked and free, else 4 KiB,
  // logged) and registers it (xsk_umem__create with the region's base and
  // size). Thread context: any thread.
  // @return the UMEM, or an Error naming the cause; nothing is left then
  //   (region unmapped, registration undone):
  //   - kInvalidArgument: a field of params, named ("XskUmemParams.frames");
  //   - kOutOfMemory: the region cannot be locked (RLIMIT_MEMLOCK) or the
  //     kernel will not pin it, or the arena has no room (PageAllocator::
  //     create()'s errors);
  //   - kUnsupported: the kernel has no AF_XDP, or no permission
  //     (CAP_NET_RAW), or xsk_umem__create's other refusals.
  [[nodiscard]] static Result<std::unique_ptr<XskUmem>> create(const XskUmemParams& params);
  // Deletes the registration, reclaims the frames the kernel still held for
  // the first socket (whose socket is the registration's), waits for the
  // queues' pools destroyed with frames out to be freed (they name the
  // UMEM's device in the registry until then), and frees the region and
  // the device. Queues still open are a misuse (reported, and the region is
  // leaked rather than freed under the kernel); so are frames the
  // application never gave back (reported; region and device leaked). A
  // pool the application made itself on the UMEM's device must be freed
  // before the UMEM.
  ~XskUmem();
  XskUmem(const XskUmem&) = delete;
  XskUmem& operator=(const XskUmem&) = delete;

  [[nodiscard]] PageAllocator& allocator() { return *allocator_; }
  [[nodiscard]] const SharedRegion& region() const { return *region_; }
  [[nodiscard]] XskUmemDevice& device() { return *device_; }
  [[nodiscard]] const XskUmemParams& params() const { return params_; }
  [[nodiscard]] std::uint32_t frames() const { return frames_; }
  // True when the region is 2 MiB hugetlb pages.
  [[nodiscard]] bool hugetlb() const { return hugetlb_; }
  // libxdp's handle and the registration's file descriptor.
  [[nodiscard]] xsk_umem* raw() const { return umem_; }
  [[nodiscard]] int fd() const;

  // A page's UMEM address (its offset in the region). Any thread.
  [[nodiscard]] std::uint64_t addr_of(const Page* page) const { return region_->offset_of(page); }
  // The page of the frame holding UMEM address addr (any offset inside the
  // frame). @return the page, or nullptr when addr is outside or names no
  // allocated page (not an error).
  [[nodiscard]] Page* page_at(std::uint64_t addr) const {
    return region_->page_at(addr & ~std::uint64_t{kXskFrameSize - 1});
  }
  [[nodiscard]] bool contains(const Page* page) const {
    return region_->contains(page_address(page));
  }
  // The descriptor of the frame holding UMEM address addr, or nullptr when
  // addr is outside the UMEM. Unlike page_at() it reads no memory (the
  // descriptor is computed, not checked): for an address the application
  // just received, where page_at() would cost a cache miss a frame. Any
  // thread.
  [[nodiscard]] Page* frame_page(std::uint64_t addr) const {
    return addr < region_->bytes ? first_page_ + (addr >> kPageShift) : nullptr;
  }

  // Where the frames are. Scans the ledger: O(frames), for reports and
  // tests. Any thread.
  [[nodiscard]] XskFrameCounts counts() const;
  // {"umem_frames": N, "umem_frames_committed": N, "umem_frames_home": N,
  //  "umem_frames_app": N, "umem_frames_fill": N, "umem_frames_tx": N,
  //  "umem_hugetlb": true|false}
  [[nodiscard]] std::string to_json() const;
  // Sockets open on the UMEM now.
  [[nodiscard]] unsigned open_queues() const { return open_queues_.load(); }

  // ---- the ledger (for XskQueue; public so tools may read states) ----
  enum FrameState : std::uint8_t { kHome = 0, kApp = 1, kFill = 2, kTx = 3 };
  [[nodiscard]] FrameState state_of(const Page* page) const;

 private:
  friend class XskQueue;
  XskUmem() = default;
  struct Ledger;
  // (Both defined in ledger.h.) Moves n pages' entries to state (with the socket slot holding them
  // when kernel-held). Any thread holding the pages.
  inline void set_state(Page* const* pages, std::size_t n, FrameState state, unsigned slot);
  // The kernel hands back the frame at addr (an RX or completion entry) of
  // socket slot: when its entry says `from` for that slot, it moves to `to`
  // and its page is returned; else nullptr, and nothing changes (an address
  // this socket never posted). The ledger (2 bytes a frame) is the check, so
  // no descriptor is read.
  inline Page* take_from_kernel(std::uint64_t addr, FrameState from, FrameState to, unsigned slot);
  // The frame of page goes to socket slot's TX ring: true, and its entry
  // says so, when the application holds it (received: kApp; or allocated
  // from a pool of the UMEM and not given back); else false and nothing
  // changes (it is in a fill or TX ring, or home in a pool).
  inline bool take_for_tx(Page* page, unsigned slot);
  // The application gives the frame of page back (recycle(), a returned
  // Frame): kReceived when it held it as received (kApp: the entry moves to
  // kHome), kAllocated when a pool of the UMEM handed it out and it was not
  // given back (the entry stays kHome), else kNo and nothing changes (it is
  // in a fill or TX ring, or already home). Any thread holding the page.
  enum class Held : std::uint8_t { kNo, kReceived, kAllocated };
  inline Held take_for_home(Page* page);
  // Pages held by the kernel for socket slot (any slot: ~0u) back to
  // their pools; returns how many.
  std::size_t reclaim(unsigned slot);
  Result<unsigned> attach_queue(XskQueue* queue);
  void detach_queue(unsigned slot, bool registration_socket);
  // A queue's pool was destroyed with frames out (XskQueue::close()).
  void pool_pending(std::uint32_t pool_id);
  // True once no pool of pool_pending() is in the registry (any thread).
  bool pending_pools_gone() const;

  XskUmemParams params_;
  std::unique_ptr<PageAllocator> allocator_;
  const SharedRegion* region_ = nullptr;
  Page* first_page_ = nullptr;  // the descriptor of UMEM address 0
  std::unique_ptr<XskUmemDevice> device_;
  std::unique_ptr<Ledger> ledger_;
  xsk_umem* umem_ = nullptr;
  std::uint32_t frames_ = 0;
  bool hugetlb_ = false;
  std::atomic<unsigned> open_queues_{0};
  // The socket that owns the registration (libxdp's first socket reuses the
  // UMEM's fd): it stays bound until the UMEM is deleted.
  bool registration_socket_taken_ = false;
  bool registration_socket_closed_ = false;
  unsigned registration_slot_ = ~0u;
};

// Entries on a socket's four rings (XskQueue::ring_counts()).
struct XskRingCounts {
  std::uint32_t fill = 0, rx = 0, tx = 0, completion = 0;
};

enum class XskBindMode : std::uint8_t {
  kAuto,      // zero-copy when the driver can, else copy
  kCopy,      // XDP_COPY
  kZeroCopy,  // XDP_ZEROCOPY (fails where the driver cannot)
};

struct XskQueueParams {
  std::string ifname;
  std::uint32_t queue_id = 0;
  std::uint32_t rx_size = 2048;
  std::uint32_t tx_size = 2048;
  XskBindMode mode = XskBindMode::kAuto;
  bool need_wakeup = true;  // XDP_USE_NEED_WAKEUP: kick only when the kernel asks
  // Let libxdp load and attach its default XDP program (with its
  // dispatcher). Off by default: the caller attaches its own program and
  // puts fd() into its XSKMAP at queue_id (libxdp's program needs BTF).
  bool load_program = false;
  // The queue's pool: its name (introspection), ring size, and the most
  // pages in flight (0: no limit).
  std::string pool_name = "xsk";
  unsigned pool_size = 1024;
  std::uint32_t max_inflight = 0;
};

// A received (or about-to-be-sent) frame: the page, where the packet starts
// in it, and its length. data() is its first byte; addr() its UMEM address.
struct XskDesc {
  Page* page = nullptr;
  std::uint32_t offset = 0;
  std::uint32_t len = 0;
  [[nodiscard]] void* data() const { return static_cast<char*>(page_address(page)) + offset; }
};

struct XskQueueStats {
  std::uint64_t fill_posted = 0;  // frames posted to the fill ring
  std::uint64_t rx = 0;           // descriptors received
  std::uint64_t tx = 0;           // descriptors posted to the TX ring
  std::uint64_t tx_kicks = 0;     // sendto() calls to wake the kernel's TX
  std::uint64_t completed = 0;    // frames taken off the completion ring
  std::uint64_t tx_refused = 0;   // descriptors refused (not of this UMEM, bad length, or
                                  // a frame the application does not hold)
  std::uint64_t rejected = 0;     // RX or completion entries naming no frame this socket posted
  std::uint64_t alloc_short = 0;  // refills the pool could not fully supply
};

// One AF_XDP socket on (ifname, queue_id) and its pool. Contexts: "owner"
// is the creating thread, or the last caller of bind_owner(); the rings are
// single-producer/single-consumer, so every ring operation is owner only.
class XskQueue {
 public:
  // Opens the socket: the first queue of a UMEM uses the UMEM's fill and
  // completion rings (xsk_socket__create); later ones get their own
  // (xsk_socket__create_shared, XDP_SHARED_UMEM). Creates the pool
  // (allocator and device of the UMEM, kDmaMap), bound to the calling
  // thread, and registers the queue's memory model (MemType::kXskBuffPool).
  // Thread context: any thread; it becomes the owner.
  // @return the queue, or an Error naming the interface and queue; nothing
  //   is left open then (no socket, pool or slot on the UMEM):
  //   - kInvalidArgument: a field of params (named), no such interface or
  //     queue, another socket bound to it, the same (ifname, queue) opened
  //     twice on the UMEM, or a UMEM whose sockets were all closed;
  //   - kUnsupported: no permission (CAP_NET_RAW and CAP_NET_ADMIN),
  //     zero-copy (kZeroCopy) or AF_XDP unsupported here;
  //   - kOutOfMemory: too many sockets on one UMEM;
  //   - PagePool::create()'s and RxQueueInfo::reg_mem_model()'s errors.
  [[nodiscard]] static Result<std::unique_ptr<XskQueue>> create(XskUmem& umem,
                                                                const XskQueueParams& params);
  // close(). Thread context: owner.
  ~XskQueue();
  XskQueue(const XskQueue&) = delete;
  XskQueue& operator=(const XskQueue&) = delete;

  // Posts up to n fresh frames from the pool to the fill ring (as many as
  // the ring has room for and the pool can give, one alloc_pages_bulk per
  // 64). Thread context: owner.
  // @return how many were posted; a pool that gave fewer than asked is
  //   counted in stats().alloc_short (and the pool's alloc_failures()).
  std::size_t refill(std::size_t n);
  // Takes up to max descriptors off the RX ring into out[]; the frames are
  // the application's from now on (transmit, recycle, or return their
  // Frame). Thread context: owner.
  // @return how many are in out[0, result); an RX entry naming no frame this
  //   socket posted is skipped and counted in stats().rejected.
  std::size_t receive(XskDesc* out, std::size_t max);
  // Posts descs[0, n) to the TX ring (the frames may come from any queue of the
  // same UMEM: no copy) and kicks the kernel when it needs it. Only a frame
  // the application holds may be sent: one it received (from any socket of
  // the UMEM), or one it allocated from a pool of the UMEM and has not given
  // back. A frame in a fill or TX ring or home in a pool, a page not of this
  // UMEM, or a length past the frame's end is refused (reported as a misuse,
  // counted in stats().tx_refused) and changes nothing: the frame stays where
  // it was, and the descriptors from it on are not taken. Thread context:
  // owner.
  // @return how many were taken, a prefix of descs: the ring was full for the
  //   rest, or the first of them was refused; they stay the caller's.
  std::size_t transmit(const XskDesc* descs, std::size_t n);
  // Wakes the kernel's TX (sendto) whether or not it asked. Thread context:
  // owner.
  void kick();
  // Takes up to max frames off the completion ring and sends them home
  // (put_page_bulk: into the cache when this thread owns their pool, through
  // the ring otherwise). Thread context: owner.
  // @return how many went home; an entry naming no frame this socket sent is
  //   skipped and counted in stats().rejected.
  std::size_t complete(std::size_t max);
  // Gives frames back without sending them (a drop): home through
  // put_page_bulk. Only a frame the application holds may be given back: one
  // it received (from any socket of the UMEM), or one it allocated from a pool
  // of the UMEM and has not given back. A frame in a fill or TX ring or
  // already home, the same frame twice in one call, a page not of this UMEM
  // or no page is refused (reported as a misuse, counted in returns_refused())
  // and changes nothing; the others go home. Thread context: any thread
  // holding the frames.
  // @return how many went home.
  std::size_t recycle(const XskDesc* descs, std::size_t n);

  // The XDP memory model: the queue's MemInfo (MemType::kXskBuffPool, its
  // id), a Frame built in the frame's headroom for a received descriptor
  // (nullptr when the headroom cannot hold one), and the descriptor of a
  // Frame. return_frame() on such a Frame sends the page home to its pool;
  // note_returned() keeps the ledger exact for frames returned that way
  // (else they count as the application's until their pool reuses them);
  // call it before return_frame(), while the frames are still the
  // application's. It returns how many it noted: a Frame whose page the
  // application does not hold (in a fill or TX ring, already home, not of
  // this UMEM) is refused as recycle() refuses it (reported, counted in
  // returns_refused(), its entry unchanged) and must not be returned: it
  // is not the application's. Thread context: any thread holding the
  // frames.
  [[nodiscard]] MemInfo mem() const { return rxq_.mem(); }
  [[nodiscard]] Frame* to_frame(const XskDesc& desc) const;
  [[nodiscard]] static XskDesc desc_of(const Frame* frame);
  std::size_t note_returned(const Frame* const* frames, std::size_t n);
  // Frames recycle() and note_returned() refused. Any thread.
  [[nodiscard]] std::uint64_t returns_refused() const {
    return returns_refused_.load(std::memory_order_relaxed);
  }

  // Hands the queue (its rings and its pool) to the calling thread. The
  // previous owner must have stopped using it. Thread context: new owner.
  void bind_owner();
  // Closes the socket, reclaims every frame the kernel held for it (fill,
  // RX, TX, completion; for the UMEM's registration socket, at the UMEM's
  // deletion instead), and destroys the pool. Returns the pool's pages
  // still in flight after that (with the application, or held by another
  // socket's TX): the pool is freed when they come back. Idempotent; cannot
  // fail. Thread context: owner.
  std::uint32_t close();

  [[nodiscard]] PagePool& pool() { return *pool_; }
  [[nodiscard]] XskUmem& umem() { return umem_; }
  [[nodiscard]] const XskQueueParams& params() const { return params_; }
  // The socket, for an XSKMAP entry and poll(); -1 once closed (not an
  // error: the queue has none).
  [[nodiscard]] int fd() const;
  [[nodiscard]] xsk_socket* raw() const { return xsk_; }
  // True when the socket was bound in zero-copy mode.
  [[nodiscard]] bool zero_copy() const { return zero_copy_; }
  // Frames the kernel holds for this socket now (exact). Any thread.
  [[nodiscard]] std::uint32_t in_fill() const { return in_fill_.load(std::memory_order_relaxed); }
  [[nodiscard]] std::uint32_t in_tx() const { return in_tx_.load(std::memory_order_relaxed); }
  // Entries on each of the socket's rings now (producer - consumer; the
  // fill and completion rings are the UMEM's for its registration socket),
  // all zero once closed. A snapshot for reports: any thread, while no
  // thread closes the queue.
  [[nodiscard]] XskRingCounts ring_counts() const;
  // Thread context: owner, or any thread once the owner stopped.
  [[nodiscard]] const XskQueueStats& stats() const { return stats_; }

 private:
  XskQueue(XskUmem& umem, const XskQueueParams& params);
  struct Rings;
  // nullptr when the application holds page and may give it back (a
  // received frame's entry moves home); else why not, and nothing changed.
  // earlier[0, count): the frames the same call already accepted.
  const char* accept_return(Page* page, Page* const* earlier, std::size_t count);
  // Counts and reports a refused give-back (cold).
  void refuse_return(const char* op, const Page* page, const char* why);

  XskUmem& umem_;
  XskQueueParams params_;
  std::unique_ptr<Rings> rings_;
  xsk_socket* xsk_ = nullptr;
  PagePool* pool_ = nullptr;
  RxQueueInfo rxq_;
  unsigned slot_ = ~0u;
  bool registration_socket_ = false;
  bool zero_copy_ = false;
  bool closed_ = false;
  std::atomic<std::uint32_t> in_fill_{0};
  std::atomic<std::uint32_t> in_tx_{0};
  // Written by any thread that gives frames back (recycle, note_returned),
  // on the refusal path only: an atomic off the fast path.
  std::atomic<std::uint64_t> returns_refused_{0};
  XskQueueStats stats_;
};

}  // namespace ppool
