// The CUDA DMA device: pool pages registered with the driver.
#include "ppool/cuda_device.h"

#include <cinttypes>

#include "dma/cuda_driver.h"

namespace ppool {
namespace {

using detail::CUcontext;
using detail::CUresult;
using detail::kCudaSuccess;

Error cuda_error(const detail::CudaDriver& driver, const char* what, CUresult result) {
  return Error{Errc::kUnsupported, "CUDA device: " + driver.describe(what, result)};
}

// Portable: every context may use the page (a pool may serve streams of
// another context); device-map: the page has a GPU address, the DMA address.
constexpr unsigned kRegisterFlags =
    detail::kCuMemHostRegisterPortable | detail::kCuMemHostRegisterDeviceMap;

// Map and unmap run on pools' slow paths, which retry on every allocation: a
// failure that repeats says so at most 10 times a second per site and counts
// the rest (reported with the next message, or when a device is destroyed).
constinit LogRateLimit g_context_failed("CUDA device: cuCtxSetCurrent failed");
constinit LogRateLimit g_map_refused("CUDA device: map refused");
constinit LogRateLimit g_unmap_failed("CUDA device: unmap failed");

}  // namespace

Result<std::unique_ptr<CudaDmaDevice>> CudaDmaDevice::create(int ordinal) {
  Result<const detail::CudaDriver*> loaded = detail::cuda_driver();
  if (!loaded) return loaded.error();
  const detail::CudaDriver& driver = *loaded.value();
  int count = 0;
  if (CUresult r = driver.device_get_count(&count); r != kCudaSuccess)
    return cuda_error(driver, "cuDeviceGetCount", r);
  if (count == 0) return Error{Errc::kUnsupported, "CUDA device: the driver sees no GPU"};
  if (ordinal < 0 || ordinal >= count)
    return Error{Errc::kInvalidArgument,
                 detail::format("CUDA device: ordinal %d out of range (%d GPUs)", ordinal, count)};
  detail::CUdevice device = 0;
  if (CUresult r = driver.device_get(&device, ordinal); r != kCudaSuccess)
    return cuda_error(driver, "cuDeviceGet", r);
  CUcontext context = nullptr;
  if (CUresult r = driver.primary_ctx_retain(&context, device); r != kCudaSuccess)
    return cuda_error(driver, "cuDevicePrimaryCtxRetain", r);
  return std::unique_ptr<CudaDmaDevice>(new CudaDmaDevice(driver, ordinal, device, context));
}

CudaDmaDevice::CudaDmaDevice(const detail::CudaDriver& driver, int ordinal, int device,
                             void* context)
    : driver_(driver), ordinal_(ordinal), device_(device), context_(context) {
  char name[256] = {};
  if (driver_.device_get_name(name, sizeof name - 1, device_) == kCudaSuccess) gpu_name_ = name;
  driver_.driver_get_version(&driver_version_);
}

CudaDmaDevice::~CudaDmaDevice() {
  std::lock_guard guard(lock_);
  if (!host_of_.empty()) {
    log(LogLevel::kError, detail::format("CUDA device: %zu pages still registered at the "
                                         "device's end (unregistered now)",
                                         host_of_.size()));
    // Its failure is logged; the unregistrations are tried anyway, and the
    // context is released below whatever they answer.
    (void)enter_context();
    for (auto& [dma, host] : host_of_) driver_.mem_host_unregister(host);
  }
  driver_.primary_ctx_release(device_);
  g_context_failed.flush(LogLevel::kError);
  g_map_refused.flush();
  g_unmap_failed.flush(LogLevel::kError);
}

Result<void> CudaDmaDevice::make_current() const {
  // A thread-local store in the driver: cheap next to a registration, and
  // pools map and unmap from their own threads.
  CUresult r = driver_.ctx_set_current(static_cast<CUcontext>(context_));
  if (r == kCudaSuccess) return {};
  return cuda_error(driver_, "cuCtxSetCurrent", r);
}

// map and unmap cannot return an Error (their callers are pools' slow paths,
// which count a refused map): they log it, rate-limited.
bool CudaDmaDevice::enter_context() const {
  Result<void> entered = make_current();
  if (!entered && g_context_failed.allow(LogLevel::kError))
    log(LogLevel::kError, entered.error().message);
  return entered.ok();
}

DmaAddr CudaDmaDevice::map(void* addr, std::size_t len, DmaDirection, std::string_view caller) {
  auto refuse = [&](const char* what, CUresult r) {
    if (!g_map_refused.allow(LogLevel::kWarning)) return kDmaMappingError;
    log(LogLevel::kWarning, detail::format("CUDA device: map of %p (%zu bytes) for %.*s: %s", addr,
                                           len, static_cast<int>(caller.size()), caller.data(),
                                           driver_.describe(what, r).c_str()));
    return kDmaMappingError;
  };
  if (!enter_context()) return kDmaMappingError;
  if (CUresult r = driver_.mem_host_register(addr, len, kRegisterFlags); r != kCudaSuccess)
    return refuse("cuMemHostRegister", r);
  detail::CUdeviceptr device_addr = 0;
  if (CUresult r = driver_.mem_host_get_device_pointer(&device_addr, addr, 0); r != kCudaSuccess) {
    driver_.mem_host_unregister(addr);
    return refuse("cuMemHostGetDevicePointer", r);
  }
  std::lock_guard guard(lock_);
  host_of_.emplace(device_addr, addr);
  return device_addr;
}

void CudaDmaDevice::unmap(DmaAddr addr, std::size_t, DmaDirection, std::string_view caller) {
  void* host = nullptr;
  {
    std::lock_guard guard(lock_);
    auto it = host_of_.find(addr);
    if (it != host_of_.end()) {
      host = it->second;
      host_of_.erase(it);
    }
  }
  if (!host) {
    if (!g_unmap_failed.allow(LogLevel::kError)) return;
    log(LogLevel::kError,
        detail::format("CUDA device: unmap of 0x%" PRIx64 " for %.*s: not a mapping of this device",
                       addr, static_cast<int>(caller.size()), caller.data()));
    return;
  }
  if (!enter_context()) return;
  if (CUresult r = driver_.mem_host_unregister(host);
      r != kCudaSuccess && g_unmap_failed.allow(LogLevel::kError))
    log(LogLevel::kError, detail::format("CUDA device: unmap of %p for %.*s: %s", host,
                                         static_cast<int>(caller.size()), caller.data(),
                                         driver_.describe("cuMemHostUnregister", r).c_str()));
}

std::size_t CudaDmaDevice::live_mappings() const {
  std::lock_guard guard(lock_);
  return host_of_.size();
}

}  // namespace ppool
