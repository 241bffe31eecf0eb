// capi/capi.h - the C API's handles and its one error convention (layer
// capi, the C face of the layers below: include/ppool.h).
//
// A C handle is the C++ object itself, cast: struct ppool_pool is a
// PagePool, struct ppool_page a Page, struct ppool_allocator a
// PageAllocator, struct ppool_dma_device a DmaDevice. No wrapper object, so
// a hot path is the cast and the C++ inline fast path, nothing else.
#pragma once

#include <cerrno>
#include <string_view>
#include <type_traits>

#include "ppool.h"
#include "ppool/dma.h"
#include "ppool/page.h"
#include "ppool/page_pool.h"

namespace ppool::capi {

// The C++ type a C handle is: one specialisation a handle, the core's
// here, the optional libraries' beside their C functions (share.cc,
// xsk.cc). cxx() casts by it, keeping const.
template <class C>
struct Handle;
template <>
struct Handle<ppool_pool> {
  using Cxx = PagePool;
};
template <>
struct Handle<ppool_page> {
  using Cxx = Page;
};
template <>
struct Handle<ppool_allocator> {
  using Cxx = PageAllocator;
};
template <>
struct Handle<ppool_dma_device> {
  using Cxx = DmaDevice;
};

template <class C>
auto* cxx(C* handle) {
  using Cxx = typename Handle<std::remove_const_t<C>>::Cxx;
  if constexpr (std::is_const_v<C>)
    return reinterpret_cast<const Cxx*>(handle);
  else
    return reinterpret_cast<Cxx*>(handle);
}
// An array of page handles (the bulk calls).
inline Page** cxx(ppool_page** pages) {
  return reinterpret_cast<Page**>(pages);
}

inline ppool_pool* c(PagePool* pool) {
  return reinterpret_cast<ppool_pool*>(pool);
}
inline ppool_page* c(Page* page) {
  return reinterpret_cast<ppool_page*>(page);
}
inline ppool_allocator* c(PageAllocator* allocator) {
  return reinterpret_cast<ppool_allocator*>(allocator);
}
inline ppool_dma_device* c(DmaDevice* dev) {
  return reinterpret_cast<ppool_dma_device*>(dev);
}

// The errno of an Errc: the one place they are mapped (errors.cc).
int errno_of(Errc code);
// Keeps the error's message as the calling thread's ppool_last_error().
// @return -errno_of(error.code).
int fail(const Error& error);
// fail() with a code and a message of the C layer's own (a NULL argument).
int fail(Errc code, const char* message);
// A copy of text for C to free(): malloc()ed, NULL when out of memory.
char* c_string(std::string_view text);

}  // namespace ppool::capi

namespace ppool::capi {
// The C structs of the counters (stats.cc).
void to_c(const PagePoolStats& stats, ppool_pool_stats* out);
void to_c(const PagePoolExtraStats& extra, ppool_pool_extra_stats* out);
}  // namespace ppool::capi
