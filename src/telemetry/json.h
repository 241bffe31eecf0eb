// JSON text for the telemetry endpoint (layer telemetry, internal): quoting a
// string and building an object or an array one member at a time. Header
// only. The programs have their own writer (tools/support/json.h): they use
// the public API only, and this file is not part of it.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace ppool::detail {

// The length of the well-formed UTF-8 sequence at text[i] (1 to 4 bytes),
// 0 when the bytes there are not one: a stray continuation byte, a
// truncated sequence, an overlong form, a surrogate or a code point above
// U+10FFFF (RFC 3629's table).
inline std::size_t utf8_length(std::string_view text, std::size_t i) {
  const auto byte = [&](std::size_t k) -> unsigned {
    return i + k < text.size() ? static_cast<unsigned char>(text[i + k]) : 0u;
  };
  const unsigned b0 = byte(0);
  if (b0 < 0x80) return 1;
  auto cont = [&](std::size_t k, unsigned lo = 0x80, unsigned hi = 0xbf) {
    return byte(k) >= lo && byte(k) <= hi;
  };
  if (b0 >= 0xc2 && b0 <= 0xdf) return cont(1) ? 2 : 0;
  if (b0 >= 0xe0 && b0 <= 0xef) {
    const unsigned lo = b0 == 0xe0 ? 0xa0 : 0x80, hi = b0 == 0xed ? 0x9f : 0xbf;
    return cont(1, lo, hi) && cont(2) ? 3 : 0;
  }
  if (b0 >= 0xf0 && b0 <= 0xf4) {
    const unsigned lo = b0 == 0xf0 ? 0x90 : 0x80, hi = b0 == 0xf4 ? 0x8f : 0xbf;
    return cont(1, lo, hi) && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}

// text as a JSON string, quotes included: '"' and '\' escaped, control
// characters (U+0000 to U+001F, all RFC 8259 requires) as \n, \t, \r or
// \u00XX, well-formed UTF-8 as it is, and each byte that is not UTF-8 as
// U+FFFD: JSON text is UTF-8 (RFC 8259 section 8.1), and a strict reader
// refuses the whole reply over one stray byte. Pool names are the
// application's: anything may be in them.
inline std::string json_quote(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out += '"';
  for (std::size_t i = 0; i < text.size();) {
    const char c = text[i];
    const std::size_t n = utf8_length(text, i);
    if (n == 0) {
      out += "\xef\xbf\xbd";  // U+FFFD REPLACEMENT CHARACTER
      ++i;
      continue;
    }
    if (n > 1) {
      out.append(text.substr(i, n));
      i += n;
      continue;
    }
    ++i;
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
