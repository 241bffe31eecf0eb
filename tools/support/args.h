// support/args.h - the command line of every ppool program (ppool-fwd,
// ppool-xsk, ppool-h2d, ppool-share, ppool-stat, the benchmarks): one strict number parser and one
// walk over argv, so that each program says the same thing about the same
// mistake.
//
// The rules:
//   --help or -h           usage on stdout, exit 0
//   --name VALUE, --name=VALUE
//   numbers                decimal digits only: no sign, no spaces, no 0x, no
//                          exponent; range- and overflow-checked; the message
//                          names the option and its range
//                          ("--port: 99999 is not in 1..65535")
//   anything else          "unknown option '--x'" or "unexpected argument 'x'"
//                          on stderr, exit 2
//
//   ppool::tools::Args args(argc, argv, "prog", kUsage);
//   while (args.next()) {
//     if (args.flag("--frags")) o.frags = true;
//     else if (args.number("--queues", 1, 16, o.queues)) {}
//     else args.unknown();
//   }
//   if (auto status = args.exit_status()) return *status;
//
// Header-only, in the programs' support library (ppool_tool_support: no part
// of ppool itself). The examples parse their few options themselves: they
// are what a user copies, and use the public headers only.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

namespace ppool::tools {

// A whole decimal number in [lo, hi]: one or more digits and nothing else.
// nullopt for anything else, including a number too large for any type.
template <class T>
std::optional<T> parse_number(std::string_view text, T lo, T hi) {
  static_assert(std::is_integral_v<T>, "parse_number is for integers");
  if (text.empty() || text.size() > 64) return std::nullopt;
  unsigned long long value = 0;
  constexpr unsigned long long kMax = std::numeric_limits<unsigned long long>::max();
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    const auto digit = static_cast<unsigned long long>(c - '0');
    if (value > (kMax - digit) / 10) return std::nullopt;  // would overflow
    value = value * 10 + digit;
  }
  // lo and hi are of T, so a value within them fits T.
  if constexpr (std::is_signed_v<T>) {
    if (hi < 0) return std::nullopt;
    if (lo > 0 && value < static_cast<unsigned long long>(lo)) return std::nullopt;
  } else {
    if (value < static_cast<unsigned long long>(lo)) return std::nullopt;
  }
  if (value > static_cast<unsigned long long>(hi)) return std::nullopt;
  return static_cast<T>(value);
}

// A decimal number in [lo, hi]: digits with at most one '.', at least one
// digit ("4", "0.05", "1.", ".5"); no sign, exponent, inf or nan.
inline std::optional<double> parse_decimal(std::string_view text, double lo, double hi) {
  if (text.empty() || text.size() > 64) return std::nullopt;
  bool digit = false, point = false;
  for (char c : text) {
    if (c >= '0' && c <= '9') {
      digit = true;
    } else if (c == '.' && !point) {
      point = true;
    } else {
      return std::nullopt;
    }
  }
  if (!digit) return std::nullopt;
  const double value = std::strtod(std::string(text).c_str(), nullptr);
  if (!(value >= lo && value <= hi)) return std::nullopt;
  return value;
}

// One pass over argv; see the top of this file.
class Args {
 public:
  Args(int argc, char** argv, const char* program, const char* usage)
      : argc_(argc), argv_(argv), program_(program), usage_(usage) {}

  // Moves to the next argument. False at the end, after an error, or after
  // --help (which it handles: the usage on stdout, exit status 0).
  bool next() {
    if (status_ || ++i_ >= argc_) return false;
    arg_ = argv_[i_];
    if (arg_ == "--help" || arg_ == "-h") {
      std::fputs(usage_, stdout);
      status_ = 0;
      return false;
    }
    return true;
  }

  std::string_view arg() const { return arg_; }

  // The argument is the flag `name` (no value).
  bool flag(std::string_view name) const { return arg_ == name; }

