/* The share producer and consumer from C (include/ppool.h): a real consumer
 * in a forked child over a socketpair, pages handed over with data and given
 * back, a lying consumer's bogus return ignored and counted, a dead
 * consumer's pages reclaimed, and bad input refused with -EINVAL and the
 * C++ side's message. C11 with -pedantic -Werror; a failed check exits 1
 * naming its line. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ppool.h>

#include "check.h"

enum { PAGES = 8, REGION_BYTES = 4 << 20 };

/* The pool's pages out with users (not home in its cache or ring), by the
 * holders' scan: ppool_pool_inflight() counts the refill's cached pages too. */
static uint64_t out_with_users(const struct ppool_pool* pool) {
  uint64_t pages = 0;
  CHECK(ppool_pool_holders(ppool_pool_id(pool), NULL, 0, &pages) >= 0);
  return pages;
}

/* A pool on a private shared region of REGION_BYTES, zeroing its pages. */
static struct ppool_pool* make_shared_pool(struct ppool_allocator** allocator) {
  struct ppool_allocator_opts opts;
  struct ppool_pool_params params;
  struct ppool_pool* pool = NULL;
  ppool_allocator_opts_init(&opts);
  opts.shared = true;
  opts.max_bytes = REGION_BYTES;
  *allocator = NULL;
  if (ppool_allocator_create(&opts, allocator) != 0) {
    fprintf(stderr, "ppool_allocator_create: %s\n", ppool_last_error());
    exit(1);
  }
  ppool_pool_params_init(&params);
  params.allocator = *allocator;
  params.flags = PPOOL_F_ZERO_PAGES;
  params.pool_size = 64;
  params.name = "share-c";
  if (ppool_pool_create(&params, &pool) != 0) {
    fprintf(stderr, "ppool_pool_create: %s\n", ppool_last_error());
    exit(1);
  }
  return pool;
}

/* The child: connects, checks each page's text, gives every page back plus
 * one offset it never held (a lying consumer), and exits 0 when all held. */
static int consumer_child(int fd) {
  struct ppool_share_consumer* consumer = NULL;
  struct ppool_share_msg msgs[PAGES];
  uint64_t back[PAGES + 1];
  size_t got = 0, given = 0;
  int bad = 0;
  if (ppool_share_consumer_connect(fd, 5000, &consumer) != 0) {
    fprintf(stderr, "child: ppool_share_consumer_connect: %s\n", ppool_last_error());
    return 2;
  }
  if (ppool_share_region_bytes(consumer) != REGION_BYTES || !ppool_share_region_base(consumer))
    bad++;
  while (got < PAGES) {
    if (!ppool_share_wait_data(consumer, 5000)) {
      fprintf(stderr, "child: no data within 5 s (%zu of %d)\n", got, PAGES);
      return 3;
    }
    got += ppool_share_receive(consumer, msgs + got, PAGES - got);
  }
  for (size_t i = 0; i < PAGES; ++i) {
    char want[32];
    snprintf(want, sizeof want, "page %zu", i);
    if (msgs[i].len != strlen(want) + 1 || memcmp(msgs[i].data, want, msgs[i].len) != 0) bad++;
    if (msgs[i].page % PPOOL_PAGE_SIZE != 0 || msgs[i].page >= REGION_BYTES) bad++;
    back[i] = msgs[i].page;
  }
  /* An offset inside the region that the child was never handed: the last
   * page of the region (the pool took its pages from the front). */
  back[PAGES] = REGION_BYTES - PPOOL_PAGE_SIZE;
  while (given < PAGES + 1) {
    given += ppool_share_give_back(consumer, back + given, PAGES + 1 - given);
    if (given < PAGES + 1 && !ppool_share_consumer_wait_room(consumer, 5000)) return 4;
  }
  if (ppool_share_bad_messages(consumer) != 0) bad++;
  /* Wait for the producer to say it is done (it shuts its end down). */
  {
    char byte;
    if (read(fd, &byte, 1) < 0) bad++;
  }
  if (!ppool_share_producer_gone(consumer)) bad++;
  ppool_share_consumer_destroy(consumer);
  return bad ? 5 : 0;
}

