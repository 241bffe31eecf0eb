// ppool-stat --listen's parts that need no socket: the exposition merged
// across processes (tools/stat/exposition.h) and the replies to requests,
// good and bad (tools/stat/http_server.h). The served whole, scraped by a
// real Prometheus server, is tests/telemetry/prometheus_scrape.py.
#include <gtest/gtest.h>

#include <string>

#include "stat/exposition.h"
#include "stat/http_server.h"

namespace {

using ppool::tools::add_label;
using ppool::tools::http_respond;
using ppool::tools::HttpReply;
using ppool::tools::merge_exposition;

TEST(StatExposition, AddsTheLabelFirst) {
  EXPECT_EQ(add_label("m{a=\"1\"} 5", "pid", "7"), "m{pid=\"7\",a=\"1\"} 5");
  EXPECT_EQ(add_label("m 5", "pid", "7"), "m{pid=\"7\"} 5");
  EXPECT_EQ(add_label("m{} 5", "pid", "7"), "m{pid=\"7\"} 5");
  // A label value holding '{', a space or an escaped quote stays as it was.
  EXPECT_EQ(add_label("m{name=\"a {\\\" b\"} 5", "pid", "7"), "m{pid=\"7\",name=\"a {\\\" b\"} 5");
}

// Each family once, with its HELP and TYPE once, every process's samples
// under it: what Prometheus accepts (it refuses a family described twice).
TEST(StatExposition, MergesPerFamily) {
  const std::string a =
      "# HELP x_total X.\n# TYPE x_total counter\nx_total{pool=\"1\"} 3\n"
      "# HELP g A gauge.\n# TYPE g gauge\ng 1\n";
  const std::string b =
      "# HELP x_total X.\n# TYPE x_total counter\nx_total{pool=\"1\"} 4\n"
      "# HELP g A gauge.\n# TYPE g gauge\ng 0\n\n# a comment\n";
  EXPECT_EQ(merge_exposition({{10, a}, {20, b}}),
            "# HELP x_total X.\n# TYPE x_total counter\n"
            "x_total{pid=\"10\",pool=\"1\"} 3\nx_total{pid=\"20\",pool=\"1\"} 4\n"
            "# HELP g A gauge.\n# TYPE g gauge\ng{pid=\"10\"} 1\ng{pid=\"20\"} 0\n");
  EXPECT_EQ(merge_exposition({}), "");
}

HttpReply metrics(std::string_view path) {
  HttpReply r;
  if (path != "/metrics") {
    r.status = 404;
    r.body = "nope\n";
    return r;
  }
  r.body = "m 1\n";
  return r;
}

std::string status_line(const std::string& reply) {
  return reply.substr(0, reply.find("\r\n"));
}

TEST(StatHttp, AnswersAGetOfMetrics) {
  const std::string r = http_respond("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", metrics);
  EXPECT_EQ(status_line(r), "HTTP/1.1 200 OK");
  EXPECT_NE(r.find("\r\nContent-Length: 4\r\n"), std::string::npos) << r;
  EXPECT_NE(r.find("\r\nConnection: close\r\n"), std::string::npos) << r;
  EXPECT_TRUE(r.ends_with("\r\n\r\nm 1\n")) << r;
  // The query string is not part of the path; HEAD has no body.
  EXPECT_EQ(status_line(http_respond("GET /metrics?x=1 HTTP/1.0\r\n\r\n", metrics)),
            "HTTP/1.1 200 OK");
  EXPECT_TRUE(http_respond("HEAD /metrics HTTP/1.1\r\n\r\n", metrics).ends_with("\r\n\r\n"));
  EXPECT_EQ(status_line(http_respond("GET /other HTTP/1.1\r\n\r\n", metrics)),
            "HTTP/1.1 404 Not Found");
}

TEST(StatHttp, RefusesWhatIsNotARequest) {
  for (const char* bad :
       {"garbage\r\n\r\n", "\r\n\r\n", "GET /metrics\r\n\r\n", "GET metrics HTTP/1.1\r\n\r\n",
        "GET /metrics HTTP/2\r\n\r\n", "GET  /metrics HTTP/1.1\r\n\r\n",
        "GET /met\x01rics HTTP/1.1\r\n\r\n", "GET /metrics HTTP/1.1 x\r\n\r\n"})
    EXPECT_EQ(status_line(http_respond(bad, metrics)), "HTTP/1.1 400 Bad Request") << bad;
  EXPECT_EQ(status_line(http_respond("POST /metrics HTTP/1.1\r\n\r\n", metrics)),
            "HTTP/1.1 405 Method Not Allowed");
}

}  // namespace
