// The telemetry endpoint (ppool/telemetry.h) over a real Unix socket: the
// hello, every command's reply, errors naming what was wrong, clients that
// go away, start and stop, the socket file's life, and reads racing the
// owner's counters.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "pool/telemetry_commands.h"
#include "ppool/holder.h"
#include "ppool/page_pool.h"
#include "ppool/registry.h"
#include "ppool/telemetry.h"
#include "stat/printable.h"
#include "support/pool_fixtures.h"
#include "support/stats.h"
#include "support/telemetry.h"  // the programs' (tools/support)
#include "telemetry/json.h"
#include "telemetry/telemetry_support.h"

namespace {

using ppool::test::command_json;
using ppool::test::error_of;
using ppool::test::JsonValue;
using ppool::test::RawClient;
using ppool::test::TempDir;

// The kernel's eleven counters by name, read from the struct (not through
// to_json(), which the endpoint itself uses).
struct Counter {
  const char* name;
  std::uint64_t (*get)(const ppool::PagePoolStats&);
};
constexpr Counter kCounters[] = {
    {"alloc_fast", [](const ppool::PagePoolStats& s) { return s.alloc.fast; }},
    {"alloc_slow", [](const ppool::PagePoolStats& s) { return s.alloc.slow; }},
    {"alloc_slow_high_order",
     [](const ppool::PagePoolStats& s) { return s.alloc.slow_high_order; }},
    {"alloc_empty", [](const ppool::PagePoolStats& s) { return s.alloc.empty; }},
    {"alloc_refill", [](const ppool::PagePoolStats& s) { return s.alloc.refill; }},
    {"alloc_waive", [](const ppool::PagePoolStats& s) { return s.alloc.waive; }},
    {"recycle_cached", [](const ppool::PagePoolStats& s) { return s.recycle.cached; }},
    {"recycle_cache_full", [](const ppool::PagePoolStats& s) { return s.recycle.cache_full; }},
    {"recycle_ring", [](const ppool::PagePoolStats& s) { return s.recycle.ring; }},
    {"recycle_ring_full", [](const ppool::PagePoolStats& s) { return s.recycle.ring_full; }},
    {"recycle_released_refcnt",
     [](const ppool::PagePoolStats& s) { return s.recycle.released_refcnt; }},
};

constexpr std::size_t kRing = 8;  // recycle_ring: it counts in every build
static_assert(std::string_view(kCounters[kRing].name) == "recycle_ring");

std::uint64_t number(const JsonValue& object, std::string_view key) {
  const JsonValue* v = object.get(key);
  EXPECT_TRUE(v && v->u64()) << key << " in " << object.dump();
  return v && v->u64() ? *v->u64() : 0;
}

std::string cmd(std::string_view name, std::uint32_t id) {
  std::string text(name);
  text += ',';
  return text += std::to_string(id);
}

class TelemetryTest : public ::testing::Test {
 protected:
  void TearDown() override {
    ppool::telemetry_stop();
    for (ppool::PagePool* pool : pools_) EXPECT_EQ(ppool::PagePool::destroy(pool), 0u);
  }

  // A pool with the default params but its name and queue; destroyed by
  // TearDown (every page must be back by then).
  ppool::PagePool* pool(const std::string& name, unsigned queue = 0) {
    ppool::PagePoolParams params;
    params.name = name;
    params.queue = queue;
    auto created = ppool::PagePool::create(params);
    EXPECT_TRUE(created) << (created ? "" : created.error().message);
    if (!created) return nullptr;
    pools_.push_back(created.value());
    return created.value();
  }

  // Moves the counters: allocations from the page allocator and the cache,
  // recycles into the cache and, from another thread, into the ring.
  static void churn(ppool::PagePool* p, int n) {
    std::vector<ppool::Page*> pages;
    for (int i = 0; i < n; ++i) pages.push_back(p->alloc_pages());
    for (int i = 0; i < n / 2; ++i) p->recycle_direct(pages[i]);
    std::thread([&] {
      for (int i = n / 2; i < n; ++i) p->put_full_page(pages[i], /*allow_direct=*/false);
    }).join();
    for (int i = 0; i < n; ++i) p->recycle_direct(p->alloc_pages());
  }

  // Starts the endpoint at the temp directory's socket.
  std::string start() {
    const std::string path = dir_.socket();
    const ppool::Result<void> started = ppool::telemetry_start(path);
    EXPECT_TRUE(started) << started.error().message;
    return path;
  }

  TempDir dir_;
  std::vector<ppool::PagePool*> pools_;
};

TEST_F(TelemetryTest, HelloThenOneReplyPerCommand) {
  const std::string path = start();
  EXPECT_EQ(ppool::telemetry_path(), path);
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u) << "owner-only";

