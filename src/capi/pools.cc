// The C API's pools: parameters, create and destroy, and the hot paths
// (alloc, put, bulk), each one call into the C++ inline fast path: a C
// caller pays the call, nothing else (no check, no allocation).
#include "capi/capi.h"

using namespace ppool::capi;

static_assert(std::uint32_t{PPOOL_F_DMA_MAP} == ppool::kDmaMap &&
              std::uint32_t{PPOOL_F_DMA_SYNC_DEV} == ppool::kDmaSyncDev &&
              std::uint32_t{PPOOL_F_ZERO_PAGES} == ppool::kZeroPages);
static_assert(static_cast<int>(ppool::DmaDirection::kNone) == PPOOL_DMA_NONE &&
              static_cast<int>(ppool::DmaDirection::kFromDevice) == PPOOL_DMA_FROM_DEVICE);
static_assert(PPOOL_ALLOC_CACHE_SIZE == ppool::kAllocCacheSize &&
              PPOOL_POOL_SIZE_MAX == ppool::kPoolSizeMax);

// ---- create and destroy ----

extern "C" void ppool_pool_params_init(ppool_pool_params* params) {
  const ppool::PagePoolParams d;
  params->order = d.order;
  params->pool_size = d.pool_size;
  params->nid = d.nid;
  params->dev = nullptr;
  params->dma_dir = static_cast<ppool_dma_dir>(d.dma_dir);
  params->max_len = d.max_len;
  params->offset = d.offset;
  params->flags = d.flags;
  params->name = nullptr;  // the C++ default name, "pool"
  params->queue = d.queue;
  params->allocator = nullptr;
  params->backing = static_cast<ppool_backing>(d.backing);
  params->max_inflight = d.max_inflight;
  params->inflight_high = d.inflight_high;
  params->inflight_low = d.inflight_low;
}

extern "C" int ppool_pool_create(const ppool_pool_params* params, ppool_pool** out) {
  if (!params || !out)
    return fail(ppool::Errc::kInvalidArgument,
                params ? "ppool_pool_create: out is NULL" : "ppool_pool_create: params is NULL");
  ppool::PagePoolParams p;
  p.order = params->order;
  p.pool_size = params->pool_size;
  p.nid = params->nid;
  p.dev = params->dev ? cxx(params->dev) : nullptr;
  p.dma_dir = static_cast<ppool::DmaDirection>(params->dma_dir);
  p.max_len = params->max_len;
  p.offset = params->offset;
  p.flags = params->flags;
  if (params->name) p.name = params->name;
  p.queue = params->queue;
  p.allocator = params->allocator ? cxx(params->allocator) : nullptr;
  p.backing = static_cast<ppool::Backing>(params->backing);
  p.max_inflight = params->max_inflight;
  p.inflight_high = params->inflight_high;
  p.inflight_low = params->inflight_low;
  auto created = ppool::PagePool::create(p);
  if (!created) return fail(created.error());
  *out = c(created.value());
  return 0;
}

extern "C" uint32_t ppool_pool_destroy(ppool_pool* pool) {
  return ppool::PagePool::destroy(cxx(pool));
}

extern "C" void ppool_pool_bind_owner(ppool_pool* pool) {
  cxx(pool)->bind_owner();
}

extern "C" void ppool_pool_nid_changed(ppool_pool* pool, int nid) {
  cxx(pool)->nid_changed(nid);
}

extern "C" ppool_pool* ppool_page_pool_of(const ppool_page* page) {
  return c(ppool::page_pool_of(cxx(page)));
}

extern "C" uint32_t ppool_pool_id(const ppool_pool* pool) {
  return cxx(pool)->id();
}

extern "C" const char* ppool_pool_name(const ppool_pool* pool) {
  return cxx(pool)->name();
}

extern "C" int ppool_pool_nid(const ppool_pool* pool) {
  return cxx(pool)->nid();
}

// ---- alloc ----

extern "C" ppool_page* ppool_alloc_pages(ppool_pool* pool) {
  return c(cxx(pool)->alloc_pages());
}

extern "C" size_t ppool_alloc_pages_bulk(ppool_pool* pool, ppool_page** out, size_t n) {
  return cxx(pool)->alloc_pages_bulk(cxx(out), n);
}

extern "C" ppool_page* ppool_alloc_frag(ppool_pool* pool, uint32_t size, uint32_t* offset) {
  return c(cxx(pool)->alloc_frag(size, offset));
}

extern "C" ppool_page* ppool_alloc(ppool_pool* pool, uint32_t* offset, uint32_t* size) {
  return c(cxx(pool)->alloc(offset, size));
}

extern "C" void* ppool_alloc_va(ppool_pool* pool, uint32_t* size) {
  return cxx(pool)->alloc_va(size);
}

extern "C" void ppool_free_va(ppool_pool* pool, void* va, bool allow_direct) {
  cxx(pool)->free_va(va, allow_direct);
}

// ---- put ----

extern "C" void ppool_pool_put_page(ppool_pool* pool, ppool_page* page, uint32_t dma_sync_size,
                                    bool allow_direct) {
  cxx(pool)->put_page(cxx(page), dma_sync_size, allow_direct);
}

extern "C" void ppool_pool_put_full_page(ppool_pool* pool, ppool_page* page, bool allow_direct) {
  cxx(pool)->put_full_page(cxx(page), allow_direct);
}

extern "C" void ppool_recycle_direct(ppool_pool* pool, ppool_page* page) {
  cxx(pool)->recycle_direct(cxx(page));
}

extern "C" void ppool_put_page_bulk(ppool_page** pages, size_t count) {
  ppool::put_page_bulk(cxx(pages), count);
}

extern "C" void ppool_release_page(ppool_pool* pool, ppool_page* page) {
  cxx(pool)->release_page(cxx(page));
}

extern "C" void ppool_pp_ref_count_set(ppool_page* page, int64_t n) {
  ppool::pp_ref_count_set(cxx(page), n);
}

extern "C" int64_t ppool_pp_ref_count_sub(ppool_page* page, int64_t n) {
  return ppool::pp_ref_count_sub(cxx(page), n);
}

extern "C" void ppool_pp_ref_count_inc(ppool_page* page) {
  ppool::pp_ref_count_inc(cxx(page));
}

// ---- DMA ----

extern "C" void ppool_dma_sync_for_cpu(ppool_pool* pool, ppool_page* page, uint32_t offset,
                                       uint32_t len) {
  cxx(pool)->dma_sync_for_cpu(cxx(page), offset, len);
}

extern "C" ppool_dma_dir ppool_get_dma_dir(const ppool_pool* pool) {
  return static_cast<ppool_dma_dir>(cxx(pool)->get_dma_dir());
}
