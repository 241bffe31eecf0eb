// tools/stat/printable.h - text from a process (pool and holder names, a
// version, a socket path) made safe to print on a terminal, as `ls` and
// `systemctl` show odd file and unit names. Header only.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

#include "support/json.h"  // utf8_length

namespace ppool::tools {

// text with a backslash doubled, \n, \t and \r as those two characters, every
// other control character (C0, DEL, and C1 such as U+009B, a one-character
// CSI to some terminals) and every byte that is not well-formed UTF-8 as
// \xNN, one per byte; other UTF-8 as it is. A pool named "a\x1b[2Jb" prints
// as a\x1b[2Jb instead of clearing the screen, and a name with a newline
// stays on its row.
[[nodiscard]] inline std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  auto hex = [&](unsigned char b) {
    char buffer[8];
    std::snprintf(buffer, sizeof buffer, "\\x%02x", b);
    out += buffer;
  };
  for (std::size_t i = 0; i < text.size();) {
    const auto b = static_cast<unsigned char>(text[i]);
    const std::size_t n = utf8_length(text, i);
    const bool c1 = n == 2 && b == 0xc2 && static_cast<unsigned char>(text[i + 1]) < 0xa0;
    if (n == 0 || c1) {  // not UTF-8, or U+0080 to U+009F: each byte escaped
      for (std::size_t k = 0; k < (n == 0 ? 1 : n); ++k)
        hex(static_cast<unsigned char>(text[i + k]));
      i += n == 0 ? 1 : n;
      continue;
    }
    if (n > 1) {
      out.append(text.substr(i, n));
      i += n;
      continue;
    }
    ++i;
    if (b == '\\')
      out += "\\\\";
    else if (b == '\n')
      out += "\\n";
    else if (b == '\t')
      out += "\\t";
    else if (b == '\r')
      out += "\\r";
    else if (b < 0x20 || b == 0x7f)
      hex(b);
    else
      out += static_cast<char>(b);
  }
  return out;
}

}  // namespace ppool::tools
