// The general allocators (glibc, jemalloc, mimalloc, tcmalloc) and mmap: one
// adapter calling an alloc and a free function.
//
// Each malloc is loaded with dlopen(RTLD_LOCAL) from its Debian soname and
// called through the entry points of that handle, so none of them interposes
// the process's malloc and each is verified to be the allocator that answers:
// its functions live in its own file, and its own size query recognises a
// pointer it returned. Calling through a function pointer costs what a call
// through the PLT does for a program linked with the allocator.
#include <dlfcn.h>
#include <sys/mman.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "impl.h"

namespace ppool_bench {
namespace {

using AllocFn = void* (*)(std::size_t);
using FreeFn = void (*)(void*);
using SizeFn = std::size_t (*)(void*);
using OwnsFn = bool (*)(const void*);

struct Calls {
  AllocFn alloc;
  FreeFn free;
  bool page_allocator;  // also runs slow_path, the page allocator's workload
};

class CallAdapter {
 public:
  using Buf = void*;

  CallAdapter(const char* name, Calls calls) : name_(name), calls_(calls) {}

  bool runs(Workload w) const {
    if (is_baseline(w) || is_ppool_only(w) || is_sync_variant(w)) return false;
    return w != Workload::kSlowPath || calls_.page_allocator;
  }
  bool open(Workload) { return true; }
  // Every workload loop frees what it allocated; nothing is kept here.
  bool close() { return true; }

  Buf alloc() {
    void* buf = calls_.alloc(kBufSize);
    if (__builtin_expect(!buf, 0)) die(name_, "allocation failed");
    return buf;
  }
  void alloc_bulk(Buf* bufs, unsigned n) {
    for (unsigned i = 0; i < n; ++i) bufs[i] = alloc();
  }
  // No cache, ring or page allocator of their own to choose from: every
  // return is the same free.
  void recycle_direct(Buf buf) { calls_.free(buf); }
  void put(Buf buf) { calls_.free(buf); }
  void release(Buf buf) { calls_.free(buf); }
  void put_bulk(Buf* bufs, unsigned n) {
    for (unsigned i = 0; i < n; ++i) calls_.free(bufs[i]);
  }
  void remote_begin() {}
  void remote_end() {}
  void* data(Buf buf) { return buf; }

