// The programs' JSON writer (tools/support/json.h): what ppool-fwd, ppool-xsk,
// ppool-h2d, ppool-share and ppool-stat print, read back with the programs'
// reader (tools/support/json_value.h).
#include <gtest/gtest.h>

#include <string>

#include "support/json.h"
#include "support/json_value.h"
#include "support/report.h"

namespace {

using ppool::tools::json_quote;
using ppool::tools::JsonValue;
using ppool::tools::JsonWriter;

JsonValue parse(const std::string& text) {
  ppool::Result<JsonValue> value = ppool::tools::parse_json(text);
  EXPECT_TRUE(value) << (value ? "" : value.error().message) << " in " << text;
  return value ? std::move(value).value() : JsonValue{};
}

// Control characters escaped as RFC 8259 requires, well-formed UTF-8 kept,
// each byte that is not UTF-8 replaced by U+FFFD.
TEST(ToolJson, QuotesWhatJsonRequires) {
  EXPECT_EQ(json_quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(json_quote("evil\x1b[2J\nname\t\r"), "\"evil\\u001b[2J\\nname\\t\\r\"");
  EXPECT_EQ(json_quote(std::string("a\0b", 3)), "\"a\\u0000b\"");
  EXPECT_EQ(json_quote("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
            "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
  // A stray continuation byte, a truncated sequence, an overlong '/', a
  // surrogate, 0xff, and a code point past U+10FFFF.
  EXPECT_EQ(json_quote("\x80|\xc3|\xc0\xaf|\xed\xa0\x80|\xff|\xf4\x90\x80\x80"),
            "\"\xef\xbf\xbd|\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd|"
            "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|\xef\xbf\xbd|"
            "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
}

// The separators of the library's stats JSON; numbers as printf's %.Nf.
TEST(ToolJson, WritesObjectsAndArrays) {
  JsonWriter inner('[');
  inner.num(1).num(-2).str("x");
  JsonWriter o('{');
  EXPECT_TRUE(o.empty());
  o.key("a").raw(inner.close()).key("pps").fixed(2.0 / 3.0, 3).key("ok").boolean(true);
  o.key("interrupted").null();
  EXPECT_FALSE(o.empty());
  EXPECT_EQ(o.close(),
            "{\"a\": [1, -2, \"x\"], \"pps\": 0.667, \"ok\": true, \"interrupted\": null}");
  EXPECT_EQ(JsonWriter('[').close(), "[]");
}

// A pool named by an application (ppool-xsk names its pools after the
// interface, which may hold a quote or a backslash) stays one JSON string.
TEST(ToolJson, APoolNameWithQuotesRoundTrips) {
  const std::string name = "xsk x\"\\q rxq0";
  const std::string text = ppool::tools::pool_json(name, "{\"alloc_fast\": 3}", 0, "{\"rx\": 1}");
  EXPECT_EQ(text,
            "{\"name\": \"xsk x\\\"\\\\q rxq0\", \"stats\": {\"alloc_fast\": 3}, "
            "\"queue\": {\"rx\": 1}, \"inflight\": 0}");
  const JsonValue pool = parse(text);
  ASSERT_TRUE(pool.get("name"));
  EXPECT_EQ(pool.get("name")->text, name);
  EXPECT_EQ(pool.get("inflight")->u64(), 0u);
  EXPECT_EQ(parse(ppool::tools::pool_json("p", "{}", 7)).dump(),
            "{\"name\": \"p\", \"stats\": {}, \"inflight\": 7}");
}

}  // namespace
