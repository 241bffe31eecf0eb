/* napi_poll.c: examples/napi_poll.cc in C, on the C API (<ppool.h>): what a
 * C driver's NAPI poll does with its receive queue's page pool.
 *
 * The driver registers a pool for its receive queue, then polls on the
 * queue's thread: it allocates pages, lets the "device" write packets into
 * them, and decides each packet's fate:
 *   DROP - recycled straight into the pool's cache (ppool_recycle_direct);
 *   TX   - handed to a completion thread that returns the pages through the
 *          pool's ring once "transmitted", in bulk (ppool_put_page_bulk);
 *   SKB  - passed up the stack holding an extra reference, so the pool
 *          releases the page to its new holder (recycle_released_refcnt),
 *          which frees it later with ppool_put_page.
 * Then the driver unloads: the pool is destroyed. Everything runs on the
 * debug DMA device, which checks every map, sync and unmap.
 *
 *   napi_poll_c [--polls N]
 *
 * The last line on stdout is one JSON object: the pool's stats at unload,
 * the pages still in flight after destroy, and the DMA checker's live
 * mappings and errors, as napi_poll's. */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ppool.h>

enum { RX_RING_SIZE = 256, TX_RING_SIZE = 256, BUDGET = 64, HEADROOM = 256 };

/* The completion side of TX: pages arrive from the poll loop and go back to
 * their pool in bulk once "the hardware is done with them". */
struct tx_completion {
  pthread_mutex_t lock;
  pthread_cond_t cv;
  struct ppool_page* queue[TX_RING_SIZE];
  size_t count;
  int stopping;
  pthread_t thread;
};

static void* tx_run(void* arg) {
  struct tx_completion* tx = arg;
  struct ppool_page* done[TX_RING_SIZE];
  size_t n;
  pthread_mutex_lock(&tx->lock);
  for (;;) {
    while (!tx->stopping && tx->count == 0) pthread_cond_wait(&tx->cv, &tx->lock);
    if (tx->count == 0) break;
    n = tx->count;
    memcpy(done, tx->queue, n * sizeof done[0]);
    tx->count = 0;
    pthread_mutex_unlock(&tx->lock);
    ppool_put_page_bulk(done, n); /* any thread: through the ring */
    pthread_mutex_lock(&tx->lock);
  }
  pthread_mutex_unlock(&tx->lock);
  return NULL;
}

/* 0 when the TX ring is full: the driver then drops the packet. */
static int tx_submit(struct tx_completion* tx, struct ppool_page* page) {
  int queued = 0;
  pthread_mutex_lock(&tx->lock);
  if (tx->count < TX_RING_SIZE) {
    tx->queue[tx->count++] = page;
    queued = 1;
    pthread_cond_signal(&tx->cv);
  }
  pthread_mutex_unlock(&tx->lock);
  return queued;
}

static void tx_stop(struct tx_completion* tx) {
  pthread_mutex_lock(&tx->lock);
  tx->stopping = 1;
  pthread_cond_signal(&tx->cv);
  pthread_mutex_unlock(&tx->lock);
  pthread_join(tx->thread, NULL);
}

/* The device wrote a packet; the driver syncs it for the CPU and reads it. */
static uint32_t receive(struct ppool_pool* pool, struct ppool_page* page, uint64_t seq) {
  char* data = (char*)ppool_page_address(page) + HEADROOM;
  int len = snprintf(data, 128, "received packet %" PRIu64, seq);
  ppool_dma_sync_for_cpu(pool, page, HEADROOM, (uint32_t)len);
  return (uint32_t)len;
}

struct poll_args {
  struct ppool_pool* pool;
  struct tx_completion* tx;
  unsigned polls;
  struct ppool_page** skbs; /* pages up the stack, held by "sockets" */
  size_t nskbs;
  uint64_t packets;
};

/* The NAPI poller: the pool's owner thread. */
static void* napi_poll(void* arg) {
  struct poll_args* a = arg;
  uint64_t seq = 0;
  unsigned poll;
  int done;
  ppool_pool_bind_owner(a->pool);
  for (poll = 0; poll < a->polls; ++poll) {
    for (done = 0; done < BUDGET; ++done, ++seq) {
      struct ppool_page* page = ppool_alloc_pages(a->pool);
      uint32_t len;
      if (!page) break; /* out of memory: end this poll, retry the next */
      len = receive(a->pool, page, seq);
      switch (seq % 8) {
        case 0:                 /* SKB */
          ppool_get_page(page); /* the stack's reference */
          a->skbs[a->nskbs++] = page;
          ppool_pool_put_page(a->pool, page, HEADROOM + len, true); /* refcount 2: released */
          break;
        case 1:
        case 2:
        case 3:                                                             /* TX */
          if (!tx_submit(a->tx, page)) ppool_recycle_direct(a->pool, page); /* ring full: drop */
          break;
        default: /* DROP */
          ppool_recycle_direct(a->pool, page);
      }
    }
  }
  a->packets = seq;
  return NULL;
}