  // The argument is option `name`: its value (the next argument, or what
  // follows '=') is parsed into out. True when the name matched, whether or
  // not the value was good (a bad one ends the walk with an error).
  template <class T>
  bool number(std::string_view name, std::type_identity_t<T> lo, std::type_identity_t<T> hi,
              T& out) {
    std::string_view value;
    if (!option(name, value, range(lo, hi))) return false;
    if (auto n = parse_number<T>(value, lo, hi))
      out = *n;
    else
      bad_value(name, value, range(lo, hi));
    return true;
  }

  bool decimal(std::string_view name, double lo, double hi, double& out) {
    std::string_view value;
    const std::string shown = trim(lo) + ".." + trim(hi);
    if (!option(name, value, shown)) return false;
    if (auto n = parse_decimal(value, lo, hi))
      out = *n;
    else
      bad_value(name, value, shown);
    return true;
  }

  // Any non-empty text.
  bool text(std::string_view name, std::string& out) {
    std::string_view value;
    if (!option(name, value, "")) return false;
    if (value.empty())
      error(std::string(name) + " needs a non-empty value");
    else
      out = std::string(value);
    return true;
  }

  // One of choices.
  bool choice(std::string_view name, std::initializer_list<std::string_view> choices,
              std::string& out) {
    std::string list;
    for (std::string_view c : choices)
      list += std::string(list.empty() ? "" : "|") + std::string(c);
    std::string_view value;
    if (!option(name, value, list)) return false;
    for (std::string_view c : choices)
      if (value == c) {
        out = std::string(value);
        return true;
      }
    error(std::string(name) + ": '" + std::string(value) + "' is not one of " + list);
    return true;
  }

  // The current argument is not understood.
  void unknown() {
    if (arg_.starts_with("-"))
      error("unknown option '" + std::string(arg_) + "'");
    else
      error("unexpected argument '" + std::string(arg_) + "'");
  }

  // Reports a bad command line: "program: message" and a pointer to --help
  // on stderr; the exit status becomes 2. Returns 2.
  int error(const std::string& message) {
    if (status_) return *status_;
    std::fprintf(stderr, "%s: %s\n(%s --help for the usage)\n", program_, message.c_str(),
                 program_);
    status_ = 2;
    return 2;
  }

  // After the walk: nullopt to go on, else the status to exit with (0 after
  // --help, 2 after an error).
  std::optional<int> exit_status() const { return status_; }

 private:
  template <class T>
  static std::string range(T lo, T hi) {
    return std::to_string(lo) + ".." + std::to_string(hi);
  }
  static std::string trim(double v) {
    std::string s = std::to_string(v);
    while (s.find('.') != std::string::npos && (s.back() == '0' || s.back() == '.')) {
      const bool point = s.back() == '.';
      s.pop_back();
      if (point) break;
    }
    return s;
  }

  // Matches "--name VALUE" and "--name=VALUE"; a missing value is an error.
  bool option(std::string_view name, std::string_view& value, const std::string& wanted) {
    if (arg_ == name) {
      if (i_ + 1 >= argc_) {
        error(std::string(name) + " needs a value" + (wanted.empty() ? "" : " (" + wanted + ")"));
        value = {};
        return true;
      }
      value = argv_[++i_];
      return true;
    }
    if (arg_.size() > name.size() && arg_.starts_with(name) && arg_[name.size()] == '=') {
      value = arg_.substr(name.size() + 1);
      return true;
    }
    return false;
  }

  void bad_value(std::string_view name, std::string_view value, const std::string& wanted) {
    if (status_) return;  // the missing value was reported
    const bool digits = !value.empty() && value.size() <= 64 &&
                        value.find_first_not_of("0123456789.") == std::string_view::npos;
    if (digits)
      error(std::string(name) + ": " + std::string(value) + " is not in " + wanted);
    else
      error(std::string(name) + ": '" + std::string(value) + "' is not a number in " + wanted);
  }

  int argc_;
  char** argv_;
  const char* program_;
  const char* usage_;
  int i_ = 0;
  std::string_view arg_;
  std::optional<int> status_;
};

}  // namespace ppool::tools
