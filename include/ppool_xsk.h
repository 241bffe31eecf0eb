/* ppool_xsk.h - the C API of ppool's AF_XDP support (the C face of
 * <ppool/xsk.h> and <ppool/xsk_redirect.h>): a UMEM that is a ppool shared
 * region, its AF_XDP sockets (one per netdev queue, each with its own page
 * pool on the UMEM), and the small XDP program that redirects every frame
 * to its queue's socket.
 *
 * In the optional library libppool_xsk, built where libxdp and libbpf are:
 * link with -lppool_xsk -lppool (pkg-config ppool-c-xsk, or CMake's
 * ppool::xsk). This header includes <ppool.h> and no libxdp header.
 *
 * The rings carry UMEM addresses (a frame's offset in the region); this API
 * hands frames over as descriptors (struct ppool_xsk_desc: the page, where
 * the packet starts in it, its length). Every socket of a UMEM shares it
 * (XDP_SHARED_UMEM), so a frame received on one queue is transmitted on
 * another with no copy. The UMEM keeps a ledger of where each frame is
 * (home, with the application, in a fill or RX ring, in a TX or completion
 * ring): a frame the application does not hold is refused by transmit and
 * recycle (reported as a misuse, counted), and closing a socket reclaims
 * what the kernel held for it.
 *
 * Errors follow <ppool.h>: setup calls return 0 or a negative errno (-EINVAL:
 * a parameter, no such interface or queue, a queue already bound; -ENOMEM:
 * memory that cannot be locked or pinned, too many sockets; -EOPNOTSUPP: no
 * AF_XDP, no permission (CAP_NET_RAW, CAP_NET_ADMIN), zero-copy where the
 * driver has none) with the C++ side's message in ppool_last_error(); the
 * ring operations are the per-packet path and return counts, what they could
 * not do counted in ppool_xsk_queue_get_stats(). */
#ifndef PPOOL_XSK_H
#define PPOOL_XSK_H

#include "ppool.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ppool_xsk_umem;
struct ppool_xsk_queue;
struct ppool_xsk_redirect;

enum {
  PPOOL_XSK_FRAME_SIZE = 4096,    /* one page per frame */
  PPOOL_XSK_PACKET_HEADROOM = 256 /* XDP_PACKET_HEADROOM, before a received packet */
};

enum ppool_xsk_bind_mode {
  PPOOL_XSK_BIND_AUTO,    /* zero-copy when the driver can, else copy */
  PPOOL_XSK_BIND_COPY,    /* XDP_COPY */
  PPOOL_XSK_BIND_ZEROCOPY /* XDP_ZEROCOPY (fails where the driver cannot) */
};

/* ---- the UMEM ---- */

struct ppool_xsk_umem_params {
  uint32_t frames;         /* frames wanted; rounded up to whole 4 MiB chunks */
  uint32_t frame_size;     /* only PPOOL_XSK_FRAME_SIZE */
  uint32_t frame_headroom; /* bytes before each frame's XDP_PACKET_HEADROOM */
  bool hugetlb;            /* 2 MiB hugetlb pages when free, else 4 KiB (logged) */
  bool lock;               /* commit and mlock the whole region up front */
  uint32_t fill_size;      /* the first socket's fill ring, a power of two */
  uint32_t comp_size;      /* and its completion ring */
};
/* Where the UMEM's frames are (each field exact when it was read). */
struct ppool_xsk_frame_counts {
  uint32_t frames;    /* in the UMEM */
  uint32_t home;      /* free in the allocator or home in a pool */
  uint32_t app;       /* with the application (received or allocated) */
  uint32_t fill;      /* in a fill ring, or received by the kernel and not yet by us */
  uint32_t tx;        /* in a TX ring, or sent and not yet completed */
  uint64_t committed; /* frames the allocator committed */
};

/* The defaults of the C++ XskUmemParams: 4096 frames, hugetlb, locked,
 * fill and completion rings of 2048. Thread context: any thread. */
