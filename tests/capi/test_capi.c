/* The C API, from C: every function of include/ppool.h called at least once,
 * with its behaviour asserted. Built as C11 with -pedantic -Werror; one
 * program, each check a function, a failed check exits 1 naming its line. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ppool.h>

#include "check.h"

/* The log hook: the last report, and how many came. */
static char g_log[512];
static int g_log_count;
static void log_hook(enum ppool_log_level level, const char* message, size_t len) {
  (void)level;
  if (len >= sizeof g_log) len = sizeof g_log - 1;
  memcpy(g_log, message, len);
  g_log[len] = '\0';
  g_log_count++;
}

/* The kernel's eleven counters are compiled out of a PPOOL_STATS=OFF
 * build: they read 0 there, and a check of one holds only with them. */
#define CHECK_STAT(cond) CHECK(!ppool_stats_enabled() || (cond))

/* A pool on the identity device, DMA-mapping, bound to this thread. */
static struct ppool_pool* make_pool(const char* name) {
  struct ppool_pool_params params;
  struct ppool_pool* pool = NULL;
  ppool_pool_params_init(&params);
  params.flags = PPOOL_F_DMA_MAP;
  params.dev = ppool_dma_identity();
  params.pool_size = 256;
  params.name = name;
  CHECK(ppool_pool_create(&params, &pool) == 0);
  CHECK(pool != NULL);
  return pool;
}

static void test_params_and_errors(void) {
  struct ppool_pool_params params;
  struct ppool_pool* pool = NULL;
  ppool_pool_params_init(&params);
  CHECK(params.order == 0 && params.pool_size == 1024 && params.nid == PPOOL_NO_NODE);
  CHECK(params.dma_dir == PPOOL_DMA_FROM_DEVICE && params.flags == 0 && params.name == NULL);
  CHECK(params.max_inflight == 0 && params.inflight_high == 0 && params.inflight_low == 0);

  params.pool_size = 0; /* out of its domain */
  CHECK(ppool_pool_create(&params, &pool) == -EINVAL);
  CHECK(pool == NULL);
  CHECK(strstr(ppool_last_error(), "pool_size") != NULL);

  ppool_pool_params_init(&params);
  params.flags = PPOOL_F_DMA_MAP; /* and no device */
  CHECK(ppool_pool_create(&params, &pool) == -EINVAL);
  CHECK(strstr(ppool_last_error(), "dev") != NULL);
  CHECK(ppool_pool_create(NULL, &pool) == -EINVAL);
  CHECK(strstr(ppool_last_error(), "params") != NULL);
}

static void test_alloc_put(void) {
  struct ppool_pool* pool = make_pool("capi alloc");
  struct ppool_pool_stats stats;
  struct ppool_page* page = ppool_alloc_pages(pool);
  char* data;
  CHECK(page != NULL);
  data = ppool_page_address(page);
  memset(data, 0xab, PPOOL_PAGE_SIZE);                          /* the page is ours to write */
  CHECK(ppool_get_dma_addr(page) == (uint64_t)(uintptr_t)data); /* identity device */
  CHECK(ppool_page_of(data + 100) == page);
  CHECK(ppool_page_bytes(page) == PPOOL_PAGE_SIZE);
  CHECK(ppool_page_pool_of(page) == pool);
  CHECK(ppool_get_dma_dir(pool) == PPOOL_DMA_FROM_DEVICE);
  CHECK(strcmp(ppool_pool_name(pool), "capi alloc") == 0);
  CHECK(ppool_pool_nid(pool) >= 0);
  ppool_recycle_direct(pool, page);
  CHECK(ppool_alloc_pages(pool) == page); /* the cache is LIFO */
  ppool_pool_put_page(pool, page, 64, true);
  page = ppool_alloc_pages(pool);
  ppool_pool_put_full_page(pool, page, false); /* the owner's put: into the cache anyway */

  ppool_pool_get_stats(pool, &stats);
  CHECK_STAT(stats.alloc_slow == 1 && stats.alloc_fast == 2);
  CHECK_STAT(stats.recycle_cached == 3 && stats.recycle_ring == 0);
  CHECK(ppool_pool_alloc_failures(pool) == 0 && ppool_pool_map_failures(pool) == 0);
  CHECK(ppool_pool_inflight(pool) > 0); /* the refill's pages, home in the cache */
  CHECK(ppool_pool_destroy(pool) == 0);
}

