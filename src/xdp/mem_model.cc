// The XDP memory model: the mem-id registry, frames and their return paths.
#include <mutex>
#include <new>
#include <unordered_map>

#include "ppool/xdp.h"

namespace ppool {
namespace {

constexpr std::uint32_t kMemIdMin = 1;
constexpr std::uint32_t kMemIdMax = 0xfffe;  // MEM_ID_MAX

// id -> pool for kPagePool registrations. Register and unregister happen at
// queue setup and teardown, lookups for introspection: a mutex is enough.
// The return paths never consult it, which is what keeps frames in flight
// safe when their model goes away.
class MemRegistry {
 public:
  static MemRegistry& instance() {
    static auto* registry = new MemRegistry;  // outlives every queue
    return *registry;
  }

  Result<std::uint32_t> add(PagePool* pool) {
    std::lock_guard guard(lock_);
    for (std::uint32_t tries = 0; tries <= kMemIdMax - kMemIdMin; ++tries) {
      std::uint32_t id = next_;
      next_ = next_ == kMemIdMax ? kMemIdMin : next_ + 1;
      if (pools_.emplace(id, pool).second) return id;
    }
    return Error{Errc::kOutOfMemory, "reg_mem_model: all memory model ids are in use"};
  }

  void remove(std::uint32_t id) {
    std::lock_guard guard(lock_);
    pools_.erase(id);
  }

  PagePool* find(std::uint32_t id) {
    std::lock_guard guard(lock_);
    auto it = pools_.find(id);
    return it == pools_.end() ? nullptr : it->second;
  }

 private:
  std::mutex lock_;
  std::unordered_map<std::uint32_t, PagePool*> pools_;
  std::uint32_t next_ = kMemIdMin;
};

// Types whose frames are pages of a PagePool, recycled into it.
bool is_pool_type(MemType type) {
  return type == MemType::kPagePool || type == MemType::kXskBuffPool;
}

// The kernel's __xdp_return: a page-pool frame goes to the pool that owns
// its page, found through the page, not the registry.
void return_data(void* data, MemInfo mem, bool napi_direct) {
  Page* page = page_of(data);
  if (PPOOL_UNLIKELY(!page)) {
    detail::report_misuse(
        detail::format("return of frame data %p (mem type %s, id %u): not in a "
                       "page",
                       data, to_string(mem.type), mem.id));
    return;
  }
  if (!is_pool_type(mem.type)) return put_page(page);
  PagePool* pool = page_pool_of(page);
  if (PPOOL_UNLIKELY(!pool)) {
    detail::report_misuse(
        detail::format("return of frame data %p (mem type %s, id %u): page %p belongs to no pool",
                       data, to_string(mem.type), mem.id, page_address(page)));
    return;
  }
  pool->put_full_page(page, napi_direct);
}

}  // namespace

const char* to_string(MemType type) {
  switch (type) {
    case MemType::kPageShared:
      return "page_shared";
    case MemType::kPageOrder0:
      return "page_order0";
    case MemType::kPagePool:
      return "page_pool";
    case MemType::kXskBuffPool:
      return "xsk_buff_pool";
  }
  return "invalid";
}

Frame* build_frame(void* hard_start, void* data, std::uint32_t len, std::uint32_t frame_sz,
                   MemInfo mem) {
  auto* start = static_cast<char*>(hard_start);
  auto* packet = static_cast<char*>(data);
  // No buffer (an allocation that failed upstream) makes no frame: the
  // caller's nullptr check is the only one between it and a write at 0.
  if (PPOOL_UNLIKELY(!start || !packet)) return nullptr;
  if (packet < start + sizeof(Frame)) return nullptr;
  auto headroom = static_cast<std::uint32_t>(packet - start - sizeof(Frame));
  return new (hard_start) Frame{data, len, headroom, frame_sz, mem};
}

RxQueueInfo::RxQueueInfo(std::string dev_name, std::uint32_t queue_index)
    : dev_name_(std::move(dev_name)), queue_index_(queue_index) {}

RxQueueInfo::~RxQueueInfo() {
  unreg_mem_model();
}

Result<MemInfo> RxQueueInfo::reg_mem_model(MemType type, PagePool* pool) {
  auto invalid = [this](const char* why) {
    return Error{Errc::kInvalidArgument, detail::format("reg_mem_model of %s queue %u: %s",
                                                        dev_name_.c_str(), queue_index_, why)};
  };
  if (registered_) return invalid("a memory model is already registered");
  switch (type) {
    case MemType::kPagePool:
    case MemType::kXskBuffPool: {
      if (!pool)
        return invalid(type == MemType::kPagePool ? "type page_pool needs its pool"
                                                  : "type xsk_buff_pool needs its pool");
      auto id = MemRegistry::instance().add(pool);
      if (!id) return id.error();
      mem_ = {type, id.value()};
      break;
    }
    case MemType::kPageShared:
    case MemType::kPageOrder0:
      if (pool) return invalid("page types take no pool");
      mem_ = {type, 0};
      break;
    default:
      return invalid("unknown memory type");
  }
  registered_ = true;
  return mem_;
}

void RxQueueInfo::unreg_mem_model() {
  if (!registered_) return;
  if (is_pool_type(mem_.type)) MemRegistry::instance().remove(mem_.id);
  registered_ = false;
  mem_ = {};
}

PagePool* mem_id_allocator(std::uint32_t id) {
  return MemRegistry::instance().find(id);
}

void return_frame(Frame* frame) {
  return_data(frame->data, frame->mem, false);
}

void return_frame_rx_napi(Frame* frame) {
  return_data(frame->data, frame->mem, true);
}

void FrameBulk::add(Frame* frame) {
  if (!is_pool_type(frame->mem.type)) return return_frame(frame);
  Page* page = page_of(frame->data);
  if (PPOOL_UNLIKELY(!page)) return return_frame(frame);  // reported there
  if (count_ == kSize) flush();
  queue_[count_++] = page;
}

void FrameBulk::flush() {
  if (!count_) return;
  put_page_bulk(queue_, count_);
  count_ = 0;
}

}  // namespace ppool
