/* A C consumer of the installed AF_XDP library (<ppool_xsk.h>): linked
 * with libxdp and libbpf, a bad UMEM parameter refused by name (no root
 * needed). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <ppool_xsk.h>

int main(void) {
  struct ppool_xsk_umem_params params;
  struct ppool_xsk_umem* umem = NULL;
  ppool_xsk_umem_params_init(&params);
  params.frames = 0;
  if (ppool_xsk_umem_create(&params, &umem) != -EINVAL || !strstr(ppool_last_error(), "frames")) {
    fprintf(stderr, "c xsk consumer: frames 0 was not refused: %s\n", ppool_last_error());
    return 1;
  }
  printf("c xsk consumer: ok\n");
  return 0;
}
