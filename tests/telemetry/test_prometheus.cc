// prometheus_text() (ppool/telemetry.h): Prometheus' text exposition format
// 0.0.4, checked line by line here in every build and by `promtool check
// metrics` where Prometheus' own checker is installed (/usr/bin/promtool,
// Debian's prometheus package).
#include <gtest/gtest.h>
#include <stdio.h>
#include <sys/wait.h>

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "ppool/page_pool.h"
#include "ppool/registry.h"
#include "ppool/telemetry.h"
#include "support/stats.h"
#include "telemetry/telemetry_support.h"

namespace {

// One sample line, parsed.
struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;  // values unescaped
  double value = 0;
};

bool metric_name(std::string_view s) {
  if (s.empty()) return false;
  auto first = [](char c) {
    return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':';
  };
  if (!first(s[0])) return false;
  for (char c : s.substr(1))
    if (!first(c) && !std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

bool label_name(std::string_view s) {
  return metric_name(s) && s.find(':') == std::string_view::npos;
}

// A label value after its opening quote: up to the closing quote, with the
// format's three escapes (\\, \", \n) and nothing else escaped.
std::optional<std::string> label_value(std::string_view& rest) {
  std::string out;
  while (!rest.empty()) {
    const char c = rest[0];
    rest.remove_prefix(1);
    if (c == '"') return out;
    if (c == '\n') return std::nullopt;
    if (c != '\\') {
      out += c;
      continue;
    }
    if (rest.empty()) return std::nullopt;
    const char e = rest[0];
    rest.remove_prefix(1);
    if (e == '\\' || e == '"')
      out += e;
    else if (e == 'n')
      out += '\n';
    else
      return std::nullopt;
  }
  return std::nullopt;
}

// `name{label="value",...} value`, or an error message.
std::optional<Sample> parse_sample(std::string_view line, std::string& error) {
  auto bad = [&](std::string why) {
    error = std::move(why);
    return std::nullopt;
  };
  Sample s;
  const std::size_t end = line.find_first_of("{ ");
  if (end == std::string_view::npos) return bad("no value");
  s.name = std::string(line.substr(0, end));
  if (!metric_name(s.name)) return bad("bad metric name");
  std::string_view rest = line.substr(end);
  if (rest[0] == '{') {
    rest.remove_prefix(1);
    while (!rest.empty() && rest[0] != '}') {
      const std::size_t eq = rest.find("=\"");
      if (eq == std::string_view::npos) return bad("bad label");
      const std::string name(rest.substr(0, eq));
      if (!label_name(name)) return bad(std::string("bad label name '") + name + "'");
      rest.remove_prefix(eq + 2);
      std::optional<std::string> value = label_value(rest);
      if (!value) return bad("bad label value");
      if (!s.labels.emplace(name, *value).second) return bad("label twice");
      if (!rest.empty() && rest[0] == ',') rest.remove_prefix(1);
    }
    if (rest.empty()) return bad("unclosed labels");
    rest.remove_prefix(1);
  }
  if (rest.size() < 2 || rest[0] != ' ') return bad("no value");
  rest.remove_prefix(1);
  char* parsed_end = nullptr;
  const std::string value(rest);
  s.value = std::strtod(value.c_str(), &parsed_end);
  if (parsed_end != value.c_str() + value.size()) return bad("bad value");
  return s;
}

// The exposition checked as a whole: every line a comment or a sample, each
// family's # HELP then # TYPE (counter or gauge) before its samples, once,
// and its samples together; a counter's name ends in _total. The samples, or
// a failure naming the line.
std::vector<Sample> check_exposition(const std::string& text) {
  std::vector<Sample> samples;
  EXPECT_TRUE(!text.empty() && text.back() == '\n') << "ends with a newline";
  std::istringstream in(text);
  std::string line, family, help_of;
  std::set<std::string> done;
  std::map<std::string, std::string> types;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    SCOPED_TRACE(std::string("line ") + std::to_string(n) + ": " + line);
    EXPECT_FALSE(line.empty());
    if (line.starts_with("# HELP ")) {
      std::istringstream words(line.substr(7));
      std::string name;
      words >> name;
      EXPECT_TRUE(metric_name(name));
      EXPECT_TRUE(done.insert(name).second) << "a family described twice";
      help_of = name;
      family.clear();
      continue;
    }
    if (line.starts_with("# TYPE ")) {
      std::istringstream words(line.substr(7));
      std::string name, type, more;
      words >> name >> type >> more;
      EXPECT_EQ(name, help_of) << "# TYPE right after its # HELP";
      EXPECT_TRUE(type == "counter" || type == "gauge") << type;
      EXPECT_TRUE(more.empty());
      if (type == "counter") {
        EXPECT_TRUE(name.ends_with("_total"));
      }
      types[name] = type;
      family = name;
      continue;
    }
    EXPECT_FALSE(line.starts_with("#")) << "no other comments";
    std::string error;
    std::optional<Sample> s = parse_sample(line, error);
    EXPECT_TRUE(s) << error;
    if (!s) continue;
    EXPECT_EQ(s->name, family) << "a sample of its family, after its # TYPE";
    if (types[s->name] == "counter") {
      EXPECT_GE(s->value, 0);
    }
    samples.push_back(std::move(*s));
  }
  return samples;
}

// Runs promtool on text; its exit status and output.
std::pair<int, std::string> promtool_check(const std::string& text) {
  ppool::test::TempDir dir;
  const std::string file = dir.socket("metrics.prom");
  std::ofstream(file) << text;
  const std::string command = std::string("/usr/bin/promtool check metrics < ") + file + " 2>&1";
  FILE* p = popen(command.c_str(), "r");
  std::string output;
  char buffer[4096];
  while (p && std::fgets(buffer, sizeof buffer, p)) output += buffer;
  const int status = p ? pclose(p) : -1;
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

class PrometheusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* names[] = {"prom-plain", "q\"uo\\te\nnl"};
    unsigned queue = 0;
    for (const char* name : names) {
      ppool::PagePoolParams params;
      params.name = name;
      params.queue = queue++;
      auto created = ppool::PagePool::create(params);
      ASSERT_TRUE(created) << created.error().message;
      pools_.push_back(created.value());
    }
    ppool::Page* page = pools_[0]->alloc_pages();
    std::thread([&] { pools_[0]->put_full_page(page, false); }).join();
    held_ = pools_[1]->alloc_pages();
  }
  void TearDown() override {
    pools_[1]->recycle_direct(held_);
    for (ppool::PagePool* p : pools_) EXPECT_EQ(ppool::PagePool::destroy(p), 0u);
  }

  // The samples of family for pool.
  static std::vector<Sample> of(const std::vector<Sample>& samples, std::string_view family,
                                const ppool::PagePool* pool) {
    std::vector<Sample> out;
    for (const Sample& s : samples)
      if (s.name == family && s.labels.at("pool") == std::to_string(pool->id())) out.push_back(s);
    return out;
  }

  std::vector<ppool::PagePool*> pools_;
  ppool::Page* held_ = nullptr;
};

