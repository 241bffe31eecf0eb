/* xsk_forward.c: an AF_XDP forwarder in C on ppool's UMEM and pools
 * (<ppool_xsk.h>): every frame received on one interface goes out of
 * another, with no copy.
 *
 * One UMEM (a ppool shared region registered with the kernel) backs an
 * AF_XDP socket on each interface. The receive queue's page pool fills its
 * fill ring; a received frame is posted as it is to the other socket's TX
 * ring (both sockets share the UMEM, so its address stays the same), and
 * the TX completion sends it home to the pool it came from, into the cache
 * (this thread owns it). A frame the TX ring has no room for is dropped:
 * recycled into its pool. The library's redirect program sends each frame
 * of the receive interface to the socket of its queue.
 *
 *   xsk_forward --selftest [--frames N]
 *       makes a private network namespace with two veth pairs, injects N
 *       frames (default 2000) at the first pair's far end with an AF_PACKET
 *       socket and counts what comes out of the second pair's far end;
 *   xsk_forward IN OUT [--seconds S]
 *       forwards queue 0 of IN to OUT until SIGINT or SIGTERM (or S
 *       seconds).
 * Needs root (CAP_NET_ADMIN, CAP_NET_RAW, CAP_SYS_ADMIN for the namespace);
 * exits 77 saying why where the machine has no AF_XDP or namespaces.
 *
 * The last line on stdout is one JSON object: the frames sent and received
 * (selftest), forwarded and dropped, the queues' counters, the receive
 * pool's stats, where the UMEM's frames were before the queues closed, and
 * the pages still in flight once everything was torn down (0: every frame
 * came home). */
#define _GNU_SOURCE /* unshare, CLONE_NEWNET */

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <net/if.h>
#include <netpacket/packet.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <ppool_xsk.h>