 private:
  const char* name_;
  Calls calls_;
};

// A malloc and where its entry points are.
struct MallocLib {
  const char* impl;
  const char* soname;
  const char* alloc;
  const char* free;
  const char* usable_size;  // the library's own size query
  const char* owns;         // its "is this pointer mine", where it has one
};

constexpr MallocLib kLibs[] = {
    {"glibc", "libc.so.6", "malloc", "free", "malloc_usable_size", nullptr},
    {"jemalloc", "libjemalloc.so.2", "malloc", "free", "malloc_usable_size", nullptr},
    {"mimalloc", "libmimalloc.so.2", "mi_malloc", "mi_free", "mi_usable_size",
     "mi_is_in_heap_region"},
    {"tcmalloc", "libtcmalloc_minimal.so.4", "tc_malloc", "tc_free", "tc_malloc_size", nullptr},
};

// dlsym as a function pointer; memcpy because a cast from void* to a
// function pointer is only conditionally supported.
template <class Fn>
Fn symbol(void* handle, const char* name) {
  void* sym = dlsym(handle, name);
  Fn fn;
  static_assert(sizeof fn == sizeof sym);
  std::memcpy(&fn, &sym, sizeof fn);
  return fn;
}

// The file a function was loaded from, by its base name ("?" if unknown).
template <class Fn>
std::string file_of(Fn fn) {
  void* addr;
  std::memcpy(&addr, &fn, sizeof addr);
  Dl_info info;
  if (!dladdr(addr, &info) || !info.dli_fname) return "?";
  const char* slash = std::strrchr(info.dli_fname, '/');
  return slash ? slash + 1 : info.dli_fname;
}

std::unique_ptr<Impl> skip(const char* impl, const std::string& why) {
  std::printf("# %-12s skipped: %s\n", impl, why.c_str());
  return nullptr;
}

struct EntryPoints {
  AllocFn alloc;
  FreeFn free;
  SizeFn usable_size;
  OwnsFn owns;  // nullptr where the library has none
};

// The library's entry points, each from lib.soname itself; an empty why
// when they are.
EntryPoints resolve(void* handle, const MallocLib& lib, std::string& why) {
  const EntryPoints e = {symbol<AllocFn>(handle, lib.alloc), symbol<FreeFn>(handle, lib.free),
                         symbol<SizeFn>(handle, lib.usable_size),
                         lib.owns ? symbol<OwnsFn>(handle, lib.owns) : nullptr};
  if (!e.alloc || !e.free || !e.usable_size || (lib.owns && !e.owns)) {
    why = std::string(lib.soname) + " lacks an entry point";
    return e;
  }
  for (const std::string& file : {file_of(e.alloc), file_of(e.free), file_of(e.usable_size)})
    if (file != lib.soname) why = "an entry point resolved to " + file;
  return e;
}

// The library's own size for a kBufSize buffer it just returned; 0 when it
// does not recognise the buffer as its own.
std::size_t probe(const EntryPoints& e) {
  void* p = e.alloc(kBufSize);
  if (!p) return 0;
  const std::size_t size = !e.owns || e.owns(p) ? e.usable_size(p) : 0;
  e.free(p);
  return size >= kBufSize && size <= 2 * kBufSize ? size : 0;
}

// What else decides whose malloc runs, for the record.
void note_environment(const MallocLib& lib) {
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if (std::strcmp(lib.impl, "jemalloc") == 0 && tunables && std::strstr(tunables, "static_tls"))
    std::printf("# %-12s loaded after a restart with GLIBC_TUNABLES=%s (its initial-exec TLS)\n",
                "", tunables);
  // glibc is measured through libc's own handle even when something
  // interposes the process's malloc.
  if (std::strcmp(lib.impl, "glibc") == 0)
    std::printf("# %-12s the process's own malloc comes from %s\n", "",
                file_of(symbol<AllocFn>(RTLD_DEFAULT, "malloc")).c_str());
}

// Verified: alloc, free and the size query come from lib.soname, and the
// library recognises a kBufSize buffer it returned.
std::unique_ptr<Impl> load(const MallocLib& lib) {
  // Never dlclose'd: threads that used it still hold its thread caches, and
  // their destructors run at thread exit.
  void* handle = dlopen(lib.soname, RTLD_NOW | RTLD_LOCAL);
  if (!handle) return skip(lib.impl, dlerror());
  std::string why;
  const EntryPoints e = resolve(handle, lib, why);
  if (!why.empty()) return skip(lib.impl, why);
  const std::size_t size = probe(e);
  if (!size) return skip(lib.impl, std::string(lib.usable_size) + " does not know its own buffer");
  std::printf("# %-12s verified: %s/%s from %s; %s(p) = %zu%s%s%s\n", lib.impl, lib.alloc, lib.free,
              lib.soname, lib.usable_size, size, lib.owns ? "; " : "", lib.owns ? lib.owns : "",
              lib.owns ? "(p) = true" : "");
  note_environment(lib);
  return std::make_unique<ImplOf<CallAdapter>>(lib.impl, lib.impl, Calls{e.alloc, e.free, false});
}

void* mmap_page(std::size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

void munmap_page(void* p) {
  if (munmap(p, kBufSize) != 0) die("mmap", "munmap failed");
}

}  // namespace

// Debian's jemalloc keeps its thread state in initial-exec TLS, which dlopen
// can place only in the static TLS surplus glibc reserves at start (512 bytes
// by default: too few). When that is what stops it, the process restarts
// itself once, before it has done anything, with a larger surplus.
void make_room_for_jemalloc(char** argv) {
  if (dlopen("libjemalloc.so.2", RTLD_NOW | RTLD_LOCAL)) return;  // kept open for load()
  const char* error = dlerror();
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if (!error || !std::strstr(error, "static TLS") ||
      (tunables && std::strstr(tunables, "optional_static_tls")))
    return;  // another reason, or the restart already happened: load() says why
  std::string value = tunables && *tunables ? std::string(tunables) + ":" : std::string();
  value += "glibc.rtld.optional_static_tls=65536";
  setenv("GLIBC_TUNABLES", value.c_str(), 1);
  execv("/proc/self/exe", argv);  // returns only when it failed: go on without jemalloc
}

std::unique_ptr<Impl> make_malloc(std::string_view name) {
  for (const MallocLib& lib : kLibs)
    if (name == lib.impl) return load(lib);
  return nullptr;
}

std::unique_ptr<Impl> make_mmap() {
  std::printf("# %-12s mmap + munmap of one %zu-byte page per op (two syscalls)\n", "mmap",
              kBufSize);
  return std::make_unique<ImplOf<CallAdapter>>("mmap", "mmap", Calls{mmap_page, munmap_page, true});
}

}  // namespace ppool_bench
