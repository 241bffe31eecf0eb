// ppool/cuda_device.h - a DMA device over a GPU's copy engines (layer dma;
// library ppool::cuda, built when the CUDA toolkit is found at configure
// time, with no link-time dependency on CUDA).
//
// Mapping a page registers it with the CUDA driver (cuMemHostRegister): the
// driver pins it and maps it into the GPU's address space, which costs about
// 170 us for 2 MiB on an H100, paid once on a pool's slow path and never
// again while the page cycles. A copy from registered memory runs at the
// copy engines' full speed; from ordinary (pageable) memory the driver
// copies through its own staging buffers at a fraction of it. The DMA address
// is the device-visible address of the page (cuMemHostGetDevicePointer).
// Unmap unregisters; sync is a no-op (pinned host memory is coherent with
// the copy engines).
//
// The driver (libcuda.so.1) is loaded at run time: on a machine without the
// NVIDIA driver or without a GPU, create() returns an Error saying so and
// nothing else changes.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "ppool/dma.h"

namespace ppool {
namespace detail {
struct CudaDriver;
}

class CudaDmaDevice final : public CoherentDmaDevice {
 public:
  // Loads the driver and retains GPU `ordinal`'s primary context (the one
  // the CUDA runtime uses too, so pages mapped here serve runtime streams).
  // Thread context: any thread.
  // @return the device, or an Error; nothing is retained then:
  //   - kUnsupported: no driver ("no NVIDIA driver (libcuda.so.1) on this
  //     machine"), no GPU, or the driver's own reason;
  //   - kInvalidArgument: an ordinal out of range (the message says how
  //     many GPUs there are).
  [[nodiscard]] static Result<std::unique_ptr<CudaDmaDevice>> create(int ordinal = 0);
  // Unregisters pages still mapped (reported: a pool should have unmapped
  // them at destroy) and releases the context. Thread context: any thread,
  // once no other thread uses the device.
  ~CudaDmaDevice() override;
  CudaDmaDevice(const CudaDmaDevice&) = delete;
  CudaDmaDevice& operator=(const CudaDmaDevice&) = delete;

  std::string_view name() const override { return "cuda"; }
  // Registers [addr, +len) for the GPU. Thread context: any thread (the
  // device's context is made current on it).
  // @return the page's device address, or kDmaMappingError when the driver
  //   refuses (logged with its reason and the caller, rate-limited); nothing
  //   is registered then.
  DmaAddr map(void* addr, std::size_t len, DmaDirection dir, std::string_view caller) override;
  // Unregisters a mapping made by map(). Cannot fail; an unknown address,
  // or the driver's refusal, is logged. Thread context: any thread.
  void unmap(DmaAddr addr, std::size_t len, DmaDirection dir, std::string_view caller) override;
  // map_bulk/unmap_bulk are DmaDevice's loops: the driver registers one
  // range per call, and a bulk would share only cuCtxSetCurrent (a
  // thread-local store). Syncs are no-ops (CoherentDmaDevice).

  // Makes the device's context current on the calling thread, as a thread
  // that issues copies must. Thread context: any thread.
  // @return success, or an Error: kUnsupported with the driver's reason
  //   (cuCtxSetCurrent).
  [[nodiscard]] Result<void> make_current() const;
  // The CUcontext, for code that drives the GPU itself.
  void* context() const { return context_; }
  int ordinal() const { return ordinal_; }
  // The GPU's name ("NVIDIA H100 80GB HBM3") and the driver's CUDA version
  // (12080 for 12.8).
  const std::string& gpu_name() const { return gpu_name_; }
  int driver_version() const { return driver_version_; }
  // Pages registered now. Thread context: any thread.
  std::size_t live_mappings() const;

 private:
  CudaDmaDevice(const detail::CudaDriver& driver, int ordinal, int device, void* context);
  // make_current() for map and unmap: false when it failed, logged
  // (rate-limited).
  bool enter_context() const;

  const detail::CudaDriver& driver_;
  int ordinal_;
  int device_;  // the CUdevice
  void* context_;
  std::string gpu_name_;
  int driver_version_ = 0;
  // Device address -> host address of each registration: unmap is given the
  // device address, unregistration needs the host one (they coincide under
  // unified addressing, which this does not assume). Slow path only.
  mutable std::mutex lock_;
  std::unordered_map<DmaAddr, void*> host_of_;
};

}  // namespace ppool