  RawClient c(path);
  ASSERT_TRUE(c.connected()) << std::strerror(c.connect_errno());
  const JsonValue hello = RawClient::parse(c.receive());
  EXPECT_EQ(number(hello, "pid"), static_cast<std::uint64_t>(getpid()));
  EXPECT_GE(number(hello, "max_output_len"), 16384u);
  ASSERT_TRUE(hello.get("version"));
  EXPECT_TRUE(hello.get("version")->text.starts_with("ppool ")) << hello.dump();

  const JsonValue commands = c.ask("/");
  ASSERT_TRUE(commands.get("/")) << commands.dump();
  std::vector<std::string> names;
  for (const JsonValue& v : commands.get("/")->items) names.push_back(v.text);
  for (const char* expected : {"/", "/info", "/ppool/list", "/ppool/info", "/ppool/stats",
                               "/ppool/holders", "/ppool/prometheus"})
    EXPECT_NE(std::find(names.begin(), names.end(), expected), names.end()) << expected;

  const JsonValue info = c.ask("/info");
  ASSERT_TRUE(info.get("/info")) << info.dump();
  EXPECT_EQ(info.get("/info")->dump(), hello.dump()) << "/info is the hello";
  ASSERT_TRUE(hello.get("stats")) << hello.dump();
  EXPECT_EQ(hello.get("stats")->text, ppool::test::kStatsCompiledIn ? "on" : "compiled out");
}

TEST_F(TelemetryTest, ListInfoAndStatsMatchThePools) {
  ppool::PagePool* a = pool("tele-a", 2);
  ppool::PagePool* b = pool("tele-b", 5);
  ASSERT_TRUE(a && b);
  churn(a, 40);
  churn(b, 3);
  ppool::Page* held = a->alloc_pages();  // a page out with a user
  const std::string path = start();
  RawClient c(path);
  ASSERT_TRUE(c.connected());
  c.receive();  // the hello

  const JsonValue list = c.ask("/ppool/list");
  ASSERT_TRUE(list.get("/ppool/list")) << list.dump();
  std::vector<std::uint64_t> ids;
  for (const JsonValue& v : list.get("/ppool/list")->items) ids.push_back(*v.u64());
  EXPECT_NE(std::find(ids.begin(), ids.end(), a->id()), ids.end());
  EXPECT_NE(std::find(ids.begin(), ids.end(), b->id()), ids.end());

  const JsonValue reply = c.ask(cmd("/ppool/info", a->id()));
  const JsonValue* info = reply.get("/ppool/info");
  ASSERT_TRUE(info) << reply.dump();
  EXPECT_EQ(number(*info, "id"), a->id());
  EXPECT_EQ(info->get("name")->text, "tele-a");
  EXPECT_EQ(number(*info, "queue"), 2u);
  EXPECT_EQ(info->get("nid")->i64(), a->nid());
  EXPECT_EQ(number(*info, "order"), 0u);
  EXPECT_EQ(info->get("dma_device")->text, "") << "no DMA device";
  EXPECT_GT(number(*info, "created_ns"), 0u);
  EXPECT_EQ(number(*info, "detach_time"), 0u) << "live";
  // The kernel's inflight: pages taken from the page allocator and not yet
  // given back, those in the cache and the ring included.
  EXPECT_EQ(number(*info, "inflight"), a->inflight());
  EXPECT_GE(number(*info, "inflight"), 1u);
  EXPECT_EQ(number(*info, "inflight_mem"), a->inflight() * ppool::kPageSize);

  ASSERT_TRUE(info->get("stats")) << info->dump();
  EXPECT_EQ(info->get("stats")->text, ppool::test::kStatsCompiledIn ? "on" : "compiled out");

  for (ppool::PagePool* p : {a, b}) {
    const JsonValue s = c.ask(cmd("/ppool/stats", p->id()));
    const JsonValue* stats = s.get("/ppool/stats");
    ASSERT_TRUE(stats) << s.dump();
    if (!ppool::test::kStatsCompiledIn) {
      // Not eleven numbers of which eight read 0 whatever the pool does.
      EXPECT_EQ(stats->dump(), "{\"stats\": \"compiled out\"}");
      continue;
    }
    EXPECT_EQ(stats->keys.size(), 11u) << "the kernel's eleven, nothing else";
    const ppool::PagePoolStats expected = p->stats();
    for (const Counter& counter : kCounters)
      EXPECT_EQ(number(*stats, counter.name), counter.get(expected)) << counter.name;
  }
  PPOOL_IF_STATS {
    const JsonValue s = c.ask(cmd("/ppool/stats", a->id()));
    EXPECT_GT(number(*s.get("/ppool/stats"), "recycle_ring"), 0u);
    EXPECT_GT(number(*s.get("/ppool/stats"), "alloc_slow"), 0u);
    EXPECT_GT(number(*s.get("/ppool/stats"), "alloc_fast"), 0u);
    EXPECT_GT(number(*s.get("/ppool/stats"), "recycle_cached"), 0u);
  }
  a->recycle_direct(held);
}