static void test_hand_over_and_back(void) {
  struct ppool_allocator* allocator;
  struct ppool_pool* pool = make_shared_pool(&allocator);
  struct ppool_share_params params;
  struct ppool_share_producer* producer = NULL;
  struct ppool_share_producer_stats stats;
  struct ppool_share_buf bufs[PAGES];
  int sv[2], status = -1;
  size_t reaped = 0;
  pid_t child;

  CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0);
  child = fork();
  CHECK(child >= 0);
  if (child == 0) {
    close(sv[0]);
    _exit(consumer_child(sv[1]));
  }
  close(sv[1]);

  ppool_share_params_init(&params);
  CHECK(params.ring_entries == 1024 && params.max_bad_returns == 1024);
  params.ring_entries = 64;
  CHECK(ppool_share_producer_attach(pool, sv[0], &params, &producer) == 0);
  CHECK(producer != NULL);
  if (!producer) exit(1);

  for (size_t i = 0; i < PAGES; ++i) {
    struct ppool_page* page = ppool_alloc_pages(pool);
    CHECK(page != NULL);
    if (!page) exit(1);
    snprintf((char*)ppool_page_address(page), 32, "page %zu", i);
    bufs[i].page = page;
    bufs[i].offset = 0;
    bufs[i].len = (uint32_t)strlen((char*)ppool_page_address(page)) + 1;
  }
  CHECK(out_with_users(pool) == PAGES);
  CHECK(ppool_share_hand_bulk(producer, bufs, PAGES) == PAGES);
  ppool_share_producer_get_stats(producer, &stats);
  CHECK(stats.handed == PAGES && stats.holding == PAGES);
  /* A page already with the consumer cannot be handed again. */
  CHECK(ppool_share_hand_bulk(producer, bufs, 1) == 0);

  while (reaped < PAGES && ppool_share_wait_returns(producer, 5000))
    reaped += ppool_share_reap(producer, SIZE_MAX);
  CHECK(reaped == PAGES);
  /* The bogus offset comes after the real ones: reap until it is counted. */
  for (int i = 0; i < 100; ++i) {
    ppool_share_producer_get_stats(producer, &stats);
    if (stats.bad_returns != 0) break;
    if (ppool_share_wait_returns(producer, 50)) ppool_share_reap(producer, SIZE_MAX);
  }
  ppool_share_producer_get_stats(producer, &stats);
  CHECK(stats.returned == PAGES && stats.holding == 0);
  CHECK(stats.bad_returns == 1);
  CHECK(out_with_users(pool) == 0);
  CHECK(!ppool_share_peer_gone(producer));

  /* The child's read() returns at our end's EOF, and it exits; the socket
   * stays open (it is the producer's to poll) until the producer is gone. */
  CHECK(shutdown(sv[0], SHUT_WR) == 0);
  CHECK(waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  CHECK(ppool_share_peer_gone(producer));
  CHECK(ppool_share_reclaim_if_gone(producer));
  ppool_share_producer_destroy(producer);
  close(sv[0]);
  CHECK(ppool_pool_destroy(pool) == 0);
  ppool_allocator_destroy(allocator);
}

