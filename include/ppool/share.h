// ppool/share.h - zero-copy hand-off of pool pages to another process (layer
// share, above pool): the kernel documentation's "zero-copy RX into userspace", the way
// io_uring's zero-copy receive hands its page_pool's buffers to the
// application.
//
// The producer's pool draws from a shared region (PageAllocator::create with
// .shared = true). attach() sends the consumer, over a connected AF_UNIX
// socket (SCM_RIGHTS), a read-only descriptor of the region and a small ring
// memfd, with a header (region size, page size, ring entries, protocol
// version). The consumer maps the region once, read-only, and from then on
// the two processes talk through two single-producer single-consumer rings in
// the ring memfd:
//
//   hand ring    producer -> consumer  {page offset, data offset, length}
//   return ring  consumer -> producer  page offset
//
// The consumer reads the data in place and gives the page's offset back;
// reap() takes returns off the return ring, checks each against the pages the
// consumer holds (one entry per region page, so a bogus or duplicate offset
// is reported and ignored: nothing lost, nothing put twice) and puts them home
// with put_page_bulk(): into the cache on the pool's owner, through the
// pool's ring from any other thread. One call takes at most a ring's worth of
// entries, so a consumer that keeps the return ring full cannot keep the
// producer in it. When the consumer dies (its end of the socket hangs up) or
// is cut off, reclaim() puts home every page it still held, so the pool's
// pages out with users return to what they were before it attached.
//
// Data path cost: no lock and no syscall per message. Each side keeps its
// own index privately and publishes it once per bulk (one sequentially
// consistent store); it reads the other side's index only when its cached
// copy says the ring is full or empty. A side that finds nothing to do may
// sleep on a futex in the ring memfd (wait_*()): it raises a "waiting" flag
// first, and the other side makes the futex_wake syscall only while that flag
// is up, so a busy pair never enters the kernel.
//
// Trust: the consumer is untrusted. attach() seals the region's memfd
// (F_SEAL_FUTURE_WRITE, F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_SEAL; mode 0400):
// no descriptor of it, the one sent or one reopened O_RDWR through /proc
// even by root, can write it, map it writable or resize it; only the
// producer's own mapping, made at the region's creation, still writes. The
// seals are for good: once shared, no process maps the region writable again.
// Where the kernel cannot seal it, attach() refuses. Every index and offset
// the consumer writes is validated, and a peer that breaks the protocol
// (an impossible index, more bad returns than max_bad_returns) is cut off
// (reclaim()) with one report. It can read the whole region, not only the
// pages it was handed: put nothing in a shared pool's region that the
// consumer may not see, and use kZeroPages so that no page it is handed
// carries a previous user's bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "ppool/base.h"
#include "ppool/page.h"
#include "ppool/page_pool.h"

namespace ppool {

// Bumped when the header, the ring layout or an entry changes.
inline constexpr std::uint32_t kShareVersion = 1;

struct ShareParams {
  // Entries of each ring: a power of two in 2..65536. The consumer can hold
  // more pages than this (it pops them off the hand ring); the region bounds
  // what it can hold.
  std::uint32_t ring_entries = 1024;
  // Returned offsets the consumer did not hold (bogus, or a page returned
  // twice) that are ignored, over its whole life; the next one cuts it off
  // and its pages are reclaimed. A correct consumer returns none; 0 cuts off
  // at the first.
  std::uint64_t max_bad_returns = 1024;
};

// One piece of data to hand over: `len` bytes at `offset` in `page`.
struct ShareBuf {
  Page* page;
  std::uint32_t offset;
  std::uint32_t len;
};

// What the consumer receives: the data, in place in its mapping of the
// region, and the page's offset in the region, which it gives back.
struct ShareMsg {
  const std::byte* data;
  std::uint32_t len;
  std::uint64_t page;  // region offset of the page: give_back() this
};

struct ShareProducerStats {
  std::uint64_t handed;       // pages put on the hand ring
  std::uint64_t returned;     // pages the consumer gave back, put home by reap()
  std::uint64_t reclaimed;    // pages taken back by reclaim()
  std::uint64_t bad_returns;  // returned offsets the consumer did not hold (ignored)
  std::uint64_t holding;      // handed - returned - reclaimed: with the consumer now
};

// The pool's side. Two contexts: the send side (hand*, wait_room) is one
// thread, the pool's owner when it allocates the pages it hands; the reap
// side (reap, wait_returns, reclaim, reclaim_if_gone) is one thread, the same
// or another. peer_gone(), stats() and holding() are any thread.
class ShareProducer {
 public:
  // Attaches to pool, whose allocator must be a shared region, and sends the
  // region and the rings to the consumer at the other end of socket_fd (a
  // connected AF_UNIX stream or seqpacket socket, which stays the caller's:
  // after the header it is free for the application's own messages; the
  // producer only polls it for a hang-up, and shuts it down when it cuts the
  // consumer off). Seals the region first (see Trust above). Thread
  // context: the send side.
  // @return the producer, or an Error, always kInvalidArgument naming what
  //   (this layer does not tell the caller's mistakes from the system's
  //   refusals; the message does): a pool that is not on a shared region,
  //   a bad ring size, a socket that is not a connected AF_UNIX one, a
  //   region that cannot be sealed read-only (a memfd without
  //   MFD_ALLOW_SEALING, a kernel before 5.1 or one that does not enforce
  //   the seal for its backing) or reopened read-only (no /proc), the
  //   rings' memfd or mapping refused, a send that failed. Nothing is
  //   attached then; seals already applied to the region stay (a seal
  //   cannot be removed).
  [[nodiscard]] static Result<std::unique_ptr<ShareProducer>> attach(
      PagePool* pool, int socket_fd, const ShareParams& params = {});
  // reclaim()s what the consumer still holds (destroy the producer before
  // the pool), unmaps the rings. The consumer must stop reading the region
  // when its socket says the producer is gone. Thread context: the reap side,
  // once the send side stopped.
  ~ShareProducer();
  ShareProducer(const ShareProducer&) = delete;
  ShareProducer& operator=(const ShareProducer&) = delete;