static void test_bulk(void) {
  struct ppool_pool* pool = make_pool("capi bulk");
  struct ppool_page* pages[64];
  struct ppool_pool_stats stats;
  size_t i;
  CHECK(ppool_alloc_pages_bulk(pool, pages, 64) == 64);
  for (i = 0; i < 64; i++) {
    memset(ppool_page_address(pages[i]), (int)i, 64);
    CHECK(ppool_page_pool_of(pages[i]) == pool);
  }
  ppool_put_page_bulk(pages, 64);
  ppool_pool_get_stats(pool, &stats);
  CHECK_STAT(stats.recycle_cached == 64);
  CHECK(ppool_pool_destroy(pool) == 0);
}

static void test_fragments(void) {
  struct ppool_pool* pool = make_pool("capi frag");
  uint32_t off_a = 0, off_b = 0, size_a = 2048, size_b = 2048, size_v = 1000;
  struct ppool_page* a = ppool_alloc_frag(pool, 2048, &off_a);
  struct ppool_page* b = ppool_alloc_frag(pool, 2048, &off_b);
  struct ppool_page* whole;
  void* va;
  CHECK(a != NULL && a == b && off_a == 0 && off_b == 2048);
  CHECK(ppool_alloc_frag(pool, 0, &off_a) == NULL); /* size 0: the caller's bug */
  ppool_pool_put_full_page(pool, a, true);
  ppool_pool_put_full_page(pool, b, true); /* the last fragment recycles the page */

  a = ppool_alloc(pool, &off_a, &size_a);
  b = ppool_alloc(pool, &off_b, &size_b);
  CHECK(a != NULL && a == b && size_b == 2048);
  ppool_pool_put_full_page(pool, a, true);
  ppool_pool_put_full_page(pool, b, true);
  va = ppool_alloc_va(pool, &size_v);
  CHECK(va != NULL && size_v >= 1000);
  ppool_free_va(pool, va, true);

  /* A driver's own split: three references, dropped one by one. */
  whole = ppool_alloc_pages(pool);
  ppool_pp_ref_count_set(whole, 2);
  ppool_pp_ref_count_inc(whole);
  CHECK(ppool_pp_ref_count_sub(whole, 1) == 2);
  CHECK(ppool_pp_ref_count_sub(whole, 1) == 1);
  ppool_pool_put_full_page(pool, whole, true); /* the last reference: recycled */
  CHECK(ppool_pool_destroy(pool) == 0);
}

static void test_misuse(void) {
  struct ppool_pool* pool = make_pool("capi misuse");
  struct ppool_page* page = ppool_alloc_pages(pool);
  uint64_t misuses = ppool_misuse_count();
  int logged = g_log_count;
  ppool_set_misuse_policy(PPOOL_MISUSE_REPORT);
  ppool_set_log_hook(log_hook);
  ppool_recycle_direct(pool, page);
  ppool_recycle_direct(pool, page); /* put twice: reported, nothing changed */
  ppool_set_log_hook(NULL);
  CHECK(ppool_misuse_count() == misuses + 1);
  CHECK(g_log_count == logged + 1);
  CHECK(strstr(g_log, "capi misuse") != NULL);
  CHECK(ppool_pool_destroy(pool) == 0);
}

