#include "cuda_api.h"

#include <dlfcn.h>

#include <stdexcept>

namespace h2d {
namespace {

// Sets *slot to libcuda's symbol; a missing one is an error that names it.
// dlsym returns an object pointer; POSIX guarantees it converts to a
// function pointer.
template <class Fn>
void resolve(void* library, const char* symbol, Fn* slot) {
  void* entry = dlsym(library, symbol);
  if (!entry)
    throw std::runtime_error(std::string("libcuda.so.1 lacks ") + symbol +
                             ": the NVIDIA driver is older than ppool-h2d needs (CUDA 11.0)");
  *slot = reinterpret_cast<Fn>(entry);
}

CudaApi load() {
  // The same library ppool's device loaded (dlopen counts references); never
  // closed, as the device's handle is not.
  void* library = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!library) throw std::runtime_error("no NVIDIA driver (libcuda.so.1) on this machine");
  // The _v2 names are the ones cuda.h's macros select.
  CudaApi api;
  resolve(library, "cuStreamCreate", &api.stream_create);
  resolve(library, "cuStreamDestroy_v2", &api.stream_destroy);
  resolve(library, "cuStreamSynchronize", &api.stream_synchronize);
  resolve(library, "cuMemAlloc_v2", &api.mem_alloc);
  resolve(library, "cuMemFree_v2", &api.mem_free);
  resolve(library, "cuMemHostRegister_v2", &api.mem_host_register);
  resolve(library, "cuMemHostUnregister", &api.mem_host_unregister);
  resolve(library, "cuMemcpyHtoDAsync_v2", &api.memcpy_htod_async);
  resolve(library, "cuMemcpyDtoH_v2", &api.memcpy_dtoh);
  resolve(library, "cuLaunchHostFunc", &api.launch_host_func);
  resolve(library, "cuGetErrorName", &api.get_error_name);
  resolve(library, "cuGetErrorString", &api.get_error_string);
  return api;
}

}  // namespace

std::string CudaApi::describe(const char* what, CUresult result) const {
  const char* name = nullptr;
  const char* text = nullptr;
  if (get_error_name(result, &name) != kCudaSuccess || !name) name = "unknown CUDA error";
  if (get_error_string(result, &text) != kCudaSuccess || !text) text = "no description";
  return std::string(what) + ": " + name + " (" + std::to_string(result) + ": " + text + ")";
}

const CudaApi& cuda_api() {
  static const CudaApi api = load();  // a thread-safe static, then read-only
  return api;
}

}  // namespace h2d