  // Hands bufs[0..n) over in order until the hand ring is full. A buffer
  // that cannot be handed (its page not in the region, the page already with
  // the consumer, offset + len beyond the page) is reported and stops the
  // batch: it is the first of the rest. Handed pages are the consumer's until
  // it returns them or reclaim() takes them back. No syscall unless the
  // consumer sleeps. Thread context: the send side.
  // @return how many were handed (the rest stay the caller's); 0 after the
  //   consumer was cut off.
  std::size_t hand_bulk(const ShareBuf* bufs, std::size_t n);
  bool hand(Page* page, std::uint32_t offset, std::uint32_t len) {
    const ShareBuf buf{page, offset, len};
    return hand_bulk(&buf, 1) == 1;
  }
  // Sleeps until the consumer makes room on the hand ring, up to timeout_ms;
  // true when there is room. Thread context: the send side.
  bool wait_room(int timeout_ms);

  // Takes up to min(max, ring_entries) entries off the return ring and puts
  // home the pages among them the consumer held. @return how many. One
  // call's cost is bounded by the ring whatever the consumer writes: call it
  // again for more. An offset it does not hold is reported (rate-limited)
  // and counted in bad_returns, never put. A consumer whose index is
  // impossible, or past max_bad_returns, is cut off: reclaim(), here. After
  // the cut-off, 0 and nothing looked at. No syscall (put_page_bulk's own
  // aside; a cut-off's shutdown). Thread context: the reap side.
  std::size_t reap(std::size_t max = SIZE_MAX);
  // Sleeps until the consumer returns something, up to timeout_ms; true when
  // there is something to reap. After the cut-off, false at once (nothing
  // more is reaped; peer_gone() is true). Thread context: the reap side.
  bool wait_returns(int timeout_ms);

  // True once the consumer's end of the socket hung up (it exited, was
  // killed or closed it) or the consumer was cut off. One poll(); sticky.
  // Thread context: any thread.
  bool peer_gone();
  // Cuts the consumer off for good: reaps what it returned (the first time,
  // one ring's worth at most, and not from a consumer that broke the
  // protocol), then puts home every page it still holds (handed and on the
  // hand ring included). Later hands hand nothing. Returns the pages taken
  // back. O(ring entries + region pages), whatever the consumer does. Call it when the peer
  // is gone: a live consumer could still read the pages, though never write
  // them. Thread context: the reap side (the send side may run meanwhile:
  // a page it hands concurrently is either taken back here or by itself).
  std::size_t reclaim();
  // peer_gone(), and reclaim() when it is: the reap side's periodic check.
  // True when the peer is gone. Thread context: the reap side.
  bool reclaim_if_gone();

  // Thread context: any thread (a moment's snapshot).
  [[nodiscard]] ShareProducerStats stats() const;
  [[nodiscard]] std::uint64_t holding() const { return stats().holding; }
  [[nodiscard]] const SharedRegion& region() const;
  [[nodiscard]] PagePool* pool() const;

 private:
  struct Impl;
  explicit ShareProducer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The other process's side. Thread context: one thread for all of it.
class ShareConsumer {
 public:
  // Receives the header and the descriptors on socket_fd (waiting up to
  // timeout_ms), checks them and maps the region (read-only) and the rings.
  // @return the consumer, or an Error, always kInvalidArgument naming what:
  //   a timeout, a hang-up, a peer that is no ppool producer, a header of
  //   another version or of impossible sizes, descriptors missing or too
  //   small, a mapping refused. Nothing is mapped then; the descriptors
  //   received are closed, and socket_fd stays the caller's.
  [[nodiscard]] static Result<std::unique_ptr<ShareConsumer>> connect(int socket_fd,
                                                                      int timeout_ms = 5000);
  ~ShareConsumer();  // unmaps; pages not given back are the producer's to reclaim
  ShareConsumer(const ShareConsumer&) = delete;
  ShareConsumer& operator=(const ShareConsumer&) = delete;

  // Takes up to max messages off the hand ring. @return how many. A message
  // pointing outside the region is reported and skipped (bad_messages()).
  // No syscall unless the producer sleeps on a full ring.
  std::size_t receive(ShareMsg* out, std::size_t max);
  // Gives pages back (their region offsets). @return how many fit on the
  // return ring (the rest: wait_room() and give them again).
  std::size_t give_back(const std::uint64_t* pages, std::size_t n);
  // Sleep until there is something to receive / room to give back, up to
  // timeout_ms (after a short spin); true when there is.
  bool wait_data(int timeout_ms);
  bool wait_room(int timeout_ms);
  // True once the producer's end of the socket hung up. One poll(); sticky.
  bool producer_gone();

  [[nodiscard]] const std::byte* region_base() const;
  [[nodiscard]] std::size_t region_bytes() const;
  [[nodiscard]] std::uint64_t bad_messages() const;

 private:
  struct Impl;
  explicit ShareConsumer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ppool
