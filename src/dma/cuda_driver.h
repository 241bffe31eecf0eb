// The CUDA driver API, loaded at run time (internal; shared by the CUDA DMA
// device, its tests and ppool-h2d, so that there is one loader, not two).
//
// libcuda.so.1 comes with the NVIDIA driver, not with the toolkit, so linking
// it would make every binary fail to start on a machine without a GPU. It is
// dlopen'd on first use instead, and the few types the calls need are
// declared here rather than taken from cuda.h: the ABI of these entry points
// (the _v2 names the header's macros select) has been stable since CUDA 4
// and 11, and the build needs no toolkit header.
#pragma once

#include <cstddef>
#include <string>
#include <type_traits>

#include "ppool/base.h"

namespace ppool::detail {

using CUresult = int;
using CUdevice = int;
using CUdeviceptr = unsigned long long;
using CUcontext = struct CUctx_st*;
using CUstream = struct CUstream_st*;
using CUhostFn = void (*)(void* user_data);

inline constexpr CUresult kCudaSuccess = 0;
inline constexpr unsigned kCuMemHostRegisterPortable = 0x01;   // every context sees it
inline constexpr unsigned kCuMemHostRegisterDeviceMap = 0x02;  // a device pointer exists
inline constexpr unsigned kCuStreamNonBlocking = 0x1;          // no sync with stream 0

// member, exported symbol, type (the rest: it has commas): one list, so the table and its loader
// cannot disagree.
#define PPOOL_CUDA_DRIVER_FUNCTIONS(X)                                                     \
  X(init, "cuInit", CUresult (*)(unsigned))                                                \
  X(driver_get_version, "cuDriverGetVersion", CUresult (*)(int*))                          \
  X(get_error_string, "cuGetErrorString", CUresult (*)(CUresult, const char**))            \
  X(get_error_name, "cuGetErrorName", CUresult (*)(CUresult, const char**))                \
  X(device_get_count, "cuDeviceGetCount", CUresult (*)(int*))                              \
  X(device_get, "cuDeviceGet", CUresult (*)(CUdevice*, int))                               \
  X(device_get_name, "cuDeviceGetName", CUresult (*)(char*, int, CUdevice))                \
  X(primary_ctx_retain, "cuDevicePrimaryCtxRetain", CUresult (*)(CUcontext*, CUdevice))    \
  X(primary_ctx_release, "cuDevicePrimaryCtxRelease_v2", CUresult (*)(CUdevice))           \
  X(ctx_set_current, "cuCtxSetCurrent", CUresult (*)(CUcontext))                           \
  X(mem_host_register, "cuMemHostRegister_v2", CUresult (*)(void*, std::size_t, unsigned)) \
  X(mem_host_unregister, "cuMemHostUnregister", CUresult (*)(void*))                       \
  X(mem_host_get_device_pointer, "cuMemHostGetDevicePointer_v2",                           \
    CUresult (*)(CUdeviceptr*, void*, unsigned))                                           \
  X(mem_alloc, "cuMemAlloc_v2", CUresult (*)(CUdeviceptr*, std::size_t))                   \
  X(mem_free, "cuMemFree_v2", CUresult (*)(CUdeviceptr))                                   \
  X(memcpy_htod, "cuMemcpyHtoD_v2", CUresult (*)(CUdeviceptr, const void*, std::size_t))   \
  X(memcpy_dtoh, "cuMemcpyDtoH_v2", CUresult (*)(void*, CUdeviceptr, std::size_t))         \
  X(memcpy_dtod, "cuMemcpyDtoD_v2", CUresult (*)(CUdeviceptr, CUdeviceptr, std::size_t))   \
  X(memcpy_htod_async, "cuMemcpyHtoDAsync_v2",                                             \
    CUresult (*)(CUdeviceptr, const void*, std::size_t, CUstream))                         \
  X(stream_create, "cuStreamCreate", CUresult (*)(CUstream*, unsigned))                    \
  X(stream_destroy, "cuStreamDestroy_v2", CUresult (*)(CUstream))                          \
  X(stream_synchronize, "cuStreamSynchronize", CUresult (*)(CUstream))                     \
  X(launch_host_func, "cuLaunchHostFunc", CUresult (*)(CUstream, CUhostFn, void*))

// The driver's entry points. Thread context: any thread, as the driver
// allows (a call needs a current context on the calling thread).
struct CudaDriver {
#define PPOOL_CUDA_MEMBER(member, symbol, ...) std::type_identity_t<__VA_ARGS__> member = nullptr;
  PPOOL_CUDA_DRIVER_FUNCTIONS(PPOOL_CUDA_MEMBER)
#undef PPOOL_CUDA_MEMBER

  // "what: CUDA_ERROR_NAME (the driver's description)" for people.
  std::string describe(const char* what, CUresult result) const;
};

// The driver, loaded and initialised (cuInit) once per process and never
// unloaded. The Error says why not: "no NVIDIA driver (libcuda.so.1) on this
// machine", a driver too old for an entry point, or cuInit's own reason (no
// GPU, a driver/kernel-module mismatch). Thread context: any thread.
Result<const CudaDriver*> cuda_driver();

}  // namespace ppool::detail
