// The C API of the io_uring DMA device (include/ppool_io_uring.h). Built
// into libppool_io_uring, not libppool: the core needs no liburing. A
// handle is the IoUringDmaDevice as a DmaDevice, as a debug device's is.
#include <memory>
#include <span>

#include "capi/capi.h"
#include "ppool/io_uring_device.h"
#include "ppool_io_uring.h"

using namespace ppool::capi;

namespace {
// The C handles of io_uring devices are DmaDevice pointers of
// IoUringDmaDevice objects (ppool_io_uring_device_create made them).
const ppool::IoUringDmaDevice* io_uring_device(const ppool_dma_device* dev) {
  return static_cast<const ppool::IoUringDmaDevice*>(
      reinterpret_cast<const ppool::DmaDevice*>(dev));
}
}  // namespace

extern "C" int ppool_io_uring_device_create(io_uring* const* rings, size_t nrings, unsigned slots,
                                            ppool_dma_device** out) {
  if (!out) return fail(ppool::Errc::kInvalidArgument, "ppool_io_uring_device_create: out is NULL");
  if (!rings && nrings != 0)
    return fail(ppool::Errc::kInvalidArgument, "ppool_io_uring_device_create: rings is NULL");
  for (size_t i = 0; i < nrings; ++i)
    if (!rings[i])
      return fail(ppool::Errc::kInvalidArgument,
                  "ppool_io_uring_device_create: a ring of rings[] is NULL");
  auto created = ppool::IoUringDmaDevice::create(std::span<io_uring* const>(rings, nrings), slots);
  if (!created) return fail(created.error());
  *out = c(static_cast<ppool::DmaDevice*>(created.value().release()));
  return 0;
}

extern "C" void ppool_io_uring_device_destroy(ppool_dma_device* dev) {
  if (dev) delete io_uring_device(dev);
}

extern "C" unsigned ppool_io_uring_device_slots(const ppool_dma_device* dev) {
  return io_uring_device(dev)->slots();
}

extern "C" unsigned ppool_io_uring_device_slots_in_use(const ppool_dma_device* dev) {
  return io_uring_device(dev)->slots_in_use();
}

extern "C" uint64_t ppool_io_uring_device_register_calls(const ppool_dma_device* dev) {
  return io_uring_device(dev)->register_calls();
}