TEST_F(PrometheusTest, TextExpositionFormat) {
  const std::string text = ppool::prometheus_text();
  const std::vector<Sample> samples = check_exposition(text);
  std::vector<Sample> enabled;  // the process's one sample, without labels
  for (const Sample& s : samples) {
    EXPECT_TRUE(s.name.starts_with("ppool_")) << s.name;
    if (s.name == "ppool_stats_enabled") {
      enabled.push_back(s);
      EXPECT_TRUE(s.labels.empty());
      continue;
    }
    EXPECT_EQ(s.labels.size(), 3u) << s.name;
    EXPECT_TRUE(s.labels.count("pool") && s.labels.count("name") && s.labels.count("queue"));
  }
  ASSERT_EQ(enabled.size(), 1u);
  EXPECT_EQ(enabled[0].value, ppool::test::kStatsCompiledIn ? 1 : 0);
  // The kernel's names, as counters; left out, not zeros, when they are
  // compiled out.
  for (const char* family :
       {"ppool_alloc_fast_total", "ppool_alloc_slow_total", "ppool_alloc_slow_high_order_total",
        "ppool_alloc_empty_total", "ppool_alloc_refill_total", "ppool_alloc_waive_total",
        "ppool_recycle_cached_total", "ppool_recycle_cache_full_total", "ppool_recycle_ring_total",
        "ppool_recycle_ring_full_total", "ppool_recycle_released_refcnt_total"}) {
    for (const ppool::PagePool* p : pools_)
      EXPECT_EQ(of(samples, family, p).size(), ppool::test::kStatsCompiledIn ? 1u : 0u) << family;
    if (!ppool::test::kStatsCompiledIn) {
      EXPECT_EQ(text.find(std::string("# HELP ") + family + " "), std::string::npos) << family;
    }
  }
  for (const char* family : {"ppool_alloc_limited_total", "ppool_pages_zeroed_total",
                             "ppool_inflight_pages", "ppool_inflight_bytes"})
    for (const ppool::PagePool* p : pools_) EXPECT_EQ(of(samples, family, p).size(), 1u) << family;
  EXPECT_TRUE(of(samples, "ppool_detach_time_seconds", pools_[0]).empty()) << "live pools";
  EXPECT_NE(text.find("# TYPE ppool_detach_time_seconds gauge\n"), std::string::npos);

  PPOOL_IF_STATS {
    EXPECT_EQ(of(samples, "ppool_recycle_ring_total", pools_[0])[0].value, 1);
  }
  const double inflight = pools_[1]->inflight();
  EXPECT_GE(inflight, 1);
  EXPECT_EQ(of(samples, "ppool_inflight_pages", pools_[1])[0].value, inflight);
  EXPECT_EQ(of(samples, "ppool_inflight_bytes", pools_[1])[0].value,
            inflight * static_cast<double>(ppool::kPageSize));
  PPOOL_IF_STATS {
    EXPECT_EQ(of(samples, "ppool_alloc_slow_total", pools_[1])[0].value, 1);
  }
}