void ppool_xsk_umem_params_init(struct ppool_xsk_umem_params* params);
/* Creates the shared region and registers it as a UMEM. Thread context: any
 * thread.
 * @return 0 and *out, or nothing left (region unmapped, registration
 *   undone) and -EINVAL (a field of params, named), -ENOMEM (the region
 *   cannot be locked or pinned: RLIMIT_MEMLOCK), -EOPNOTSUPP (no AF_XDP or
 *   no permission). */
int ppool_xsk_umem_create(const struct ppool_xsk_umem_params* params, struct ppool_xsk_umem** out);
/* Deletes the registration, reclaims the frames the kernel still held for
 * the first socket, waits for the queues' pools destroyed with frames out
 * to be freed, and frees the region. Queues still open, or frames the
 * application never gave back, are a reported misuse (the region is leaked
 * rather than freed under the kernel). Thread context: any thread, once
 * every queue of it is destroyed. NULL: nothing. */
void ppool_xsk_umem_destroy(struct ppool_xsk_umem* umem);
/* The UMEM's shared-region allocator (for a pool of the application's own
 * on the UMEM: ppool_pool_params.allocator) and its DMA device (the DMA
 * address of a page is its UMEM address); both belong to the UMEM. Thread
 * context: any thread. */
struct ppool_allocator* ppool_xsk_umem_allocator(struct ppool_xsk_umem* umem);
struct ppool_dma_device* ppool_xsk_umem_device(struct ppool_xsk_umem* umem);
/* Frames the UMEM really has; whether the region is 2 MiB hugetlb pages;
 * the registration's file descriptor. Thread context: any thread. */
uint32_t ppool_xsk_umem_frames(const struct ppool_xsk_umem* umem);
bool ppool_xsk_umem_hugetlb(const struct ppool_xsk_umem* umem);
int ppool_xsk_umem_fd(const struct ppool_xsk_umem* umem);
/* A page's UMEM address (its offset in the region); the allocated page of
 * the frame holding addr, NULL when none. Thread context: any thread. */
uint64_t ppool_xsk_umem_addr_of(const struct ppool_xsk_umem* umem, const struct ppool_page* page);
struct ppool_page* ppool_xsk_umem_page_at(const struct ppool_xsk_umem* umem, uint64_t addr);
/* Where the frames are: O(frames), for reports and tests. Thread context:
 * any thread. */
void ppool_xsk_umem_counts(const struct ppool_xsk_umem* umem,
                           struct ppool_xsk_frame_counts* counts);
/* Sockets open on the UMEM now. Thread context: any thread. */
unsigned ppool_xsk_umem_open_queues(const struct ppool_xsk_umem* umem);

/* ---- queues: one AF_XDP socket on one netdev queue, and its pool ---- */

struct ppool_xsk_queue_params {
  const char* ifname; /* the interface (copied) */
  uint32_t queue_id;
  uint32_t rx_size; /* ring sizes, powers of two */
  uint32_t tx_size;
  enum ppool_xsk_bind_mode mode;
  bool need_wakeup;      /* XDP_USE_NEED_WAKEUP: kick only when the kernel asks */
  bool load_program;     /* let libxdp load its own XDP program (needs BTF) */
  const char* pool_name; /* the queue's pool's name (copied); NULL: "xsk" */
  unsigned pool_size;    /* the pool's ring */
  uint32_t max_inflight; /* the pool's limit; 0: none */
};
/* A frame: the page, where the packet starts in it, its length. */
struct ppool_xsk_desc {
  struct ppool_page* page;
  uint32_t offset;
  uint32_t len;
};
struct ppool_xsk_queue_stats {
  uint64_t fill_posted; /* frames posted to the fill ring */
  uint64_t rx;          /* descriptors received */
  uint64_t tx;          /* descriptors posted to the TX ring */
  uint64_t tx_kicks;    /* sendto() calls to wake the kernel's TX */
  uint64_t completed;   /* frames taken off the completion ring */
  uint64_t tx_refused;  /* descriptors refused by transmit */
  uint64_t rejected;    /* RX or completion entries naming no frame this socket posted */
  uint64_t alloc_short; /* refills the pool could not fully supply */
};
/* Entries on the socket's four rings now. */
struct ppool_xsk_ring_counts {
  uint32_t fill, rx, tx, completion;
};