TEST_F(TelemetryTest, HoldersGroupTaggedPages) {
  ppool::PagePool* p = pool("tele-holders");
  ASSERT_TRUE(p);
  std::vector<ppool::Page*> pages;
  for (int i = 0; i < 5; ++i) pages.push_back(p->alloc_pages());
  for (int i = 0; i < 3; ++i) ppool::set_page_holder(pages[i], 4242);
  ppool::name_holder(4242, "socket \"42\"");
  const JsonValue reply = command_json(cmd("/ppool/holders", p->id()));
  const JsonValue* report = reply.get("/ppool/holders");
  ASSERT_TRUE(report) << reply.dump();
  EXPECT_EQ(number(*report, "pool_id"), p->id());
  EXPECT_EQ(number(*report, "pages"), 5u);
  EXPECT_EQ(number(*report, "age_ms"), 0u) << "a fresh scan";
  const JsonValue* holders = report->get("holders");
  ASSERT_TRUE(holders && holders->items.size() == 2) << report->dump();
  const JsonValue& top = holders->items[0];  // most pages first
  EXPECT_EQ(number(top, "holder"), 4242u);
  EXPECT_EQ(top.get("name")->text, "socket \"42\"");
  EXPECT_EQ(number(top, "pages"), 3u);
  number(top, "oldest_age_ms");
  EXPECT_EQ(number(holders->items[1], "holder"), 0u) << "the untagged pages";
  EXPECT_EQ(number(holders->items[1], "pages"), 2u);
  for (ppool::Page* page : pages) p->recycle_direct(page);
  ppool::name_holder(4242, "");
}

TEST_F(TelemetryTest, ErrorsNameTheCommandOrTheId) {
  ppool::PagePool* p = pool("tele-errors");
  ASSERT_TRUE(p);
  const std::string path = start();
  RawClient c(path);
  ASSERT_TRUE(c.connected());
  c.receive();
  EXPECT_NE(error_of(c.ask("/nope")).find("/nope"), std::string::npos);
  EXPECT_NE(error_of(c.ask("/ppool/info")).find("/ppool/info,ID"), std::string::npos);
  EXPECT_NE(error_of(c.ask("/ppool/stats,abc")).find("'abc'"), std::string::npos);
  EXPECT_NE(error_of(c.ask("/ppool/stats,-1")).find("'-1'"), std::string::npos);
  EXPECT_NE(error_of(c.ask("/ppool/holders,99999999999")).find("99999999999"), std::string::npos);
  EXPECT_NE(error_of(c.ask("/ppool/stats,4000000000")).find("4000000000"), std::string::npos);
  EXPECT_NE(error_of(c.ask("/ppool/list,3")).find("no parameter"), std::string::npos);
  // Quotes and control characters in a bad command come back escaped.
  EXPECT_NE(error_of(c.ask("/x\"\\\n")).find("/x\"\\\n"), std::string::npos);
  EXPECT_NE(error_of(c.ask(std::string(5000, 'x'))).find("longer than"), std::string::npos);
  // And the connection still answers.
  EXPECT_TRUE(c.ask(cmd("/ppool/info", p->id())).get("/ppool/info"));
}

// A failed command is keyed by its name to null, as DPDK's server answers
// ({"/nope": null}): a client reading the reply's NAME, as DPDK's do, finds
// null; the message is beside it.
TEST_F(TelemetryTest, ErrorsAreKeyedByTheCommandToNullAsDpdkAnswers) {
  ppool::PagePool* p = pool("tele-dpdk-errors");
  ASSERT_TRUE(p);
  EXPECT_EQ(ppool::telemetry_command("/nope"),
            "{\"/nope\": null, \"error\": \"unknown command '/nope' (/ lists the commands)\"}");
  for (const char* bad : {"/nope,1", "/ppool/info", "/ppool/info,abc", "/ppool/stats,99999999",
                          "/ppool/list,3", "/x\"\\\n"}) {
    const JsonValue reply = command_json(bad);
    const std::string name = std::string(bad).substr(0, std::string(bad).find(','));
    const JsonValue* value = reply.get(name);
    ASSERT_TRUE(value) << bad << ": " << reply.dump();
    EXPECT_TRUE(value->is(JsonValue::Kind::kNull)) << bad << ": " << reply.dump();
    EXPECT_FALSE(error_of(reply).empty()) << bad;
  }
  // A command named "error" would have the key twice: the message alone.
  EXPECT_EQ(ppool::telemetry_command("error"),
            "{\"error\": \"unknown command 'error' (/ lists the commands)\"}");
  // A success is unchanged: the command's key, no "error".
  const JsonValue ok = command_json(cmd("/ppool/info", p->id()));
  EXPECT_TRUE(ok.get("/ppool/info") && !ok.get("error")) << ok.dump();
}