TEST_F(PrometheusTest, LabelValuesAreEscaped) {
  const std::string text = ppool::prometheus_text();
  const std::string id = std::to_string(pools_[1]->id());
  const std::string expected = std::string("ppool_inflight_pages{pool=\"") + id +
                               "\",name=\"q\\\"uo\\\\te\\nnl\",queue=\"1\"} " +
                               std::to_string(pools_[1]->inflight()) + "\n";
  EXPECT_NE(text.find(expected), std::string::npos) << text;
  const std::vector<Sample> samples = check_exposition(text);
  const std::vector<Sample> mine = of(samples, "ppool_inflight_pages", pools_[1]);
  ASSERT_EQ(mine.size(), 1u);
  EXPECT_EQ(mine[0].labels.at("name"), "q\"uo\\te\nnl") << "unescapes to the pool's name";
}

TEST_F(PrometheusTest, ADestroyedPoolWaitingForPagesHasItsDetachTime) {
  ppool::PagePoolParams params;
  params.name = "prom-detached";
  auto created = ppool::PagePool::create(params);
  ASSERT_TRUE(created);
  ppool::PagePool* p = created.value();
  const std::uint32_t id = p->id();
  ppool::Page* page = p->alloc_pages();
  ASSERT_EQ(ppool::PagePool::destroy(p), 1u);
  const std::vector<Sample> samples = check_exposition(ppool::prometheus_text());
  bool found = false;
  for (const Sample& s : samples)
    if (s.name == "ppool_detach_time_seconds" && s.labels.at("pool") == std::to_string(id)) {
      found = true;
      EXPECT_GT(s.value, 1.6e9) << "Unix time";
    }
  EXPECT_TRUE(found);
  p->put_full_page(page, false);  // the last page home: the pool is freed
}

TEST_F(PrometheusTest, PromtoolAcceptsIt) {
  if (access("/usr/bin/promtool", X_OK) != 0)
    GTEST_SKIP() << "no /usr/bin/promtool (Debian's prometheus package); the format is checked "
                    "line by line in TextExpositionFormat";
  const auto [status, output] = promtool_check(ppool::prometheus_text());
  EXPECT_EQ(status, 0) << output;
}

TEST_F(PrometheusTest, TheEndpointServesTheSameText) {
  const ppool::test::JsonValue reply = ppool::test::command_json("/ppool/prometheus");
  const ppool::test::JsonValue* text = reply.get("/ppool/prometheus");
  ASSERT_TRUE(text && text->is(ppool::test::JsonValue::Kind::kString)) << reply.dump();
  EXPECT_EQ(text->text, ppool::prometheus_text()) << "nothing moves meanwhile";
}

}  // namespace