/* The defaults of the C++ XskQueueParams (ifname NULL: set it): queue 0,
 * rings of 2048, auto mode, need_wakeup, no program, pool "xsk" of 1024,
 * no limit. Thread context: any thread. */
void ppool_xsk_queue_params_init(struct ppool_xsk_queue_params* params);
/* Opens the socket on (ifname, queue_id) over the UMEM (the first queue
 * uses the UMEM's fill and completion rings, later ones their own) and
 * creates its pool (the UMEM's allocator and device, DMA-mapping), bound to
 * the calling thread, which becomes the queue's owner. Thread context: any
 * thread.
 * @return 0 and *out, or nothing left open and -EINVAL (a NULL argument, a
 *   field of params, no such interface or queue, another socket bound
 *   there, the queue opened twice on the UMEM), -EOPNOTSUPP (no
 *   permission, zero-copy or AF_XDP unsupported), -ENOMEM (too many sockets
 *   on one UMEM), or ppool_pool_create()'s errors. */
int ppool_xsk_queue_create(struct ppool_xsk_umem* umem, const struct ppool_xsk_queue_params* params,
                           struct ppool_xsk_queue** out);
/* Closes the socket, reclaims every frame the kernel held for it (for the
 * UMEM's first socket, at the UMEM's destroy instead) and destroys the
 * pool. Idempotent. Thread context: owner.
 * @return the pool's pages still in flight (with the application, or in
 *   another socket's TX ring): the pool is freed when they come back. */
uint32_t ppool_xsk_queue_close(struct ppool_xsk_queue* queue);
/* Closes (if not yet) and frees the queue. Thread context: owner. NULL: nothing. */
void ppool_xsk_queue_destroy(struct ppool_xsk_queue* queue);
/* Makes the calling thread the owner (the previous one stopped using it).
 * Thread context: the new owner. */
void ppool_xsk_queue_bind_owner(struct ppool_xsk_queue* queue);

/* Posts up to n fresh frames from the pool to the fill ring. Thread
 * context: owner. @return how many (a pool short of pages counted in
 * alloc_short and the pool's alloc failures). */
size_t ppool_xsk_refill(struct ppool_xsk_queue* queue, size_t n);
/* Takes up to max descriptors off the RX ring into out[]: the frames are
 * the application's (transmit or recycle them). Thread context: owner.
 * @return how many; an entry naming no frame this socket posted is skipped
 *   and counted in rejected. */
size_t ppool_xsk_receive(struct ppool_xsk_queue* queue, struct ppool_xsk_desc* out, size_t max);
/* Posts descs[0, n) to the TX ring (frames of any queue of the same UMEM:
 * no copy) and kicks the kernel when it asks. A frame the application does
 * not hold, a page not of the UMEM or a length past the frame is refused
 * (a reported misuse, counted in tx_refused) and stops the batch. Thread
 * context: owner.
 * @return how many were taken, a prefix of descs (the ring was full, or the
 *   next was refused); the rest stay the caller's. */
size_t ppool_xsk_transmit(struct ppool_xsk_queue* queue, const struct ppool_xsk_desc* descs,
                          size_t n);
/* Wakes the kernel's TX whether or not it asked. Thread context: owner. */
void ppool_xsk_kick(struct ppool_xsk_queue* queue);
/* Takes up to max frames off the completion ring and sends them home to
 * their pools. Thread context: owner.
 * @return how many went home (entries naming no frame this socket sent are
 *   skipped and counted in rejected). */