/* A put from another thread: through the pool's ring. */
struct remote_put {
  struct ppool_pool* pool;
  struct ppool_page* page;
};
static void* put_from_thread(void* arg) {
  struct remote_put* put = arg;
  ppool_pool_put_full_page(put->pool, put->page, false);
  return NULL;
}

static void test_remote_and_generic_put(void) {
  struct ppool_pool* pool = make_pool("capi remote");
  struct remote_put put;
  struct ppool_pool_stats stats;
  struct ppool_page* page;
  pthread_t thread;
  put.pool = pool;
  put.page = ppool_alloc_pages(pool);
  CHECK(pthread_create(&thread, NULL, put_from_thread, &put) == 0);
  pthread_join(thread, NULL);

  /* An extra reference: the pool releases the page to its other holder. */
  page = ppool_alloc_pages(pool);
  ppool_get_page(page);
  ppool_pool_put_page(pool, page, PPOOL_PAGE_SIZE, true);
  ppool_put_page(page); /* the last reference frees it */

  /* Code that knows no pools: the page goes home. */
  ppool_put_page(ppool_alloc_pages(pool));

  /* Released: a plain page, freed by its last put. */
  page = ppool_alloc_pages(pool);
  ppool_release_page(pool, page);
  CHECK(ppool_page_pool_of(page) == NULL);
  ppool_put_page(page);

  ppool_pool_get_stats(pool, &stats);
  CHECK_STAT(stats.recycle_ring == 1);
  CHECK_STAT(stats.recycle_released_refcnt == 1);
  CHECK(ppool_pool_destroy(pool) == 0);
}

static void test_dma_debug_and_sync(void) {
  struct ppool_dma_device* dev = NULL;
  struct ppool_pool_params params;
  struct ppool_pool* pool = NULL;
  struct ppool_page* page;
  CHECK(ppool_dma_debug_create(NULL, &dev) == -EINVAL);
  CHECK(strstr(ppool_last_error(), "inner") != NULL);
  CHECK(ppool_dma_debug_create(ppool_dma_identity(), &dev) == 0);
  ppool_pool_params_init(&params);
  params.flags = PPOOL_F_DMA_MAP | PPOOL_F_DMA_SYNC_DEV;
  params.dev = dev;
  params.offset = 256;
  params.max_len = PPOOL_PAGE_SIZE - 256;
  params.name = "capi sync";
  CHECK(ppool_pool_create(&params, &pool) == 0);
  page = ppool_alloc_pages(pool);
  ppool_dma_sync_for_cpu(pool, page, 0, 128); /* inside the mapping: no finding */
  ppool_pool_put_page(pool, page, 256 + 128, true);
  CHECK(ppool_pool_destroy(pool) == 0);
  CHECK(ppool_dma_debug_close(dev) == 0); /* every mapping was undone */
  CHECK(ppool_dma_debug_errors(dev) == 0);
  ppool_dma_debug_destroy(dev);
}

