/* ppool_io_uring.h - the C API of ppool's io_uring DMA device (the C face
 * of <ppool/io_uring_device.h>): a pool's pages registered as io_uring
 * fixed buffers, the DMA address of a page being its slot in the
 * fixed-buffer table (the buf_index of io_uring_prep_read_fixed() and the
 * like).
 *
 * In the optional library libppool_io_uring, built where liburing is: link
 * with -lppool_io_uring -lppool (pkg-config ppool-c-io_uring, or CMake's
 * ppool::io_uring). This header includes <ppool.h> and names liburing's
 * struct io_uring without including liburing.h: the caller includes it to
 * make its rings.
 *
 * Mapping a page registers it in a free slot of every ring (one
 * io_uring_register call per ring per run of contiguous slots: a pool's
 * refill of 64 fresh slots is one call per ring); unmapping clears the slot.
 * An unmap that names no slot mapped now is refused and reported as a
 * misuse (the log hook; ppool_misuse_count()). Errors follow <ppool.h>: a
 * negative errno from setup calls with the C++ side's message in
 * ppool_last_error(); counts on the hot paths. */
#ifndef PPOOL_IO_URING_H
#define PPOOL_IO_URING_H

#include "ppool.h"

#ifdef __cplusplus
extern "C" {
#endif

struct io_uring; /* liburing's */

/* A device over nrings rings, registering a sparse table of slots buffers
 * in each (a page is registered at the same slot in every ring, so a page
 * redirected to another queue is sent from that queue's ring with the same
 * index). Use it as a pool's ppool_pool_params.dev with PPOOL_F_DMA_MAP; a
 * page's ppool_get_dma_addr() is then its slot. The rings must outlive the
 * device and hold no fixed-buffer table yet. Thread context: any thread.
 * @return 0 and *out, or nothing registered (tables registered before a
 *   refusal are unregistered) and:
 *   -EINVAL: rings or out NULL, no ring, 0 slots, a NULL ring;
 *   -EOPNOTSUPP: io_uring refused, with the kernel's reason (an old
 *     kernel, seccomp, RLIMIT_MEMLOCK, a ring that already has a table). */
int ppool_io_uring_device_create(struct io_uring* const* rings, size_t nrings, unsigned slots,
                                 struct ppool_dma_device** out);
/* Unregisters the tables and frees the device. Thread context: any thread,
 * once no pool maps through it (destroyed pools freed: ppool_pool_destroy()
 * returned 0). NULL: nothing. */
void ppool_io_uring_device_destroy(struct ppool_dma_device* dev);
/* The table's size. Thread context: any thread. */
unsigned ppool_io_uring_device_slots(const struct ppool_dma_device* dev);
/* Slots mapped now (and those a map or unmap in progress holds). Thread
 * context: any thread. */
unsigned ppool_io_uring_device_slots_in_use(const struct ppool_dma_device* dev);
/* io_uring_register calls made so far, every ring counted: what mapping
 * has cost in syscalls. Thread context: any thread. */
uint64_t ppool_io_uring_device_register_calls(const struct ppool_dma_device* dev);

#ifdef __cplusplus
}
#endif

#endif /* PPOOL_IO_URING_H */