size_t ppool_xsk_complete(struct ppool_xsk_queue* queue, size_t max);
/* Gives frames back unsent (a drop). A frame the application does not hold,
 * the same frame twice, a page not of the UMEM is refused (a reported
 * misuse, counted in ppool_xsk_queue_returns_refused()); the others go
 * home. Thread context: any thread holding the frames.
 * @return how many went home. */
size_t ppool_xsk_recycle(struct ppool_xsk_queue* queue, const struct ppool_xsk_desc* descs,
                         size_t n);
/* The packet's first byte. Thread context: any thread holding the frame. */
void* ppool_xsk_desc_data(const struct ppool_xsk_desc* desc);

/* The queue's pool (its stats, the registry's view), the socket (for
 * poll() and an XSKMAP; -1 once closed), whether it is bound zero-copy.
 * Thread context: any thread. */
struct ppool_pool* ppool_xsk_queue_pool(struct ppool_xsk_queue* queue);
int ppool_xsk_queue_fd(const struct ppool_xsk_queue* queue);
bool ppool_xsk_queue_zero_copy(const struct ppool_xsk_queue* queue);
/* Frames the kernel holds for the socket now, in its fill (and RX) and in
 * its TX (and completion) rings. Thread context: any thread. */
uint32_t ppool_xsk_queue_in_fill(const struct ppool_xsk_queue* queue);
uint32_t ppool_xsk_queue_in_tx(const struct ppool_xsk_queue* queue);
/* Entries on each ring now; all 0 once closed. Thread context: any thread
 * while no thread closes the queue. */
void ppool_xsk_queue_ring_counts(const struct ppool_xsk_queue* queue,
                                 struct ppool_xsk_ring_counts* counts);
/* The queue's counters. Thread context: owner, or any thread once the
 * owner stopped. */
void ppool_xsk_queue_get_stats(const struct ppool_xsk_queue* queue,
                               struct ppool_xsk_queue_stats* stats);
/* Frames recycle refused. Thread context: any thread. */
uint64_t ppool_xsk_queue_returns_refused(const struct ppool_xsk_queue* queue);

/* ---- the redirect program: every frame to its queue's socket ---- */

/* Creates an XSKMAP of queues entries and loads the program (raw BPF, no
 * BTF needed). Thread context: any thread.
 * @return 0 and *out, or nothing made and -EINVAL (queues 0 or too large),
 *   -EOPNOTSUPP (the kernel refused: no CAP_NET_ADMIN or CAP_BPF, no AF_XDP;
 *   the verifier's log in the message), -ENOMEM. */
int ppool_xsk_redirect_create(unsigned queues, struct ppool_xsk_redirect** out);
/* Attaches to ifindex in driver mode, else generic (skb) mode; generic_only
 * skips driver mode. Thread context: any thread.
 * @return 0, or nothing attached and -EINVAL (no such interface),
 *   -EOPNOTSUPP (the kernel refused: permission, another program there). */
int ppool_xsk_redirect_attach(struct ppool_xsk_redirect* redirect, int ifindex, bool generic_only);
/* Puts a socket (ppool_xsk_queue_fd()) at queue's slot of the map. Thread
 * context: any thread.
 * @return 0, or the slot unchanged and -EINVAL (queue beyond the map, not
 *   a descriptor), -EOPNOTSUPP (any other refusal: not a bound AF_XDP
 *   socket). */
int ppool_xsk_redirect_add_socket(struct ppool_xsk_redirect* redirect, unsigned queue,
                                  int socket_fd);
/* "driver", "generic", or "none" before an attach succeeded. Thread
 * context: any thread. */
const char* ppool_xsk_redirect_mode(const struct ppool_xsk_redirect* redirect);
/* Detaches, closes the program and the map, frees. Thread context: any
 * thread. NULL: nothing. */
void ppool_xsk_redirect_destroy(struct ppool_xsk_redirect* redirect);

#ifdef __cplusplus
}
#endif

#endif /* PPOOL_XSK_H */
