// The C API's page allocators, shared regions, DMA devices and pages.
#include <memory>
#include <new>

#include "capi/capi.h"
#include "ppool/backing.h"

using namespace ppool::capi;

namespace {
ppool::Backing cxx_backing(ppool_backing backing) {
  return static_cast<ppool::Backing>(backing);
}
static_assert(static_cast<int>(ppool::Backing::kHugetlb1G) == PPOOL_BACKING_HUGETLB_1G);
static_assert(PPOOL_PAGE_SIZE == ppool::kPageSize && PPOOL_MAX_ORDER == ppool::kMaxOrder &&
              PPOOL_NO_NODE == ppool::kNoNode);
}  // namespace

// ---- DMA devices ----

extern "C" ppool_dma_device* ppool_dma_identity(void) {
  static auto* identity = new ppool::IdentityDmaDevice;  // never freed: pools may outlive main
  return c(identity);
}

extern "C" int ppool_dma_debug_create(ppool_dma_device* inner, ppool_dma_device** out) {
  if (!inner || !out)
    return fail(
        ppool::Errc::kInvalidArgument,
        inner ? "ppool_dma_debug_create: out is NULL"
              : "ppool_dma_debug_create: inner is NULL (ppool_dma_identity() without an IOMMU)");
  *out = c(new ppool::DebugDmaDevice(*cxx(inner)));
  return 0;
}

// The C handles of debug devices are DmaDevice pointers of DebugDmaDevice
// objects (ppool_dma_debug_create made them).
static ppool::DebugDmaDevice* debug_device(ppool_dma_device* dev) {
  return static_cast<ppool::DebugDmaDevice*>(cxx(dev));
}

extern "C" size_t ppool_dma_debug_close(ppool_dma_device* dev) {
  return debug_device(dev)->close();
}

extern "C" uint64_t ppool_dma_debug_errors(const ppool_dma_device* dev) {
  return debug_device(const_cast<ppool_dma_device*>(dev))->error_count();
}

extern "C" void ppool_dma_debug_destroy(ppool_dma_device* dev) {
  if (dev) delete debug_device(dev);
}

// ---- page allocators ----

extern "C" void ppool_allocator_opts_init(ppool_allocator_opts* opts) {
  const ppool::PageAllocatorOptions d;
  opts->nid = d.nid;
  opts->max_bytes = d.max_bytes;
  opts->retain_bytes = d.retain_bytes;
  opts->backing = static_cast<ppool_backing>(d.backing);
  opts->hugetlb_fallback_thp = d.hugetlb_fallback_thp;
  opts->shared = d.shared;
  opts->lock = d.lock;
}

extern "C" int ppool_allocator_create(const ppool_allocator_opts* opts, ppool_allocator** out) {
  if (!opts || !out)
    return fail(ppool::Errc::kInvalidArgument, opts ? "ppool_allocator_create: out is NULL"
                                                    : "ppool_allocator_create: opts is NULL");
  ppool::PageAllocatorOptions options;
  options.nid = opts->nid;
  options.max_bytes = opts->max_bytes;
  options.retain_bytes = opts->retain_bytes;
  options.backing = cxx_backing(opts->backing);
  options.hugetlb_fallback_thp = opts->hugetlb_fallback_thp;
  options.shared = opts->shared;
  options.lock = opts->lock;
  auto created = ppool::PageAllocator::create(options);
  if (!created) return fail(created.error());
  *out = c(created.value().release());
  return 0;
}

extern "C" void ppool_allocator_destroy(ppool_allocator* allocator) {
  delete cxx(allocator);
}

extern "C" ppool_allocator* ppool_allocator_for_node(int nid, ppool_backing backing) {
  return c(&ppool::PageAllocator::for_node(nid, cxx_backing(backing)));
}

extern "C" ppool_backing ppool_allocator_backing(const ppool_allocator* allocator) {
  return static_cast<ppool_backing>(cxx(allocator)->backing());
}

extern "C" const char* ppool_backing_name(ppool_backing backing) {
  return ppool::backing_name(cxx_backing(backing));
}

extern "C" void ppool_allocator_get_stats(const ppool_allocator* allocator,
                                          ppool_allocator_stats* stats) {
  const ppool::PageAllocatorStats s = cxx(allocator)->stats();
  stats->committed_bytes = s.committed_bytes;
  stats->free_bytes = s.free_bytes;
  stats->released_bytes = s.released_bytes;
  stats->alloc_failures = s.alloc_failures;
}

// ---- shared regions ----

extern "C" int ppool_region_fd(const ppool_allocator* allocator) {
  const ppool::SharedRegion* region = cxx(allocator)->region();
  return region ? region->fd : -1;
}

extern "C" void* ppool_region_base(const ppool_allocator* allocator) {
  const ppool::SharedRegion* region = cxx(allocator)->region();
  return region ? region->base : nullptr;
}

extern "C" size_t ppool_region_size(const ppool_allocator* allocator) {
  const ppool::SharedRegion* region = cxx(allocator)->region();
  return region ? region->bytes : 0;
}

extern "C" uint64_t ppool_region_offset(const ppool_allocator* allocator, const ppool_page* page) {
  return cxx(allocator)->region()->offset_of(cxx(page));
}

extern "C" ppool_page* ppool_region_page_at(const ppool_allocator* allocator, uint64_t offset) {
  const ppool::SharedRegion* region = cxx(allocator)->region();
  return region ? c(region->page_at(offset)) : nullptr;
}

// ---- pages ----

extern "C" void* ppool_page_address(const ppool_page* page) {
  return ppool::page_address(cxx(page));
}

extern "C" ppool_page* ppool_page_of(const void* addr) {
  return c(ppool::page_of(addr));
}

extern "C" size_t ppool_page_bytes(const ppool_page* page) {
  return ppool::page_bytes(cxx(page));
}

extern "C" uint64_t ppool_get_dma_addr(const ppool_page* page) {
  return cxx(page)->dma_addr;
}

extern "C" void ppool_get_page(ppool_page* page) {
  ppool::get_page(cxx(page));
}

extern "C" void ppool_put_page(ppool_page* page) {
  ppool::put_page(cxx(page));
}
