// support/json.h - the one JSON writer of ppool's programs: every JSON line
// ppool-fwd, ppool-xsk, ppool-h2d, ppool-share and ppool-stat print goes
// through it, so a pool name with a quote or a stray byte in it cannot break
// a line a script parses. The separators are those of the library's
// PagePoolStats::to_json() (", " and ": "), so a program's own members and
// the library's stats read alike.
//
//   JsonWriter o('{');
//   o.key("name").str(pool_name);
//   o.key("pps").fixed(pps, 1);
//   o.key("stats").raw(pool->stats().to_json());
//   std::string line = o.close();
//
// Thread context: a writer is one thread's; the functions are pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

namespace ppool::tools {

// The length of the well-formed UTF-8 sequence at text[i] (1 to 4 bytes), 0
// when the bytes there are not one: a stray continuation byte, a truncated
// sequence, an overlong form, a surrogate or a code point above U+10FFFF
// (RFC 3629's table).
std::size_t utf8_length(std::string_view text, std::size_t i);

// text as a JSON string, quotes included: '"' and '\' escaped, control
// characters (all RFC 8259 requires) as \n, \t, \r or \u00XX, well-formed
// UTF-8 as it is, and each byte that is not UTF-8 as U+FFFD: JSON text is
// UTF-8 (RFC 8259 section 8.1), and a strict reader refuses the whole line
// over one stray byte. Names come from applications: anything may be in them.
std::string json_quote(std::string_view text);

// An object or an array, written member by member into one string.
class JsonWriter {
 public:
  explicit JsonWriter(char open) : close_(open == '{' ? '}' : ']') { text_ += open; }

  // The next object member's key; its value follows.
  JsonWriter& key(std::string_view name);
  // A value already JSON text (a number, a nested object, the library's
  // stats).
  JsonWriter& raw(std::string_view json);
  JsonWriter& str(std::string_view text) { return raw(json_quote(text)); }
  template <class T>
  requires std::is_integral_v<T> JsonWriter& num(T n) { return raw(std::to_string(n)); }
  // A number with `digits` digits after the point, as printf's %.Nf.
  JsonWriter& fixed(double value, int digits);
  JsonWriter& boolean(bool value) { return raw(value ? "true" : "false"); }
  JsonWriter& null() { return raw("null"); }

  // The text so far has no member yet.
  bool empty() const { return first_; }
  // The finished text; the writer is spent.
  [[nodiscard]] std::string close();

 private:
  void separate();

  std::string text_;
  char close_;
  bool first_ = true;
  bool pending_value_ = false;
};

}  // namespace ppool::tools