int main(int argc, char** argv) {
  struct ppool_dma_device* dev;
  struct ppool_pool_params params;
  struct ppool_pool* pool;
  struct ppool_pool_stats s;
  struct tx_completion tx;
  struct poll_args args;
  pthread_t poller;
  unsigned long polls = 2000;
  uint32_t inflight;
  size_t i, live;
  uint64_t errors;
  int err;

  if (argc == 3 && strcmp(argv[1], "--polls") == 0) {
    char* end;
    polls = strtoul(argv[2], &end, 10);
    if (*end || argv[2][0] < '0' || argv[2][0] > '9' || polls < 1 || polls > 1000000) argc = 0;
  }
  if (argc != 1 && argc != 3) {
    const int help = argc == 2 && strcmp(argv[1], "--help") == 0;
    fputs("usage: napi_poll_c [--polls 1..1000000]\n", help ? stdout : stderr);
    return help ? 0 : 2;
  }

  if ((err = ppool_dma_debug_create(ppool_dma_identity(), &dev)) < 0) {
    fprintf(stderr, "napi_poll_c: %s\n", ppool_last_error());
    return 1;
  }

  /* Registration. */
  ppool_pool_params_init(&params);
  params.order = 0;
  params.flags = PPOOL_F_DMA_MAP | PPOOL_F_DMA_SYNC_DEV;
  params.pool_size = RX_RING_SIZE;
  params.nid = PPOOL_NO_NODE;
  params.dev = dev;
  params.dma_dir = PPOOL_DMA_FROM_DEVICE;
  params.max_len = PPOOL_PAGE_SIZE - HEADROOM;
  params.offset = HEADROOM;
  params.name = "napi_poll_c rxq0";
  if ((err = ppool_pool_create(&params, &pool)) < 0) {
    fprintf(stderr, "napi_poll_c: %s (%s)\n", ppool_last_error(), strerror(-err));
    return 1;
  }

  memset(&tx, 0, sizeof tx);
  pthread_mutex_init(&tx.lock, NULL);
  pthread_cond_init(&tx.cv, NULL);
  pthread_create(&tx.thread, NULL, tx_run, &tx);
  memset(&args, 0, sizeof args);
  args.pool = pool;
  args.tx = &tx;
  args.polls = (unsigned)polls;
  args.skbs = malloc(sizeof args.skbs[0] * (polls * BUDGET / 8 + 1));
  if (!args.skbs) return 1;
  pthread_create(&poller, NULL, napi_poll, &args);
  pthread_join(poller, NULL);
  tx_stop(&tx); /* every transmitted page is back in the ring */
  printf("polled %" PRIu64 " packets; %zu passed up the stack\n", args.packets, args.nskbs);

  /* The sockets consume their packets: the last reference frees each page. */
  for (i = 0; i < args.nskbs; ++i) ppool_put_page(args.skbs[i]);
  free(args.skbs);

  /* Driver unload, on the thread that now owns the queue. */
  ppool_pool_bind_owner(pool);
  ppool_pool_get_stats(pool, &s);
  inflight = ppool_pool_destroy(pool);
  live = ppool_dma_debug_close(dev);
  errors = ppool_dma_debug_errors(dev);
  ppool_dma_debug_destroy(dev);
  printf("{\"stats\": {\"alloc_fast\": %" PRIu64 ", \"alloc_slow\": %" PRIu64
         ", \"alloc_slow_high_order\": %" PRIu64 ", \"alloc_empty\": %" PRIu64
         ", \"alloc_refill\": %" PRIu64 ", \"alloc_waive\": %" PRIu64
         ", \"recycle_cached\": %" PRIu64 ", \"recycle_cache_full\": %" PRIu64
         ", \"recycle_ring\": %" PRIu64 ", \"recycle_ring_full\": %" PRIu64
         ", \"recycle_released_refcnt\": %" PRIu64
         "}, \"inflight\": %u, \"dma_live_mappings\": %zu, \"dma_errors\": %" PRIu64 "}\n",
         s.alloc_fast, s.alloc_slow, s.alloc_slow_high_order, s.alloc_empty, s.alloc_refill,
         s.alloc_waive, s.recycle_cached, s.recycle_cache_full, s.recycle_ring, s.recycle_ring_full,
         s.recycle_released_refcnt, inflight, live, errors);
  return inflight == 0 && live == 0 && errors == 0 ? 0 : 1;
}
