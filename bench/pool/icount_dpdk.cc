// DPDK's mempool in the same loop shapes as icount_page_pool, so callgrind
// counts both with the same yardstick (scripts/icount.sh runs it when built):
//   fast: rte_mempool_get + rte_mempool_put with a per-lcore cache (256)
//   ring: the same on a mempool without cache (every op goes to the ring)
#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_mempool.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>

namespace {

__attribute__((noinline)) void icount_dpdk_path(rte_mempool* mp, long iters) {
  for (long i = 0; i < iters; ++i) {
    void* obj = nullptr;
    if (rte_mempool_get(mp, &obj) != 0) std::abort();
    asm volatile("" : : "r"(obj) : "memory");
    rte_mempool_put(mp, obj);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 || (std::strcmp(argv[1], "fast") && std::strcmp(argv[1], "ring"))) {
    std::fprintf(stderr, "usage: %s fast|ring ITERATIONS\n", argv[0]);
    return 2;
  }
  const char* eal[] = {"icount_dpdk",       "--no-huge", "--no-pci", "--no-shconf",
                       "--log-level=error", "-m",        "64"};
  if (rte_eal_init(static_cast<int>(std::size(eal)), const_cast<char**>(eal)) < 0) {
    std::fprintf(stderr, "icount_dpdk: EAL did not start\n");
    return 1;
  }
  const unsigned cache = argv[1][0] == 'f' ? 256 : 0;
  rte_mempool* mp = rte_mempool_create("icount", 2047, 4096, cache, 0, nullptr, nullptr, nullptr,
                                       nullptr, SOCKET_ID_ANY, 0);
  if (!mp) {
    std::fprintf(stderr, "icount_dpdk: mempool not created\n");
    return 1;
  }
  icount_dpdk_path(mp, 1000);  // warm the cache
  icount_dpdk_path(mp, std::atol(argv[2]));
  rte_mempool_free(mp);
  rte_eal_cleanup();
  return 0;
}