// RUNTIME_DIRECTORY set for one test, restored after.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_)
      setenv(name_, old_->c_str(), 1);
    else
      unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// "dpdk:PREFIX" listens where DPDK's clients look: RUNTIME_DIR/dpdk/PREFIX/
// dpdk_telemetry.v2, the directories made 0700; "dpdk" is prefix rte.
TEST_F(TelemetryTest, DpdkNamesTheSocketDpdkClientsFind) {
  ScopedEnv env("RUNTIME_DIRECTORY", dir_.socket("run"));
  ASSERT_EQ(mkdir(dir_.socket("run").c_str(), 0700), 0);
  const std::string expected = dir_.socket("run/dpdk/ppool-test/dpdk_telemetry.v2");
  ASSERT_TRUE(ppool::telemetry_start("dpdk:ppool-test"));
  EXPECT_EQ(ppool::telemetry_path(), expected);
  for (const char* d : {"run/dpdk", "run/dpdk/ppool-test"}) {
    struct stat st;
    ASSERT_EQ(lstat(dir_.socket(d).c_str(), &st), 0) << d;
    EXPECT_EQ(st.st_mode & 07777, 0700u) << d;
  }
  RawClient c(expected);
  ASSERT_TRUE(c.connected());
  EXPECT_TRUE(RawClient::parse(c.receive()).get("max_output_len"));
  EXPECT_TRUE(c.ask("/ppool/list").get("/ppool/list"));
  ppool::telemetry_stop();
  struct stat st;
  EXPECT_NE(lstat(expected.c_str(), &st), 0) << "the socket outlived telemetry_stop()";

  ASSERT_TRUE(ppool::telemetry_start("dpdk"));
  EXPECT_EQ(ppool::telemetry_path(), dir_.socket("run/dpdk/rte/dpdk_telemetry.v2"));
  ppool::telemetry_stop();

  for (const char* bad : {"dpdk:", "dpdk:a/b", "dpdk:..", "dpdk:."}) {
    const ppool::Result<void> started = ppool::telemetry_start(bad);
    ASSERT_FALSE(started) << bad;
    EXPECT_EQ(started.error().code, ppool::Errc::kInvalidArgument);
    EXPECT_NE(started.error().message.find("PREFIX"), std::string::npos) << started.error().message;
  }
  // A prefix directory others may write to is refused, and kept.
  ASSERT_EQ(mkdir(dir_.socket("run/dpdk/open").c_str(), 0700), 0);
  ASSERT_EQ(chmod(dir_.socket("run/dpdk/open").c_str(), 0777), 0);
  const ppool::Result<void> open = ppool::telemetry_start("dpdk:open");
  ASSERT_FALSE(open);
  EXPECT_NE(open.error().message.find("writable by others"), std::string::npos)
      << open.error().message;
  EXPECT_EQ(ppool::telemetry_path(), "");
}

TEST_F(TelemetryTest, CommandsNeedNoEndpoint) {
  ppool::PagePool* p = pool("tele-direct");
  ASSERT_TRUE(p);
  EXPECT_EQ(ppool::telemetry_path(), "");
  EXPECT_TRUE(command_json(cmd("/ppool/stats", p->id())).get("/ppool/stats"));
  EXPECT_NE(error_of(command_json("")).find("unknown command ''"), std::string::npos);
}

TEST_F(TelemetryTest, ClientsThatGoAwayLeaveTheServerRunning) {
  ppool::PagePool* p = pool("tele-gone");
  ASSERT_TRUE(p);
  const std::string path = start();
  {
    RawClient rude(path);  // closes before reading the hello
    ASSERT_TRUE(rude.connected());
  }
  {
    RawClient rude(path);  // asks for the largest reply and goes
    ASSERT_TRUE(rude.connected());
    for (int i = 0; i < 20; ++i) rude.send_text("/ppool/prometheus");
  }
  {
    RawClient half(path);  // shuts its side mid-way
    ASSERT_TRUE(half.connected());
    half.send_text("/ppool/list");
    shutdown(half.fd(), SHUT_RDWR);
  }
  std::vector<std::unique_ptr<RawClient>> many;
  for (int i = 0; i < 8; ++i) many.push_back(std::make_unique<RawClient>(path));
  for (auto& c : many) {
    ASSERT_TRUE(c->connected());
    c->receive();
  }
  for (auto& c : many) EXPECT_TRUE(c->ask("/ppool/list").get("/ppool/list"));
  RawClient after(path);
  ASSERT_TRUE(after.connected());
  EXPECT_TRUE(RawClient::parse(after.receive()).get("pid"));
  EXPECT_TRUE(after.ask(cmd("/ppool/stats", p->id())).get("/ppool/stats"));
}

