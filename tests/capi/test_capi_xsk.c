/* AF_XDP from C (include/ppool_xsk.h): a UMEM, the redirect program and a
 * queue on a veth pair in a private network namespace (copy mode); real
 * frames injected at the peer with an AF_PACKET socket, received, sent
 * back, completed, recycled; refusals counted; bad input refused with its
 * errno and message; teardown leaving no pool in flight. C11 with -pedantic
 * -Werror; a failed check exits 1 naming its line. Exits 77 (skipped, and
 * says why) without root, network namespaces or AF_XDP; with
 * PPOOL_REQUIRE_XSK=1 (scripts/test.sh sets it where they are there) a skip
 * is a failure instead. */
#define _GNU_SOURCE /* unshare, CLONE_NEWNET */

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netpacket/packet.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <ppool_xsk.h>

#include "check.h"

enum { ETHERTYPE = 0x88b5, FRAME_LEN = 64, PACKETS = 16 };
static const char kMagic[8] = "ppool-c";

/* Skips (77) saying why, or fails under PPOOL_REQUIRE_XSK=1. */
static int skip(const char* why) {
  const char* require = getenv("PPOOL_REQUIRE_XSK");
  if (require && strcmp(require, "1") == 0) {
    fprintf(stderr, "FAIL: PPOOL_REQUIRE_XSK=1, but the test would skip: %s\n", why);
    return 1;
  }
  printf("skipped: %s\n", why);
  return 77;
}

static int run(const char* cmd) {
  char line[256];
  snprintf(line, sizeof line, "%s >/dev/null 2>&1", cmd);
  return system(line) == 0;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* An AF_PACKET socket on ifindex for our EtherType, non-blocking. */
static int packet_socket(int ifindex) {
  struct sockaddr_ll sll;
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK, htons(ETHERTYPE));
  if (fd < 0) return -1;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETHERTYPE);
  sll.sll_ifindex = ifindex;
  if (bind(fd, (struct sockaddr*)&sll, sizeof sll) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static int send_frame(int fd, int ifindex, uint32_t seq) {
  unsigned char frame[FRAME_LEN] = {0};
  struct sockaddr_ll sll;
  memset(frame, 0xff, 6);
  frame[6] = 0x02; /* a locally administered source */
  frame[11] = 0x01;
  frame[12] = ETHERTYPE >> 8;
  frame[13] = ETHERTYPE & 0xff;
  memcpy(frame + 14, kMagic, sizeof kMagic);
  memcpy(frame + 14 + sizeof kMagic, &seq, sizeof seq);
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_ifindex = ifindex;
  sll.sll_halen = 6;
  memset(sll.sll_addr, 0xff, 6);
  return sendto(fd, frame, sizeof frame, 0, (struct sockaddr*)&sll, sizeof sll) == FRAME_LEN;
}

static int is_ours(const struct ppool_xsk_desc* desc) {
  const unsigned char* p = ppool_xsk_desc_data(desc);
  return desc->len >= 14 + sizeof kMagic + 4 && memcmp(p + 14, kMagic, sizeof kMagic) == 0;
}

/* Receives until want of our frames are in out[] (others recycled), or 2 s. */
static size_t receive_ours(struct ppool_xsk_queue* q, struct ppool_xsk_desc* out, size_t want) {
  size_t got = 0;
  for (int i = 0; i < 200 && got < want; ++i) {
    struct ppool_xsk_desc descs[64];
    size_t n = ppool_xsk_receive(q, descs, want - got < 64 ? want - got : 64);
    for (size_t j = 0; j < n; ++j) {
      if (is_ours(&descs[j]))
        out[got++] = descs[j];
      else
        CHECK(ppool_xsk_recycle(q, &descs[j], 1) == 1);
    }
    if (n == 0) {
      struct pollfd p = {ppool_xsk_queue_fd(q), POLLIN, 0};
      poll(&p, 1, 10);
    }
  }
  return got;
}

/* Our frames the peer's socket got within 2 s, up to want. */
static size_t peer_receive(int fd, size_t want) {
  size_t got = 0;
  for (int i = 0; i < 400 && got < want; ++i) {
    unsigned char buf[2048];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0) {
      sleep_ms(5);
      continue;
    }
    if (n >= (ssize_t)(14 + sizeof kMagic) && memcmp(buf + 14, kMagic, sizeof kMagic) == 0) got++;
  }
  return got;
}

