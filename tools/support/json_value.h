// support/json_value.h - the programs' one JSON reader: the telemetry
// endpoint's replies (ppool-stat and the telemetry tests). Numbers keep the text they
// were written with, so 64-bit counters pass through exactly; objects keep
// their members' order. Header only.
#pragma once

#include <charconv>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ppool/base.h"
#include "support/json.h"  // json_quote and JsonWriter, for dump()

namespace ppool::tools {

struct JsonValue {
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };
  Kind kind = Kind::kNull;
  std::string text;  // kNumber: as written; kString: decoded; kBool: "true" or "false"
  // kArray: the elements; kObject: the members' values, their keys in keys
  // (in order). Not pairs: std::pair may not hold an incomplete type.
  std::vector<JsonValue> items;
  std::vector<std::string> keys;

  bool is(Kind k) const { return kind == k; }
  // The member named key of an object, nullptr when there is none.
  const JsonValue* get(std::string_view key) const {
    for (std::size_t i = 0; i < keys.size(); ++i)
      if (keys[i] == key) return &items[i];
    return nullptr;
  }
  // A whole number within 64 bits, nullopt for anything else.
  std::optional<std::uint64_t> u64() const { return whole<std::uint64_t>(); }
  std::optional<std::int64_t> i64() const { return whole<std::int64_t>(); }

  // Back to JSON text, numbers as they were written.
  std::string dump() const {
    switch (kind) {
      case Kind::kNull:
        return "null";
      case Kind::kBool:
      case Kind::kNumber:
        return text;
      case Kind::kString:
        return json_quote(text);
      case Kind::kArray: {
        JsonWriter a('[');
        for (const JsonValue& item : items) a.raw(item.dump());
        return a.close();
      }
      case Kind::kObject: {
        JsonWriter o('{');
        for (std::size_t i = 0; i < keys.size(); ++i) o.key(keys[i]).raw(items[i].dump());
        return o.close();
      }
    }
    return "null";
  }

 private:
  template <class T>
  std::optional<T> whole() const {
    if (kind != Kind::kNumber) return std::nullopt;
    T n{};
    const char* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, n);
    if (ec != std::errc() || ptr != end) return std::nullopt;
    return n;
  }
};

namespace json_detail {

class Parser {
 public:
  explicit Parser(std::string_view text) : s_(text) {}

  Result<JsonValue> document() {
    std::optional<JsonValue> v = value(0);
    skip_space();
    if (v && pos_ != s_.size()) bad("trailing text");
    if (!v) bad("not a value");  // kept only when nothing said why before
    if (!error_.empty())
      return Error{Errc::kInvalidArgument, error_ + " at byte " + std::to_string(pos_)};
    return std::move(*v);
  }

 private:
  static constexpr int kMaxDepth = 64;