TEST_F(TelemetryTest, ClientsPastTheLimitAreToldSo) {
  const std::string path = start();
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < 64; ++i) {
    clients.push_back(std::make_unique<RawClient>(path));
    ASSERT_TRUE(clients.back()->connected());
    ASSERT_TRUE(RawClient::parse(clients.back()->receive()).get("pid"));
  }
  RawClient extra(path);
  ASSERT_TRUE(extra.connected());
  EXPECT_NE(error_of(RawClient::parse(extra.receive())).find("too many clients"),
            std::string::npos);
  clients.pop_back();  // one leaves: the next one is served
  ASSERT_TRUE(ppool::test::wait_for(
      [&] {
        RawClient c(path);
        return c.connected() && RawClient::parse(c.receive()).get("pid") != nullptr;
      },
      std::chrono::seconds(5)));
}

TEST_F(TelemetryTest, StopRemovesTheSocketAndStartsAgain) {
  const std::string path = start();
  ppool::telemetry_stop();
  EXPECT_EQ(ppool::telemetry_path(), "");
  struct stat st;
  EXPECT_NE(lstat(path.c_str(), &st), 0) << "the socket file is removed";
  RawClient refused(path);
  EXPECT_FALSE(refused.connected());
  ppool::telemetry_stop();  // stopping again does nothing
  start();
  RawClient c(path);
  EXPECT_TRUE(c.connected());
}

TEST_F(TelemetryTest, StartTwiceIsRefusedNamingTheRunningPath) {
  const std::string path = start();
  for (const std::string& again : {path, dir_.socket("ppool-other.sock")}) {
    const ppool::Result<void> started = ppool::telemetry_start(again);
    ASSERT_FALSE(started);
    EXPECT_EQ(started.error().code, ppool::Errc::kInvalidArgument);
    EXPECT_NE(started.error().message.find(path), std::string::npos) << started.error().message;
  }
  EXPECT_EQ(ppool::telemetry_path(), path);
  RawClient c(path);
  EXPECT_TRUE(c.connected()) << "the first endpoint still answers";
}