static void test_umem_params(void) {
  struct ppool_xsk_umem_params params;
  struct ppool_xsk_umem* umem = NULL;
  ppool_xsk_umem_params_init(&params);
  CHECK(params.frames == 4096 && params.frame_size == PPOOL_XSK_FRAME_SIZE);
  CHECK(params.frame_headroom == 0 && params.hugetlb && params.lock);
  CHECK(params.fill_size == 2048 && params.comp_size == 2048);
  params.frames = 0;
  CHECK(ppool_xsk_umem_create(&params, &umem) == -EINVAL);
  CHECK(umem == NULL);
  CHECK(strstr(ppool_last_error(), "frames") != NULL);
  params.frames = 64;
  params.frame_size = 2048;
  CHECK(ppool_xsk_umem_create(&params, &umem) == -EINVAL);
  CHECK(strstr(ppool_last_error(), "frame_size") != NULL);
  CHECK(ppool_xsk_umem_create(NULL, &umem) == -EINVAL);
  CHECK(strstr(ppool_last_error(), "params is NULL") != NULL);
  ppool_xsk_umem_destroy(NULL);
  ppool_xsk_queue_destroy(NULL);
  ppool_xsk_redirect_destroy(NULL);
}

static void test_queue(int a_index, int b_index) {
  struct ppool_xsk_umem_params up;
  struct ppool_xsk_umem* umem = NULL;
  struct ppool_xsk_redirect* redirect = NULL;
  struct ppool_xsk_queue_params qp;
  struct ppool_xsk_queue* q = NULL;
  struct ppool_xsk_queue* twice = NULL;
  struct ppool_xsk_frame_counts counts;
  struct ppool_xsk_queue_stats stats;
  struct ppool_xsk_ring_counts rings;
  struct ppool_xsk_desc got[PACKETS];
  const uint64_t misuses = ppool_misuse_count();
  size_t done = 0;
  int peer;

  ppool_xsk_umem_params_init(&up);
  up.frames = 1024;
  up.fill_size = 1024;
  up.comp_size = 1024;
  up.hugetlb = false;
  CHECK(ppool_xsk_umem_create(&up, &umem) == 0);
  if (!umem) {
    fprintf(stderr, "ppool_xsk_umem_create: %s\n", ppool_last_error());
    exit(1);
  }
  CHECK(ppool_xsk_umem_frames(umem) == 1024 && !ppool_xsk_umem_hugetlb(umem));
  CHECK(ppool_xsk_umem_fd(umem) >= 0);
  CHECK(ppool_xsk_umem_allocator(umem) != NULL && ppool_xsk_umem_device(umem) != NULL);

  CHECK(ppool_xsk_redirect_create(0, &redirect) == -EINVAL);
  CHECK(ppool_xsk_redirect_create(4, &redirect) == 0);
  if (!redirect) {
    fprintf(stderr, "ppool_xsk_redirect_create: %s\n", ppool_last_error());
    exit(1);
  }
  CHECK(strcmp(ppool_xsk_redirect_mode(redirect), "none") == 0);
  CHECK(ppool_xsk_redirect_attach(redirect, a_index, true) == 0);
  CHECK(strcmp(ppool_xsk_redirect_mode(redirect), "generic") == 0);

  ppool_xsk_queue_params_init(&qp);
  CHECK(qp.ifname == NULL && qp.queue_id == 0 && qp.rx_size == 2048 && qp.need_wakeup);
  CHECK(qp.mode == PPOOL_XSK_BIND_AUTO && qp.pool_name == NULL && qp.pool_size == 1024);
  CHECK(ppool_xsk_queue_create(umem, &qp, &q) == -EINVAL);
  CHECK(strstr(ppool_last_error(), "ifname is NULL") != NULL);
  qp.ifname = "nosuchif0";
  CHECK(ppool_xsk_queue_create(umem, &qp, &q) == -EINVAL);
  CHECK(strstr(ppool_last_error(), "nosuchif0") != NULL);
  CHECK(q == NULL);

  qp.ifname = "xcapa0";
  qp.rx_size = 512;
  qp.tx_size = 512;
  qp.mode = PPOOL_XSK_BIND_COPY;
  qp.pool_name = "xsk-c";
  CHECK(ppool_xsk_queue_create(umem, &qp, &q) == 0);
  if (!q) {
    fprintf(stderr, "ppool_xsk_queue_create: %s\n", ppool_last_error());
    exit(1);
  }
  CHECK(ppool_xsk_umem_open_queues(umem) == 1);
  /* The same queue twice on the UMEM. */
  CHECK(ppool_xsk_queue_create(umem, &qp, &twice) == -EINVAL);
  CHECK(strstr(ppool_last_error(), "xcapa0") != NULL);
  CHECK(!ppool_xsk_queue_zero_copy(q));
  CHECK(strcmp(ppool_pool_name(ppool_xsk_queue_pool(q)), "xsk-c") == 0);
  CHECK(ppool_xsk_redirect_add_socket(redirect, 9, ppool_xsk_queue_fd(q)) == -EINVAL);
  CHECK(ppool_xsk_redirect_add_socket(redirect, 0, ppool_xsk_queue_fd(q)) == 0);

  CHECK(ppool_xsk_refill(q, 256) == 256);
  CHECK(ppool_xsk_queue_in_fill(q) == 256);
  ppool_xsk_queue_ring_counts(q, &rings);
  CHECK(rings.fill == 256);
  ppool_xsk_umem_counts(umem, &counts);
  CHECK(counts.fill == 256 && counts.frames == 1024);

  peer = packet_socket(b_index);
  CHECK(peer >= 0);
  for (uint32_t i = 0; i < PACKETS; ++i) CHECK(send_frame(peer, b_index, i));
  CHECK(receive_ours(q, got, PACKETS) == PACKETS);
  for (size_t i = 0; i < PACKETS; ++i) {
    CHECK(got[i].offset == PPOOL_XSK_PACKET_HEADROOM && got[i].len == FRAME_LEN);
    CHECK(ppool_page_pool_of(got[i].page) == ppool_xsk_queue_pool(q));
    CHECK(ppool_xsk_umem_page_at(umem, ppool_xsk_umem_addr_of(umem, got[i].page) + 300) ==
          got[i].page);
    CHECK(ppool_get_dma_addr(got[i].page) == ppool_xsk_umem_addr_of(umem, got[i].page));
  }
  ppool_xsk_umem_counts(umem, &counts);
  CHECK(counts.app == PACKETS);

  /* Back out of the same port: the peer sees them, the completions come. */
  CHECK(ppool_xsk_transmit(q, got, PACKETS) == PACKETS);
  CHECK(peer_receive(peer, PACKETS) == PACKETS);
  for (int i = 0; i < 200 && done < PACKETS; ++i) {
    done += ppool_xsk_complete(q, 64);
    if (done < PACKETS) sleep_ms(5);
  }
  CHECK(done == PACKETS);
  CHECK(ppool_xsk_queue_in_tx(q) == 0);
  /* A frame sent and completed is home: sending it again is refused. */
  CHECK(ppool_xsk_transmit(q, got, 1) == 0);
  CHECK(ppool_misuse_count() == misuses + 1);

  /* Received and dropped: recycle sends them home; a second time refused. */
  for (uint32_t i = 0; i < 4; ++i) CHECK(send_frame(peer, b_index, 100 + i));
  CHECK(receive_ours(q, got, 4) == 4);
  CHECK(ppool_xsk_recycle(q, got, 4) == 4);
  CHECK(ppool_xsk_recycle(q, got, 1) == 0);
  CHECK(ppool_xsk_queue_returns_refused(q) == 1);
  ppool_xsk_umem_counts(umem, &counts);
  CHECK(counts.app == 0 && counts.tx == 0);

  ppool_xsk_queue_get_stats(q, &stats);
  CHECK(stats.rx >= PACKETS + 4 && stats.tx == PACKETS && stats.completed == PACKETS);
  CHECK(stats.tx_refused == 1 && stats.rejected == 0 && stats.fill_posted == 256);

  /* The UMEM's first socket keeps its fill ring's frames until the UMEM
   * goes: close says so, and the pool is freed when they come back. */
  ppool_xsk_umem_counts(umem, &counts);
  CHECK(ppool_xsk_queue_close(q) == counts.fill);
  CHECK(ppool_xsk_queue_fd(q) == -1);
  ppool_xsk_queue_destroy(q);
  CHECK(ppool_xsk_umem_open_queues(umem) == 0);
  ppool_xsk_redirect_destroy(redirect);
  ppool_xsk_umem_destroy(umem);
  for (int i = 0; i < 200 && ppool_pools_pending_release() != 0; ++i) sleep_ms(10);
  CHECK(ppool_pools_pending_release() == 0);
  close(peer);
}

