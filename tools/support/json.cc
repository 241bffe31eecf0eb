#include "support/json.h"

#include <cstdio>
#include <utility>

namespace ppool::tools {

std::size_t utf8_length(std::string_view text, std::size_t i) {
  auto at = [&](std::size_t k) -> unsigned {
    return i + k < text.size() ? static_cast<unsigned char>(text[i + k]) : 0u;
  };
  // Bytes k of the sequence in [lo, hi] (the continuation bytes' range
  // narrows for the lead bytes that would allow an overlong form, a
  // surrogate, or a code point past U+10FFFF).
  auto follow = [&](std::size_t from, std::size_t to, unsigned lo, unsigned hi) {
    for (std::size_t k = from; k < to; ++k) {
      const unsigned b = at(k);
      if (b < (k == from ? lo : 0x80) || b > (k == from ? hi : 0xbf)) return false;
    }
    return true;
  };
  const unsigned lead = at(0);
  if (lead < 0x80) return 1;
  if (lead >= 0xc2 && lead <= 0xdf) return follow(1, 2, 0x80, 0xbf) ? 2 : 0;
  if (lead >= 0xe0 && lead <= 0xef)
    return follow(1, 3, lead == 0xe0 ? 0xa0 : 0x80, lead == 0xed ? 0x9f : 0xbf) ? 3 : 0;
  if (lead >= 0xf0 && lead <= 0xf4)
    return follow(1, 4, lead == 0xf0 ? 0x90 : 0x80, lead == 0xf4 ? 0x8f : 0xbf) ? 4 : 0;
  return 0;
}

std::string json_quote(std::string_view text) {
  std::string out = "\"";
  out.reserve(text.size() + 2);
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t n = utf8_length(text, i);
    if (n != 1) {  // a multi-byte character as it is; a stray byte as U+FFFD
      out += n ? text.substr(i, n) : std::string_view("\xef\xbf\xbd");
      i += n ? n : 1;
      continue;
    }
    const auto c = static_cast<unsigned char>(text[i++]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c < 0x20) {
      char escape[8];
      std::snprintf(escape, sizeof escape, "\\u%04x", c);
      out += escape;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + '"';
}

JsonWriter& JsonWriter::key(std::string_view name) {
  separate();
  text_ += json_quote(name);
  text_ += ": ";
  pending_value_ = true;
  return *this;
}

JsonWriter& JsonWriter::raw(std::string_view json) {
  if (!pending_value_) separate();
  pending_value_ = false;
  text_ += json;
  return *this;
}

JsonWriter& JsonWriter::fixed(double value, int digits) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", digits, value);
  return raw(text);
}

std::string JsonWriter::close() {
  text_ += close_;
  return std::move(text_);
}

void JsonWriter::separate() {
  if (!first_) text_ += ", ";
  first_ = false;
}

}  // namespace ppool::tools