static void test_limits_and_watermarks(void) {
  struct ppool_pool_params params;
  struct ppool_pool* pool = NULL;
  struct ppool_pool_extra_stats extra;
  struct ppool_page* pages[300];
  struct pollfd pfd;
  uint64_t count;
  size_t n = 0, i;
  ppool_pool_params_init(&params);
  params.max_inflight = 128;
  params.name = "capi limit";
  CHECK(ppool_pool_create(&params, &pool) == 0);
  CHECK(ppool_pool_watermark_fd(pool) == -1);
  while (n < 300 && (pages[n] = ppool_alloc_pages(pool)) != NULL) n++;
  CHECK(n == 128);
  ppool_pool_get_extra_stats(pool, &extra);
  CHECK(extra.alloc_limited >= 1 && extra.inflight_peak == 128);
  CHECK(extra.inflight_mem == 128 * PPOOL_PAGE_SIZE);
  CHECK(ppool_pool_alloc_failures(pool) >= 1);
  ppool_put_page_bulk(pages, n);
  CHECK(ppool_pool_destroy(pool) == 0);

  ppool_pool_params_init(&params);
  params.inflight_high = 128;
  params.inflight_low = 32;
  params.name = "capi watermarks";
  CHECK(ppool_pool_create(&params, &pool) == 0);
  pfd.fd = ppool_pool_watermark_fd(pool);
  pfd.events = POLLIN;
  CHECK(pfd.fd >= 0 && !ppool_pool_above_high_watermark(pool));
  for (n = 0; n < 300; n++) CHECK((pages[n] = ppool_alloc_pages(pool)) != NULL);
  CHECK(ppool_pool_above_high_watermark(pool));
  CHECK(poll(&pfd, 1, 0) == 1 && read(pfd.fd, &count, sizeof count) == sizeof count);
  for (i = 0; i < n; i++) ppool_recycle_direct(pool, pages[i]);
  CHECK(!ppool_pool_above_high_watermark(pool));
  CHECK(poll(&pfd, 1, 0) == 1);
  CHECK(ppool_pool_destroy(pool) == 0);
}

static void test_allocators_and_regions(void) {
  struct ppool_allocator_opts opts;
  struct ppool_allocator* allocator = NULL;
  struct ppool_allocator_stats astats;
  struct ppool_pool_params params;
  struct ppool_pool* pool = NULL;
  struct ppool_page* page;
  uint64_t offset;
  struct ppool_allocator* node = ppool_allocator_for_node(PPOOL_NO_NODE, PPOOL_BACKING_4K);
  CHECK(node != NULL && ppool_allocator_backing(node) == PPOOL_BACKING_4K);
  CHECK(strcmp(ppool_backing_name(PPOOL_BACKING_HUGETLB_2M), "hugetlb-2m") == 0);
  CHECK(ppool_region_fd(node) == -1 && ppool_region_base(node) == NULL);
  CHECK(ppool_region_size(node) == 0 && ppool_region_page_at(node, 0) == NULL);

  ppool_allocator_opts_init(&opts);
  CHECK(opts.nid == PPOOL_NO_NODE && opts.backing == PPOOL_BACKING_4K && !opts.shared);
  opts.shared = true;
  opts.max_bytes = 0; /* a region needs a size */
  CHECK(ppool_allocator_create(&opts, &allocator) == -EINVAL);
  CHECK(strstr(ppool_last_error(), "max_bytes") != NULL);
  opts.max_bytes = (size_t)8 << 20;
  CHECK(ppool_allocator_create(&opts, &allocator) == 0);
  CHECK(ppool_region_fd(allocator) >= 0 && ppool_region_base(allocator) != NULL);
  CHECK(ppool_region_size(allocator) >= opts.max_bytes);

  ppool_pool_params_init(&params);
  params.allocator = allocator;
  params.name = "capi region";
  CHECK(ppool_pool_create(&params, &pool) == 0);
  page = ppool_alloc_pages(pool);
  offset = ppool_region_offset(allocator, page);
  CHECK(offset < ppool_region_size(allocator) && offset % PPOOL_PAGE_SIZE == 0);
  CHECK(ppool_region_page_at(allocator, offset) == page);
  CHECK((char*)ppool_region_base(allocator) + offset == ppool_page_address(page));
  ppool_allocator_get_stats(allocator, &astats);
  CHECK(astats.committed_bytes > 0 && astats.alloc_failures == 0);
  ppool_recycle_direct(pool, page);
  CHECK(ppool_pool_destroy(pool) == 0);
  ppool_allocator_destroy(allocator);
}