// A socket file left by a process that died: nothing listens there.
TEST_F(TelemetryTest, StaleSocketFileIsReplaced) {
  const std::string path = dir_.socket();
  const int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
  const sockaddr_un addr = ppool::test::unix_address(path);
  ASSERT_EQ(bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
  close(fd);
  start();
  RawClient c(path);
  ASSERT_TRUE(c.connected());
  EXPECT_TRUE(RawClient::parse(c.receive()).get("pid"));
}

TEST_F(TelemetryTest, LiveSocketOrOtherFileIsLeftAlone) {
  const std::string path = dir_.socket();
  const int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
  const sockaddr_un addr = ppool::test::unix_address(path);
  ASSERT_EQ(bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  ppool::Result<void> started = ppool::telemetry_start(path);
  ASSERT_FALSE(started);
  EXPECT_NE(started.error().message.find(path), std::string::npos) << started.error().message;
  EXPECT_NE(started.error().message.find("answers"), std::string::npos) << started.error().message;
  EXPECT_EQ(ppool::telemetry_path(), "");
  RawClient still(path);
  EXPECT_TRUE(still.connected()) << "the other listener's socket file is kept";
  close(fd);

  const std::string file = dir_.socket("ppool-file.sock");
  std::ofstream(file) << "not a socket";
  started = ppool::telemetry_start(file);
  ASSERT_FALSE(started);
  EXPECT_NE(started.error().message.find("not a socket"), std::string::npos)
      << started.error().message;
  std::ifstream kept(file);
  std::string text;
  std::getline(kept, text);
  EXPECT_EQ(text, "not a socket");
}

TEST_F(TelemetryTest, UnusablePathsAreRefusedByName) {
  const std::string long_path = std::string("/tmp/") + std::string(200, 'p') + ".sock";
  ppool::Result<void> started = ppool::telemetry_start(long_path);
  ASSERT_FALSE(started);
  EXPECT_EQ(started.error().code, ppool::Errc::kInvalidArgument);
  EXPECT_NE(started.error().message.find(long_path), std::string::npos) << started.error().message;
  started = ppool::telemetry_start("");
  ASSERT_FALSE(started);
  EXPECT_EQ(started.error().code, ppool::Errc::kInvalidArgument);
  const std::string missing_dir = dir_.socket("no/such/dir/ppool.sock");
  started = ppool::telemetry_start(missing_dir);
  ASSERT_FALSE(started);
  EXPECT_EQ(started.error().code, ppool::Errc::kInvalidArgument);
  EXPECT_NE(started.error().message.find(missing_dir), std::string::npos)
      << started.error().message;
  EXPECT_EQ(ppool::telemetry_path(), "");
}

// The owner allocates and recycles flat out while other threads read its
// counters through the endpoint: every read is whole (ThreadSanitizer
// checks the reads race nothing) and no counter ever goes backwards.
TEST_F(TelemetryTest, CountersReadWhileTheOwnerRunsNeverGoBack) {
  PPOOL_REQUIRE_STATS();
  const std::string path = start();
  std::atomic<std::uint32_t> id{0};
  std::atomic<bool> stop{false};
  std::thread owner([&] {
    ppool::PagePoolParams params;
    params.name = "tele-race";
    auto created = ppool::PagePool::create(params);
    ASSERT_TRUE(created);
    ppool::PagePool* p = created.value();
    id = p->id();
    ppool::Page* pages[16];
    while (!stop.load(std::memory_order_relaxed)) {
      for (ppool::Page*& page : pages) page = p->alloc_pages();
      for (int i = 0; i < 8; ++i) p->recycle_direct(pages[i]);
      std::thread([&] {
        for (int i = 8; i < 16; ++i) p->put_full_page(pages[i], false);
      }).join();
    }
    EXPECT_EQ(ppool::PagePool::destroy(p), 0u);
  });
  while (id == 0) std::this_thread::yield();

  auto reader = [&](bool through_socket) {
    std::vector<std::uint64_t> last(std::size(kCounters), 0);
    RawClient c(path);
    if (through_socket) c.receive();
    // 300 reads at least, and on until the owner's ring puts show (its
    // first may come after 300 fast reads).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    for (int round = 0;
         round < 300 || (last[kRing] == 0 && std::chrono::steady_clock::now() < deadline);
         ++round) {
      const std::string command = cmd("/ppool/stats", id);
      const JsonValue reply = through_socket ? c.ask(command) : command_json(command);
      const JsonValue* stats = reply.get("/ppool/stats");
      ASSERT_TRUE(stats) << reply.dump();
      for (std::size_t i = 0; i < std::size(kCounters); ++i) {
        const std::uint64_t now = number(*stats, kCounters[i].name);
        ASSERT_GE(now, last[i]) << kCounters[i].name << " went backwards";
        last[i] = now;
      }
    }
    EXPECT_GT(last[kRing], 0u) << "recycle_ring moved";
  };
  std::thread socket_reader(reader, true);
  reader(false);
  socket_reader.join();
  stop = true;
  owner.join();
}

// A client asking for a pool's holders in a loop gets the last result again,
// with its age, until the interval has passed: no scan each time. The
// interval is set to an hour here so that the check does not depend on how
// fast the machine is; the pages taken between the two requests show only
// once it is lifted.
TEST_F(TelemetryTest, HoldersWithinTheIntervalAreServedAgainNotScanned) {
  ppool::PagePool* p = pool("tele-throttle");
  ASSERT_TRUE(p);
  ppool::detail::set_holder_scan_interval(std::chrono::hours(1));
  std::vector<ppool::Page*> pages;
  for (int i = 0; i < 3; ++i) pages.push_back(p->alloc_pages());
  const JsonValue first = command_json(cmd("/ppool/holders", p->id()));
  ASSERT_TRUE(first.get("/ppool/holders")) << first.dump();
  EXPECT_EQ(number(*first.get("/ppool/holders"), "pages"), 3u);
  EXPECT_EQ(number(*first.get("/ppool/holders"), "age_ms"), 0u);
  for (int i = 0; i < 2; ++i) pages.push_back(p->alloc_pages());
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const JsonValue again = command_json(cmd("/ppool/holders", p->id()));
  ASSERT_TRUE(again.get("/ppool/holders")) << again.dump();
  EXPECT_EQ(number(*again.get("/ppool/holders"), "pages"), 3u) << "the kept result, not a scan";
  EXPECT_GE(number(*again.get("/ppool/holders"), "age_ms"), 20u) << "and how old it is";
  ppool::detail::set_holder_scan_interval(std::chrono::milliseconds(0));
  const JsonValue fresh = command_json(cmd("/ppool/holders", p->id()));
  EXPECT_EQ(number(*fresh.get("/ppool/holders"), "pages"), 5u);
  EXPECT_EQ(number(*fresh.get("/ppool/holders"), "age_ms"), 0u);
  ppool::detail::set_holder_scan_interval(std::chrono::milliseconds(100));
  for (ppool::Page* page : pages) p->recycle_direct(page);
}

// Scans of different pools are spaced by the interval too: the second
// request waits its turn (a lower bound on the time, which a slow machine
// only lengthens).
TEST_F(TelemetryTest, HolderScansOfDifferentPoolsWaitTheirTurn) {
  ppool::PagePool* a = pool("tele-spaced-a");
  ppool::PagePool* b = pool("tele-spaced-b");
  ASSERT_TRUE(a && b);
  ppool::detail::set_holder_scan_interval(std::chrono::milliseconds(300));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(command_json(cmd("/ppool/holders", a->id())).get("/ppool/holders"));
  const JsonValue second = command_json(cmd("/ppool/holders", b->id()));
  const auto waited = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(second.get("/ppool/holders")) << second.dump();
  EXPECT_EQ(number(*second.get("/ppool/holders"), "age_ms"), 0u) << "a scan of its own";
  EXPECT_GE(waited, std::chrono::milliseconds(300)) << "the second scan did not wait its turn";
  ppool::detail::set_holder_scan_interval(std::chrono::milliseconds(100));
}

// A stale socket file of another user is not ours to remove: it may be
// bait, and the endpoint refuses the path naming the owner.
TEST_F(TelemetryTest, StaleSocketOfAnotherUserIsKept) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to make a file of another user (chown)";
  const std::string path = dir_.socket();
  const int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
  const sockaddr_un addr = ppool::test::unix_address(path);
  ASSERT_EQ(bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
  close(fd);
  ASSERT_EQ(chown(path.c_str(), 65534, 65534), 0) << std::strerror(errno);
  const ppool::Result<void> started = ppool::telemetry_start(path);
  ASSERT_FALSE(started) << "another user's socket file was replaced";
  EXPECT_NE(started.error().message.find(path), std::string::npos) << started.error().message;
  EXPECT_NE(started.error().message.find("uid 65534"), std::string::npos)
      << started.error().message;
  struct stat st;
  ASSERT_EQ(lstat(path.c_str(), &st), 0) << "kept";
  EXPECT_EQ(st.st_uid, 65534u);
  EXPECT_EQ(ppool::telemetry_path(), "");
}

// Without --telemetry or PPOOL_TELEMETRY the tools' endpoint goes to a
// private runtime directory (as root /run/ppool, mode 0700), not to a name
// anyone could take first in /tmp, and it is named so that ppool-stat's
// discovery (listening SOCK_SEQPACKET sockets of /proc/net/unix named
// ppool*.sock) finds it.
TEST_F(TelemetryTest, ToolsDefaultEndpointIsInAPrivateRuntimeDirectory) {
  const char* env = std::getenv("PPOOL_TELEMETRY");
  const std::string saved = env ? env : "";
  unsetenv("PPOOL_TELEMETRY");
  const std::string path = ppool::tools::start_telemetry("test", "");
  if (!saved.empty()) setenv("PPOOL_TELEMETRY", saved.c_str(), 1);
  ASSERT_FALSE(path.empty());
  const std::string dir = path.substr(0, path.rfind('/'));
  EXPECT_EQ(path.substr(dir.size()), "/ppool-test-" + std::to_string(getpid()) + ".sock");
  if (geteuid() == 0) {
    EXPECT_EQ(dir, "/run/ppool");
  } else {
    EXPECT_NE(dir, "/tmp");
  }
  struct stat st;
  ASSERT_EQ(lstat(dir.c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_EQ(st.st_uid, geteuid());
  std::ifstream unix_sockets("/proc/net/unix");
  std::string line;
  bool listed = false;
  while (std::getline(unix_sockets, line)) listed |= line.ends_with(" " + path);
  EXPECT_TRUE(listed) << path << " is not in /proc/net/unix";
  RawClient c(path);
  EXPECT_TRUE(c.connected());
}

// runtime_dir(): $XDG_RUNTIME_DIR/ppool, else /tmp/ppool-UID, made 0700;
// one that is a symlink, another user's or writable by others is refused,
// naming it.
TEST(RuntimeDir, PicksAndChecksThePrivateDirectory) {
  TempDir base;
  const std::string root = base.socket("");  // "<dir>/"
  ppool::tools::RuntimeDirPlaces at;
  at.root = false;
  at.xdg_runtime_dir = root + "xdg";
  ASSERT_EQ(mkdir(at.xdg_runtime_dir.c_str(), 0700), 0);
  at.tmp = root + "tmp";
  ASSERT_EQ(mkdir(at.tmp.c_str(), 01777), 0);
  at.run = root + "run";
  ASSERT_EQ(mkdir(at.run.c_str(), 0755), 0);
  auto mode_of = [](const std::string& dir) {
    struct stat st;
    return lstat(dir.c_str(), &st) == 0 ? st.st_mode & 07777 : 0u;
  };

  ppool::Result<std::string> dir = ppool::tools::runtime_dir(at);
  ASSERT_TRUE(dir) << dir.error().message;
  EXPECT_EQ(dir.value(), at.xdg_runtime_dir + "/ppool");
  EXPECT_EQ(mode_of(dir.value()), 0700u);
  at.root = true;
  dir = ppool::tools::runtime_dir(at);
  ASSERT_TRUE(dir) << dir.error().message;
  EXPECT_EQ(dir.value(), at.run + "/ppool");
  EXPECT_EQ(mode_of(dir.value()), 0700u);
  at.root = false;

  for (const std::string unset : {"", "relative/dir"}) {
    at.xdg_runtime_dir = unset;
    dir = ppool::tools::runtime_dir(at);
    ASSERT_TRUE(dir) << dir.error().message;
    EXPECT_EQ(dir.value(), at.tmp + "/ppool-" + std::to_string(geteuid()));
    EXPECT_EQ(mode_of(dir.value()), 0700u);
  }
  const std::string fallback = dir.value();
  const ppool::Result<std::string> path = ppool::tools::default_telemetry_path("fwd", at);
  ASSERT_TRUE(path);
  EXPECT_EQ(path.value(), fallback + "/ppool-fwd-" + std::to_string(getpid()) + ".sock");

  // Squatted: writable by others, a symlink to elsewhere, another user's.
  ASSERT_EQ(chmod(fallback.c_str(), 0777), 0);
  dir = ppool::tools::runtime_dir(at);
  ASSERT_FALSE(dir);
  EXPECT_NE(dir.error().message.find(fallback), std::string::npos) << dir.error().message;
  EXPECT_NE(dir.error().message.find("writable by others"), std::string::npos)
      << dir.error().message;
  ASSERT_EQ(rmdir(fallback.c_str()), 0);
  ASSERT_EQ(symlink(at.run.c_str(), fallback.c_str()), 0);
  dir = ppool::tools::runtime_dir(at);
  ASSERT_FALSE(dir);
  EXPECT_NE(dir.error().message.find("not a directory"), std::string::npos) << dir.error().message;
  ASSERT_EQ(unlink(fallback.c_str()), 0);
  if (geteuid() == 0) {
    ASSERT_EQ(mkdir(fallback.c_str(), 0700), 0);
    ASSERT_EQ(chown(fallback.c_str(), 65534, 65534), 0);
    dir = ppool::tools::runtime_dir(at);
    ASSERT_FALSE(dir);
    EXPECT_NE(dir.error().message.find("belongs to uid 65534"), std::string::npos)
        << dir.error().message;
  }
}

// The library's JSON quoting (replies, ppool-stat --json): control
// characters escaped as RFC 8259 requires, well-formed UTF-8 kept, and each
// byte that is not UTF-8 replaced by U+FFFD, so that the text stays valid
// JSON for a strict reader.
TEST(JsonQuote, ControlCharactersAndBytesThatAreNotUtf8) {
  using ppool::detail::json_quote;
  EXPECT_EQ(json_quote("evil\x1b[2J\nname"), "\"evil\\u001b[2J\\nname\"");
  EXPECT_EQ(json_quote(std::string("a\0b", 3)), "\"a\\u0000b\"");
  EXPECT_EQ(json_quote("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
            "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
  // A stray continuation byte, a truncated sequence, an overlong '/', a
  // surrogate, 0xff.
  EXPECT_EQ(json_quote("\x80|\xc3|\xc0\xaf|\xed\xa0\x80|\xff"),
            "\"\xef\xbf\xbd|\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd|"
            "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|\xef\xbf\xbd\"");
}

// A pool's name reaches a client as it was given, control characters and
// all, through the endpoint's JSON.
TEST_F(TelemetryTest, ANameWithControlCharactersRoundTrips) {
  ppool::PagePool* p = pool("evil\x1b[2J\nname");
  ASSERT_TRUE(p);
  const std::string text = ppool::telemetry_command(cmd("/ppool/info", p->id()));
  EXPECT_EQ(text.find('\x1b'), std::string::npos) << "escaped in the JSON";
  const JsonValue reply = RawClient::parse(text);
  ASSERT_TRUE(reply.get("/ppool/info")) << text;
  EXPECT_EQ(reply.get("/ppool/info")->get("name")->text, "evil\x1b[2J\nname");
}

// ppool-stat's printable(): what a terminal would act on, shown escaped.
TEST(Printable, EscapesWhatATerminalWouldActOn) {
  using ppool::tools::printable;
  EXPECT_EQ(printable("evil\x1b[2J\nname"), "evil\\x1b[2J\\nname");
  EXPECT_EQ(printable("tab\there\r\x7f\\"), "tab\\there\\r\\x7f\\\\");
  EXPECT_EQ(printable("plain rxq0"), "plain rxq0");
  EXPECT_EQ(printable("caf\xc3\xa9 \xe2\x82\xac"), "caf\xc3\xa9 \xe2\x82\xac") << "UTF-8 kept";
  EXPECT_EQ(printable("\xc2\x9b"
                      "2J"),
            "\\xc2\\x9b2J")
      << "C1 CSI";
  EXPECT_EQ(printable("\xff\xc3"), "\\xff\\xc3") << "not UTF-8";
}

}  // namespace