  std::optional<JsonValue> fail(const char* why) {
    bad(why);
    return std::nullopt;
  }
  bool bad(const char* why) {
    if (error_.empty()) error_ = why;
    return false;
  }
  void skip_space() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\t' || s_[pos_] == '\r'))
      ++pos_;
  }
  bool eat(char c) {
    skip_space();
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool word(std::string_view w) {
    if (s_.substr(pos_, w.size()) != w) return false;
    pos_ += w.size();
    return true;
  }

  std::optional<JsonValue> value(int depth) {
    if (depth > kMaxDepth) return fail("nested too deep");
    skip_space();
    if (pos_ >= s_.size()) return fail("unexpected end");
    const char c = s_[pos_];
    JsonValue v;
    if (c == '{') return object(depth);
    if (c == '[') return array(depth);
    if (c == '"') {
      v.kind = JsonValue::Kind::kString;
      if (!string(v.text)) return std::nullopt;
      return v;
    }
    if (word("null")) return v;
    v.kind = JsonValue::Kind::kBool;
    for (std::string_view b : {"true", "false"})
      if (word(b)) {
        v.text = std::string(b);
        return v;
      }
    return number();
  }

  std::optional<JsonValue> number() {
    const std::size_t start = pos_;
    if (pos_ < s_.size() && s_[pos_] == '-') ++pos_;
    const std::size_t digits = pos_;
    while (pos_ < s_.size() &&
           std::string_view("0123456789.eE+-").find(s_[pos_]) != std::string_view::npos)
      ++pos_;
    if (pos_ == digits || s_[digits] < '0' || s_[digits] > '9') return fail("not a value");
    double check = 0;
    const auto [ptr, ec] = std::from_chars(s_.data() + start, s_.data() + pos_, check);
    if (ec != std::errc() && ec != std::errc::result_out_of_range) return fail("bad number");
    if (ptr != s_.data() + pos_) return fail("bad number");
    JsonValue v;
    v.kind = JsonValue::Kind::kNumber;
    v.text = std::string(s_.substr(start, pos_ - start));
    return v;
  }

  std::optional<JsonValue> array(int depth) {
    ++pos_;  // [
    JsonValue v;
    v.kind = JsonValue::Kind::kArray;
    if (eat(']')) return v;
    do {
      std::optional<JsonValue> item = value(depth + 1);
      if (!item) return std::nullopt;
      v.items.push_back(std::move(*item));
    } while (eat(','));
    if (!eat(']')) return fail("expected ',' or ']'");
    return v;
  }

  std::optional<JsonValue> object(int depth) {
    ++pos_;  // {
    JsonValue v;
    v.kind = JsonValue::Kind::kObject;
    if (eat('}')) return v;
    do {
      skip_space();
      std::string key;
      if (pos_ >= s_.size() || s_[pos_] != '"') return fail("expected a key");
      if (!string(key)) return std::nullopt;
      if (!eat(':')) return fail("expected ':'");
      std::optional<JsonValue> member = value(depth + 1);
      if (!member) return std::nullopt;
      v.keys.push_back(std::move(key));
      v.items.push_back(std::move(*member));
    } while (eat(','));
    if (!eat('}')) return fail("expected ',' or '}'");
    return v;
  }

  // A string at pos_ (its opening quote), decoded into out.
  bool string(std::string& out) {
    ++pos_;
    while (pos_ < s_.size()) {
      const char c = s_[pos_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return bad("control character in a string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= s_.size()) break;
      const char e = s_[pos_++];
      switch (e) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u':
          if (!unicode(out)) return false;
          break;
        default:
          return bad("bad escape");
      }
    }
    return bad("unterminated string");
  }

  bool hex4(std::uint32_t& cp) {
    if (pos_ + 4 > s_.size()) return false;
    const auto [ptr, ec] = std::from_chars(s_.data() + pos_, s_.data() + pos_ + 4, cp, 16);
    if (ec != std::errc() || ptr != s_.data() + pos_ + 4) return false;
    pos_ += 4;
    return true;
  }

  // \uXXXX (a surrogate pair when it takes two) as UTF-8.
  bool unicode(std::string& out) {
    std::uint32_t cp = 0;
    if (!hex4(cp)) return bad("bad \\u escape");
    if (cp >= 0xd800 && cp < 0xdc00) {
      std::uint32_t low = 0;
      if (!word("\\u") || !hex4(low) || low < 0xdc00 || low > 0xdfff)
        return bad("unpaired surrogate");
      cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
    } else if (cp >= 0xdc00 && cp < 0xe000) {
      return bad("unpaired surrogate");
    }
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xc0 | cp >> 6);
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xe0 | cp >> 12);
      out += static_cast<char>(0x80 | (cp >> 6 & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
      out += static_cast<char>(0xf0 | cp >> 18);
      out += static_cast<char>(0x80 | (cp >> 12 & 0x3f));
      out += static_cast<char>(0x80 | (cp >> 6 & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    }
    return true;
  }

  std::string_view s_;
  std::size_t pos_ = 0;
  std::string error_;
};

}  // namespace json_detail

// The JSON document text. A Result, as the programs' setup returns, though
// it is no setup step: it reads what a telemetry endpoint sent, once per
// reply, where a message saying what is wrong and where is what the caller
// prints, and Result is the programs' one way to carry one.
// @return the document, or kInvalidArgument: the text is not one JSON
//   document; the message says what is wrong and at which byte.
inline Result<JsonValue> parse_json(std::string_view text) {
  return json_detail::Parser(text).document();
}

}  // namespace ppool::tools