enum { BATCH = 64, FILL_SIZE = 1024, ETHERTYPE = 0x88b5, FRAME_LEN = 64 };

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) {
  (void)sig;
  g_stop = 1;
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The selftest's traffic: a sender at the receive interface's peer and a
 * sink at the transmit interface's peer (AF_PACKET, our EtherType only). */
struct traffic {
  int sender, sink;
  int sender_ifindex;
  uint64_t to_send, sent, received;
};

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

/* Sends up to n more frames; a full socket buffer waits for the next round. */
static void traffic_send(struct traffic* t, unsigned n) {
  unsigned char frame[FRAME_LEN] = {0};
  struct sockaddr_ll sll;
  memset(frame, 0xff, 6); /* broadcast */
  frame[6] = 0x02;        /* a locally administered source */
  frame[12] = ETHERTYPE >> 8;
  frame[13] = ETHERTYPE & 0xff;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_ifindex = t->sender_ifindex;
  sll.sll_halen = 6;
  memset(sll.sll_addr, 0xff, 6);
  for (; n > 0 && t->sent < t->to_send; --n) {
    memcpy(frame + 14, &t->sent, sizeof t->sent);
    if (sendto(t->sender, frame, sizeof frame, 0, (struct sockaddr*)&sll, sizeof sll) != FRAME_LEN)
      break;
    t->sent++;
  }
}

static void traffic_drain(struct traffic* t) {
  unsigned char buf[2048];
  while (recv(t->sink, buf, sizeof buf, 0) >= 0) t->received++;
}

struct counts {
  uint64_t forwarded, dropped;
};

/* One round: receive a batch, post it to the other socket's TX ring (drop
 * what does not fit), take completions home, top the fill ring up.
 * @return the frames received. */
static size_t forward_round(struct ppool_xsk_queue* in, struct ppool_xsk_queue* out,
                            struct counts* c) {
  struct ppool_xsk_desc descs[BATCH];
  size_t n = ppool_xsk_receive(in, descs, BATCH);
  if (n) {
    size_t sent = ppool_xsk_transmit(out, descs, n);
    if (sent < n) {
      ppool_xsk_recycle(in, descs + sent, n - sent);
      c->dropped += n - sent;
    }
    c->forwarded += sent;
  }
  ppool_xsk_complete(out, 4 * BATCH);
  ppool_xsk_refill(in, FILL_SIZE);
  return n;
}

/* Forwards until stopped: by a signal, after seconds (0: never), or, with
 * traffic, once every frame was sent and nothing moved for 500 ms. Then
 * waits for the TX ring to drain (up to 2 s). */
static void forward(struct ppool_xsk_queue* in, struct ppool_xsk_queue* out, unsigned seconds,
                    struct traffic* t, struct counts* c) {
  const int64_t start = now_ms();
  int64_t last_moved = start;
  while (!g_stop) {
    size_t n;
    if (t) traffic_send(t, BATCH);
    n = forward_round(in, out, c);
    if (t) {
      const uint64_t before = t->received;
      traffic_drain(t);
      if (t->received != before) n++;
    }
    if (n) last_moved = now_ms();
    if (seconds && now_ms() - start >= (int64_t)seconds * 1000) break;
    if (t && t->sent == t->to_send && now_ms() - last_moved >= 500) break;
    if (!n) {
      struct pollfd p = {ppool_xsk_queue_fd(in), POLLIN, 0};
      poll(&p, 1, 1);
    }
  }
  for (int64_t until = now_ms() + 2000; ppool_xsk_queue_in_tx(out) && now_ms() < until;) {
    ppool_xsk_kick(out);
    ppool_xsk_complete(out, 4 * BATCH);
    if (t) traffic_drain(t);
  }
}

static int run(const char* cmd) {
  char line[256];
  snprintf(line, sizeof line, "%s >/dev/null 2>&1", cmd);
  return system(line) == 0;
}

/* The selftest's namespace: xfa0 <-> xfb0 (frames in), xfa1 <-> xfb1
 * (frames out). @return NULL, or why it cannot be made (a skip). */
static const char* make_netns(void) {
  static char why[160];
  if (unshare(CLONE_NEWNET) != 0) {
    snprintf(why, sizeof why, "unshare(CLONE_NEWNET) refused (needs CAP_SYS_ADMIN): %s",
             strerror(errno));
    return why;
  }
  if (!run("ip link show lo")) return "iproute2's ip is not available";
  run("sysctl -w net.ipv6.conf.default.disable_ipv6=1"); /* no chatter on the links */
  if (!run("ip link add xfa0 type veth peer name xfb0") ||
      !run("ip link add xfa1 type veth peer name xfb1") || !run("ip link set xfa0 up") ||
      !run("ip link set xfb0 up") || !run("ip link set xfa1 up") || !run("ip link set xfb1 up"))
    return "could not make the veth pairs";
  return NULL;
}

static int usage(FILE* to) {
  fputs(
      "usage: xsk_forward --selftest [--frames N]\n"
      "       xsk_forward IN OUT [--seconds S]\n",
      to);
  return to == stdout ? 0 : 2;
}

/* Fails setup: the call, the library's message, and 77 (a skip) when the
 * machine lacks AF_XDP or the permission. */
static int setup_failed(const char* call, int err) {
  fprintf(stderr, "xsk_forward: %s: %s (%s)\n", call, ppool_last_error(), strerror(-err));
  return err == -EOPNOTSUPP ? 77 : 1;
}

int main(int argc, char** argv) {
  const char* in_name = NULL;
  const char* out_name = NULL;
  unsigned long frames = 2000, seconds = 0;
  int selftest = 0, err, rc = 0;
  struct traffic traffic = {-1, -1, 0, 0, 0, 0};
  struct counts counts = {0, 0};
  struct ppool_xsk_umem_params up;
  struct ppool_xsk_queue_params qp;
  struct ppool_xsk_umem* umem = NULL;
  struct ppool_xsk_redirect* redirect = NULL;
  struct ppool_xsk_queue* in = NULL;
  struct ppool_xsk_queue* out = NULL;
  struct ppool_xsk_frame_counts ledger = {0};
  struct ppool_xsk_queue_stats in_stats = {0}, out_stats = {0};
  struct ppool_pool_stats stats = {0};
  uint64_t returns_refused = 0;
  uint32_t inflight = 0;
  int in_index;

  for (int i = 1; i < argc; ++i) {
    char* end = NULL;
    if (strcmp(argv[i], "--help") == 0) return usage(stdout);
    if (strcmp(argv[i], "--selftest") == 0) {
      selftest = 1;
    } else if ((strcmp(argv[i], "--frames") == 0 || strcmp(argv[i], "--seconds") == 0) &&
               i + 1 < argc) {
      unsigned long v = strtoul(argv[i + 1], &end, 10);
      if (*end || argv[i + 1][0] < '0' || argv[i + 1][0] > '9' || v < 1 || v > 100000000)
        return usage(stderr);
      *(argv[i][2] == 'f' ? &frames : &seconds) = v;
      ++i;
    } else if (argv[i][0] != '-' && !in_name) {
      in_name = argv[i];
    } else if (argv[i][0] != '-' && !out_name) {
      out_name = argv[i];
    } else {
      return usage(stderr);
    }
  }
  if (selftest == (in_name != NULL) || (in_name && !out_name)) return usage(stderr);
  if (selftest) {
    const char* why = make_netns();
    if (why) {
      fprintf(stderr, "xsk_forward: skipped: %s\n", why);
      return 77;
    }
    in_name = "xfa0";
    out_name = "xfa1";
    traffic.to_send = frames;
    traffic.sender_ifindex = (int)if_nametoindex("xfb0");
    traffic.sender = packet_socket(traffic.sender_ifindex);
    traffic.sink = packet_socket((int)if_nametoindex("xfb1"));
    if (traffic.sender < 0 || traffic.sink < 0) {
      perror("xsk_forward: AF_PACKET socket");
      return 1;
    }
  }
  in_index = (int)if_nametoindex(in_name);
  if (!in_index) {
    fprintf(stderr, "xsk_forward: no interface %s\n", in_name);
    return 1;
  }
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  /* libxdp's dispatcher is not wanted: the redirect program is ours. */
  setenv("LIBXDP_SKIP_DISPATCHER", "1", 1);

  /* The UMEM: 4096 frames, 4 KiB pages (no huge pages to reserve). */
  ppool_xsk_umem_params_init(&up);
  up.frames = 4096;
  up.hugetlb = false;
  up.fill_size = FILL_SIZE;
  up.comp_size = FILL_SIZE;
  if ((err = ppool_xsk_umem_create(&up, &umem)) != 0) return setup_failed("umem", err);

  /* A socket on queue 0 of each interface, in copy mode (veth and every
   * driver have it); the receive one gets the redirect program's XSKMAP slot. */
  ppool_xsk_queue_params_init(&qp);
  qp.ifname = in_name;
  qp.mode = PPOOL_XSK_BIND_COPY;
  qp.rx_size = qp.tx_size = FILL_SIZE;
  qp.pool_name = "xsk_forward-rx";
  qp.pool_size = FILL_SIZE;
  if ((err = ppool_xsk_queue_create(umem, &qp, &in)) != 0) {
    rc = setup_failed("rx queue", err);
    goto out_umem;
  }
  qp.ifname = out_name;
  qp.pool_name = "xsk_forward-tx";
  if ((err = ppool_xsk_queue_create(umem, &qp, &out)) != 0) {
    rc = setup_failed("tx queue", err);
    goto out_queues;
  }
  if ((err = ppool_xsk_redirect_create(1, &redirect)) != 0 ||
      (err = ppool_xsk_redirect_attach(redirect, in_index, selftest)) != 0 ||
      (err = ppool_xsk_redirect_add_socket(redirect, 0, ppool_xsk_queue_fd(in))) != 0) {
    rc = setup_failed("redirect", err);
    goto out_queues;
  }
  fprintf(stderr, "xsk_forward: %s -> %s, XDP in %s mode\n", in_name, out_name,
          ppool_xsk_redirect_mode(redirect));

  ppool_xsk_refill(in, FILL_SIZE);
  forward(in, out, (unsigned)seconds, selftest ? &traffic : NULL, &counts);

  /* Where the frames are before closing: with the kernel's fill ring, home,
   * none with us nor in a TX ring. */
  ppool_xsk_umem_counts(umem, &ledger);
  ppool_xsk_queue_get_stats(in, &in_stats);
  ppool_xsk_queue_get_stats(out, &out_stats);
  returns_refused = ppool_xsk_queue_returns_refused(in) + ppool_xsk_queue_returns_refused(out);
  ppool_pool_get_stats(ppool_xsk_queue_pool(in), &stats);

out_queues:
  ppool_xsk_redirect_destroy(redirect);
  ppool_xsk_queue_destroy(out);
  ppool_xsk_queue_destroy(in);
out_umem:
  /* The UMEM's first socket's frames come back when the UMEM goes; then the
   * pools are freed and leave the registry. */
  ppool_xsk_umem_destroy(umem);
  {
    struct ppool_pool_info pools[16];
    const size_t n = ppool_list_pools(pools, 16);
    for (size_t i = 0; i < n && i < 16; ++i)
      if (strncmp(pools[i].name, "xsk_forward-", 12) == 0) inflight += pools[i].inflight;
  }
  if (rc) return rc;

  printf("forwarded %" PRIu64 " frames, dropped %" PRIu64 "\n", counts.forwarded, counts.dropped);
  printf("{\"frames_sent\": %" PRIu64 ", \"frames_received\": %" PRIu64
         ", \"frames_forwarded\": %" PRIu64 ", \"frames_dropped\": %" PRIu64 ", \"rx\": %" PRIu64
         ", \"tx\": %" PRIu64 ", \"completed\": %" PRIu64 ", \"tx_refused\": %" PRIu64
         ", \"rejected\": %" PRIu64 ", \"returns_refused\": %" PRIu64
         ", \"ledger_before_close\": {\"frames\": %" PRIu32 ", \"home\": %" PRIu32
         ", \"app\": %" PRIu32 ", \"fill\": %" PRIu32 ", \"tx\": %" PRIu32
         "}"
         ", \"stats\": {\"alloc_fast\": %" PRIu64 ", \"alloc_slow\": %" PRIu64
         ", \"recycle_cached\": %" PRIu64 ", \"recycle_ring\": %" PRIu64
         "}, \"inflight_after_teardown\": %" PRIu32 ", \"pools_pending_release\": %zu}\n",
         traffic.sent, traffic.received, counts.forwarded, counts.dropped, in_stats.rx,
         out_stats.tx, out_stats.completed, in_stats.tx_refused + out_stats.tx_refused,
         in_stats.rejected + out_stats.rejected, returns_refused, ledger.frames, ledger.home,
         ledger.app, ledger.fill, ledger.tx, stats.alloc_fast, stats.alloc_slow,
         stats.recycle_cached, stats.recycle_ring, inflight, ppool_pools_pending_release());
  return 0;
}
