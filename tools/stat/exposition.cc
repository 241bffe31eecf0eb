// tools/stat/exposition.cc - see exposition.h.
#include "stat/exposition.h"

#include <map>
#include <sstream>

namespace ppool::tools {
namespace {

struct Family {
  std::string help;  // the whole "# HELP ..." line, "" until seen
  std::string type;  // the whole "# TYPE ..." line
  std::vector<std::string> samples;
};

// The metric name a sample line starts with (up to '{' or a space).
std::string_view sample_name(std::string_view line) {
  return line.substr(0, line.find_first_of("{ "));
}

// "# HELP name ..." or "# TYPE name ...": the name; "" for another line.
std::string_view described_name(std::string_view line, std::string_view keyword) {
  const std::string_view prefix = keyword == "HELP" ? "# HELP " : "# TYPE ";
  if (!line.starts_with(prefix)) return {};
  line.remove_prefix(prefix.size());
  return line.substr(0, line.find(' '));
}

}  // namespace

std::string add_label(std::string_view sample, std::string_view label, std::string_view value) {
  const std::size_t name_end = sample.find_first_of("{ ");
  std::string out(sample.substr(0, name_end));
  out += '{';
  out += label;
  out += "=\"";
  out += value;
  out += '"';
  if (name_end == std::string_view::npos) return out += '}';
  if (sample[name_end] == '{') {
    // The format allows "m{} 5": no comma before an empty label set's end.
    if (sample.substr(name_end + 1).starts_with('}')) {
      out += sample.substr(name_end + 1);
    } else {
      out += ',';
      out += sample.substr(name_end + 1);
    }
    return out;
  }
  out += '}';
  return out += sample.substr(name_end);
}

std::string merge_exposition(const std::vector<ProcessText>& processes) {
  std::vector<std::string> order;
  std::map<std::string, Family, std::less<>> families;
  auto family = [&](std::string_view name) -> Family& {
    auto it = families.find(name);
    if (it == families.end()) {
      order.emplace_back(name);
      it = families.emplace(std::string(name), Family{}).first;
    }
    return it->second;
  };
  for (const ProcessText& p : processes) {
    const std::string pid = std::to_string(p.pid);
    std::istringstream in(p.text);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      if (line[0] == '#') {
        if (std::string_view name = described_name(line, "HELP"); !name.empty()) {
          if (Family& f = family(name); f.help.empty()) f.help = line;
        } else if (std::string_view name = described_name(line, "TYPE"); !name.empty()) {
          if (Family& f = family(name); f.type.empty()) f.type = line;
        }
        continue;
      }
      // ppool's families are counters and gauges: a sample's name is its
      // family's (no _bucket, _sum or _count suffixes to map back).
      family(sample_name(line)).samples.push_back(add_label(line, "pid", pid));
    }
  }
  std::string out;
  for (const std::string& name : order) {
    const Family& f = families.find(name)->second;
    if (!f.help.empty()) (out += f.help) += '\n';
    if (!f.type.empty()) (out += f.type) += '\n';
    for (const std::string& s : f.samples) (out += s) += '\n';
  }
  return out;
}

}  // namespace ppool::tools
