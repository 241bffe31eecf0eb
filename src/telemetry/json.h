// JSON text for the telemetry endpoint (layer telemetry, internal): quoting a
// string and building an object or an array one member at a time. Header
// only: ppool-stat (tools/stat) writes its --json output with the same
// quoting.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace ppool::detail {

// text as a JSON string, quotes included: '"' and '\' escaped, control
// characters as \n, \t, \r or \u00XX, other bytes (UTF-8 included) as they
// are. Pool names are the application's: anything may be in them.
inline std::string json_quote(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out += '"';
  for (char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char hex[8];
          std::snprintf(hex, sizeof hex, "\\u%04x", static_cast<unsigned>(c));
          out += hex;
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

// An object or array written member by member in one string, with the ", "
// and ": " separators of PagePoolStats::to_json():
//   JsonBuilder o('{'); o.key("id").raw("3"); o.key("name").str(name); o.close();
class JsonBuilder {
 public:
  explicit JsonBuilder(char open) : close_(open == '{' ? '}' : ']') { text_ += open; }

  // The next object member's key.
  JsonBuilder& key(std::string_view name) {
    separate();
    text_ += json_quote(name);
    text_ += ": ";
    pending_value_ = true;
    return *this;
  }
  // A value: text already JSON (a number, a nested object).
  JsonBuilder& raw(std::string_view json) {
    if (!pending_value_) separate();
    pending_value_ = false;
    text_ += json;
    return *this;
  }
  JsonBuilder& str(std::string_view text) { return raw(json_quote(text)); }
  template <class T>
  requires std::is_integral_v<T> JsonBuilder& num(T n) { return raw(std::to_string(n)); }

  // The finished text; the builder is spent.
  [[nodiscard]] std::string close() {
    text_ += close_;
    return std::move(text_);
  }

 private:
  void separate() {
    if (!first_) text_ += ", ";
    first_ = false;
  }

  std::string text_;
  char close_;
  bool first_ = true;
  bool pending_value_ = false;
};

}  // namespace ppool::detail
