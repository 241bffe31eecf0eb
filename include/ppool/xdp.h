// ppool/xdp.h - the XDP memory model (layer xdp): how a frame finds its way
// back to the allocator it came from, whichever driver or thread frees it.
//
// A receive queue registers its memory model (xdp_rxq_info_reg_mem_model);
// every frame it builds carries that MemInfo. A frame redirected to another
// driver's queue and transmitted there is returned from that driver's TX
// completion (return_frame, or FrameBulk for 16 at a time) and lands in its
// home pool's ring: it never goes through the page allocator. That is the
// kernel documentation's "common driver layer".
//
// Failures (ppool/base.h): reg_mem_model() is setup and returns a Result;
// building and returning frames is the per-packet path: build_frame()
// returns nullptr, and a return cannot fail (a frame of no known pool is
// a reported misuse).
#pragma once

#include <cstdint>
#include <string>

#include "ppool/base.h"
#include "ppool/page.h"
#include "ppool/page_pool.h"

namespace ppool {

// The kernel's enum xdp_mem_type.
enum class MemType : std::uint32_t {
  kPageShared = 0,  // pieces of pages, freed with put_page (page_frag)
  kPageOrder0 = 1,  // one order-0 page per frame, freed with put_page
  kPagePool = 2,    // pages of a PagePool, recycled into it
  // Frames of an AF_XDP UMEM (ppool/xsk.h): pages of the queue's PagePool
  // on the UMEM's allocator, recycled into it (MEM_TYPE_XSK_BUFF_POOL).
  kXskBuffPool = 3,
};
const char* to_string(MemType type);

struct MemInfo {
  MemType type = MemType::kPageShared;
  std::uint32_t id = 0;  // the registry's id for kPagePool; 0 otherwise
};

// A frame (xdp_frame): it lives in the first bytes of its own buffer's
// headroom, so building and returning one allocates nothing.
struct Frame {
  void* data;              // first byte of the packet
  std::uint32_t len;       // packet bytes
  std::uint32_t headroom;  // bytes before data, after this Frame
  std::uint32_t frame_sz;  // the whole buffer
  MemInfo mem;
};

// Builds a frame at hard_start (the buffer's first byte) for the packet at
// data (the kernel's xdp_convert_buff_to_frame). Thread context: the
// buffer's holder.
// @return the frame, or nullptr, nothing written, when the headroom cannot
//   hold a Frame, or when there is no buffer (hard_start or data null: an
//   allocation that failed upstream, already counted there).
Frame* build_frame(void* hard_start, void* data, std::uint32_t len, std::uint32_t frame_sz,
                   MemInfo mem);

// A receive queue's registration (xdp_rxq_info). Unregisters its memory
// model when destroyed. Thread context: the queue's owner (driver setup and
// teardown).
class RxQueueInfo {
 public:
  RxQueueInfo(std::string dev_name, std::uint32_t queue_index);
  ~RxQueueInfo();
  RxQueueInfo(const RxQueueInfo&) = delete;
  RxQueueInfo& operator=(const RxQueueInfo&) = delete;

  // Registers the queue's memory model: kPagePool and kXskBuffPool need
  // the pool (which gets an id in the registry); the page types take none.
  // @return the MemInfo frames of this queue carry, or an Error, the queue
  //   left unregistered (or registered as before):
  //   - kInvalidArgument: a model already registered, a missing or
  //     unexpected pool, or an unknown type, naming the queue;
  //   - kOutOfMemory: every memory model id is in use.
  [[nodiscard]] Result<MemInfo> reg_mem_model(MemType type, PagePool* pool);
  // Drops the registration; nothing when none. Frames still in flight stay
  // safe: they find their pool through their page, not through the registry.
  // Unlike the kernel, this does not destroy the pool: the driver that created
  // it does.
  void unreg_mem_model();

  const MemInfo& mem() const { return mem_; }
  const std::string& dev_name() const { return dev_name_; }
  std::uint32_t queue_index() const { return queue_index_; }

 private:
  std::string dev_name_;
  std::uint32_t queue_index_;
  MemInfo mem_;
  bool registered_ = false;
};

// The allocator registered under a kPagePool id. Ids are handed out
// cyclically, so a stale id is not soon given to another pool. Thread
// context: any thread (takes a lock: not for the per-frame path).
// @return the pool, or nullptr once the id was unregistered (not an error).
PagePool* mem_id_allocator(std::uint32_t id);

// Returns a frame to its memory model. Thread context: any thread.
void return_frame(Frame* frame);
// As return_frame, recycling into the pool's cache when called on the pool's
// owner thread (the kernel's xdp_return_frame_rx_napi). Thread context: any
// thread; direct recycling only on the owner.
void return_frame_rx_napi(Frame* frame);

// Up to 16 frames returned together (xdp_frame_bulk): page-pool frames are
// queued and flushed with one put_page_bulk, which sorts them by pool (pools
// may be mixed); other frames are returned at once. Flushes when full and
// when destroyed. Thread context: the one thread using it.
class FrameBulk {
 public:
  static constexpr unsigned kSize = 16;  // XDP_BULK_QUEUE_SIZE

  FrameBulk() = default;
  ~FrameBulk() { flush(); }
  FrameBulk(const FrameBulk&) = delete;
  FrameBulk& operator=(const FrameBulk&) = delete;

  void add(Frame* frame);  // xdp_return_frame_bulk
  void flush();            // xdp_flush_frame_bulk
  unsigned count() const { return count_; }

 private:
  unsigned count_ = 0;
  Page* queue_[kSize];
};

inline void return_frame_bulk(Frame* frame, FrameBulk& bulk) {
  bulk.add(frame);
}

}  // namespace ppool
