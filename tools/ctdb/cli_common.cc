#include "tools/ctdb/cli_common.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <unistd.h>

namespace ctdb::cli {

int ExitCodeFor(const Status& status) { return status.ok() ? 0 : 10 + static_cast<int>(status.code()); }

int Fail(const Status& status) {
  std::fprintf(stderr, "ctdb: %s\n", status.ToString().c_str());
  return ExitCodeFor(status);
}

int UsageError(const std::string& message, const std::string& help) {
  std::fprintf(stderr, "ctdb: %s\n\n%s", message.c_str(), help.c_str());
  return kExitUsage;
}

Args::Args(int argc, char** argv, int first, std::set<std::string> flags) {
  for (int i = first; i < argc; ++i) {
    std::string a = argv[i];
    if (a.size() > 2 && a.compare(0, 2, "--") == 0) {
      std::string name = a.substr(2), value;
      size_t eq = name.find('=');
      if (eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        // "--release-memory=0" would otherwise read as the flag being set.
        if (flags.count(name)) {
          error_ = "option --" + name + " takes no value";
          return;
        }
      } else if (flags.count(name)) {
        value = "1";
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        error_ = "option --" + name + " needs a value";
        return;
      }
      values_[name] = value;
    } else {
      positional_.push_back(a);
    }
  }
}

std::string Args::Get(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

Status Args::GetInt(const std::string& name, int64_t fallback, int64_t lo, int64_t hi, int64_t* out) const {
  auto it = values_.find(name);
  if (it == values_.end()) {
    *out = fallback;
    return Status::Ok();
  }
  try {
    size_t used = 0;
    long long v = std::stoll(it->second, &used);
    if (used != it->second.size()) throw std::invalid_argument("trailing");
    if (v < lo || v > hi) {
      return Status::InvalidArgument("--" + name + " must be in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                                     "], got " + it->second);
    }
    *out = v;
    return Status::Ok();
  } catch (const std::exception&) {
    return Status::InvalidArgument("--" + name + " must be an integer, got '" + it->second + "'");
  }
}

Status Args::GetDouble(const std::string& name, double fallback, double lo, double hi, double* out) const {
  auto it = values_.find(name);
  if (it == values_.end()) {
    *out = fallback;
    return Status::Ok();
  }
  char* end = nullptr;
  const double v = std::strtod(it->second.c_str(), &end);
  if (it->second.empty() || *end != '\0' || !(v >= lo && v <= hi)) {  // NaN fails the range too
    char range[64];
    std::snprintf(range, sizeof(range), "[%g, %g]", lo, hi);
    return Status::InvalidArgument("--" + name + " must be a number in " + range + ", got '" + it->second + "'");
  }
  *out = v;
  return Status::Ok();
}

Status Args::CheckKnown(const std::set<std::string>& known) const {
  for (const auto& [name, value] : values_) {
    if (!known.count(name)) return Status::InvalidArgument("unknown option --" + name);
  }
  return Status::Ok();
}

bool Prepare(const Args& args, const std::set<std::string>& known, const std::string& help, int* exit) {
  if (!args.ok()) {
    *exit = UsageError(args.error(), help);
    return false;
  }
  if (args.Has("help")) {
    std::fputs(help.c_str(), stdout);
    *exit = 0;
    return false;
  }
  Status s = args.CheckKnown(known);
  if (!s.ok()) {
    *exit = UsageError(s.message(), help);
    return false;
  }
  return true;
}

std::string JsonEscape(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::vector<std::string> SplitOn(const std::string& text, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t at; (at = text.find(sep, start)) != std::string::npos; start = at + 1) out.push_back(text.substr(start, at - start));
  out.push_back(text.substr(start));
  return out;
}

double NowSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

Progress::Progress(std::string label, uint64_t total)
    : label_(std::move(label)), total_(total), start_(NowSeconds()), tty_(isatty(2)) {}

void Progress::Update(uint64_t done) {
  if (!tty_) return;
  const double now = NowSeconds();
  if (now - last_print_ < 0.2 && done < total_) return;
  last_print_ = now;
  const double el = now - start_, rate = el > 0 ? done / el : 0;
  const double eta = rate > 0 ? (total_ - done) / rate : 0;
  const int width = 30, filled = total_ ? static_cast<int>(width * done / total_) : width;
  std::fprintf(stderr, "\r%s [%s%s] %llu/%llu  %.*f/s  ETA %.0fs ", label_.c_str(), std::string(filled, '#').c_str(),
               std::string(width - filled, '.').c_str(), (unsigned long long)done, (unsigned long long)total_,
               rate < 10 ? 2 : 0, rate, eta);
}

void Progress::Finish() {
  const double el = NowSeconds() - start_;
  if (tty_) std::fprintf(stderr, "\n");
  const double rate = el > 0 ? total_ / el : 0.0;
  std::fprintf(stderr, "%s: %llu in %.1fs (%.*f/s)\n", label_.c_str(), (unsigned long long)total_, el,
               rate < 10 ? 2 : 0, rate);
}

}  // namespace ctdb::cli
