// The CUDA driver API calls ppool-h2d makes itself: streams, device memory,
// asynchronous copies, host functions, and the per-copy host registration
// its baselines measure. An application staging to a GPU drives the GPU
// with the CUDA API of its own choosing and hands ppool only the DMA device
// (ppool/cuda_device.h); so does this program, which therefore loads what it
// needs from libcuda.so.1 here rather than reaching into ppool's own loader.
// Loaded at run time, like ppool's: a binary linked to libcuda would not
// start on a machine without the NVIDIA driver, where ppool-h2d says why it
// measures nothing instead. The names and types are the driver API's
// (cuda.h), declared here so that the build needs no toolkit header.
#pragma once

#include <cstddef>
#include <string>

namespace h2d {

using CUresult = int;
using CUdeviceptr = unsigned long long;
using CUstream = struct CUstream_st*;
using CUhostFn = void (*)(void* user_data);
inline constexpr CUresult kCudaSuccess = 0;
inline constexpr unsigned kCuStreamNonBlocking = 0x1;  // no sync with stream 0

// The entry points; each needs the device's context current on the calling
// thread (CudaDmaDevice::make_current()).
struct CudaApi {
  CUresult (*stream_create)(CUstream*, unsigned) = nullptr;
  CUresult (*stream_destroy)(CUstream) = nullptr;
  CUresult (*stream_synchronize)(CUstream) = nullptr;
  CUresult (*mem_alloc)(CUdeviceptr*, std::size_t) = nullptr;
  CUresult (*mem_free)(CUdeviceptr) = nullptr;
  CUresult (*mem_host_register)(void*, std::size_t, unsigned) = nullptr;
  CUresult (*mem_host_unregister)(void*) = nullptr;
  CUresult (*memcpy_htod_async)(CUdeviceptr, const void*, std::size_t, CUstream) = nullptr;
  CUresult (*memcpy_dtoh)(void*, CUdeviceptr, std::size_t) = nullptr;
  CUresult (*launch_host_func)(CUstream, CUhostFn, void*) = nullptr;
  CUresult (*get_error_name)(CUresult, const char**) = nullptr;
  CUresult (*get_error_string)(CUresult, const char**) = nullptr;

  // "what: CUDA_ERROR_NAME (code: the driver's description)" for people.
  std::string describe(const char* what, CUresult result) const;
};

// The entry points, loaded once per process (thread-safe). Throws
// std::runtime_error naming what is missing; reached only once
// ppool::CudaDmaDevice::create() found the driver, so that is a driver older
// than CUDA 11.0. Thread context: any thread.
const CudaApi& cuda_api();

}  // namespace h2d