/* A consumer that dies holding pages: reclaim puts every one home. */
static void test_dead_consumer_reclaimed(void) {
  struct ppool_allocator* allocator;
  struct ppool_pool* pool = make_shared_pool(&allocator);
  struct ppool_share_producer* producer = NULL;
  struct ppool_share_producer_stats stats;
  int sv[2], status = -1;
  pid_t child;

  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  child = fork();
  CHECK(child >= 0);
  if (child == 0) {
    struct ppool_share_consumer* consumer = NULL;
    struct ppool_share_msg msgs[PAGES];
    size_t got = 0;
    close(sv[0]);
    if (ppool_share_consumer_connect(sv[1], 5000, &consumer) != 0) _exit(2);
    while (got < PAGES && ppool_share_wait_data(consumer, 5000))
      got += ppool_share_receive(consumer, msgs + got, PAGES - got);
    _exit(got == PAGES ? 0 : 3); /* exits holding them all */
  }
  close(sv[1]);
  CHECK(ppool_share_producer_attach(pool, sv[0], NULL, &producer) == 0);
  if (!producer) exit(1);
  for (size_t i = 0; i < PAGES; ++i) {
    struct ppool_page* page = ppool_alloc_pages(pool);
    CHECK(page != NULL &&
          ppool_share_hand_bulk(producer, &(struct ppool_share_buf){page, 0, 64}, 1) == 1);
  }
  CHECK(waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  CHECK(out_with_users(pool) == PAGES);
  CHECK(ppool_share_peer_gone(producer));
  CHECK(ppool_share_reclaim(producer) == PAGES);
  ppool_share_producer_get_stats(producer, &stats);
  CHECK(stats.reclaimed == PAGES && stats.holding == 0);
  CHECK(out_with_users(pool) == 0);
  /* Cut off: nothing more is handed. */
  {
    struct ppool_page* page = ppool_alloc_pages(pool);
    struct ppool_share_buf buf = {page, 0, 64};
    CHECK(ppool_share_hand_bulk(producer, &buf, 1) == 0);
    ppool_pool_put_full_page(pool, page, true);
  }
  ppool_share_producer_destroy(producer);
  close(sv[0]);
  CHECK(ppool_pool_destroy(pool) == 0);
  ppool_allocator_destroy(allocator);
}

static void test_bad_input(void) {
  struct ppool_allocator* allocator;
  struct ppool_pool* shared = make_shared_pool(&allocator);
  struct ppool_pool_params params;
  struct ppool_pool* plain = NULL;
  struct ppool_share_params share;
  struct ppool_share_producer* producer = NULL;
  struct ppool_share_consumer* consumer = NULL;
  int sv[2];

  CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0);
  /* A pool that is not on a shared region. */
  ppool_pool_params_init(&params);
  params.name = "not-shared";
  CHECK(ppool_pool_create(&params, &plain) == 0);
  CHECK(ppool_share_producer_attach(plain, sv[0], NULL, &producer) == -EINVAL);
  CHECK(producer == NULL);
  CHECK(strstr(ppool_last_error(), "not-shared") != NULL);
  CHECK(strstr(ppool_last_error(), "shared region") != NULL);
  CHECK(ppool_pool_destroy(plain) == 0);

  /* A ring that is not a power of two. */
  ppool_share_params_init(&share);
  share.ring_entries = 1000;
  CHECK(ppool_share_producer_attach(shared, sv[0], &share, &producer) == -EINVAL);
  CHECK(strstr(ppool_last_error(), "ring_entries 1000") != NULL);

  /* A descriptor that is no AF_UNIX socket. */
  CHECK(ppool_share_producer_attach(shared, STDIN_FILENO, NULL, &producer) == -EINVAL);
  CHECK(strstr(ppool_last_error(), "AF_UNIX") != NULL);

  /* NULL arguments. */
  CHECK(ppool_share_producer_attach(NULL, sv[0], NULL, &producer) == -EINVAL);
  CHECK(strstr(ppool_last_error(), "pool is NULL") != NULL);
  CHECK(ppool_share_producer_attach(shared, sv[0], NULL, NULL) == -EINVAL);
  CHECK(ppool_share_consumer_connect(sv[1], 10, NULL) == -EINVAL);
  CHECK(strstr(ppool_last_error(), "out is NULL") != NULL);

  /* A consumer whose peer is no ppool producer: a short header. */
  CHECK(write(sv[0], "hello", 5) == 5);
  CHECK(ppool_share_consumer_connect(sv[1], 1000, &consumer) == -EINVAL);
  CHECK(consumer == NULL);
  CHECK(strstr(ppool_last_error(), "header") != NULL);
  /* And none at all: the timeout, said. */
  CHECK(ppool_share_consumer_connect(sv[1], 10, &consumer) == -EINVAL);
  CHECK(strstr(ppool_last_error(), "within 10 ms") != NULL);

  ppool_share_producer_destroy(NULL);
  ppool_share_consumer_destroy(NULL);
  close(sv[0]);
  close(sv[1]);
  CHECK(ppool_pool_destroy(shared) == 0);
  ppool_allocator_destroy(allocator);
}

int main(void) {
  test_bad_input();
  test_hand_over_and_back();
  test_dead_consumer_reclaimed();
  if (g_failures) {
    fprintf(stderr, "%d check(s) failed\n", g_failures);
    return 1;
  }
  printf("capi share: ok\n");
  return 0;
}