int main(void) {
  int s, a_index, b_index;
  test_umem_params();
  s = socket(AF_XDP, SOCK_RAW, 0);
  if (s < 0) {
    char why[128];
    snprintf(why, sizeof why, "no AF_XDP sockets here: %s", strerror(errno));
    return skip(why);
  }
  close(s);
  setenv("LIBXDP_SKIP_DISPATCHER", "1", 1);
  if (unshare(CLONE_NEWNET) != 0) {
    char why[128];
    snprintf(why, sizeof why, "unshare(CLONE_NEWNET) refused (needs CAP_SYS_ADMIN): %s",
             strerror(errno));
    return skip(why);
  }
  if (!run("ip link show lo")) return skip("iproute2's ip is not available");
  run("sysctl -w net.ipv6.conf.default.disable_ipv6=1");
  if (!run("ip link add xcapa0 type veth peer name xcapb0") || !run("ip link set xcapa0 up") ||
      !run("ip link set xcapb0 up")) {
    fprintf(stderr, "could not make the veth pair xcapa0/xcapb0\n");
    return 1;
  }
  a_index = (int)if_nametoindex("xcapa0");
  b_index = (int)if_nametoindex("xcapb0");
  CHECK(a_index > 0 && b_index > 0);
  test_queue(a_index, b_index);
  run("ip link del xcapa0");
  if (g_failures) {
    fprintf(stderr, "%d check(s) failed\n", g_failures);
    return 1;
  }
  printf("capi xsk: ok\n");
  return 0;
}
