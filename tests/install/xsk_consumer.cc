// Builds against an installed ppool::xsk: a UMEM made and registered (root,
// AF_XDP), or, where AF_XDP is refused, the refusal's message.
#include <cstdio>

#include <ppool/xsk.h>

int main() {
  ppool::XskUmemParams params;
  params.frames = 256;
  auto umem = ppool::XskUmem::create(params);
  if (!umem) {
    std::printf("xsk consumer: linked fine; no UMEM here: %s\n", umem.error().message.c_str());
    return 0;
  }
  std::printf("xsk consumer: UMEM of %u frames registered (fd %d)\n", umem.value()->frames(),
              umem.value()->fd());
  return umem.value()->frames() >= 256 ? 0 : 1;  // rounded up to whole 4 MiB chunks
}
