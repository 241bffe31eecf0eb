// Names of DMA directions, spelled as the kernel's enum dma_data_direction so
// that reports read the same as a kernel log.
#include "ppool/dma.h"

namespace ppool {

const char* to_string(DmaDirection dir) {
  switch (dir) {
    case DmaDirection::kBidirectional:
      return "BIDIRECTIONAL";
    case DmaDirection::kToDevice:
      return "TO_DEVICE";
    case DmaDirection::kFromDevice:
      return "FROM_DEVICE";
    case DmaDirection::kNone:
      return "NONE";
  }
  // A value cast from a corrupted byte: name it rather than crash.
  return "INVALID";
}

}  // namespace ppool
