// The CUDA driver loader (see cuda_driver.h).
#include "dma/cuda_driver.h"

#include <dlfcn.h>

namespace ppool::detail {
namespace {

constexpr const char* kLibrary = "libcuda.so.1";

Error unsupported(std::string message) {
  return Error{Errc::kUnsupported, "CUDA: " + std::move(message)};
}

// Resolves every entry point; the first one missing is named.
Result<const CudaDriver*> resolve(void* library, CudaDriver* driver) {
  // dlsym returns an object pointer; POSIX guarantees it converts to a
  // function pointer, which reinterpret_cast expresses without a warning.
#define PPOOL_CUDA_RESOLVE(member, symbol, ...)                           \
  driver->member = reinterpret_cast<__VA_ARGS__>(dlsym(library, symbol)); \
  if (!driver->member)                                                    \
    return unsupported(std::string(kLibrary) + " lacks " + symbol +       \
                       ": the NVIDIA driver is older than this build needs (CUDA 11.0)");
  PPOOL_CUDA_DRIVER_FUNCTIONS(PPOOL_CUDA_RESOLVE)
#undef PPOOL_CUDA_RESOLVE
  return driver;
}

Result<const CudaDriver*> load() {
  // RTLD_LOCAL keeps the driver's symbols out of the global namespace; the
  // handle is never closed: unloading libcuda under live contexts is unsafe.
  void* library = dlopen(kLibrary, RTLD_NOW | RTLD_LOCAL);
  if (!library) {
    const char* why = dlerror();
    return unsupported(std::string("no NVIDIA driver (") + kLibrary + ") on this machine (" +
                       (why ? why : "not found") + ")");
  }
  static CudaDriver driver;
  Result<const CudaDriver*> resolved = resolve(library, &driver);
  if (!resolved) return resolved;
  if (CUresult r = driver.init(0); r != kCudaSuccess)
    return unsupported(driver.describe("cuInit", r));
  return resolved;
}

}  // namespace

std::string CudaDriver::describe(const char* what, CUresult result) const {
  const char* name = nullptr;
  const char* text = nullptr;
  if (get_error_name(result, &name) != kCudaSuccess || !name) name = "unknown CUDA error";
  if (get_error_string(result, &text) != kCudaSuccess || !text) text = "no description";
  return format("%s: %s (%d: %s)", what, name, result, text);
}

Result<const CudaDriver*> cuda_driver() {
  // Loaded once: a thread-safe static, then read-only.
  static const Result<const CudaDriver*> driver = load();
  return driver;
}

}  // namespace ppool::detail