static void test_registry_and_holders(void) {
  struct ppool_pool* pool = make_pool("capi registry");
  struct ppool_pool_info info, many[64];
  struct ppool_holder_group groups[4];
  struct ppool_page* page;
  uint64_t pages = 0;
  size_t count, i, found = 0;
  char* name;
  ppool_pool_bind_owner(pool); /* a hand-over to the same thread */
  ppool_pool_nid_changed(pool, ppool_pool_nid(pool));
  page = ppool_alloc_pages(pool);

  count = ppool_list_pools(NULL, 0);
  CHECK(count >= 1 && count <= 64);
  CHECK(ppool_list_pools(many, 64) == count);
  for (i = 0; i < count && i < 64; i++)
    if (many[i].id == ppool_pool_id(pool)) found++;
  CHECK(found == 1);
  CHECK(ppool_find_pool(ppool_pool_id(pool), &info) == 0);
  CHECK(strcmp(info.name, "capi registry") == 0 && strcmp(info.dma_device, "identity") == 0);
  CHECK(info.inflight >= 1 && info.detach_time_s == 0);
  CHECK_STAT(info.stats.alloc_slow == 1);
  CHECK(ppool_find_pool(0xfffffff0u, &info) == -ENOENT);

  ppool_set_page_holder(page, 7);
  CHECK(ppool_page_holder(page) == 7);
  ppool_name_holder(7, "socket 7");
  name = ppool_holder_name(7);
  CHECK(name && strcmp(name, "socket 7") == 0);
  free(name);
  CHECK(ppool_pool_holders(ppool_pool_id(pool), groups, 4, &pages) == 1);
  CHECK(groups[0].holder == 7 && groups[0].pages == 1 && pages == 1);
  CHECK(ppool_pool_holders(0xfffffff0u, groups, 4, NULL) == -ENOENT);
  ppool_name_holder(7, NULL);
  name = ppool_holder_name(7);
  CHECK(name && name[0] == '\0');
  free(name);

  ppool_recycle_direct(pool, page);
  ppool_set_stall_report_interval(60);
  CHECK(ppool_pool_destroy(pool) == 0);
  CHECK(ppool_pools_pending_release() == 0);
}

static void test_telemetry(void) {
  char dir[] = "/tmp/ppool-capi-XXXXXX", path[64], id[32];
  struct ppool_pool* pool;
  char* text;
  CHECK(mkdtemp(dir) != NULL);
  snprintf(path, sizeof path, "%s/ppool-capi.sock", dir);
  pool = make_pool("capi telemetry");
  snprintf(id, sizeof id, "%u", ppool_pool_id(pool));
  text = ppool_telemetry_path();
  CHECK(text && text[0] == '\0');
  free(text);
  CHECK(ppool_telemetry_start(path) == 0);
  CHECK(ppool_telemetry_start(path) == -EINVAL); /* already started */
  CHECK(strstr(ppool_last_error(), path) != NULL);
  text = ppool_telemetry_path();
  CHECK(text && strcmp(text, path) == 0);
  free(text);
  text = ppool_telemetry_command("/ppool/list");
  CHECK(text && strstr(text, id) != NULL);
  free(text);
  text = ppool_prometheus_text();
  CHECK(text && strstr(text, "ppool_inflight") != NULL);
  CHECK(text && (strstr(text, "ppool_alloc_fast_total") != NULL) == ppool_stats_enabled());
  free(text);
  ppool_telemetry_stop();
  CHECK(access(path, F_OK) != 0); /* the socket file is gone */
  CHECK(ppool_telemetry_start(NULL) == -EINVAL);
  CHECK(ppool_pool_destroy(pool) == 0);
  rmdir(dir);
}

int main(void) {
  test_params_and_errors();
  test_alloc_put();
  test_bulk();
  test_fragments();
  test_misuse();
  test_remote_and_generic_put();
  test_dma_debug_and_sync();
  test_limits_and_watermarks();
  test_allocators_and_regions();
  test_registry_and_holders();
  test_telemetry();
  if (g_failures) {
    fprintf(stderr, "test_capi: %d check(s) failed\n", g_failures);
    return 1;
  }
  printf("test_capi: every check passed\n");
  return 0;
}
